//! [`BoxApiFuture`]: any [`ApiFuture`] behind one type.

use std::fmt;
use std::task::{Context, Poll};

use crate::api_future::{ApiFuture, api_future_via, fused_future};
use crate::error::{BoxError, Error};
use crate::timeout::Deadline;

/// The primitives of [`ApiFuture`] as a trait object: `dyn ApiFuture` would need its
/// `Future::Output` spelled out beside the two associated types in every user's signature.
trait Erased<T, E>: fmt::Debug + Send {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    fn try_result(&mut self) -> Option<Result<T, Error<E>>>;
    fn peek_failed(&mut self) -> Option<bool>;
    fn done(&mut self) -> bool;
    fn done_unpolled(&mut self) -> Option<bool>;
    fn wait_blocking(&mut self, deadline: Deadline) -> Result<T, Error<E>>;
}

impl<A: ApiFuture> Erased<A::Value, A::Failure> for A {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        ApiFuture::poll_ready(self, cx)
    }

    fn try_result(&mut self) -> Option<Result<A::Value, Error<A::Failure>>> {
        ApiFuture::try_result(self)
    }

    fn peek_failed(&mut self) -> Option<bool> {
        ApiFuture::peek_failed(self)
    }

    fn done(&mut self) -> bool {
        ApiFuture::done(self)
    }

    fn done_unpolled(&mut self) -> Option<bool> {
        ApiFuture::done_unpolled(self)
    }

    fn wait_blocking(&mut self, deadline: Deadline) -> Result<A::Value, Error<A::Failure>> {
        super::result_by(self, deadline)
    }
}

/// Any [`ApiFuture`] with value `T` and error `E`, boxed: one type for futures of different
/// origins (a [`Retry`](crate::Retry), a [`MapValue`](crate::MapValue), a spawned job), so that
/// they can share a `Vec`, a struct field, an SDK method's return type or a `dyn` trait's method.
/// Made by [`ApiFutureExt::into_boxed`](crate::ApiFutureExt::into_boxed).
///
/// ```
/// use apifuture::{ready, retry, ApiFuture, ApiFutureExt, BoxApiFuture, BoxError, RetryPolicy};
///
/// let mut futures: Vec<BoxApiFuture<u32>> = vec![
///     ready::<u32, BoxError>(1).into_boxed(),
///     ready::<u32, BoxError>(20).map_value(|v| v + 1).into_boxed(),
///     retry(RetryPolicy::new(), |_| ready::<u32, BoxError>(3)).into_boxed(),
/// ];
/// let values: Vec<u32> = futures.iter_mut().map(|f| f.result(None).unwrap()).collect();
/// assert_eq!(values, [1, 21, 3]);
/// ```
#[must_use = "dropping a pending future cancels its work; .await it, wait on it, or detach() it"]
pub struct BoxApiFuture<T, E = BoxError> {
    inner: Box<dyn Erased<T, E>>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl<T, E> BoxApiFuture<T, E> {
    pub(crate) fn new<A: ApiFuture<Value = T, Failure = E> + 'static>(future: A) -> Self {
        BoxApiFuture {
            inner: Box::new(future),
            terminated: false,
        }
    }
}

api_future_via!([T: Send, E: Send] BoxApiFuture<T, E> => |this| this.inner, T, E);
fused_future!([T: Send, E: Send] BoxApiFuture<T, E>, []);

/// Shows the boxed future.
impl<T, E> fmt::Debug for BoxApiFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BoxApiFuture").field(&self.inner).finish()
    }
}
