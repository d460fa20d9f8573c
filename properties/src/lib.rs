//! Tests only: `tests/retry_policy.rs` checks `RetryPolicy` and `Jitter` by hand and over random
//! policies (proptest). Run them with `cargo test -p apifuture-properties` (or `cargo test
//! --workspace`).
