//! Composition: futures made from other futures, usable blocking and async like any other.

mod as_completed;
mod boxed;
mod from_future;
mod join;
mod map;
mod ready_queue;
mod shared;
mod spawn_async;
mod wait;

use crate::api_future::ApiFuture;

pub use as_completed::{AsCompleted, AsCompletedStream, as_completed, as_completed_async};
pub use boxed::BoxApiFuture;
pub use from_future::{FromFuture, from_future};
pub use join::{JoinAll, join_all, join_all_async};
pub use map::{AndThen, Map, MapErr};
pub use shared::{SharedError, SharedFuture};
pub use spawn_async::spawn_async;
pub use wait::{ReturnWhen, WaitAsync, wait, wait_async};

/// Combinators for every [`ApiFuture`]. Each result is again an `ApiFuture`: blocked on,
/// awaited, timed out without loss (a `Timeout` leaves the inner future's value for the next
/// wait). A closure that panics gives `Error::Panicked`.
pub trait ApiFutureExt<T, E>: ApiFuture<T, E> + Sized {
    /// The value passed through `f`; errors unchanged.
    ///
    /// ```
    /// use apifuture::{ready, ApiFuture, ApiFutureExt, BoxError};
    /// let mut len = ready::<&str, BoxError>("four").map(str::len);
    /// assert_eq!(len.result(None).unwrap(), 4);
    /// ```
    fn map<U, F>(self, f: F) -> Map<Self, F, T, U, E>
    where
        F: FnOnce(T) -> U + Send + Unpin,
    {
        Map::new(self, f)
    }

    /// The future `f` makes from the value: a second call that needs the first's answer.
    ///
    /// ```
    /// use apifuture::{ready, spawn, ApiFuture, ApiFutureExt, BoxError};
    /// # futures_lite::future::block_on(async {
    /// let id = ready::<u32, BoxError>(7);
    /// let name = id.and_then(|id| spawn(move || Ok(format!("run-{id}")))).await;
    /// assert_eq!(name.unwrap(), "run-7");
    /// # });
    /// ```
    fn and_then<U, B, F>(self, f: F) -> AndThen<Self, F, B, T, U, E>
    where
        B: ApiFuture<U, E>,
        F: FnOnce(T) -> B + Send + Unpin,
    {
        AndThen::new(self, f)
    }

    /// The operation's own error (`Error::Failed`) passed through `f`; other outcomes unchanged.
    ///
    /// ```
    /// use apifuture::{failed, ApiFuture, ApiFutureExt, Error};
    /// let mut call = failed::<u32, u16>(503).map_err(|code| format!("HTTP {code}"));
    /// assert_eq!(call.result(None), Err(Error::Failed("HTTP 503".to_string())));
    /// ```
    fn map_err<E2, F>(self, f: F) -> MapErr<Self, F, T, E, E2>
    where
        F: FnOnce(E) -> E2 + Send + Unpin,
    {
        MapErr::new(self, f)
    }

    /// Shares the outcome among any number of waiters: see [`SharedFuture`]. Values and
    /// errors must be `Clone + Sync`; for `BoxError`, see [`SharedError`].
    ///
    /// ```
    /// use apifuture::{ready, ApiFuture, ApiFutureExt};
    /// let mut a = ready::<u8, String>(5).shared();
    /// let mut b = a.clone();
    /// assert_eq!((a.result(None).unwrap(), b.result(None).unwrap()), (5, 5));
    /// ```
    fn shared(self) -> SharedFuture<T, E>
    where
        Self: 'static,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        SharedFuture::new(self)
    }

    /// Erases the future's type: see [`BoxApiFuture`].
    fn boxed(self) -> BoxApiFuture<T, E>
    where
        Self: 'static,
    {
        BoxApiFuture::new(self)
    }
}

impl<A: ApiFuture<T, E>, T, E> ApiFutureExt<T, E> for A {}
