//! The [`ApiFuture`] trait (the seed's abstract `APIFuture`) and [`ResultAsync`], its timed
//! async wait. `.await` itself is [`ApiFuture::poll_outcome`], which every future's
//! `Future::poll` calls.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub use futures_core::future::FusedFuture;

use crate::error::Error;
use crate::timeout::{self, Deadline, Sleep};

/// A future's outcome: its value, or why there is none.
pub(crate) type OutcomeOf<F> = Result<<F as ApiFuture>::Value, Error<<F as ApiFuture>::Failure>>;

/// A future that can be waited on both ways: blocked on from a plain thread with
/// [`result`](ApiFuture::result), or awaited on any executor with `.await` or
/// [`result_async`](ApiFuture::result_async). Both give the same outcome for the same
/// completion.
///
/// Every `ApiFuture` is a [`Future`] whose output is `Result<Value, Error<Failure>>`, so it goes
/// wherever a future goes: `block_on(f)`, `tokio::spawn(f)`, `futures::join!`, `select!`,
/// `FuturesUnordered`, or a generic `F: Future` helper. It is also [`Send`] and [`Unpin`], so
/// `&mut f` is a future too: a `select!` arm or `tokio::time::timeout(d, &mut f)` that gives up
/// leaves `f`, and its work, where they were.
///
/// The value and the operation's own error are associated types, so generic code names them
/// only when it needs to: `F: ApiFuture`, or `F: ApiFuture<Value = Run, Failure = SdkError>`.
///
/// Two required methods make every implementation drivable and inspectable without taking its
/// outcome: [`poll_ready`](ApiFuture::poll_ready) and [`try_result`](ApiFuture::try_result). The
/// waits are provided on top of them; an implementation may override them with a faster path
/// ([`AwaitableConcurrentFuture`](crate::AwaitableConcurrentFuture) blocks in oneshot's
/// `recv_timeout`).
///
/// Every wait's time limit is non-destructive: `Err(Error::Timeout)` leaves the future pending,
/// and a later wait can still get the outcome. Once the outcome was handed out (by any wait,
/// `.await` included), further waits and polls return `Err(Error::Consumed)`, never a panic.
///
/// # Examples
///
/// An SDK method returns a future; the caller picks the mode.
///
/// ```
/// use std::time::Duration;
/// use apifuture::{spawn, ApiFuture, BoxError};
///
/// fn get_training_run(id: &str) -> impl ApiFuture<Value = String, Failure = BoxError> {
///     let id = id.to_owned();
///     spawn(move || Ok(format!("run {id}")))
/// }
///
/// // From a plain thread:
/// let run = get_training_run("a").result(Duration::from_secs(30)).unwrap();
/// assert_eq!(run, "run a");
///
/// // In async code, on any executor:
/// # futures_lite::future::block_on(async {
/// let run = get_training_run("b").await.unwrap();
/// assert_eq!(run, "run b");
/// let mut future = get_training_run("c");
/// let run = future.result_async(Duration::from_secs(30)).await.unwrap();
/// assert_eq!(run, "run c");
/// # });
/// ```
///
/// Every `ApiFuture` is also [`Debug`](fmt::Debug), so an SDK's `impl ApiFuture<..>` can be
/// printed, and [`done`](ApiFuture::done) asks whether it has its outcome without waiting; and
/// a [`FusedFuture`], so that `futures::select!` takes `&mut f` as it is, also where `f` is an
/// SDK's `impl ApiFuture<..>`.
///
/// Implementing it for a type of your own takes the two primitives, `Debug` (derive it, or
/// write it with `finish_non_exhaustive()` where a field is not `Debug`), a `Future` impl that
/// calls [`poll_outcome`](ApiFuture::poll_outcome), and a `FusedFuture` impl (re-exported
/// here from `futures-core`) that says whether a poll returned `Ready`:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll};
/// use apifuture::{ApiFuture, AwaitableConcurrentFuture, Error};
///
/// /// A future that doubles what another one gives.
/// #[derive(Debug)]
/// struct Doubled {
///     inner: AwaitableConcurrentFuture<u32, String>,
///     /// A poll returned `Ready` (as futures' `Fuse` counts it).
///     terminated: bool,
/// }
///
/// impl ApiFuture for Doubled {
///     type Value = u32;
///     type Failure = String;
///     fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
///         self.inner.poll_ready(cx)
///     }
///     fn try_result(&mut self) -> Option<Result<u32, Error<String>>> {
///         self.inner.try_result().map(|outcome| outcome.map(|v| v * 2))
///     }
/// }
///
/// impl Future for Doubled {
///     type Output = Result<u32, Error<String>>;
///     fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
///         let this = self.get_mut();
///         let polled = this.poll_outcome(cx);
///         this.terminated |= polled.is_ready();
///         polled
///     }
/// }
///
/// impl apifuture::FusedFuture for Doubled {
///     fn is_terminated(&self) -> bool {
///         self.terminated
///     }
/// }
///
/// # futures_lite::future::block_on(async {
/// let doubled = Doubled { inner: apifuture::ready(21), terminated: false };
/// assert_eq!(doubled.await.unwrap(), 42);
/// # });
/// ```
#[must_use = "dropping a pending future cancels its work; .await it, wait on it, or detach() it"]
pub trait ApiFuture:
    Future<Output = Result<Self::Value, Error<Self::Failure>>> + FusedFuture + fmt::Debug + Send + Unpin
{
    /// What the operation gives when it succeeds.
    type Value: Send;
    /// The operation's own error, carried by [`Error::Failed`].
    type Failure: Send;

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
    /// `Cancelled`, `Abandoned` and `DeadlineExceeded` are states, returned every time.
    ///
    /// ```
    /// use apifuture::{ApiFuture, Error};
    /// let mut future = apifuture::ready::<u8, std::io::Error>(3);
    /// assert_eq!(future.try_result().unwrap().unwrap(), 3);
    /// assert!(matches!(future.try_result(), Some(Err(Error::Consumed))));
    /// ```
    fn try_result(&mut self) -> Option<Result<Self::Value, Error<Self::Failure>>>;

    /// Whether the outcome is a failure ([`Error::is_failure`]), looked at without taking it:
    /// `Some(true)` or `Some(false)` once there is an outcome, `None` while pending.
    /// [`wait`](crate::wait) with [`ReturnWhen::FirstFailed`](crate::ReturnWhen) relies on it;
    /// call [`poll_ready`](ApiFuture::poll_ready) first, as it does.
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

    /// Whether the outcome is there: [`try_result`](ApiFuture::try_result) would return `Some`
    /// (a value, an error, a state such as `Cancelled`, or `Consumed` once it was taken).
    /// Takes nothing and never blocks. It takes `&mut self` (bind the future with `let mut`),
    /// because it may drive a lazy future; the inherent `done(&self)` of
    /// [`AwaitableConcurrentFuture`](crate::AwaitableConcurrentFuture) and
    /// [`SharedFuture`](crate::SharedFuture) only looks.
    ///
    /// A future that its producer completes (a promise, a spawned job) is only looked at. A
    /// lazy one (a retry, a poll, [`from_future`](crate::from_future)) is driven one step, with
    /// a waker that wakes nobody: a due attempt may start, and a waker registered by an earlier
    /// poll may be replaced, so poll the future again (as every executor does) before relying
    /// on a wake-up.
    ///
    /// ```
    /// use apifuture::{ApiFuture, BoxError};
    ///
    /// fn call() -> impl ApiFuture<Value = u8, Failure = BoxError> {
    ///     apifuture::ready(1)
    /// }
    ///
    /// let mut future = call();
    /// assert!(future.done());
    /// println!("{future:?}"); // every ApiFuture is Debug
    /// assert_eq!(future.try_result().unwrap().unwrap(), 1); // done() took nothing
    /// ```
    fn done(&mut self) -> bool {
        self.poll_ready(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    /// For a future that reaches its outcome without being polled (its producer completes it:
    /// a promise, a spawned job, a map over one), whether it is done, looked at without
    /// registering any waker. `None` for a future that must be polled to progress, the answer
    /// that is always safe and the default. A wait on many futures only looks at the first
    /// kind and parks on the last one still pending, instead of giving each a waker of its own
    /// and waking with each completion.
    #[doc(hidden)]
    fn done_unpolled(&mut self) -> Option<bool> {
        None
    }

    /// What `.await` does, as a method: takes the outcome if it is there, otherwise drives the
    /// operation and registers `cx`. Implementations call it from `Future::poll` (see the
    /// trait's example); waiting code uses `.await` instead.
    ///
    /// ```
    /// use std::task::{Context, Waker};
    /// use apifuture::ApiFuture;
    /// let mut future = apifuture::ready::<u8, std::io::Error>(5);
    /// let polled = future.poll_outcome(&mut Context::from_waker(Waker::noop()));
    /// assert_eq!(polled.map(Result::unwrap), std::task::Poll::Ready(5));
    /// ```
    #[inline]
    fn poll_outcome(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Value, Error<Self::Failure>>> {
        match self.try_result() {
            Some(outcome) => Poll::Ready(outcome),
            None => poll_pending(self, cx),
        }
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
    /// - `Err(Error::Cancelled)`, `Err(Error::Abandoned)`, `Err(Error::Consumed)`,
    ///   `Err(Error::DeadlineExceeded)`: see [`Error`];
    /// - `Err(Error::WouldBlockExecutor)`: called on the crate's own background executor thread
    ///   (in a [`spawn_async`](crate::spawn_async) task), where it may not park; the future
    ///   stays pending, `.await` it there.
    ///
    /// The thread parks and is woken by the producer (no polling loop); a timeout never ends a
    /// wait early. Calling it inside another executor's async task blocks that executor thread
    /// until it returns, stalling its other tasks: use `.await` there.
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::ApiFuture;
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// std::thread::spawn(move || promise.set_result(6));
    /// assert_eq!(future.result(Duration::from_secs(30)).unwrap(), 6);
    /// ```
    fn result(
        &mut self,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<Self::Value, Error<Self::Failure>>
    where
        Self: Sized,
    {
        block(self, Deadline::from_timeout(timeout.into()))
    }

    /// Like [`result`](ApiFuture::result), with a point in time instead of a duration. A
    /// deadline in the past only takes an outcome that is already there.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use apifuture::ApiFuture;
    /// let (_promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert!(future.result_deadline(deadline).unwrap_err().is_timeout());
    /// assert!(Instant::now() >= deadline); // never early
    /// ```
    fn result_deadline(&mut self, deadline: Instant) -> Result<Self::Value, Error<Self::Failure>>
    where
        Self: Sized,
    {
        block(self, Deadline::At(deadline))
    }

    /// Waits asynchronously for the outcome, or until `timeout` has passed, on any executor.
    ///
    /// Same outcomes and timeout rules as [`result`](ApiFuture::result). The timer (an
    /// [`async_io::Timer`]) is only created if the wait must sleep, so awaiting a future that is
    /// already complete does no timer work. Dropping the returned [`ResultAsync`] stops this
    /// wait only; the operation goes on and a later wait gets its outcome.
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
    fn result_async(&mut self, timeout: impl Into<Option<Duration>>) -> ResultAsync<'_, Self>
    where
        Self: Sized,
    {
        ResultAsync {
            future: self,
            deadline: Deadline::from_timeout(timeout.into()),
            sleep: Sleep::default(),
            terminated: false,
        }
    }
}

api_future_via!(
/// A borrowed future is one too: a multi-future wait or a generic helper can take `&mut f`
/// and leave `f` with its owner (`join_all(&mut futures)`, then look at each one). Dropping
/// the borrow cancels nothing.
///
/// ```
/// use apifuture::{join_all, ready, ApiFuture, BoxError, Error};
/// let mut futures = vec![ready::<u8, BoxError>(1), ready(2)];
/// let outcomes = join_all(&mut futures);
/// assert_eq!(outcomes.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2]);
/// assert!(matches!(futures[0].try_result(), Some(Err(Error::Consumed)))); // still here
/// ```
[F: ApiFuture + ?Sized] &mut F => |this| **this, F::Value, F::Failure
);

/// `impl ApiFuture` for a type that is another future inside: each primitive goes to the
/// future that `|this| expr` reaches. Written
/// `api_future_via!([generics] Type => |this| inner, Value, Failure);`.
macro_rules! api_future_via {
    ($(#[$attr:meta])* [$($generics:tt)*] $ty:ty => |$this:ident| $inner:expr, $value:ty, $failure:ty) => {
        $(#[$attr])*
        impl<$($generics)*> $crate::ApiFuture for $ty {
            type Value = $value;
            type Failure = $failure;

            #[inline]
            fn poll_ready(&mut self, cx: &mut ::std::task::Context<'_>) -> ::std::task::Poll<()> {
                let $this = self;
                $inner.poll_ready(cx)
            }

            #[inline]
            fn try_result(&mut self) -> Option<Result<$value, $crate::Error<$failure>>> {
                let $this = self;
                $inner.try_result()
            }

            fn peek_failed(&mut self) -> Option<bool> {
                let $this = self;
                $inner.peek_failed()
            }

            fn done(&mut self) -> bool {
                let $this = self;
                $inner.done()
            }

            fn done_unpolled(&mut self) -> Option<bool> {
                let $this = self;
                $inner.done_unpolled()
            }
        }
    };
}
pub(crate) use api_future_via;

/// `impl Future` and `impl FusedFuture` for a future of this crate: `.await` is
/// [`ApiFuture::poll_outcome`], and the future is terminated once a poll returned `Ready` (as
/// futures' `Fuse`: whatever the outcome, so a `select!` loop never polls it again). Written
/// `future_by_poll_outcome!([generics] Type, [where-bounds]);` for a type with a
/// `terminated: bool` field.
macro_rules! future_by_poll_outcome {
    ([$($generics:tt)*] $ty:ty, [$($bounds:tt)*]) => {
        impl<$($generics)*> ::std::future::Future for $ty
        where
            $($bounds)*
        {
            type Output = Result<
                <Self as $crate::ApiFuture>::Value,
                $crate::Error<<Self as $crate::ApiFuture>::Failure>,
            >;

            #[inline]
            fn poll(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Self::Output> {
                let this = self.get_mut();
                let polled = $crate::ApiFuture::poll_outcome(this, cx);
                if polled.is_ready() {
                    this.terminated = true;
                }
                polled
            }
        }

        impl<$($generics)*> ::futures_core::future::FusedFuture for $ty
        where
            $($bounds)*
        {
            fn is_terminated(&self) -> bool {
                self.terminated
            }
        }
    };
}
pub(crate) use future_by_poll_outcome;

/// [`ApiFuture::poll_outcome`] for a future found pending, out of line so that the ready path
/// stays small where it is inlined.
#[inline(never)]
fn poll_pending<F: ApiFuture + ?Sized>(
    future: &mut F,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Value, Error<F::Failure>>> {
    loop {
        if future.poll_ready(cx).is_pending() {
            return Poll::Pending;
        }
        // Ready but nothing to take yet (a user's `poll_ready` may say so): poll again.
        if let Some(outcome) = future.try_result() {
            return Poll::Ready(outcome);
        }
    }
}

/// The provided blocking wait: parks the thread between polls of the future. An outcome that is
/// already there is taken before any waker is made.
fn block<F: ApiFuture + ?Sized>(
    future: &mut F,
    deadline: Deadline,
) -> Result<F::Value, Error<F::Failure>> {
    if let Some(outcome) = future.try_result() {
        return outcome;
    }
    timeout::block_on(deadline, |cx| future.poll_outcome(cx).into()).outcome(|| future.try_result())
}

/// The future of [`ApiFuture::result_async`]: waits for the outcome of a borrowed future, with
/// an optional time limit. `Send` whenever the future is.
///
/// Dropping it (after a timeout, in a `select`, with its task) stops the wait only: the future
/// it borrowed stays pending and its producer keeps working.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct ResultAsync<'a, F: ?Sized> {
    future: &'a mut F,
    deadline: Deadline,
    /// Sleeps until the deadline, once the wait finds nothing there.
    sleep: Sleep,
    /// A poll returned `Ready`.
    terminated: bool,
}

impl<F: ApiFuture + ?Sized> Future for ResultAsync<'_, F> {
    type Output = Result<F::Value, Error<F::Failure>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = this.poll_wait(cx);
        if polled.is_ready() {
            this.terminated = true;
        }
        polled
    }
}

impl<F: ApiFuture + ?Sized> ResultAsync<'_, F> {
    #[inline]
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<F::Value, Error<F::Failure>>> {
        if let Some(outcome) = self.future.try_result() {
            return Poll::Ready(outcome);
        }
        // The clock starts before the future is driven (which may take time of its own: a
        // retry starting an attempt).
        if !self.deadline.looks_only() {
            self.deadline.start();
        }
        if let Poll::Ready(outcome) = self.future.poll_outcome(cx) {
            return Poll::Ready(outcome);
        }
        match self.deadline.poll_expired(&mut self.sleep, cx) {
            Poll::Pending => Poll::Pending,
            // An outcome that arrived with the deadline still wins.
            Poll::Ready(()) => Poll::Ready(self.future.try_result().unwrap_or(Err(Error::Timeout))),
        }
    }
}

/// Terminated once it returned `Ready`, the outcome or `Timeout`: a fresh
/// [`result_async`](ApiFuture::result_async) waits again.
impl<F: ApiFuture + ?Sized> futures_core::future::FusedFuture for ResultAsync<'_, F> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<F: fmt::Debug + ?Sized> fmt::Debug for ResultAsync<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultAsync")
            .field("future", &self.future)
            .field("deadline", &self.deadline)
            .finish()
    }
}
