#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod api_future;
mod awaitable;
mod concurrent;
mod error;
pub mod pool;
mod promise;
mod state;
mod timeout;

pub use api_future::ApiFuture;
pub use awaitable::{AwaitableConcurrentFuture, failed, ready};
pub use concurrent::ConcurrentFuture;
pub use error::{BoxError, Error};
pub use pool::spawn;
pub use promise::{Promise, promise};
pub use timeout::{Await, ResultAsync};
