//! Token-bucket rate limiting for rate pools: a bucket of `capacity` tokens refilled
//! continuously at `refill_per_sec`, drawn on per request.
//!
//! Tokens are `f64` so that refill is fractional and exact enough between ticks. Time only
//! moves forward for the bucket: an earlier `now` than one already seen neither adds nor
//! removes tokens.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::model::{Timestamp, ValidationError};

/// Float slack, relative to capacity, within which a request counts as met. Without it a
/// caller that waits exactly the advertised `retry_after` could still be a rounding error
/// short and be told to wait again.
const SLACK: f64 = 1e-12;

/// Why tokens could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum TakeError {
    /// Not enough tokens now; `retry_after` says when there will be, or `None` when the
    /// bucket never refills.
    #[error(
        "requested {requested} tokens but only {available} are available; {}",
        RetryHint(*.retry_after)
    )]
    Insufficient {
        requested: f64,
        available: f64,
        retry_after: Option<Duration>,
    },
    /// More than the bucket can ever hold: waiting would never help.
    #[error("requested {requested} tokens but the bucket holds at most {capacity}")]
    ExceedsCapacity { requested: f64, capacity: f64 },
    /// The amount is negative, infinite or NaN.
    #[error("requested {requested} tokens, expected a finite number of zero or more")]
    InvalidAmount { requested: f64 },
}

/// Formats a retry hint only when the message is displayed, keeping the error path free of
/// allocation.
struct RetryHint(Option<Duration>);

impl fmt::Display for RetryHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(wait) => write!(f, "retry after {wait:?}"),
            None => f.write_str("the bucket does not refill"),
        }
    }
}

/// A token-bucket rate limiter. Starts full.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenBucket {
    capacity: f64,
    refill_per_sec: f64,
    /// Tokens held as of `settled_at`.
    tokens: f64,
    /// The latest instant the bucket has been brought up to date with.
    settled_at: Timestamp,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `refill_per_sec`.
    pub fn new(
        capacity: f64,
        refill_per_sec: f64,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        validate_capacity(capacity)?;
        validate_refill_rate(refill_per_sec)?;
        Ok(TokenBucket {
            capacity,
            refill_per_sec,
            tokens: capacity,
            settled_at: now,
        })
    }

    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    pub fn refill_per_sec(&self) -> f64 {
        self.refill_per_sec
    }

    /// Tokens there would be at `now`, never above capacity.
    pub fn available(&self, now: Timestamp) -> f64 {
        let elapsed = now.since(self.settled_at).as_secs_f64();
        // A product that overflows to infinity is still clipped to capacity, never NaN:
        // both factors are finite and non-negative.
        (self.tokens + self.refill_per_sec * elapsed).min(self.capacity)
    }

    /// Takes `n` tokens if they are there at `now`; otherwise changes nothing.
    pub fn try_take(&mut self, n: f64, now: Timestamp) -> Result<(), TakeError> {
        self.check_amount(n)?;
        let available = self.available(now);
        if n > available + self.capacity * SLACK {
            return Err(TakeError::Insufficient {
                requested: n,
                available,
                retry_after: self.wait_for(n, available),
            });
        }
        self.tokens = (available - n).max(0.0);
        self.settled_at = self.settled_at.max(now);
        Ok(())
    }

    /// How long from `now` until `n` tokens are available: zero if they already are.
    pub fn time_until(&self, n: f64, now: Timestamp) -> Result<Duration, TakeError> {
        self.check_amount(n)?;
        let available = self.available(now);
        if n <= available + self.capacity * SLACK {
            return Ok(Duration::ZERO);
        }
        self.wait_for(n, available).ok_or(TakeError::Insufficient {
            requested: n,
            available,
            retry_after: None,
        })
    }

    /// Gives back `n` tokens taken earlier but not used, once the actual use is known.
    /// The bucket never fills beyond capacity.
    pub fn refund(&mut self, n: f64, now: Timestamp) -> Result<(), ValidationError> {
        if !(n.is_finite() && n >= 0.0) {
            return Err(ValidationError::new(
                "refund",
                n,
                "a finite number of tokens, zero or more",
            ));
        }
        self.settle(now);
        self.tokens = (self.tokens + n).min(self.capacity);
        Ok(())
    }

    /// Changes the capacity from `now` on. Refill up to `now` counts against the old
    /// capacity; shrinking clips the tokens held, growing adds none.
    pub fn set_capacity(&mut self, capacity: f64, now: Timestamp) -> Result<(), ValidationError> {
        validate_capacity(capacity)?;
        self.settle(now);
        self.capacity = capacity;
        self.tokens = self.tokens.min(capacity);
        Ok(())
    }

    /// Changes the refill rate from `now` on; refill up to `now` is at the old rate.
    pub fn set_refill_rate(&mut self, rate: f64, now: Timestamp) -> Result<(), ValidationError> {
        validate_refill_rate(rate)?;
        self.settle(now);
        self.refill_per_sec = rate;
        Ok(())
    }

    fn settle(&mut self, now: Timestamp) {
        self.tokens = self.available(now);
        self.settled_at = self.settled_at.max(now);
    }

    fn check_amount(&self, n: f64) -> Result<(), TakeError> {
        if !(n.is_finite() && n >= 0.0) {
            return Err(TakeError::InvalidAmount { requested: n });
        }
        if n > self.capacity * (1.0 + SLACK) {
            return Err(TakeError::ExceedsCapacity {
                requested: n,
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    /// Time to refill from `available` to `n`, rounded up to the nanosecond; `None` when
    /// the bucket does not refill.
    fn wait_for(&self, n: f64, available: f64) -> Option<Duration> {
        if self.refill_per_sec <= 0.0 {
            return None;
        }
        let nanos = ((n - available) / self.refill_per_sec * 1e9).ceil();
        Some(if nanos < u64::MAX as f64 {
            Duration::from_nanos(nanos as u64)
        } else {
            Duration::MAX
        })
    }
}

fn validate_capacity(capacity: f64) -> Result<(), ValidationError> {
    if capacity.is_finite() && capacity > 0.0 {
        Ok(())
    } else {
        Err(ValidationError::new(
            "capacity",
            capacity,
            "a finite number of tokens greater than zero",
        ))
    }
}

fn validate_refill_rate(rate: f64) -> Result<(), ValidationError> {
    if rate.is_finite() && rate >= 0.0 {
        Ok(())
    } else {
        Err(ValidationError::new(
            "refill_per_sec",
            rate,
            "a finite number of tokens per second, zero or more",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at_secs(secs: f64) -> Timestamp {
        Timestamp::from_secs_f64(secs)
    }

    fn bucket(capacity: f64, rate: f64) -> TokenBucket {
        TokenBucket::new(capacity, rate, Timestamp::EPOCH).unwrap()
    }

    #[test]
    fn starts_full_and_refills_fractionally() {
        let mut b = bucket(10.0, 2.0);
        assert_eq!(b.available(Timestamp::EPOCH), 10.0);
        b.try_take(10.0, Timestamp::EPOCH).unwrap();
        assert_eq!(b.available(Timestamp::EPOCH), 0.0);
        assert!((b.available(at_secs(0.25)) - 0.5).abs() < 1e-12);
        assert_eq!(b.available(at_secs(100.0)), 10.0);
    }

    #[test]
    fn gpt4_pool_example() {
        let mut b = bucket(10_000.0, 166.0);
        b.try_take(9_000.0, Timestamp::EPOCH).unwrap();
        let err = b.try_take(2_000.0, Timestamp::EPOCH).unwrap_err();
        let TakeError::Insufficient {
            requested,
            available,
            retry_after: Some(wait),
        } = err
        else {
            panic!("unexpected {err:?}");
        };
        assert_eq!((requested, available), (2_000.0, 1_000.0));
        let expected = 1_000.0 / 166.0;
        assert!((wait.as_secs_f64() - expected).abs() < 1e-8, "{wait:?}");
        b.try_take(2_000.0, Timestamp::EPOCH + wait).unwrap();
    }

    #[test]
    fn refused_take_changes_nothing() {
        let mut b = bucket(5.0, 1.0);
        b.try_take(4.0, Timestamp::EPOCH).unwrap();
        let before = b.clone();
        assert!(b.try_take(3.0, at_secs(1.0)).is_err());
        assert_eq!(b, before);
    }

    #[test]
    fn more_than_capacity_is_its_own_error() {
        let mut b = bucket(100.0, 10.0);
        let err = b.try_take(101.0, Timestamp::EPOCH).unwrap_err();
        assert_eq!(
            err,
            TakeError::ExceedsCapacity {
                requested: 101.0,
                capacity: 100.0
            }
        );
        assert!(err.to_string().contains("at most 100"), "{err}");
        assert_eq!(b.time_until(101.0, Timestamp::EPOCH), Err(err));
    }

    #[test]
    fn bad_amounts_are_refused() {
        let mut b = bucket(10.0, 1.0);
        for n in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                b.try_take(n, Timestamp::EPOCH),
                Err(TakeError::InvalidAmount { .. })
            ));
            assert!(matches!(
                b.time_until(n, Timestamp::EPOCH),
                Err(TakeError::InvalidAmount { .. })
            ));
            assert_eq!(b.refund(n, Timestamp::EPOCH).unwrap_err().field, "refund");
        }
        assert_eq!(b.available(Timestamp::EPOCH), 10.0);
    }

    #[test]
    fn zero_rate_never_refills_and_says_so() {
        let mut b = bucket(3.0, 0.0);
        b.try_take(3.0, Timestamp::EPOCH).unwrap();
        let err = b.try_take(1.0, at_secs(1e6)).unwrap_err();
        assert!(matches!(
            err,
            TakeError::Insufficient {
                retry_after: None,
                ..
            }
        ));
        assert!(err.to_string().contains("does not refill"), "{err}");
        assert_eq!(b.time_until(1.0, at_secs(5.0)), Err(err));
        b.try_take(0.0, at_secs(5.0)).unwrap();
    }

    #[test]
    fn waiting_retry_after_survives_rounding() {
        // Found by the proptest below: without slack the refill at exactly `retry_after`
        // falls an ulp short and the caller would be told to wait again.
        let capacity = 304_787.062_460_565;
        let mut b = bucket(capacity, 0.029_305_071_357_473_036);
        b.try_take(capacity * 0.859_529_789_131_031_4, Timestamp::EPOCH)
            .unwrap();
        let wanted = capacity * 0.594_948_966_443_797_5;
        let wait = b.time_until(wanted, Timestamp::EPOCH).unwrap();
        b.try_take(wanted, Timestamp::EPOCH + wait).unwrap();
    }

    #[test]
    fn time_until_is_zero_when_available_now() {
        let mut b = bucket(10.0, 4.0);
        assert_eq!(b.time_until(10.0, Timestamp::EPOCH), Ok(Duration::ZERO));
        b.try_take(10.0, Timestamp::EPOCH).unwrap();
        assert_eq!(
            b.time_until(2.0, Timestamp::EPOCH),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(b.time_until(2.0, at_secs(0.5)), Ok(Duration::ZERO));
    }

    #[test]
    fn time_going_backwards_neither_adds_nor_removes() {
        let mut b = bucket(10.0, 1.0);
        b.try_take(6.0, at_secs(10.0)).unwrap();
        assert_eq!(b.available(at_secs(5.0)), 4.0);
        b.try_take(1.0, at_secs(5.0)).unwrap();
        assert_eq!(b.available(at_secs(5.0)), 3.0);
        // Refill still counts from the latest instant seen, not the earlier one.
        assert!((b.available(at_secs(12.0)) - 5.0).abs() < 1e-12);
    }

    #[test]
    fn refund_returns_tokens_up_to_capacity() {
        let mut b = bucket(10.0, 1.0);
        b.try_take(8.0, Timestamp::EPOCH).unwrap();
        b.refund(3.0, Timestamp::EPOCH).unwrap();
        assert_eq!(b.available(Timestamp::EPOCH), 5.0);
        b.refund(100.0, at_secs(1.0)).unwrap();
        assert_eq!(b.available(at_secs(1.0)), 10.0);
    }

    #[test]
    fn capacity_change_settles_first_and_clips() {
        let mut b = bucket(10.0, 1.0);
        b.try_take(10.0, Timestamp::EPOCH).unwrap();
        b.set_capacity(4.0, at_secs(6.0)).unwrap();
        assert_eq!(b.capacity(), 4.0);
        assert_eq!(b.available(at_secs(6.0)), 4.0);
        b.set_capacity(20.0, at_secs(6.0)).unwrap();
        assert_eq!(b.available(at_secs(6.0)), 4.0, "growing adds no tokens");
        assert!((b.available(at_secs(16.0)) - 14.0).abs() < 1e-12);
        assert_eq!(
            b.set_capacity(0.0, at_secs(6.0)).unwrap_err().field,
            "capacity"
        );
    }

    #[test]
    fn rate_change_settles_at_the_old_rate_first() {
        let mut b = bucket(100.0, 1.0);
        b.try_take(100.0, Timestamp::EPOCH).unwrap();
        b.set_refill_rate(10.0, at_secs(5.0)).unwrap();
        assert_eq!(b.refill_per_sec(), 10.0);
        assert!((b.available(at_secs(6.0)) - 15.0).abs() < 1e-12);
        let err = b.set_refill_rate(f64::NAN, at_secs(6.0)).unwrap_err();
        assert_eq!(err.field, "refill_per_sec");
    }

    #[test]
    fn constructor_names_bad_fields() {
        let at = Timestamp::EPOCH;
        assert_eq!(
            TokenBucket::new(-1.0, 1.0, at).unwrap_err().field,
            "capacity"
        );
        assert_eq!(
            TokenBucket::new(f64::INFINITY, 1.0, at).unwrap_err().field,
            "capacity"
        );
        let err = TokenBucket::new(1.0, -0.5, at).unwrap_err();
        assert_eq!(err.field, "refill_per_sec");
        assert!(err.to_string().contains("-0.5"), "{err}");
    }

    #[test]
    fn extreme_values_saturate_instead_of_overflowing() {
        let mut slow = bucket(1e300, 1e-300);
        slow.try_take(1e300, Timestamp::EPOCH).unwrap();
        assert_eq!(slow.time_until(1e300, Timestamp::EPOCH), Ok(Duration::MAX));
        let mut fast = bucket(10.0, 1e300);
        fast.try_take(10.0, Timestamp::EPOCH).unwrap();
        assert_eq!(fast.available(Timestamp::MAX), 10.0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Take(f64),
        Refund(f64),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0.0..120.0).prop_map(Op::Take),
            (0.0..50.0).prop_map(Op::Refund),
            (0u64..5_000_000_000).prop_map(Op::Advance),
        ]
    }

    /// Spreads draws evenly over orders of magnitude, where float rounding differs most.
    fn log_uniform(min_exponent: f64, max_exponent: f64) -> impl Strategy<Value = f64> {
        (min_exponent..max_exponent).prop_map(|exponent| 10f64.powf(exponent))
    }

    proptest! {
        #[test]
        fn tokens_never_exceed_capacity(
            capacity in 1.0..100.0f64,
            rate in 0.0..50.0f64,
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let mut b = TokenBucket::new(capacity, rate, Timestamp::EPOCH).unwrap();
            let mut now = Timestamp::EPOCH;
            for op in ops {
                match op {
                    Op::Take(n) => { let _ = b.try_take(n, now); }
                    Op::Refund(n) => b.refund(n, now).unwrap(),
                    Op::Advance(nanos) => now = now + Duration::from_nanos(nanos),
                }
                prop_assert!(b.available(now) <= capacity);
                prop_assert!(b.available(now) >= 0.0);
            }
        }

        #[test]
        fn grants_never_exceed_capacity_plus_refill(
            capacity in 1.0..100.0f64,
            rate in 0.0..50.0f64,
            ops in prop::collection::vec((0.0..60.0f64, 0u64..2_000_000_000), 1..150),
        ) {
            let mut b = TokenBucket::new(capacity, rate, Timestamp::EPOCH).unwrap();
            let mut now = Timestamp::EPOCH;
            let mut grants = Vec::new();
            for (n, step) in ops {
                now = now + Duration::from_nanos(step);
                if b.try_take(n, now).is_ok() {
                    grants.push((now, n));
                }
            }
            for first in 0..grants.len() {
                let mut granted = 0.0;
                for &(at, n) in &grants[first..] {
                    granted += n;
                    let window = at.since(grants[first].0).as_secs_f64();
                    let bound = capacity + rate * window;
                    prop_assert!(granted <= bound * (1.0 + 1e-9), "{granted} > {bound}");
                }
            }
        }

    }

    proptest! {
        // Cheap cases, and rounding misses are rare: run many.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn waiting_retry_after_is_enough(
            capacity in log_uniform(-3.0, 6.0),
            rate in log_uniform(-3.0, 6.0),
            drawn in 0.0..1.0f64,
            wanted in 0.0..1.0f64,
            start in 0i64..4_000_000_000_000_000_000,
        ) {
            let start = Timestamp::from_nanos(start);
            let mut b = TokenBucket::new(capacity, rate, start).unwrap();
            b.try_take(capacity * drawn, start).unwrap();
            let wait = b.time_until(capacity * wanted, start).unwrap();
            prop_assert!(b.try_take(capacity * wanted, start + wait).is_ok());
        }
    }
}
