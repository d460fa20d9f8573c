//! The only place that sleeps. A [`Deadline`] reads the clock only once a wait finds nothing
//! there. A blocking wait parks in [`block_on`]; an async wait sleeps on one lazily armed
//! [`async_io::Timer`]: [`AsyncDeadline`] for a wait's fixed deadline, [`Sleep`] for an instant
//! that moves (a retry's backoff). Callers hand in a poll function, which may name an instant to
//! run again at.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use async_io::Timer;

use crate::error::Error;

/// When a wait gives up.
#[derive(Debug, Clone, Copy)]
pub enum Deadline {
    Never,
    /// Counted from the wait's start, after its clock-free look for an outcome. `ZERO`: only look.
    After(Duration),
    At(Instant),
}

impl Deadline {
    /// A wait's `Into<Option<Duration>>` timeout: `None` waits indefinitely.
    #[inline]
    pub(crate) fn from_timeout(timeout: Option<Duration>) -> Self {
        timeout.map_or(Deadline::Never, Deadline::After)
    }

    /// The same deadline, counted from now for a timeout (`ZERO` stays a look).
    pub(crate) fn from_now(timeout: Option<Duration>) -> Self {
        let mut deadline = Deadline::from_timeout(timeout);
        if !deadline.looks_only() {
            deadline.start();
        }
        deadline
    }

    /// Whether the wait only looks at what is there (`Duration::ZERO`).
    #[inline]
    pub(crate) fn looks_only(&self) -> bool {
        matches!(self, Deadline::After(timeout) if timeout.is_zero())
    }

    /// The instant the wait gives up at, `None` for never: the clock is read here, once, for a
    /// timeout (one too long for `Instant` is never). A look gives up at once.
    #[inline]
    pub(crate) fn start(&mut self) -> Option<Instant> {
        match *self {
            Deadline::Never => None,
            Deadline::At(at) => Some(at),
            Deadline::After(timeout) => {
                *self = Instant::now()
                    .checked_add(timeout)
                    .map_or(Deadline::Never, Deadline::At);
                self.start()
            }
        }
    }
}

/// An async wait's [`Deadline`] in the room of one timer: the deadline until the wait first finds
/// nothing, then the timer armed for it, which holds the instant. A fixed instant needs no copy
/// of its own beside the timer (as [`Sleep`]'s moving one does), so a pending timed `.await`
/// costs no more than the timer (`benches/scale.rs` holds a million).
pub(crate) enum AsyncDeadline {
    Unarmed(Deadline),
    Armed(Timer),
}

/// The deadline until it is armed, then `Armed` (not the timer's reactor id and waker).
impl fmt::Debug for AsyncDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsyncDeadline::Unarmed(deadline) => deadline.fmt(f),
            AsyncDeadline::Armed(_) => f.write_str("Armed"),
        }
    }
}

impl AsyncDeadline {
    /// Starts the clock of a timeout (see [`Deadline::start`]); a look stays a look.
    #[inline]
    pub(crate) fn start(&mut self) {
        if let AsyncDeadline::Unarmed(deadline) = self {
            if !deadline.looks_only() {
                deadline.start();
            }
        }
    }

    /// Whether the wait's time is up; if not, `cx` is woken when it is.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let AsyncDeadline::Unarmed(deadline) = self {
            if deadline.looks_only() {
                return Poll::Ready(());
            }
            let Some(at) = deadline.start() else {
                return Poll::Pending;
            };
            *self = AsyncDeadline::Armed(Timer::at(at));
        }
        match self {
            AsyncDeadline::Armed(timer) => {
                if Pin::new(timer).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // A timer that fired never fires again: a wait polled after its time was up
                // (it returned `Timeout`, or its poll was cut short) only looks.
                *self = AsyncDeadline::Unarmed(Deadline::After(Duration::ZERO));
                Poll::Ready(())
            }
            AsyncDeadline::Unarmed(_) => Poll::Pending,
        }
    }
}

/// One async-io timer, made when first needed and moved (not remade) when the instant changes.
#[derive(Debug, Default)]
pub(crate) struct Sleep {
    armed: Option<(Instant, Timer)>,
}

impl Sleep {
    /// Ready once `at` has passed; otherwise registers `cx` with a timer set for `at`.
    pub(crate) fn poll_until(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let (armed_for, timer) = self.armed.get_or_insert_with(|| (at, Timer::at(at)));
        if *armed_for != at {
            // Moving a timer is a trip to the reactor: only when the instant changed.
            timer.set_at(at);
            *armed_for = at;
        }
        Pin::new(timer).poll(cx).map(drop)
    }

    /// Drops the timer (a sleep that was cut short).
    pub(crate) fn clear(&mut self) {
        self.armed = None;
    }
}

/// What a blocking wait's poll says: done, or run again when woken or at the instant.
pub(crate) enum Wait<R> {
    Ready(R),
    Until(Option<Instant>),
}

impl<R> From<Poll<R>> for Wait<R> {
    #[inline]
    fn from(polled: Poll<R>) -> Self {
        match polled {
            Poll::Ready(value) => Wait::Ready(value),
            Poll::Pending => Wait::Until(None),
        }
    }
}

/// How a blocking wait ended.
#[derive(Debug)]
pub(crate) enum Waited<R> {
    Ready(R),
    TimedOut,
    /// It would have had to park on the background executor's thread: it did not.
    Refused,
}

impl<R> Waited<R> {
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self, Waited::Ready(_))
    }
}

impl<T, E> Waited<Result<T, Error<E>>> {
    /// A one-future wait's outcome: what it gave, or after a timeout or refusal what `look` finds
    /// now (an outcome that came with the deadline wins), else `Timeout` or `WouldBlockExecutor`.
    pub(crate) fn outcome(
        self,
        look: impl FnOnce() -> Option<Result<T, Error<E>>>,
    ) -> Result<T, Error<E>> {
        match self {
            Waited::Ready(outcome) => outcome,
            Waited::TimedOut => look().unwrap_or(Err(Error::Timeout)),
            Waited::Refused => look().unwrap_or(Err(Error::WouldBlockExecutor)),
        }
    }
}

/// Blocks the calling thread on `poll` until it is ready or `deadline` passes. `poll` gets a
/// context whose waker unparks this thread, and may name an instant to run again at. The thread
/// polls again only when woken, at that instant or the deadline, or on a spurious unpark: never on
/// a timer of its own. The deadline is checked after a poll, never instead of one, so an outcome
/// arriving with it wins. Callers first look, without the clock, for an outcome already there.
pub(crate) fn block_on<R>(
    mut deadline: Deadline,
    mut poll: impl FnMut(&mut Context<'_>) -> Wait<R>,
) -> Waited<R> {
    // `None` for a look.
    let until = (!deadline.looks_only()).then(|| deadline.start());
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    let mut wake_at = match poll(&mut cx) {
        Wait::Ready(value) => return Waited::Ready(value),
        Wait::Until(at) => at,
    };
    // A look, or a deadline already past: that one poll was the whole wait.
    let Some(until) = until else {
        return Waited::TimedOut;
    };
    if until.is_some_and(|until| Instant::now() >= until) {
        return Waited::TimedOut;
    }
    let parked = parked(|| {
        loop {
            match earliest(wake_at, until) {
                None => thread::park(),
                Some(at) => {
                    let now = Instant::now();
                    if until.is_some_and(|until| now >= until) {
                        return Waited::TimedOut;
                    }
                    if now < at {
                        thread::park_timeout(at - now);
                    }
                }
            }
            wake_at = match poll(&mut cx) {
                Wait::Ready(value) => return Waited::Ready(value),
                Wait::Until(at) => at,
            };
        }
    });
    parked.unwrap_or(Waited::Refused)
}

thread_local! {
    static NEVER_PARK: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread (the background executor's) as one where this crate's blocking waits
/// return [`Waited::Refused`] instead of parking.
pub(crate) fn never_park() {
    NEVER_PARK.with(|never| never.set(true));
}

thread_local! {
    /// This thread's [`ParkHook`] and wait depth. Pool workers set a hook so that a worker waiting
    /// on other work does not count against the thread cap (see `run/pool.rs`). Only the outermost
    /// of nested waits (a blocking `map_value` closure or retry attempt) calls it, so a thread is
    /// parked once however deep its waits go.
    static ON_PARK: Cell<(Option<ParkHook>, usize)> = const { Cell::new((None, 0)) };
}

/// Told `true` when a blocking wait parks, `false` when it resumes.
type ParkHook = fn(bool);

pub(crate) fn on_park(hook: Option<ParkHook>) {
    ON_PARK.with(|slot| slot.set((hook, slot.get().1)));
}

/// Runs `wait`, a blocking wait that parks, between the thread's hook calls; `None`, without
/// running it, on the executor's thread. Only waits that found nothing come here, so the ready
/// paths never read the thread-locals.
pub(crate) fn parked<R>(wait: impl FnOnce() -> R) -> Option<R> {
    /// Leaves one level; the outermost calls the hook, when `wait` returns or unwinds.
    struct Resumed(Option<ParkHook>);
    impl Drop for Resumed {
        fn drop(&mut self) {
            let _ = ON_PARK.try_with(|slot| {
                let (hook, depth) = slot.get();
                slot.set((hook, depth.saturating_sub(1)));
            });
            if let Some(hook) = self.0 {
                hook(false);
            }
        }
    }
    if NEVER_PARK.try_with(Cell::get).unwrap_or(false) {
        return None;
    }
    let Ok((Some(hook), depth)) = ON_PARK.try_with(Cell::get) else {
        return Some(wait());
    };
    let _ = ON_PARK.try_with(|slot| slot.set((Some(hook), depth + 1)));
    let outermost = (depth == 0).then_some(hook);
    if let Some(hook) = outermost {
        hook(true);
    }
    let _resumed = Resumed(outermost);
    Some(wait())
}

/// The earlier of two optional instants; `None` only if both are.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    a.into_iter().chain(b).min()
}

/// The waker blocking waits poll with: unparks this thread. Made once per thread, cloned per wait.
fn thread_waker() -> Waker {
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unparker(thread::current())));
    }
    // While the thread's locals are being destroyed there is no cached one: make one.
    WAKER
        .try_with(Waker::clone)
        .unwrap_or_else(|_| Waker::from(Arc::new(Unparker(thread::current()))))
}

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
