//! A training-API client built on apifuture (`client`), and a loopback HTTP server that plays
//! the API for it (`server`): the example SDK of the repository's README.
//!
//! `cargo run -p training-api --example training_client` runs the client against the server;
//! `cargo test -p training-api` runs the HTTP tests.

pub mod client;
pub mod server;
