//! Retries and server-side polling: the seed's "async operations with retry logic".
//!
//! [`policy`] holds the schedule as plain data, [`machine`] the one state machine that follows
//! it in both modes, and [`retry`](mod@retry) the two entry points.

mod machine;
mod policy;
#[allow(clippy::module_inception)]
mod retry;

pub use machine::{AttemptFn, ProbeFn, Progress, RetryDecision};
pub use policy::{Jitter, RetryPolicy};
pub use retry::{Polling, Retry, poll_until_ready, retry};
