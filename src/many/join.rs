//! [`join_all`] and [`join_all_async`]: every outcome of many futures, in input order, from one
//! state machine ([`JoinAll`]) that the blocking form parks on.

use std::fmt;
use std::mem;
use std::task::{Context, Poll, ready};

use super::set::Set;
use crate::api_future::{ApiFuture, OutcomeOf, fused_future};
use crate::error::Error;
use crate::timeout::{self, Deadline, Waited};

/// Blocks until every future has its outcome; returns them in input order. It takes no time
/// limit: for one, [`wait`](crate::wait) on a slice of them with
/// [`ReturnWhen::AllCompleted`](crate::ReturnWhen), then take each done one's outcome.
///
/// Every pending future is driven whenever it is woken, all of them concurrently, so the total
/// time is that of the slowest future, lazy ones ([`from_future`](crate::from_future),
/// [`Retry`](crate::Retry)) included. The thread parks in between (no polling loop).
///
/// Inside an async task it blocks the executor thread: use [`join_all_async`] there. On the
/// crate's own background executor thread, where no blocking wait may park, it returns at once:
/// the futures still pending get `Err(Error::WouldBlockExecutor)` and are dropped (which
/// cancels them; pass `&mut` futures to keep them).
///
/// ```
/// use apifuture::{join_all, spawn, Error};
///
/// let jobs = (1..=3).map(|i| spawn(move || if i == 2 { Err("two") } else { Ok(i * 10) }));
/// assert_eq!(join_all(jobs), [Ok(10), Err(Error::Failed("two")), Ok(30)]);
/// ```
pub fn join_all<F: ApiFuture>(futures: impl IntoIterator<Item = F>) -> Vec<OutcomeOf<F>> {
    let mut join = join_all_async(futures);
    match timeout::block_on(Deadline::Never, |cx| join.poll_all(cx).into()) {
        Waited::Ready(outcomes) => outcomes,
        // Without a time limit the wait only ends early where it may not park.
        Waited::TimedOut | Waited::Refused => join.gather(),
    }
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
        set: Set::new(futures.len(), true),
        ordered: Vec::with_capacity(futures.len()),
        early: Vec::new(),
        futures,
        terminated: false,
    }
}

/// The future of [`join_all_async`]. Dropping it drops the futures not yet complete, which
/// cancels them. Polled again after it gave the outcomes, it gives an empty `Vec`.
#[must_use = "dropping the join drops its futures, which cancels them; .await it"]
pub struct JoinAll<F: ApiFuture> {
    futures: Vec<F>,
    /// The outcomes of the first futures, all there: most batches complete in order, and
    /// their outcomes go straight where they are returned from.
    ordered: Vec<OutcomeOf<F>>,
    /// Outcomes that came before an earlier future's, by index (sized when the first does).
    early: Vec<Option<OutcomeOf<F>>>,
    set: Set,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

// Nothing is pinned: the outcomes are only ever moved out.
impl<F: ApiFuture> Unpin for JoinAll<F> {}

impl<F: ApiFuture> JoinAll<F> {
    /// Every outcome there is, in input order, `Err(Error::WouldBlockExecutor)` for the futures
    /// still pending (which are dropped).
    fn gather(&mut self) -> Vec<OutcomeOf<F>> {
        let len = self.futures.len();
        let mut outcomes = mem::take(&mut self.ordered);
        let mut early = mem::take(&mut self.early).into_iter().skip(outcomes.len());
        while outcomes.len() < len {
            let index = outcomes.len();
            // One more look at those not seen done: an outcome that came as the wait gave up
            // still wins, as it does for any wait.
            let outcome = early
                .next()
                .flatten()
                .or_else(|| self.futures.get_mut(index).and_then(ApiFuture::try_result));
            outcomes.push(outcome.unwrap_or(Err(Error::WouldBlockExecutor)));
        }
        self.futures.clear();
        outcomes
    }

    fn poll_all(&mut self, cx: &mut Context<'_>) -> Poll<Vec<OutcomeOf<F>>> {
        let (ordered, early) = (&mut self.ordered, &mut self.early);
        let len = self.futures.len();
        ready!(self.set.poll(&mut self.futures[..], cx, |index, future| {
            // Done means an outcome to take; a future that breaks that promise hands out
            // `Consumed` rather than stalling the join.
            let outcome = future.try_result().unwrap_or(Err(Error::Consumed));
            if index != ordered.len() {
                if early.is_empty() {
                    early.resize_with(len, || None);
                }
                early[index] = Some(outcome);
                return false;
            }
            ordered.push(outcome);
            while let Some(next) = early.get_mut(ordered.len()).and_then(Option::take) {
                ordered.push(next);
            }
            false
        }));
        self.futures.clear();
        self.early = Vec::new();
        Poll::Ready(mem::take(&mut self.ordered))
    }
}

fused_future!([F: ApiFuture] JoinAll<F> => Vec<OutcomeOf<F>>, Self::poll_all, []);

impl<F: ApiFuture> fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinAll")
            .field("futures", &self.futures.len())
            .field("in_order", &self.ordered.len())
            .finish_non_exhaustive()
    }
}
