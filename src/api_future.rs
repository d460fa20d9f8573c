//! The [`ApiFuture`] trait (the seed's abstract `APIFuture`) and its timed async wait.

use std::fmt;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub use futures_core::future::FusedFuture;

use crate::error::Error;
use crate::timeout::{self, AsyncDeadline, Deadline};

pub(crate) type OutcomeOf<F> = Result<<F as ApiFuture>::Value, Error<<F as ApiFuture>::Failure>>;

/// A future that can be waited on both ways, with the same outcome for the same completion:
/// blocked on from a plain thread with [`result`](ApiFuture::result), or awaited on any executor
/// with `.await` or [`result_async`](ApiFuture::result_async). It is a [`Future`] whose output
/// is `Result<Value, Error<Failure>>`, so it goes wherever a future goes (`block_on(f)`,
/// `tokio::spawn(f)`, `futures::join!`, `select!`, `FuturesUnordered`, a generic `F: Future`
/// helper); [`Send`] and [`Unpin`], so `&mut f` is a future too, and a `select!` arm or
/// `tokio::time::timeout(d, &mut f)` that gives up leaves `f`, and its work, where they were;
/// [`Debug`](fmt::Debug), so an SDK's `impl ApiFuture<..>` can be printed; and a
/// [`FusedFuture`], so `futures::select!` takes `&mut f` as it is, also where `f` is an SDK's
/// `impl ApiFuture<..>`. Generic code names the value and the operation's own error (associated
/// types) only where needed: `F: ApiFuture`, or `F: ApiFuture<Value = Run, Failure = SdkError>`.
///
/// Two required methods, [`poll_ready`](ApiFuture::poll_ready) and
/// [`try_result`](ApiFuture::try_result), make every implementation drivable and inspectable
/// without taking its outcome; the waits are provided on top. An override of `result` and
/// `result_deadline` also serves the maps, chains and `into_boxed()` over that type; `Box<F>` and
/// `&mut F` take the provided wait, where the crate's own futures keep their fast paths
/// ([`AwaitableConcurrentFuture`](crate::AwaitableConcurrentFuture) blocks in oneshot's
/// `recv_timeout`). The multi-future waits poll. Time limits are non-destructive:
/// `Err(Error::Timeout)` leaves the future pending for a later wait. Once the outcome was handed
/// out (by any wait, `.await` included), further waits and polls return `Err(Error::Consumed)`,
/// never a panic.
/// # Examples
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
/// Implement it with the two primitives, `Debug` (derived, or with `finish_non_exhaustive()` if a
/// field is not), a `Future` impl calling [`poll_outcome`](ApiFuture::poll_outcome), and a
/// `FusedFuture` impl (re-exported from `futures-core`) saying whether a poll returned `Ready`:
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `ApiFuture`",
    note = "an async block or another `Future` of `Result<T, E>` becomes one with \
            `apifuture::from_future(..)`"
)]
pub trait ApiFuture:
    Future<Output = Result<Self::Value, Error<Self::Failure>>> + FusedFuture + fmt::Debug + Send + Unpin
{
    /// What the operation gives when it succeeds.
    type Value: Send;
    /// The operation's own error, carried by [`Error::Failed`].
    type Failure: Send;

    /// Drives the operation without taking its outcome; never blocks. Returns `Poll::Ready(())`
    /// once [`try_result`](ApiFuture::try_result) would return `Some`; otherwise registers
    /// `cx`'s waker to be woken when that may have changed and returns `Poll::Pending`.
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

    /// Takes the outcome if there is one, `None` while pending; never blocks. After a value,
    /// `Failed` or `Panicked` was taken, it returns `Some(Err(Error::Consumed))`; `Cancelled`,
    /// `Abandoned` and `DeadlineExceeded` are states, returned every time.
    /// ```
    /// use apifuture::{ApiFuture, Error};
    /// let mut future = apifuture::ready::<u8, std::io::Error>(3);
    /// assert_eq!(future.try_result().unwrap().unwrap(), 3);
    /// assert!(matches!(future.try_result(), Some(Err(Error::Consumed))));
    /// ```
    fn try_result(&mut self) -> Option<Result<Self::Value, Error<Self::Failure>>>;

    /// Whether the outcome is a failure ([`Error::is_failure`]), looked at without taking it:
    /// `Some(..)` once there is one, `None` while pending. [`wait`](crate::wait) with
    /// [`ReturnWhen::FirstFailed`](crate::ReturnWhen) relies on it, after
    /// [`poll_ready`](ApiFuture::poll_ready) (call that first too). By the provided `None`, a
    /// future that cannot show its outcome before handing it out counts as done, never failed;
    /// every future of this crate overrides it, as a hand-written one holding its outcome should.
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

    /// Whether the outcome is there ([`try_result`](ApiFuture::try_result) would return `Some`:
    /// a value, an error, a state such as `Cancelled`, or `Consumed` once taken). Takes nothing
    /// and never blocks, but takes `&mut self` (bind the future with `let mut`): it may drive a
    /// lazy future, where the inherent `done(&self)` of
    /// [`AwaitableConcurrentFuture`](crate::AwaitableConcurrentFuture) only looks (that of
    /// [`SharedFuture`](crate::SharedFuture) drives a lazy source one step too). A future its
    /// producer completes (a promise, a spawned job) is only looked at; a lazy one (a retry, a
    /// poll, [`from_future`](crate::from_future)) is driven one step with a waker that wakes
    /// nobody, so a due attempt may start and a waker from an earlier poll may be replaced: poll
    /// again (as every executor does) before relying on a wake-up.
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

    /// Whether a future its producer completes (a promise, a spawned job, a map over one) is
    /// done, looked at without registering a waker; `None` (the safe default) if it must be
    /// polled. A wait on many futures then parks on the last pending one, not a waker per future.
    #[doc(hidden)]
    fn done_unpolled(&mut self) -> Option<bool> {
        None
    }

    /// The blocking waits' one body, callable on `dyn` futures too: `Box<F>` and `&mut F` hand
    /// it to the future they wrap, whose own (a timed receive, a retry parking) beats the loop.
    #[doc(hidden)]
    fn wait_blocking(&mut self, deadline: Deadline) -> Result<Self::Value, Error<Self::Failure>> {
        // An outcome already there is taken before any waker is made.
        if let Some(outcome) = self.try_result() {
            return outcome;
        }
        timeout::block_on(deadline, |cx| self.poll_outcome(cx).into()).outcome(|| self.try_result())
    }

    /// What `.await` does: takes the outcome if it is there, otherwise drives the operation and
    /// registers `cx`. Implementations call it from `Future::poll` (see the trait's example).
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

    /// Blocks the calling thread until the outcome is there, or `timeout` (a `Duration` or an
    /// `Option<Duration>`) has passed. `None` waits indefinitely, as does a timeout too large for
    /// [`Instant`] (like `Duration::MAX`); `Duration::ZERO` only takes an outcome already there.
    /// Returns the outcome (`Ok(value)`, `Failed` or `Panicked`); `Err(Error::Timeout)` when time
    /// ran out, the future staying pending and losing nothing; `Cancelled`, `Abandoned`, `Consumed`
    /// or `DeadlineExceeded` (see [`Error`]); or `WouldBlockExecutor` on the crate's own background
    /// executor thread (in a [`spawn_async`](crate::spawn_async) task), where it may not park: the
    /// future stays pending, `.await` it there. The thread parks until the producer wakes it (no
    /// polling loop); a timeout never ends a wait early. Inside another executor's async task it
    /// blocks that executor thread until it returns, stalling its other tasks: use `.await` there.
    /// ```
    /// use std::time::Duration;
    /// use apifuture::ApiFuture;
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// std::thread::spawn(move || promise.set_result(6));
    /// assert_eq!(future.result(Duration::from_secs(30)).unwrap(), 6);
    /// ```
    #[inline]
    fn result(
        &mut self,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<Self::Value, Error<Self::Failure>>
    where
        Self: Sized,
    {
        self.wait_blocking(Deadline::from_timeout(timeout.into()))
    }

    /// Like [`result`](ApiFuture::result), with a point in time instead of a duration. A deadline
    /// in the past only takes an outcome that is already there.
    /// ```
    /// use std::time::{Duration, Instant};
    /// use apifuture::ApiFuture;
    /// let (_promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert!(future.result_deadline(deadline).unwrap_err().is_timeout());
    /// assert!(Instant::now() >= deadline); // never early
    /// ```
    #[inline]
    fn result_deadline(&mut self, deadline: Instant) -> Result<Self::Value, Error<Self::Failure>>
    where
        Self: Sized,
    {
        self.wait_blocking(Deadline::At(deadline))
    }

    /// Waits asynchronously, on any executor, for the outcome or until `timeout` has passed, by
    /// the rules of [`result`](ApiFuture::result). Its [`async_io::Timer`] is only made if the
    /// wait must sleep, so awaiting a complete future does no timer work. Dropping the returned
    /// [`ResultAsync`] stops this wait only; the operation goes on and a later wait gets it.
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
            deadline: AsyncDeadline::Unarmed(Deadline::from_timeout(timeout.into())),
            terminated: false,
        }
    }
}

api_future_via!(
/// A borrowed future is one too: a multi-future wait or generic helper can take `&mut f` and
/// leave `f` with its owner (`join_all(&mut futures)`); dropping the borrow cancels nothing.
/// ```
/// use apifuture::{join_all, ready, ApiFuture, BoxError, Error};
/// let mut futures = vec![ready::<u8, BoxError>(1), ready(2)];
/// let outcomes = join_all(&mut futures);
/// assert_eq!(outcomes.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2]);
/// assert!(matches!(futures[0].try_result(), Some(Err(Error::Consumed)))); // still here
/// ```
[F: ApiFuture + ?Sized] &mut F => |this| **this, F::Value, F::Failure
);

api_future_via!(
/// A boxed future is one too, as for `Future`: a generic helper can take `Box::new(f)`. A `dyn`
/// one names its `Output` beside the two associated types
/// (`dyn ApiFuture<Value = V, Failure = E, Output = Result<V, Error<E>>>`), which
/// [`BoxApiFuture`](crate::BoxApiFuture) spares; a blocking wait on a borrowed `dyn` one is
/// called on the borrow, `(&mut future).result(..)`.
/// ```
/// use apifuture::{ready, ApiFuture, BoxError, Error};
/// fn value<F: ApiFuture<Value = u8>>(mut future: F) -> u8 {
///     future.result(None).ok().unwrap_or_default()
/// }
/// assert_eq!(value(Box::new(ready::<u8, BoxError>(1))), 1);
/// let mut erased: Box<dyn ApiFuture<Value = u8, Failure = BoxError, Output = Result<u8, Error>>> =
///     Box::new(ready(2));
/// let mut borrowed = &mut *erased;
/// assert_eq!((&mut borrowed).result(None).unwrap(), 2);
/// ```
[F: ApiFuture + ?Sized] Box<F> => |this| **this, F::Value, F::Failure
);

/// `impl ApiFuture` for a wrapper, forwarding each primitive and the blocking waits to the future
/// `|this| expr` reaches: `api_future_via!([generics] Type => |this| inner, Value, Failure);`.
macro_rules! api_future_via {
    (
        $(#[$attr:meta])* [$($generics:tt)*] $ty:ty => |$this:ident| $inner:expr,
        $value:ty, $failure:ty
    ) => {
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

            #[inline]
            fn wait_blocking(
                &mut self,
                deadline: $crate::timeout::Deadline,
            ) -> Result<$value, $crate::Error<$failure>> {
                let $this = self;
                $inner.wait_blocking(deadline)
            }
        }
    };
}
pub(crate) use api_future_via;

/// `impl Future` and `impl FusedFuture` for an `Unpin` type with a `terminated: bool` field,
/// terminated like `Fuse` once a poll returned `Ready` whatever the outcome (so a `select!` loop
/// stops polling it). `fused_future!([generics] Type, [bounds]);` polls through
/// [`ApiFuture::poll_outcome`]; `fused_future!([generics] Type => Output, poll_fn, [bounds]);`
/// through `poll_fn(&mut Self, &mut Context) -> Poll<Output>`, with the attributes (docs) before
/// it on the `FusedFuture` impl.
macro_rules! fused_future {
    ([$($generics:tt)*] $ty:ty, [$($bounds:tt)*]) => {
        $crate::api_future::fused_future!(
            [$($generics)*] $ty => $crate::api_future::OutcomeOf<Self>,
                $crate::ApiFuture::poll_outcome, [$($bounds)*]
        );
    };
    ($(#[$attr:meta])* [$($generics:tt)*] $ty:ty => $output:ty, $poll:path, [$($bounds:tt)*]) => {
        impl<$($generics)*> ::std::future::Future for $ty
        where
            $($bounds)*
        {
            type Output = $output;

            #[inline]
            fn poll(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Self::Output> {
                let this = self.get_mut();
                let polled = $poll(this, cx);
                if polled.is_ready() {
                    this.terminated = true;
                }
                polled
            }
        }

        $(#[$attr])*
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
pub(crate) use fused_future;

/// [`ApiFuture::poll_outcome`]'s pending half, out of line so the inlined ready path stays small.
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

/// The future of [`ApiFuture::result_async`]: a wait, with an optional time limit, for a borrowed
/// future's outcome; `Send` whenever the future is. Dropping it (after a timeout, in a `select`,
/// with its task) stops only the wait: the future stays pending and its producer keeps working.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct ResultAsync<'a, F: ?Sized> {
    future: &'a mut F,
    deadline: AsyncDeadline,
    terminated: bool,
}

impl<F: ApiFuture + ?Sized> ResultAsync<'_, F> {
    #[inline]
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<F::Value, Error<F::Failure>>> {
        if let Some(outcome) = self.future.try_result() {
            return Poll::Ready(outcome);
        }
        // Start the clock before driving the future, which may take time (a retry's attempt).
        self.deadline.start();
        if let Poll::Ready(outcome) = self.future.poll_outcome(cx) {
            return Poll::Ready(outcome);
        }
        match self.deadline.poll_expired(cx) {
            Poll::Pending => Poll::Pending,
            // An outcome that arrived with the deadline still wins.
            Poll::Ready(()) => Poll::Ready(self.future.try_result().unwrap_or(Err(Error::Timeout))),
        }
    }
}

fused_future!(
    /// Terminated once it returned `Ready`, the outcome or `Timeout`: a fresh
    /// [`result_async`](ApiFuture::result_async) waits again.
    ['a, F: ApiFuture + ?Sized] ResultAsync<'a, F> => OutcomeOf<F>, Self::poll_wait, []
);

impl<F: fmt::Debug + ?Sized> fmt::Debug for ResultAsync<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultAsync")
            .field("future", &self.future)
            .field("deadline", &self.deadline)
            .finish()
    }
}
