//! Time limits, in both modes. A wait's limit is read lazily ([`Limit`]): the clock is read
//! only once a wait finds nothing there. A blocking wait parks the thread in [`block_on`]; an
//! async wait sleeps on one lazily armed [`async_io::Timer`] ([`LazyTimer`]). Nothing here
//! knows what is being waited for: callers hand in a poll function.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use async_io::Timer;

use crate::error::Error;

/// The instant `timeout` from now, or `None` (wait forever) when that is past what `Instant`
/// can represent.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// How long one wait may take.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    Forever,
    /// Counted from when the wait starts, which is after its look for an outcome that is
    /// already there (that look reads no clock). `ZERO`: only what is there.
    After(Duration),
    At(Instant),
}

impl Limit {
    #[inline]
    pub(crate) fn from_timeout(timeout: Option<Duration>) -> Self {
        timeout.map_or(Limit::Forever, Limit::After)
    }

    /// Turns `After` into `At` (the clock is read here, once); `None` if the time is up
    /// already, which `After(ZERO)` is without reading the clock.
    fn start(&mut self) -> Option<Option<Instant>> {
        match *self {
            Limit::Forever => Some(None),
            Limit::After(timeout) if timeout.is_zero() => None,
            Limit::After(timeout) => {
                *self = deadline_after(timeout).map_or(Limit::Forever, Limit::At);
                self.start()
            }
            Limit::At(deadline) => Some(Some(deadline)),
        }
    }
}

/// When a pending poll wants to be polled again even if nothing wakes it: at an instant, on the
/// async-io timer of an async wait or by the parked thread's own timeout in a blocking one. A
/// retry's backoff sleeps through this, so both modes follow one schedule.
#[derive(Debug)]
pub(crate) enum Alarm {
    Timer(LazyTimer),
    /// The earliest instant asked for since the thread last woke.
    Park(Option<Instant>),
}

impl Alarm {
    /// Ready once `at` has passed; otherwise arranges a wake-up at `at`.
    pub(crate) fn poll_at(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Alarm::Timer(timer) => timer.poll_at(at, cx),
            Alarm::Park(wake_at) => {
                if Instant::now() >= at {
                    return Poll::Ready(());
                }
                *wake_at = Some(wake_at.map_or(at, |earlier| earlier.min(at)));
                Poll::Pending
            }
        }
    }

    /// Forgets any wake-up asked for (a sleep that was cut short).
    pub(crate) fn clear(&mut self) {
        match self {
            Alarm::Timer(timer) => timer.armed = None,
            Alarm::Park(wake_at) => *wake_at = None,
        }
    }
}

/// One async-io timer, created the first time it is needed and moved (not re-created) when the
/// instant changes.
#[derive(Debug, Default)]
pub(crate) struct LazyTimer {
    armed: Option<(Instant, Timer)>,
}

impl LazyTimer {
    /// Ready once `at` has passed; otherwise registers `cx` with a timer set for `at`.
    pub(crate) fn poll_at(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let (armed_for, timer) = self.armed.get_or_insert_with(|| (at, Timer::at(at)));
        if *armed_for != at {
            // Moving a timer is a trip to the reactor: only when the instant changed.
            timer.set_at(at);
            *armed_for = at;
        }
        Pin::new(timer).poll(cx).map(drop)
    }
}

/// The time limit of one async wait: the clock is read and the timer armed only when the wait
/// finds nothing there, so a wait on a ready future costs no timer work. One enum, so that a
/// pending wait holds no more than the timer (which keeps its own instant).
#[derive(Debug)]
pub(crate) enum AsyncLimit {
    Forever,
    After(Duration),
    At(Instant),
    Armed(Timer),
}

impl AsyncLimit {
    #[inline]
    pub(crate) fn new(limit: Limit) -> Self {
        match limit {
            Limit::Forever => AsyncLimit::Forever,
            Limit::After(timeout) => AsyncLimit::After(timeout),
            Limit::At(deadline) => AsyncLimit::At(deadline),
        }
    }

    /// Starts the clock, if it has not started: called by a wait that found nothing there, before
    /// it drives the future (which may take time of its own, a retry starting an attempt).
    pub(crate) fn start(&mut self) {
        if let AsyncLimit::After(timeout) = *self {
            if !timeout.is_zero() {
                *self = deadline_after(timeout).map_or(AsyncLimit::Forever, AsyncLimit::At);
            }
        }
    }

    /// Called by a wait that found nothing: ready if its time is up, else pending with `cx`
    /// registered to be woken when it is.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = match self {
            AsyncLimit::Forever => return Poll::Pending,
            AsyncLimit::After(timeout) if timeout.is_zero() => return Poll::Ready(()),
            AsyncLimit::After(timeout) => deadline_after(*timeout),
            AsyncLimit::At(deadline) => Some(*deadline),
            AsyncLimit::Armed(timer) => return Pin::new(timer).poll(cx).map(drop),
        };
        *self = deadline.map_or(AsyncLimit::Forever, |at| AsyncLimit::Armed(Timer::at(at)));
        self.poll_expired(cx)
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
    /// `f` of what the wait gave, if it gave something.
    pub(crate) fn map_ready<S>(self, f: impl FnOnce(R) -> S) -> Waited<S> {
        match self {
            Waited::Ready(value) => Waited::Ready(f(value)),
            Waited::TimedOut => Waited::TimedOut,
            Waited::Refused => Waited::Refused,
        }
    }

    /// Whether the wait gave something.
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self, Waited::Ready(_))
    }
}

impl<T, E> Waited<Result<T, Error<E>>> {
    /// The outcome of a wait for one future: what it gave, or, after a timeout or a refusal,
    /// what `look` finds there now (an outcome that came with the limit still wins), else
    /// `Timeout` or `WouldBlockExecutor`.
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

/// Blocks the calling thread on `poll` until it is ready or `limit` runs out.
///
/// `poll` gets a context whose waker unparks this thread, and an [`Alarm`] for an instant at
/// which it wants to be polled again if nothing wakes it first. The thread parks between
/// polls and polls again only when woken, when its alarm or the limit comes, or on a spurious
/// unpark: never on a timer of its own. An outcome that arrives with the limit still wins: the
/// limit is checked after a poll, never instead of one. The limit counts from the call (callers
/// look for an outcome that is already there first, without the clock).
pub(crate) fn block_on<R>(
    mut limit: Limit,
    mut poll: impl FnMut(&mut Context<'_>, &mut Alarm) -> Poll<R>,
) -> Waited<R> {
    let deadline = limit.start();
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    let mut alarm = Alarm::Park(None);
    if let Poll::Ready(value) = poll(&mut cx, &mut alarm) {
        return Waited::Ready(value);
    }
    // `ZERO` (or a deadline already past): that one look was the whole wait.
    let Some(deadline) = deadline else {
        return Waited::TimedOut;
    };
    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        return Waited::TimedOut;
    }
    let parked = parked(|| {
        loop {
            let wake_at = match &mut alarm {
                Alarm::Park(wake_at) => wake_at.take(),
                Alarm::Timer(_) => None,
            };
            match earliest(wake_at, deadline) {
                None => thread::park(),
                Some(until) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|deadline| now >= deadline) {
                        return Waited::TimedOut;
                    }
                    if now < until {
                        thread::park_timeout(until - now);
                    }
                }
            }
            if let Poll::Ready(value) = poll(&mut cx, &mut alarm) {
                return Waited::Ready(value);
            }
        }
    });
    parked.unwrap_or(Waited::Refused)
}

thread_local! {
    /// Whether this thread is the background executor's, where no blocking wait may park.
    static NEVER_PARK: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one that must never park in a blocking wait of this crate (the
/// background executor's): such a wait returns [`Waited::Refused`] instead.
pub(crate) fn never_park() {
    NEVER_PARK.with(|never| never.set(true));
}

thread_local! {
    /// What the calling thread does when one of its blocking waits parks (`true`) and resumes
    /// (`false`): the pool's workers register one, so that a worker waiting on other work does
    /// not count against the pool's thread cap (see `pool.rs`). The depth counts waits nested
    /// in the polls of an outer one (a `map_value` closure or a retry attempt that blocks): only the
    /// outermost calls the hook, so a thread is parked once however deep its waits go.
    static ON_PARK: Cell<(Option<ParkHook>, usize)> = const { Cell::new((None, 0)) };
}

/// Told `true` when a blocking wait parks, `false` when it resumes.
type ParkHook = fn(bool);

/// Sets (or, with `None`, clears) the calling thread's [`ON_PARK`] hook.
pub(crate) fn on_park(hook: Option<ParkHook>) {
    ON_PARK.with(|slot| slot.set((hook, slot.get().1)));
}

/// Runs `wait`, a blocking wait that parks, between the calling thread's hook calls; `None`
/// (and `wait` not run) on the executor's thread, which must never park. Only waits that found
/// nothing there come here, so the ready paths never read the thread-locals.
pub(crate) fn parked<R>(wait: impl FnOnce() -> R) -> Option<R> {
    if NEVER_PARK.try_with(Cell::get).unwrap_or(false) {
        return None;
    }
    Some(with_park_hook(wait))
}

/// Runs `wait` between the calling thread's park hook calls.
fn with_park_hook<R>(wait: impl FnOnce() -> R) -> R {
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
    let Ok((Some(hook), depth)) = ON_PARK.try_with(Cell::get) else {
        return wait();
    };
    let _ = ON_PARK.try_with(|slot| slot.set((Some(hook), depth + 1)));
    let outermost = (depth == 0).then_some(hook);
    if let Some(hook) = outermost {
        hook(true);
    }
    let _resumed = Resumed(outermost);
    wait()
}

/// The earlier of two optional instants; `None` only if both are.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A waker that unparks the calling thread: what a blocking wait polls with. Made once per
/// thread and cloned (one reference count) for each wait.
fn thread_waker() -> Waker {
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unparker(thread::current())));
    }
    // While the thread's locals are being destroyed there is no cached one: make one.
    WAKER
        .try_with(Waker::clone)
        .unwrap_or_else(|_| Waker::from(Arc::new(Unparker(thread::current()))))
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
