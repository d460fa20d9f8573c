//! Tests only: `tests/interop/` runs apifuture inside tokio, async-std, smol, pollster and the
//! `futures` executors, with `futures`' and `futures-lite`'s preludes in scope, and `?` into
//! `anyhow`. Run them with `cargo test -p apifuture-interop` (or `cargo test --workspace`).
