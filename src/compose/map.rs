//! [`Map`], [`MapErr`] and [`AndThen`]: futures made from another future and a closure.

use std::fmt;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll};

use crate::api_future::ApiFuture;
use crate::error::{Error, panic_message};
use crate::timeout::Await;

/// Carries type parameters that only the trait impls use, without owning them (so that they
/// change neither `Send` nor `Unpin`).
type Types<T> = PhantomData<fn() -> T>;

/// Runs a user closure; a panic in it becomes `Error::Panicked` rather than unwinding into the
/// waiter.
fn guarded<R, E>(f: impl FnOnce() -> R) -> Result<R, Error<E>> {
    panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|payload| Error::Panicked(panic_message(&*payload)))
}

/// The future of [`ApiFutureExt::map`](crate::ApiFutureExt::map): the inner future's value
/// passed through `f`. Errors pass through unchanged.
#[must_use = "futures do nothing unless you wait on them"]
pub struct Map<A, F, T, U, E> {
    inner: A,
    f: Option<F>,
    _types: Types<(T, U, E)>,
}

impl<A, F, T, U, E> Map<A, F, T, U, E> {
    pub(crate) fn new(inner: A, f: F) -> Self {
        Map {
            inner,
            f: Some(f),
            _types: PhantomData,
        }
    }
}

impl<A, F, T, U, E> ApiFuture<U, E> for Map<A, F, T, U, E>
where
    A: ApiFuture<T, E>,
    F: FnOnce(T) -> U + Send + Unpin,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<U, Error<E>>> {
        let outcome = self.inner.try_result()?;
        Some(match outcome {
            Ok(value) => match self.f.take() {
                Some(f) => guarded(|| f(value)),
                None => Err(Error::Consumed),
            },
            Err(error) => Err(error),
        })
    }

    /// As the inner future's: mapping a value keeps it a value.
    fn peek_failed(&mut self) -> Option<bool> {
        self.inner.peek_failed()
    }
}

/// The future of [`ApiFutureExt::map_err`](crate::ApiFutureExt::map_err): the operation's own
/// error (`Error::Failed`) passed through `f`; every other outcome unchanged.
#[must_use = "futures do nothing unless you wait on them"]
pub struct MapErr<A, F, T, E, E2> {
    inner: A,
    f: Option<F>,
    _types: Types<(T, E, E2)>,
}

impl<A, F, T, E, E2> MapErr<A, F, T, E, E2> {
    pub(crate) fn new(inner: A, f: F) -> Self {
        MapErr {
            inner,
            f: Some(f),
            _types: PhantomData,
        }
    }
}

impl<A, F, T, E, E2> ApiFuture<T, E2> for MapErr<A, F, T, E, E2>
where
    A: ApiFuture<T, E>,
    F: FnOnce(E) -> E2 + Send + Unpin,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<T, Error<E2>>> {
        let outcome = self.inner.try_result()?;
        Some(match outcome {
            Ok(value) => Ok(value),
            Err(Error::Failed(error)) => match self.f.take() {
                Some(f) => guarded(|| f(error)).and_then(|mapped| Err(Error::Failed(mapped))),
                None => Err(Error::Consumed),
            },
            Err(other) => Err(other.map_failed(|_| unreachable!("Failed was matched above"))),
        })
    }

    /// As the inner future's: mapping an error keeps it an error.
    fn peek_failed(&mut self) -> Option<bool> {
        self.inner.peek_failed()
    }
}

/// The future of [`ApiFutureExt::and_then`](crate::ApiFutureExt::and_then): the first future,
/// then the future `f` makes from its value.
#[must_use = "futures do nothing unless you wait on them"]
pub struct AndThen<A, F, B, T, U, E> {
    stage: Stage<A, F, B, E>,
    _types: Types<(T, U)>,
}

enum Stage<A, F, B, E> {
    First(A, Option<F>),
    Second(B),
    /// The first future failed: its error, until a wait takes it.
    Failed(Option<Error<E>>),
}

impl<A, F, B, T, U, E> AndThen<A, F, B, T, U, E> {
    pub(crate) fn new(first: A, f: F) -> Self {
        AndThen {
            stage: Stage::First(first, Some(f)),
            _types: PhantomData,
        }
    }
}

impl<A, F, B, T, U, E> AndThen<A, F, B, T, U, E>
where
    A: ApiFuture<T, E>,
    B: ApiFuture<U, E>,
    F: FnOnce(T) -> B + Send + Unpin,
{
    /// Moves on to the second future once the first has an outcome; false while it has none.
    fn advance(&mut self) -> bool {
        let Stage::First(first, f) = &mut self.stage else {
            return true;
        };
        let Some(outcome) = first.try_result() else {
            return false;
        };
        self.stage = match (outcome, f.take()) {
            (Ok(value), Some(f)) => match guarded(|| f(value)) {
                Ok(second) => Stage::Second(second),
                Err(panicked) => Stage::Failed(Some(panicked)),
            },
            (Ok(_), None) => Stage::Failed(Some(Error::Consumed)),
            (Err(error), _) => Stage::Failed(Some(error)),
        };
        true
    }
}

impl<A, F, B, T, U, E> ApiFuture<U, E> for AndThen<A, F, B, T, U, E>
where
    A: ApiFuture<T, E>,
    B: ApiFuture<U, E>,
    F: FnOnce(T) -> B + Send + Unpin,
    E: Send + Unpin,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match &mut self.stage {
                Stage::First(first, _) => {
                    if first.poll_ready(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if !self.advance() {
                        return Poll::Pending;
                    }
                }
                Stage::Second(second) => return second.poll_ready(cx),
                Stage::Failed(_) => return Poll::Ready(()),
            }
        }
    }

    fn try_result(&mut self) -> Option<Result<U, Error<E>>> {
        if !self.advance() {
            return None;
        }
        match &mut self.stage {
            Stage::First(..) => None,
            Stage::Second(second) => second.try_result(),
            Stage::Failed(error) => Some(Err(match error {
                Some(Error::Cancelled) => Error::Cancelled,
                Some(Error::Abandoned) => Error::Abandoned,
                Some(Error::DeadlineExceeded) => Error::DeadlineExceeded,
                _ => error.take().unwrap_or(Error::Consumed),
            })),
        }
    }

    fn peek_failed(&mut self) -> Option<bool> {
        match &mut self.stage {
            Stage::First(first, _) => match first.peek_failed()? {
                // The first failed: so does the whole; a value moves on to the second future.
                true => Some(true),
                false => {
                    self.advance();
                    match &mut self.stage {
                        Stage::Second(second) => second.peek_failed(),
                        Stage::Failed(error) => {
                            Some(!matches!(error, None | Some(Error::Consumed)))
                        }
                        Stage::First(..) => None,
                    }
                }
            },
            Stage::Second(second) => second.peek_failed(),
            Stage::Failed(error) => Some(!matches!(error, None | Some(Error::Consumed))),
        }
    }
}

/// `IntoFuture` through the shared [`Await`], and an opaque `Debug`, for each combinator.
macro_rules! awaitable {
    ($ty:ident <$($p:ident),*>, $value:ty, $error:ty, where $($bounds:tt)*) => {
        impl<$($p),*> IntoFuture for $ty<$($p),*>
        where
            $($bounds)*
        {
            type Output = Result<$value, Error<$error>>;
            type IntoFuture = Await<Self, $value, $error>;

            fn into_future(self) -> Self::IntoFuture {
                Await::new(self)
            }
        }

        impl<$($p),*> fmt::Debug for $ty<$($p),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty)).finish_non_exhaustive()
            }
        }
    };
}

awaitable!(Map<A, F, T, U, E>, U, E, where A: ApiFuture<T, E>, F: FnOnce(T) -> U + Send + Unpin);
awaitable!(MapErr<A, F, T, E, E2>, T, E2, where A: ApiFuture<T, E>, F: FnOnce(E) -> E2 + Send + Unpin);
awaitable!(
    AndThen<A, F, B, T, U, E>, U, E,
    where A: ApiFuture<T, E>, B: ApiFuture<U, E>, F: FnOnce(T) -> B + Send + Unpin, E: Send + Unpin
);
