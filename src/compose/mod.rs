//! Composition: futures made from other futures, many futures at once, and the background
//! executor, usable blocking and async like any other future of the crate.

mod all_done;
mod as_completed;
mod background;
mod boxed;
mod ext;
mod from_future;
mod join;
mod map;
mod ready_queue;
mod shared;
#[cfg(all(test, apifuture_loom))]
mod shared_loom_models;
mod wait;

pub use as_completed::{AsCompleted, AsCompletedStream, as_completed, as_completed_async};
pub use background::spawn_async;
pub use boxed::BoxApiFuture;
pub use ext::ApiFutureExt;
pub use from_future::{FromFuture, from_future};
pub use join::{JoinAll, join_all, join_all_async};
pub use map::{MapFailure, MapValue, ThenCall};
pub use shared::SharedFuture;
pub use wait::{ReturnWhen, WaitAsync, wait, wait_async};
