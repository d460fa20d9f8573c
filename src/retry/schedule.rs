//! The one state machine behind [`Retry`](super::Retry) and [`Polling`](super::Polling).
//!
//! [`Schedule::step`] advances as far as it can without waiting and then says when it next
//! needs to run (a backoff that ends, an attempt that times out, the deadline). The two drivers
//! turn that instant into their own kind of sleep through an [`Alarm`]: an async wait on an
//! `async-io` timer, a blocking wait by parking its thread. Both follow the same schedule.

use std::fmt;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::policy::RetryPolicy;
use crate::api_future::ApiFuture;
use crate::error::{Error, guarded, hand_out, is_failure};
use crate::timeout::{self, Alarm, LazyTimer, Limit, earliest};

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
    /// Not finished: probe again after a backoff of the policy's, from its first delay for the
    /// first `Pending` in a row and growing with each one after it.
    Pending,
    /// Not finished: probe again after this long (the server's hint). `Duration::ZERO`
    /// probes again at once, as a long-polling server wants.
    PendingFor(Duration),
}

/// The closure that makes each attempt of a [`retry`](super::retry): implemented for every
/// `FnMut(u32) -> A + Send` where `A: ApiFuture`, and for nothing else (the trait is sealed).
/// It names the attempt type, so that [`Retry<F>`](super::Retry) needs no type parameter
/// besides the closure; write `F: AttemptFn` where code names a `Retry<F>`.
pub trait AttemptFn: Send + Sealed {
    /// The future of one attempt.
    type Attempt: ApiFuture;
    /// Makes attempt number `number`, counting from 1.
    #[doc(hidden)]
    fn attempt(&mut self, number: u32) -> Self::Attempt;
}

/// The closure that makes each probe of a [`poll_until_ready`](super::poll_until_ready):
/// implemented for every `FnMut(u32) -> A + Send` where `A: ApiFuture<Value = Progress<T>>`,
/// and for nothing else (the trait is sealed). `Ready` is the `T` the poll ends with; write
/// `F: ProbeFn` where code names a [`Polling<F>`](super::Polling).
pub trait ProbeFn: AttemptFn {
    /// What the poll gives once a probe reports [`Progress::Ready`].
    type Ready: Send;
    /// Reads one probe's value.
    #[doc(hidden)]
    fn read(value: ValueOf<Self>) -> Progress<Self::Ready>;
}

/// Keeps [`AttemptFn`] and [`ProbeFn`] to the closures they are written for.
mod sealed {
    pub trait Sealed {}
}
use sealed::Sealed;

impl<F, A> Sealed for F
where
    F: FnMut(u32) -> A + Send,
    A: ApiFuture,
{
}

impl<F, A> AttemptFn for F
where
    F: FnMut(u32) -> A + Send,
    A: ApiFuture,
{
    type Attempt = A;

    #[inline]
    fn attempt(&mut self, number: u32) -> A {
        self(number)
    }
}

impl<F, A, T> ProbeFn for F
where
    F: FnMut(u32) -> A + Send,
    A: ApiFuture<Value = Progress<T>>,
    T: Send,
{
    type Ready = T;

    #[inline]
    fn read(value: Progress<T>) -> Progress<T> {
        value
    }
}

/// How an attempt's value is read: [`Values`] for a retry (every value ends it), [`Probes`] for
/// a poll (a value is a [`Progress`]).
pub(crate) trait Reading<F: AttemptFn> {
    /// What the whole operation gives.
    type Value: Send;
    /// Whether this is a poll, which counts failures in a row and re-probes on an attempt
    /// timeout, rather than a retry.
    const POLLING: bool;
    /// Reads one attempt's value.
    fn read(value: ValueOf<F>) -> Progress<Self::Value>;
}

/// A retry's reading: the first value ends the operation.
#[derive(Debug)]
pub(crate) enum Values {}

/// A poll's reading: attempts report [`Progress`].
#[derive(Debug)]
pub(crate) enum Probes {}

impl<F: AttemptFn> Reading<F> for Values {
    type Value = ValueOf<F>;
    const POLLING: bool = false;

    #[inline]
    fn read(value: ValueOf<F>) -> Progress<ValueOf<F>> {
        Progress::Ready(value)
    }
}

impl<F: ProbeFn> Reading<F> for Probes {
    type Value = F::Ready;
    const POLLING: bool = true;

    #[inline]
    fn read(value: ValueOf<F>) -> Progress<F::Ready> {
        F::read(value)
    }
}

pub(crate) type AttemptOf<F> = <F as AttemptFn>::Attempt;
pub(crate) type ValueOf<F> = <AttemptOf<F> as ApiFuture>::Value;
pub(crate) type FailureOf<F> = <AttemptOf<F> as ApiFuture>::Failure;
/// What the whole operation gives: the read value, or why there is none.
pub(crate) type OutcomeOf<F, R> = Result<<R as Reading<F>>::Value, Error<FailureOf<F>>>;
pub(crate) type Classify<E> = Box<dyn FnMut(&E) -> RetryDecision + Send>;
pub(crate) type Notify<E> = Box<dyn FnMut(&E, Duration) + Send>;

/// Where the schedule stands.
enum Phase<F: AttemptFn, R: Reading<F>> {
    /// An attempt is in flight; it is cancelled (dropped) if it runs past `timeout_at`.
    Attempt {
        attempt: AttemptOf<F>,
        timeout_at: Option<Instant>,
    },
    /// The first attempt's outcome, there as soon as it was made and read at the first step
    /// (after [`Retry::when`](super::Retry::when) had its chance to set the classifier).
    Arrived(Result<Progress<R::Value>, Error<FailureOf<F>>>),
    /// Waiting for the next attempt.
    Sleeping { until: Instant },
    /// The outcome, until a wait takes it.
    Finished(Option<OutcomeOf<F, R>>),
}

/// The schedule of attempts, shared by retrying and polling.
pub(crate) struct Schedule<F: AttemptFn, R: Reading<F>> {
    policy: RetryPolicy,
    make: F,
    classify: Classify<FailureOf<F>>,
    notify: Option<Notify<FailureOf<F>>>,
    /// Attempts started (the closure's argument), probes that said `Pending` included.
    /// Saturates at `u32::MAX`: a poll may outlive any counter, and must not panic or wrap.
    started: u32,
    /// Failed attempts: these use up `max_attempts`. A poll counts them in a row: an answer
    /// from the server (`Pending`, `PendingFor`) starts the count again.
    failures: u32,
    /// Backoffs slept after failures: the index into the policy's schedule. A poll's answer
    /// resets it too.
    backoffs: u32,
    /// `Pending` answers in a row: the index into the schedule for the sleep after the next one.
    waits: u32,
    deadline: Option<Instant>,
    last_error: Option<FailureOf<F>>,
    phase: Phase<F, R>,
}

/// What a step ended on.
enum Step {
    Ready,
    /// Run again when woken, or at this instant at the latest.
    Pending(Option<Instant>),
    /// An attempt is due, but this poll already started [`RESTARTS_PER_POLL`] of them without
    /// waiting: give the thread (or the executor) back before the next.
    Yield,
}

/// How many attempts one poll of the schedule starts without a wait in between. Attempts that are done at once
/// under a zero delay (`PendingFor(ZERO)`, a zero backoff) would otherwise keep a step going
/// for ever: a blocking wait could not see its own timeout and an async one would hold its
/// executor thread.
const RESTARTS_PER_POLL: u32 = 32;

/// A retry's state: most first attempts succeed at once, and then there is nothing to schedule,
/// only a value to hand out.
pub(crate) enum Run<F: AttemptFn, R: Reading<F>> {
    /// The first attempt was done with a value when the retry was made.
    Done(Option<R::Value>),
    Machine(Box<Machine<F, R>>),
}

/// The schedule, and the timer its async waits sleep on.
pub(crate) struct Machine<F: AttemptFn, R: Reading<F>> {
    schedule: Schedule<F, R>,
    alarm: Alarm,
}

impl<F: AttemptFn, R: Reading<F>> Run<F, R> {
    /// Starts the first attempt at once. An attempt that is already done with a value needs no
    /// schedule, so nothing is allocated for it and no clock is read (unless the policy has a
    /// deadline or an attempt timeout, which count from before the first attempt starts).
    #[inline]
    pub(crate) fn start(policy: RetryPolicy, mut make: F) -> Self {
        let now =
            (policy.deadline().is_some() || policy.attempt_timeout().is_some()).then(Instant::now);
        let phase = match guarded(|| make.attempt(1)) {
            Ok(mut attempt) => match attempt.try_result() {
                Some(outcome) => match outcome.map(R::read) {
                    Ok(Progress::Ready(value)) => return Run::Done(Some(value)),
                    outcome => Phase::Arrived(outcome),
                },
                None => Phase::Attempt {
                    attempt,
                    timeout_at: policy
                        .attempt_timeout()
                        .and_then(|limit| now?.checked_add(limit)),
                },
            },
            Err(panicked) => Phase::Finished(Some(Err(panicked))),
        };
        let deadline = policy
            .deadline()
            .and_then(|budget| now?.checked_add(budget));
        Run::Machine(Box::new(Machine {
            schedule: Schedule {
                policy,
                make,
                classify: Box::new(|_| RetryDecision::Retry),
                notify: None,
                started: 1,
                failures: 0,
                backoffs: 0,
                waits: 0,
                deadline,
                last_error: None,
                phase,
            },
            alarm: Alarm::Timer(LazyTimer::default()),
        }))
    }

    pub(crate) fn set_classify(&mut self, classify: Classify<FailureOf<F>>) {
        if let Run::Machine(machine) = self {
            machine.schedule.classify = classify;
        }
    }

    pub(crate) fn set_notify(&mut self, notify: Notify<FailureOf<F>>) {
        if let Run::Machine(machine) = self {
            machine.schedule.notify = Some(notify);
        }
    }

    /// Attempts started so far.
    pub(crate) fn attempts(&self) -> u32 {
        match self {
            Run::Done(_) => 1,
            Run::Machine(machine) => machine.schedule.started,
        }
    }

    /// Drops the attempt in flight (which cancels it) and ends with `Cancelled`; false if the
    /// retry had already finished.
    pub(crate) fn cancel(&mut self) -> bool {
        let Run::Machine(machine) = self else {
            return false;
        };
        let schedule = &mut machine.schedule;
        match schedule.phase {
            Phase::Finished(Some(Err(Error::Cancelled))) => true,
            Phase::Finished(_) => false,
            _ => {
                machine.alarm.clear();
                schedule.finish(Err(Error::Cancelled));
                true
            }
        }
    }

    /// The async driver: the schedule sleeps on the machine's async-io timer.
    #[inline]
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Run::Done(_) => Poll::Ready(()),
            Run::Machine(machine) => machine.schedule.poll(cx, &mut machine.alarm),
        }
    }

    /// The blocking driver: the schedule sleeps by parking the calling thread, never past the
    /// wait's own `limit`.
    pub(crate) fn block(&mut self, limit: Limit) -> OutcomeOf<F, R> {
        if let Run::Machine(machine) = self {
            let schedule = &mut machine.schedule;
            let waited = timeout::block_on(limit, |cx, alarm| schedule.poll(cx, alarm));
            return waited
                .map_ready(|()| schedule.try_take().unwrap_or(Err(Error::Consumed)))
                .outcome(|| schedule.try_take());
        }
        self.try_take().unwrap_or(Err(Error::Consumed))
    }

    /// Takes the outcome if the retry finished: a value, `Failed` or `Panicked` once (then
    /// `Consumed`); `Cancelled`, `Abandoned` and `DeadlineExceeded` every time.
    #[inline(always)]
    pub(crate) fn try_take(&mut self) -> Option<OutcomeOf<F, R>> {
        match self {
            Run::Done(slot) => Some(slot.take().ok_or(Error::Consumed)),
            Run::Machine(machine) => machine.schedule.try_take(),
        }
    }

    /// Whether the retry has its outcome, after one step with a waker that wakes nobody and no
    /// timer armed.
    pub(crate) fn done(&mut self) -> bool {
        let Run::Machine(machine) = self else {
            return true;
        };
        let mut restarts = 0;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        matches!(machine.schedule.step(&mut cx, &mut restarts), Step::Ready)
    }

    /// Whether the retry finished with a failure; `None` while it runs.
    pub(crate) fn peek_failed(&self) -> Option<bool> {
        match self {
            Run::Done(_) => Some(false),
            Run::Machine(machine) => match &machine.schedule.phase {
                Phase::Finished(Some(outcome)) => Some(is_failure(outcome)),
                Phase::Finished(None) => Some(false),
                _ => None,
            },
        }
    }
}

impl<F: AttemptFn, R: Reading<F>> Schedule<F, R> {
    /// Starts attempt number `started + 1`; a panicking closure ends the schedule.
    fn start_attempt(&mut self, now: Option<Instant>) {
        self.started = self.started.saturating_add(1);
        let number = self.started;
        match guarded(|| self.make.attempt(number)) {
            Ok(attempt) => {
                let timeout_at = self
                    .policy
                    .attempt_timeout()
                    .and_then(|limit| now.unwrap_or_else(Instant::now).checked_add(limit));
                self.phase = Phase::Attempt {
                    attempt,
                    timeout_at,
                };
            }
            Err(panicked) => self.finish(Err(panicked)),
        }
    }

    fn finish(&mut self, outcome: OutcomeOf<F, R>) {
        self.phase = Phase::Finished(Some(outcome));
    }

    /// Ends with the last operation error if there was one, else `DeadlineExceeded`.
    fn give_up(&mut self) {
        let outcome = match self.last_error.take() {
            Some(error) => Err(Error::Failed(error)),
            None => Err(Error::DeadlineExceeded),
        };
        self.finish(outcome);
    }

    /// When a sleep of `delay` from now would end, or `None` if it may not be taken: it would
    /// reach the deadline, or (with no deadline) lie past what `Instant` can represent, so
    /// that no attempt would ever follow it.
    fn sleep_until(&self, delay: Duration) -> Option<Instant> {
        let until = Instant::now().checked_add(delay)?;
        match self.deadline {
            Some(deadline) if until >= deadline => None,
            // `RetryAfter(ZERO)` and `PendingFor(ZERO)` (a long-polling server) are due at
            // once: the step starts them, within its budget.
            _ => Some(until),
        }
    }

    /// A failed attempt: count it, and retry after `delay` if both the attempt budget and the
    /// deadline allow it; give up otherwise. The error, if there is one to show (`announce`),
    /// is in `last_error`: `notify` is told of it only once the sleep is certain to be taken.
    fn retry_after(&mut self, delay: Duration, announce: bool) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.policy.max_attempts() {
            return self.give_up();
        }
        let Some(until) = self.sleep_until(delay) else {
            return self.give_up();
        };
        if announce {
            if let (Some(notify), Some(error)) = (self.notify.as_mut(), self.last_error.as_ref()) {
                if let Err(panicked) = guarded(|| notify(error, delay)) {
                    return self.finish(Err(panicked));
                }
            }
        }
        self.phase = Phase::Sleeping { until };
    }

    /// An answer of "not yet": sleep `delay` unless the deadline (or `Instant`) refuses it.
    fn pending_for(&mut self, delay: Duration) {
        match self.sleep_until(delay) {
            Some(until) => self.phase = Phase::Sleeping { until },
            // Nothing failed since the server last answered: the deadline is why it ends.
            None => self.finish(Err(Error::DeadlineExceeded)),
        }
    }

    fn next_backoff(&mut self) -> Duration {
        let delay = self.policy.delay(self.backoffs);
        self.backoffs = self.backoffs.saturating_add(1);
        delay
    }

    /// Reads a finished attempt's outcome and moves the schedule on.
    fn read(&mut self, outcome: Result<Progress<R::Value>, Error<FailureOf<F>>>) {
        match outcome {
            Ok(Progress::Ready(value)) => self.finish(Ok(value)),
            Ok(Progress::Pending) => {
                self.answered();
                let delay = self.policy.delay(self.waits);
                self.waits = self.waits.saturating_add(1);
                self.pending_for(delay);
            }
            Ok(Progress::PendingFor(delay)) => {
                self.answered();
                self.waits = 0;
                self.pending_for(delay);
            }
            Err(error) => {
                // Only answers make a run of `Pending`s.
                self.waits = 0;
                self.failed(error);
            }
        }
    }

    /// The server answered "not yet": it is alive, so a poll's failures start counting again,
    /// and an error seen before this answer is no longer why the poll might end.
    fn answered(&mut self) {
        self.failures = 0;
        self.backoffs = 0;
        self.last_error = None;
    }

    /// A zero attempt timeout cancels every probe not done at once: re-sent at once, it would
    /// be a hot loop of requests, so a poll counts those timeouts as failures, as a retry does.
    fn held_forever(&self) -> bool {
        self.policy
            .attempt_timeout()
            .is_some_and(|limit| limit.is_zero())
    }

    /// Reads a failed attempt's error.
    fn failed(&mut self, error: Error<FailureOf<F>>) {
        match error {
            Error::Failed(error) => match guarded(|| (self.classify)(&error)) {
                Err(panicked) => self.finish(Err(panicked)),
                Ok(RetryDecision::Stop) => self.finish(Err(Error::Failed(error))),
                Ok(RetryDecision::Retry) => {
                    self.last_error = Some(error);
                    let delay = self.next_backoff();
                    self.retry_after(delay, true);
                }
                Ok(RetryDecision::RetryAfter(delay)) => {
                    self.last_error = Some(error);
                    self.retry_after(delay, true);
                }
            },
            // Transient, with no error to show: the attempt's producer went away, or its own
            // budget ran out.
            Error::Abandoned
            | Error::DeadlineExceeded
            | Error::Timeout
            | Error::WouldBlockExecutor => {
                let delay = self.next_backoff();
                self.retry_after(delay, false);
            }
            error @ (Error::Panicked(_) | Error::Cancelled | Error::Consumed) => {
                self.finish(Err(error))
            }
        }
    }

    /// Advances as far as possible without waiting; `restarts` counts the attempts started in
    /// this poll, up to [`RESTARTS_PER_POLL`].
    fn step(&mut self, cx: &mut Context<'_>, restarts: &mut u32) -> Step {
        loop {
            match &mut self.phase {
                Phase::Finished(_) => return Step::Ready,
                Phase::Attempt {
                    attempt,
                    timeout_at,
                } => {
                    // An outcome already available wins over any deadline.
                    if attempt.poll_ready(cx).is_ready() {
                        let outcome = attempt.try_result().unwrap_or(Err(Error::Consumed));
                        self.read(outcome.map(R::read));
                        continue;
                    }
                    let timeout_at = *timeout_at;
                    let Some(wake_at) = earliest(timeout_at, self.deadline) else {
                        return Step::Pending(None);
                    };
                    if Instant::now() < wake_at {
                        return Step::Pending(Some(wake_at));
                    }
                    if self.deadline.is_some_and(|deadline| deadline <= wake_at) {
                        self.give_up();
                    } else if R::POLLING && !self.held_forever() {
                        // A long poll that is still held is "no answer yet", not a failure:
                        // the probe is dropped (cancelled) and sent again at once, using no
                        // attempt and leaving the failure count as it is.
                        self.phase = Phase::Sleeping { until: wake_at };
                    } else {
                        // The attempt timed out: dropping it cancels it; it counts as a failure.
                        let delay = self.next_backoff();
                        self.retry_after(delay, false);
                    }
                }
                Phase::Arrived(_) => {
                    if let Phase::Arrived(outcome) =
                        std::mem::replace(&mut self.phase, Phase::Finished(None))
                    {
                        self.read(outcome);
                    }
                }
                Phase::Sleeping { until } => {
                    let until = *until;
                    let now = Instant::now();
                    if now < until {
                        return Step::Pending(Some(until));
                    }
                    if *restarts == RESTARTS_PER_POLL {
                        return Step::Yield;
                    }
                    *restarts += 1;
                    self.start_attempt(Some(now));
                }
            }
        }
    }

    /// Steps, and sleeps through `alarm` when the schedule must wait for an instant.
    fn poll(&mut self, cx: &mut Context<'_>, alarm: &mut Alarm) -> Poll<()> {
        // Across steps: an alarm that has already fired leads straight into the next one.
        let mut restarts = 0;
        loop {
            match self.step(cx, &mut restarts) {
                Step::Ready => {
                    alarm.clear();
                    return Poll::Ready(());
                }
                Step::Pending(None) => {
                    alarm.clear();
                    return Poll::Pending;
                }
                Step::Yield => {
                    // Polled again at once, after whatever else the thread or executor has to
                    // do; a blocking wait looks at its own timeout first.
                    alarm.clear();
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Step::Pending(Some(at)) => {
                    if alarm.poll_at(at, cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    fn try_take(&mut self) -> Option<OutcomeOf<F, R>> {
        let Phase::Finished(slot) = &mut self.phase else {
            return None;
        };
        Some(hand_out(slot))
    }
}

impl<F: AttemptFn, R: Reading<F>> Run<F, R> {
    /// `Debug` of the [`Retry`](super::Retry) or [`Polling`](super::Polling) named `name`.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (policy, attempts, phase) = match self {
            Run::Done(slot) => (None, 1, if slot.is_some() { "ready" } else { "taken" }),
            Run::Machine(machine) => {
                let schedule = &machine.schedule;
                let phase = match &schedule.phase {
                    Phase::Attempt { .. } => "attempt in flight",
                    Phase::Arrived(_) => "attempt done",
                    Phase::Sleeping { .. } => "sleeping",
                    Phase::Finished(Some(_)) => "ready",
                    Phase::Finished(None) => "taken",
                };
                (Some(&schedule.policy), schedule.started, phase)
            }
        };
        f.debug_struct(name)
            .field("policy", &policy)
            .field("attempts", &attempts)
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AwaitableConcurrentFuture, ready};

    #[test]
    fn the_probe_counter_saturates_instead_of_overflowing() {
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let last = std::sync::Arc::clone(&seen);
        let probe = move |n: u32| -> AwaitableConcurrentFuture<Progress<u8>, &'static str> {
            last.store(n, std::sync::atomic::Ordering::SeqCst);
            ready(Progress::PendingFor(Duration::ZERO))
        };
        let mut run = Run::<_, Probes>::start(RetryPolicy::new(), probe);
        let Run::Machine(machine) = &mut run else {
            panic!("a pending probe needs the schedule")
        };
        // Four billion probes later: the next steps start more than the two left.
        machine.schedule.started = u32::MAX - 2;
        assert_eq!(
            run.block(Limit::After(Duration::from_millis(20))),
            Err(Error::Timeout)
        );
        assert_eq!(run.attempts(), u32::MAX);
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), u32::MAX);
    }
}
