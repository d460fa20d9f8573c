//! The state machine behind [`Retry`](super::Retry) and [`Polling`](super::Polling):
//! [`Schedule::step`] advances as far as it can without waiting, then says what comes next
//! ([`Next`]). Each driver in `mod.rs` sleeps on that its own way: an async wait on an
//! `async-io` timer, a blocking wait by parking its thread.

use std::task::Context;
use std::time::{Duration, Instant};

use super::attempt::{AttemptFn, AttemptOf, FailureOf, Progress, Read, RetryDecision};
use super::policy::RetryPolicy;
use crate::api_future::ApiFuture;
use crate::error::{Error, Held, Outcome};
use crate::panic::{drop_caught, guarded};
use crate::timeout::{Wait, earliest};

pub(crate) type Classify<E> = Box<dyn FnMut(&E) -> RetryDecision + Send>;
pub(crate) type Notify<E> = Box<dyn FnMut(&E, Duration) + Send>;

enum Phase<F: AttemptFn, V> {
    /// An attempt is in flight; it is cancelled (dropped) if it runs past `timeout_at`.
    Attempt {
        attempt: AttemptOf<F>,
        timeout_at: Option<Instant>,
    },
    /// The first attempt's outcome, there as soon as it was made and read at the first step
    /// (after [`Retry::when`](super::Retry::when) had its chance to set the classifier).
    Arrived(Result<Progress<V>, Error<FailureOf<F>>>),
    /// Waiting for the next attempt.
    Sleeping { until: Instant },
    /// The outcome, until a wait takes it.
    Finished(Held<V, FailureOf<F>>),
}

pub(crate) struct Schedule<F: AttemptFn, V> {
    policy: RetryPolicy,
    /// Makes the attempts. It and the other closures are dropped when the schedule ends,
    /// releasing what they hold (a sequence's open turn, a channel's sender) even while the
    /// retry's future is kept.
    make: Option<F>,
    read: Read<F, V>,
    /// A poll (attempts report [`Progress`]): it counts failures in a row and re-sends a probe
    /// that runs past the attempt timeout. A retry's every value ends it.
    polling: bool,
    pub(super) classify: Classify<FailureOf<F>>,
    pub(super) notify: Option<Notify<FailureOf<F>>>,
    /// Attempts started (the closure's argument), probes that said `Pending` included.
    /// Saturates at `u32::MAX`: a poll may outlive any counter, and must not panic or wrap.
    pub(super) started: u32,
    /// Failed attempts: these use up `max_attempts`. A poll counts them in a row: an answer
    /// from the server (`Pending`, `PendingFor`) starts the count again.
    failures: u32,
    /// Backoffs slept after failures, the index into the policy's schedule; an answer resets it.
    backoffs: u32,
    /// `Pending` answers in a row: the index into the schedule for the sleep after the next one.
    waits: u32,
    deadline: Option<Instant>,
    last_error: Option<FailureOf<F>>,
    phase: Phase<F, V>,
}

/// What a step ended on: what the driver does next.
pub(crate) enum Next {
    /// The outcome is there.
    Ready,
    /// Run again when woken, or at this instant at the latest (a backoff that ends, an attempt
    /// that times out, the deadline).
    At(Option<Instant>),
    /// An attempt is due, but this step already started [`RESTARTS_PER_STEP`] of them without
    /// waiting: give the thread (or the executor) back before the next.
    Yield,
}

/// How many attempts one step starts without a wait in between. Attempts done at once under a
/// zero delay (`PendingFor(ZERO)`, a zero backoff) would otherwise keep a step going for ever: a
/// blocking wait could not see its own timeout, an async one would hold its executor thread.
const RESTARTS_PER_STEP: u32 = 32;

/// What a blocking driver does next: a yield runs again at once, after a look at its deadline.
impl From<Next> for Wait<()> {
    #[inline]
    fn from(next: Next) -> Self {
        match next {
            Next::Ready => Wait::Ready(()),
            Next::At(at) => Wait::Until(at),
            Next::Yield => Wait::Until(Some(Instant::now())),
        }
    }
}

impl<F: AttemptFn, V> Schedule<F, V> {
    /// Starts the first attempt at once. One that is already done with a value needs no
    /// schedule: it comes back as `Ok`, nothing allocated and no clock read (unless the policy
    /// has a deadline or an attempt timeout, which count from before the first attempt starts).
    #[inline]
    #[expect(
        clippy::result_large_err,
        reason = "inlined into its one caller, which boxes the schedule"
    )]
    pub(crate) fn begin(
        policy: RetryPolicy,
        mut make: F,
        read: Read<F, V>,
        polling: bool,
    ) -> Result<V, Self> {
        let now =
            (policy.deadline().is_some() || policy.attempt_timeout().is_some()).then(Instant::now);
        let phase = match guarded(|| make.attempt(1)) {
            Ok(mut attempt) => match attempt.try_result() {
                Some(outcome) => match outcome.map(read) {
                    Ok(Progress::Ready(value)) => return Ok(value),
                    outcome => Phase::Arrived(outcome),
                },
                None => Phase::Attempt {
                    attempt,
                    timeout_at: policy
                        .attempt_timeout()
                        .and_then(|limit| now?.checked_add(limit)),
                },
            },
            Err(panicked) => Phase::Finished(Held::new(Err(panicked))),
        };
        let deadline = policy
            .deadline()
            .and_then(|budget| now?.checked_add(budget));
        // A first attempt that ends the schedule (its closure panicked) leaves no use for it.
        let make = (!matches!(phase, Phase::Finished(_))).then_some(make);
        Err(Schedule {
            policy,
            make,
            read,
            polling,
            classify: Box::new(|_| RetryDecision::Retry),
            notify: None,
            started: 1,
            failures: 0,
            backoffs: 0,
            waits: 0,
            deadline,
            last_error: None,
            phase,
        })
    }

    /// Drops the attempt in flight (which cancels it) and ends with `Cancelled`; false if the
    /// schedule had already finished, or an outcome already there finishes it.
    pub(crate) fn cancel(&mut self) -> bool {
        // An outcome already there is read first, as a wait would read it: a retry it ends had
        // finished. No attempt starts, and nobody is told of a sleep the cancel then ends.
        if let Phase::Attempt { attempt, .. } = &mut self.phase {
            if let Some(outcome) = attempt.try_result() {
                self.enter(Phase::Arrived(outcome.map(self.read)));
            }
        }
        if matches!(self.phase, Phase::Arrived(_)) {
            // The schedule ends below either way: nobody is told any more.
            drop_caught(self.notify.take());
            self.read_arrived();
        }
        match &self.phase {
            Phase::Finished(held) => matches!(held.peek(), Some(Err(Error::Cancelled))),
            _ => {
                self.end(Err(Error::Cancelled));
                true
            }
        }
    }

    /// Whether the schedule finished with a failure; `None` while it runs.
    pub(crate) fn peek_failed(&self) -> Option<bool> {
        match &self.phase {
            Phase::Finished(held) => Some(held.is_failure()),
            _ => None,
        }
    }

    /// Where it stands, in a few words (for `Debug`).
    pub(crate) fn describe(&self) -> (&RetryPolicy, u32, &'static str) {
        let phase = match &self.phase {
            Phase::Attempt { .. } => "attempt in flight",
            Phase::Arrived(_) => "attempt done",
            Phase::Sleeping { .. } => "sleeping",
            Phase::Finished(held) => held.state(),
        };
        (&self.policy, self.started, phase)
    }
    /// Starts attempt number `started + 1`; a panicking closure ends the schedule.
    fn start_attempt(&mut self, now: Instant) {
        self.started = self.started.saturating_add(1);
        let number = self.started;
        let Some(make) = &mut self.make else {
            // Only an ended schedule has no closure, and it sleeps no more.
            return self.end(Err(Error::Consumed));
        };
        match guarded(|| make.attempt(number)) {
            Ok(attempt) => {
                let timeout_at = self
                    .policy
                    .attempt_timeout()
                    .and_then(|limit| now.checked_add(limit));
                self.enter(Phase::Attempt {
                    attempt,
                    timeout_at,
                });
            }
            Err(panicked) => self.end(Err(panicked)),
        }
    }

    /// Moves to `phase`. What it replaces (an attempt in flight, a probe held) is user code whose
    /// `Drop` may panic: it is dropped under a catch, so the waiter driving the schedule neither
    /// unwinds nor loses the outcome.
    fn enter(&mut self, phase: Phase<F, V>) {
        drop_caught(std::mem::replace(&mut self.phase, phase));
    }

    fn end(&mut self, outcome: Outcome<V, FailureOf<F>>) {
        self.enter(Phase::Finished(Held::new(outcome)));
        self.let_go();
    }

    /// Whether the schedule has ended: its outcome is there, or was taken.
    pub(crate) fn ended(&self) -> bool {
        matches!(self.phase, Phase::Finished(_))
    }

    /// Drops what only a running schedule needs: its closures, releasing what they hold, and
    /// the error a later one would have replaced. One at a time: a second panicking drop within
    /// one catch would abort.
    pub(crate) fn let_go(&mut self) {
        drop_caught(self.make.take());
        drop_caught(std::mem::replace(
            &mut self.classify,
            Box::new(|_| RetryDecision::Retry),
        ));
        drop_caught(self.notify.take());
        drop_caught(self.last_error.take());
    }

    /// Ends with the last operation error if there was one, else `DeadlineExceeded`.
    fn give_up(&mut self) {
        let outcome = match self.last_error.take() {
            Some(error) => Err(Error::Failed(error)),
            None => Err(Error::DeadlineExceeded),
        };
        self.end(outcome);
    }

    /// When a sleep of `delay` from now would end; `None` if it would reach the deadline or lie
    /// past what `Instant` can represent (no attempt would ever follow it).
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
                    return self.end(Err(panicked));
                }
            }
        }
        self.enter(Phase::Sleeping { until });
    }

    /// An answer of "not yet": sleep `delay` unless the deadline (or `Instant`) refuses it.
    fn pending_for(&mut self, delay: Duration) {
        match self.sleep_until(delay) {
            Some(until) => self.enter(Phase::Sleeping { until }),
            // Nothing failed since the server last answered: the deadline is why it ends.
            None => self.end(Err(Error::DeadlineExceeded)),
        }
    }

    fn next_backoff(&mut self) -> Duration {
        let delay = self.policy.delay(self.backoffs);
        self.backoffs = self.backoffs.saturating_add(1);
        delay
    }

    /// Reads a finished attempt's outcome and moves the schedule on.
    fn on_outcome(&mut self, outcome: Result<Progress<V>, Error<FailureOf<F>>>) {
        match outcome {
            Ok(Progress::Ready(value)) => self.end(Ok(value)),
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

    /// Moves on from [`Phase::Arrived`] (any other phase stays as it is).
    fn read_arrived(&mut self) {
        let taken = Phase::Finished(Held::new(Err(Error::Consumed)));
        match std::mem::replace(&mut self.phase, taken) {
            Phase::Arrived(outcome) => self.on_outcome(outcome),
            other => self.phase = other,
        }
    }

    /// The server answered "not yet": it is alive, so a poll's failures start counting again,
    /// and an error seen before this answer is no longer why the poll might end.
    fn answered(&mut self) {
        self.failures = 0;
        self.backoffs = 0;
        drop_caught(self.last_error.take());
    }

    /// A zero attempt timeout cancels every probe not done at once: re-sent at once, it would
    /// be a hot loop of requests, so a poll counts those timeouts as failures, as a retry does.
    fn held_forever(&self) -> bool {
        self.policy
            .attempt_timeout()
            .is_some_and(|limit| limit.is_zero())
    }

    fn failed(&mut self, error: Error<FailureOf<F>>) {
        match error {
            Error::Failed(error) => match guarded(|| (self.classify)(&error)) {
                Err(panicked) => self.end(Err(panicked)),
                Ok(RetryDecision::Stop) => self.end(Err(Error::Failed(error))),
                Ok(RetryDecision::Retry) => {
                    drop_caught(self.last_error.replace(error));
                    let delay = self.next_backoff();
                    self.retry_after(delay, true);
                }
                Ok(RetryDecision::RetryAfter(delay)) => {
                    drop_caught(self.last_error.replace(error));
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
                self.end(Err(error))
            }
        }
    }

    /// Advances as far as possible without waiting, starting at most [`RESTARTS_PER_STEP`]
    /// attempts, and says what comes next. `cx` is registered with the attempt in flight.
    pub(crate) fn step(&mut self, cx: &mut Context<'_>) -> Next {
        let mut restarts = 0;
        loop {
            match &mut self.phase {
                Phase::Finished(_) => return Next::Ready,
                Phase::Attempt {
                    attempt,
                    timeout_at,
                } => {
                    // An outcome already available wins over any deadline.
                    if attempt.poll_ready(cx).is_ready() {
                        let outcome = attempt.try_result().unwrap_or(Err(Error::Consumed));
                        let read = self.read;
                        self.on_outcome(outcome.map(read));
                        continue;
                    }
                    let timeout_at = *timeout_at;
                    let Some(wake_at) = earliest(timeout_at, self.deadline) else {
                        return Next::At(None);
                    };
                    if Instant::now() < wake_at {
                        return Next::At(Some(wake_at));
                    }
                    if self.deadline.is_some_and(|deadline| deadline <= wake_at) {
                        self.give_up();
                    } else if self.polling && !self.held_forever() {
                        // A long poll still held is the server's "not yet", with no delay: the
                        // probe is dropped (cancelled) and re-sent at once.
                        self.on_outcome(Ok(Progress::PendingFor(Duration::ZERO)));
                    } else {
                        // The attempt timed out: dropping it cancels it; it counts as a failure.
                        self.failed(Error::Timeout);
                    }
                }
                Phase::Arrived(_) => self.read_arrived(),
                Phase::Sleeping { until } => {
                    let until = *until;
                    let now = Instant::now();
                    if now < until {
                        return Next::At(Some(until));
                    }
                    // Waited on again only after the deadline: it ends as it would have there.
                    if self.deadline.is_some_and(|deadline| now >= deadline) {
                        self.give_up();
                        continue;
                    }
                    if restarts == RESTARTS_PER_STEP {
                        return Next::Yield;
                    }
                    restarts += 1;
                    self.start_attempt(now);
                }
            }
        }
    }

    /// Takes the outcome if the schedule finished: a value, `Failed` or `Panicked` once (then
    /// `Consumed`); `Cancelled`, `Abandoned` and `DeadlineExceeded` every time.
    pub(crate) fn try_take(&mut self) -> Option<Outcome<V, FailureOf<F>>> {
        match &mut self.phase {
            Phase::Finished(held) => Some(held.hand_out()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeout::{Deadline, Waited, block_on};
    use crate::{AwaitableConcurrentFuture, ready};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn the_probe_counter_saturates_instead_of_overflowing() {
        let seen = Arc::new(AtomicU32::new(0));
        let last = Arc::clone(&seen);
        let probe = move |n: u32| -> AwaitableConcurrentFuture<Progress<u8>, &'static str> {
            last.store(n, Ordering::SeqCst);
            ready(Progress::PendingFor(Duration::ZERO))
        };
        let Err(mut schedule) = Schedule::begin(RetryPolicy::new(), probe, |p| p, true) else {
            panic!("a pending probe needs the schedule")
        };
        // Four billion probes later: the next steps start more than the two left.
        schedule.started = u32::MAX - 2;
        let waited = block_on(Deadline::After(Duration::from_millis(20)), |cx| {
            schedule.step(cx).into()
        });
        assert!(matches!(waited, Waited::TimedOut));
        assert_eq!(schedule.started, u32::MAX);
        assert_eq!(seen.load(Ordering::SeqCst), u32::MAX);
    }
}
