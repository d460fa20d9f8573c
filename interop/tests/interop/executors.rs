//! The same futures awaited under every executor DESIGN.md names. None of them is a dependency
//! of the crate: async waits are woken through `atomic-waker` and timed by `async-io`.
#![cfg(not(miri))] // real executors need epoll and real threads

use crate::common;

use std::future::Future;
use std::pin::Pin;
use std::thread;
use std::time::Duration;

use apifuture::{ApiFuture, Error, promise, ready, spawn};
use common::TestError;

/// One scenario in three steps: a ready future, a value from another thread, and a timeout
/// that loses nothing. Returns what it saw, so every executor can be held to the same answer.
async fn scenario() -> Vec<Result<u32, Error<TestError>>> {
    let mut seen = vec![ready::<u32, TestError>(1).await];

    let (first, future) = promise::<u32, TestError>();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        first.set_result(2);
    });
    seen.push(future.await);

    let (second, mut future) = promise::<u32, TestError>();
    seen.push(future.result_async(Duration::from_millis(2)).await);
    let producer = thread::spawn(move || second.set_result(3));
    seen.push(future.result_async(Duration::from_secs(30)).await);
    producer.join().unwrap();

    seen.push(
        spawn(|| {
            thread::sleep(Duration::from_millis(2));
            Ok::<_, TestError>(4)
        })
        .await,
    );
    seen
}

fn expected() -> Vec<Result<u32, Error<TestError>>> {
    vec![Ok(1), Ok(2), Err(Error::Timeout), Ok(3), Ok(4)]
}

type Scenario = Pin<Box<dyn Future<Output = Vec<Result<u32, Error<TestError>>>> + Send>>;

fn boxed() -> Scenario {
    Box::pin(scenario())
}

#[test]
fn smol() {
    assert_eq!(smol::block_on(smol::spawn(boxed())), expected());
    let executor = smol::LocalExecutor::new();
    assert_eq!(smol::block_on(executor.run(boxed())), expected());
}

#[test]
fn async_std() {
    assert_eq!(
        async_std::task::block_on(async_std::task::spawn(boxed())),
        expected()
    );
}

#[test]
fn futures_lite_block_on() {
    assert_eq!(futures_lite::future::block_on(boxed()), expected());
}

#[test]
fn async_io_block_on() {
    assert_eq!(async_io::block_on(boxed()), expected());
}

#[test]
fn pollster() {
    assert_eq!(pollster::block_on(boxed()), expected());
}

#[test]
fn futures_executor() {
    assert_eq!(futures::executor::block_on(boxed()), expected());
    let pool = futures::executor::ThreadPool::builder()
        .pool_size(2)
        .create()
        .unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    pool.spawn_ok(async move { sender.send(scenario().await).unwrap() });
    assert_eq!(receiver.recv().unwrap(), expected());
}

#[test]
fn tokio_current_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(boxed()), expected());
}

#[test]
fn tokio_multi_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        runtime.block_on(runtime.spawn(boxed())).unwrap(),
        expected()
    );
}

#[test]
fn a_blocking_wait_inside_a_tokio_task_works() {
    // Documented as stalling the worker; with the producer elsewhere it still returns.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let outcome = runtime.block_on(async {
        tokio::spawn(async { spawn(|| Ok::<_, TestError>(5)).result(Duration::from_secs(30)) })
            .await
            .unwrap()
    });
    assert_eq!(outcome, Ok(5));
}
