//! The example SDK against its loopback server: order, eager calls, held polls, faults and bad
//! answers. One binary; run one part with a filter: `cargo test -p training-api http_sdk::`.

mod http_bad_answers;
mod http_sdk;
