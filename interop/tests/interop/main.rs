//! apifuture inside the toolboxes its users hold, one module per toolbox, in one binary.
//!
//! Run one with a filter: `cargo test -p apifuture-interop generic_use::`.

#[path = "../../../tests/common/mod.rs"]
mod common;
#[macro_use]
#[path = "../shapes/mod.rs"]
mod shapes;

mod executors;
mod generic_use;
mod tokio_bridge;
mod toolbox;
