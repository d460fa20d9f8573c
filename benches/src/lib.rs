//! Benches only: `cargo bench -p apifuture-benches` (see README.md in this directory for what
//! each measures); the million-future one is `cargo bench -p apifuture-benches --bench scale`.
