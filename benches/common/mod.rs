//! Timing loops shared by the benches: criterion's `iter_custom` bodies.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Times `iters` runs of `body`, each given its iteration number through `black_box`, so the
/// optimiser can neither fold a run into a constant nor hoist it out of the loop.
pub fn blocking_loop(iters: u64, mut body: impl FnMut(u64) -> u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        black_box(body(black_box(i)));
    }
    start.elapsed()
}

/// Times `iters` awaits of the futures `body` makes, all inside one `block_on`, so that setting
/// up the executor is paid once per sample instead of once per wait.
pub fn async_loop<F>(iters: u64, mut body: impl FnMut(u64) -> F) -> Duration
where
    F: Future<Output = u64>,
{
    futures_lite::future::block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            black_box(body(black_box(i)).await);
        }
        start.elapsed()
    })
}
