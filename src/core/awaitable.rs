//! [`AwaitableConcurrentFuture`]: a [`ConcurrentFuture`] made awaitable.

use std::fmt;
use std::task::{Context, Poll};

use crate::api_future::{ApiFuture, fused_future};
use crate::core::concurrent::ConcurrentFuture;
use crate::error::{BoxError, Error};
use crate::timeout::Deadline;

/// The seed's `AwaitableConcurrentFuture`: a [`ConcurrentFuture`] that implements
/// [`ApiFuture`], so it can be blocked on with [`result`](ApiFuture::result) or awaited with
/// `.await` / [`result_async`](ApiFuture::result_async) on any executor. Created by
/// [`promise`](crate::promise()), [`spawn`](crate::spawn), [`ready`] and [`failed`]; the wrapped
/// future is reachable with [`future`](Self::future) for Python-style `done()` and `cancel()`.
///
/// Dropping it while it is pending cancels it: the producer hears that nobody waits any more
/// ([`Promise::is_cancelled`](crate::Promise::is_cancelled)), and a [`spawn`](crate::spawn)
/// job that has not started is skipped. To let the work finish with nobody waiting,
/// [`detach`](crate::ApiFutureExt::detach) it instead.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{promise, ApiFuture};
///
/// let (promise, mut future) = promise::<u32, std::io::Error>();
/// let producer = std::thread::spawn(move || promise.set_result(42));
///
/// // Blocking, with a timeout that loses nothing:
/// let value = future.result(Duration::from_secs(30)).unwrap();
/// assert_eq!(value, 42);
/// producer.join().unwrap();
///
/// // Async: the same type is awaited directly.
/// # futures_lite::future::block_on(async {
/// let (promise, future) = apifuture::promise::<u32, std::io::Error>();
/// promise.set_result(7);
/// assert_eq!(future.await.unwrap(), 7);
/// # });
/// ```
#[must_use = "dropping a pending future cancels its work; .await it, wait on it, or detach() it"]
pub struct AwaitableConcurrentFuture<T, E = BoxError> {
    inner: ConcurrentFuture<T, E>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl<T, E> AwaitableConcurrentFuture<T, E> {
    /// Wraps a [`ConcurrentFuture`].
    ///
    /// ```
    /// use apifuture::AwaitableConcurrentFuture;
    /// let (promise, future) = apifuture::promise::<u8, std::io::Error>();
    /// let concurrent = future.into_inner();
    /// let mut future = AwaitableConcurrentFuture::new(concurrent);
    /// promise.set_result(1);
    /// assert!(future.done());
    /// ```
    #[inline]
    pub fn new(future: ConcurrentFuture<T, E>) -> Self {
        AwaitableConcurrentFuture {
            inner: future,
            terminated: false,
        }
    }

    /// The wrapped [`ConcurrentFuture`], for `done()`, `cancel()` and the other methods of
    /// Python's `concurrent.futures.Future`.
    ///
    /// ```
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// assert!(future.future().cancel());
    /// assert!(promise.is_cancelled());
    /// ```
    pub fn future(&mut self) -> &mut ConcurrentFuture<T, E> {
        &mut self.inner
    }

    /// Unwraps the [`ConcurrentFuture`].
    ///
    /// ```
    /// let future = apifuture::ready::<u8, std::io::Error>(1);
    /// let mut concurrent = future.into_inner();
    /// assert_eq!(concurrent.result(None).unwrap(), 1);
    /// ```
    pub fn into_inner(self) -> ConcurrentFuture<T, E> {
        self.inner
    }

    /// Whether the future has completed (value, error, cancelled, abandoned, taken); never blocks.
    ///
    /// ```
    /// let future = apifuture::ready::<u8, std::io::Error>(1);
    /// assert!(future.done());
    /// ```
    #[inline]
    pub fn done(&self) -> bool {
        self.inner.done()
    }

    /// Runs `callback` once with the outcome, by reference, when the future completes: on the
    /// completing thread (the one that sets the result, fails, or drops the promise), before any
    /// waiter is woken, or at once on this thread if the future has already completed. The
    /// outcome stays for the waiter.
    ///
    /// - Callbacks run in the order they were added.
    /// - One added after the outcome was taken runs at once with `&Err(Error::Consumed)`; on a
    ///   cancelled or abandoned future, with that error.
    /// - [`cancel`](crate::ConcurrentFuture::cancel), or dropping the pending future, runs the
    ///   pending callbacks with `&Err(Error::Cancelled)`. If cancelling races the producer, one
    ///   wins, and the callbacks and the waiter both see that one.
    /// - A panicking callback is caught and reported by the panic hook (to stderr, unless you
    ///   set your own with `std::panic::set_hook`); the other callbacks run, the outcome stands.
    /// - A waiter never runs callbacks, and while they run the outcome is not there for it:
    ///   [`done`](Self::done) is false, a zero-timeout wait times out, and a timed wait still
    ///   running at its limit returns `Err(Error::Timeout)` (losing nothing). A slow callback
    ///   delays the waiters, never past their limits; one that waits on its own future without
    ///   a limit never returns.
    ///
    /// Futures without callbacks pay nothing: the first registration sets up the machinery (one
    /// allocation).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use apifuture::{spawn, ApiFuture, BoxError};
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let mut future = spawn(|| Ok::<_, BoxError>(42));
    /// let seen = Arc::clone(&log);
    /// future.add_done_callback(move |outcome| {
    ///     seen.lock().unwrap().push(format!("{:?}", outcome.as_ref().ok()));
    /// });
    /// assert_eq!(future.result(None).unwrap(), 42); // the callback ran before this returned
    /// assert_eq!(*log.lock().unwrap(), ["Some(42)"]);
    /// ```
    pub fn add_done_callback(
        &mut self,
        callback: impl FnOnce(&Result<T, Error<E>>) + Send + 'static,
    ) where
        T: Send + 'static,
        E: Send + 'static,
    {
        self.inner.add_done_callback(callback);
    }
}

/// A future that already holds `value` (for tests, mocks and fast paths of an SDK).
///
/// ```
/// use apifuture::ApiFuture;
/// let mut future = apifuture::ready::<&str, std::io::Error>("cached");
/// assert_eq!(future.result(None).unwrap(), "cached");
/// ```
#[inline(always)]
pub fn ready<T, E>(value: T) -> AwaitableConcurrentFuture<T, E> {
    AwaitableConcurrentFuture::new(ConcurrentFuture::completed(Ok(value)))
}

/// A future that already failed with `error`: waits return [`Error::Failed`]`(error)`.
///
/// ```
/// use apifuture::{ApiFuture, Error};
/// let mut future = apifuture::failed::<u8, &str>("bad request");
/// assert_eq!(future.result(None), Err(Error::Failed("bad request")));
/// ```
#[inline(always)]
pub fn failed<T, E>(error: E) -> AwaitableConcurrentFuture<T, E> {
    AwaitableConcurrentFuture::new(ConcurrentFuture::completed(Err(Error::Failed(error))))
}

impl<T, E> From<ConcurrentFuture<T, E>> for AwaitableConcurrentFuture<T, E> {
    fn from(future: ConcurrentFuture<T, E>) -> Self {
        AwaitableConcurrentFuture::new(future)
    }
}

impl<T: Send, E: Send> ApiFuture for AwaitableConcurrentFuture<T, E> {
    type Value = T;
    type Failure = E;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    #[inline(always)]
    fn try_result(&mut self) -> Option<Result<T, Error<E>>> {
        self.inner.try_result()
    }

    fn peek_failed(&mut self) -> Option<bool> {
        self.inner.peek_failed()
    }

    /// Looks at the channel only: no waker is registered.
    #[inline]
    fn done(&mut self) -> bool {
        self.inner.done()
    }

    /// The producer completes it, and its wake-up drives a done-callback relay.
    #[inline]
    fn done_unpolled(&mut self) -> Option<bool> {
        Some(self.inner.done())
    }

    /// Parks in oneshot's own `recv_timeout`, without the provided method's waker machinery.
    #[inline]
    fn wait_blocking(&mut self, deadline: Deadline) -> Result<T, Error<E>> {
        self.inner.wait(deadline)
    }
}

fused_future!([T: Send, E: Send] AwaitableConcurrentFuture<T, E>, []);

impl<T, E> fmt::Debug for AwaitableConcurrentFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitableConcurrentFuture")
            .field("state", &self.inner.describe())
            .finish_non_exhaustive()
    }
}
