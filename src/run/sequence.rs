//! [`Sequence`] and [`Turn`]: calls that reach the server in the order they were made, while
//! they run concurrently (the seed SDK's sequence ids).
//!
//! A sequence counts the turns it hands out; exactly one is open at a time, the lowest not yet
//! released. Releasing the open turn (or dropping it) opens the next one still held; a turn
//! released before it opened is skipped when its time comes, so nobody overtakes anybody. All
//! of it sits under one lock, with the waker of each waiting turn filed under its number: a
//! release wakes the one turn it opens.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use crate::api_future::{ApiFuture, fused_future};
use crate::error::Error;
use crate::sync::{WakerSlot, unpoisoned};

/// Hands out [`Turn`]s in call order: take one when a call is made, wait for it before the
/// call's submission, and release it (or drop it) when the submission has ended, whatever its
/// outcome. The next call's turn opens then, never before, so submissions reach the server in
/// the order the calls were made, while everything else about the calls (building the request,
/// retrying it, polling for the result) runs concurrently. Cheap to clone: clones hand out
/// turns of the same sequence. `Send + Sync`.
///
/// # Examples
///
/// ```
/// use apifuture::{ApiFuture, ApiFutureExt, Sequence, spawn, BoxError};
/// use std::time::Duration;
///
/// let sequence = Sequence::starting_at(1);
/// // Two calls, made in this order: each takes its turn at once.
/// let (first, second) = (sequence.take_turn(), sequence.take_turn());
/// assert_eq!((first.number(), second.number()), (1, 2));
///
/// // The second submits once the first has released its turn, whatever the threads do. (A
/// // turn never fails: `map_failure` gives it the submission's error type, for `then_call`.)
/// let mut later = second
///     .map_failure(|never| match never {})
///     .then_call(|turn| spawn(move || { drop(turn); Ok::<_, BoxError>("second") }));
/// assert!(later.result(Duration::from_millis(10)).unwrap_err().is_timeout());
/// let mut sooner = first
///     .map_failure(|never| match never {})
///     .then_call(|turn| spawn(move || { drop(turn); Ok("first") }));
/// assert_eq!(sooner.result(Duration::from_secs(30)).unwrap(), "first");
/// assert_eq!(later.result(Duration::from_secs(30)).unwrap(), "second");
/// ```
#[derive(Clone, Default)]
pub struct Sequence {
    line: Arc<Mutex<Turns>>,
}

/// The count and the waiters of a line's turns, under its lock.
#[derive(Default)]
struct Turns {
    /// The number the next turn gets.
    next: u64,
    /// The number of the open turn (or of the next turn to be taken, if none is held).
    open: u64,
    /// Turns released before they opened: skipped when `open` reaches them.
    released: HashSet<u64>,
    /// The wakers of turns waiting to open, by number.
    waiting: HashMap<u64, WakerSlot>,
}

impl Sequence {
    /// A sequence whose first turn is number 0.
    ///
    /// ```
    /// let sequence = apifuture::Sequence::new();
    /// assert_eq!(sequence.take_turn().number(), 0);
    /// ```
    pub fn new() -> Self {
        Sequence::starting_at(0)
    }

    /// A sequence whose first turn is number `first` (a server's first sequence id, or where a
    /// resumed session left off). Numbers count up from there, wrapping after `u64::MAX`.
    ///
    /// ```
    /// let sequence = apifuture::Sequence::starting_at(41);
    /// assert_eq!(sequence.take_turn().number(), 41);
    /// assert_eq!(sequence.take_turn().number(), 42);
    /// ```
    pub fn starting_at(first: u64) -> Self {
        Sequence {
            line: Arc::new(Mutex::new(Turns {
                next: first,
                open: first,
                ..Turns::default()
            })),
        }
    }

    /// The next turn, in the order of the calls to this method (across threads: the order in
    /// which they take the sequence's lock). It opens once every earlier turn is released or
    /// dropped; the first opens at once.
    ///
    /// ```
    /// let sequence = apifuture::Sequence::new();
    /// let first = sequence.take_turn();
    /// let second = sequence.take_turn();
    /// assert!(first.is_open() && !second.is_open());
    /// first.release();
    /// assert!(second.is_open());
    /// ```
    pub fn take_turn(&self) -> Turn {
        let mut turns = unpoisoned(self.line.lock());
        let number = turns.next;
        turns.next = number.wrapping_add(1);
        Turn {
            line: Some(Arc::clone(&self.line)),
            number,
            terminated: false,
        }
    }
}

impl fmt::Debug for Sequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let turns = unpoisoned(self.line.lock());
        f.debug_struct("Sequence")
            .field("next", &turns.next)
            .field("open", &turns.open)
            .finish_non_exhaustive()
    }
}

/// One call's place in a [`Sequence`]: an [`ApiFuture`] that is ready once every earlier turn
/// has been released, and that gives itself back, open, to be held while the call submits.
///
/// - Waiting works as on any future of the crate: `turn.result(timeout)`, `.await`,
///   `result_async`, a combinator such as [`then_call`](crate::ApiFutureExt::then_call). A
///   wait's timeout keeps the turn in its place; wait again.
/// - The turn passes on when it is released ([`release`](Turn::release), or dropped): release
///   it when the submission has ended, succeeded or failed (and a panic that unwinds past it
///   drops it). A turn released or dropped before it opened passes on only once it would have
///   opened: the turns after it never overtake the ones before.
/// - Waits give `Ok(turn)` once (the open turn, moved out of this one), then
///   `Err(Error::Consumed)`; nothing else can go wrong (`Failure` is `Infallible`). To chain
///   the submission with [`then_call`](crate::ApiFutureExt::then_call), whose second future
///   must fail with the first's error type, give the turn the submission's:
///   `turn.map_failure(|never| match never {})`.
/// - With combinators, hold the open turn in the submission (move it into the attempt closure
///   of its [`retry`](crate::retry), say): the retry drops its closure when it ends, whatever
///   its outcome (even while its future is kept), and the next turn opens then. A retry ends
///   as something drives it: wait on it, or [`background`](crate::ApiFutureExt::background) it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{ApiFuture, Error, Sequence};
///
/// let sequence = Sequence::new();
/// let first = sequence.take_turn();
/// let mut second = sequence.take_turn();
/// assert_eq!(second.result(Duration::from_millis(1)).unwrap_err(), Error::Timeout);
/// drop(first); // the first call's submission has ended
/// let open = second.result(Duration::ZERO).unwrap();
/// assert!(open.is_open());
/// // ...submit the second call, then:
/// open.release();
/// ```
#[must_use = "a turn is a place in line: wait for it, then release it when the submission has ended"]
pub struct Turn {
    /// `None` once the turn has moved out through a wait.
    line: Option<Arc<Mutex<Turns>>>,
    number: u64,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl Turn {
    /// The turn's number in its sequence: the call's sequence id.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Whether every earlier turn has been released, so that this call may submit now. False
    /// for a turn that was moved out through a wait (the moved turn answers for it).
    pub fn is_open(&self) -> bool {
        self.line
            .as_ref()
            .is_some_and(|line| unpoisoned(line.lock()).open == self.number)
    }

    /// Passes the turn on: the call's submission has ended. The same as dropping it; if the
    /// turn has not opened yet, it passes on once it would have.
    pub fn release(self) {
        drop(self);
    }
}

impl ApiFuture for Turn {
    type Value = Turn;
    type Failure = Infallible;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(line) = &self.line else {
            return Poll::Ready(());
        };
        let mut turns = unpoisoned(line.lock());
        if turns.open == self.number {
            return Poll::Ready(());
        }
        turns
            .waiting
            .entry(self.number)
            .or_default()
            .register(cx.waker());
        Poll::Pending
    }

    fn try_result(&mut self) -> Option<Result<Turn, Error<Infallible>>> {
        let Some(line) = &self.line else {
            return Some(Err(Error::Consumed));
        };
        if unpoisoned(line.lock()).open != self.number {
            return None;
        }
        Some(Ok(Turn {
            line: self.line.take(),
            number: self.number,
            terminated: false,
        }))
    }

    /// Looks only: a turn opens when another is released, not by being polled.
    fn done(&mut self) -> bool {
        self.line.is_none() || self.is_open()
    }

    /// A turn never fails: `Some(false)` once it is open (or moved out), `None` before.
    fn peek_failed(&mut self) -> Option<bool> {
        self.done().then_some(false)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(line) = self.line.take() else {
            return;
        };
        let woken = {
            let mut turns = unpoisoned(line.lock());
            turns.waiting.remove(&self.number);
            if turns.open != self.number {
                // Not open yet: skipped when its time comes.
                turns.released.insert(self.number);
                return;
            }
            let mut open = self.number.wrapping_add(1);
            while turns.released.remove(&open) {
                open = open.wrapping_add(1);
            }
            turns.open = open;
            turns.waiting.remove(&open).and_then(|mut slot| slot.take())
        };
        if let Some(waker) = woken {
            waker.wake();
        }
    }
}

fused_future!([] Turn, []);

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.line {
            None => "taken",
            Some(_) if self.is_open() => "ready",
            Some(_) => "pending",
        };
        f.debug_struct("Turn")
            .field("number", &self.number)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
