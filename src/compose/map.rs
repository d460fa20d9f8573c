//! [`MapValue`], [`MapFailure`] and [`ThenCall`]: futures made from a future and a closure.

use std::fmt;
use std::task::{Context, Poll};

use super::result_by;
use crate::api_future::{ApiFuture, OutcomeOf, api_future_via, fused_future};
use crate::error::{Error, Held, is_failure};
use crate::panic::{drop_caught, guarded};
use crate::timeout::Deadline;

/// The closure of a [`ThenCall`].
type ThenFn<A, B> = Box<dyn FnOnce(<A as ApiFuture>::Value) -> B + Send>;

/// The future of [`ApiFutureExt::map_value`](crate::ApiFutureExt::map_value): the inner future's
/// value passed through a closure that returns a `U`. Errors pass through unchanged.
#[must_use = "dropping a pending future cancels its work; .await it, wait on it, or detach() it"]
pub struct MapValue<A: ApiFuture, U> {
    map: Map<A, OnValue<A, U>>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

/// The future of [`ApiFutureExt::map_failure`](crate::ApiFutureExt::map_failure): the
/// operation's own error (`Error::Failed`) passed through a closure that returns an `E2`; every
/// other outcome unchanged.
#[must_use = "dropping a pending future cancels its work; .await it, wait on it, or detach() it"]
pub struct MapFailure<A: ApiFuture, E2> {
    map: Map<A, OnFailure<A, E2>>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl<A: ApiFuture, U> MapValue<A, U> {
    pub(crate) fn new(inner: A, f: Box<dyn FnOnce(A::Value) -> U + Send>) -> Self {
        MapValue {
            map: Map::new(inner, OnValue::Closure(f)),
            terminated: false,
        }
    }
}

impl<A: ApiFuture, E2> MapFailure<A, E2> {
    pub(crate) fn new(inner: A, f: Box<dyn FnOnce(A::Failure) -> E2 + Send>) -> Self {
        MapFailure {
            map: Map::new(inner, OnFailure(f)),
            terminated: false,
        }
    }
}

// Nothing is pinned: a value the closure gave early is only ever moved out.
impl<A: ApiFuture, U> Unpin for MapValue<A, U> {}

api_future_via!([A: ApiFuture, U: Send] MapValue<A, U> => |this| this.map, U, A::Failure);
api_future_via!([A: ApiFuture, E2: Send] MapFailure<A, E2> => |this| this.map, A::Value, E2);

/// An inner future and a closure its outcome goes through once: the one body of [`MapValue`]
/// and [`MapFailure`], which differ in what the closure maps ([`Mapping`]). The closure is boxed:
/// made generic over it (`impl<A, F: FnOnce(A::Value) -> U> ApiFuture for MapValue<A, F>`), a
/// closure signature tied to the inner future's associated types makes rustc reject `Send` async
/// blocks that await the combinator whenever those types hold a lifetime (`&'static str`, or the
/// hidden `'static` of `BoxError`): rust-lang/rust#110338. Likewise no impl here requires two
/// associated types to be equal (`B: ApiFuture<Failure = A::Failure>`): [`ThenCall`] checks that
/// where it is made and keeps the implied identity conversion as a `fn` pointer.
struct Map<A, M> {
    inner: A,
    /// The closure, until it ran.
    f: Option<M>,
}

/// What a [`Map`]'s closure maps.
trait Mapping<A: ApiFuture>: Sized {
    type Value: Send;
    type Failure: Send;
    /// The outcome through the closure, if it is still there (`Consumed` otherwise) and the
    /// outcome is what it maps.
    fn apply(
        f: &mut Option<Self>,
        outcome: OutcomeOf<A>,
    ) -> Result<Self::Value, Error<Self::Failure>>;

    /// Whether the outcome, once there, is a failure: the inner future's answer, for a mapping
    /// that keeps a value a value and an error an error.
    fn peek_failed(_f: &mut Option<Self>, inner: &mut A) -> Option<bool> {
        inner.peek_failed()
    }
}

enum OnValue<A: ApiFuture, U> {
    Closure(Box<dyn FnOnce(A::Value) -> U + Send>),
    /// The closure ran early, for [`Mapping::peek_failed`]: what it gave, until a wait takes it.
    Ran(Held<U, A::Failure>),
}

struct OnFailure<A: ApiFuture, E2>(Box<dyn FnOnce(A::Failure) -> E2 + Send>);

impl<A: ApiFuture, U: Send> Mapping<A> for OnValue<A, U> {
    type Value = U;
    type Failure = A::Failure;

    #[inline]
    fn apply(f: &mut Option<Self>, outcome: OutcomeOf<A>) -> Result<U, Error<A::Failure>> {
        if let Some(OnValue::Ran(held)) = f {
            return held.hand_out();
        }
        let value = match outcome {
            Ok(value) => value,
            Err(error) => return Err(unused(f, error)),
        };
        match f.take() {
            Some(OnValue::Closure(f)) => guarded(|| f(value)),
            _ => Err(Error::Consumed),
        }
    }

    /// A value may still fail: the closure can panic. So it runs now, once.
    fn peek_failed(f: &mut Option<Self>, inner: &mut A) -> Option<bool> {
        match f {
            Some(OnValue::Ran(held)) => return Some(held.is_failure()),
            // The value went out already: the inner future answers (`Consumed`, or a state).
            None => return inner.peek_failed(),
            Some(OnValue::Closure(_)) => {}
        }
        if inner.peek_failed()? {
            return Some(true);
        }
        let ran = Self::apply(f, inner.try_result()?);
        let failed = is_failure(&ran);
        *f = Some(OnValue::Ran(Held::new(ran)));
        Some(failed)
    }
}

impl<A: ApiFuture, E2: Send> Mapping<A> for OnFailure<A, E2> {
    type Value = A::Value;
    type Failure = E2;

    #[inline]
    fn apply(f: &mut Option<Self>, outcome: OutcomeOf<A>) -> Result<A::Value, Error<E2>> {
        let error = match outcome {
            Ok(value) => {
                drop_caught(f.take());
                return Ok(value);
            }
            Err(error) => error,
        };
        let failure = match error.retype() {
            Ok(other) => return Err(unused(f, other)),
            Err(failure) => failure,
        };
        Err(match f.take() {
            Some(OnFailure(f)) => {
                guarded(|| f(failure)).map_or_else(|panicked| panicked, Error::Failed)
            }
            None => Error::Consumed,
        })
    }
}

/// Passes on an outcome the closure does not map. Unless a wait only timed out, that outcome is
/// the end: the closure, which will not run, is dropped, so a map holds nothing after its end
/// (what the closure holds is released: a sequence's open turn) whether its closure ran or not.
fn unused<M, E>(f: &mut Option<M>, error: Error<E>) -> Error<E> {
    if !matches!(error, Error::Timeout | Error::WouldBlockExecutor) {
        drop_caught(f.take());
    }
    error
}

impl<A, M> Map<A, M> {
    fn new(inner: A, f: M) -> Self {
        Map { inner, f: Some(f) }
    }
}

impl<A: ApiFuture, M: Mapping<A>> Map<A, M> {
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn try_result(&mut self) -> Option<Result<M::Value, Error<M::Failure>>> {
        Some(M::apply(&mut self.f, self.inner.try_result()?))
    }

    /// The inner future's own blocking wait, then the closure (a timeout passes through it).
    #[inline]
    fn wait_blocking(&mut self, deadline: Deadline) -> Result<M::Value, Error<M::Failure>> {
        M::apply(&mut self.f, result_by(&mut self.inner, deadline))
    }

    /// As the inner future's: mapping keeps a value a value and an error an error.
    fn peek_failed(&mut self) -> Option<bool> {
        M::peek_failed(&mut self.f, &mut self.inner)
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

/// Which of the two futures a [`ThenCall`] is on.
enum Chain<A: ApiFuture, B: ApiFuture> {
    First(A, Option<ThenFn<A, B>>),
    Second(B),
    /// The first future failed (or the closure panicked): that error, until a wait takes it.
    Failed(Held<B::Value, B::Failure>),
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
        let Chain::First(first, _) = &mut self.chain else {
            return true;
        };
        let Some(outcome) = first.try_result() else {
            return false;
        };
        self.move_on(outcome);
        true
    }

    /// Moves on from the first future's outcome: to the future the closure makes from its value,
    /// or to its error.
    fn move_on(&mut self, outcome: OutcomeOf<A>) {
        let Chain::First(_, f) = &mut self.chain else {
            return;
        };
        let next = match (outcome, f.take()) {
            (Ok(value), Some(f)) => match guarded(|| f(value)) {
                Ok(second) => Chain::Second(second),
                Err(panicked) => Chain::Failed(Held::new(Err(panicked))),
            },
            (Ok(_), None) => Chain::Failed(Held::new(Err(Error::Consumed))),
            (Err(error), f) => {
                drop_caught(f);
                Chain::Failed(Held::new(Err(error.map_failed(self.convert))))
            }
        };
        // The first future, done, and the closure if it did not run: user code, whose drop may
        // panic.
        drop_caught(std::mem::replace(&mut self.chain, next));
    }

    /// The blocking waits: each future's own in turn (which may park, or use its channel's timed
    /// receive), to one deadline.
    fn block(&mut self, mut deadline: Deadline) -> OutcomeOf<Self> {
        if let Some(outcome) = self.try_result() {
            return outcome;
        }
        if !deadline.looks_only() {
            deadline.start();
        }
        if let Chain::First(first, _) = &mut self.chain {
            match result_by(first, deadline) {
                // Still pending: the first future keeps its outcome for a later wait.
                Err(error @ (Error::Timeout | Error::WouldBlockExecutor)) => {
                    return Err(error.map_failed(self.convert));
                }
                outcome => self.move_on(outcome),
            }
        }
        match &mut self.chain {
            Chain::First(..) => Err(Error::Timeout),
            Chain::Second(second) => result_by(second, deadline),
            Chain::Failed(held) => held.hand_out(),
        }
    }
}

impl<A: ApiFuture, B: ApiFuture> ApiFuture for ThenCall<A, B> {
    type Value = B::Value;
    type Failure = B::Failure;

    fn wait_blocking(&mut self, deadline: Deadline) -> OutcomeOf<Self> {
        self.block(deadline)
    }

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
            Chain::Failed(held) => Some(held.hand_out()),
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
            Chain::Failed(held) => Some(held.is_failure()),
        }
    }
}

fused_future!([A: ApiFuture, U: Send] MapValue<A, U>, []);
fused_future!([A: ApiFuture, E2: Send] MapFailure<A, E2>, []);
fused_future!([A: ApiFuture, B: ApiFuture] ThenCall<A, B>, []);

/// The inner future, which says whether its outcome went out (`taken`) or the state it ended in;
/// `state: "ready"`, then `"taken"`, for what a closure run early gave.
impl<A: ApiFuture, U> fmt::Debug for MapValue<A, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ran = match &self.map.f {
            Some(OnValue::Ran(held)) => Some(held.state()),
            _ => None,
        };
        self.map.debug("MapValue", ran, f)
    }
}

/// The inner future, which says whether its outcome went out (`taken`) or the state it ended in.
impl<A: ApiFuture, E2> fmt::Debug for MapFailure<A, E2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.map.debug("MapFailure", None, f)
    }
}

impl<A: fmt::Debug, M> Map<A, M> {
    /// `ran`: the closure ran early, and this is the state of what it gave.
    fn debug(&self, name: &str, ran: Option<&str>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct(name);
        match ran {
            Some(state) => debug.field("state", &state),
            None => debug.field("inner", &self.inner),
        };
        debug.finish_non_exhaustive()
    }
}

/// The future it is on: `first`, `second`, or the state of a first future that failed.
impl<A: ApiFuture, B: ApiFuture> fmt::Debug for ThenCall<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ThenCall");
        match &self.chain {
            Chain::First(first, _) => debug.field("first", first),
            Chain::Second(second) => debug.field("second", second),
            Chain::Failed(held) => debug.field("state", &held.state()),
        };
        debug.finish_non_exhaustive()
    }
}
