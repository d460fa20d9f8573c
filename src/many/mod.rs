//! Many futures at once: Python's `wait`, a join of every outcome, and `as_completed`, each in
//! both modes, all driven by one [`Set`](set::Set).

mod as_completed;
mod join;
mod set;
mod wait;

pub use as_completed::{AsCompleted, AsCompletedStream, as_completed, as_completed_async};
pub use join::{JoinAll, join_all, join_all_async};
pub use wait::{ReturnWhen, WaitAsync, wait, wait_async};
