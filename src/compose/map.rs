//! [`MapValue`], [`MapFailure`] and [`ThenCall`]: futures made from another future and a closure.
//!
//! Each stores its closure boxed, one allocation per combinator. Written generic over the
//! closure instead (`impl<A, F: FnOnce(A::Value) -> U> ApiFuture for MapValue<A, F>`), a closure
//! signature tied to the inner future's associated types makes rustc reject `Send` async blocks
//! that await the combinator whenever those types hold a lifetime (`&'static str`, or the hidden
//! `'static` of `BoxError`): rust-lang/rust#110338. For the same reason no impl here requires
//! two associated types to be equal (`B: ApiFuture<Failure = A::Failure>`): [`ThenCall`] checks
//! that where it is made and keeps the identity conversion it implies as a `fn` pointer.

use std::fmt;
use std::task::{Context, Poll};

use crate::api_future::{ApiFuture, future_by_poll_outcome};
use crate::error::{Error, guarded};

/// The closure of a [`MapValue`].
type MapFn<A, U> = Box<dyn FnOnce(<A as ApiFuture>::Value) -> U + Send>;
/// The closure of a [`MapFailure`].
type MapFailureFn<A, E2> = Box<dyn FnOnce(<A as ApiFuture>::Failure) -> E2 + Send>;
/// The closure of an [`ThenCall`].
type ThenFn<A, B> = Box<dyn FnOnce(<A as ApiFuture>::Value) -> B + Send>;

/// The future of [`ApiFutureExt::map_value`](crate::ApiFutureExt::map_value): the inner future's value
/// passed through a closure that returns a `U`. Errors pass through unchanged.
#[must_use = "dropping a pending future cancels its work; .await it, wait on it, or detach() it"]
pub struct MapValue<A: ApiFuture, U> {
    inner: A,
    f: Option<MapFn<A, U>>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl<A: ApiFuture, U> MapValue<A, U> {
    pub(crate) fn new(inner: A, f: MapFn<A, U>) -> Self {
        MapValue {
            inner,
            f: Some(f),
            terminated: false,
        }
    }
}

impl<A: ApiFuture, U: Send> ApiFuture for MapValue<A, U> {
    type Value = U;
    type Failure = A::Failure;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<U, Error<A::Failure>>> {
        Some(match self.inner.try_result()? {
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

    fn done(&mut self) -> bool {
        self.inner.done()
    }

    fn done_unpolled(&mut self) -> Option<bool> {
        self.inner.done_unpolled()
    }
}

/// The future of [`ApiFutureExt::map_failure`](crate::ApiFutureExt::map_failure): the operation's own
/// error (`Error::Failed`) passed through a closure that returns an `E2`; every other outcome
/// unchanged.
#[must_use = "dropping a pending future cancels its work; .await it, wait on it, or detach() it"]
pub struct MapFailure<A: ApiFuture, E2> {
    inner: A,
    f: Option<MapFailureFn<A, E2>>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl<A: ApiFuture, E2> MapFailure<A, E2> {
    pub(crate) fn new(inner: A, f: MapFailureFn<A, E2>) -> Self {
        MapFailure {
            inner,
            f: Some(f),
            terminated: false,
        }
    }
}

impl<A: ApiFuture, E2: Send> ApiFuture for MapFailure<A, E2> {
    type Value = A::Value;
    type Failure = E2;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<A::Value, Error<E2>>> {
        Some(match self.inner.try_result()? {
            Ok(value) => Ok(value),
            Err(error) => Err(match error.retype() {
                Ok(other) => other,
                Err(failure) => match self.f.take() {
                    Some(f) => {
                        guarded(|| f(failure)).map_or_else(|panicked| panicked, Error::Failed)
                    }
                    None => Error::Consumed,
                },
            }),
        })
    }

    /// As the inner future's: mapping an error keeps it an error.
    fn peek_failed(&mut self) -> Option<bool> {
        self.inner.peek_failed()
    }

    fn done(&mut self) -> bool {
        self.inner.done()
    }

    fn done_unpolled(&mut self) -> Option<bool> {
        self.inner.done_unpolled()
    }
}

/// The future of [`ApiFutureExt::then_call`](crate::ApiFutureExt::then_call): the first future,
/// then the future `B` that a closure makes from its value.
#[must_use = "dropping a pending future cancels its work; .await it, wait on it, or detach() it"]
pub struct ThenCall<A: ApiFuture, B: ApiFuture> {
    chain: Chain<A, B>,
    /// The first future's error as the second's: the identity, the two types being one.
    convert: fn(A::Failure) -> B::Failure,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

/// Which of the two futures an [`ThenCall`] is on.
enum Chain<A: ApiFuture, B: ApiFuture> {
    First(A, Option<ThenFn<A, B>>),
    Second(B),
    /// The first future failed: its error, until a wait takes it.
    Failed(Option<Error<B::Failure>>),
}

// No field is pinned: both futures are `Unpin`, and a stored error is only ever moved out.
impl<A: ApiFuture, B: ApiFuture> Unpin for ThenCall<A, B> {}

impl<A: ApiFuture, B: ApiFuture> ThenCall<A, B> {
    pub(crate) fn new(first: A, f: ThenFn<A, B>, convert: fn(A::Failure) -> B::Failure) -> Self {
        ThenCall {
            chain: Chain::First(first, Some(f)),
            convert,
            terminated: false,
        }
    }

    /// Moves on to the second future once the first has an outcome; false while it has none.
    fn advance(&mut self) -> bool {
        let Chain::First(first, f) = &mut self.chain else {
            return true;
        };
        let Some(outcome) = first.try_result() else {
            return false;
        };
        self.chain = match (outcome, f.take()) {
            (Ok(value), Some(f)) => match guarded(|| f(value)) {
                Ok(second) => Chain::Second(second),
                Err(panicked) => Chain::Failed(Some(panicked)),
            },
            (Ok(_), None) => Chain::Failed(Some(Error::Consumed)),
            (Err(error), _) => Chain::Failed(Some(error.map_failed(self.convert))),
        };
        true
    }
}

impl<A: ApiFuture, B: ApiFuture> ApiFuture for ThenCall<A, B> {
    type Value = B::Value;
    type Failure = B::Failure;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match &mut self.chain {
                Chain::First(first, _) => {
                    if first.poll_ready(cx).is_pending() || !self.advance() {
                        return Poll::Pending;
                    }
                }
                Chain::Second(second) => return second.poll_ready(cx),
                Chain::Failed(_) => return Poll::Ready(()),
            }
        }
    }

    fn try_result(&mut self) -> Option<Result<B::Value, Error<B::Failure>>> {
        if !self.advance() {
            return None;
        }
        match &mut self.chain {
            Chain::First(..) => None,
            Chain::Second(second) => second.try_result(),
            Chain::Failed(error) => Some(Err(match error.as_ref().and_then(Error::state) {
                Some(state) => state,
                None => error.take().unwrap_or(Error::Consumed),
            })),
        }
    }

    fn peek_failed(&mut self) -> Option<bool> {
        if let Chain::First(first, _) = &mut self.chain {
            // A failed first future fails the whole; a value moves on to the second.
            if first.peek_failed()? {
                return Some(true);
            }
            self.advance();
        }
        match &mut self.chain {
            Chain::First(..) => None,
            Chain::Second(second) => second.peek_failed(),
            Chain::Failed(error) => Some(error.as_ref().is_some_and(Error::is_failure)),
        }
    }
}

future_by_poll_outcome!([A: ApiFuture, U: Send] MapValue<A, U>, []);
future_by_poll_outcome!([A: ApiFuture, E2: Send] MapFailure<A, E2>, []);
future_by_poll_outcome!([A: ApiFuture, B: ApiFuture] ThenCall<A, B>, []);

/// The inner future while the closure is still to run; `taken` once the outcome went through.
impl<A: ApiFuture, U> fmt::Debug for MapValue<A, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_mapped(f, "MapValue", &self.inner, self.f.is_none())
    }
}

/// The inner future, until a failure went through the closure (`taken`).
impl<A: ApiFuture, E2> fmt::Debug for MapFailure<A, E2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_mapped(f, "MapFailure", &self.inner, self.f.is_none())
    }
}

fn debug_mapped(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    inner: &dyn fmt::Debug,
    taken: bool,
) -> fmt::Result {
    let mut debug = f.debug_struct(name);
    if taken {
        debug.field("state", &"taken");
    } else {
        debug.field("inner", inner);
    }
    debug.finish_non_exhaustive()
}

/// The future it is on: `first`, `second`, or the state of a first future that failed.
impl<A: ApiFuture, B: ApiFuture> fmt::Debug for ThenCall<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ThenCall");
        match &self.chain {
            Chain::First(first, _) => debug.field("first", first),
            Chain::Second(second) => debug.field("second", second),
            Chain::Failed(Some(_)) => debug.field("state", &"ready"),
            Chain::Failed(None) => debug.field("state", &"taken"),
        };
        debug.finish_non_exhaustive()
    }
}
