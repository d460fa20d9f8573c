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

/// The wakers of any number of waiters on one event, each in a slot of its own, so that a
/// waiter polled again replaces its own waker (or keeps it, if it wakes the same task) and a
/// waiter that leaves takes its slot back. Waking empties the slots but keeps them: a waiter
/// keeps its key for as long as it waits. One lock; wakers are woken outside it.
#[derive(Debug)]
pub(crate) struct WakerList {
    slots: Mutex<Slots>,
}

/// The slots (a waiter's key is its index plus one; 0 means "none yet") and the free ones.
#[derive(Debug, Default)]
struct Slots {
    wakers: Vec<Option<std::task::Waker>>,
    free: Vec<usize>,
}

impl Default for WakerList {
    fn default() -> Self {
        WakerList {
            slots: Mutex::new(Slots::default()),
        }
    }
}

impl WakerList {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Nothing panics under this lock but an allocation failure: what is there is sound.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers `waker` under `*key`, giving the waiter a slot first if it has none (`0`). A
    /// waiter whose slot holds a waker that wakes the same task changes nothing.
    pub(crate) fn register(&self, key: &mut usize, waker: &std::task::Waker) {
        let mut slots = self.lock();
        if *key == 0 {
            let index = match slots.free.pop() {
                Some(index) => index,
                None => {
                    slots.wakers.push(None);
                    slots.wakers.len() - 1
                }
            };
            *key = index + 1;
        }
        match &mut slots.wakers[*key - 1] {
            Some(known) if known.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Gives `key`'s slot back (a waiter leaving), with the waker it may still hold.
    pub(crate) fn unregister(&self, key: usize) {
        if key == 0 {
            return;
        }
        let mut slots = self.lock();
        if let Some(slot) = slots.wakers.get_mut(key - 1) {
            *slot = None;
            slots.free.push(key - 1);
        }
    }

    /// Wakes every registered waiter, once: their slots are empty afterwards (a waiter that
    /// polls again registers again, under the same key).
    pub(crate) fn wake_all(&self) {
        let woken: Vec<std::task::Waker> = {
            let mut slots = self.lock();
            slots.wakers.iter_mut().filter_map(Option::take).collect()
        };
        for waker in woken {
            waker.wake();
        }
    }

    /// How many waiters have a waker registered.
    #[cfg(all(test, apifuture_loom))]
    pub(crate) fn len(&self) -> usize {
        self.lock().wakers.iter().flatten().count()
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
