//! Panics in user code (closures, spawned jobs, callbacks): caught where they happen and
//! carried to the waiter as [`Error::Panicked`] with their message.

use crate::error::Error;

/// Runs user code (a combinator's or retry's closure), catching a panic as `Error::Panicked`.
#[inline]
pub(crate) fn guarded<R, E>(f: impl FnOnce() -> R) -> Result<R, Error<E>> {
    caught(f).map_err(Error::Panicked)
}

/// Runs `f`; a panic gives its message. The payload never leaves: one whose `Drop` panics would
/// unwind out of the code that caught the first panic, past the waiter it was about to tell.
#[inline]
pub(crate) fn caught<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let message = panic_message(&*payload);
        dispose(payload);
        message
    })
}

/// Drops `value`, user code (a future, a closure and what it captured) whose `Drop` may panic:
/// the panic goes to the panic hook alone, not to the waiter or producer dropping it.
pub(crate) fn drop_caught<T>(value: T) {
    let _ = caught(move || drop(value));
}

/// Drops a panic payload, catching (and disposing of likewise) a panic of its `Drop`; one that
/// keeps panicking on drop is leaked after a few rounds.
pub(crate) fn dispose(payload: Box<dyn std::any::Any + Send>) {
    let mut payload = payload;
    for _ in 0..4 {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}

/// Turns a panic payload into the message carried by [`Error::Panicked`].
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
