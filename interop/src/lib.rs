//! Tests only: `tests/interop/` runs apifuture inside tokio, async-std, smol, pollster and the
//! `futures` executors, with `futures`' and `futures-lite`'s preludes in scope, `?` into
//! `anyhow`, and property tests of retry policies. Run them with `cargo test -p
//! apifuture-interop` (or `cargo test --workspace`).
