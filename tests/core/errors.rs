//! The error type, and the auto traits of every public type.

use std::fmt;

use apifuture::{
    ApiFuture, ApiFutureExt, AwaitableConcurrentFuture, BoxError, ConcurrentFuture, Error, Promise,
    ResultAsync, failed, promise,
};

#[test]
fn display_is_lowercase_without_a_trailing_period() {
    let all: Vec<Error<&str>> = vec![
        Error::Timeout,
        Error::Failed("disk full"),
        Error::Cancelled,
        Error::Abandoned,
        Error::Panicked("index out of bounds".to_owned()),
        Error::Consumed,
        Error::DeadlineExceeded,
    ];
    for error in &all {
        let text = error.to_string();
        assert!(text.chars().next().unwrap().is_lowercase(), "{text}");
        assert!(!text.ends_with('.'), "{text}");
    }
    assert_eq!(
        Error::Failed("disk full").to_string(),
        "operation failed: disk full"
    );
    assert_eq!(
        Error::<&str>::Panicked("index out of bounds".to_owned()).to_string(),
        "the operation panicked: index out of bounds"
    );
}

#[test]
fn predicates_name_exactly_one_variant() {
    let all: Vec<Error<&str>> = vec![
        Error::Timeout,
        Error::Failed("x"),
        Error::Cancelled,
        Error::Abandoned,
        Error::Panicked(String::new()),
        Error::Consumed,
        Error::DeadlineExceeded,
    ];
    for (i, error) in all.iter().enumerate() {
        let answers = [
            error.is_timeout(),
            error.is_failed(),
            error.is_cancelled(),
            error.is_abandoned(),
            error.is_panicked(),
            error.is_consumed(),
            error.is_deadline_exceeded(),
        ];
        let expected: Vec<bool> = (0..answers.len()).map(|j| j == i).collect();
        assert_eq!(answers.to_vec(), expected, "{error:?}");
    }
}

#[test]
fn the_operation_error_can_be_read_taken_and_mapped() {
    let error: Error<u16> = Error::Failed(503);
    assert_eq!(error.as_failed(), Some(&503));
    assert_eq!(error.clone().map_failed(u32::from), Error::Failed(503_u32));
    assert_eq!(error.into_failed(), Some(503));
    assert_eq!(Error::<u16>::Cancelled.into_failed(), None);
}

#[test]
fn a_box_error_outcome_works_with_question_mark() -> Result<(), Box<dyn std::error::Error>> {
    let mut future = failed::<u32, BoxError>("bad input".into());
    let error = future.result(None).unwrap_err();
    assert_eq!(error.to_string(), "operation failed: bad input");
    // `Error<BoxError>` is itself an error, so `?` can lift it.
    let mut ok = apifuture::ready::<u32, BoxError>(1);
    assert_eq!(ok.result(None)?, 1);
    Ok(())
}

/// An error with a source, to see that a shared and re-boxed failure keeps its chain.
#[derive(Debug)]
struct Upstream(std::io::Error);

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream refused")
    }
}

impl std::error::Error for Upstream {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn refused() -> BoxError {
    Box::new(Upstream(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "port closed",
    )))
}

#[test]
fn a_failure_shared_and_boxed_again_twice_still_gives_the_original() {
    let mut first = failed::<u32, BoxError>(refused()).into_shared();
    let once = Error::from_shared(first.result(None).unwrap_err());
    // A layer above shares the boxed failure again.
    let mut second = failed::<u32, BoxError>(once.into_failed().unwrap()).into_shared();
    let twice = Error::from_shared(second.result(None).unwrap_err());
    assert_eq!(twice.to_string(), Error::Failed(refused()).to_string());
    assert!(twice.failure_source().unwrap().is::<Upstream>());
}

#[test]
fn a_shared_box_error_boxes_again_as_the_original() {
    let mut shared = failed::<u32, BoxError>(refused()).into_shared();
    let mut other = shared.clone();
    // Gathered into the crate's default error, as an unshared failure would be.
    let wait = |handle: &mut apifuture::SharedFuture<u32>| -> Result<u32, Error> {
        handle.result(None).map_err(Error::from_shared)
    };
    let error = wait(&mut shared).unwrap_err();
    let unshared: Error = Error::Failed(refused());
    assert_eq!(error.to_string(), unshared.to_string());
    assert_eq!(format!("{error:?}"), format!("{unshared:?}"));
    let failure = error.failure_source().unwrap();
    assert!(failure.is::<Upstream>());
    let chained = error.as_failed().unwrap().source().unwrap();
    assert_eq!(chained.to_string(), "port closed");
    // The other handle still gets the failure, and a handle's second wait is `Consumed`.
    let again = wait(&mut other).unwrap_err();
    assert!(again.failure_source().unwrap().is::<Upstream>());
    assert!(matches!(wait(&mut shared), Err(Error::Consumed)));
    // Variants without the operation's error are kept as they are.
    assert!(matches!(
        Error::from_shared(Error::Cancelled),
        Error::<BoxError>::Cancelled
    ));
    assert!(
        Error::from_shared(Error::Timeout)
            .failure_source()
            .is_none()
    );
}

#[test]
fn debug_needs_no_debug_on_the_value() {
    struct Opaque;
    let (promise, mut future) = promise::<Opaque, &str>();
    assert!(format!("{promise:?}").starts_with("Promise"));
    assert!(format!("{future:?}").contains("pending"));
    promise.set_result(Opaque);
    assert!(format!("{future:?}").contains("ready"));
    assert!(future.result(None).is_ok());
    assert!(format!("{future:?}").contains("taken"));
    assert_eq!(format!("{:?}", Error::<&str>::Timeout), "Timeout");
}

// Compile-time checks of the auto traits the contract promises.
fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn public_types_are_send_and_sync_where_their_parts_are() {
    send::<Error<BoxError>>();
    sync::<Error<BoxError>>();
    send::<Promise<String, BoxError>>();
    sync::<Promise<String, BoxError>>();
    send::<ConcurrentFuture<String, BoxError>>();
    send::<AwaitableConcurrentFuture<String, BoxError>>();
    unpin::<AwaitableConcurrentFuture<String, BoxError>>();
    send::<ResultAsync<'static, AwaitableConcurrentFuture<String, BoxError>>>();
    // Futures are deliberately not Sync (waits take `&mut self`); that is checked by the
    // compile_fail doctest on `ApiFuture`'s module docs in lib.rs.
}

#[test]
fn errors_are_std_errors_for_any_displayable_error() {
    fn is_error<T: std::error::Error>(_: &T) {}
    #[derive(Debug)]
    struct Plain;
    impl fmt::Display for Plain {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("plain")
        }
    }
    is_error(&Error::Failed(Plain));
    is_error(&Error::<BoxError>::Timeout);
}
