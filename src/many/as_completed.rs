//! [`as_completed`] and [`as_completed_async`]: outcomes in the order they come, from one
//! [`Set`] that the iterator blocks on and the stream polls.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;

use super::set::Set;
use crate::api_future::{ApiFuture, OutcomeOf};
use crate::error::Error;
use crate::timeout::{self, AsyncDeadline, Deadline, Waited};

/// What the iterator and the stream yield: an input index and that future's outcome.
type Item<F> = (usize, OutcomeOf<F>);

/// Yields `(index, outcome)` for each future as it completes, `index` being its position in the
/// input, blocking the calling thread in between: Python's `concurrent.futures.as_completed`.
///
/// - Futures already done come first, in input order; then each as it completes.
/// - `timeout` (a `Duration` or an `Option<Duration>`, `None` for no limit) counts from this
///   call, for the whole iteration. When it passes, the iterator yields nothing more and
///   [`timed_out`](AsCompleted::timed_out) says so; the futures not yet yielded are not lost:
///   [`into_pending`](AsCompleted::into_pending) gives them back.
/// - Every pending future is driven whenever it is woken; the thread parks in between and
///   looks only at the futures that woke it.
///
/// Calling `next` in an async task blocks the executor's thread: use [`as_completed_async`]. On
/// the crate's own background executor thread, where no blocking wait may park, the iteration
/// ends at once as if `timeout` had passed, once the done futures are yielded.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{as_completed, promise, ready, BoxError};
///
/// let (later, pending) = promise::<&str, BoxError>();
/// let mut outcomes = as_completed(vec![pending, ready("first")], Duration::from_secs(30));
/// assert_eq!(outcomes.next().unwrap().0, 1);
/// later.set_result("second");
/// let (index, outcome) = outcomes.next().unwrap();
/// assert_eq!((index, outcome.unwrap()), (0, "second"));
/// assert!(outcomes.next().is_none());
/// ```
pub fn as_completed<F: ApiFuture>(
    futures: impl IntoIterator<Item = F>,
    timeout: impl Into<Option<Duration>>,
) -> AsCompleted<F> {
    AsCompleted {
        deadline: Deadline::from_now(timeout.into()),
        completions: Completions::new(futures),
    }
}

/// [`as_completed`] for async code: a [`Stream`] of `(index, outcome)` with the same rules,
/// its timeout on an `async-io` timer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{as_completed_async, spawn, BoxError};
/// use futures_lite::StreamExt;
///
/// # futures_lite::future::block_on(async {
/// let jobs = (0..3u64).map(|i| spawn(move || Ok::<_, BoxError>(i * 10)));
/// let mut outcomes = as_completed_async(jobs, Duration::from_secs(30));
/// let mut total = 0;
/// while let Some((_, outcome)) = outcomes.next().await {
///     total += outcome.unwrap();
/// }
/// assert_eq!(total, 30);
/// # });
/// ```
pub fn as_completed_async<F: ApiFuture>(
    futures: impl IntoIterator<Item = F>,
    timeout: impl Into<Option<Duration>>,
) -> AsCompletedStream<F> {
    AsCompletedStream {
        deadline: AsyncDeadline::Unarmed(Deadline::from_now(timeout.into())),
        completions: Completions::new(futures),
        terminated: false,
    }
}

/// The iterator of [`as_completed`].
#[must_use = "dropping the iterator drops its futures, which cancels them; iterate it, or into_pending()"]
pub struct AsCompleted<F> {
    completions: Completions<F>,
    /// For the whole iteration, counted from the call.
    deadline: Deadline,
}

/// The stream of [`as_completed_async`].
#[must_use = "dropping the stream drops its futures, which cancels them; poll it, or into_pending()"]
pub struct AsCompletedStream<F> {
    completions: Completions<F>,
    deadline: AsyncDeadline,
    /// `poll_next` returned `Ready(None)` (`FusedStream`).
    terminated: bool,
}

/// The futures not yielded yet, and the set that finds them done.
struct Completions<F> {
    futures: Vec<Option<F>>,
    set: Set,
    /// Found done and not yielded yet, in the order they were found.
    found: VecDeque<usize>,
    timed_out: bool,
}

impl<F> Completions<F> {
    fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let futures: Vec<Option<F>> = futures.into_iter().map(Some).collect();
        Completions {
            set: Set::new(futures.len(), false),
            found: VecDeque::new(),
            futures,
            timed_out: false,
        }
    }

    /// Futures not yielded yet.
    fn remaining(&self) -> usize {
        self.set.pending() + self.found.len()
    }

    fn into_pending(self) -> Vec<(usize, F)> {
        self.futures
            .into_iter()
            .enumerate()
            .filter_map(|(index, future)| future.map(|future| (index, future)))
            .collect()
    }
}

impl<F: ApiFuture> Completions<F> {
    /// The next outcome if one is there, `Ready(None)` when the iteration is over, or
    /// `Pending` with `cx` registered to be woken by the next future that wakes.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item<F>>> {
        if self.timed_out {
            return Poll::Ready(None);
        }
        if self.found.is_empty() {
            let found = &mut self.found;
            ready!(self.set.poll(&mut self.futures[..], cx, |index, _| {
                found.push_back(index);
                true
            }));
        }
        let Some(index) = self.found.pop_front() else {
            return Poll::Ready(None);
        };
        // Done means an outcome to take; a future that breaks that promise hands out
        // `Consumed` rather than stalling the iteration.
        let outcome = self.futures[index].as_mut().and_then(ApiFuture::try_result);
        self.futures[index] = None;
        Poll::Ready(Some((index, outcome.unwrap_or(Err(Error::Consumed)))))
    }
}

impl<F> AsCompleted<F> {
    /// Whether the timeout passed before every future was yielded.
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{as_completed, promise, BoxError};
    /// let (_producer, pending) = promise::<u8, BoxError>();
    /// let mut outcomes = as_completed(vec![pending], Duration::from_millis(1));
    /// assert!(outcomes.next().is_none());
    /// assert!(outcomes.timed_out());
    /// ```
    pub fn timed_out(&self) -> bool {
        self.completions.timed_out
    }

    /// The futures not yielded yet, with their input indices: nothing is lost on a timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{as_completed, promise, ready, ApiFuture, BoxError};
    /// let (producer, pending) = promise::<u8, BoxError>();
    /// let mut outcomes = as_completed(vec![ready(1), pending], Duration::from_millis(1));
    /// assert_eq!(outcomes.by_ref().count(), 1);
    /// let mut left = outcomes.into_pending();
    /// assert_eq!(left.len(), 1);
    /// producer.set_result(2);
    /// assert_eq!(left[0].0, 1);
    /// assert_eq!(left[0].1.result(None).unwrap(), 2);
    /// ```
    pub fn into_pending(self) -> Vec<(usize, F)> {
        self.completions.into_pending()
    }
}

impl<F: ApiFuture> Iterator for AsCompleted<F> {
    type Item = Item<F>;

    fn next(&mut self) -> Option<Self::Item> {
        let completions = &mut self.completions;
        match timeout::block_on(self.deadline, |cx| completions.poll_next(cx).into()) {
            Waited::Ready(item) => item,
            // On the executor's thread, where it may not park, it ends as a timeout would.
            Waited::TimedOut | Waited::Refused => {
                completions.timed_out = true;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.completions.remaining()))
    }
}

impl<F> AsCompletedStream<F> {
    /// Whether the timeout passed before every future was yielded.
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{as_completed_async, promise, BoxError};
    /// use futures_lite::StreamExt;
    /// # futures_lite::future::block_on(async {
    /// let (_producer, pending) = promise::<u8, BoxError>();
    /// let mut outcomes = as_completed_async(vec![pending], Duration::from_millis(1));
    /// assert!(outcomes.next().await.is_none());
    /// assert!(outcomes.timed_out());
    /// # });
    /// ```
    pub fn timed_out(&self) -> bool {
        self.completions.timed_out
    }

    /// The futures not yielded yet, with their input indices: nothing is lost on a timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{as_completed_async, promise, ApiFuture, BoxError};
    /// use futures_lite::StreamExt;
    /// # futures_lite::future::block_on(async {
    /// let (producer, pending) = promise::<u8, BoxError>();
    /// let mut outcomes = as_completed_async(vec![pending], Duration::from_millis(1));
    /// assert!(outcomes.next().await.is_none());
    /// let mut left = outcomes.into_pending();
    /// producer.set_result(3);
    /// assert_eq!(left[0].1.result_async(None).await.unwrap(), 3);
    /// # });
    /// ```
    pub fn into_pending(self) -> Vec<(usize, F)> {
        self.completions.into_pending()
    }
}

impl<F: ApiFuture> Stream for AsCompletedStream<F> {
    type Item = Item<F>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = match this.completions.poll_next(cx) {
            Poll::Ready(item) => Poll::Ready(item),
            Poll::Pending if this.deadline.poll_expired(cx).is_pending() => Poll::Pending,
            Poll::Pending => {
                this.completions.timed_out = true;
                Poll::Ready(None)
            }
        };
        this.terminated |= matches!(polled, Poll::Ready(None));
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.completions.remaining()))
    }
}

/// Terminated once it yielded `None`: every outcome is out, or the timeout passed.
impl<F: ApiFuture> futures_core::FusedStream for AsCompletedStream<F> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<F> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.completions.remaining())
            .field("timed_out", &self.completions.timed_out)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for AsCompletedStream<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedStream")
            .field("remaining", &self.completions.remaining())
            .field("timed_out", &self.completions.timed_out)
            .finish_non_exhaustive()
    }
}
