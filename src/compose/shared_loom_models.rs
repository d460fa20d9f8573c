//! Loom models of [`SharedFuture`]'s waiters against completion and each other, over a real
//! promise. Each waiter is a loom thread in `block_on`, so a lost wake-up (in the promise's waker
//! slot, the group's waker, the waiter list, or during a poll) is a deadlock loom reports.

use std::sync::Arc;
use std::task::Poll;

use loom::thread;

use super::shared::SharedFuture;
use crate::api_future::ApiFuture;
use crate::core::promise::loom_models::sent;
use crate::core::promise::promise;
use crate::error::Error;
use crate::sync::model::{Copies, Tracked, check};

fn value(outcome: Result<Tracked, Error<Arc<()>>>) -> u32 {
    outcome.expect("the shared value").id
}

/// The promise completes while `other` does something with one handle; the other handle
/// waits and gets the value, and the value is dropped once.
fn against_completion(name: &str, other: fn(SharedFuture<Tracked, ()>)) {
    check(name, Some(2), move || {
        let copies = Arc::new(Copies::default());
        let (future, producer) = sent(&copies);
        let mut staying = SharedFuture::new(future);
        let other = {
            let handle = staying.clone();
            thread::spawn(move || other(handle))
        };
        assert_eq!(value(loom::future::block_on(&mut staying)), 1);
        other.join().unwrap();
        producer.join().unwrap();
        drop(staying);
        copies.assert_all_dropped();
    });
}

/// One handle waits, the promise completes, a second registers meanwhile (maybe finding the
/// first polling): both are woken and get a clone of the one value.
#[test]
fn two_waiters_vs_completion() {
    against_completion("shared: two waiters vs completion", |mut first| {
        assert_eq!(value(loom::future::block_on(&mut first)), 1);
    });
}

/// A handle polls once (maybe while the other polls) and is dropped, while the promise
/// completes: the other handle's waiter is still woken.
#[test]
fn waiter_leaves_vs_completion() {
    against_completion("shared: a waiter leaves vs completion", |mut leaving| {
        loom::future::block_on(std::future::poll_fn(|cx| {
            let _ = leaving.poll_ready(cx);
            Poll::Ready(())
        }));
    });
}

/// A handle only looks at the source (`try_result` polls and arms nothing) while another waits
/// and the promise completes: a waiter that came during the look is not left on an unarmed one.
#[test]
fn a_look_vs_a_waiter_vs_completion() {
    check("shared: a look vs a waiter vs completion", Some(2), || {
        let (promise, future) = promise::<u32, ()>();
        let mut looking = SharedFuture::new(future);
        let mut waiting = looking.clone();
        let looker = thread::spawn(move || {
            let _ = looking.try_result();
        });
        let producer = thread::spawn(move || promise.set_result(7));
        assert_eq!(loom::future::block_on(&mut waiting).unwrap(), 7);
        looker.join().unwrap();
        producer.join().unwrap();
    });
}
