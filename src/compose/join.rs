//! [`join_all`] and [`join_all_async`]: every outcome of many futures, in input order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::api_future::ApiFuture;
use crate::error::Error;

/// Blocks until every future has its outcome; returns them in input order. Each wait parks the
/// thread (no polling loop), and the total time is that of the slowest future, since they all
/// run concurrently.
///
/// Calling it inside an async task blocks that executor thread: use [`join_all_async`] there.
///
/// ```
/// use std::time::Duration;
/// use apifuture::{join_all, spawn, Error};
///
/// let jobs = (1..=3).map(|i| spawn(move || if i == 2 { Err("two") } else { Ok(i * 10) }));
/// assert_eq!(join_all(jobs), [Ok(10), Err(Error::Failed("two")), Ok(30)]);
/// ```
pub fn join_all<F, T, E>(futures: impl IntoIterator<Item = F>) -> Vec<Result<T, Error<E>>>
where
    F: ApiFuture<T, E>,
{
    futures
        .into_iter()
        .map(|mut future| future.result(None))
        .collect()
}

/// Awaits every future's outcome; returns them in input order. Works on any executor.
///
/// The returned future is a named type rather than an `async fn`'s, so that it is `Send`
/// whenever the futures are, whatever lifetimes their error type carries.
///
/// ```
/// use apifuture::{join_all_async, ready, BoxError};
/// # futures_lite::future::block_on(async {
/// let outcomes = join_all_async((1..=3).map(ready::<u32, BoxError>)).await;
/// assert_eq!(outcomes.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2, 3]);
/// # });
/// ```
pub fn join_all_async<F, T, E>(futures: impl IntoIterator<Item = F>) -> JoinAll<F, T, E>
where
    F: ApiFuture<T, E>,
{
    let futures: Vec<F> = futures.into_iter().collect();
    JoinAll {
        outcomes: Vec::with_capacity(futures.len()),
        futures,
    }
}

/// The future of [`join_all_async`].
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct JoinAll<F, T, E> {
    futures: Vec<F>,
    outcomes: Vec<Result<T, Error<E>>>,
}

impl<F, T, E> Future for JoinAll<F, T, E>
where
    F: ApiFuture<T, E>,
    T: Unpin,
    E: Unpin,
{
    type Output = Vec<Result<T, Error<E>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Waiting in order is enough: every future makes progress on its own producer
        // meanwhile, so the total is still the slowest one, and each is polled O(1) times per
        // wake of the one in front.
        while let Some(future) = this.futures.get_mut(this.outcomes.len()) {
            match future.try_result() {
                Some(outcome) => this.outcomes.push(outcome),
                None => {
                    if future.poll_ready(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
        this.futures.clear();
        Poll::Ready(std::mem::take(&mut this.outcomes))
    }
}

impl<F, T, E> fmt::Debug for JoinAll<F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinAll")
            .field("done", &self.outcomes.len())
            .field("total", &self.futures.len())
            .finish()
    }
}
