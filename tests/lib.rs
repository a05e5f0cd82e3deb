//! The fleet proofs live in this package's tests (`chaos.rs`, ...); they run real
//! processes against real Redis and PostgreSQL, all on 127.0.0.1. See
//! `docs/ARCHITECTURE.md`, "Proofs".
