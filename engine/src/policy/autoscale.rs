//! Autoscaling: how many slots a pool should have, given how busy it is.
//!
//! Modelled on the Kubernetes horizontal pod autoscaler: the desired size is the one that
//! would bring utilisation back to the target, acted on only past the up/down thresholds,
//! never within a cooldown of the last change, and shrinking only as far as the highest
//! size recommended over a stabilisation window, so a brief dip does not shrink the pool.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{Timestamp, ValidationError, ensure};
use crate::policy::predictor::LinearPredictor;

/// Thresholds and timings for one pool's autoscaler. Fractions are of full utilisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoscaleConfig {
    /// Smallest size, at least 1.
    pub min: u32,
    /// Largest size, at least `min`.
    pub max: u32,
    /// The utilisation a resize aims for.
    #[serde(default = "default_target_utilisation")]
    pub target_utilisation: f64,
    /// Grow only when utilisation is above this.
    #[serde(default = "default_scale_up_above")]
    pub scale_up_above: f64,
    /// Shrink only when utilisation is below this.
    #[serde(default = "default_scale_down_below")]
    pub scale_down_below: f64,
    /// No resize while utilisation is within this fraction of the target.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Minimum time between two resizes, in seconds in files.
    #[serde(default = "default_cooldown", with = "crate::model::seconds")]
    pub cooldown: Duration,
    /// How far back a shrink looks for a higher recommendation, in seconds in files.
    #[serde(
        default = "default_stabilisation_window",
        with = "crate::model::seconds"
    )]
    pub stabilisation_window: Duration,
}

fn default_target_utilisation() -> f64 {
    0.6
}

fn default_scale_up_above() -> f64 {
    0.8
}

fn default_scale_down_below() -> f64 {
    0.3
}

fn default_tolerance() -> f64 {
    0.1
}

fn default_cooldown() -> Duration {
    Duration::from_secs(60)
}

fn default_stabilisation_window() -> Duration {
    Duration::from_secs(300)
}

impl AutoscaleConfig {
    /// Bounds `min..=max` with the default thresholds and timings.
    pub fn new(min: u32, max: u32) -> Self {
        AutoscaleConfig {
            min,
            max,
            target_utilisation: default_target_utilisation(),
            scale_up_above: default_scale_up_above(),
            scale_down_below: default_scale_down_below(),
            tolerance: default_tolerance(),
            cooldown: default_cooldown(),
            stabilisation_window: default_stabilisation_window(),
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        ensure(self.min >= 1, "min", self.min, "at least 1")?;
        if self.max < self.min {
            return Err(ValidationError::new(
                "max",
                self.max,
                format!("at least min ({})", self.min),
            ));
        }
        for (field, value) in [
            ("target_utilisation", self.target_utilisation),
            ("scale_up_above", self.scale_up_above),
            ("scale_down_below", self.scale_down_below),
        ] {
            ensure(
                value.is_finite() && value > 0.0 && value <= 1.0,
                field,
                value,
                "a fraction greater than 0 and at most 1",
            )?;
        }
        if self.scale_down_below >= self.target_utilisation {
            return Err(ValidationError::new(
                "scale_down_below",
                self.scale_down_below,
                format!("less than target_utilisation ({})", self.target_utilisation),
            ));
        }
        if self.scale_up_above <= self.target_utilisation {
            return Err(ValidationError::new(
                "scale_up_above",
                self.scale_up_above,
                format!("more than target_utilisation ({})", self.target_utilisation),
            ));
        }
        ensure(
            self.tolerance.is_finite() && (0.0..1.0).contains(&self.tolerance),
            "tolerance",
            self.tolerance,
            "a fraction of at least 0 and less than 1",
        )
    }
}

/// The forecast-and-scale rule for one pool, fed one sample at a time: fits a line to
/// recent load, predicts it a horizon ahead, and asks the autoscaler (if the pool scales)
/// for a size that serves the larger of the load now, the predicted load, and the load
/// now plus what queued requests ask of the pool. Counting queued demand matters: an idle
/// pool whose queued requests do not fit is under-provisioned, not idle.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolWatch {
    predictor: LinearPredictor,
    autoscaler: Option<Autoscaler>,
    horizon: Duration,
    /// Forecasts made earlier, due at their instant: what was predicted for "now".
    pending: VecDeque<(Timestamp, f64)>,
}

/// What one sample of a pool showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    /// The utilisation predicted for this instant a horizon ago, if any.
    pub predicted: Option<f64>,
    /// The size to change to, if the autoscaler decided one.
    pub resize: Option<u32>,
}

impl PoolWatch {
    pub fn new(
        window: usize,
        horizon: Duration,
        autoscaler: Option<Autoscaler>,
    ) -> Result<Self, ValidationError> {
        Ok(PoolWatch {
            predictor: LinearPredictor::new(window)?,
            autoscaler,
            horizon,
            pending: VecDeque::new(),
        })
    }

    /// Takes the sample at `at`: `utilisation` of a pool of `size`, with `queued` units
    /// asked of it by requests still waiting.
    pub fn observe(&mut self, at: Timestamp, utilisation: f64, size: f64, queued: f64) -> Observed {
        let load = utilisation * size;
        let share = |load: f64| load / size.max(f64::MIN_POSITIVE);
        let mut predicted = None;
        while let Some(&(due, value)) = self.pending.front() {
            if due > at {
                break;
            }
            self.pending.pop_front();
            predicted = Some(share(value));
        }
        self.predictor.push(at, load);
        let forecast = self.predictor.forecast(self.horizon).map(|f| f.max(0.0));
        if let Some(value) = forecast {
            self.pending.push_back((at + self.horizon, value));
        }
        let resize = self.autoscaler.as_mut().and_then(|autoscaler| {
            let wanted = forecast
                .map_or(utilisation, |f| share(f).max(utilisation))
                .max(share(load + queued.max(0.0)));
            autoscaler.decide(size.round() as u32, wanted, at)
        });
        Observed { predicted, resize }
    }
}

/// Decides when and how far to resize one pool. Holds the history its rules need.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Autoscaler {
    config: AutoscaleConfig,
    last_change: Option<Timestamp>,
    /// Recommendations within the stabilisation window, kept as a monotonic queue: sizes
    /// strictly decreasing from front to back, so the front is the window's highest and a
    /// recommendation that a later, higher one outranks is never stored.
    recommendations: VecDeque<(Timestamp, u32)>,
}

impl Autoscaler {
    pub fn new(config: AutoscaleConfig) -> Result<Self, ValidationError> {
        config.validate()?;
        Ok(Autoscaler {
            config,
            last_change: None,
            recommendations: VecDeque::new(),
        })
    }

    pub fn config(&self) -> &AutoscaleConfig {
        &self.config
    }

    /// The size the pool should change to, or `None` to keep `current`.
    ///
    /// `utilisation` is busy / size and may be above 1 (a prediction of overload); a
    /// negative or non-finite one is a bad measurement and decides nothing. A `current`
    /// outside `min..=max` is brought back inside at once, cooldown or not.
    pub fn decide(&mut self, current: u32, utilisation: f64, now: Timestamp) -> Option<u32> {
        if !(utilisation.is_finite() && utilisation >= 0.0) {
            return None;
        }
        let (min, max) = (self.config.min, self.config.max);
        if !(min..=max).contains(&current) {
            return Some(self.change_to(current.clamp(min, max), now));
        }
        let recommended = self.recommend(current, utilisation);
        let highest_recent = self.remember(recommended, now);
        let cooling_down = self
            .last_change
            .is_some_and(|changed| now.since(changed) < self.config.cooldown);
        if cooling_down {
            None
        } else if utilisation > self.config.scale_up_above && recommended > current {
            Some(self.change_to(recommended, now))
        } else if utilisation < self.config.scale_down_below && highest_recent < current {
            Some(self.change_to(highest_recent, now))
        } else {
            None
        }
    }

    /// The size that would bring utilisation to the target, within bounds; `current`
    /// while already near enough the target.
    fn recommend(&self, current: u32, utilisation: f64) -> u32 {
        let ratio = utilisation / self.config.target_utilisation;
        if (ratio - 1.0).abs() <= self.config.tolerance {
            return current;
        }
        // Shaving a relative hair off before rounding up keeps 2 × 0.9 / 0.6, which is
        // 3.0000000000000004 in floating point, at 3 instead of 4. The cast saturates.
        let desired = (f64::from(current) * ratio * (1.0 - 1e-12)).ceil() as u32;
        desired.clamp(self.config.min, self.config.max)
    }

    /// Records a recommendation and returns the highest one within the window.
    fn remember(&mut self, recommended: u32, now: Timestamp) -> u32 {
        let window = self.config.stabilisation_window;
        while self
            .recommendations
            .front()
            .is_some_and(|&(at, _)| now.since(at) > window)
        {
            self.recommendations.pop_front();
        }
        while self
            .recommendations
            .back()
            .is_some_and(|&(_, size)| size <= recommended)
        {
            self.recommendations.pop_back();
        }
        self.recommendations.push_back((now, recommended));
        self.recommendations
            .front()
            .map_or(recommended, |&(_, size)| size)
    }

    fn change_to(&mut self, size: u32, now: Timestamp) -> u32 {
        self.last_change = Some(now);
        size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::EPOCH + Duration::from_secs(secs)
    }

    fn scaler(min: u32, max: u32) -> Autoscaler {
        Autoscaler::new(AutoscaleConfig::new(min, max)).unwrap()
    }

    #[test]
    fn scales_up_above_80_percent_to_reach_the_target() {
        let mut s = scaler(1, 100);
        assert_eq!(s.decide(10, 0.9, at(0)), Some(15));
        let mut s = scaler(1, 100);
        assert_eq!(s.decide(10, 0.81, at(0)), Some(14));
        let mut s = scaler(1, 100);
        assert_eq!(s.decide(2, 0.9, at(0)), Some(3), "no float round-up to 4");
    }

    #[test]
    fn predicted_overload_scales_further() {
        let mut s = scaler(1, 100);
        assert_eq!(s.decide(10, 1.5, at(0)), Some(25));
    }

    #[test]
    fn scales_down_below_30_percent() {
        let mut s = scaler(1, 100);
        assert_eq!(s.decide(10, 0.25, at(0)), Some(5));
        let mut s = scaler(1, 100);
        assert_eq!(s.decide(10, 0.0, at(0)), Some(1));
    }

    #[test]
    fn holds_between_the_thresholds() {
        let mut s = scaler(1, 100);
        for (i, utilisation) in [0.3, 0.31, 0.45, 0.6, 0.7, 0.79, 0.8]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                s.decide(10, utilisation, at(i as u64 * 100)),
                None,
                "{utilisation}"
            );
        }
    }

    #[test]
    fn tolerance_holds_near_the_target_even_past_a_threshold() {
        let mut config = AutoscaleConfig::new(1, 100);
        config.scale_up_above = 0.62;
        let mut s = Autoscaler::new(config.clone()).unwrap();
        assert_eq!(s.decide(10, 0.65, at(0)), None, "0.65 / 0.6 is within 10%");
        config.tolerance = 0.0;
        let mut s = Autoscaler::new(config).unwrap();
        assert_eq!(s.decide(10, 0.65, at(0)), Some(11));
    }

    #[test]
    fn no_change_within_cooldown_of_the_last() {
        let mut s = scaler(1, 100);
        assert_eq!(s.decide(10, 0.9, at(0)), Some(15));
        assert_eq!(s.decide(15, 0.95, at(30)), None);
        assert_eq!(s.decide(15, 0.95, at(59)), None);
        assert_eq!(s.decide(15, 0.95, at(60)), Some(24));
    }

    #[test]
    fn a_brief_dip_does_not_shrink_the_pool() {
        let mut s = scaler(1, 100);
        assert_eq!(s.decide(10, 0.6, at(0)), None);
        assert_eq!(
            s.decide(10, 0.1, at(120)),
            None,
            "10 was recommended 120 s ago"
        );
        assert_eq!(
            s.decide(10, 0.1, at(300)),
            None,
            "still inside the 300 s window"
        );
        assert_eq!(s.decide(10, 0.1, at(301)), Some(2));
    }

    #[test]
    fn shrinks_only_to_the_highest_recent_recommendation() {
        let mut s = scaler(1, 100);
        assert_eq!(
            s.decide(10, 0.5, at(0)),
            None,
            "recommends 9, but 0.5 is no dip"
        );
        assert_eq!(
            s.decide(10, 0.2, at(100)),
            Some(9),
            "recommends 4, but 9 is recent"
        );
        // Recommendations now: 9 at 0 s, 4 at 100 s, 2 at 350 s, when 9 has expired.
        assert_eq!(s.decide(9, 0.1, at(350)), Some(4));
    }

    /// Drives a pool under demand that swings between 9 and 2 busy slots every 30 s for
    /// two hours, feeding each decision back, and counts the resizes.
    fn resizes_under_oscillating_demand(config: AutoscaleConfig) -> usize {
        let mut s = Autoscaler::new(config).unwrap();
        let mut size = 10;
        let mut changes = 0;
        for tick in 0..240u64 {
            let busy = if tick % 2 == 0 { 9.0 } else { 2.0 };
            if let Some(new_size) = s.decide(size, busy / f64::from(size), at(tick * 30)) {
                size = new_size;
                changes += 1;
            }
        }
        changes
    }

    #[test]
    fn stabilisation_prevents_flapping_under_oscillating_load() {
        assert_eq!(
            resizes_under_oscillating_demand(AutoscaleConfig::new(1, 100)),
            1
        );
        let mut unstabilised = AutoscaleConfig::new(1, 100);
        unstabilised.stabilisation_window = Duration::ZERO;
        assert!(resizes_under_oscillating_demand(unstabilised) > 50);
    }

    #[test]
    fn recommendations_are_clamped_to_the_bounds() {
        let mut s = scaler(2, 12);
        assert_eq!(s.decide(10, 1.0, at(0)), Some(12));
        assert_eq!(s.decide(12, 1.0, at(100)), None, "already at max");
        let mut s = scaler(2, 12);
        assert_eq!(s.decide(10, 0.01, at(0)), Some(2));
        assert_eq!(s.decide(2, 0.01, at(100)), None, "already at min");
    }

    #[test]
    fn size_outside_the_bounds_is_brought_back_at_once() {
        let mut s = scaler(2, 12);
        assert_eq!(s.decide(0, 0.5, at(0)), Some(2));
        assert_eq!(s.decide(40, 0.5, at(1)), Some(12), "ignores the cooldown");
        assert_eq!(s.decide(12, 0.95, at(2)), None);
    }

    #[test]
    fn bad_utilisation_decides_nothing() {
        let mut s = scaler(1, 100);
        for utilisation in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5] {
            assert_eq!(s.decide(10, utilisation, at(0)), None, "{utilisation}");
            assert_eq!(s.decide(200, utilisation, at(0)), None, "{utilisation}");
        }
        assert_eq!(s.decide(10, 0.9, at(0)), Some(15), "nothing was recorded");
    }

    #[test]
    fn bad_config_fields_are_named() {
        type Spoil = fn(&mut AutoscaleConfig);
        let cases: [(Spoil, &str); 10] = [
            (|c| c.min = 0, "min"),
            (|c| c.max = 0, "max"),
            (|c| c.target_utilisation = 0.0, "target_utilisation"),
            (|c| c.target_utilisation = f64::NAN, "target_utilisation"),
            (|c| c.scale_up_above = 1.2, "scale_up_above"),
            (|c| c.scale_up_above = 0.5, "scale_up_above"),
            (|c| c.scale_down_below = 0.6, "scale_down_below"),
            (|c| c.scale_down_below = -0.1, "scale_down_below"),
            (|c| c.tolerance = 1.0, "tolerance"),
            (|c| c.tolerance = -0.01, "tolerance"),
        ];
        for (spoil, field) in cases {
            let mut config = AutoscaleConfig::new(1, 10);
            spoil(&mut config);
            let err = Autoscaler::new(config).unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
        let mut config = AutoscaleConfig::new(3, 2);
        let err = config.validate().unwrap_err();
        assert!(err.to_string().contains("at least min (3)"), "{err}");
        config.max = 3;
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn parses_from_ron_with_defaults_and_seconds() {
        let config: AutoscaleConfig =
            ron::from_str("(min: 2, max: 8, cooldown: 30, stabilisation_window: 0.5)").unwrap();
        let mut expected = AutoscaleConfig::new(2, 8);
        expected.cooldown = Duration::from_secs(30);
        expected.stabilisation_window = Duration::from_millis(500);
        assert_eq!(config, expected);
        let json = serde_json::to_string(&expected).unwrap();
        assert!(json.contains("\"cooldown\":30.0"), "{json}");
        assert_eq!(
            serde_json::from_str::<AutoscaleConfig>(&json).unwrap(),
            expected
        );
        let err = ron::from_str::<AutoscaleConfig>("(min: 1, max: 2, cooldown: -5)").unwrap_err();
        assert!(err.to_string().contains("got -5 seconds"), "{err}");
    }

    proptest! {
        #[test]
        fn size_stays_in_bounds_and_changes_at_most_once_per_cooldown(
            min in 1u32..20,
            extra in 0u32..50,
            cooldown_secs in 0u64..300,
            window_secs in 0u64..600,
            start in 0u32..100,
            steps in prop::collection::vec((0u64..120, 0.0..2.0f64), 1..200),
        ) {
            let mut config = AutoscaleConfig::new(min, min + extra);
            config.cooldown = Duration::from_secs(cooldown_secs);
            config.stabilisation_window = Duration::from_secs(window_secs);
            let mut s = Autoscaler::new(config).unwrap();
            let mut size = start;
            let mut now = Timestamp::EPOCH;
            let mut last_change: Option<Timestamp> = None;
            for (advance, utilisation) in steps {
                now = now + Duration::from_secs(advance);
                let was_in_bounds = (min..=min + extra).contains(&size);
                if let Some(new_size) = s.decide(size, utilisation, now) {
                    prop_assert_ne!(new_size, size);
                    prop_assert!((min..=min + extra).contains(&new_size));
                    // Only bringing an out-of-bounds size back may skip the cooldown.
                    if was_in_bounds && let Some(previous) = last_change {
                        prop_assert!(now.since(previous) >= Duration::from_secs(cooldown_secs));
                    }
                    last_change = Some(now);
                    size = new_size;
                }
            }
        }
    }

    #[test]
    fn queued_demand_that_does_not_fit_grows_an_idle_pool() {
        let config = AutoscaleConfig {
            cooldown: Duration::ZERO,
            ..AutoscaleConfig::new(1, 4)
        };
        let mut watch = PoolWatch::new(
            4,
            Duration::from_secs(60),
            Some(Autoscaler::new(config.clone()).unwrap()),
        )
        .unwrap();
        // Idle, nothing queued: nothing to do.
        assert_eq!(watch.observe(at(0), 0.0, 1.0, 0.0).resize, None);
        // Idle, but two slots asked of a one-slot pool: grow (2 / 0.6 rounds up to 4).
        assert_eq!(watch.observe(at(10), 0.0, 1.0, 2.0).resize, Some(4));
        // The same without an autoscaler only watches.
        let mut fixed = PoolWatch::new(4, Duration::from_secs(60), None).unwrap();
        assert_eq!(fixed.observe(at(10), 0.0, 1.0, 2.0).resize, None);
    }
}
