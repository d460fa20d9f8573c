//! `ApiFutureExt`: map_value, map_failure, then_call and into_boxed, blocking and async.

use crate::common;

use std::thread;
use std::time::Duration;

use apifuture::{
    ApiFuture, ApiFutureExt, BoxApiFuture, Error, RetryPolicy, failed, promise, ready, retry, spawn,
};
use common::{TestError, on_two_executors};

#[test]
fn map_transforms_the_value_and_keeps_errors() {
    assert_eq!(
        ready::<u32, TestError>(2)
            .map_value(|v| v * 10)
            .result(None),
        Ok(20)
    );
    assert_eq!(
        failed::<u32, TestError>("x")
            .map_value(|v| v * 10)
            .result(None),
        Err(Error::Failed("x"))
    );
    let mut mapped = ready::<u32, TestError>(2).map_value(|v| v + 1);
    assert_eq!(mapped.result(None), Ok(3));
    assert_eq!(mapped.result(None), Err(Error::Consumed));
}

#[test]
fn a_map_drops_its_closure_once_the_outcome_is_out_even_if_it_did_not_run() {
    use std::sync::mpsc::{RecvTimeoutError, channel};
    let (alive, gone) = channel::<()>();
    let (producer, future) = promise::<u32, TestError>();
    let mut on_value = future.map_value(move |v| {
        let _alive = &alive;
        v
    });
    // A timed-out wait keeps it.
    assert_eq!(
        on_value.result(Duration::from_millis(1)),
        Err(Error::Timeout)
    );
    assert_eq!(
        gone.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Timeout)
    );
    producer.set_error("down");
    assert_eq!(on_value.result(None), Err(Error::Failed("down")));
    assert_eq!(
        gone.recv_timeout(Duration::from_secs(5)),
        Err(RecvTimeoutError::Disconnected)
    );
    let (alive, gone) = channel::<()>();
    let mut on_failure = ready::<u32, TestError>(1).map_failure(move |e| {
        let _alive = &alive;
        e.len()
    });
    assert_eq!(on_failure.try_result(), Some(Ok(1)));
    assert_eq!(
        gone.recv_timeout(Duration::from_secs(5)),
        Err(RecvTimeoutError::Disconnected)
    );
}

#[test]
fn a_map_over_a_future_that_ended_in_a_state_shows_that_state_and_lets_go_of_its_closure() {
    let held = std::sync::Arc::new(());
    let captured = std::sync::Arc::clone(&held);
    let (producer, future) = promise::<u32, TestError>();
    let mut mapped = future.map_value(move |v| {
        let _held = &captured;
        v + 1
    });
    drop(producer);
    for _ in 0..2 {
        assert_eq!(mapped.result(Duration::ZERO), Err(Error::Abandoned));
        assert!(format!("{mapped:?}").contains("abandoned"), "{mapped:?}");
    }
    assert_eq!(
        std::sync::Arc::strong_count(&held),
        1,
        "the closure is still held"
    );
    // The same over a cancelled retry, a shared future whose producer went away, and a chain.
    let (_producer, attempt) = promise::<u32, TestError>();
    let mut attempt = Some(attempt);
    let mut call = retry(RetryPolicy::new(), move |_| attempt.take().unwrap());
    assert!(call.cancel());
    let mut over_retry = call.map_failure(|e| e.len());
    assert_eq!(over_retry.result(Duration::ZERO), Err(Error::Cancelled));
    assert!(
        format!("{over_retry:?}").contains("cancelled"),
        "{over_retry:?}"
    );
    let (producer, future) = promise::<u32, TestError>();
    let mut over_shared = future.into_shared().map_value(|v| v + 1);
    drop(producer);
    assert_eq!(over_shared.result(Duration::ZERO), Err(Error::Abandoned));
    assert!(
        format!("{over_shared:?}").contains("abandoned"),
        "{over_shared:?}"
    );
    let (producer, future) = promise::<u32, TestError>();
    let mut chain = future.then_call(ready::<u32, TestError>);
    drop(producer);
    assert_eq!(chain.result(Duration::ZERO), Err(Error::Abandoned));
    assert!(format!("{chain:?}").contains("abandoned"), "{chain:?}");
}

#[test]
fn a_map_says_taken_once_its_value_went_out_even_after_an_early_look() {
    let mut mapped = ready::<u32, TestError>(2).map_value(|v| v + 1);
    assert!(format!("{mapped:?}").contains("inner"));
    // `wait(.., FirstFailed)` looks whether it failed: the closure runs then.
    assert_eq!(mapped.peek_failed(), Some(false));
    assert_eq!(format!("{mapped:?}"), r#"MapValue { state: "ready", .. }"#);
    assert_eq!(mapped.result(None), Ok(3));
    assert_eq!(format!("{mapped:?}"), r#"MapValue { state: "taken", .. }"#);
    // A look after that (`wait(.., FirstFailed)` looks at every future) changes nothing, with
    // or without the early look.
    assert_eq!(mapped.peek_failed(), Some(false));
    assert_eq!(format!("{mapped:?}"), r#"MapValue { state: "taken", .. }"#);
    let mut mapped = ready::<u32, TestError>(2).map_value(|v| v + 1);
    assert_eq!(mapped.result(None), Ok(3));
    assert_eq!(mapped.peek_failed(), Some(false));
    let shown = format!("{mapped:?}");
    assert!(
        shown.contains("taken") && !shown.contains("ready"),
        "{shown}"
    );
}

#[test]
fn a_look_through_a_map_or_chain_at_a_taken_outcome_still_says_taken() {
    // The inner future's value went out before it was wrapped: a look (`peek_failed`) finds
    // `Consumed`, which the next wait gets too.
    let mut taken = ready::<u32, TestError>(2);
    assert_eq!(taken.result(None), Ok(2));
    let mut mapped = taken.map_value(|v| v + 1);
    assert_eq!(mapped.peek_failed(), Some(false));
    assert_eq!(format!("{mapped:?}"), r#"MapValue { state: "taken", .. }"#);
    assert_eq!(mapped.result(None), Err(Error::Consumed));
    let mut taken = ready::<u32, TestError>(2);
    assert_eq!(taken.result(None), Ok(2));
    let mut chain = taken.then_call(ready::<u32, TestError>);
    assert_eq!(chain.peek_failed(), Some(false));
    assert_eq!(format!("{chain:?}"), r#"ThenCall { state: "taken", .. }"#);
    assert_eq!(chain.result(None), Err(Error::Consumed));
}

#[test]
fn map_err_transforms_only_the_operation_error() {
    let mut call = failed::<u32, u16>(503).map_failure(|code| code + 1);
    assert_eq!(call.result(None), Err(Error::Failed(504)));
    let (producer, future) = promise::<u32, u16>();
    drop(producer);
    assert_eq!(
        future.map_failure(|code| code + 1).result(None),
        Err(Error::Abandoned)
    );
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn a_timeout_on_a_combinator_loses_nothing_in_both_modes() {
    let (producer, future) = promise::<u32, TestError>();
    let mut mapped = future.map_value(|v| v * 2);
    assert_eq!(mapped.result(Duration::from_millis(2)), Err(Error::Timeout));
    producer.set_result(4);
    assert_eq!(mapped.result(None), Ok(8));

    on_two_executors(|| async {
        let (producer, future) = promise::<u32, TestError>();
        let mut chained = future.then_call(|v| ready(v + 1));
        assert_eq!(
            chained.result_async(Duration::from_millis(2)).await,
            Err(Error::Timeout)
        );
        let producer = thread::spawn(move || producer.set_result(1));
        assert_eq!(chained.await, Ok(2));
        producer.join().unwrap();
    });
}

#[test]
fn and_then_runs_the_second_call_with_the_first_value() {
    let mut chained = spawn(|| Ok::<_, TestError>(6)).then_call(|v| spawn(move || Ok(v * 7)));
    assert_eq!(chained.result(Duration::from_secs(30)), Ok(42));
    let mut first_fails = failed::<u32, TestError>("first").then_call(|v| ready(v + 1));
    assert_eq!(first_fails.result(None), Err(Error::Failed("first")));
    assert_eq!(first_fails.result(None), Err(Error::Consumed));
    let mut second_fails =
        ready::<u32, TestError>(1).then_call(|_| failed::<u32, TestError>("second"));
    assert_eq!(second_fails.result(None), Err(Error::Failed("second")));
    common::retire_pool_threads();
}

#[test]
fn a_panicking_closure_gives_panicked() {
    let mut mapped = ready::<u32, TestError>(1).map_value(|_| -> u32 { panic!("in map") });
    assert_eq!(
        mapped.result(None),
        Err(Error::Panicked("in map".to_owned()))
    );
    let mut chained = ready::<u32, TestError>(1).then_call(
        |_| -> apifuture::AwaitableConcurrentFuture<u32, TestError> { panic!("in and_then") },
    );
    assert_eq!(
        chained.result(None),
        Err(Error::Panicked("in and_then".to_owned()))
    );
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn boxed_futures_of_different_origins_share_a_vec() {
    let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
    let mut futures: Vec<BoxApiFuture<u32, TestError>> = vec![
        ready(1).into_boxed(),
        ready::<u32, TestError>(1).map_value(|v| v + 1).into_boxed(),
        retry(policy, |attempt| {
            if attempt < 2 {
                failed("busy")
            } else {
                ready(3)
            }
        })
        .into_boxed(),
        spawn(|| Ok(4)).into_boxed(),
    ];
    let blocking: Vec<_> = futures
        .iter_mut()
        .map(|f| f.result(Duration::from_secs(30)))
        .collect();
    assert_eq!(blocking, [Ok(1), Ok(2), Ok(3), Ok(4)]);
    let awaited = smol::block_on(async {
        let mut out = Vec::new();
        for future in [
            ready::<u32, TestError>(5).into_boxed(),
            spawn(|| Ok(6)).into_boxed(),
        ] {
            out.push(future.await);
        }
        out
    });
    assert_eq!(awaited, [Ok(5), Ok(6)]);
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn from_future_is_driven_by_whoever_waits() {
    use apifuture::from_future;
    // Blocking: polled on the calling thread, no executor.
    let mut call = from_future(async {
        async_io::Timer::after(Duration::from_millis(2)).await;
        Ok::<_, TestError>(1)
    });
    assert_eq!(call.result(Duration::from_secs(30)), Ok(1));
    assert_eq!(call.result(None), Err(Error::Consumed));
    // A timeout leaves it where it was.
    let (producer, pending) = promise::<u32, TestError>();
    let mut call = from_future(async move { pending.await.map_err(|_| "lost") });
    assert_eq!(call.result(Duration::from_millis(2)), Err(Error::Timeout));
    producer.set_result(2);
    assert_eq!(call.result(None), Ok(2));
    // Errors and panics.
    assert_eq!(
        from_future(async { Err::<u32, _>("no") }).result(None),
        Err(Error::Failed("no"))
    );
    async fn explode() -> Result<u32, TestError> {
        panic!("in future")
    }
    let mut panicky = from_future(explode());
    assert_eq!(
        panicky.result(None),
        Err(Error::Panicked("in future".to_owned()))
    );
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn a_smol_app_retries_async_requests_through_from_future() {
    use apifuture::from_future;
    let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
    let outcome = smol::block_on(async {
        retry(policy, |attempt| {
            from_future(async move {
                async_io::Timer::after(Duration::from_millis(1)).await;
                if attempt < 3 { Err("503") } else { Ok(attempt) }
            })
        })
        .await
    });
    assert_eq!(outcome, Ok(3));
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn join_all_gives_every_outcome_in_input_order() {
    use apifuture::{join_all, join_all_async};
    assert!(
        join_all(Vec::<apifuture::AwaitableConcurrentFuture<u32, TestError>>::new()).is_empty()
    );
    let slow_first = || {
        vec![
            spawn(|| {
                thread::sleep(Duration::from_millis(10));
                Ok::<u32, TestError>(1)
            }),
            failed("two"),
            ready(3),
        ]
    };
    let expected = [Ok(1), Err(Error::Failed("two")), Ok(3)];
    assert_eq!(join_all(slow_first()), expected);
    on_two_executors(move || {
        let expected = expected.clone();
        async move { assert_eq!(join_all_async(slow_first()).await, expected) }
    });
}
