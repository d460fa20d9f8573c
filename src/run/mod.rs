//! Where work runs: the blocking [`pool`] behind [`spawn`](crate::spawn), the async
//! [`executor`] behind [`spawn_async`](crate::spawn_async) and
//! [`background`](crate::ApiFutureExt::background), and the [`sequence`] that keeps calls in
//! the order they were made.

pub(crate) mod executor;
pub mod pool;
pub(crate) mod sequence;
