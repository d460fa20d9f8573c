//! The closures that make attempts and probes ([`AttemptFn`], [`ProbeFn`]), what a probe
//! reports ([`Progress`]) and what the classifier says of a failure ([`RetryDecision`]).

use std::time::Duration;

use crate::api_future::ApiFuture;

/// What the operation's classifier says about a failed attempt's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Do not retry: the whole operation ends with this error.
    Stop,
    /// Retry after the policy's next backoff.
    Retry,
    /// Retry after this long: a server's hint (`Retry-After`). Not capped by the policy's
    /// `max_delay`, only by its deadline.
    RetryAfter(Duration),
}

/// What one probe of a long-running server-side operation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<T> {
    /// The operation finished with this value.
    Ready(T),
    /// Not finished: probe again after the policy's backoff, which starts at its first delay
    /// and grows with each `Pending` in a row.
    Pending,
    /// Not finished: probe again after this long (the server's hint). `Duration::ZERO`
    /// probes again at once, as a long-polling server wants.
    PendingFor(Duration),
}

/// The closure that makes each attempt of a [`retry`](super::retry); sealed, implemented for
/// every `FnMut(u32) -> A + Send` with `A: ApiFuture`. It names the attempt type, so that
/// [`Retry<F>`](super::Retry) needs no other type parameter; write `F: AttemptFn` to name one.
pub trait AttemptFn: Send + Sealed {
    /// The future of one attempt.
    type Attempt: ApiFuture;
    /// Makes attempt number `number`, counting from 1.
    #[doc(hidden)]
    fn attempt(&mut self, number: u32) -> Self::Attempt;
}

/// The closure that makes each probe of a [`poll_until_ready`](super::poll_until_ready);
/// sealed, implemented for every `FnMut(u32) -> A + Send` with
/// `A: ApiFuture<Value = Progress<T>>`. `Ready` is that `T`, the value the poll ends with; write
/// `F: ProbeFn` to name a [`Polling<F>`](super::Polling).
pub trait ProbeFn: AttemptFn {
    /// What the poll gives once a probe reports [`Progress::Ready`].
    type Ready: Send;
}

/// Keeps [`AttemptFn`] and [`ProbeFn`] to the closures they are written for.
mod sealed {
    pub trait Sealed {}
}
use sealed::Sealed;

impl<F, A> Sealed for F
where
    F: FnMut(u32) -> A + Send,
    A: ApiFuture,
{
}

impl<F, A> AttemptFn for F
where
    F: FnMut(u32) -> A + Send,
    A: ApiFuture,
{
    type Attempt = A;

    #[inline]
    fn attempt(&mut self, number: u32) -> A {
        self(number)
    }
}

impl<F, A, T> ProbeFn for F
where
    F: FnMut(u32) -> A + Send,
    A: ApiFuture<Value = Progress<T>>,
    T: Send,
{
    type Ready = T;
}

pub(crate) type AttemptOf<F> = <F as AttemptFn>::Attempt;
pub(crate) type ValueOf<F> = <AttemptOf<F> as ApiFuture>::Value;
pub(crate) type FailureOf<F> = <AttemptOf<F> as ApiFuture>::Failure;
/// How an attempt's value is read: every value ends a retry, a probe's says whether it did.
pub(crate) type Read<F, V> = fn(ValueOf<F>) -> Progress<V>;
