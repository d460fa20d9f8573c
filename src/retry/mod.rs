//! Retries and server-side polling. [`policy`] holds the schedule as data, [`schedule`] the
//! state machine that follows it; here are the entry points, their futures, and the two
//! drivers of a schedule: a blocking one that parks the thread, an async one that sleeps on a
//! timer.

mod attempt;
mod policy;
mod schedule;

use std::fmt;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

pub use attempt::{AttemptFn, ProbeFn, Progress, RetryDecision};
use attempt::{FailureOf, ValueOf};
pub use policy::{Jitter, RetryPolicy};
use schedule::{Next, Schedule};

use crate::api_future::{ApiFuture, fused_future};
use crate::error::{Error, Held, Outcome};
use crate::timeout::{self, Deadline, Sleep, Wait};

/// An operation retried under a [`RetryPolicy`], made by [`retry`]. Like any future of this
/// crate it is an [`ApiFuture`]: block on it with [`result`](ApiFuture::result) or await it,
/// with non-destructive timeouts. [`Polling`] (from [`poll_until_ready`]) runs the same
/// schedule probing a server-side operation.
///
/// `F` makes each attempt; the value and error types come from its attempts. To name the type,
/// write `Retry<F>` with `F: AttemptFn` (sealed; every `FnMut(u32) -> A + Send` with
/// `A: ApiFuture` implements it), or spare it with `impl ApiFuture<..>` or
/// [`into_boxed`](crate::ApiFutureExt::into_boxed).
///
/// The first attempt starts when the `Retry` is made, later ones only as a waiter drives the
/// schedule: a blocking wait sleeps the backoff on its own thread, an async wait on an
/// `async-io` timer, and a due attempt starts at the next wait. An SDK method should return
/// [`background`](crate::ApiFutureExt::background) of it, which runs the loop with nobody
/// waiting. A wait's own timeout leaves the attempt in flight and the schedule as they are, for
/// the next wait to resume; dropping the `Retry`, or [`cancel`](Retry::cancel), drops (cancels)
/// the attempt in flight and starts no new one.
#[must_use = "dropping a retry cancels its attempt in flight; .await it, wait on it, or detach() it"]
pub struct Retry<F: AttemptFn> {
    course: Course<F, ValueOf<F>>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

/// A server-side operation polled until it reports a value, made by [`poll_until_ready`]: the
/// schedule and methods of a [`Retry`], whose attempts report [`Progress`] under the polling
/// rules.
///
/// `F` makes each probe; to name the type, write `Polling<F>` with `F: ProbeFn` (sealed; every
/// `FnMut(u32) -> A + Send` with `A: ApiFuture<Value = Progress<T>>` implements it).
#[must_use = "dropping a poll cancels its probe in flight; .await it, wait on it, or detach() it"]
pub struct Polling<F: ProbeFn> {
    course: Course<F, F::Ready>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

// Nothing is pinned: the schedule is boxed and a first value is only ever moved out.
impl<F: AttemptFn> Unpin for Retry<F> {}
impl<F: ProbeFn> Unpin for Polling<F> {}

/// Runs `attempt(1)` now and retries it under `policy` while it fails.
///
/// `attempt` gets the attempt's number, from 1, and returns the attempt as an [`ApiFuture`]
/// (a [`spawn`](crate::spawn)ed request, a [`promise`](crate::promise), another retry...).
///
/// How each attempt's outcome is read:
/// - `Ok(value)`: the retry ends with it.
/// - `Err(Error::Failed(e))`: [`Retry::when`] decides (by default every error is retried):
///   [`Stop`](RetryDecision::Stop) ends with `Failed(e)`, [`Retry`](RetryDecision::Retry)
///   sleeps the policy's next backoff, [`RetryAfter(d)`](RetryDecision::RetryAfter) sleeps `d`.
/// - `Err(Abandoned)`, `Err(DeadlineExceeded)`, `Err(Timeout)` or `Err(WouldBlockExecutor)`:
///   retried as transient; an attempt that runs past the policy's attempt timeout is cancelled
///   and counts as such a failure.
/// - `Err(Panicked(..))`, `Err(Cancelled)`, `Err(Consumed)`: the retry ends with that error, as
///   it does when `attempt` itself panics.
///
/// When attempts run out or the deadline comes (a sleep that would reach past it ends the retry
/// at once), the retry ends with the last `Failed(e)` if there was one, else
/// `DeadlineExceeded`. `DeadlineExceeded` and `Cancelled` are states: every later wait returns
/// them again. The closures (this one, and those of [`when`](Retry::when) and
/// [`notify`](Retry::notify)) are dropped when the retry ends, whatever its outcome, and what
/// they hold with them (a [`Sequence`](crate::Sequence)'s open turn, a channel's sender), though
/// the future may be kept.
///
/// Later attempts start only while something waits on the retry (a blocking wait, an `.await`,
/// a multi-wait): one held without waiting never makes its second attempt. An SDK method
/// returns [`.background()`](crate::ApiFutureExt::background) of it, which drives it to its end
/// with nobody waiting.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use apifuture::{retry, spawn, ApiFuture, RetryPolicy};
///
/// let calls = Arc::new(AtomicU32::new(0));
/// let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
/// let seen = Arc::clone(&calls);
/// let mut call = retry(policy, move |attempt| {
///     seen.fetch_add(1, Ordering::SeqCst);
///     // Fails twice (say, HTTP 503), then answers.
///     spawn(move || if attempt < 3 { Err("503") } else { Ok(attempt) })
/// });
/// assert_eq!(call.result(Duration::from_secs(30)).unwrap(), 3);
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// ```
#[inline]
pub fn retry<A, F>(policy: RetryPolicy, attempt: F) -> Retry<F>
where
    F: FnMut(u32) -> A + Send,
    A: ApiFuture,
{
    Retry {
        course: Course::start(policy, attempt, Progress::Ready, false),
        terminated: false,
    }
}

/// Probes a long-running server-side operation until it reports [`Progress::Ready`]: the SDK's
/// "request id -> result" loop.
///
/// `probe` gets the probe's number (every probe counts, from 1; the count stops at `u32::MAX`).
/// The rules are those of the seed's SDK, whose polls run for hours:
///
/// | The probe gives | The poll |
/// |---|---|
/// | [`Progress::Ready(v)`](Progress::Ready) | ends with `v` |
/// | [`Progress::Pending`] | sleeps the policy's backoff from its first delay, growing with each `Pending` in a row |
/// | [`Progress::PendingFor(d)`](Progress::PendingFor) | sleeps `d` (`ZERO`: probes again at once, as a long poll wants) |
/// | an error | read as [`retry`] reads it; `max_attempts` bounds failures *in a row* |
/// | no outcome within the attempt timeout | drops (cancels) the probe and sends the next at once: a held long poll is an answer, `PendingFor(ZERO)`; a zero attempt timeout counts as a failure |
///
/// An answer (`Pending`, `PendingFor`, a probe held past the attempt timeout) shows the server
/// is alive: it resets the failure count, the failure backoff, and the error the poll would end
/// with, so a poll answered every time never runs out of attempts and only the deadline ends it
/// (with `DeadlineExceeded`). With an attempt timeout, a server that holds every probe keeps
/// the poll going until the policy's deadline: set one. A `PendingFor` (or `RetryAfter`) too
/// long for [`Instant`](std::time::Instant) ends the poll at once with `DeadlineExceeded` (or
/// the last error): no probe would ever follow it.
///
/// A wait's own timeout holds whatever the probes do: a step starts at most a few dozen probes
/// without sleeping, then gives the thread or the executor back. The first probe is sent now,
/// later ones only while something waits on the poll: an SDK method returns
/// [`.background()`](crate::ApiFutureExt::background) of it, so that polling goes on with
/// nobody waiting, as the seed SDK's does. Dropping the `Polling` stops it: no probe starts
/// after that.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{poll_until_ready, ready, ApiFuture, BoxError, Progress, RetryPolicy};
///
/// let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
/// let mut job = poll_until_ready(policy, |probe| {
///     // The server says "not yet" twice.
///     ready::<_, BoxError>(if probe < 3 { Progress::Pending } else { Progress::Ready("done") })
/// });
/// assert_eq!(job.result(Duration::from_secs(30)).unwrap(), "done");
/// assert_eq!(job.attempts(), 3);
/// ```
#[inline]
pub fn poll_until_ready<T, A, F>(policy: RetryPolicy, probe: F) -> Polling<F>
where
    F: FnMut(u32) -> A + Send,
    A: ApiFuture<Value = Progress<T>>,
    T: Send,
{
    Polling {
        course: Course::start(policy, probe, |progress| progress, true),
        terminated: false,
    }
}

/// The methods, `ApiFuture`, `Future`, `FusedFuture` and `Debug` of [`Retry`] and [`Polling`],
/// which differ only in how their schedule reads an attempt's value (and in their docs).
macro_rules! schedule_future {
    (
        $ty:ident, $bound:ident, $value:ty,
        when: $(#[$when:meta])*
        notify: $(#[$notify:meta])*
        attempts: $(#[$attempts:meta])*
        cancel: $(#[$cancel:meta])*
    ) => {
        impl<F: $bound> $ty<F> {
            $(#[$when])*
            pub fn when(
                mut self,
                classify: impl FnMut(&FailureOf<F>) -> RetryDecision + Send + 'static,
            ) -> Self {
                self.course.with(|schedule| schedule.classify = Box::new(classify));
                self
            }

            $(#[$notify])*
            pub fn notify(
                mut self,
                notify: impl FnMut(&FailureOf<F>, Duration) + Send + 'static,
            ) -> Self {
                self.course.with(|schedule| schedule.notify = Some(Box::new(notify)));
                self
            }

            $(#[$attempts])*
            pub fn attempts(&self) -> u32 {
                self.course.attempts()
            }

            $(#[$cancel])*
            pub fn cancel(&mut self) -> bool {
                self.course.cancel()
            }
        }

        impl<F: $bound> ApiFuture for $ty<F> {
            type Value = $value;
            type Failure = FailureOf<F>;

            #[inline]
            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
                self.course.poll_ready(cx)
            }

            #[inline(always)]
            fn try_result(&mut self) -> Option<Outcome<$value, FailureOf<F>>> {
                self.course.try_take()
            }

            fn peek_failed(&mut self) -> Option<bool> {
                self.course.peek_failed()
            }

            /// Steps the schedule once without arming a timer.
            fn done(&mut self) -> bool {
                self.course.done()
            }

            /// Runs the schedule on the calling thread, which sleeps the backoffs (no timer).
            #[inline]
            fn wait_blocking(&mut self, deadline: Deadline) -> Outcome<$value, FailureOf<F>> {
                self.course.block(deadline)
            }
        }

        fused_future!([F: $bound] $ty<F>, []);

        impl<F: $bound> fmt::Debug for $ty<F> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.course.debug(stringify!($ty), f)
            }
        }
    };
}

schedule_future! {
    Retry, AttemptFn, ValueOf<F>,
    when:
        /// Sets how an operation error is read; the default retries every error. `classify` gets
        /// the attempts' own error (`&E` where the attempts are `ApiFuture<Failure = E>`).
        ///
        /// ```
        /// use std::time::Duration;
        /// use apifuture::{failed, retry, ApiFuture, Error, RetryDecision, RetryPolicy};
        ///
        /// let mut call = retry(RetryPolicy::new(), |_| failed::<u32, u16>(400))
        ///     .when(|status| if *status == 400 { RetryDecision::Stop } else { RetryDecision::Retry });
        /// assert_eq!(call.result(Duration::from_secs(30)), Err(Error::Failed(400)));
        /// assert_eq!(call.attempts(), 1);
        /// ```
    notify:
        /// Calls `notify(&error, delay)` before each sleep that follows a `Failed(error)` and
        /// will be taken: exactly once per such sleep, a zero delay included.
        ///
        /// A sleep is announced only once the attempt budget and the deadline allow it, so the
        /// last failure before giving up, and a `RetryAfter` or backoff the deadline refuses,
        /// are never announced. Nor are sleeps after an abandoned or timed-out attempt or a
        /// poll's `Pending` (no error to show), nor a sleep that a later wait resumes after a
        /// wait's own timeout.
        ///
        /// ```
        /// use std::sync::{Arc, Mutex};
        /// use std::time::Duration;
        /// use apifuture::{failed, ready, retry, ApiFuture, AwaitableConcurrentFuture, RetryPolicy};
        ///
        /// let log = Arc::new(Mutex::new(Vec::new()));
        /// let seen = Arc::clone(&log);
        /// let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
        /// let mut call = retry(policy, |attempt| -> AwaitableConcurrentFuture<u32, &str> {
        ///     if attempt == 1 { failed("busy") } else { ready(attempt) }
        /// })
        /// .notify(move |error, delay| seen.lock().unwrap().push((*error, delay)));
        /// assert_eq!(call.result(None).unwrap(), 2);
        /// assert_eq!(log.lock().unwrap().len(), 1);
        /// ```
    attempts:
        /// How many attempts (or probes) have started.
        ///
        /// ```
        /// use apifuture::{ready, retry, BoxError, RetryPolicy};
        /// let call = retry(RetryPolicy::new(), |_| ready::<u8, BoxError>(1));
        /// assert_eq!(call.attempts(), 1); // the first starts at once
        /// ```
    cancel:
        /// Cancels the attempt in flight and starts no new one: later waits return
        /// `Err(Error::Cancelled)`. Returns false if the retry had already finished with another
        /// outcome, an attempt's outcome already there that ends it included (true again after an
        /// earlier `cancel`).
        ///
        /// ```
        /// use apifuture::{promise, retry, ApiFuture, Error, RetryPolicy};
        /// let (producer, attempt) = promise::<u8, &str>();
        /// let mut attempt = Some(attempt);
        /// let mut call = retry(RetryPolicy::new(), move |_| attempt.take().unwrap());
        /// assert!(call.cancel());
        /// assert!(producer.is_cancelled());
        /// assert_eq!(call.result(None), Err(Error::Cancelled));
        /// ```
}

schedule_future! {
    Polling, ProbeFn, F::Ready,
    when:
        /// Sets how a probe's error is read, as [`Retry::when`] does; the default retries every
        /// error.
    notify:
        /// Calls `notify(&error, delay)` before each sleep that follows a failed probe and will be
        /// taken, as [`Retry::notify`] does (never after a `Pending` answer).
    attempts:
        /// How many probes have started, `Pending` answers included.
    cancel:
        /// Cancels the probe in flight and starts no new one: later waits return
        /// `Err(Error::Cancelled)`. Returns false if the poll had already finished with another
        /// outcome, a probe's outcome already there that ends it included (true again after an
        /// earlier `cancel`).
}

/// Where a retry stands: most first attempts succeed at once, leaving only a value to hand out.
enum Course<F: AttemptFn, V> {
    /// The first attempt was done with a value when the retry was made.
    Done(Held<V, FailureOf<F>>),
    /// The schedule, and the timer its async waits sleep on.
    Scheduled(Box<(Schedule<F, V>, Sleep)>),
}

impl<F: AttemptFn, V> Course<F, V> {
    #[inline]
    fn start(
        policy: RetryPolicy,
        make: F,
        read: fn(ValueOf<F>) -> Progress<V>,
        polling: bool,
    ) -> Self {
        match Schedule::begin(policy, make, read, polling) {
            Ok(value) => Course::Done(Held::new(Ok(value))),
            Err(schedule) => Course::Scheduled(Box::new((schedule, Sleep::default()))),
        }
    }

    /// Changes the schedule; a retry that was done at once has none left to change.
    fn with(&mut self, change: impl FnOnce(&mut Schedule<F, V>)) {
        if let Course::Scheduled(scheduled) = self {
            change(&mut scheduled.0);
            // Set on a schedule already ended (its first attempt panicked): nothing calls it.
            if scheduled.0.ended() {
                scheduled.0.let_go();
            }
        }
    }

    fn attempts(&self) -> u32 {
        match self {
            Course::Done(_) => 1,
            Course::Scheduled(scheduled) => scheduled.0.started,
        }
    }

    fn cancel(&mut self) -> bool {
        match self {
            Course::Done(_) => false,
            Course::Scheduled(scheduled) => {
                scheduled.1.clear();
                scheduled.0.cancel()
            }
        }
    }

    /// The async driver: steps the schedule and sleeps on the timer until the instant it names.
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Course::Scheduled(scheduled) = self else {
            return Poll::Ready(());
        };
        let (schedule, sleep) = &mut **scheduled;
        // A timer that is already due leads straight into the next step, a few times at most.
        for _ in 0..STEPS_PER_POLL {
            match schedule.step(cx) {
                Next::Ready => {
                    sleep.clear();
                    return Poll::Ready(());
                }
                Next::At(None) => {
                    sleep.clear();
                    return Poll::Pending;
                }
                Next::At(Some(at)) => {
                    if sleep.poll_until(at, cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Next::Yield => break,
            }
        }
        // Polled again at once, after whatever else the executor has to do.
        sleep.clear();
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// The blocking driver: steps the schedule and parks the calling thread until the instant
    /// it names, never past the wait's own `deadline`.
    fn block(&mut self, deadline: Deadline) -> Outcome<V, FailureOf<F>> {
        // A finished retry's outcome is taken before any clock is read or waker made.
        if let Some(outcome) = self.try_take() {
            return outcome;
        }
        let Course::Scheduled(scheduled) = self else {
            return Err(Error::Consumed);
        };
        let schedule = &mut scheduled.0;
        timeout::block_on(deadline, |cx| match Wait::from(schedule.step(cx)) {
            Wait::Ready(()) => Wait::Ready(schedule.try_take().unwrap_or(Err(Error::Consumed))),
            Wait::Until(at) => Wait::Until(at),
        })
        .outcome(|| schedule.try_take())
    }

    /// Whether the outcome is there, after one step with a no-op waker and no timer armed.
    fn done(&mut self) -> bool {
        match self {
            Course::Done(_) => true,
            Course::Scheduled(scheduled) => matches!(
                scheduled.0.step(&mut Context::from_waker(Waker::noop())),
                Next::Ready
            ),
        }
    }

    #[inline(always)]
    fn try_take(&mut self) -> Option<Outcome<V, FailureOf<F>>> {
        match self {
            Course::Done(held) => Some(held.hand_out()),
            Course::Scheduled(scheduled) => scheduled.0.try_take(),
        }
    }

    fn peek_failed(&self) -> Option<bool> {
        match self {
            Course::Done(_) => Some(false),
            Course::Scheduled(scheduled) => scheduled.0.peek_failed(),
        }
    }

    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct(name);
        let (attempts, phase) = match self {
            Course::Done(held) => (1, held.state()),
            Course::Scheduled(scheduled) => {
                let (policy, attempts, phase) = scheduled.0.describe();
                debug.field("policy", policy);
                (attempts, phase)
            }
        };
        debug
            .field("attempts", &attempts)
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}

/// How many times one async poll steps on after a timer that was already due.
const STEPS_PER_POLL: u32 = 4;
