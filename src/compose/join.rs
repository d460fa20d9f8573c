//! [`join_all`] and [`join_all_async`]: every outcome of many futures, in input order, from one
//! state machine ([`JoinAll`]) that the blocking form parks on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ready_queue::Tracker;
use crate::api_future::ApiFuture;
use crate::error::Error;
use crate::timeout::{self, Limit};

/// One future's outcome.
type Outcome<F> = Result<<F as ApiFuture>::Value, Error<<F as ApiFuture>::Failure>>;

/// Blocks until every future has its outcome; returns them in input order.
///
/// Every pending future is driven whenever it is woken, all of them concurrently, so the total
/// time is that of the slowest future, lazy ones ([`from_future`](crate::from_future),
/// [`Retry`](crate::Retry)) included. The thread parks in between (no polling loop).
///
/// Calling it inside an async task blocks that executor thread: use [`join_all_async`] there.
///
/// ```
/// use apifuture::{join_all, spawn, Error};
///
/// let jobs = (1..=3).map(|i| spawn(move || if i == 2 { Err("two") } else { Ok(i * 10) }));
/// assert_eq!(join_all(jobs), [Ok(10), Err(Error::Failed("two")), Ok(30)]);
/// ```
pub fn join_all<F: ApiFuture>(futures: impl IntoIterator<Item = F>) -> Vec<Outcome<F>> {
    let mut join = join_all_async(futures);
    // Without a time limit the wait only ends with every outcome.
    timeout::block_on(Limit::Forever, |cx, _| join.poll_all(cx)).unwrap_or_default()
}

/// Awaits every future's outcome; returns them in input order. Works on any executor, with the
/// same concurrency as [`join_all`].
///
/// ```
/// use apifuture::{join_all_async, ready, BoxError};
/// # futures_lite::future::block_on(async {
/// let outcomes = join_all_async((1..=3).map(ready::<u32, BoxError>)).await;
/// assert_eq!(outcomes.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2, 3]);
/// # });
/// ```
pub fn join_all_async<F: ApiFuture>(futures: impl IntoIterator<Item = F>) -> JoinAll<F> {
    let futures: Vec<F> = futures.into_iter().collect();
    JoinAll {
        tracker: Tracker::new(futures.len()),
        outcomes: futures.iter().map(|_| None).collect(),
        missing: futures.len(),
        futures,
    }
}

/// The future of [`join_all_async`]. Dropping it drops the futures not yet complete, which
/// cancels them.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct JoinAll<F: ApiFuture> {
    futures: Vec<F>,
    outcomes: Vec<Option<Outcome<F>>>,
    /// How many outcomes are still to come.
    missing: usize,
    tracker: Tracker,
}

// Nothing is pinned: the outcomes are only ever moved out.
impl<F: ApiFuture> Unpin for JoinAll<F> {}

impl<F: ApiFuture> JoinAll<F> {
    fn poll_all(&mut self, cx: &mut Context<'_>) -> Poll<Vec<Outcome<F>>> {
        loop {
            for index in self.tracker.batch() {
                if self.outcomes[index].is_some() {
                    continue;
                }
                let future = &mut self.futures[index];
                if self.tracker.poll_ready(index, future).is_pending() {
                    continue;
                }
                if let Some(outcome) = future.try_result() {
                    self.outcomes[index] = Some(outcome);
                    self.missing -= 1;
                }
            }
            if self.missing == 0 {
                self.futures.clear();
                let outcomes = std::mem::take(&mut self.outcomes);
                return Poll::Ready(outcomes.into_iter().flatten().collect());
            }
            if self.tracker.sleep_on(cx.waker()) {
                return Poll::Pending;
            }
        }
    }
}

impl<F: ApiFuture> Future for JoinAll<F> {
    type Output = Vec<Outcome<F>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().poll_all(cx)
    }
}

impl<F: ApiFuture> fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinAll")
            .field("done", &(self.outcomes.len() - self.missing))
            .field("total", &self.outcomes.len())
            .finish()
    }
}
