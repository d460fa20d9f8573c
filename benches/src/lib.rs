//! Benches and the `scale` example only: `cargo bench -p apifuture-benches` (see README.md in
//! this directory for what each measures), `cargo run --release -p apifuture-benches --example
//! scale`.
