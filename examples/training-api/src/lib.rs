//! A training-API client built on apifuture (`client`, over one of two `transport`s), and two
//! loopback HTTP servers that play the API for it: `server` (threads, fault injection, a relay
//! that can cut and refuse connections) and `async_server` (for thousands of calls at once).
//! The example SDK of the repository's README.
//!
//! `cargo run -p training-api --example training_client` runs the client against the server;
//! `cargo test -p training-api` runs the HTTP tests.

pub mod async_server;
pub mod client;
pub mod server;
pub mod transport;
