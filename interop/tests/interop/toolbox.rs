//! The toolbox users already hold, next to this crate's (DESIGN.md section 7): `futures`' and
//! `futures-lite`'s preludes in the same scope as `ApiFutureExt`, `futures::select!` on
//! `&mut future` without `.fuse()`, `Debug` and `done()` on an SDK's `impl ApiFuture`, and `?`
//! into `anyhow` and `Box<dyn Error>` for every failure type.

use std::fmt;
use std::time::Duration;

use apifuture::{
    ApiFuture, ApiFutureExt, AwaitableConcurrentFuture, BoxError, Error, Progress, RetryPolicy,
    failed, from_future, poll_until_ready, promise, ready, retry, spawn,
};
use futures::future::FusedFuture;
use futures::prelude::*;

/// An SDK's own error type.
#[derive(Debug, Clone, PartialEq)]
enum SdkError {
    Overloaded,
}

impl fmt::Display for SdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("server overloaded")
    }
}

impl std::error::Error for SdkError {}

// ===== both preludes, each method with its own semantics =====

#[test]
fn ours_and_futures_methods_resolve_side_by_side() {
    futures::executor::block_on(async {
        // Ours: each result is again an ApiFuture, so it can still be blocked on.
        let mut mapped = ready::<u32, &str>(1).map_value(|v| v + 1);
        assert_eq!(mapped.result(None), Ok(2));
        let mut renamed = failed::<u32, u16>(503).map_failure(|code| format!("HTTP {code}"));
        assert_eq!(
            renamed.result(None),
            Err(Error::Failed("HTTP 503".to_owned()))
        );
        let mut chained = ready::<u32, &str>(2).then_call(|v| ready(v * 10));
        assert_eq!(chained.result(None), Ok(20));
        let mut boxed: apifuture::BoxApiFuture<u32, &str> = ready(3).into_boxed();
        assert_eq!(boxed.result(None), Ok(3));
        let mut shared = ready::<u32, String>(4).into_shared();
        let mut other = shared.clone();
        assert_eq!((shared.result(None), other.result(None)), (Ok(4), Ok(4)));

        // futures': plain futures over the whole `Result` output.
        let mapped = ready::<u32, &str>(1).map(|outcome| outcome.map(|v| v + 1));
        assert_eq!(mapped.await, Ok(2));
        let boxed: future::BoxFuture<'static, Result<u32, Error<&str>>> = ready(5).boxed();
        assert_eq!(boxed.await, Ok(5));
        let errors = failed::<u32, &str>("no").map_err(|error| error.to_string());
        assert_eq!(errors.await, Err("operation failed: no".to_owned()));
        let chained = ready::<u32, &str>(6).and_then(|v| ready(v + 1));
        assert_eq!(chained.await, Ok(7));
        let shared = ready::<u32, String>(8).shared();
        assert_eq!((shared.clone().await, shared.await), (Ok(8), Ok(8)));
        let fused = ready::<u32, &str>(9).fuse();
        assert_eq!(fused.await, Ok(9));
    });
}

mod with_futures_lite_prelude {
    use apifuture::{ApiFuture, ApiFutureExt, ready};
    use futures_lite::prelude::*;

    #[test]
    fn ours_and_futures_lite_methods_resolve_side_by_side() {
        let mut boxed = ready::<u32, &str>(1).into_boxed();
        assert_eq!(boxed.result(None), Ok(1));
        let lite = ready::<u32, &str>(2).boxed();
        assert_eq!(futures_lite::future::block_on(lite), Ok(2));
        let raced = ready::<u32, &str>(3).or(ready(4));
        assert_eq!(futures_lite::future::block_on(raced), Ok(3));
    }
}

// ===== an SDK's impl ApiFuture: printable, and it says whether it is done =====

struct Client;

impl Client {
    fn call(&self, value: u32) -> impl ApiFuture<Value = u32, Failure = SdkError> + use<> {
        spawn(move || Ok(value))
    }

    fn pending(
        &self,
    ) -> (
        apifuture::Promise<u32, SdkError>,
        impl ApiFuture<Value = u32, Failure = SdkError> + use<>,
    ) {
        let (promise, future) = promise();
        (promise, future.map_value(|v| v * 2))
    }

    fn poll(&self) -> impl ApiFuture<Value = u32, Failure = SdkError> + use<> {
        let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
        poll_until_ready(policy, |probe| {
            ready(if probe < 3 {
                Progress::Pending
            } else {
                Progress::Ready(probe)
            })
        })
    }
}

#[test]
fn an_sdk_future_is_printable_and_says_whether_it_is_done() {
    let client = Client;
    let (promise, mut pending) = client.pending();
    assert!(!pending.done());
    assert!(format!("{pending:?}").contains("pending"), "{pending:?}");
    promise.set_result(21);
    assert!(pending.done());
    assert!(format!("{pending:?}").contains("ready"), "{pending:?}");
    assert_eq!(
        pending.result(Duration::ZERO),
        Ok(42),
        "done() took nothing"
    );
    assert!(pending.done(), "a taken outcome is still done");
    assert!(format!("{pending:?}").contains("taken"), "{pending:?}");

    let mut call = client.call(1);
    assert_eq!(call.result(Duration::from_secs(30)), Ok(1));
    assert!(format!("{call:?}").contains("taken"), "{call:?}");

    // A lazy future is driven by done(): a due probe starts.
    let mut poll = client.poll();
    let mut looks = 0;
    while !poll.done() {
        looks += 1;
        assert!(looks < 100_000, "done() never drove the poll to its end");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(poll.result(Duration::ZERO), Ok(3));
}

#[test]
fn every_future_type_prints_where_it_stands() {
    let (_promise, future) = promise::<u32, BoxError>();
    let shows = [
        format!("{:?}", ready::<u32, BoxError>(1)),
        format!("{future:?}"),
        format!("{:?}", ready::<u32, BoxError>(1).into_boxed()),
        format!("{:?}", ready::<u32, BoxError>(1).map_value(|v| v)),
        format!("{:?}", ready::<u32, u8>(1).map_failure(|e| e)),
        format!("{:?}", ready::<u32, BoxError>(1).then_call(ready)),
        format!("{:?}", ready::<u32, String>(1).into_shared()),
        format!("{:?}", from_future(async { Ok::<u32, BoxError>(1) })),
        format!(
            "{:?}",
            retry(RetryPolicy::new(), |_| ready::<u32, BoxError>(1))
        ),
        format!(
            "{:?}",
            poll_until_ready(RetryPolicy::new(), |_| ready::<_, BoxError>(
                Progress::Ready(1)
            ))
        ),
    ];
    for shown in shows {
        assert!(
            ["pending", "ready", "taken", "done: true", "done: false"]
                .iter()
                .any(|state| shown.contains(state)),
            "says nothing of its state: {shown}"
        );
    }
}

// ===== FusedFuture: select! on &mut f, and loops that end =====

#[test]
fn select_takes_a_borrowed_future_without_fuse_and_keeps_it() {
    futures::executor::block_on(async {
        let (promise, mut call) = promise::<u32, SdkError>();
        let mut tick = future::ready(());
        futures::select! {
            _ = call => unreachable!("the call is pending"),
            () = tick => {}
        }
        assert!(!call.is_terminated());
        promise.set_result(5);
        futures::select! {
            outcome = call => assert_eq!(outcome, Ok(5)),
            complete => unreachable!("the call was not done"),
        }
        assert!(call.is_terminated());
    });
}

/// What a generic helper of an SDK's user does: a short wait, then a long one.
fn twice<F: ApiFuture>(mut future: F) -> (F::Output, F::Output) {
    let first = future.result(Duration::ZERO);
    (first, future.result(Duration::from_secs(30)))
}

#[test]
fn a_boxed_future_concrete_or_dyn_is_one_too() {
    type DynCall =
        Box<dyn ApiFuture<Value = u32, Failure = SdkError, Output = Result<u32, Error<SdkError>>>>;
    let (producer, call) = promise::<u32, SdkError>();
    let waiter = std::thread::spawn(move || twice(Box::new(call)));
    producer.set_result(7);
    let (first, second) = waiter.join().unwrap();
    // Whether the zero wait saw the value or not, nothing was lost in between.
    assert!(matches!(
        (first, second),
        (Ok(7), Err(Error::Consumed)) | (Err(Error::Timeout), Ok(7))
    ));

    let (producer, call) = promise::<u32, SdkError>();
    let mut boxed: DynCall = Box::new(call);
    assert_eq!(boxed.result(Duration::ZERO), Err(Error::Timeout));
    assert!(!boxed.is_terminated());
    producer.set_error(SdkError::Overloaded);
    let outcome = futures::executor::block_on(&mut boxed);
    assert_eq!(outcome, Err(Error::Failed(SdkError::Overloaded)));
    assert!(boxed.is_terminated());
    assert!(format!("{boxed:?}").contains("AwaitableConcurrentFuture"));
}

#[test]
fn a_select_loop_over_a_sticky_error_ends() {
    futures::executor::block_on(async {
        // A cancelled future gives `Cancelled` on every poll: a loop that did not know it was
        // done would spin on it.
        let (_promise, mut cancelled) = promise::<u32, SdkError>();
        assert!(cancelled.future().cancel());
        let mut value = ready::<u32, SdkError>(1);
        let mut seen = Vec::new();
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds < 10, "the select loop spins");
            futures::select! {
                outcome = cancelled => seen.push(format!("{outcome:?}")),
                outcome = value => seen.push(format!("{outcome:?}")),
                complete => break,
            }
        }
        seen.sort();
        assert_eq!(seen, ["Err(Cancelled)", "Ok(1)"]);
    });
}

#[test]
fn a_blocking_take_does_not_terminate_so_select_sees_consumed_once() {
    // As the crate docs say: only a poll terminates a future, so after a blocking wait took
    // the value, a `select!` loop gets one `Consumed` before its `complete` arm.
    let mut call = ready::<u32, SdkError>(3);
    assert_eq!(call.result(None), Ok(3));
    assert!(call.done() && !call.is_terminated());
    futures::executor::block_on(async {
        let mut seen = Vec::new();
        loop {
            assert!(seen.len() < 3, "the select loop spins: {seen:?}");
            futures::select! {
                outcome = call => seen.push(outcome),
                complete => break,
            }
        }
        assert_eq!(seen, [Err(Error::Consumed)]);
    });
    assert!(call.is_terminated());
}

fn terminated_after_ready<F: ApiFuture + FusedFuture>(mut future: F) {
    assert!(!future.is_terminated(), "{future:?}");
    let outcome = futures::executor::block_on(&mut future);
    assert!(outcome.is_ok(), "{future:?}");
    assert!(future.is_terminated(), "{future:?}");
}

#[test]
fn every_future_type_is_terminated_once_polled_ready() {
    terminated_after_ready(ready::<u32, BoxError>(1));
    terminated_after_ready(spawn(|| Ok::<u32, BoxError>(1)));
    terminated_after_ready(ready::<u32, BoxError>(1).into_boxed());
    terminated_after_ready(ready::<u32, BoxError>(1).map_value(|v| v));
    terminated_after_ready(ready::<u32, u8>(1).map_failure(|e| e));
    terminated_after_ready(ready::<u32, BoxError>(1).then_call(ready));
    terminated_after_ready(ready::<u32, String>(1).into_shared());
    terminated_after_ready(from_future(async { Ok::<u32, BoxError>(1) }));
    terminated_after_ready(retry(RetryPolicy::new(), |_| ready::<u32, BoxError>(1)));
    terminated_after_ready(poll_until_ready(RetryPolicy::new(), |_| {
        ready::<_, BoxError>(Progress::Ready(1))
    }));
    // A taken outcome is not "terminated" until a poll says so (as futures' `Fuse`).
    let mut taken = ready::<u32, BoxError>(1);
    assert_eq!(taken.result(None).unwrap(), 1);
    assert!(!taken.is_terminated());
    assert!(matches!(
        futures::executor::block_on(&mut taken),
        Err(Error::Consumed)
    ));
    assert!(taken.is_terminated());
}

#[test]
fn the_async_waits_are_fused_too() {
    futures::executor::block_on(async {
        let (promise, future) = promise::<u32, SdkError>();
        let cancelled = promise.cancelled();
        futures::pin_mut!(cancelled);
        assert!(!cancelled.is_terminated());
        drop(future);
        cancelled.as_mut().await;
        assert!(cancelled.is_terminated());

        let mut call = ready::<u32, SdkError>(1);
        let mut waiting = call.result_async(Duration::from_secs(30));
        assert!(!waiting.is_terminated());
        assert_eq!((&mut waiting).await, Ok(1));
        assert!(waiting.is_terminated());

        let mut calls = vec![ready::<u32, SdkError>(1)];
        let mut waiting =
            apifuture::wait_async(&mut calls, None, apifuture::ReturnWhen::AllCompleted);
        (&mut waiting).await;
        assert!(waiting.is_terminated());

        let mut joined = apifuture::join_all_async(vec![ready::<u32, SdkError>(1)]);
        assert_eq!((&mut joined).await, [Ok(1)]);
        assert!(joined.is_terminated());

        let mut stream = apifuture::as_completed_async(vec![ready::<u32, SdkError>(2)], None);
        let mut seen = Vec::new();
        loop {
            futures::select! {
                item = stream.next() => if let Some((_, outcome)) = item { seen.push(outcome) },
                complete => break,
            }
        }
        assert_eq!(seen, [Ok(2)]);
        assert!(futures::stream::FusedStream::is_terminated(&stream));
    });
}

// ===== errors that flow out =====

fn with_anyhow<F: ApiFuture>(future: F) -> anyhow::Result<F::Value>
where
    F::Failure: fmt::Debug + fmt::Display + Send + Sync + 'static,
{
    Ok(futures::executor::block_on(future)?)
}

fn with_box<F: ApiFuture>(
    mut future: F,
) -> Result<F::Value, Box<dyn std::error::Error + Send + Sync>>
where
    F::Failure: fmt::Debug + fmt::Display + Send + Sync + 'static,
{
    Ok(future.result(None)?)
}

#[test]
fn question_mark_into_anyhow_and_box_dyn_error_for_every_failure_type() {
    fn check<E>(error: E, shown: &str)
    where
        E: Clone + fmt::Debug + fmt::Display + Send + Sync + 'static,
    {
        let anyhow = with_anyhow(failed::<u32, E>(error.clone())).unwrap_err();
        assert_eq!(anyhow.to_string(), format!("operation failed: {shown}"));
        assert!(
            anyhow
                .downcast_ref::<Error<E>>()
                .is_some_and(Error::is_failed)
        );
        let boxed = with_box(failed::<u32, E>(error)).unwrap_err();
        assert_eq!(boxed.to_string(), format!("operation failed: {shown}"));
        assert_eq!(with_anyhow(ready::<u32, E>(1)).unwrap(), 1);
    }
    check("busy", "busy");
    check(String::from("busy"), "busy");
    check(SdkError::Overloaded, "server overloaded");
    // BoxError is not Clone: once each way.
    let anyhow = with_anyhow(failed::<u32, BoxError>("busy".into())).unwrap_err();
    assert_eq!(anyhow.to_string(), "operation failed: busy");
    let boxed = with_box(failed::<u32, BoxError>("busy".into())).unwrap_err();
    assert_eq!(boxed.to_string(), "operation failed: busy");
}

#[test]
fn one_call_boxes_any_failure_and_the_operation_error_stays_reachable() {
    fn all() -> Result<u32, Error> {
        let a = ready::<u32, &str>(1)
            .result(None)
            .map_err(Error::into_boxed_failure)?;
        let b = ready::<u32, String>(2)
            .result(None)
            .map_err(Error::into_boxed_failure)?;
        let c = failed::<u32, SdkError>(SdkError::Overloaded)
            .result(None)
            .map_err(Error::into_boxed_failure)?;
        Ok(a + b + c)
    }
    let error = all().unwrap_err();
    let source = error.failure_source().expect("the SDK's error");
    assert_eq!(
        source.downcast_ref::<SdkError>(),
        Some(&SdkError::Overloaded)
    );
    // Other variants pass through unchanged.
    assert_eq!(
        Error::<&str>::Timeout.into_boxed_failure().to_string(),
        "timed out waiting for the result"
    );
    assert!(matches!(
        Error::<String>::Cancelled.into_boxed_failure(),
        Error::Cancelled
    ));
    // A generic helper: any failure that converts into a BoxError.
    fn boxed<F: ApiFuture>(mut future: F) -> Result<F::Value, Error>
    where
        F::Failure: Into<BoxError>,
    {
        future.result(None).map_err(Error::into_boxed_failure)
    }
    let call: AwaitableConcurrentFuture<u32, SdkError> = ready(3);
    assert_eq!(boxed(call).unwrap(), 3);
}

#[test]
fn an_sdk_impl_api_future_goes_into_select_as_it_is() {
    futures::executor::block_on(async {
        let client = Client;
        // Opaque types: only what `ApiFuture` promises is visible, `FusedFuture` included.
        let (promise, mut pending) = client.pending();
        let mut promise = Some(promise);
        let mut call = client.call(2);
        let mut seen = Vec::new();
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds < 10, "the select loop spins");
            futures::select! {
                outcome = pending => seen.push(outcome),
                outcome = call => {
                    seen.push(outcome);
                    promise.take().expect("one call").set_result(4);
                }
                complete => break,
            }
        }
        assert_eq!(seen, [Ok(2), Ok(8)]);
    });
}
