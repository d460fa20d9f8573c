//! The [`ApiFuture`] trait: the seed's abstract `APIFuture`.

use std::future::{Future, IntoFuture};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{BoxError, Error};
use crate::timeout::{self, ResultAsync};

/// A future that can be waited on both ways: blocked on from a plain thread with
/// [`result`](ApiFuture::result), or awaited on any executor with `.await` or
/// [`result_async`](ApiFuture::result_async). Both give the same outcome for the same
/// completion.
///
/// Two required methods make every implementation drivable and inspectable without taking its
/// outcome: [`poll_ready`](ApiFuture::poll_ready) and [`try_result`](ApiFuture::try_result). The
/// waits are provided on top of them; an implementation may override them with a faster path
/// ([`AwaitableConcurrentFuture`](crate::AwaitableConcurrentFuture) blocks in oneshot's
/// `recv_timeout`).
///
/// Every wait's time limit is non-destructive: `Err(Error::Timeout)` leaves the future pending,
/// and a later wait can still get the outcome. This holds for async waits too: dropping a
/// timed-out (or never finished) `result_async` future does not cancel the work.
///
/// Implementations are `Send` and `Unpin`, and `.await` works on them directly through
/// [`IntoFuture`], with [`Await`](crate::Await) as the future (no allocation).
///
/// # Examples
///
/// An SDK method returns a future; the caller picks the mode.
///
/// ```
/// use std::time::Duration;
/// use apifuture::{spawn, ApiFuture, AwaitableConcurrentFuture, BoxError};
///
/// fn get_training_run(id: &str) -> AwaitableConcurrentFuture<String, BoxError> {
///     let id = id.to_owned();
///     spawn(move || Ok(format!("run {id}")))
/// }
///
/// // From a plain thread:
/// let run = get_training_run("a").result(Duration::from_secs(30)).unwrap();
/// assert_eq!(run, "run a");
///
/// // In an async context, on any executor:
/// # futures_lite::future::block_on(async {
/// let run = get_training_run("b").await.unwrap();
/// assert_eq!(run, "run b");
/// let mut future = get_training_run("c");
/// let run = future.result_async(Duration::from_secs(30)).await.unwrap();
/// assert_eq!(run, "run c");
/// # });
/// ```
pub trait ApiFuture<T, E = BoxError>:
    IntoFuture<Output = Result<T, Error<E>>> + Send + Unpin
{
    /// Drives the operation without taking its outcome.
    ///
    /// Returns `Poll::Ready(())` once [`try_result`](ApiFuture::try_result) would return
    /// `Some`; otherwise registers `cx`'s waker to be woken when that may have changed and
    /// returns `Poll::Pending`. Never blocks.
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use apifuture::ApiFuture;
    ///
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(future.poll_ready(&mut cx).is_pending());
    /// promise.set_result(1);
    /// assert!(future.poll_ready(&mut cx).is_ready());
    /// assert_eq!(future.try_result().unwrap().unwrap(), 1);
    /// ```
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()>;

    /// Takes the outcome if there is one; `None` while pending. Never blocks.
    ///
    /// After a value, `Failed` or `Panicked` was taken, it returns `Some(Err(Error::Consumed))`;
    /// `Cancelled` and `Abandoned` are states, returned every time.
    ///
    /// ```
    /// use apifuture::{ApiFuture, Error};
    /// let mut future = apifuture::ready::<u8, std::io::Error>(3);
    /// assert_eq!(future.try_result().unwrap().unwrap(), 3);
    /// assert!(matches!(future.try_result(), Some(Err(Error::Consumed))));
    /// ```
    fn try_result(&mut self) -> Option<Result<T, Error<E>>>;

    /// Whether the outcome is a failure, looked at without taking it: `Some(true)` for any
    /// error but [`Error::Consumed`], `Some(false)` for a value (or `Consumed`), `None` while
    /// pending. [`wait`](crate::wait) with [`ReturnWhen::FirstFailed`](crate::ReturnWhen)
    /// relies on it; call [`poll_ready`](ApiFuture::poll_ready) first, as it does.
    ///
    /// The provided implementation answers `None`: a future that cannot show its outcome
    /// before handing it out is never counted as failed (only as done). Every future of this
    /// crate implements it; a hand-written future that holds its outcome should too.
    ///
    /// ```
    /// use apifuture::{failed, ready, ApiFuture, BoxError};
    /// let mut ok = ready::<u8, BoxError>(1);
    /// let mut bad = failed::<u8, &str>("no");
    /// assert_eq!(ok.peek_failed(), Some(false));
    /// assert_eq!(bad.peek_failed(), Some(true));
    /// assert_eq!(ok.try_result().unwrap().unwrap(), 1); // still there
    /// ```
    fn peek_failed(&mut self) -> Option<bool> {
        None
    }

    /// Blocks the calling thread until the outcome is there, or `timeout` has passed.
    ///
    /// `timeout` is a `Duration` or an `Option<Duration>`: `None` waits indefinitely,
    /// `Duration::ZERO` only takes an outcome that is already there, and a timeout too large
    /// for [`Instant`] (like `Duration::MAX`) waits indefinitely.
    ///
    /// Returns:
    /// - `Ok(value)`, or `Err(Error::Failed(e))` / `Err(Error::Panicked(..))`: the outcome;
    /// - `Err(Error::Timeout)`: time ran out; the future stays pending and loses nothing;
    /// - `Err(Error::Cancelled)`, `Err(Error::Abandoned)`, `Err(Error::Consumed)`: see
    ///   [`Error`].
    ///
    /// The thread parks and is woken by the producer (no polling loop); a timeout never ends a
    /// wait early. Calling it inside an async task blocks that executor thread until it returns,
    /// stalling its other tasks: use `.await` there.
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::ApiFuture;
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// std::thread::spawn(move || promise.set_result(6));
    /// assert_eq!(future.result(Duration::from_secs(30)).unwrap(), 6);
    /// ```
    fn result(&mut self, timeout: impl Into<Option<Duration>>) -> Result<T, Error<E>>
    where
        Self: Sized,
    {
        match timeout.into() {
            None => timeout::block_until(self, None),
            Some(timeout) if timeout.is_zero() => self.try_result().unwrap_or(Err(Error::Timeout)),
            Some(timeout) => {
                if let Some(outcome) = self.try_result() {
                    return outcome;
                }
                timeout::block_until(self, timeout::deadline_after(timeout))
            }
        }
    }

    /// Like [`result`](ApiFuture::result), with a point in time instead of a duration.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use apifuture::ApiFuture;
    /// let (_promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert!(future.result_deadline(deadline).unwrap_err().is_timeout());
    /// assert!(Instant::now() >= deadline); // never early
    /// ```
    fn result_deadline(&mut self, deadline: Instant) -> Result<T, Error<E>>
    where
        Self: Sized,
    {
        timeout::block_until(self, Some(deadline))
    }

    /// Waits asynchronously for the outcome, or until `timeout` has passed, on any executor.
    ///
    /// Same outcomes and timeout rules as [`result`](ApiFuture::result). The timer (an
    /// [`async_io::Timer`]) is only created if the wait must sleep, so awaiting a future that is
    /// already complete does no timer work. Dropping the returned future stops this wait only;
    /// the operation goes on and a later wait gets its outcome.
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::ApiFuture;
    /// # futures_lite::future::block_on(async {
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// let waited = future.result_async(Duration::from_millis(1)).await;
    /// assert!(waited.unwrap_err().is_timeout());
    /// promise.set_result(2);
    /// assert_eq!(future.result_async(None).await.unwrap(), 2);
    /// # });
    /// ```
    fn result_async(
        &mut self,
        timeout: impl Into<Option<Duration>>,
    ) -> impl Future<Output = Result<T, Error<E>>> + Send
    where
        Self: Sized,
    {
        ResultAsync::new(self, timeout.into())
    }
}
