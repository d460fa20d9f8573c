//! [`wait`] and [`wait_async`]: Python's `concurrent.futures.wait`, in both modes.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_io::Timer;

use super::ready_queue::Tracker;
use crate::api_future::ApiFuture;
use crate::timeout;

/// When [`wait`] and [`wait_async`] return, as Python's `FIRST_COMPLETED`, `ALL_COMPLETED`
/// and `FIRST_EXCEPTION`.
///
/// ```
/// use apifuture::{failed, promise, wait, ReturnWhen};
/// let (_producer, pending) = promise::<u8, &str>();
/// let mut futures = vec![pending, failed("no")];
/// // A failure ends the wait although future 0 is still pending.
/// assert_eq!(wait(&mut futures, None, ReturnWhen::FirstFailed), (vec![1], vec![0]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as one future is done (also one that was done already).
    FirstCompleted,
    /// When all are done.
    AllCompleted,
    /// As soon as one future is done with an error (any but `Consumed`: see
    /// [`ApiFuture::peek_failed`]); when all are done if none fails.
    FirstFailed,
}

/// Waits, blocking the calling thread, until the futures are done as `when` says or `timeout`
/// passes. Returns `(done, pending)`: ascending indices into `futures`.
///
/// No outcome is taken: wait on the futures (or `try_result` them) afterwards to get them.
/// "Done" means what [`poll_ready`](ApiFuture::poll_ready) says, so a cancelled, abandoned or
/// consumed future counts as done.
///
/// - `timeout` is a `Duration` or an `Option<Duration>`; `None` waits as long as it takes,
///   `Duration::ZERO` only looks. A timeout leaves every future as it was.
/// - An empty slice returns `(vec![], vec![])` at once.
/// - The thread parks until a future wakes it, and then looks only at the futures that woke
///   it: no polling loop. `AllCompleted` parks on the last future still pending (usually the
///   last to complete), so a batch completed in about the order it was submitted costs one
///   wake-up; O(N) work overall in any order.
/// - Waiting drives futures that need driving ([`Retry`](crate::Retry) starts its due
///   attempts, [`FromFuture`](crate::FromFuture) polls its future).
///
/// Calling this inside an async task blocks the executor's thread; use [`wait_async`] there.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{promise, ready, wait, ApiFuture, BoxError, ReturnWhen};
///
/// let (slow, pending) = promise::<u32, BoxError>();
/// let mut futures = vec![pending, ready(1), ready(2)];
/// let (done, not_done) = wait(&mut futures, Duration::from_secs(30), ReturnWhen::FirstCompleted);
/// assert_eq!((done, not_done), (vec![1, 2], vec![0]));
///
/// slow.set_result(0);
/// let (done, not_done) = wait(&mut futures, None, ReturnWhen::AllCompleted);
/// assert_eq!((done.len(), not_done.len()), (3, 0));
/// assert_eq!(futures[0].result(None).unwrap(), 0); // nothing was taken
/// ```
pub fn wait<F, T, E>(
    futures: &mut [F],
    timeout: impl Into<Option<Duration>>,
    when: ReturnWhen,
) -> (Vec<usize>, Vec<usize>)
where
    F: ApiFuture<T, E>,
{
    let timeout = timeout.into();
    if when == ReturnWhen::AllCompleted {
        return wait_all_from_the_end(futures, timeout);
    }
    let mut state = MultiWait::new(futures.len(), when);
    if state.step(futures) {
        return state.split();
    }
    let deadline = match timeout {
        None => None,
        Some(timeout) if timeout.is_zero() => return state.split(),
        // Too large for `Instant`: as long as it takes.
        Some(timeout) => timeout::deadline_after(timeout),
    };
    let waker = timeout::thread_waker();
    loop {
        if state.tracker.sleep_on(&waker) {
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return state.split();
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
        if state.step(futures) {
            return state.split();
        }
    }
}

/// `wait(.., AllCompleted)` on a thread. Every future must be done, so which one the thread
/// parks on is free to choose: it parks on the pending future with the highest index, with the
/// thread's own waker, and meanwhile looks at the others only with a no-op waker.
///
/// Futures are usually completed in about the order they were submitted, and then the last one
/// is the only wake-up the thread needs. Parking on each pending future in turn instead makes
/// a fast waiter follow a producer in lockstep, a wake-up (two system calls) per future. Two
/// indices close in on the pending ones from both ends and never move back, so each future is
/// looked at a bounded number of times: O(N) work overall, whatever the completion order.
fn wait_all_from_the_end<F, T, E>(
    futures: &mut [F],
    timeout: Option<Duration>,
) -> (Vec<usize>, Vec<usize>)
where
    F: ApiFuture<T, E>,
{
    let mut noop = Context::from_waker(Waker::noop());
    // Everything before `low` and after `high` is done.
    let mut low = 0;
    let mut high = futures.len();
    let mut parked: Option<(Waker, Option<Instant>)> = None;
    loop {
        while low < high && futures[low].poll_ready(&mut noop).is_ready() {
            low += 1;
        }
        while low < high && futures[high - 1].poll_ready(&mut noop).is_ready() {
            high -= 1;
        }
        if low == high {
            return ((0..futures.len()).collect(), Vec::new());
        }
        let (waker, deadline) = parked.get_or_insert_with(|| {
            let deadline = match timeout {
                None => None,
                Some(timeout) if timeout.is_zero() => Some(Instant::now()),
                // Too large for `Instant`: as long as it takes.
                Some(timeout) => timeout::deadline_after(timeout),
            };
            (timeout::thread_waker(), deadline)
        });
        let mut cx = Context::from_waker(waker);
        while futures[high - 1].poll_ready(&mut cx).is_pending() {
            match *deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return split_between(futures, low, high);
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
        high -= 1;
    }
}

/// `(done, pending)` when every future outside `low..high` is known to be done.
fn split_between<F, T, E>(futures: &mut [F], low: usize, high: usize) -> (Vec<usize>, Vec<usize>)
where
    F: ApiFuture<T, E>,
{
    let mut noop = Context::from_waker(Waker::noop());
    let mut done: Vec<usize> = (0..low).collect();
    let mut pending = Vec::new();
    for (index, future) in futures.iter_mut().enumerate().take(high).skip(low) {
        if future.poll_ready(&mut noop).is_ready() {
            done.push(index);
        } else {
            pending.push(index);
        }
    }
    done.extend(high..futures.len());
    (done, pending)
}

/// [`wait`] for async code: the same rules, with the task woken instead of the thread parked
/// and the timeout on an `async-io` timer. Dropping the returned future ends the wait and
/// leaves every future as it was.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{spawn, wait_async, BoxError, ReturnWhen};
///
/// # futures_lite::future::block_on(async {
/// let mut futures = vec![spawn(|| Ok::<u8, BoxError>(1)), spawn(|| Err("down".into()))];
/// let (done, _) = wait_async(&mut futures, Duration::from_secs(30), ReturnWhen::FirstFailed).await;
/// assert!(done.contains(&1));
/// # });
/// ```
pub fn wait_async<'a, F, T, E>(
    futures: &'a mut [F],
    timeout: impl Into<Option<Duration>>,
    when: ReturnWhen,
) -> WaitAsync<'a, F, T, E>
where
    F: ApiFuture<T, E>,
{
    WaitAsync {
        state: MultiWait::new(futures.len(), when),
        futures,
        timeout: timeout.into(),
        timer: None,
        started: false,
        _types: PhantomData,
    }
}

/// The future of [`wait_async`]: `(done, pending)` index lists.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct WaitAsync<'a, F, T, E> {
    futures: &'a mut [F],
    state: MultiWait,
    timeout: Option<Duration>,
    timer: Option<Timer>,
    started: bool,
    _types: PhantomData<fn() -> (T, E)>,
}

impl<F, T, E> Future for WaitAsync<'_, F, T, E>
where
    F: ApiFuture<T, E>,
{
    type Output = (Vec<usize>, Vec<usize>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if this.state.step(this.futures) {
                return Poll::Ready(this.state.split());
            }
            if !this.started {
                this.started = true;
                match this.timeout {
                    Some(timeout) if timeout.is_zero() => return Poll::Ready(this.state.split()),
                    // A timeout too large for `Instant` waits as long as it takes.
                    Some(timeout) => this.timer = timeout::deadline_after(timeout).map(Timer::at),
                    None => {}
                }
            }
            if !this.state.tracker.sleep_on(cx.waker()) {
                continue;
            }
            if let Some(timer) = &mut this.timer {
                if Pin::new(timer).poll(cx).is_ready() {
                    // One last look, then the time is up.
                    this.state.step(this.futures);
                    return Poll::Ready(this.state.split());
                }
            }
            return Poll::Pending;
        }
    }
}

impl<F, T, E> fmt::Debug for WaitAsync<'_, F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitAsync")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// What a multi-future wait knows so far.
struct MultiWait {
    tracker: Tracker,
    when: ReturnWhen,
    done: Vec<bool>,
    done_count: usize,
    failed: bool,
    /// Whether every future was polled once; after that only woken ones are.
    scanned: bool,
}

impl fmt::Debug for MultiWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiWait")
            .field("when", &self.when)
            .field("futures", &self.done.len())
            .field("done", &self.done_count)
            .finish_non_exhaustive()
    }
}

impl MultiWait {
    fn new(len: usize, when: ReturnWhen) -> Self {
        MultiWait {
            tracker: Tracker::new(len),
            when,
            done: vec![false; len],
            done_count: 0,
            failed: false,
            scanned: false,
        }
    }

    /// Polls the futures that may have changed; true once the wait is over.
    fn step<F: ApiFuture<T, E>, T, E>(&mut self, futures: &mut [F]) -> bool {
        if !self.scanned {
            self.scanned = true;
            for index in 0..futures.len() {
                self.poll(futures, index);
            }
        } else {
            for index in self.tracker.take_ready() {
                self.poll(futures, index);
            }
        }
        self.finished(futures.len())
    }

    fn poll<F: ApiFuture<T, E>, T, E>(&mut self, futures: &mut [F], index: usize) {
        if self.done[index] {
            return;
        }
        let future = &mut futures[index];
        if self.tracker.poll_ready(index, future).is_pending() {
            return;
        }
        self.done[index] = true;
        self.done_count += 1;
        if self.when == ReturnWhen::FirstFailed && future.peek_failed() == Some(true) {
            self.failed = true;
        }
    }

    fn finished(&self, len: usize) -> bool {
        match self.when {
            ReturnWhen::FirstCompleted => self.done_count > 0 || len == 0,
            ReturnWhen::AllCompleted => self.done_count == len,
            ReturnWhen::FirstFailed => self.failed || self.done_count == len,
        }
    }

    fn split(&self) -> (Vec<usize>, Vec<usize>) {
        let mut done = Vec::with_capacity(self.done_count);
        let mut pending = Vec::with_capacity(self.done.len() - self.done_count);
        for (index, &is_done) in self.done.iter().enumerate() {
            if is_done {
                done.push(index);
            } else {
                pending.push(index);
            }
        }
        (done, pending)
    }
}
