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
