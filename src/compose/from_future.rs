//! [`from_future`]: any future as an [`ApiFuture`], driven by whoever waits on it.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::api_future::ApiFuture;
use crate::error::{Error, panic_message};
use crate::timeout::Await;

/// Wraps `fut` as an [`ApiFuture`] driven by whoever waits on it: no thread, no executor. A
/// blocking wait polls it on the calling thread; an async wait polls it in the waiting task.
/// This is how a smol app hands an async request to [`retry`](crate::retry).
///
/// Outcomes: `Ok(value)` / `Err(Error::Failed(e))` from the future's own `Result`,
/// `Err(Error::Panicked(..))` if polling it panics, then `Err(Error::Consumed)`. A wait that
/// times out leaves the future where it was; dropping the `FromFuture` drops the future.
///
/// The future is polled only by the waits, so it must not need a particular runtime (a
/// tokio-only future needs the tokio bridge recipe instead).
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
pub fn from_future<T, E, Fut>(fut: Fut) -> FromFuture<Fut, T, E>
where
    Fut: Future<Output = Result<T, E>> + Send,
{
    FromFuture {
        state: State::Running(Box::pin(fut)),
    }
}

/// The future of [`from_future`].
#[must_use = "futures do nothing unless you wait on them"]
pub struct FromFuture<Fut, T, E> {
    state: State<Fut, T, E>,
}

enum State<Fut, T, E> {
    Running(Pin<Box<Fut>>),
    Done(Result<T, Error<E>>),
    Taken,
}

impl<Fut, T, E> ApiFuture<T, E> for FromFuture<Fut, T, E>
where
    Fut: Future<Output = Result<T, E>> + Send,
    T: Send + Unpin,
    E: Send + Unpin,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let State::Running(fut) = &mut self.state else {
            return Poll::Ready(());
        };
        let polled = panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        self.state = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => State::Done(outcome.map_err(Error::Failed)),
            Err(payload) => State::Done(Err(Error::Panicked(panic_message(&*payload)))),
        };
        Poll::Ready(())
    }

    fn try_result(&mut self) -> Option<Result<T, Error<E>>> {
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Running(fut) => {
                self.state = State::Running(fut);
                None
            }
            State::Done(outcome) => Some(outcome),
            State::Taken => Some(Err(Error::Consumed)),
        }
    }

    fn peek_failed(&mut self) -> Option<bool> {
        match &self.state {
            State::Running(_) => None,
            State::Done(outcome) => Some(crate::callbacks::is_failure(outcome)),
            State::Taken => Some(false),
        }
    }
}

impl<Fut, T, E> IntoFuture for FromFuture<Fut, T, E>
where
    Fut: Future<Output = Result<T, E>> + Send,
    T: Send + Unpin,
    E: Send + Unpin,
{
    type Output = Result<T, Error<E>>;
    type IntoFuture = Await<Self, T, E>;

    fn into_future(self) -> Self::IntoFuture {
        Await::new(self)
    }
}

impl<Fut, T, E> fmt::Debug for FromFuture<Fut, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Running(_) => "running",
            State::Done(_) => "done",
            State::Taken => "consumed",
        };
        f.debug_struct("FromFuture").field("state", &state).finish()
    }
}
