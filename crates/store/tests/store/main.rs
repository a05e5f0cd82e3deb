//! The store's suite. Every test runs against both backends, PostgreSQL and SQLite, from
//! one body (`on_both_backends!`): the same behaviour is required of each.

mod support;

mod commit;
mod dispatch;
mod fencing;
mod read_side;
mod runs;
mod secrets;
