//! [`BoxApiFuture`]: any [`ApiFuture`] behind one type.

use std::fmt;
use std::future::IntoFuture;
use std::task::{Context, Poll};

use crate::api_future::ApiFuture;
use crate::error::{BoxError, Error};
use crate::timeout::Await;

/// The two primitives of [`ApiFuture`], in a form that can be a trait object (the trait's own
/// waits are generic, so it cannot).
trait Erased<T, E>: Send {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    fn try_result(&mut self) -> Option<Result<T, Error<E>>>;
    fn peek_failed(&mut self) -> Option<bool>;
}

impl<A: ApiFuture<T, E>, T, E> Erased<T, E> for A {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        ApiFuture::poll_ready(self, cx)
    }

    fn try_result(&mut self) -> Option<Result<T, Error<E>>> {
        ApiFuture::try_result(self)
    }

    fn peek_failed(&mut self) -> Option<bool> {
        ApiFuture::peek_failed(self)
    }
}

/// Any [`ApiFuture`] with value `T` and error `E`, boxed: one type for futures of different
/// origins (a [`Retry`](crate::Retry), a [`Map`](crate::Map), a spawned job), so that they can
/// share a `Vec`, a struct field or an SDK method's return type. Made by
/// [`ApiFutureExt::boxed`](crate::ApiFutureExt::boxed).
///
/// ```
/// use apifuture::{ready, retry, ApiFuture, ApiFutureExt, BoxApiFuture, BoxError, RetryPolicy};
///
/// let mut futures: Vec<BoxApiFuture<u32>> = vec![
///     ready::<u32, BoxError>(1).boxed(),
///     ready::<u32, BoxError>(20).map(|v| v + 1).boxed(),
///     retry(RetryPolicy::new(), |_| ready::<u32, BoxError>(3)).boxed(),
/// ];
/// let values: Vec<u32> = futures.iter_mut().map(|f| f.result(None).unwrap()).collect();
/// assert_eq!(values, [1, 21, 3]);
/// ```
#[must_use = "futures do nothing unless you wait on them"]
pub struct BoxApiFuture<T, E = BoxError> {
    inner: Box<dyn Erased<T, E>>,
}

impl<T, E> BoxApiFuture<T, E> {
    pub(crate) fn new<A: ApiFuture<T, E> + 'static>(future: A) -> Self {
        BoxApiFuture {
            inner: Box::new(future),
        }
    }
}

impl<T: Send, E: Send> ApiFuture<T, E> for BoxApiFuture<T, E> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<T, Error<E>>> {
        self.inner.try_result()
    }

    fn peek_failed(&mut self) -> Option<bool> {
        self.inner.peek_failed()
    }
}

impl<T: Send, E: Send> IntoFuture for BoxApiFuture<T, E> {
    type Output = Result<T, Error<E>>;
    type IntoFuture = Await<Self, T, E>;

    fn into_future(self) -> Self::IntoFuture {
        Await::new(self)
    }
}

impl<T, E> fmt::Debug for BoxApiFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxApiFuture").finish_non_exhaustive()
    }
}
