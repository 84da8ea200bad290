//! Load prediction: a least-squares line through the most recent samples, extended forward.
//!
//! The monitor pushes a pool's utilisation on a fixed interval and asks where the line
//! will be a horizon ahead; the autoscaler acts on that rather than on the last sample.

use std::collections::VecDeque;
use std::time::Duration;

use crate::model::{Timestamp, ValidationError};

/// A straight line over time: `intercept` is the value at `origin`.
///
/// Anchoring at a recent `origin` rather than the Unix epoch keeps the intercept a
/// meaningful value and avoids multiplying a slope by billions of seconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Line {
    pub slope_per_sec: f64,
    pub intercept: f64,
    pub origin: Timestamp,
}

impl Line {
    pub fn value_at(&self, at: Timestamp) -> f64 {
        self.intercept + self.slope_per_sec * seconds_between(self.origin, at)
    }
}

/// Least-squares fit over a sliding window of `(time, value)` samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearPredictor {
    window: usize,
    samples: VecDeque<(Timestamp, f64)>,
}

impl LinearPredictor {
    /// A predictor that remembers the latest `window` samples (at least 2).
    pub fn new(window: usize) -> Result<Self, ValidationError> {
        if window < 2 {
            return Err(ValidationError::new(
                "window",
                window,
                "at least 2 samples, the fewest that define a line",
            ));
        }
        Ok(LinearPredictor {
            window,
            samples: VecDeque::with_capacity(window),
        })
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// Records a sample, forgetting the oldest once the window is full. Non-finite values
    /// (a failed measurement) are ignored rather than poisoning every later fit.
    pub fn push(&mut self, at: Timestamp, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.samples.len() == self.window {
            self.samples.pop_front();
        }
        self.samples.push_back((at, value));
    }

    /// The least-squares line through the window; `None` with fewer than 2 samples. When
    /// every sample shares one time there is no trend to see: a flat line at their mean.
    pub fn fit(&self) -> Option<Line> {
        let &(origin, _) = self.samples.front()?;
        if self.samples.len() < 2 {
            return None;
        }
        let count = self.samples.len() as f64;
        let offset = |at: Timestamp| seconds_between(origin, at);
        // Two passes (means, then deviations) rather than raw running sums: the textbook
        // one-pass formula cancels catastrophically when values sit far from zero.
        let (sum_t, sum_v) = self
            .samples
            .iter()
            .fold((0.0, 0.0), |(st, sv), &(at, v)| (st + offset(at), sv + v));
        let (mean_t, mean_v) = (sum_t / count, sum_v / count);
        let (sxx, sxy) = self
            .samples
            .iter()
            .fold((0.0, 0.0), |(sxx, sxy), &(at, v)| {
                let dt = offset(at) - mean_t;
                (sxx + dt * dt, sxy + dt * (v - mean_v))
            });
        let slope_per_sec = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        Some(Line {
            slope_per_sec,
            intercept: mean_v - slope_per_sec * mean_t,
            origin,
        })
    }

    /// The fitted line's value at `at`.
    pub fn predict(&self, at: Timestamp) -> Option<f64> {
        self.fit().map(|line| line.value_at(at))
    }

    /// The fitted line's value `horizon` after the latest sample pushed.
    pub fn forecast(&self, horizon: Duration) -> Option<f64> {
        let &(latest, _) = self.samples.back()?;
        self.predict(latest + horizon)
    }
}

/// Signed seconds from `from` to `to`, without overflow across the whole `Timestamp` range.
fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    (i128::from(to.nanos()) - i128::from(from.nanos())) as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A realistic, far-from-epoch start, so tests also cover large absolute timestamps.
    fn start() -> Timestamp {
        Timestamp::parse("2026-11-24T09:00:00Z").unwrap()
    }

    fn at(secs: f64) -> Timestamp {
        start() + Duration::from_secs_f64(secs)
    }

    fn filled(window: usize, samples: impl IntoIterator<Item = (f64, f64)>) -> LinearPredictor {
        let mut p = LinearPredictor::new(window).unwrap();
        for (secs, value) in samples {
            p.push(at(secs), value);
        }
        p
    }

    #[test]
    fn window_below_two_is_refused() {
        for window in [0, 1] {
            let err = LinearPredictor::new(window).unwrap_err();
            assert_eq!(err.field, "window");
            assert!(err.to_string().contains("at least 2"), "{err}");
        }
        assert_eq!(LinearPredictor::new(2).unwrap().window(), 2);
    }

    #[test]
    fn fewer_than_two_samples_predict_nothing() {
        let mut p = LinearPredictor::new(5).unwrap();
        assert_eq!(p.fit(), None);
        assert_eq!(p.forecast(Duration::from_secs(1)), None);
        p.push(at(0.0), 0.5);
        assert_eq!(p.fit(), None);
        assert_eq!(p.predict(at(10.0)), None);
    }

    #[test]
    fn exact_on_linear_data() {
        let p = filled(
            10,
            (0..10).map(|i| (i as f64 * 15.0, 0.2 + 0.004 * i as f64 * 15.0)),
        );
        let line = p.fit().unwrap();
        assert!((line.slope_per_sec - 0.004).abs() < 1e-9, "{line:?}");
        assert!((line.intercept - 0.2).abs() < 1e-9, "{line:?}");
        assert_eq!(line.origin, start());
        assert!((p.predict(at(300.0)).unwrap() - 1.4).abs() < 1e-9);
        // Latest sample at 135 s, so a 65 s horizon lands at 200 s.
        assert!((p.forecast(Duration::from_secs(65)).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn falling_data_gives_negative_slope() {
        let p = filled(4, [(0.0, 0.9), (1.0, 0.7), (2.0, 0.5), (3.0, 0.3)]);
        let line = p.fit().unwrap();
        assert!((line.slope_per_sec + 0.2).abs() < 1e-9, "{line:?}");
        let before_first = start() - Duration::from_secs(1);
        assert!((p.predict(before_first).unwrap() - 1.1).abs() < 1e-9);
    }

    #[test]
    fn constant_data_is_flat() {
        let p = filled(8, (0..8).map(|i| (i as f64, 0.42)));
        let line = p.fit().unwrap();
        assert_eq!(line.slope_per_sec, 0.0);
        assert!((line.intercept - 0.42).abs() < 1e-12);
        assert!((p.forecast(Duration::from_secs(3600)).unwrap() - 0.42).abs() < 1e-12);
    }

    #[test]
    fn one_distinct_time_gives_flat_line_at_mean() {
        let p = filled(5, [(7.0, 0.2), (7.0, 0.4), (7.0, 0.9)]);
        let line = p.fit().unwrap();
        assert_eq!(line.slope_per_sec, 0.0);
        assert!((line.intercept - 0.5).abs() < 1e-12);
        assert!((p.predict(at(1000.0)).unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn noisy_data_recovers_the_slope_roughly() {
        // Deterministic zero-mean jitter of up to ±0.05 around 0.1 + 0.002 t.
        let jitter = |i: u64| ((i * 7919 % 101) as f64 / 100.0 - 0.5) * 0.1;
        let p = filled(
            200,
            (0..200).map(|i| {
                let t = i as f64 * 5.0;
                (t, 0.1 + 0.002 * t + jitter(i))
            }),
        );
        let line = p.fit().unwrap();
        assert!((line.slope_per_sec - 0.002).abs() < 1e-4, "{line:?}");
        assert!((line.intercept - 0.1).abs() < 0.02, "{line:?}");
    }

    #[test]
    fn sliding_window_forgets_the_old_trend() {
        // Rising for 10 samples, then falling: a window of 4 sees only the fall.
        let rising = (0..10).map(|i| (i as f64, i as f64));
        let falling = (10..14).map(|i| (i as f64, 9.0 - 2.0 * (i - 9) as f64));
        let p = filled(4, rising.chain(falling));
        let line = p.fit().unwrap();
        assert!((line.slope_per_sec + 2.0).abs() < 1e-9, "{line:?}");
        assert_eq!(line.origin, at(10.0), "origin moves with the window");
        assert!((p.predict(at(14.0)).unwrap() + 1.0).abs() < 1e-9);
    }

    #[test]
    fn non_finite_values_are_ignored() {
        let mut p = filled(3, [(0.0, 1.0), (1.0, 2.0)]);
        p.push(at(2.0), f64::NAN);
        p.push(at(2.0), f64::INFINITY);
        p.push(at(2.0), f64::NEG_INFINITY);
        let line = p.fit().unwrap();
        assert!((line.slope_per_sec - 1.0).abs() < 1e-12);
        assert_eq!(p.forecast(Duration::from_secs(1)), Some(3.0));
    }

    #[test]
    fn values_far_from_zero_keep_precision() {
        let p = filled(50, (0..50).map(|i| (i as f64, 1e9 + 0.5 * i as f64)));
        let line = p.fit().unwrap();
        assert!((line.slope_per_sec - 0.5).abs() < 1e-9, "{line:?}");
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let line = Line {
            slope_per_sec: 1.0,
            intercept: 0.0,
            origin: Timestamp::from_nanos(i64::MIN),
        };
        let expected = u64::MAX as f64 / 1e9;
        assert!((line.value_at(Timestamp::MAX) - expected).abs() / expected < 1e-12);
    }
}
