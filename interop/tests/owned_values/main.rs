//! DESIGN.md section 5, "Using it from generic and async code", with an owned `T` (`Run`): the
//! matrix of `shapes/mod.rs` for each failure type. A binary of its own so that, on a fresh
//! clone, it compiles beside the `interop` one (which has `T = &'static str`) on the other core.
//!
//! Run one module with a filter: `cargo test -p apifuture-interop --test owned_values run_box::`.
#![cfg(not(miri))] // real executors need epoll and real threads

#[path = "../../../tests/common/mod.rs"]
mod common;
#[macro_use]
#[path = "../shapes/mod.rs"]
mod shapes;

use shapes::*;

matrix! {
    run_box: T = Run, E = BoxError, val = run, err = box_err;
    run_str: T = Run, E = &'static str, val = run, err = str_err;
    run_string: T = Run, E = String, val = run, err = string_err;
    run_sdk: T = Run, E = SdkError, val = run, err = sdk_err;
}
