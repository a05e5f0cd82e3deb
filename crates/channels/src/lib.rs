//! Real API clients for Facebook, Instagram, Zalo and Shopee that classify every answer.
//!
//! The worker makes one channel call per step (DESIGN decision 2) through a
//! [`Connector`]: [`Connector::execute`] takes the connected [`Account`] and a
//! [`backfill_policy::StepSpec`], calls the channel as its documentation says (C9), and
//! returns a [`CallResult`]: the [`Outcome`] (a normalized page from
//! `backfill-policy`'s model with the cursor to continue from, or why there is none),
//! the channel's usage signal and the number of HTTP requests it took.
//!
//! Map of the crate:
//! - [`connector`]: the front; maps each step kind to a channel call.
//! - [`graph`]: Facebook Pages and Instagram on the Graph API: one envelope, cursor
//!   paging, error codes, the nested `messages.limit(n)` expansion, and asking again
//!   for less on code 1.
//! - [`zalo`]: the Zalo OA API: JSON in a `data` parameter, errors under HTTP 200,
//!   offset paging.
//! - [`shopee`]: Shopee seller chat: HMAC-SHA256 request signing, nanosecond cursors,
//!   ids above 2^53.
//! - [`outcome`]: the classification every caller branches on.
//! - [`usage`]: Meta's `X-Business-Use-Case-Usage` / `X-App-Usage` as one reading (B2).
//! - [`credentials`]: accounts and their secrets; [`redact`]: keeping those secrets out
//!   of every reason, log line and `Debug` (B4).
//! - [`config`]: hosts, versions and page-size maxima, defaulting to the real channels.
//! - `http` and `wire` (private): the shared request path and tolerant JSON pieces.
//!
//! Classification happens here and only here (DESIGN decision 6): the worker never reads
//! an HTTP status or a channel error code.

pub mod config;
pub mod connector;
pub mod credentials;
pub mod graph;
mod http;
pub mod outcome;
pub mod redact;
pub mod shopee;
pub mod usage;
mod wire;
pub mod zalo;

pub use config::{ConnectorsConfig, FacebookConfig, InstagramConfig, ShopeeConfig, ZaloConfig};
pub use connector::{ConfigError, Connector};
pub use credentials::{Account, Credentials, CredentialsError, ShopeeAuth};
pub use graph::GraphClient;
pub use outcome::{CallResult, Outcome, ThrottleScope};
pub use secrecy::SecretString;
pub use shopee::ShopeeClient;
pub use usage::UsageReading;
pub use zalo::ZaloClient;
