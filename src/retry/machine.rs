//! The one state machine behind [`Retry`](super::Retry) and [`Polling`](super::Polling), and
//! its two drivers: a blocking one that sleeps on the calling thread and an async one that
//! sleeps on `async-io` timers.
//!
//! The machine itself never sleeps: [`Machine::step`] advances as far as it can without
//! waiting and then says when it next needs to run (a backoff that ends, an attempt that times
//! out, the deadline). Each driver turns that instant into its own kind of sleep, so both modes
//! follow exactly the same schedule.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_io::Timer;

use super::policy::RetryPolicy;
use crate::api_future::ApiFuture;
use crate::error::{Error, panic_message};
use crate::timeout;

/// What the operation's classifier says about a failed attempt's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Do not retry: the whole operation ends with this error.
    Stop,
    /// Retry after the policy's next backoff.
    Retry,
    /// Retry after this long: a server's hint (`Retry-After`). Not capped by the policy's
    /// `max_delay`, only by its deadline.
    RetryAfter(Duration),
}

/// What one probe of a long-running server-side operation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<T> {
    /// The operation finished with this value.
    Ready(T),
    /// Not finished: probe again after the policy's next backoff.
    Pending,
    /// Not finished: probe again after this long (the server's hint). `Duration::ZERO`
    /// probes again at once, as a long-polling server wants.
    PendingFor(Duration),
}

pub(crate) type Classify<E> = Box<dyn FnMut(&E) -> RetryDecision + Send>;
pub(crate) type Notify<E> = Box<dyn FnMut(&E, Duration) + Send>;
pub(crate) type MakeAttempt<A> = Box<dyn FnMut(u32) -> A + Send>;

/// Where the schedule stands.
enum Stage<A, T, E> {
    /// An attempt is in flight; it is cancelled (dropped) if it runs past `timeout_at`.
    Attempt {
        attempt: A,
        timeout_at: Option<Instant>,
    },
    /// The first attempt's outcome, there as soon as it was made and read at the first step
    /// (after [`Retry::when`](super::Retry::when) had its chance to set the classifier).
    Arrived(Result<Progress<T>, Error<E>>),
    /// Waiting for the next attempt.
    Sleeping { until: Instant },
    /// The outcome, until a wait takes it.
    Finished(Option<Result<T, Error<E>>>),
}

/// The schedule of attempts, shared by retrying (`V = T`) and polling (`V = Progress<T>`).
pub(crate) struct Machine<V, T, E, A> {
    policy: RetryPolicy,
    make: MakeAttempt<A>,
    classify: Classify<E>,
    notify: Option<Notify<E>>,
    /// How an attempt's value reads: finished, or pending for a while.
    progress: fn(V) -> Progress<T>,
    /// Attempts started (the closure's argument), probes that said `Pending` included.
    started: u32,
    /// Attempts that failed: these use up `max_attempts`.
    failures: u32,
    /// Sleeps taken so far: the index into the policy's backoff.
    backoffs: u32,
    deadline: Option<Instant>,
    last_error: Option<E>,
    stage: Stage<A, T, E>,
    /// The async driver's timer, and the instant it is set for.
    timer: Option<(Instant, Timer)>,
}

/// What a step ended on.
enum Step {
    Ready,
    /// Run again when woken, or at this instant at the latest.
    Pending(Option<Instant>),
}

impl<V, T, E, A> Machine<V, T, E, A>
where
    A: ApiFuture<V, E>,
{
    /// Starts the first attempt at once. An attempt that is already done with a value needs no
    /// schedule, so nothing is allocated for it and no clock is read (unless the policy has a
    /// deadline or an attempt timeout, which count from before the first attempt starts).
    #[inline]
    pub(crate) fn start<F>(
        policy: RetryPolicy,
        mut make: F,
        progress: fn(V) -> Progress<T>,
    ) -> Run<V, T, E, A>
    where
        F: FnMut(u32) -> A + Send + 'static,
    {
        let now =
            (policy.deadline().is_some() || policy.attempt_timeout().is_some()).then(Instant::now);
        let stage = match panic::catch_unwind(AssertUnwindSafe(|| make(1))) {
            Ok(mut attempt) => match attempt.try_result() {
                Some(outcome) => match outcome.map(progress) {
                    Ok(Progress::Ready(value)) => return Run::Done(Some(value)),
                    outcome => Stage::Arrived(outcome),
                },
                None => Stage::Attempt {
                    attempt,
                    timeout_at: policy
                        .attempt_timeout()
                        .and_then(|limit| now?.checked_add(limit)),
                },
            },
            Err(payload) => Stage::Finished(Some(Err(Error::Panicked(panic_message(&*payload))))),
        };
        let deadline = policy
            .deadline()
            .and_then(|budget| now?.checked_add(budget));
        Run::Machine(Box::new(Machine {
            policy,
            make: Box::new(make),
            classify: Box::new(|_| RetryDecision::Retry),
            notify: None,
            progress,
            started: 1,
            failures: 0,
            backoffs: 0,
            deadline,
            last_error: None,
            stage,
            timer: None,
        }))
    }

    pub(crate) fn set_classify(&mut self, classify: Classify<E>) {
        self.classify = classify;
    }

    pub(crate) fn set_notify(&mut self, notify: Notify<E>) {
        self.notify = Some(notify);
    }

    /// Attempts started so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.started
    }

    /// Drops the attempt in flight (which cancels it) and ends with `Cancelled`; false if the
    /// machine had already finished.
    pub(crate) fn cancel(&mut self) -> bool {
        match self.stage {
            Stage::Finished(Some(Err(Error::Cancelled))) => true,
            Stage::Finished(_) => false,
            _ => {
                self.finish(Err(Error::Cancelled));
                true
            }
        }
    }

    /// Starts attempt number `started + 1`; a panicking closure ends the machine.
    fn start_attempt(&mut self, now: Option<Instant>) {
        self.started += 1;
        let number = self.started;
        match panic::catch_unwind(AssertUnwindSafe(|| (self.make)(number))) {
            Ok(attempt) => {
                let timeout_at = self
                    .policy
                    .attempt_timeout()
                    .and_then(|limit| now.unwrap_or_else(Instant::now).checked_add(limit));
                self.stage = Stage::Attempt {
                    attempt,
                    timeout_at,
                };
            }
            Err(payload) => self.finish(Err(Error::Panicked(panic_message(&*payload)))),
        }
    }

    fn finish(&mut self, outcome: Result<T, Error<E>>) {
        self.timer = None;
        self.stage = Stage::Finished(Some(outcome));
    }

    /// Ends with the last operation error if there was one, else `DeadlineExceeded`.
    fn give_up(&mut self) {
        let outcome = match self.last_error.take() {
            Some(error) => Err(Error::Failed(error)),
            None => Err(Error::DeadlineExceeded),
        };
        self.finish(outcome);
    }

    /// Sleeps `delay` before the next attempt, unless that would reach the deadline:
    /// `past_deadline` is what the machine ends with then.
    fn sleep(&mut self, delay: Duration, past_deadline: fn(&mut Self)) {
        let now = Instant::now();
        match now.checked_add(delay) {
            Some(until) if self.deadline.is_some_and(|deadline| until >= deadline) => {
                past_deadline(self)
            }
            // `RetryAfter(ZERO)`, `PendingFor(ZERO)`: again at once (a long-polling server).
            Some(_) if delay.is_zero() => self.start_attempt(Some(now)),
            Some(until) => self.stage = Stage::Sleeping { until },
            None if self.deadline.is_some() => past_deadline(self),
            // A sleep too long for `Instant` and no deadline: no attempt would ever follow.
            None => self.give_up(),
        }
    }

    /// A failed attempt: count it and retry after `delay`, or give up.
    fn retry_after(&mut self, delay: Duration) {
        self.failures += 1;
        if self.failures >= self.policy.max_attempts() {
            self.give_up();
            return;
        }
        if let (Some(notify), Some(error)) = (self.notify.as_mut(), self.last_error.as_ref()) {
            notify(error, delay);
        }
        self.sleep(delay, Self::give_up);
    }

    fn next_backoff(&mut self) -> Duration {
        let delay = self.policy.delay(self.backoffs);
        self.backoffs = self.backoffs.saturating_add(1);
        delay
    }

    /// Reads a finished attempt's outcome and moves the schedule on.
    fn settle(&mut self, outcome: Result<V, Error<E>>) {
        self.settle_progress(outcome.map(self.progress));
    }

    /// [`settle`](Self::settle), with the attempt's value already read as progress.
    fn settle_progress(&mut self, outcome: Result<Progress<T>, Error<E>>) {
        match outcome {
            Ok(progress) => match progress {
                Progress::Ready(value) => self.finish(Ok(value)),
                Progress::Pending => {
                    let delay = self.next_backoff();
                    self.sleep(delay, |machine| {
                        machine.finish(Err(Error::DeadlineExceeded))
                    });
                }
                Progress::PendingFor(delay) => {
                    self.sleep(delay, |machine| {
                        machine.finish(Err(Error::DeadlineExceeded))
                    });
                }
            },
            Err(Error::Failed(error)) => match (self.classify)(&error) {
                RetryDecision::Stop => self.finish(Err(Error::Failed(error))),
                RetryDecision::Retry => {
                    self.last_error = Some(error);
                    let delay = self.next_backoff();
                    self.retry_after(delay);
                }
                RetryDecision::RetryAfter(delay) => {
                    self.last_error = Some(error);
                    self.retry_after(delay);
                }
            },
            // Transient: the attempt's producer went away, or its own budget ran out.
            Err(Error::Abandoned | Error::DeadlineExceeded | Error::Timeout) => {
                let delay = self.next_backoff();
                self.retry_without_error(delay);
            }
            Err(error @ (Error::Panicked(_) | Error::Cancelled | Error::Consumed)) => {
                self.finish(Err(error))
            }
        }
    }

    /// A failure with no operation error to show (abandoned, timed out): counted, not notified.
    fn retry_without_error(&mut self, delay: Duration) {
        self.failures += 1;
        if self.failures >= self.policy.max_attempts() {
            self.give_up();
        } else {
            self.sleep(delay, Self::give_up);
        }
    }

    /// Advances as far as possible without waiting.
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        loop {
            match &mut self.stage {
                Stage::Finished(_) => return Step::Ready,
                Stage::Attempt {
                    attempt,
                    timeout_at,
                } => {
                    // An outcome already available wins over any deadline.
                    if attempt.poll_ready(cx).is_ready() {
                        let outcome = attempt.try_result().unwrap_or(Err(Error::Consumed));
                        self.settle(outcome);
                        continue;
                    }
                    let timeout_at = *timeout_at;
                    let wake_at = earliest(timeout_at, self.deadline);
                    let Some(wake_at) = wake_at else {
                        return Step::Pending(None);
                    };
                    if Instant::now() < wake_at {
                        return Step::Pending(Some(wake_at));
                    }
                    if self.deadline.is_some_and(|deadline| deadline <= wake_at) {
                        self.give_up();
                    } else {
                        // The attempt timed out: dropping it cancels it; it counts as a failure.
                        let delay = self.next_backoff();
                        self.retry_without_error(delay);
                    }
                }
                Stage::Arrived(_) => {
                    if let Stage::Arrived(outcome) =
                        std::mem::replace(&mut self.stage, Stage::Finished(None))
                    {
                        self.settle_progress(outcome);
                    }
                }
                Stage::Sleeping { until } => {
                    let until = *until;
                    let now = Instant::now();
                    if now < until {
                        return Step::Pending(Some(until));
                    }
                    self.start_attempt(Some(now));
                }
            }
        }
    }

    /// The async driver: steps, and sleeps on an async-io timer when the machine must wait for
    /// an instant.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match self.step(cx) {
                Step::Ready => return Poll::Ready(()),
                Step::Pending(None) => {
                    self.timer = None;
                    return Poll::Pending;
                }
                Step::Pending(Some(at)) => {
                    // Re-arming a timer is a trip to the reactor: only when the instant moved.
                    let (armed_for, timer) = self.timer.get_or_insert_with(|| (at, Timer::at(at)));
                    if *armed_for != at {
                        timer.set_at(at);
                        *armed_for = at;
                    }
                    if Pin::new(timer).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// The blocking driver: steps, and parks the calling thread until it is woken or the
    /// machine's next instant comes, never past `wait_deadline`.
    pub(crate) fn block(&mut self, wait_deadline: Option<Instant>) -> Result<T, Error<E>> {
        // Most calls succeed at the first attempt: settle that without making a thread waker
        // (an allocation and a thread-handle clone).
        if let Step::Ready = self.step(&mut Context::from_waker(Waker::noop())) {
            return self.take();
        }
        let waker = timeout::thread_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            let wake_at = match self.step(&mut cx) {
                Step::Ready => return self.take(),
                Step::Pending(wake_at) => wake_at,
            };
            match earliest(wake_at, wait_deadline) {
                None => std::thread::park(),
                Some(until) => {
                    let now = Instant::now();
                    if wait_deadline.is_some_and(|deadline| now >= deadline) {
                        return Err(Error::Timeout);
                    }
                    if now < until {
                        std::thread::park_timeout(until - now);
                    }
                }
            }
        }
    }

    /// Takes the outcome if the machine finished: a value, `Failed` or `Panicked` once (then
    /// `Consumed`); `Cancelled` and `DeadlineExceeded` every time.
    pub(crate) fn try_take(&mut self) -> Option<Result<T, Error<E>>> {
        match &mut self.stage {
            Stage::Finished(slot) => Some(match slot {
                Some(Err(Error::Cancelled)) => Err(Error::Cancelled),
                Some(Err(Error::DeadlineExceeded)) => Err(Error::DeadlineExceeded),
                Some(Err(Error::Abandoned)) => Err(Error::Abandoned),
                Some(_) => slot.take().unwrap_or(Err(Error::Consumed)),
                None => Err(Error::Consumed),
            }),
            _ => None,
        }
    }

    /// Whether the machine finished with a failure; `None` while it runs.
    pub(crate) fn peek_failed(&self) -> Option<bool> {
        match &self.stage {
            Stage::Finished(Some(outcome)) => Some(crate::callbacks::is_failure(outcome)),
            Stage::Finished(None) => Some(false),
            _ => None,
        }
    }

    fn take(&mut self) -> Result<T, Error<E>> {
        self.try_take().unwrap_or(Err(Error::Consumed))
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<V, T, E, A> fmt::Debug for Machine<V, T, E, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Attempt { .. } => "attempt in flight",
            Stage::Arrived(_) => "attempt done",
            Stage::Sleeping { .. } => "sleeping",
            Stage::Finished(Some(_)) => "finished",
            Stage::Finished(None) => "consumed",
        };
        f.debug_struct("Retry")
            .field("policy", &self.policy)
            .field("attempts", &self.started)
            .field("stage", &stage)
            .finish_non_exhaustive()
    }
}

/// A retry's state: most first attempts succeed at once, and then there is nothing to schedule,
/// only a value to hand out.
pub(crate) enum Run<V, T, E, A> {
    /// The first attempt was done with a value when the retry was made.
    Done(Option<T>),
    Machine(Box<Machine<V, T, E, A>>),
}

impl<V, T, E, A> Run<V, T, E, A>
where
    A: ApiFuture<V, E>,
{
    pub(crate) fn set_classify(&mut self, classify: Classify<E>) {
        if let Run::Machine(machine) = self {
            machine.set_classify(classify);
        }
    }

    pub(crate) fn set_notify(&mut self, notify: Notify<E>) {
        if let Run::Machine(machine) = self {
            machine.set_notify(notify);
        }
    }

    pub(crate) fn attempts(&self) -> u32 {
        match self {
            Run::Done(_) => 1,
            Run::Machine(machine) => machine.attempts(),
        }
    }

    pub(crate) fn cancel(&mut self) -> bool {
        match self {
            Run::Done(_) => false,
            Run::Machine(machine) => machine.cancel(),
        }
    }

    #[inline]
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Run::Done(_) => Poll::Ready(()),
            Run::Machine(machine) => machine.poll_ready(cx),
        }
    }

    #[inline(always)]
    pub(crate) fn try_take(&mut self) -> Option<Result<T, Error<E>>> {
        match self {
            Run::Done(slot) => Some(slot.take().ok_or(Error::Consumed)),
            Run::Machine(machine) => machine.try_take(),
        }
    }

    pub(crate) fn peek_failed(&self) -> Option<bool> {
        match self {
            Run::Done(_) => Some(false),
            Run::Machine(machine) => machine.peek_failed(),
        }
    }

    #[inline]
    pub(crate) fn block(&mut self, wait_deadline: Option<Instant>) -> Result<T, Error<E>> {
        match self {
            Run::Done(slot) => slot.take().ok_or(Error::Consumed),
            Run::Machine(machine) => machine.block(wait_deadline),
        }
    }
}

impl<V, T, E, A> fmt::Debug for Run<V, T, E, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Run::Done(slot) => f
                .debug_struct("Retry")
                .field("attempts", &1)
                .field(
                    "stage",
                    &if slot.is_some() {
                        "finished"
                    } else {
                        "consumed"
                    },
                )
                .finish_non_exhaustive(),
            Run::Machine(machine) => machine.fmt(f),
        }
    }
}
