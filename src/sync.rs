//! The synchronisation primitives of the handshakes (`state.rs`, `callbacks.rs`,
//! `compose/shared.rs`): std's and the crates' normally, loom's under `cfg(apifuture_loom)`, so
//! that the loom models in those files check the code that ships. Run them with
//!
//! ```text
//! RUSTFLAGS="--cfg apifuture_loom" cargo test --release --lib --target-dir target/loom loom_models
//! ```
//!
//! (`-- --nocapture` shows what each explored). The three largest models (all four
//! announcements on one word, and the shared future's two) are bounded at two preemptions: CI
//! runs all seven in a debug build in about 20 s. `LOOM_MAX_PREEMPTIONS=3` explores 419,506,
//! 150,401 and 53,666 interleavings of those three (about 40 s in release). The cfg is ours, not `loom`: under `--cfg loom`
//! concurrent-queue and parking, beneath async-io, switch to loom too and async-io no longer
//! builds.
//!
//! `Arc` stays std's everywhere (loom's has no `Wake`), and so does the `oneshot` channel
//! underneath: loom runs their atomics but explores only the orders of its own types.

#[cfg(not(apifuture_loom))]
pub(crate) use atomic_waker::AtomicWaker;
#[cfg(not(apifuture_loom))]
pub(crate) use once_cell::race::OnceBox;
#[cfg(not(apifuture_loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(apifuture_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard, OnceLock};

#[cfg(apifuture_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(apifuture_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(apifuture_loom)]
pub(crate) use stand_ins::{AtomicWaker, OnceBox, OnceLock};

#[cfg(apifuture_loom)]
mod stand_ins {
    use loom::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering;
    use std::task::Waker;

    /// `atomic_waker::AtomicWaker`'s interface over loom's, which models it as a lock (loom
    /// checks our use of the slot, not atomic-waker's own algorithm).
    #[derive(Debug, Default)]
    pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

    impl AtomicWaker {
        pub(crate) fn new() -> Self {
            AtomicWaker(loom::future::AtomicWaker::new())
        }

        pub(crate) fn register(&self, waker: &Waker) {
            self.0.register_by_ref(waker);
        }

        pub(crate) fn wake(&self) {
            self.0.wake();
        }
    }

    /// `once_cell::race::OnceBox` with the value built up front and its publication as a loom
    /// flag: the flag's release and acquire are modelled, once_cell's lazy allocation and its
    /// race to install the box are not.
    #[derive(Debug)]
    pub(crate) struct OnceBox<T> {
        set: AtomicBool,
        value: T,
    }

    impl<T: Default> OnceBox<T> {
        pub(crate) fn new() -> Self {
            OnceBox {
                set: AtomicBool::new(false),
                value: T::default(),
            }
        }
    }

    impl<T> OnceBox<T> {
        pub(crate) fn get(&self) -> Option<&T> {
            self.set.load(Ordering::Acquire).then_some(&self.value)
        }

        pub(crate) fn get_or_init(&self, _init: impl FnOnce() -> Box<T>) -> &T {
            self.set.fetch_or(true, Ordering::AcqRel);
            &self.value
        }
    }

    /// `std::sync::OnceLock` whose publication is a loom flag, so that a lock-free `get` is a
    /// point where loom switches threads and may see the cell still empty. Only `set` under a
    /// loom lock is modelled: racing `set`s are std's business and not checked.
    pub(crate) struct OnceLock<T> {
        set: AtomicBool,
        cell: std::sync::OnceLock<T>,
    }

    impl<T> OnceLock<T> {
        pub(crate) fn new() -> Self {
            OnceLock {
                set: AtomicBool::new(false),
                cell: std::sync::OnceLock::new(),
            }
        }

        pub(crate) fn get(&self) -> Option<&T> {
            if self.set.load(Ordering::Acquire) {
                self.cell.get()
            } else {
                None
            }
        }

        pub(crate) fn set(&self, value: T) -> Result<(), T> {
            self.cell.set(value)?;
            self.set.store(true, Ordering::Release);
            Ok(())
        }
    }
}

/// The wakers of any number of waiters on one event, each under a key of its own, so that a
/// waiter polled again replaces its own waker and a waiter that leaves takes it out. One lock;
/// wakers are woken outside it.
#[derive(Debug)]
pub(crate) struct WakerList {
    keyed: Mutex<Keyed>,
}

impl Default for WakerList {
    fn default() -> Self {
        WakerList {
            keyed: Mutex::new(Keyed::default()),
        }
    }
}

/// The registered wakers, and the last key given out (keys count up from 1; 0 means "none").
#[derive(Debug, Default)]
struct Keyed {
    last_key: usize,
    wakers: Vec<(usize, std::task::Waker)>,
}

impl WakerList {
    fn lock(&self) -> MutexGuard<'_, Keyed> {
        // Nothing panics under this lock but an allocation failure: what is there is sound.
        self.keyed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers `waker` under `*key`, giving the waiter a key first if it has none (`0`). A
    /// waiter already registered with a waker that wakes the same task changes nothing.
    pub(crate) fn register(&self, key: &mut usize, waker: &std::task::Waker) {
        let mut keyed = self.lock();
        if *key != 0 {
            if let Some((_, known)) = keyed.wakers.iter_mut().find(|(k, _)| k == key) {
                if !known.will_wake(waker) {
                    known.clone_from(waker);
                }
                return;
            }
        } else {
            // Wrapping past `usize::MAX` would take centuries of registrations; 0 is skipped.
            keyed.last_key = keyed.last_key.wrapping_add(1).max(1);
            *key = keyed.last_key;
        }
        keyed.wakers.push((*key, waker.clone()));
    }

    /// Takes `key`'s waker out, if it is still there (a waiter leaving).
    pub(crate) fn unregister(&self, key: usize) {
        let mut keyed = self.lock();
        if let Some(at) = keyed.wakers.iter().position(|(k, _)| *k == key) {
            keyed.wakers.swap_remove(at);
        }
    }

    /// Wakes every registered waiter, once: the list is empty afterwards (a waiter that polls
    /// again registers again).
    pub(crate) fn wake_all(&self) {
        let wakers = std::mem::take(&mut self.lock().wakers);
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    /// How many waiters are registered.
    #[cfg(all(test, apifuture_loom))]
    pub(crate) fn len(&self) -> usize {
        self.lock().wakers.len()
    }
}

/// What the loom models share: a runner that reports what it explored, and a value that counts
/// its copies.
#[cfg(all(test, apifuture_loom))]
pub(crate) mod model {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// Explores `model`'s interleavings, with at most `preemptions` forced thread switches each
    /// unless `LOOM_MAX_PREEMPTIONS` says otherwise (`None`: every interleaving), and prints
    /// how many it ran and for how long (`--nocapture` shows it).
    pub(crate) fn check(
        name: &str,
        preemptions: Option<usize>,
        model: impl Fn() + Sync + Send + 'static,
    ) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = builder.preemption_bound.or(preemptions);
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let start = Instant::now();
        builder.check(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            model();
        });
        println!(
            "loom {name}: {} interleavings (preemption bound {:?}) in {:.2?}",
            runs.load(Ordering::Relaxed),
            builder.preemption_bound,
            start.elapsed(),
        );
    }

    /// Counts of a value's copies, made and dropped. Plain std atomics: loom does not need to
    /// schedule around them, and they are read after the threads are joined.
    #[derive(Debug, Default)]
    pub(crate) struct Copies {
        made: AtomicUsize,
        dropped: AtomicUsize,
    }

    impl Copies {
        /// Every copy made was dropped, once.
        pub(crate) fn assert_all_dropped(&self) {
            let made = self.made.load(Ordering::Relaxed);
            assert!(made > 0);
            assert_eq!(self.dropped.load(Ordering::Relaxed), made);
        }
    }

    /// A value that counts its copies in [`Copies`].
    #[derive(Debug)]
    pub(crate) struct Tracked {
        pub(crate) id: u32,
        copies: Arc<Copies>,
    }

    impl Tracked {
        pub(crate) fn new(id: u32, copies: &Arc<Copies>) -> Self {
            copies.made.fetch_add(1, Ordering::Relaxed);
            Tracked {
                id,
                copies: Arc::clone(copies),
            }
        }
    }

    impl Clone for Tracked {
        fn clone(&self) -> Self {
            Tracked::new(self.id, &self.copies)
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.copies.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
