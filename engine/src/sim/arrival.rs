//! When a workload's requests arrive: Poisson, constant, on/off bursts or a diurnal curve.

use rand::Rng;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::model::ValidationError;

const SECS_PER_HOUR: f64 = 3600.0;
const SECS_PER_DAY: f64 = 86_400.0;

/// An arrival process as written in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Exponential gaps at `rate_per_sec`.
    Poisson { rate_per_sec: f64 },
    /// One request every `1 / rate_per_sec` seconds exactly.
    Constant { rate_per_sec: f64 },
    /// Poisson at `rate_per_sec` during `on_secs`, then silent for `off_secs`, repeating.
    OnOff {
        rate_per_sec: f64,
        on_secs: f64,
        off_secs: f64,
    },
    /// Poisson whose rate follows the hour of day (UTC): 24 rates, one per hour,
    /// interpolated linearly between hours.
    Diurnal { rates_per_hour: Vec<f64> },
}

/// A validated arrival process that yields successive arrival offsets (seconds from the
/// scenario start).
#[derive(Debug, Clone)]
pub struct ArrivalClock {
    process: Arrivals,
    /// Seconds of the scenario start past UTC midnight, for diurnal curves.
    start_of_day_secs: f64,
    /// Upper bound of the rate, for thinning.
    max_rate: f64,
    last: f64,
}

impl Arrivals {
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        let rate_ok = |name: &str, rate: f64| {
            if rate.is_finite() && rate > 0.0 {
                Ok(())
            } else {
                Err(ValidationError::new(
                    format!("{field}.{name}"),
                    rate,
                    "a positive finite rate per second",
                ))
            }
        };
        match self {
            Arrivals::Poisson { rate_per_sec } | Arrivals::Constant { rate_per_sec } => {
                rate_ok("rate_per_sec", *rate_per_sec)
            }
            Arrivals::OnOff {
                rate_per_sec,
                on_secs,
                off_secs,
            } => {
                rate_ok("rate_per_sec", *rate_per_sec)?;
                if !(on_secs.is_finite() && *on_secs > 0.0) {
                    return Err(ValidationError::new(
                        format!("{field}.on_secs"),
                        on_secs,
                        "a positive number of seconds",
                    ));
                }
                if !(off_secs.is_finite() && *off_secs >= 0.0) {
                    return Err(ValidationError::new(
                        format!("{field}.off_secs"),
                        off_secs,
                        "zero or more seconds",
                    ));
                }
                Ok(())
            }
            Arrivals::Diurnal { rates_per_hour } => {
                if rates_per_hour.len() != 24 {
                    return Err(ValidationError::new(
                        format!("{field}.rates_per_hour"),
                        format!("{} rates", rates_per_hour.len()),
                        "24 rates, one per hour of the day (UTC)",
                    ));
                }
                for (hour, rate) in rates_per_hour.iter().enumerate() {
                    if !(rate.is_finite() && *rate >= 0.0) {
                        return Err(ValidationError::new(
                            format!("{field}.rates_per_hour[{hour}]"),
                            rate,
                            "a finite rate >= 0",
                        ));
                    }
                }
                if rates_per_hour.iter().all(|r| *r == 0.0) {
                    return Err(ValidationError::new(
                        format!("{field}.rates_per_hour"),
                        "all zero",
                        "at least one positive rate",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Mean arrival rate per second over a long run.
    pub fn mean_rate(&self) -> f64 {
        match self {
            Arrivals::Poisson { rate_per_sec } | Arrivals::Constant { rate_per_sec } => {
                *rate_per_sec
            }
            Arrivals::OnOff {
                rate_per_sec,
                on_secs,
                off_secs,
            } => rate_per_sec * on_secs / (on_secs + off_secs),
            Arrivals::Diurnal { rates_per_hour } => rates_per_hour.iter().sum::<f64>() / 24.0,
        }
    }

    pub fn clock(&self, start_of_day_secs: f64) -> ArrivalClock {
        let max_rate = match self {
            Arrivals::Diurnal { rates_per_hour } => {
                rates_per_hour.iter().copied().fold(0.0, f64::max)
            }
            _ => self.mean_rate(),
        };
        ArrivalClock {
            process: self.clone(),
            start_of_day_secs,
            max_rate,
            last: 0.0,
        }
    }
}

impl ArrivalClock {
    /// Seconds from the start to the first arrival at or after `now_secs` (also from the
    /// start): a stream that resumes where the calendar is.
    pub fn resume<R: Rng + ?Sized>(&mut self, rng: &mut R, now_secs: f64) -> f64 {
        let mut next = self.next(rng);
        while next < now_secs {
            next = self.next(rng);
        }
        next
    }

    /// Seconds from the start to the next arrival.
    pub fn next<R: Rng + ?Sized>(&mut self, rng: &mut R) -> f64 {
        self.last = match &self.process {
            Arrivals::Poisson { rate_per_sec } => self.last + exp_gap(rng, *rate_per_sec),
            Arrivals::Constant { rate_per_sec } => self.last + 1.0 / rate_per_sec,
            Arrivals::OnOff {
                rate_per_sec,
                on_secs,
                off_secs,
            } => {
                // Poisson in "on" time: draw the gap in on-time, then map it onto the calendar.
                let cycle = on_secs + off_secs;
                let on_time_now =
                    (self.last / cycle).floor() * on_secs + (self.last % cycle).min(*on_secs);
                let on_time_next = on_time_now + exp_gap(rng, *rate_per_sec);
                let cycles = (on_time_next / on_secs).floor();
                cycles * cycle + (on_time_next - cycles * on_secs)
            }
            Arrivals::Diurnal { rates_per_hour } => {
                // Thinning (Lewis–Shedler): candidates at the peak rate, kept with
                // probability rate(t) / peak.
                let mut t = self.last;
                loop {
                    t += exp_gap(rng, self.max_rate);
                    let rate = diurnal_rate(rates_per_hour, self.start_of_day_secs + t);
                    if rng.random::<f64>() * self.max_rate < rate {
                        break t;
                    }
                }
            }
        };
        self.last
    }
}

fn exp_gap<R: Rng + ?Sized>(rng: &mut R, rate: f64) -> f64 {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    -(1.0 - rng.random::<f64>()).ln() / rate
}

fn diurnal_rate(rates_per_hour: &[f64], secs_of_day: f64) -> f64 {
    let hours = (secs_of_day % SECS_PER_DAY) / SECS_PER_HOUR;
    let hour = hours.floor() as usize % 24;
    let next = (hour + 1) % 24;
    let frac = hours - hours.floor();
    rates_per_hour[hour] * (1.0 - frac) + rates_per_hour[next] * frac
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn count_until(process: &Arrivals, horizon: f64) -> usize {
        let mut clock = process.clock(0.0);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut n = 0;
        while clock.next(&mut rng) < horizon {
            n += 1;
        }
        n
    }

    #[test]
    fn long_run_rates_match_the_mean_rate() {
        for p in [
            Arrivals::Poisson { rate_per_sec: 50.0 },
            Arrivals::Constant { rate_per_sec: 50.0 },
            Arrivals::OnOff {
                rate_per_sec: 100.0,
                on_secs: 10.0,
                off_secs: 30.0,
            },
            Arrivals::Diurnal {
                rates_per_hour: (0..24).map(|h| 1.0 + h as f64).collect(),
            },
        ] {
            let horizon = 4.0 * SECS_PER_DAY;
            let got = count_until(&p, horizon) as f64 / horizon;
            let expected = p.mean_rate();
            assert!(
                (got - expected).abs() / expected < 0.02,
                "{p:?}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn on_off_arrivals_fall_only_in_on_windows() {
        let p = Arrivals::OnOff {
            rate_per_sec: 20.0,
            on_secs: 5.0,
            off_secs: 15.0,
        };
        let mut clock = p.clock(0.0);
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..10_000 {
            let t = clock.next(&mut rng);
            assert!(t % 20.0 <= 5.0 + 1e-9, "arrival at {t} is in an off window");
        }
    }

    #[test]
    fn bad_processes_name_the_field() {
        let err = Arrivals::Poisson { rate_per_sec: -1.0 }
            .validate("workloads[0].arrivals")
            .unwrap_err();
        assert_eq!(err.field, "workloads[0].arrivals.rate_per_sec");
        let err = Arrivals::Diurnal {
            rates_per_hour: vec![1.0; 3],
        }
        .validate("a")
        .unwrap_err();
        assert!(err.expected.contains("24 rates"));
    }
}
