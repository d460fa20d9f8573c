//! [`RetryPolicy`], plain data with an exponential schedule, and the [`Jitter`] that spreads it.
//!
//! Bad input is clamped, never a panic: policies are often built from configuration, and an
//! outage is no time to find a typo. No clamp can turn a policy into an endless loop.

use std::time::Duration;

/// How to randomize each backoff sleep, so that clients that failed together do not retry
/// together.
///
/// Each kind draws the sleep uniformly from a range ending at the undisturbed delay `d`: jitter
/// only shortens a sleep, so [`RetryPolicy::with_max_delay`] holds for the sleep taken.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::new()
///     .with_initial_delay(Duration::from_secs(1))
///     .with_multiplier(1.0)
///     .with_jitter(Jitter::Equal);
/// for delay in policy.delays() {
///     assert!(Duration::from_millis(500) <= delay && delay <= Duration::from_secs(1));
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jitter {
    /// No randomness: every sleep is exactly `d`.
    None,
    /// Uniform in `[0, d]`: the widest spread, and the shortest sleeps on average.
    Full,
    /// Uniform in `[d/2, d]`: spread, while still backing off at least half of `d`.
    Equal,
    /// Uniform in `[d(1 - f), d]`: shortens each sleep by up to the fraction `f`.
    ///
    /// `f` is clamped to `[0, 1]` when the policy takes it ([`RetryPolicy::with_jitter`]), and
    /// a NaN counts as 0 (no jitter). `Shorten(1.0)` spreads like [`Full`](Jitter::Full).
    Shorten(f64),
}

impl Jitter {
    /// With a usable fraction: a stored NaN would also make a policy unequal to its own clone.
    fn clamped(self) -> Self {
        match self {
            Jitter::Shorten(f) if f.is_nan() => Jitter::Shorten(0.0),
            Jitter::Shorten(f) => Jitter::Shorten(f.clamp(0.0, 1.0)),
            other => other,
        }
    }

    /// A sleep drawn from this jitter's range below `d`.
    fn apply(self, d: Duration) -> Duration {
        // Integer nanoseconds keep the draw inside `[low, d]` exactly, even for `Duration::MAX`,
        // where float seconds would round past the end.
        let high = d.as_nanos();
        let low = match self.clamped() {
            Jitter::None => return d,
            Jitter::Full => 0,
            Jitter::Equal => high / 2,
            // The cut, not the rest, goes through floats: `Shorten(0.0)` then never shortens,
            // however long `d` (above 2^53 ns a float rounds). `min` keeps a cut rounded up
            // past `high` from passing zero.
            Jitter::Shorten(f) if f >= 1.0 => 0,
            Jitter::Shorten(f) => high - ((high as f64 * f) as u128).min(high),
        };
        if low == high {
            return d;
        }
        from_nanos(fastrand::u128(low..=high))
    }
}

/// A `Duration` from nanoseconds that are known to fit, having come from a `Duration`.
fn from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    Duration::new(
        (nanos / NANOS_PER_SEC) as u64,
        (nanos % NANOS_PER_SEC) as u32,
    )
}

/// When to try again: how many attempts, how long to sleep between them, and how long the whole
/// retry may take.
///
/// Plain data: build it once with the `with_*` setters, clone it, compare it, reuse it across
/// calls. The backoff before retry `n` (from 0) is `initial_delay * multiplier^n`, capped at
/// `max_delay`, then shortened at random by the [`Jitter`], so none exceeds `max_delay`. `n`
/// counts backoffs: a retry that sleeps a server's `RetryAfter` hint instead takes no step.
/// [`delays`](RetryPolicy::delays) lists the schedule. Setters clamp what would not make sense
/// rather than panic; each says how.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::new()
///     .with_max_attempts(4)
///     .with_initial_delay(Duration::from_millis(100))
///     .with_multiplier(3.0)
///     .with_jitter(Jitter::None);
/// let delays: Vec<_> = policy.delays().collect();
/// assert_eq!(
///     delays,
///     [Duration::from_millis(100), Duration::from_millis(300), Duration::from_millis(900)],
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_delay: Duration,
    multiplier: f64,
    max_delay: Duration,
    jitter: Jitter,
    deadline: Option<Duration>,
    attempt_timeout: Option<Duration>,
}

impl RetryPolicy {
    /// The default policy, after the seed SDK's HTTP layer: 11 attempts with exponential backoff
    /// from half a second, capped at ten seconds.
    ///
    /// | setting                                                | default                  |
    /// |--------------------------------------------------------|--------------------------|
    /// | [`max_attempts`](RetryPolicy::with_max_attempts)       | 11 (the first and 10 retries) |
    /// | [`initial_delay`](RetryPolicy::with_initial_delay)     | 0.5 s                    |
    /// | [`multiplier`](RetryPolicy::with_multiplier)           | 2                        |
    /// | [`max_delay`](RetryPolicy::with_max_delay)             | 10 s                     |
    /// | [`jitter`](RetryPolicy::with_jitter)                   | [`Jitter::Shorten(0.25)`](Jitter::Shorten) |
    /// | [`deadline`](RetryPolicy::with_deadline)               | none                     |
    /// | [`attempt_timeout`](RetryPolicy::with_attempt_timeout) | none                     |
    ///
    /// Before jitter the sleeps are 0.5, 1, 2, 4 and 8 s, then 10 s five times: 65.5 s of
    /// sleeping in all, between 49 s and 65.5 s once jitter shortens them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new();
    /// assert_eq!(policy, RetryPolicy::default());
    /// assert_eq!(policy.delays().count(), 10);
    /// assert!(policy.delays().all(|d| d <= Duration::from_secs(10)));
    /// ```
    pub fn new() -> Self {
        RetryPolicy {
            max_attempts: 11,
            initial_delay: Duration::from_millis(500),
            multiplier: 2.0,
            max_delay: Duration::from_secs(10),
            jitter: Jitter::Shorten(0.25),
            deadline: None,
            attempt_timeout: None,
        }
    }

    /// Sets how many attempts to make in all, the first one included.
    ///
    /// `0` is taken as `1`: the operation always runs once, and one attempt never retries. A
    /// poll ([`poll_until_ready`](crate::poll_until_ready)) reads it as how many probes may fail
    /// *in a row*: any answer from the server starts the count again.
    ///
    /// # Examples
    ///
    /// ```
    /// use apifuture::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::new().with_max_attempts(3).delays().count(), 2);
    /// assert_eq!(RetryPolicy::new().with_max_attempts(0), RetryPolicy::new().with_max_attempts(1));
    /// ```
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the sleep before the first retry, from which later sleeps grow.
    ///
    /// A delay above [`max_delay`](RetryPolicy::with_max_delay) is capped like any other.
    /// `Duration::ZERO` makes every sleep zero (nothing grows from zero): each retry follows at
    /// once (still announced to [`notify`](crate::Retry::notify), with a zero delay), and a poll
    /// whose server keeps answering `Pending` probes as fast as they complete. Waits still see
    /// their timeouts and executors still run their other tasks, but it keeps a thread busy.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new()
    ///     .with_initial_delay(Duration::from_millis(50))
    ///     .with_jitter(Jitter::None);
    /// assert_eq!(policy.delays().next(), Some(Duration::from_millis(50)));
    /// ```
    #[must_use]
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets the factor by which each sleep grows over the one before.
    ///
    /// A NaN, an infinite multiplier, or one below 1 (which would shrink the delays) is taken as
    /// `1.0`: constant delays.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new()
    ///     .with_max_attempts(4)
    ///     .with_initial_delay(Duration::from_secs(1))
    ///     .with_jitter(Jitter::None);
    /// let constant: Vec<_> = policy.clone().with_multiplier(0.5).delays().collect();
    /// assert_eq!(constant, [Duration::from_secs(1); 3]);
    /// assert_eq!(policy.clone().with_multiplier(f64::NAN), policy.with_multiplier(1.0));
    /// ```
    #[must_use]
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() && multiplier >= 1.0 {
            multiplier
        } else {
            1.0
        };
        self
    }

    /// Sets the longest sleep between two attempts, jitter included.
    ///
    /// The cap is applied before the jitter, and jitter only shortens, so no sleep exceeds it;
    /// a server's hint (a retry's `RetryAfter`, a poll's `PendingFor`) is the one thing allowed
    /// past it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new()
    ///     .with_max_delay(Duration::from_secs(2))
    ///     .with_jitter(Jitter::Full);
    /// assert!(policy.delays().all(|d| d <= Duration::from_secs(2)));
    /// ```
    #[must_use]
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets how each sleep is randomized; see [`Jitter`].
    ///
    /// The fraction of [`Jitter::Shorten`] is clamped to `[0, 1]`, and a NaN is taken as `0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new()
    ///     .with_initial_delay(Duration::from_secs(1))
    ///     .with_multiplier(1.0)
    ///     .with_jitter(Jitter::Shorten(0.1));
    /// for delay in policy.delays() {
    ///     assert!(Duration::from_millis(900) <= delay && delay <= Duration::from_secs(1));
    /// }
    /// assert_eq!(
    ///     RetryPolicy::new().with_jitter(Jitter::Shorten(7.0)),
    ///     RetryPolicy::new().with_jitter(Jitter::Shorten(1.0)),
    /// );
    /// ```
    #[must_use]
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter.clamped();
        self
    }

    /// Sets how long the whole retry may take, measured on the wall clock from the start of the
    /// first attempt, the attempts' own time included.
    ///
    /// No sleep is started that would end past the deadline: the retry ends there with the last
    /// error instead. An attempt still running at the deadline is dropped (which cancels it),
    /// and the retry ends with its last error, or `DeadlineExceeded` if it has none. A deadline
    /// too large for [`Instant`](std::time::Instant), such as `Duration::MAX`, is kept as given
    /// and means no deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::RetryPolicy;
    ///
    /// // Up to 11 attempts, but give up after 30 s whatever the count.
    /// let policy = RetryPolicy::new().with_deadline(Duration::from_secs(30));
    /// // The deadline cuts the schedule short as it runs; it does not change the schedule.
    /// assert_eq!(policy.delays().count(), 10);
    /// ```
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets how long one attempt may run before it is cancelled; a retry counts that as a
    /// failure.
    ///
    /// A poll ([`poll_until_ready`](crate::poll_until_ready)) reads it as a long-poll limit: a
    /// probe still held then is cancelled and sent again at once, as after a `PendingFor(ZERO)`
    /// answer (which resets the failure count), so only a
    /// [deadline](RetryPolicy::with_deadline) ends a poll whose server holds every probe (give it
    /// one). `Duration::ZERO` is kept: every attempt not ready at once times out, and counts as a
    /// failure in a poll too (re-sent at once, it would be a hot loop of requests).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::RetryPolicy;
    ///
    /// // Each attempt gets 5 s; a slow one is abandoned and retried.
    /// let policy = RetryPolicy::new().with_attempt_timeout(Duration::from_secs(5));
    /// assert_ne!(policy, RetryPolicy::new());
    /// ```
    #[must_use]
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The sleeps this policy would take between attempts, in order, jitter applied: one fewer
    /// than the attempts. Each call draws new jitter; the iterator owns a copy of the policy,
    /// so it outlives `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new().with_jitter(Jitter::None);
    /// let secs: Vec<f64> = policy.delays().map(|d| d.as_secs_f64()).collect();
    /// assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0, 10.0]);
    /// ```
    pub fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        let policy = self.clone();
        (0..self.max_attempts.saturating_sub(1)).map(move |retry| policy.delay(retry))
    }

    /// How many attempts to make in all, at least 1 (see
    /// [`with_max_attempts`](Self::with_max_attempts)).
    ///
    /// ```
    /// assert_eq!(apifuture::RetryPolicy::new().with_max_attempts(0).max_attempts(), 1);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wall-clock limit for the whole retry, from the first attempt's start, if any.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = apifuture::RetryPolicy::new().with_deadline(Duration::from_secs(60));
    /// assert_eq!(policy.deadline(), Some(Duration::from_secs(60)));
    /// ```
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The limit for one attempt, if any: a transport's own request timeout should not be
    /// longer.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(apifuture::RetryPolicy::new().attempt_timeout(), None);
    /// ```
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout
    }

    /// The longest backoff sleep.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(apifuture::RetryPolicy::new().max_delay(), Duration::from_secs(10));
    /// ```
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The jittered sleep before retry number `retry`, counting from 0 (`delay(0)` follows the
    /// first attempt). Defined for every `retry`, past `max_attempts` too, for polling.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        self.jitter.apply(self.base_delay(retry))
    }

    /// The sleep before retry number `retry` without jitter: `initial_delay * multiplier^retry`,
    /// capped at `max_delay`.
    pub(crate) fn base_delay(&self, retry: u32) -> Duration {
        let (initial, cap) = (self.initial_delay, self.max_delay);
        if initial >= cap {
            return cap;
        }
        // Nothing grows here, so skip the float round trip, which could be off by a nanosecond.
        // A zero delay must also stay out of it: 0 * inf is NaN.
        if retry == 0 || initial.is_zero() || self.multiplier == 1.0 {
            return initial;
        }
        // Float math saturates at infinity where `Duration` arithmetic would overflow; anything
        // too large for a `Duration` is past the cap anyway.
        let secs = initial.as_secs_f64() * self.multiplier.powf(f64::from(retry));
        // The lower clamp keeps the schedule from dipping below `initial` by a rounding error.
        Duration::try_from_secs_f64(secs).map_or(cap, |d| d.clamp(initial, cap))
    }
}

impl Default for RetryPolicy {
    /// [`RetryPolicy::new`].
    fn default() -> Self {
        RetryPolicy::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_is_defined_past_the_attempts() {
        let policy = RetryPolicy::new().with_max_attempts(2);
        assert_eq!(policy.base_delay(u32::MAX), Duration::from_secs(10));
        assert!(policy.delay(u32::MAX) <= Duration::from_secs(10));
    }

    #[test]
    fn extremes_saturate_at_the_cap() {
        let policy = RetryPolicy::new()
            .with_initial_delay(Duration::from_nanos(1))
            .with_multiplier(f64::MAX)
            .with_max_delay(Duration::MAX)
            .with_jitter(Jitter::Full);
        assert_eq!(policy.base_delay(0), Duration::from_nanos(1));
        assert_eq!(policy.base_delay(1), Duration::MAX);
        assert_eq!(policy.base_delay(u32::MAX), Duration::MAX);
        let _ = policy.delay(u32::MAX);

        let huge = RetryPolicy::new()
            .with_initial_delay(Duration::MAX)
            .with_max_delay(Duration::MAX)
            .with_jitter(Jitter::Shorten(0.5));
        assert_eq!(huge.base_delay(3), Duration::MAX);
        // At this size a float ulp is about an hour; the bound holds to that precision.
        let half = Duration::MAX.as_secs_f64() / 2.0;
        assert!(huge.delay(3).as_secs_f64() >= half * (1.0 - 1e-12));
    }

    #[test]
    fn zero_initial_delay_stays_zero() {
        let policy = RetryPolicy::new()
            .with_initial_delay(Duration::ZERO)
            .with_multiplier(100.0);
        assert_eq!(policy.base_delay(u32::MAX), Duration::ZERO);
        assert_eq!(policy.delay(5), Duration::ZERO);
    }
}
