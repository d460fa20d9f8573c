//! Why a wait ended without a value.

use std::fmt;
use std::sync::Arc;

/// The operation's error type when the caller picks none: any error that can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a wait ended without a value.
///
/// `E` is the operation's own error type, carried by [`Error::Failed`]. Every other variant comes
/// from the future itself: a timeout, a cancellation, a producer that went away. Two groups behave
/// differently on the next wait:
///
/// - **Transient:** [`Timeout`](Error::Timeout) and
///   [`WouldBlockExecutor`](Error::WouldBlockExecutor) leave the future pending; wait again (or
///   `.await`) to get the outcome.
/// - **Final:** [`Failed`](Error::Failed) and [`Panicked`](Error::Panicked) are outcomes, handed
///   out once (the next wait returns [`Consumed`](Error::Consumed));
///   [`Cancelled`](Error::Cancelled), [`Abandoned`](Error::Abandoned) and
///   [`DeadlineExceeded`](Error::DeadlineExceeded) are states, returned again by every later wait.
///
/// `Debug` needs only `E: Debug` (never the value type), and `Error<E>` is a
/// [`std::error::Error`] whenever `E` is `Debug + Display`, so `Error<BoxError>` works with `?`
/// into `Box<dyn std::error::Error>`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{promise, ApiFuture, Error};
///
/// let (promise, mut future) = promise::<u32, std::io::Error>();
/// let err = future.result(Duration::ZERO).unwrap_err();
/// assert!(err.is_timeout());
/// assert_eq!(err.to_string(), "timed out waiting for the result");
///
/// promise.set_result(7);
/// assert_eq!(future.result(None).unwrap(), 7); // the timeout lost nothing
/// assert!(matches!(future.result(None), Err(Error::Consumed)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error<E = BoxError> {
    /// The wait ran out of time. The future is still pending and may be waited on again.
    Timeout,
    /// The operation itself failed with its own error.
    Failed(E),
    /// The future was cancelled before it completed.
    Cancelled,
    /// The producer went away (its [`Promise`](crate::Promise) was dropped) without completing it.
    Abandoned,
    /// The producing closure panicked; this is the panic's message (or a placeholder when the
    /// payload was not a string).
    Panicked(String),
    /// The outcome was already taken by an earlier wait.
    Consumed,
    /// The operation's own budget (a retry deadline, a polling limit) ran out. Unlike
    /// [`Timeout`](Error::Timeout), the future is finished.
    DeadlineExceeded,
    /// A blocking wait was called on the crate's background executor thread (in a
    /// [`spawn_async`](crate::spawn_async) task or a future run by
    /// [`background`](crate::ApiFutureExt::background)) before the outcome was there: waiting would
    /// stall every background task, and deadlock if the outcome is to come from one of them. The
    /// wait returned at once instead and, like [`Timeout`](Error::Timeout), changed nothing: the
    /// future is still pending; `.await` it there. A wait on a complete future, or with
    /// `Duration::ZERO`, works everywhere.
    WouldBlockExecutor,
}

/// `is_timeout()` and the other one-variant predicates, from `/// doc` `name => variant,` rows.
macro_rules! predicates {
    ($($(#[$doc:meta])* $name:ident => $variant:pat,)*) => {
        impl<E> Error<E> {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> bool {
                    matches!(self, $variant)
                }
            )*
        }
    };
}

predicates! {
    /// `true` for [`Error::Timeout`]: the future is still pending.
    is_timeout => Error::Timeout,
    /// `true` for [`Error::Failed`]: the operation reported its own error.
    is_failed => Error::Failed(_),
    /// `true` for [`Error::Cancelled`].
    is_cancelled => Error::Cancelled,
    /// `true` for [`Error::Abandoned`].
    is_abandoned => Error::Abandoned,
    /// `true` for [`Error::Panicked`].
    is_panicked => Error::Panicked(_),
    /// `true` for [`Error::Consumed`].
    is_consumed => Error::Consumed,
    /// `true` for [`Error::DeadlineExceeded`].
    is_deadline_exceeded => Error::DeadlineExceeded,
    /// `true` for [`Error::WouldBlockExecutor`]: the future is still pending.
    is_would_block_executor => Error::WouldBlockExecutor,
}

impl<E> Error<E> {
    /// `true` if this error is the future's outcome and that outcome is a failure: every variant
    /// but [`Timeout`](Error::Timeout) and [`WouldBlockExecutor`](Error::WouldBlockExecutor) (the
    /// future is still pending) and [`Consumed`](Error::Consumed) (the outcome went to an earlier
    /// wait). This is what [`wait`](crate::wait) with
    /// [`ReturnWhen::FirstFailed`](crate::ReturnWhen) counts.
    ///
    /// ```
    /// use apifuture::Error;
    /// assert!(Error::Failed("500").is_failure());
    /// assert!(Error::<&str>::Cancelled.is_failure());
    /// assert!(!Error::<&str>::Timeout.is_failure());
    /// assert!(!Error::<&str>::Consumed.is_failure());
    /// ```
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            Error::Timeout | Error::WouldBlockExecutor | Error::Consumed
        )
    }

    /// The operation's own error, if this is [`Error::Failed`].
    ///
    /// ```
    /// let err = apifuture::Error::Failed("boom");
    /// assert_eq!(err.as_failed(), Some(&"boom"));
    /// ```
    pub fn as_failed(&self) -> Option<&E> {
        match self {
            Error::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Gives back the operation's own error, if this is [`Error::Failed`].
    ///
    /// ```
    /// let err: apifuture::Error<&str> = apifuture::Error::Failed("boom");
    /// assert_eq!(err.into_failed(), Some("boom"));
    /// ```
    pub fn into_failed(self) -> Option<E> {
        match self {
            Error::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Converts the operation's error with `f`; every other variant is kept as it is.
    ///
    /// ```
    /// use apifuture::Error;
    /// let err: Error<u16> = Error::Failed(503);
    /// assert_eq!(err.map_failed(|code| format!("HTTP {code}")), Error::Failed("HTTP 503".to_string()));
    /// assert_eq!(Error::<u16>::Timeout.map_failed(|c| c + 1), Error::Timeout);
    /// ```
    pub fn map_failed<E2>(self, f: impl FnOnce(E) -> E2) -> Error<E2> {
        self.retype().unwrap_or_else(|e| Error::Failed(f(e)))
    }

    /// The same error with the operation's error boxed as a [`BoxError`], other variants kept: one
    /// error type for waits on futures of different failure types, so that `?` collects them into
    /// one `Result<_, Error>` (a `From` impl cannot: it would overlap `From<T> for T`). Any `E`
    /// that converts into a `BoxError` will do: a `String`, a `&'static str`, or any
    /// `std::error::Error + Send + Sync + 'static`, such as an SDK's own error enum.
    ///
    /// ```
    /// use apifuture::{failed, ready, ApiFuture, BoxError, Error};
    ///
    /// #[derive(Debug)]
    /// struct Overloaded;
    /// impl std::fmt::Display for Overloaded {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("server overloaded")
    ///     }
    /// }
    /// impl std::error::Error for Overloaded {}
    ///
    /// fn both() -> Result<u32, Error> {
    ///     let a = ready::<u32, &str>(1).result(None).map_err(Error::into_boxed_failure)?;
    ///     let b = failed::<u32, Overloaded>(Overloaded)
    ///         .result(None)
    ///         .map_err(Error::into_boxed_failure)?;
    ///     Ok(a + b)
    /// }
    ///
    /// let error = both().unwrap_err();
    /// assert_eq!(error.to_string(), "operation failed: server overloaded");
    /// assert!(error.failure_source().unwrap().is::<Overloaded>());
    /// ```
    pub fn into_boxed_failure(self) -> Error<BoxError>
    where
        E: Into<BoxError>,
    {
        self.map_failed(Into::into)
    }

    /// The same state again if this is one (`Cancelled`, `Abandoned`, `DeadlineExceeded`): states
    /// go to every wait, outcomes only once ([`Held`]).
    pub(crate) fn state<E2>(&self) -> Option<Error<E2>> {
        match self {
            Error::Cancelled => Some(Error::Cancelled),
            Error::Abandoned => Some(Error::Abandoned),
            Error::DeadlineExceeded => Some(Error::DeadlineExceeded),
            _ => None,
        }
    }

    pub(crate) fn is_state(&self) -> bool {
        self.state::<()>().is_some()
    }

    /// A state's name, as `Debug` shows it; `taken` for `Consumed`, which the next wait gets as
    /// it would after a wait took the outcome.
    pub(crate) fn state_name(&self) -> Option<&'static str> {
        match self {
            Error::Cancelled => Some("cancelled"),
            Error::Abandoned => Some("abandoned"),
            Error::DeadlineExceeded => Some("deadline exceeded"),
            Error::Consumed => Some("taken"),
            _ => None,
        }
    }

    /// Retypes the operation error: `Err(e)` for `Failed(e)`, which only a conversion can retype;
    /// the other variants carry no `E`.
    pub(crate) fn retype<E2>(self) -> Result<Error<E2>, E> {
        Ok(match self {
            Error::Failed(e) => return Err(e),
            Error::Timeout => Error::Timeout,
            Error::Cancelled => Error::Cancelled,
            Error::Abandoned => Error::Abandoned,
            Error::Panicked(message) => Error::Panicked(message),
            Error::Consumed => Error::Consumed,
            Error::DeadlineExceeded => Error::DeadlineExceeded,
            Error::WouldBlockExecutor => Error::WouldBlockExecutor,
        })
    }
}

impl Error<BoxError> {
    /// The operation's own error as a `std::error::Error`, if this is [`Error::Failed`]: to walk
    /// its `source()` chain, or to downcast it to the type it was made from. `Error<E>` is a
    /// `std::error::Error` for every `E: Debug + Display` (so that `BoxError`, `String` and `&str`
    /// failures work with `?`), so its `source()` cannot reach into `E` without specialization and
    /// returns `None`; this method does that job. For a failure of your own type,
    /// [`as_failed`](Error::as_failed) gives it back directly.
    ///
    /// ```
    /// use apifuture::{BoxError, Error};
    /// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
    /// let error: Error = Error::Failed(Box::new(io));
    /// let source = error.failure_source().unwrap();
    /// assert_eq!(source.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::TimedOut);
    /// assert!(Error::<BoxError>::Timeout.failure_source().is_none());
    /// ```
    pub fn failure_source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        let mut error: &(dyn std::error::Error + Send + Sync) = &**self.as_failed()?;
        // Shared, boxed again, shared again: as many layers as an SDK stacked.
        while let Some(SharedFailure(original)) = error.downcast_ref::<SharedFailure>() {
            error = &***original;
        }
        Some(error)
    }

    /// A [shared](crate::ApiFutureExt::into_shared) future's error with its failure boxed again:
    /// what [`into_boxed_failure`](Error::into_boxed_failure) does for other futures. A shared
    /// `BoxError` sits behind an `Arc`, and `Arc<BoxError>` is not a `std::error::Error` (nor is
    /// `Box<dyn Error>`), so that method cannot take it. The box holds the same `Arc`, nothing
    /// copied: it displays and debug-prints as the original, its `source()` is the original's,
    /// and [`failure_source`](Error::failure_source) gives the original back, to downcast as
    /// before. Other variants are kept. It is a function rather than a `From` impl, which would
    /// make `Err(Error::Timeout)?` ambiguous.
    ///
    /// ```
    /// use std::io;
    /// use apifuture::{failed, ApiFuture, ApiFutureExt, BoxError, Error};
    ///
    /// let io = io::Error::new(io::ErrorKind::TimedOut, "read timed out");
    /// let mut shared = failed::<u32, BoxError>(Box::new(io)).into_shared();
    /// let fetch = |shared: &mut apifuture::SharedFuture<u32>| -> Result<u32, Error> {
    ///     shared.result(None).map_err(Error::from_shared)
    /// };
    /// let error = fetch(&mut shared.clone()).unwrap_err();
    /// assert_eq!(error.to_string(), "operation failed: read timed out");
    /// let source = error.failure_source().unwrap();
    /// assert_eq!(source.downcast_ref::<io::Error>().unwrap().kind(), io::ErrorKind::TimedOut);
    /// assert!(fetch(&mut shared).is_err()); // every handle gets it
    /// ```
    pub fn from_shared(error: Error<Arc<BoxError>>) -> Self {
        error.map_failed(|shared| Box::new(SharedFailure(shared)) as BoxError)
    }
}

/// A shared `BoxError` boxed again by [`Error::from_shared`]: the original in all but its type,
/// which [`Error::failure_source`] looks through.
struct SharedFailure(Arc<BoxError>);

impl fmt::Debug for SharedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0, f)
    }
}

impl fmt::Display for SharedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self.0, f)
    }
}

impl std::error::Error for SharedFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout => f.write_str("timed out waiting for the result"),
            Error::Failed(e) => write!(f, "operation failed: {e}"),
            Error::Cancelled => f.write_str("the future was cancelled"),
            Error::Abandoned => f.write_str("the producer went away without completing the future"),
            Error::Panicked(message) => write!(f, "the operation panicked: {message}"),
            Error::Consumed => f.write_str("the outcome was already taken by an earlier wait"),
            Error::DeadlineExceeded => f.write_str("the operation's deadline was exceeded"),
            Error::WouldBlockExecutor => f.write_str(
                "a blocking wait on the background executor's thread would stall its tasks: \
                 .await the future there instead",
            ),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Error<E> {}

pub(crate) type Outcome<T, E> = Result<T, Error<E>>;

/// An outcome held until a wait takes it: the crate's one hand-out-once rule. A value, `Failed`
/// or `Panicked` goes to one wait, later ones get `Consumed`; a state goes to every wait.
#[derive(Debug)]
pub(crate) struct Held<T, E>(Option<Outcome<T, E>>);

impl<T, E> Held<T, E> {
    pub(crate) fn new(outcome: Outcome<T, E>) -> Self {
        Held(Some(outcome))
    }

    #[inline]
    pub(crate) fn hand_out(&mut self) -> Outcome<T, E> {
        if let Some(Err(error)) = &self.0 {
            if let Some(state) = error.state() {
                return Err(state);
            }
        }
        self.0.take().unwrap_or(Err(Error::Consumed))
    }

    /// The outcome, `None` once a wait took it.
    pub(crate) fn peek(&self) -> Option<&Outcome<T, E>> {
        self.0.as_ref()
    }

    /// Whether the outcome is a failure; false once it was taken.
    pub(crate) fn is_failure(&self) -> bool {
        self.peek().is_some_and(is_failure)
    }

    /// For `Debug`: `"ready"` until a wait took the outcome, then `"taken"`; a state, which every
    /// wait gets, by its name.
    pub(crate) fn state(&self) -> &'static str {
        match &self.0 {
            Some(Err(error)) => error.state_name().unwrap_or("ready"),
            Some(Ok(_)) => "ready",
            None => "taken",
        }
    }
}

/// Whether an outcome counts as a failure for [`ReturnWhen::FirstFailed`](crate::ReturnWhen).
pub(crate) fn is_failure<T, E>(outcome: &Result<T, Error<E>>) -> bool {
    outcome.as_ref().is_err_and(Error::is_failure)
}
