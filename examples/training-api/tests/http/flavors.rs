//! The two transports of the example SDK, for tests that run with each.

use std::time::{Duration, Instant};

use apifuture::RetryPolicy;
use training_api::client::TrainingClient;

/// Which transport a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// hyper over async-io, on apifuture's background executor.
    Async,
    /// ureq on apifuture's pool.
    Blocking,
}

pub const FLAVORS: [Flavor; 2] = [Flavor::Async, Flavor::Blocking];

impl Flavor {
    /// The flavor of a test module included twice (`..._async`, `..._blocking`), by its path.
    pub fn of_module(path: &str) -> Flavor {
        if path.ends_with("_blocking") {
            Flavor::Blocking
        } else {
            Flavor::Async
        }
    }

    pub fn client(
        self,
        base: &str,
        policy: RetryPolicy,
        request_timeout: Duration,
    ) -> TrainingClient {
        match self {
            Flavor::Async => TrainingClient::new(base, policy, request_timeout),
            Flavor::Blocking => TrainingClient::new_blocking(base, policy, request_timeout),
        }
    }
}

/// Runs `test` once per flavor, each on a thread of its own, at the same time (the tests that
/// use it mostly wait on held polls, each flavor against a server of its own). A failure in
/// either fails the test, with the flavor in its message.
pub fn each_flavor(test: impl Fn(Flavor) + Sync) {
    std::thread::scope(|scope| {
        for flavor in FLAVORS {
            let test = &test;
            scope.spawn(move || test(flavor));
        }
    });
}

/// Waits up to 10 s for `done` to hold, checking every millisecond.
pub fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done()
}
