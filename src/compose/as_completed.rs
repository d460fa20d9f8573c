//! [`as_completed`] and [`as_completed_async`]: outcomes in the order they come.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_core::Stream;

use super::ready_queue::Tracker;
use crate::api_future::ApiFuture;
use crate::error::Error;
use crate::timeout;

/// Yields `(index, outcome)` for each future as it completes, blocking the calling thread in
/// between: Python's `concurrent.futures.as_completed`. `index` is the future's position in
/// the input.
///
/// - Futures that are already done come first, in input order; then each as it completes.
/// - `timeout` (a `Duration` or an `Option<Duration>`, `None` for no limit) is for the whole
///   iteration. When it passes, the iterator yields nothing more and
///   [`timed_out`](AsCompleted::timed_out) says so; the futures not yet yielded are not lost:
///   [`into_pending`](AsCompleted::into_pending) gives them back.
/// - The thread parks between outcomes and looks only at the futures that woke it.
///
/// Calling `next` inside an async task blocks the executor's thread; use
/// [`as_completed_async`] there.
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
pub fn as_completed<F, T, E>(
    futures: impl IntoIterator<Item = F>,
    timeout: impl Into<Option<Duration>>,
) -> AsCompleted<F, T, E>
where
    F: ApiFuture<T, E>,
{
    AsCompleted {
        core: Core::new(futures, timeout.into()),
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
pub fn as_completed_async<F, T, E>(
    futures: impl IntoIterator<Item = F>,
    timeout: impl Into<Option<Duration>>,
) -> AsCompletedStream<F, T, E>
where
    F: ApiFuture<T, E>,
{
    AsCompletedStream {
        core: Core::new(futures, timeout.into()),
        timer: None,
    }
}

/// What the iterator and the stream yield: an input index and that future's outcome.
type Item<T, E> = (usize, Result<T, Error<E>>);

/// The iterator of [`as_completed`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct AsCompleted<F, T, E> {
    core: Core<F, T, E>,
}

/// The stream of [`as_completed_async`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompletedStream<F, T, E> {
    core: Core<F, T, E>,
    timer: Option<Timer>,
}

/// What both share: the futures not yet yielded, and which to look at next.
struct Core<F, T, E> {
    futures: Vec<Option<F>>,
    tracker: Tracker,
    /// Indices to poll before asking the tracker: every index at first.
    candidates: VecDeque<usize>,
    remaining: usize,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    started: bool,
    timed_out: bool,
    _types: PhantomData<fn() -> (T, E)>,
}

impl<F, T, E> Core<F, T, E>
where
    F: ApiFuture<T, E>,
{
    fn new(futures: impl IntoIterator<Item = F>, timeout: Option<Duration>) -> Self {
        let futures: Vec<Option<F>> = futures.into_iter().map(Some).collect();
        let len = futures.len();
        Core {
            tracker: Tracker::new(len),
            candidates: (0..len).collect(),
            remaining: len,
            futures,
            timeout,
            deadline: None,
            started: false,
            timed_out: false,
            _types: PhantomData,
        }
    }

    /// Starts the clock at the first look.
    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.deadline = self.timeout.and_then(timeout::deadline_after);
        }
    }

    /// The next outcome that is there now, without waiting.
    fn next_ready(&mut self) -> Option<Item<T, E>> {
        loop {
            let index = match self.candidates.pop_front() {
                Some(index) => index,
                None => {
                    self.candidates.extend(self.tracker.take_ready());
                    self.candidates.pop_front()?
                }
            };
            let Some(future) = &mut self.futures[index] else {
                continue;
            };
            if self.tracker.poll_ready(index, future).is_pending() {
                continue;
            }
            if let Some(outcome) = future.try_result() {
                self.futures[index] = None;
                self.remaining -= 1;
                return Some((index, outcome));
            }
        }
    }

    fn over(&self) -> bool {
        self.remaining == 0 || self.timed_out
    }

    /// The next outcome if one is there, `Ready(None)` when the iteration is over, or
    /// `Pending` with `waiter` registered to be woken by the next future that completes.
    fn poll_next_with(&mut self, waiter: &Waker) -> Poll<Option<Item<T, E>>> {
        loop {
            if self.over() {
                return Poll::Ready(None);
            }
            if let Some(item) = self.next_ready() {
                return Poll::Ready(Some(item));
            }
            if self.tracker.sleep_on(waiter) {
                return Poll::Pending;
            }
        }
    }

    fn into_pending(self) -> Vec<(usize, F)> {
        self.futures
            .into_iter()
            .enumerate()
            .filter_map(|(index, future)| future.map(|future| (index, future)))
            .collect()
    }
}

impl<F, T, E> AsCompleted<F, T, E> {
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
        self.core.timed_out
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
    pub fn into_pending(self) -> Vec<(usize, F)>
    where
        F: ApiFuture<T, E>,
    {
        self.core.into_pending()
    }
}

impl<F, T, E> Iterator for AsCompleted<F, T, E>
where
    F: ApiFuture<T, E>,
{
    type Item = (usize, Result<T, Error<E>>);

    fn next(&mut self) -> Option<Self::Item> {
        let core = &mut self.core;
        core.start();
        let mut waker = None;
        loop {
            let waker = waker.get_or_insert_with(timeout::thread_waker);
            if let Poll::Ready(item) = core.poll_next_with(waker) {
                return item;
            }
            match core.deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        core.timed_out = true;
                        return None;
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.core.remaining))
    }
}

impl<F, T, E> AsCompletedStream<F, T, E> {
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
        self.core.timed_out
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
    pub fn into_pending(self) -> Vec<(usize, F)>
    where
        F: ApiFuture<T, E>,
    {
        self.core.into_pending()
    }
}

impl<F, T, E> Stream for AsCompletedStream<F, T, E>
where
    F: ApiFuture<T, E>,
{
    type Item = (usize, Result<T, Error<E>>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let core = &mut this.core;
        if !core.started {
            core.start();
            this.timer = core.deadline.map(Timer::at);
        }
        if let Poll::Ready(item) = core.poll_next_with(cx.waker()) {
            return Poll::Ready(item);
        }
        if let Some(timer) = &mut this.timer {
            if Pin::new(timer).poll(cx).is_ready() {
                core.timed_out = true;
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.core.remaining))
    }
}

impl<F, T, E> fmt::Debug for AsCompleted<F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.core.remaining)
            .field("timed_out", &self.core.timed_out)
            .finish_non_exhaustive()
    }
}

impl<F, T, E> fmt::Debug for AsCompletedStream<F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedStream")
            .field("remaining", &self.core.remaining)
            .field("timed_out", &self.core.timed_out)
            .finish_non_exhaustive()
    }
}
