use serde::{Deserialize, Serialize};

use super::error::{ensure, ensure_name};
use super::{Money, PoolId, ValidationError};

/// What a pool limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// A rate-limited API: a token bucket of `capacity` refilled at `refill_per_sec`,
    /// priced per thousand units (GPT-4: 10,000 tokens, 166/s, $0.03 per 1K).
    Rate {
        capacity: f64,
        refill_per_sec: f64,
        cost_per_1k_units: Money,
    },
    /// A concurrency limit: `slots` servers or GPUs, priced per slot-hour.
    Slot { slots: u32, cost_per_hour: Money },
}

/// Bounds within which the monitor may resize a pool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AutoscaleBounds {
    pub min: u32,
    pub max: u32,
}

/// A limited resource that requests draw on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub id: PoolId,
    pub kind: PoolKind,
    /// Autoscaling range, in slots for a slot pool and in capacity units for a rate pool.
    #[serde(default)]
    pub autoscale: Option<AutoscaleBounds>,
}

impl Pool {
    /// Sets the price: per hour for a slot pool, per thousand units for a rate pool.
    pub fn set_price(&mut self, price: Money) {
        match &mut self.kind {
            PoolKind::Rate {
                cost_per_1k_units, ..
            } => *cost_per_1k_units = price,
            PoolKind::Slot { cost_per_hour, .. } => *cost_per_hour = price,
        }
    }

    /// Slots of a slot pool, bucket capacity of a rate pool.
    pub fn size(&self) -> f64 {
        match &self.kind {
            PoolKind::Rate { capacity, .. } => *capacity,
            PoolKind::Slot { slots, .. } => f64::from(*slots),
        }
    }

    /// The cost of drawing `units` from this pool for `seconds` (slot pools are billed by time).
    pub fn cost_of(&self, units: u64, seconds: f64) -> Money {
        match &self.kind {
            PoolKind::Rate {
                cost_per_1k_units, ..
            } => cost_per_1k_units.mul_div(units as i128, 1000),
            PoolKind::Slot { cost_per_hour, .. } => {
                // Micro-second resolution of the billed time keeps this integer and exact.
                let micros_of_time = (seconds.max(0.0) * 1e6).round() as i128;
                cost_per_hour.mul_div(units as i128 * micros_of_time, 3_600_000_000)
            }
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let owner = format!("pool[{}]", self.id);
        let within = |e: ValidationError| e.within(&owner);
        ensure_name("id", self.id.as_str()).map_err(within)?;
        match &self.kind {
            PoolKind::Rate {
                capacity,
                refill_per_sec,
                cost_per_1k_units,
            } => {
                ensure(
                    capacity.is_finite() && *capacity > 0.0,
                    "capacity",
                    capacity,
                    "a positive number of units",
                )
                .map_err(within)?;
                ensure(
                    refill_per_sec.is_finite() && *refill_per_sec >= 0.0,
                    "refill_per_sec",
                    refill_per_sec,
                    "zero or more units per second",
                )
                .map_err(within)?;
                ensure(
                    !cost_per_1k_units.is_negative(),
                    "cost_per_1k_units",
                    cost_per_1k_units,
                    "zero or more",
                )
                .map_err(within)?;
            }
            PoolKind::Slot {
                slots,
                cost_per_hour,
            } => {
                ensure(*slots > 0, "slots", slots, "at least 1").map_err(within)?;
                ensure(
                    !cost_per_hour.is_negative(),
                    "cost_per_hour",
                    cost_per_hour,
                    "zero or more",
                )
                .map_err(within)?;
            }
        }
        if let Some(bounds) = self.autoscale {
            ensure(bounds.min > 0, "autoscale.min", bounds.min, "at least 1").map_err(within)?;
            ensure(
                bounds.max >= bounds.min,
                "autoscale.max",
                bounds.max,
                &format!("at least autoscale.min ({})", bounds.min),
            )
            .map_err(within)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpt4() -> Pool {
        Pool {
            id: PoolId::new("gpt4"),
            kind: PoolKind::Rate {
                capacity: 10_000.0,
                refill_per_sec: 166.0,
                cost_per_1k_units: Money::from_micros(30_000),
            },
            autoscale: None,
        }
    }

    #[test]
    fn rate_pool_prices_per_thousand_units() {
        assert_eq!(gpt4().cost_of(1000, 0.0), Money::from_micros(30_000));
        assert_eq!(gpt4().cost_of(1, 0.0), Money::from_micros(30));
    }

    #[test]
    fn slot_pool_prices_per_hour() {
        let gpus = Pool {
            id: PoolId::new("a100"),
            kind: PoolKind::Slot {
                slots: 4,
                cost_per_hour: Money::from_units(2),
            },
            autoscale: None,
        };
        assert_eq!(gpus.cost_of(1, 1800.0), Money::from_units(1));
        assert_eq!(gpus.cost_of(2, 3600.0), Money::from_units(4));
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut p = gpt4();
        if let PoolKind::Rate { capacity, .. } = &mut p.kind {
            *capacity = f64::NAN;
        }
        assert_eq!(p.validate().unwrap_err().field, "pool[gpt4].capacity");
        let mut p = gpt4();
        p.autoscale = Some(AutoscaleBounds { min: 5, max: 2 });
        let err = p.validate().unwrap_err();
        assert_eq!(err.field, "pool[gpt4].autoscale.max");
        assert!(err.expected.contains("autoscale.min (5)"));
    }
}
