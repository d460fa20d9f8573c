//! [`from_future`]: any future as an [`ApiFuture`], driven by whoever waits on it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::api_future::{ApiFuture, fused_future};
use crate::error::Error;
use crate::panic::{caught, drop_caught};

/// Wraps `fut` as an [`ApiFuture`] driven by whoever waits on it: no thread, no executor. A
/// blocking wait polls it on the calling thread, an async wait in the waiting task. This is how a
/// smol app hands an async request to [`retry`](crate::retry). As only the waits poll it, the
/// future must not need a particular runtime (a tokio-only future runs on tokio through
/// [`background_with`](crate::ApiFutureExt::background_with)).
///
/// Outcomes: `Ok(value)` / `Err(Error::Failed(e))` from the future's own `Result`,
/// `Err(Error::Panicked(..))` if polling it panics, then `Err(Error::Consumed)`. A wait that
/// times out leaves the future where it was; dropping the `FromFuture` drops the future.
/// [`background`](crate::ApiFutureExt::background) runs it with nobody waiting.
///
/// ```
/// use std::time::Duration;
/// use apifuture::{from_future, ApiFuture};
///
/// let mut call = from_future(async {
///     async_io::Timer::after(Duration::from_millis(1)).await;
///     Ok::<_, std::io::Error>(7)
/// });
/// assert_eq!(call.result(Duration::from_secs(30)).unwrap(), 7); // driven on this thread
/// ```
pub fn from_future<T, E, Fut>(fut: Fut) -> FromFuture<Fut>
where
    Fut: Future<Output = Result<T, E>> + Send,
{
    FromFuture {
        driven: Driven::Running(Box::pin(fut)),
        terminated: false,
    }
}

/// The future of [`from_future`].
#[must_use = "dropping a pending future cancels its work; .await it, wait on it, or detach() it"]
pub struct FromFuture<Fut: Future> {
    driven: Driven<Fut>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

/// Where a [`FromFuture`] stands.
enum Driven<Fut: Future> {
    Running(Pin<Box<Fut>>),
    Done(Fut::Output),
    Panicked(String),
    Taken,
}

// The future is pinned in its own box; the output is only ever moved out.
impl<Fut: Future> Unpin for FromFuture<Fut> {}

impl<Fut, T, E> ApiFuture for FromFuture<Fut>
where
    Fut: Future<Output = Result<T, E>> + Send,
    T: Send,
    E: Send,
{
    type Value = T;
    type Failure = E;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Driven::Running(fut) = &mut self.driven else {
            return Poll::Ready(());
        };
        let finished = match caught(|| fut.as_mut().poll(cx)) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => Driven::Done(outcome),
            Err(message) => Driven::Panicked(message),
        };
        let fut = std::mem::replace(&mut self.driven, finished);
        // The future's drop is user code too: the outcome stands whatever it does.
        drop_caught(fut);
        Poll::Ready(())
    }

    fn try_result(&mut self) -> Option<Result<T, Error<E>>> {
        if let Driven::Running(_) = self.driven {
            return None;
        }
        Some(match std::mem::replace(&mut self.driven, Driven::Taken) {
            Driven::Done(outcome) => outcome.map_err(Error::Failed),
            Driven::Panicked(message) => Err(Error::Panicked(message)),
            Driven::Running(_) | Driven::Taken => Err(Error::Consumed),
        })
    }

    fn peek_failed(&mut self) -> Option<bool> {
        match &self.driven {
            Driven::Running(_) => None,
            Driven::Done(outcome) => Some(outcome.is_err()),
            Driven::Panicked(_) => Some(true),
            Driven::Taken => Some(false),
        }
    }
}

fused_future!(
    [Fut, T, E] FromFuture<Fut>,
    [Fut: Future<Output = Result<T, E>> + Send, T: Send, E: Send]
);

impl<Fut: Future> fmt::Debug for FromFuture<Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.driven {
            Driven::Running(_) => "pending",
            Driven::Done(_) | Driven::Panicked(_) => "ready",
            Driven::Taken => "taken",
        };
        f.debug_struct("FromFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
