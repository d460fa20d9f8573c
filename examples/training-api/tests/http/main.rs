//! The example SDK against its loopback servers: order, eager calls, held polls, connections,
//! unknown outcomes and their recovery, faults and bad answers, many calls at once; with each
//! transport. One binary; run one part with a filter: `cargo test -p training-api
//! http_sdk_async::`.
#![allow(clippy::duplicate_mod)]

mod connections;
mod faults;
mod flavors;
// The same tests once per transport: each module picks its flavor from its name (loading a
// file twice is the point here).
#[path = "http_bad_answers.rs"]
mod http_bad_answers_async;
#[path = "http_bad_answers.rs"]
mod http_bad_answers_blocking;
#[path = "http_sdk.rs"]
mod http_sdk_async;
#[path = "http_sdk.rs"]
mod http_sdk_blocking;
mod outcome;
mod scale;
