//! Waiting with a time limit, in both modes: a `Duration` becomes a deadline (or "forever" when
//! it does not fit in an [`Instant`]), a blocking wait parks the thread until then, and an async
//! wait races the future against an [`async_io::Timer`] created only once it must sleep.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use async_io::Timer;

use crate::api_future::ApiFuture;
use crate::error::Error;

/// The instant `timeout` from now, or `None` (wait forever) when that is past what `Instant`
/// can represent.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Blocks the calling thread on `future` until it is ready or `deadline` passes, by polling it
/// with a waker that unparks this thread. It parks between polls, and polls again only when
/// woken (or spuriously unparked): no sleeping poll loop.
pub(crate) fn block_until<F, T, E>(future: &mut F, deadline: Option<Instant>) -> Result<T, Error<E>>
where
    F: ApiFuture<T, E> + ?Sized,
{
    if let Some(outcome) = future.try_result() {
        return outcome;
    }
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if future.poll_ready(&mut cx).is_ready() {
            if let Some(outcome) = future.try_result() {
                return outcome;
            }
            continue;
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return future.try_result().unwrap_or(Err(Error::Timeout));
                }
                thread::park_timeout(deadline - now);
            }
        }
    }
}

/// Polls `poll` with a waker that unparks this thread, parking between polls, until it is ready
/// (true) or `deadline` passes (false). Polls once more when woken or unparked, never on a
/// timer of its own.
pub(crate) fn park_until(
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<()>,
    deadline: Option<Instant>,
) -> bool {
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if poll(&mut cx).is_ready() {
            return true;
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return false;
                }
                thread::park_timeout(deadline - now);
            }
        }
    }
}

/// A waker that unparks the calling thread: what a blocking wait polls with.
pub(crate) fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unparker(thread::current())))
}

/// Wakes a thread parked in a blocking wait.
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The time limit of one async wait. The clock is read and the timer created on the first poll
/// that finds the future pending, so a wait on a ready future costs no timer work.
#[derive(Debug)]
enum Limit {
    Forever,
    After(Duration),
    Until(Timer),
}

impl Limit {
    #[inline]
    fn new(timeout: Option<Duration>) -> Self {
        timeout.map_or(Limit::Forever, Limit::After)
    }

    /// One poll of an async wait on `future` under this limit. The check for an outcome that
    /// is already there is inlined into the caller; the rest is not, so that it stays small.
    #[inline]
    fn poll<F, T, E>(&mut self, future: &mut F, cx: &mut Context<'_>) -> Poll<Result<T, Error<E>>>
    where
        F: ApiFuture<T, E> + ?Sized,
    {
        match future.try_result() {
            Some(outcome) => Poll::Ready(outcome),
            None => self.poll_pending(future, cx),
        }
    }

    /// The part of [`Limit::poll`] for a future found pending: register, arm the timer, sleep.
    #[inline(never)]
    fn poll_pending<F, T, E>(
        &mut self,
        future: &mut F,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Error<E>>>
    where
        F: ApiFuture<T, E> + ?Sized,
    {
        loop {
            if future.poll_ready(cx).is_ready() {
                if let Some(outcome) = future.try_result() {
                    return Poll::Ready(outcome);
                }
                continue;
            }
            match self {
                Limit::Forever => return Poll::Pending,
                Limit::After(timeout) if timeout.is_zero() => {
                    return Poll::Ready(Err(Error::Timeout));
                }
                Limit::After(timeout) => {
                    *self = match deadline_after(*timeout) {
                        Some(deadline) => Limit::Until(Timer::at(deadline)),
                        None => Limit::Forever,
                    };
                }
                Limit::Until(timer) => {
                    if Pin::new(timer).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // An outcome that arrived with the deadline still wins.
                    return Poll::Ready(future.try_result().unwrap_or(Err(Error::Timeout)));
                }
            }
        }
    }
}

/// [`Limit::poll_pending`] with no time limit, out of line: no limit is made, matched or
/// dropped, which is most of what a pending `.await` does besides the future's own poll.
#[inline(never)]
fn poll_forever<F, T, E>(future: &mut F, cx: &mut Context<'_>) -> Poll<Result<T, Error<E>>>
where
    F: ApiFuture<T, E>,
{
    loop {
        if future.poll_ready(cx).is_pending() {
            return Poll::Pending;
        }
        // Ready but nothing to take yet (a user's `poll_ready` may say so): poll again, as
        // `Limit::poll_pending` does.
        if let Some(outcome) = future.try_result() {
            return Poll::Ready(outcome);
        }
    }
}

/// The future of `fut.await` for every [`ApiFuture`] of this crate: owns the future and waits
/// for its outcome with no time limit. Never allocates; `Send + 'static` when the future is.
///
/// ```
/// # futures_lite::future::block_on(async {
/// let (promise, future) = apifuture::promise::<u8, std::io::Error>();
/// promise.set_result(4);
/// let waiting: apifuture::Await<_, u8, std::io::Error> = std::future::IntoFuture::into_future(future);
/// assert_eq!(waiting.await.unwrap(), 4);
/// # });
/// ```
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Await<F, T, E> {
    future: F,
    _outcome: PhantomData<fn() -> (T, E)>,
}

impl<F, T, E> Await<F, T, E> {
    /// Wraps `future` for `.await`. Implementations of [`ApiFuture`] outside this crate use it as
    /// their `IntoFuture::IntoFuture`:
    ///
    /// ```
    /// use std::task::{Context, Poll};
    /// use apifuture::{ApiFuture, Await, AwaitableConcurrentFuture, BoxError, Error};
    ///
    /// /// A future that doubles what another one gives.
    /// struct Doubled(AwaitableConcurrentFuture<u32>);
    ///
    /// impl ApiFuture<u32> for Doubled {
    ///     fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
    ///         self.0.poll_ready(cx)
    ///     }
    ///     fn try_result(&mut self) -> Option<Result<u32, Error<BoxError>>> {
    ///         self.0.try_result().map(|outcome| outcome.map(|v| v * 2))
    ///     }
    /// }
    ///
    /// impl std::future::IntoFuture for Doubled {
    ///     type Output = Result<u32, Error<BoxError>>;
    ///     type IntoFuture = Await<Self, u32, BoxError>;
    ///     fn into_future(self) -> Self::IntoFuture {
    ///         Await::new(self)
    ///     }
    /// }
    ///
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(Doubled(apifuture::ready(21)).await.unwrap(), 42);
    /// # });
    /// ```
    #[inline]
    pub fn new(future: F) -> Self {
        Await {
            future,
            _outcome: PhantomData,
        }
    }

    /// Gives back the future being awaited; nothing is lost by stopping the wait.
    ///
    /// ```
    /// use apifuture::ApiFuture;
    /// let (promise, future) = apifuture::promise::<u8, std::io::Error>();
    /// let waiting = std::future::IntoFuture::into_future(future);
    /// let mut future = waiting.into_inner();
    /// promise.set_result(8);
    /// assert_eq!(future.try_result().unwrap().unwrap(), 8);
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: fmt::Debug, T, E> fmt::Debug for Await<F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Await")
            .field("future", &self.future)
            .finish()
    }
}

impl<F: ApiFuture<T, E>, T, E> Future for Await<F, T, E> {
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Only the look for an outcome that is already there is inlined: no time limit is
        // made here, so none is dropped (and checked for a timer) on the ready path.
        let future = &mut self.get_mut().future;
        match future.try_result() {
            Some(outcome) => Poll::Ready(outcome),
            None => poll_forever(future, cx),
        }
    }
}

/// The future of [`ApiFuture::result_async`]: waits for the outcome of a borrowed future, with
/// an optional time limit.
///
/// Dropping it (after a timeout, in a `select`, with its task) stops the wait only: the future
/// it borrowed stays pending and its producer keeps working.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct ResultAsync<'a, F: ?Sized, T, E> {
    future: &'a mut F,
    limit: Limit,
    _outcome: PhantomData<fn() -> (T, E)>,
}

impl<'a, F: ?Sized, T, E> ResultAsync<'a, F, T, E> {
    #[inline]
    pub(crate) fn new(future: &'a mut F, timeout: Option<Duration>) -> Self {
        ResultAsync {
            future,
            limit: Limit::new(timeout),
            _outcome: PhantomData,
        }
    }
}

impl<F: fmt::Debug + ?Sized, T, E> fmt::Debug for ResultAsync<'_, F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultAsync")
            .field("future", &self.future)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<F: ApiFuture<T, E> + ?Sized, T, E> Future for ResultAsync<'_, F, T, E> {
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.limit.poll(this.future, cx)
    }
}
