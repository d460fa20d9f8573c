//! Many calls in flight at once on the one background thread of the async transport, against
//! the async server: all of them end with their value, each job runs once, in call order.
//! (`examples/scale_calls.rs` runs 10,000 and reports threads, memory and time per transport.)
#![cfg(not(miri))] // real sockets

use std::time::Duration;

use apifuture::{RetryPolicy, join_all};
use training_api::async_server::AsyncServer;
use training_api::client::TrainingClient;

#[test]
fn hundreds_of_calls_in_flight_on_the_async_transport() {
    let calls = 300;
    let server = AsyncServer::start(Duration::from_millis(500), Duration::from_millis(200), 2);
    let policy = RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(200))
        .with_deadline(Duration::from_secs(60));
    let client = TrainingClient::new(&server.base_url(), policy, Duration::from_secs(2));
    let made: Vec<_> = (0..calls)
        .map(|i| client.forward_backward(&[f64::from(i)]))
        .collect();
    let outcomes = join_all(made);
    for (i, outcome) in outcomes.iter().enumerate() {
        assert_eq!(
            outcome.as_ref().expect("every call succeeds")["type"],
            "forward_backward",
            "call {i}"
        );
    }
    assert_eq!(server.jobs_run(), calls as usize);
    let seqs: Vec<u64> = server.accepted().iter().map(|(_, seq)| *seq).collect();
    assert_eq!(seqs, (1..=calls as u64).collect::<Vec<_>>());
}
