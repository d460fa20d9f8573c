//! `RetryPolicy` and `Jitter`: the defaults, every clamp, every jitter range, and properties
//! over random policies. Pure arithmetic and randomness: nothing for Miri to find that the
//! unit tests would not.

#![cfg(not(miri))]

use std::time::Duration;

use apifuture::{Jitter, RetryPolicy};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// A policy whose undisturbed delay is always `d`, so that `n` samples show the jitter's range.
fn flat(d: Duration, n: u32, jitter: Jitter) -> Vec<Duration> {
    RetryPolicy::new()
        .with_max_attempts(n + 1)
        .with_initial_delay(d)
        .with_multiplier(1.0)
        .with_max_delay(d)
        .with_jitter(jitter)
        .delays()
        .collect()
}

/// The clamp `with_jitter` applies to `Shorten`'s fraction.
fn clamp_fraction(f: f64) -> f64 {
    if f.is_nan() { 0.0 } else { f.clamp(0.0, 1.0) }
}

/// The clamp `with_multiplier` applies.
fn clamp_multiplier(m: f64) -> f64 {
    if m.is_finite() && m >= 1.0 { m } else { 1.0 }
}

// ---- Defaults ----

#[test]
fn default_is_new() {
    assert_eq!(RetryPolicy::default(), RetryPolicy::new());
}

#[test]
fn default_values() {
    let explicit = RetryPolicy::new()
        .with_max_attempts(11)
        .with_initial_delay(500 * MS)
        .with_multiplier(2.0)
        .with_max_delay(10 * SEC)
        .with_jitter(Jitter::Shorten(0.25));
    assert_eq!(RetryPolicy::new(), explicit);
    let policy = RetryPolicy::new();
    assert_eq!(policy.max_attempts(), 11);
    assert_eq!(policy.max_delay(), 10 * SEC);
    assert_eq!((policy.deadline(), policy.attempt_timeout()), (None, None));
    // No deadline and no attempt timeout: setting either makes a different policy.
    assert_ne!(
        RetryPolicy::new(),
        RetryPolicy::new().with_deadline(Duration::MAX)
    );
    assert_ne!(
        RetryPolicy::new(),
        RetryPolicy::new().with_attempt_timeout(Duration::MAX)
    );
}

#[test]
fn default_schedule() {
    let policy = RetryPolicy::new();
    assert_eq!(policy.delays().count(), 10);

    let first = policy.delays().next().unwrap();
    assert!((375 * MS..=500 * MS).contains(&first), "{first:?}");

    let bases: Vec<Duration> = policy.clone().with_jitter(Jitter::None).delays().collect();
    let expected: Vec<Duration> = [500, 1_000, 2_000, 4_000, 8_000]
        .into_iter()
        .map(|ms| ms * MS)
        .chain([10 * SEC; 5])
        .collect();
    assert_eq!(bases, expected);

    for _ in 0..100 {
        for (delay, base) in policy.delays().zip(&bases) {
            assert!(
                delay <= *base && delay <= 10 * SEC,
                "{delay:?} above {base:?}"
            );
            assert!(
                delay >= base.mul_f64(0.75),
                "{delay:?} below 3/4 of {base:?}"
            );
        }
    }
}

// ---- Clamps ----

#[test]
fn zero_attempts_means_one() {
    let policy = RetryPolicy::new().with_max_attempts(0);
    assert_eq!(policy, RetryPolicy::new().with_max_attempts(1));
    assert_eq!(policy.delays().count(), 0);
}

#[test]
fn bad_multipliers_mean_constant_delays() {
    let base = RetryPolicy::new()
        .with_max_attempts(5)
        .with_initial_delay(SEC)
        .with_max_delay(60 * SEC)
        .with_jitter(Jitter::None);
    let constant = base.clone().with_multiplier(1.0);
    for m in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.999,
        0.5,
        0.0,
        -0.0,
        -3.0,
    ] {
        let policy = base.clone().with_multiplier(m);
        assert_eq!(policy, constant, "multiplier {m}");
        assert!(policy.delays().all(|d| d == SEC), "multiplier {m}");
    }
}

#[test]
fn shorten_fraction_is_clamped() {
    let shorten = |f| RetryPolicy::new().with_jitter(Jitter::Shorten(f));
    assert_eq!(shorten(f64::NAN), shorten(0.0));
    assert_eq!(shorten(-1.0), shorten(0.0));
    assert_eq!(shorten(f64::NEG_INFINITY), shorten(0.0));
    assert_eq!(shorten(2.0), shorten(1.0));
    assert_eq!(shorten(f64::INFINITY), shorten(1.0));
    assert_eq!(shorten(0.3), shorten(0.3));

    // A NaN fraction shortens nothing.
    assert!(
        flat(SEC, 100, Jitter::Shorten(f64::NAN))
            .iter()
            .all(|&d| d == SEC)
    );
    assert!(
        flat(SEC, 100, Jitter::Shorten(-5.0))
            .iter()
            .all(|&d| d == SEC)
    );
    // A fraction above 1 is Full: never below zero, never above d.
    assert!(
        flat(SEC, 100, Jitter::Shorten(3.0))
            .iter()
            .all(|&d| d <= SEC)
    );
}

#[test]
fn limits_are_kept() {
    // Kept as given, not clamped to something else: equal only to the same value.
    let forever = RetryPolicy::new().with_deadline(Duration::MAX);
    assert_eq!(forever, RetryPolicy::new().with_deadline(Duration::MAX));
    assert_ne!(
        forever,
        RetryPolicy::new().with_deadline(Duration::from_secs(u64::MAX / 2))
    );
    let instant = RetryPolicy::new().with_attempt_timeout(Duration::ZERO);
    assert_ne!(instant, RetryPolicy::new());
    assert_ne!(
        instant,
        RetryPolicy::new().with_attempt_timeout(Duration::from_nanos(1))
    );
    assert_eq!(forever.deadline(), Some(Duration::MAX));
    assert_eq!(instant.attempt_timeout(), Some(Duration::ZERO));
    // Neither changes the schedule.
    assert_eq!(forever.delays().count(), 10);
    assert_eq!(instant.delays().count(), 10);
}

#[test]
fn initial_delay_above_the_cap_is_capped() {
    let policy = RetryPolicy::new()
        .with_initial_delay(60 * SEC)
        .with_max_delay(SEC)
        .with_jitter(Jitter::None);
    assert!(policy.delays().all(|d| d == SEC));
}

#[test]
fn huge_values_saturate() {
    let policy = RetryPolicy::new()
        .with_max_attempts(200)
        .with_initial_delay(Duration::MAX)
        .with_multiplier(f64::MAX)
        .with_max_delay(Duration::MAX)
        .with_jitter(Jitter::None);
    assert!(policy.delays().all(|d| d == Duration::MAX));

    let growing = policy
        .with_initial_delay(Duration::from_nanos(1))
        .with_jitter(Jitter::Full);
    assert_eq!(growing.delays().count(), 199);
}

#[test]
fn zero_max_delay_means_no_sleep() {
    let policy = RetryPolicy::new()
        .with_max_delay(Duration::ZERO)
        .with_jitter(Jitter::Full);
    assert!(policy.delays().all(|d| d.is_zero()));
}

// ---- Jitter ranges ----

#[test]
fn no_jitter_is_exact() {
    assert!(flat(SEC, 1000, Jitter::None).iter().all(|&d| d == SEC));
}

#[test]
fn full_jitter_spans_zero_to_d() {
    let delays = flat(SEC, 1000, Jitter::Full);
    assert!(delays.iter().all(|&d| d <= SEC));
    // 1000 uniform draws all above 100 ms (or all below 900 ms) has probability 0.9^1000.
    assert!(delays.iter().any(|&d| d < 100 * MS));
    assert!(delays.iter().any(|&d| d > 900 * MS));
}

#[test]
fn equal_jitter_spans_half_d_to_d() {
    let delays = flat(SEC, 1000, Jitter::Equal);
    assert!(delays.iter().all(|&d| (500 * MS..=SEC).contains(&d)));
    assert!(delays.iter().any(|&d| d < 550 * MS));
    assert!(delays.iter().any(|&d| d > 950 * MS));
}

#[test]
fn shorten_jitter_spans_its_fraction() {
    let delays = flat(SEC, 1000, Jitter::Shorten(0.25));
    assert!(delays.iter().all(|&d| (750 * MS..=SEC).contains(&d)));
    assert!(delays.iter().any(|&d| d < 775 * MS));
    assert!(delays.iter().any(|&d| d > 975 * MS));

    assert!(
        flat(SEC, 100, Jitter::Shorten(0.0))
            .iter()
            .all(|&d| d == SEC)
    );
    // Past 2^53 ns (104 days) a float holds no exact nanosecond count: still never shorter,
    // and `Shorten(1.0)` still reaches zero (whose draws are `Full`'s: a uniform `[0, d]`).
    let long = Duration::from_nanos((1 << 53) + 1);
    assert!(
        flat(long, 200, Jitter::Shorten(0.0))
            .iter()
            .all(|&d| d == long)
    );
    for seed in 0..8 {
        fastrand::seed(seed);
        let full = flat(long, 32, Jitter::Full);
        fastrand::seed(seed);
        assert_eq!(flat(long, 32, Jitter::Shorten(1.0)), full, "seed {seed}");
    }
    assert!(
        flat(SEC, 100, Jitter::Shorten(1.0))
            .iter()
            .all(|&d| d <= SEC)
    );
}

#[test]
fn jitter_on_tiny_delays_stays_in_range() {
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Shorten(0.5)] {
        assert!(flat(Duration::ZERO, 50, jitter).iter().all(|d| d.is_zero()));
        let one = Duration::from_nanos(1);
        assert!(flat(one, 50, jitter).iter().all(|&d| d <= one));
    }
}

#[test]
fn delays_outlive_the_policy() {
    let delays = {
        let policy = RetryPolicy::new();
        policy.delays()
    };
    assert_eq!(delays.count(), 10);
}

// ---- Properties, over random policies ----

/// Random policies per property. Each comes from a seed of its own (0, 1, 2...), so a run is
/// reproducible, and a failure prints the inputs it failed on.
const CASES: u64 = 500;

/// A multiplier: mostly anything in -10..100, often a small one, and the values that clamp.
fn multiplier(rng: &mut fastrand::Rng) -> f64 {
    match rng.u32(0..11) {
        0..=5 => rng.f64() * 110.0 - 10.0,
        6 => 1.0 + rng.f64() * 2.0,
        7 => 1.0,
        8 => f64::NAN,
        9 => f64::INFINITY,
        _ => f64::NEG_INFINITY,
    }
}

/// Any jitter, `Shorten`'s fraction from -1 to 2 or NaN.
fn jitter(rng: &mut fastrand::Rng) -> Jitter {
    match rng.u32(0..5) {
        0 => Jitter::None,
        1 => Jitter::Full,
        2 => Jitter::Equal,
        3 => Jitter::Shorten(rng.f64() * 3.0 - 1.0),
        _ => Jitter::Shorten(f64::NAN),
    }
}

/// Maybe a number of milliseconds, up to `u64::MAX`.
fn maybe_millis(rng: &mut fastrand::Rng) -> Option<u64> {
    rng.bool().then(|| rng.u64(..))
}

/// A random policy, and the raw inputs it was built from.
#[derive(Clone, Debug)]
struct Inputs {
    attempts: u32,
    initial: Duration,
    multiplier: f64,
    max_delay: Duration,
    jitter: Jitter,
}

impl Inputs {
    fn random(rng: &mut fastrand::Rng) -> Inputs {
        Inputs {
            attempts: rng.u32(0..50),
            initial: Duration::from_nanos(rng.u64(0..20_000_000_000)),
            multiplier: multiplier(rng),
            max_delay: Duration::from_nanos(rng.u64(0..60_000_000_000)),
            jitter: jitter(rng),
        }
    }

    fn policy(&self) -> RetryPolicy {
        RetryPolicy::new()
            .with_max_attempts(self.attempts)
            .with_initial_delay(self.initial)
            .with_multiplier(self.multiplier)
            .with_max_delay(self.max_delay)
            .with_jitter(self.jitter)
    }

    /// `min(initial * m^n, max_delay)`, with the multiplier clamped.
    fn expected_base(&self, n: u32) -> f64 {
        let m = clamp_multiplier(self.multiplier);
        (self.initial.as_secs_f64() * m.powf(f64::from(n))).min(self.max_delay.as_secs_f64())
    }
}

/// Checks `property` on `CASES` random inputs; `rng` is there for more random values.
fn for_random_inputs(property: impl Fn(&Inputs, &mut fastrand::Rng)) {
    for seed in 0..CASES {
        let mut rng = fastrand::Rng::with_seed(seed);
        let inputs = Inputs::random(&mut rng);
        property(&inputs, &mut rng);
    }
}

#[test]
fn no_delay_exceeds_the_cap() {
    for_random_inputs(|inputs, _| {
        for delay in inputs.policy().delays() {
            assert!(delay <= inputs.max_delay, "{delay:?} > cap: {inputs:?}");
        }
    });
}

#[test]
fn one_delay_fewer_than_attempts() {
    for_random_inputs(|inputs, _| {
        let expected = inputs.attempts.max(1) - 1;
        let count = inputs.policy().delays().count();
        assert_eq!(count, expected as usize, "{inputs:?}");
    });
}

#[test]
fn without_jitter_delays_follow_the_formula() {
    for_random_inputs(|inputs, _| {
        let policy = inputs.policy().with_jitter(Jitter::None);
        let delays: Vec<Duration> = policy.delays().collect();
        for pair in delays.windows(2) {
            assert!(pair[0] <= pair[1], "decreasing: {pair:?}: {inputs:?}");
        }
        for (n, delay) in (0u32..).zip(&delays) {
            let expected = inputs.expected_base(n);
            let error = (delay.as_secs_f64() - expected).abs();
            assert!(
                error <= 1e-6,
                "delay {n}: {delay:?}, expected {expected} s: {inputs:?}"
            );
        }
    });
}

#[test]
fn jitter_stays_in_its_range() {
    for_random_inputs(|inputs, _| {
        let policy = inputs.policy();
        let bases = policy.clone().with_jitter(Jitter::None).delays();
        for (delay, base) in policy.delays().zip(bases) {
            assert!(delay <= base, "{delay:?} > base {base:?}: {inputs:?}");
            match inputs.jitter {
                Jitter::None => assert_eq!(delay, base, "{inputs:?}"),
                Jitter::Full => {}
                Jitter::Equal => {
                    assert!(delay >= base / 2, "{delay:?} < {base:?} / 2: {inputs:?}");
                }
                Jitter::Shorten(f) => {
                    // One nanosecond of slack for the float product's rounding.
                    let low = base.as_nanos() as f64 * (1.0 - clamp_fraction(f)) - 1.0;
                    assert!(
                        delay.as_nanos() as f64 >= low,
                        "{delay:?} < {base:?} * (1 - {f}): {inputs:?}",
                    );
                }
            }
        }
    });
}

#[test]
fn clone_round_trips() {
    for_random_inputs(|inputs, rng| {
        let mut policy = inputs.policy();
        if let Some(ms) = maybe_millis(rng) {
            policy = policy.with_deadline(Duration::from_millis(ms));
        }
        if let Some(ms) = maybe_millis(rng) {
            policy = policy.with_attempt_timeout(Duration::from_millis(ms));
        }
        // NaN inputs are clamped on the way in, so a policy always equals its clone.
        let copy = policy.clone();
        assert_eq!(copy, policy, "{inputs:?}");
        assert_eq!(format!("{copy:?}"), format!("{policy:?}"));
        assert_eq!(copy.delays().count(), policy.delays().count());
        // And building it again from the same inputs gives the same policy.
        assert_eq!(inputs.policy(), inputs.policy(), "{inputs:?}");
    });
}
