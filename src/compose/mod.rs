//! Composition: futures made from other futures, usable blocking and async like any other
//! future of the crate.

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
