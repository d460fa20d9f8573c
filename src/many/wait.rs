//! [`wait`] and [`wait_async`]: Python's `concurrent.futures.wait`, in both modes, on one
//! state machine ([`Watch`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::all_done::AllDone;
use super::ready_queue::Tracker;
use crate::api_future::ApiFuture;
use crate::timeout::{self, AsyncLimit, Limit};

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
    /// As soon as one future is done with a failure ([`Error::is_failure`](crate::Error::is_failure),
    /// seen through [`ApiFuture::peek_failed`]); when all are done if none fails.
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
/// - Every pending future is driven whenever it is woken, all of them concurrently: lazy
///   futures ([`Retry`](crate::Retry), [`FromFuture`](crate::FromFuture)) make progress side by
///   side, so the slowest one bounds the total.
/// - The thread parks until a future wakes it, and then looks only at the futures that woke
///   it: no polling loop, and O(N) work overall for N futures.
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
pub fn wait<F: ApiFuture>(
    futures: &mut [F],
    timeout: impl Into<Option<Duration>>,
    when: ReturnWhen,
) -> (Vec<usize>, Vec<usize>) {
    let mut watch = Watch::new(futures.len(), when);
    let limit = Limit::from_timeout(timeout.into());
    if !timeout::block_on(limit, |cx, _| watch.poll(futures, cx)).is_ready() {
        watch.sweep(futures);
    }
    watch.split()
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
pub fn wait_async<F: ApiFuture>(
    futures: &mut [F],
    timeout: impl Into<Option<Duration>>,
    when: ReturnWhen,
) -> WaitAsync<'_, F> {
    WaitAsync {
        watch: Watch::new(futures.len(), when),
        futures,
        limit: AsyncLimit::new(Limit::from_timeout(timeout.into())),
        terminated: false,
    }
}

/// The future of [`wait_async`]: `(done, pending)` index lists.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct WaitAsync<'a, F> {
    futures: &'a mut [F],
    watch: Watch,
    limit: AsyncLimit,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl<F: ApiFuture> Future for WaitAsync<'_, F> {
    type Output = (Vec<usize>, Vec<usize>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.limit.start();
        if this.watch.poll(this.futures, cx).is_pending() {
            if this.limit.poll_expired(cx).is_pending() {
                return Poll::Pending;
            }
            this.watch.sweep(this.futures);
        }
        this.terminated = true;
        Poll::Ready(this.watch.split())
    }
}

impl<F: ApiFuture> futures_core::future::FusedFuture for WaitAsync<'_, F> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<F> fmt::Debug for WaitAsync<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitAsync")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

/// What a multi-future wait knows so far, in either mode.
struct Watch {
    when: ReturnWhen,
    /// How futures are looked at: for `AllCompleted` the cheapest way that sees every one
    /// done; otherwise each with its own waker, so that the first to finish is seen at once.
    strategy: Strategy,
    done: Vec<bool>,
    done_count: usize,
    failed: bool,
}

enum Strategy {
    AllDone(AllDone),
    EachWoken(Tracker),
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("when", &self.when)
            .field("futures", &self.done.len())
            .field("done", &self.done_count)
            .finish_non_exhaustive()
    }
}

impl Watch {
    fn new(len: usize, when: ReturnWhen) -> Self {
        Watch {
            when,
            strategy: match when {
                ReturnWhen::AllCompleted => Strategy::AllDone(AllDone::new(len)),
                _ => Strategy::EachWoken(Tracker::new(len)),
            },
            done: vec![false; len],
            done_count: 0,
            failed: false,
        }
    }

    /// Polls the futures that may have changed; ready once the wait is over, else `cx` is
    /// registered to be woken by the next future that wakes.
    fn poll<F: ApiFuture>(&mut self, futures: &mut [F], cx: &mut Context<'_>) -> Poll<()> {
        let tracker = match &mut self.strategy {
            Strategy::AllDone(all) => {
                let (done, done_count) = (&mut self.done, &mut self.done_count);
                return all.poll(futures, cx, |index, _| {
                    done[index] = true;
                    *done_count += 1;
                });
            }
            Strategy::EachWoken(tracker) => tracker,
        };
        loop {
            for index in tracker.batch() {
                let future = &mut futures[index];
                if self.done[index] || tracker.poll_ready(index, future).is_pending() {
                    continue;
                }
                self.done[index] = true;
                self.done_count += 1;
                if self.when == ReturnWhen::FirstFailed && future.peek_failed() == Some(true) {
                    self.failed = true;
                }
            }
            let all = self.done_count == self.done.len();
            if all || self.done_count > 0 && self.when == ReturnWhen::FirstCompleted || self.failed
            {
                return Poll::Ready(());
            }
            if tracker.sleep_on(cx.waker()) {
                return Poll::Pending;
            }
        }
    }

    /// After a timeout: one more look at what an all-completed wait does not watch closely, so
    /// that the split names every future done by now.
    fn sweep<F: ApiFuture>(&mut self, futures: &mut [F]) {
        if let Strategy::AllDone(all) = &mut self.strategy {
            let (done, done_count) = (&mut self.done, &mut self.done_count);
            all.sweep(futures, |index, _| {
                done[index] = true;
                *done_count += 1;
            });
        }
    }

    fn split(&self) -> (Vec<usize>, Vec<usize>) {
        let len = self.done.len();
        if self.done_count == len {
            return ((0..len).collect(), Vec::new());
        }
        let mut split = (
            Vec::with_capacity(self.done_count),
            Vec::with_capacity(len - self.done_count),
        );
        for (index, &done) in self.done.iter().enumerate() {
            if done { &mut split.0 } else { &mut split.1 }.push(index);
        }
        split
    }
}
