//! The crate's own tests, one module per surface, linked into one binary. Tests that set the
//! pool's cap or count its threads (`tests/pool.rs`, `tests/pool_nested.rs`) and those that
//! occupy the one background executor thread (`tests/spawn_async.rs`) keep binaries of their
//! own, so that no other test runs beside them in the same process.
//!
//! Run one surface with a filter: `cargo test --test core shared::`.

#[path = "../common/mod.rs"]
mod common;

mod async_waits;
mod background;
mod blocking;
mod callbacks;
mod cancellation;
mod compose;
mod errors;
mod hostile_panics;
mod multi_wait;
mod polling;
mod producer_cancel;
mod race;
mod retry;
mod retry_policy;
mod sequence;
mod shared;
