//! The engine's settings: how the scheduler orders and admits work, and how the monitor
//! samples, predicts and scales. A scenario's `scheduler` and `monitor`, a `LiveConfig`,
//! a Python dict and `qm serve --config` all hold these same two structs, and all go
//! through the one conversion below, so a setting refused one way is refused every way,
//! with the same error naming the field, the value and what was expected.
//!
//! `SchedulerConfig` and `MonitorConfig` are the written form (seconds as numbers, hours as
//! integers). `SchedulerSettings` and `MonitorSettings` are what the actors run on: typed
//! (`Duration`, an off-peak window of valid hours), made only by `TryFrom`, so a running
//! engine never holds an unchecked setting.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{ValidationError, ensure};
use crate::policy::alert::AlertThresholds;
use crate::policy::autoscale::AutoscaleConfig;
use crate::policy::dispatch::OffPeakWindow;
use crate::policy::priority::PriorityWeights;
use crate::policy::reservation::ReservationPolicy;

/// How the scheduler orders and admits work, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    pub weights: PriorityWeights,
    /// With aging off, waiting time adds no priority (to show starvation).
    pub aging: bool,
    pub fair_share_half_life_secs: f64,
    /// A request queued longer than this raises `request.starving`.
    pub starvation_bound_secs: f64,
    /// Hours of the day (UTC) in which deferred work runs; none means any time.
    pub off_peak: Option<OffPeak>,
    /// Fall back to a request's cheaper alternative when credit or capacity is short.
    pub downgrade: bool,
    pub reservation: ReservationPolicy,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            weights: PriorityWeights::default(),
            aging: true,
            fair_share_half_life_secs: 300.0,
            starvation_bound_secs: 300.0,
            off_peak: None,
            downgrade: true,
            reservation: ReservationPolicy::default(),
        }
    }
}

/// Off-peak window `[start_hour, end_hour)` in UTC; it may wrap midnight (22 → 6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffPeak {
    pub start_hour: u32,
    pub end_hour: u32,
}

/// How the monitor samples, predicts and scales, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    pub sample_every_secs: f64,
    /// Samples in the regression window.
    pub window: usize,
    /// How far ahead the predictor looks.
    pub horizon_secs: f64,
    pub target_utilisation: f64,
    pub scale_up_above: f64,
    pub scale_down_below: f64,
    pub tolerance: f64,
    pub cooldown_secs: f64,
    pub stabilisation_secs: f64,
    /// When the monitor raises alerts, and how many resolved ones it keeps.
    pub alerts: AlertConfig,
}

/// The monitor's alert thresholds, as written (see `policy::alert`). Every bound is strict:
/// an alert is raised past it, not at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    /// `pool.capacity_low` when a pool has less than this fraction free (0 to 1).
    pub pool_free_below: f64,
    /// `client.spend_high` when a client has spent or reserved more than this fraction of
    /// its credit (0 to 1).
    pub client_spend_above: f64,
    /// `quota.usage_high` when a quota is used past this fraction of its allowance (0 to 1).
    pub quota_usage_above: f64,
    /// `queue.backup` when more requests than this wait in the queues.
    pub queue_depth_above: usize,
    /// `lease.expiring` when a running request's lease ends within this many seconds.
    pub lease_expiring_within_secs: f64,
    /// Resolved alerts kept for listing, oldest dropped first (open ones are all kept).
    pub history: usize,
}

impl Default for AlertConfig {
    fn default() -> Self {
        let typed = AlertThresholds::default();
        AlertConfig {
            pool_free_below: typed.pool_free_below,
            client_spend_above: typed.client_spend_above,
            quota_usage_above: typed.quota_usage_above,
            queue_depth_above: typed.queue_depth_above,
            lease_expiring_within_secs: typed.lease_expiring_within.as_secs_f64(),
            history: typed.history,
        }
    }
}

impl TryFrom<&AlertConfig> for AlertThresholds {
    type Error = ValidationError;

    fn try_from(config: &AlertConfig) -> Result<Self, ValidationError> {
        for (field, value) in [
            ("pool_free_below", config.pool_free_below),
            ("client_spend_above", config.client_spend_above),
            ("quota_usage_above", config.quota_usage_above),
        ] {
            ensure(
                value.is_finite() && (0.0..=1.0).contains(&value),
                field,
                value,
                "a fraction between 0 and 1",
            )?;
        }
        let lease_expiring_within = secs_at_least_zero(
            config.lease_expiring_within_secs,
            "lease_expiring_within_secs",
        )?;
        Ok(AlertThresholds {
            pool_free_below: config.pool_free_below,
            client_spend_above: config.client_spend_above,
            quota_usage_above: config.quota_usage_above,
            queue_depth_above: config.queue_depth_above,
            lease_expiring_within,
            history: config.history,
        })
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            sample_every_secs: 10.0,
            window: 30,
            horizon_secs: 60.0,
            target_utilisation: 0.6,
            scale_up_above: 0.8,
            scale_down_below: 0.3,
            tolerance: 0.1,
            cooldown_secs: 60.0,
            stabilisation_secs: 300.0,
            alerts: AlertConfig::default(),
        }
    }
}

/// The scheduler's checked settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerSettings {
    pub weights: PriorityWeights,
    pub aging: bool,
    pub fair_share_half_life: Duration,
    pub starvation_bound: Duration,
    pub off_peak: Option<OffPeakWindow>,
    pub downgrade: bool,
    pub reservation: ReservationPolicy,
}

/// The monitor's checked settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSettings {
    /// Time between two samples; never zero.
    pub sample_every: Duration,
    /// Samples in the regression window, at least 2.
    pub window: usize,
    pub horizon: Duration,
    /// Thresholds and timings every autoscaled pool shares; its bounds come from the pool.
    scaling: AutoscaleConfig,
    /// When alerts are raised, and how many resolved ones are kept.
    pub alerts: AlertThresholds,
}

impl MonitorSettings {
    /// The autoscaler settings of a pool scaling between `min` and `max`.
    pub fn autoscale(&self, min: u32, max: u32) -> AutoscaleConfig {
        AutoscaleConfig {
            min,
            max,
            ..self.scaling.clone()
        }
    }
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings::try_from(&SchedulerConfig::default()).expect("defaults are valid")
    }
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings::try_from(&MonitorConfig::default()).expect("defaults are valid")
    }
}

/// A positive, finite number of seconds.
fn positive_secs(value: f64, field: &str) -> Result<Duration, ValidationError> {
    ensure(
        value.is_finite() && value > 0.0,
        field,
        value,
        "a positive number of seconds",
    )?;
    Ok(Duration::from_secs_f64(value))
}

/// Zero or more seconds, finite.
fn secs_at_least_zero(value: f64, field: &str) -> Result<Duration, ValidationError> {
    ensure(
        value.is_finite() && value >= 0.0,
        field,
        value,
        "zero or more seconds",
    )?;
    Ok(Duration::from_secs_f64(value))
}

impl TryFrom<&SchedulerConfig> for SchedulerSettings {
    type Error = ValidationError;

    fn try_from(config: &SchedulerConfig) -> Result<Self, ValidationError> {
        let within = |e: ValidationError| e.within("scheduler");
        config
            .weights
            .validate()
            .map_err(|e| e.within("scheduler.weights"))?;
        let fair_share_half_life = positive_secs(
            config.fair_share_half_life_secs,
            "fair_share_half_life_secs",
        )
        .map_err(within)?;
        let starvation_bound =
            positive_secs(config.starvation_bound_secs, "starvation_bound_secs").map_err(within)?;
        let off_peak = match config.off_peak {
            Some(window) => Some(
                OffPeakWindow::new(window.start_hour, window.end_hour)
                    .map_err(|e| e.within("scheduler.off_peak"))?,
            ),
            None => None,
        };
        config
            .reservation
            .validate()
            .map_err(|e| e.within("scheduler.reservation"))?;
        Ok(SchedulerSettings {
            weights: config.weights,
            aging: config.aging,
            fair_share_half_life,
            starvation_bound,
            off_peak,
            downgrade: config.downgrade,
            reservation: config.reservation,
        })
    }
}

impl TryFrom<&MonitorConfig> for MonitorSettings {
    type Error = ValidationError;

    fn try_from(config: &MonitorConfig) -> Result<Self, ValidationError> {
        let within = |e: ValidationError| e.within("monitor");
        let sample_every =
            positive_secs(config.sample_every_secs, "sample_every_secs").map_err(within)?;
        ensure(
            config.window >= 2,
            "window",
            config.window,
            "at least 2 samples",
        )
        .map_err(within)?;
        let horizon = secs_at_least_zero(config.horizon_secs, "horizon_secs").map_err(within)?;
        let cooldown = secs_at_least_zero(config.cooldown_secs, "cooldown_secs").map_err(within)?;
        let stabilisation_window =
            secs_at_least_zero(config.stabilisation_secs, "stabilisation_secs").map_err(within)?;
        let scaling = AutoscaleConfig {
            min: 1,
            max: 1,
            target_utilisation: config.target_utilisation,
            scale_up_above: config.scale_up_above,
            scale_down_below: config.scale_down_below,
            tolerance: config.tolerance,
            cooldown,
            stabilisation_window,
        };
        scaling.validate().map_err(within)?;
        let alerts =
            AlertThresholds::try_from(&config.alerts).map_err(|e| e.within("monitor.alerts"))?;
        Ok(MonitorSettings {
            sample_every,
            window: config.window,
            horizon,
            scaling,
            alerts,
        })
    }
}

impl SchedulerConfig {
    /// The first problem with these settings, if any.
    pub fn validate(&self) -> Result<(), ValidationError> {
        SchedulerSettings::try_from(self).map(drop)
    }
}

impl MonitorConfig {
    /// The first problem with these settings, if any.
    pub fn validate(&self) -> Result<(), ValidationError> {
        MonitorSettings::try_from(self).map(drop)
    }
}

/// A span written as seconds, for values already checked (negative reads as zero).
pub(crate) fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(SchedulerConfig::default().validate().is_ok());
        assert!(MonitorConfig::default().validate().is_ok());
    }

    #[test]
    fn bad_scheduler_settings_name_field_value_and_expectation() {
        let negative = SchedulerConfig {
            starvation_bound_secs: -5.0,
            ..SchedulerConfig::default()
        };
        let e = negative.validate().unwrap_err();
        assert_eq!(e.field, "scheduler.starvation_bound_secs");
        assert_eq!(e.value, "-5");
        assert!(e.expected.contains("positive"), "{e}");

        let late = SchedulerConfig {
            off_peak: Some(OffPeak {
                start_hour: 30,
                end_hour: 6,
            }),
            ..SchedulerConfig::default()
        };
        let e = late.validate().unwrap_err();
        assert_eq!(e.field, "scheduler.off_peak.start_hour");
        assert_eq!(e.value, "30");
    }

    #[test]
    fn bad_monitor_settings_are_refused() {
        for (config, field) in [
            (
                MonitorConfig {
                    sample_every_secs: 0.0,
                    ..MonitorConfig::default()
                },
                "monitor.sample_every_secs",
            ),
            (
                MonitorConfig {
                    window: 1,
                    ..MonitorConfig::default()
                },
                "monitor.window",
            ),
            (
                MonitorConfig {
                    cooldown_secs: f64::NAN,
                    ..MonitorConfig::default()
                },
                "monitor.cooldown_secs",
            ),
        ] {
            assert_eq!(config.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn bad_alert_thresholds_name_field_value_and_expectation() {
        let over = MonitorConfig {
            alerts: AlertConfig {
                pool_free_below: 1.5,
                ..AlertConfig::default()
            },
            ..MonitorConfig::default()
        };
        let e = over.validate().unwrap_err();
        assert_eq!(e.field, "monitor.alerts.pool_free_below");
        assert_eq!(e.value, "1.5");
        assert!(e.expected.contains("between 0 and 1"), "{e}");
        let negative = MonitorConfig {
            alerts: AlertConfig {
                lease_expiring_within_secs: -1.0,
                ..AlertConfig::default()
            },
            ..MonitorConfig::default()
        };
        let e = negative.validate().unwrap_err();
        assert_eq!(e.field, "monitor.alerts.lease_expiring_within_secs");
        // The defaults are the issue's: 10% free, 95% spent, 1,000 queued.
        let typed = MonitorSettings::default().alerts;
        assert_eq!(typed.pool_free_below, 0.10);
        assert_eq!(typed.queue_depth_above, 1_000);
        // Written in a scenario's RON, the nested form works with any subset of fields.
        let config: MonitorConfig = ron::from_str("(alerts: (queue_depth_above: 5))").unwrap();
        assert_eq!(config.alerts.queue_depth_above, 5);
        assert_eq!(config.alerts.history, 1_000);
    }

    #[test]
    fn an_autoscaled_pool_takes_its_bounds_and_the_shared_thresholds() {
        let settings = MonitorSettings::default();
        let scaling = settings.autoscale(2, 9);
        assert_eq!((scaling.min, scaling.max), (2, 9));
        assert_eq!(scaling.cooldown, Duration::from_secs(60));
    }
}
