//! An `ApiFuture` adapter for the benches that compare the two sharing layers on one source.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use apifuture::{ApiFuture, Error};
use futures::channel::oneshot::{Canceled, Receiver};

/// A `futures::channel::oneshot` receiver as an [`apifuture::ApiFuture`]: what a user writes
/// to share a future of another channel with `ApiFutureExt::into_shared`. It lets the benches run
/// `SharedFuture` and `futures::future::Shared` over the very same source.
#[derive(Debug)]
pub struct FuturesOneshot {
    receiver: Receiver<u64>,
    /// A value the receiver gave to `poll_ready`, until `try_result` takes it.
    received: Option<Result<u64, Error<()>>>,
    taken: bool,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl apifuture::FusedFuture for FuturesOneshot {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl FuturesOneshot {
    pub fn new(receiver: Receiver<u64>) -> Self {
        FuturesOneshot {
            receiver,
            received: None,
            taken: false,
            terminated: false,
        }
    }
}

/// The receiver's outcome in apifuture's terms: a dropped sender abandons the future.
fn received(outcome: Result<u64, Canceled>) -> Result<u64, Error<()>> {
    outcome.map_err(|_| Error::Abandoned)
}

impl ApiFuture for FuturesOneshot {
    type Value = u64;
    type Failure = ();

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.taken || self.received.is_some() {
            return Poll::Ready(());
        }
        match Pin::new(&mut self.receiver).poll(cx) {
            Poll::Ready(outcome) => {
                self.received = Some(received(outcome));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn try_result(&mut self) -> Option<Result<u64, Error<()>>> {
        if self.taken {
            return Some(Err(Error::Consumed));
        }
        let outcome = match self.received.take() {
            Some(outcome) => outcome,
            None => match self.receiver.try_recv() {
                Ok(Some(value)) => Ok(value),
                Ok(None) => return None,
                Err(canceled) => received(Err(canceled)),
            },
        };
        self.taken = true;
        Some(outcome)
    }
}

impl Future for FuturesOneshot {
    type Output = Result<u64, Error<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = this.poll_outcome(cx);
        this.terminated |= polled.is_ready();
        polled
    }
}
