//! An attempt owns its connection: a poll the server holds past the attempt timeout is
//! dropped, its connection closed at once (the server hears the client go), and the next poll
//! opens the next one: never more than one connection open per call.
#![cfg(not(miri))] // real sockets

use std::time::Duration;

use apifuture::{ApiFuture, RetryPolicy};
use training_api::server::TrainingServer;

use super::flavors::{Flavor, each_flavor, eventually};

const LONG: Duration = Duration::from_secs(30);
/// How late the relay may hear of a client's close (a busy machine): an attempt that kept its
/// connection open would overlap the next one by the whole attempt (300 ms here).
const SLACK: Duration = Duration::from_millis(50);

#[test]
fn a_poll_past_the_attempt_timeout_closes_its_connection_and_the_server_hears_it() {
    each_flavor(|flavor| {
        let server = TrainingServer::start();
        // Polls are held for 3 s; the client gives each attempt 200 ms.
        server.set_long_poll(Duration::from_secs(3));
        server.set_work_time(Duration::from_millis(1000));
        let policy = RetryPolicy::new()
            .with_initial_delay(Duration::from_millis(10))
            .with_deadline(LONG);
        let client = flavor.client(&server.base_url(), policy, Duration::from_millis(200));
        let mut call = client.forward_backward(&[2.0]);
        assert!(
            eventually(|| server.hangups_while_held() >= 2),
            "{flavor:?}: the server never saw a held poll's client go ({} polls)",
            call.polls()
        );
        assert_eq!(call.result(LONG).unwrap()["loss"], 4.0, "{flavor:?}");
        let most = server.max_open_connections(SLACK);
        assert!(
            most <= 1,
            "{flavor:?}: {most} connections open at once for one call"
        );
        assert_eq!(server.jobs_run("forward_backward"), 1, "{flavor:?}");
        // The async transport keeps nothing open; ureq keeps its last connection for reuse.
        let idle = usize::from(flavor == Flavor::Blocking);
        assert!(
            eventually(|| server.open_connections() <= idle),
            "{flavor:?}"
        );
    });
}

#[test]
fn several_calls_hold_one_connection_each_at_most() {
    each_flavor(|flavor| {
        let server = TrainingServer::start();
        server.set_long_poll(Duration::from_secs(2));
        server.set_work_time(Duration::from_millis(800));
        let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(10));
        let client = flavor.client(&server.base_url(), policy, Duration::from_millis(200));
        let mut calls: Vec<_> = (0..4)
            .map(|i| client.forward_backward(&[f64::from(i)]))
            .collect();
        for (i, call) in calls.iter_mut().enumerate() {
            assert_eq!(
                call.result(LONG).unwrap()["loss"],
                f64::from(i as u32 * i as u32),
                "{flavor:?}"
            );
        }
        let most = server.max_open_connections(SLACK);
        assert!(
            most <= 4,
            "{flavor:?}: {most} connections open at once for four calls"
        );
        assert_eq!(server.total_jobs_run(), 4, "{flavor:?}");
    });
}
