//! Composition: futures made from other futures, blocked on and awaited like any other.

mod boxed;
mod ext;
mod from_future;
mod map;
mod shared;
#[cfg(all(test, apifuture_loom))]
mod shared_loom_models;

pub use boxed::BoxApiFuture;
pub use ext::ApiFutureExt;
pub use from_future::{FromFuture, from_future};
pub use map::{MapFailure, MapValue, ThenCall};
pub use shared::SharedFuture;

use crate::api_future::{ApiFuture, OutcomeOf};
use crate::timeout::Deadline;

/// A blocking wait on a wrapped future by its `result` or `result_deadline`: the crate's own go
/// to their fast paths, and a user's type to its override of them, if it has one.
#[inline]
fn result_by<F: ApiFuture>(future: &mut F, deadline: Deadline) -> OutcomeOf<F> {
    match deadline {
        Deadline::Never => future.result(None),
        Deadline::After(timeout) => future.result(timeout),
        Deadline::At(at) => future.result_deadline(at),
    }
}
