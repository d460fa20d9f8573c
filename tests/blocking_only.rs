//! Blocking waits alone, in a process of their own: on boxes (`into_boxed`, `Box<F>`, `&mut F`),
//! maps and chains over retries and promises they park the thread as the waits on the futures
//! themselves do, and async-io's reactor thread (which async waits and timers start) never
//! starts.
#![cfg(all(target_os = "linux", not(miri)))] // reads the process's threads from /proc

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use apifuture::{
    ApiFuture, ApiFutureExt, Error, Jitter, RetryPolicy, failed, promise, ready, retry,
};

const LONG: Duration = Duration::from_secs(30);

fn async_io_started() -> bool {
    std::fs::read_dir("/proc/self/task").unwrap().any(|task| {
        std::fs::read_to_string(task.unwrap().path().join("comm"))
            .is_ok_and(|name| name.trim() == "async-io")
    })
}

/// Fails twice with "busy", then answers with the attempt number.
fn flaky(attempt: u32) -> apifuture::AwaitableConcurrentFuture<u32, &'static str> {
    if attempt < 3 {
        failed("busy")
    } else {
        ready(attempt)
    }
}

/// Sleeps of exactly 2 ms between attempts.
fn two_ms_sleeps() -> RetryPolicy {
    RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(2))
        .with_max_delay(Duration::from_millis(2))
        .with_jitter(Jitter::None)
}

#[test]
fn blocking_waits_through_boxes_maps_and_chains_never_start_the_reactor() {
    let policy = two_ms_sleeps();
    // Each retry sleeps twice between its attempts.
    let mut boxed = retry(policy.clone(), flaky).into_boxed();
    assert_eq!(boxed.result(LONG), Ok(3));
    let mut mapped = retry(policy.clone(), flaky).map_value(|attempt| attempt * 2);
    assert_eq!(
        mapped.result_deadline(std::time::Instant::now() + LONG),
        Ok(6)
    );
    let failing = retry(policy.clone().with_max_attempts(3), |_| {
        failed::<u32, &str>("busy")
    });
    let mut counted = failing.map_failure(str::len).into_boxed();
    assert_eq!(counted.result(LONG), Err(Error::Failed(4)));
    // A timed-out wait through both loses nothing.
    let (producer, future) = promise::<u32, &str>();
    let mut wrapped = future.map_value(|value| value + 1).into_boxed();
    assert_eq!(
        wrapped.result(Duration::from_millis(5)),
        Err(Error::Timeout)
    );
    let producing = thread::spawn(move || producer.set_result(1));
    assert_eq!(wrapped.result(LONG), Ok(2));
    producing.join().unwrap();
    // A retry, then a retry made from its value; and a failed first future.
    let second = policy.clone();
    let mut chained = retry(policy.clone(), flaky).then_call(move |first| {
        retry(second, flaky).map_value(move |attempt| first * 10 + attempt)
    });
    assert_eq!(chained.result(LONG), Ok(33));
    let mut failed_first = retry(policy.clone().with_max_attempts(2), |_| {
        failed::<u32, &str>("busy")
    })
    .then_call(|_| ready::<u32, &str>(0));
    assert_eq!(failed_first.result(LONG), Err(Error::Failed("busy")));
    // A timed-out wait on either future loses nothing.
    let (first_producer, first) = promise::<u32, &str>();
    let (second_producer, second) = promise::<u32, &str>();
    let mut second = Some(second);
    let mut waiting =
        first.then_call(move |value| second.take().unwrap().map_value(move |v| v + value));
    assert_eq!(waiting.result(Duration::ZERO), Err(Error::Timeout));
    first_producer.set_result(1);
    assert_eq!(
        waiting.result(Duration::from_millis(5)),
        Err(Error::Timeout)
    );
    let producing = thread::spawn(move || second_producer.set_result(2));
    assert_eq!(
        waiting.result_deadline(std::time::Instant::now() + LONG),
        Ok(3)
    );
    producing.join().unwrap();
    // Through a generic helper: a boxed retry, a borrowed one, and one behind `dyn`.
    fn value<F: ApiFuture<Value = u32>>(mut future: F) -> Option<u32> {
        future.result(LONG).ok()
    }
    assert_eq!(value(Box::new(retry(policy.clone(), flaky))), Some(3));
    let mut borrowed = retry(policy.clone(), flaky);
    assert_eq!(value(&mut borrowed), Some(3));
    let erased: Box<dyn ApiFuture<Value = u32, Failure = &str, Output = _>> =
        Box::new(retry(policy.clone(), flaky));
    assert_eq!(value(erased), Some(3));
    assert!(
        !async_io_started(),
        "a blocking wait started async-io's reactor thread"
    );
}

type Attempt = fn(u32) -> apifuture::AwaitableConcurrentFuture<u32, &'static str>;

/// An SDK's own future over a retry, overriding the blocking waits (here only to count them).
#[derive(Debug)]
struct SdkCall {
    inner: apifuture::Retry<Attempt>,
    terminated: bool,
}

static OVERRIDES_CALLED: AtomicUsize = AtomicUsize::new(0);

impl ApiFuture for SdkCall {
    type Value = u32;
    type Failure = &'static str;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<u32, Error<&'static str>>> {
        self.inner.try_result()
    }

    fn result(&mut self, timeout: impl Into<Option<Duration>>) -> Result<u32, Error<&'static str>> {
        OVERRIDES_CALLED.fetch_add(1, Ordering::SeqCst);
        self.inner.result(timeout)
    }

    fn result_deadline(&mut self, deadline: Instant) -> Result<u32, Error<&'static str>> {
        OVERRIDES_CALLED.fetch_add(1, Ordering::SeqCst);
        self.inner.result_deadline(deadline)
    }
}

impl std::future::Future for SdkCall {
    type Output = Result<u32, Error<&'static str>>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = this.poll_outcome(cx);
        this.terminated |= polled.is_ready();
        polled
    }
}

impl apifuture::FusedFuture for SdkCall {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

#[test]
fn maps_chains_and_boxes_use_a_users_override_of_the_blocking_waits() {
    let policy = two_ms_sleeps();
    let call = || SdkCall {
        inner: retry(policy.clone(), flaky as Attempt),
        terminated: false,
    };
    assert_eq!(call().map_value(|v| v * 2).result(LONG), Ok(6));
    assert_eq!(call().into_boxed().result(LONG), Ok(3));
    let mut chained = call().then_call(|v| ready::<u32, &str>(v + 1));
    assert_eq!(chained.result(LONG), Ok(4));
    assert_eq!(OVERRIDES_CALLED.load(Ordering::SeqCst), 3);
    assert!(
        !async_io_started(),
        "a blocking wait started async-io's reactor thread"
    );
}
