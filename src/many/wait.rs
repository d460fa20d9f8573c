//! [`wait`] and [`wait_async`]: Python's `concurrent.futures.wait`, in both modes, on a [`Set`].

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use super::set::Set;
use crate::api_future::{ApiFuture, fused_future};
use crate::timeout::{self, AsyncDeadline, Deadline};

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
    /// As soon as one future is done with a failure
    /// ([`Error::is_failure`](crate::Error::is_failure), seen through
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
/// - Every pending future is driven whenever it is woken, all of them concurrently: lazy
///   futures ([`Retry`](crate::Retry), [`FromFuture`](crate::FromFuture)) make progress side by
///   side, so the slowest one bounds the total. The thread parks until a future wakes it, then
///   looks only at the futures that woke it: no polling loop, O(N) work overall for N futures.
///
/// Calling it in an async task blocks the executor's thread: use [`wait_async`] there. On the
/// crate's own background executor thread, where no blocking wait may park, it returns at once
/// as if `timeout` had passed.
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
    let mut set = Set::new(futures.len(), when == ReturnWhen::AllCompleted);
    let deadline = Deadline::from_timeout(timeout.into());
    if !timeout::block_on(deadline, |cx| poll(&mut set, futures, when, cx).into()).is_ready() {
        set.sweep(futures);
    }
    split(&set, futures.len())
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
        set: Set::new(futures.len(), when == ReturnWhen::AllCompleted),
        futures,
        when,
        deadline: AsyncDeadline::Unarmed(Deadline::from_timeout(timeout.into())),
        terminated: false,
    }
}

/// The future of [`wait_async`]: `(done, pending)` index lists.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct WaitAsync<'a, F> {
    futures: &'a mut [F],
    set: Set,
    when: ReturnWhen,
    deadline: AsyncDeadline,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl<F: ApiFuture> WaitAsync<'_, F> {
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<(Vec<usize>, Vec<usize>)> {
        self.deadline.start();
        if poll(&mut self.set, self.futures, self.when, cx).is_pending() {
            if self.deadline.poll_expired(cx).is_pending() {
                return Poll::Pending;
            }
            self.set.sweep(self.futures);
        }
        Poll::Ready(split(&self.set, self.futures.len()))
    }
}

fused_future!(['a, F: ApiFuture] WaitAsync<'a, F> => (Vec<usize>, Vec<usize>), Self::poll_wait, []);

impl<F> fmt::Debug for WaitAsync<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitAsync")
            .field("when", &self.when)
            .field("set", &self.set)
            .finish_non_exhaustive()
    }
}

/// Polls the set until the wait is over as `when` says.
fn poll<F: ApiFuture>(
    set: &mut Set,
    futures: &mut [F],
    when: ReturnWhen,
    cx: &mut Context<'_>,
) -> Poll<()> {
    set.poll(futures, cx, |_, future| match when {
        ReturnWhen::FirstCompleted => true,
        ReturnWhen::AllCompleted => false,
        ReturnWhen::FirstFailed => future.peek_failed() == Some(true),
    })
}

/// `(done, pending)`: ascending indices.
fn split(set: &Set, len: usize) -> (Vec<usize>, Vec<usize>) {
    if set.pending() == 0 {
        return ((0..len).collect(), Vec::new());
    }
    (0..len).partition(|&index| set.is_done(index))
}
