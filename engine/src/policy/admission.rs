//! The admission gate: the one place where a request's pools, quotas and credit are
//! checked and taken together, so admission is a single atomic step.
//!
//! Pools are addressed by dense index (their position in the scenario or registry) to keep
//! the per-request path free of name lookups.

use std::fmt;
use std::time::Duration;

use crate::model::{
    ClientId, Metric, Money, Pool, PoolId, PoolKind, Quota, RequestId, ReservationId, Timestamp,
    ValidationError,
};
use crate::policy::quota::{QuotaNotice, QuotaSet};
use crate::policy::reservation::{
    CreditBook, ReservationAlert, ReservationPolicy, ReserveError, Settlement,
};
use crate::policy::token_bucket::{TakeError, TokenBucket};

/// Why a request was turned away for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    Quota,
    Budget,
    Rate,
    Capacity,
    /// The client left, or the request was cancelled.
    Withdrawn,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 5] = [
        RefusalReason::Quota,
        RefusalReason::Budget,
        RefusalReason::Rate,
        RefusalReason::Capacity,
        RefusalReason::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Quota => "quota",
            RefusalReason::Budget => "budget",
            RefusalReason::Rate => "rate",
            RefusalReason::Capacity => "capacity",
            RefusalReason::Withdrawn => "withdrawn",
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal with its reason and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused ({reason}): {message}")]
pub struct Refusal {
    pub reason: RefusalReason,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: RefusalReason, message: impl Into<String>) -> Self {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

/// What a request is waiting for when it cannot start yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Blocker {
    /// A slot pool is full or down.
    Capacity { pool: usize },
    /// A rate pool lacks tokens; they will be there after `retry_after` (never if `None`).
    Tokens {
        pool: usize,
        retry_after: Option<Duration>,
    },
    /// The client's credit is tied up in running reservations that may return some.
    Credit,
}

/// The gate's answer.
#[derive(Debug)]
pub enum Verdict {
    Admit(Admitted),
    Wait(Blocker),
    Refuse(Refusal),
}

/// What admission took, to be given back or settled when the request finishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub reservation: ReservationId,
    pub reserved: Money,
    /// Cost counted against cost quotas at admission (the reservation), in micro-units.
    pub cost_counted: u64,
    /// Quota crossings this admission caused.
    pub notices: Vec<QuotaNotice>,
}

/// What finishing a request settled.
#[derive(Debug, Clone)]
pub struct Finished {
    pub settlement: Settlement,
    /// The reservation's 80% / 95% alert, if the actual cost reached it.
    pub alert: Option<ReservationAlert>,
    /// Quota crossings caused by the usage counted at the finish.
    pub notices: Vec<QuotaNotice>,
}

/// One request's demand, as the gate sees it.
#[derive(Debug, Clone, Copy)]
pub struct Demand<'a> {
    pub client: &'a ClientId,
    pub request: RequestId,
    /// (pool index, amount)
    pub needs: &'a [(usize, u64)],
    pub estimate: Option<Money>,
}

#[derive(Debug, Clone)]
enum Level {
    Rate(TokenBucket),
    Slot { size: u32, busy: u32 },
}

/// A pool's definition and how much of it is in use.
#[derive(Debug, Clone)]
pub struct Gauge {
    pool: Pool,
    level: Level,
    down: bool,
}

impl Gauge {
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn is_down(&self) -> bool {
        self.down
    }

    /// Slots of a slot pool, or bucket capacity of a rate pool.
    pub fn size(&self) -> f64 {
        match &self.level {
            Level::Rate(bucket) => bucket.capacity(),
            Level::Slot { size, .. } => *size as f64,
        }
    }

    /// Fraction in use at `now`: busy slots, or tokens drawn from the bucket.
    pub fn utilisation(&self, now: Timestamp) -> f64 {
        match &self.level {
            Level::Rate(bucket) => 1.0 - bucket.available(now) / bucket.capacity(),
            Level::Slot { size, busy } => *busy as f64 / (*size).max(1) as f64,
        }
    }

    /// The most this pool could ever give one request (its autoscale ceiling if any).
    fn ceiling(&self) -> f64 {
        let scaled = self.pool.autoscale.map(|b| b.max as f64).unwrap_or(0.0);
        match &self.level {
            Level::Rate(bucket) => bucket.capacity().max(scaled),
            Level::Slot { size, .. } => (*size as f64).max(scaled),
        }
    }
}

/// Pools, quotas and credit, checked and taken together.
#[derive(Debug)]
pub struct Gate {
    gauges: Vec<Gauge>,
    quotas: QuotaSet,
    credits: CreditBook,
    /// Scratch space for a request's quota demands, reused to keep admission allocation-free.
    demands: Vec<(Metric, u64)>,
}

impl Gate {
    pub fn new(policy: ReservationPolicy) -> Result<Self, ValidationError> {
        Ok(Gate {
            gauges: Vec::new(),
            quotas: QuotaSet::new(),
            credits: CreditBook::new(policy)?,
            demands: Vec::new(),
        })
    }

    /// Adds a pool; returns its index.
    pub fn add_pool(&mut self, pool: Pool, now: Timestamp) -> Result<usize, ValidationError> {
        pool.validate()?;
        let level = match &pool.kind {
            PoolKind::Rate {
                capacity,
                refill_per_sec,
                ..
            } => Level::Rate(TokenBucket::new(*capacity, *refill_per_sec, now)?),
            PoolKind::Slot { slots, .. } => Level::Slot {
                size: *slots,
                busy: 0,
            },
        };
        self.gauges.push(Gauge {
            pool,
            level,
            down: false,
        });
        Ok(self.gauges.len() - 1)
    }

    pub fn add_quota(&mut self, quota: Quota, now: Timestamp) -> Result<(), ValidationError> {
        self.quotas.add(quota, now)
    }

    pub fn quotas(&self) -> &QuotaSet {
        &self.quotas
    }

    pub fn quotas_mut(&mut self) -> &mut QuotaSet {
        &mut self.quotas
    }

    pub fn credits(&self) -> &CreditBook {
        &self.credits
    }

    pub fn credits_mut(&mut self) -> &mut CreditBook {
        &mut self.credits
    }

    pub fn gauges(&self) -> &[Gauge] {
        &self.gauges
    }

    pub fn pool_index(&self, id: &PoolId) -> Option<usize> {
        self.gauges.iter().position(|g| &g.pool.id == id)
    }

    /// What `needs` would cost if held for `held_secs`, at today's prices.
    pub fn price(&self, needs: &[(usize, u64)], held_secs: f64) -> Money {
        needs
            .iter()
            .map(|&(pool, amount)| self.gauges[pool].pool.cost_of(amount, held_secs))
            .sum()
    }

    /// Checks everything a request needs and, if it may start, takes it all at once.
    pub fn try_admit(&mut self, demand: Demand<'_>, now: Timestamp) -> Verdict {
        if let Some(verdict) = self.check_pools(demand.needs, now) {
            return verdict;
        }
        // Quotas and credit: the cheap checks first, nothing taken until all pass.
        let reserved_estimate = demand
            .estimate
            .map(|e| e.min(self.credits.policy().max_reservation));
        let quotas_apply = !self.quotas.is_empty();
        if quotas_apply {
            self.fill_demands(demand.needs, reserved_estimate.unwrap_or(Money::ZERO));
            let check = self.quotas.check_many(demand.client, &self.demands, now);
            if let Some(refusal) = check.refusal {
                return Verdict::Refuse(Refusal::new(RefusalReason::Quota, refusal.to_string()));
            }
        }
        let grant =
            match self
                .credits
                .reserve(demand.client, Some(demand.request), demand.estimate, now)
            {
                Ok(grant) => grant,
                Err(ReserveError::InsufficientCredit {
                    needed, available, ..
                }) => {
                    let reserved_now = self
                        .credits
                        .account(demand.client)
                        .map(|a| a.reserved)
                        .unwrap_or(Money::ZERO);
                    return if available + reserved_now >= needed {
                        Verdict::Wait(Blocker::Credit)
                    } else {
                        Verdict::Refuse(Refusal::new(
                            RefusalReason::Budget,
                            format!(
                                "client {} needs {needed} of credit but has {available} available",
                                demand.client
                            ),
                        ))
                    };
                }
                Err(other) => {
                    return Verdict::Refuse(Refusal::new(RefusalReason::Budget, other.to_string()));
                }
            };
        let mut notices = Vec::new();
        if quotas_apply {
            // The demands were filled with the same estimate; the reservation may differ
            // only when the policy reserved its maximum for an unestimated request.
            if grant.amount != reserved_estimate.unwrap_or(Money::ZERO) {
                self.fill_demands(demand.needs, grant.amount);
            }
            let consumed = self.quotas.consume_many(demand.client, &self.demands, now);
            if let Some(refusal) = consumed.refusal {
                // Nothing was recorded by the quotas; give the credit back.
                let _ = self.credits.release(grant.id, now);
                return Verdict::Refuse(Refusal::new(RefusalReason::Quota, refusal.to_string()));
            }
            notices = consumed.notices;
        }
        for &(pool, amount) in demand.needs {
            match &mut self.gauges[pool].level {
                Level::Rate(bucket) => {
                    // Checked above at the same instant, so the take succeeds.
                    let _ = bucket.try_take(amount as f64, now);
                }
                Level::Slot { busy, .. } => *busy += amount as u32,
            }
        }
        Verdict::Admit(Admitted {
            reservation: grant.id,
            reserved: grant.amount,
            cost_counted: grant.amount.micros().max(0) as u64,
            notices,
        })
    }

    fn check_pools(&self, needs: &[(usize, u64)], now: Timestamp) -> Option<Verdict> {
        for &(pool, amount) in needs {
            let gauge = &self.gauges[pool];
            if amount as f64 > gauge.ceiling() {
                let (reason, unit) = match gauge.level {
                    Level::Rate(_) => (RefusalReason::Rate, "tokens"),
                    Level::Slot { .. } => (RefusalReason::Capacity, "slots"),
                };
                return Some(Verdict::Refuse(Refusal::new(
                    reason,
                    format!(
                        "needs {amount} {unit} of pool {}, which holds at most {}",
                        gauge.pool.id,
                        gauge.ceiling()
                    ),
                )));
            }
            if gauge.down {
                return Some(Verdict::Wait(Blocker::Capacity { pool }));
            }
            match &gauge.level {
                Level::Rate(bucket) => match bucket.time_until(amount as f64, now) {
                    Ok(wait) if wait.is_zero() => {}
                    Ok(wait) => {
                        return Some(Verdict::Wait(Blocker::Tokens {
                            pool,
                            retry_after: Some(wait),
                        }));
                    }
                    Err(TakeError::Insufficient { retry_after, .. }) => {
                        return Some(Verdict::Wait(Blocker::Tokens { pool, retry_after }));
                    }
                    // Above the current capacity but within the autoscale ceiling.
                    Err(_) => {
                        return Some(Verdict::Wait(Blocker::Tokens {
                            pool,
                            retry_after: None,
                        }));
                    }
                },
                Level::Slot { size, busy } => {
                    if u64::from(*busy) + amount > u64::from(*size) {
                        return Some(Verdict::Wait(Blocker::Capacity { pool }));
                    }
                }
            }
        }
        None
    }

    /// The quota demands of a request: one api call, its tokens (rate-pool units), its
    /// cost, and its amount of each pool under the pool's name.
    fn fill_demands(&mut self, needs: &[(usize, u64)], cost: Money) {
        self.demands.clear();
        self.demands.push((Metric::ApiCalls, 1));
        let tokens: u64 = needs
            .iter()
            .filter(|(pool, _)| matches!(self.gauges[*pool].level, Level::Rate(_)))
            .map(|(_, amount)| amount)
            .sum();
        if tokens > 0 {
            self.demands.push((Metric::Tokens, tokens));
        }
        self.demands
            .push((Metric::Cost, cost.micros().max(0) as u64));
        for &(pool, amount) in needs {
            self.demands
                .push((Metric::Named(self.gauges[pool].pool.id.0.clone()), amount));
        }
    }

    /// Gives back what a finished request held and settles its reservation at `actual`.
    /// `unused` is what a rate pool's request drew but did not use (refunded as tokens).
    pub fn finish(
        &mut self,
        client: &ClientId,
        needs: &[(usize, u64)],
        admitted: &Admitted,
        actual: Money,
        held: Duration,
        now: Timestamp,
    ) -> Result<Finished, ReserveError> {
        for &(pool, amount) in needs {
            if let Level::Slot { busy, .. } = &mut self.gauges[pool].level {
                *busy = busy.saturating_sub(amount as u32);
            }
        }
        let mut notices = Vec::new();
        if !self.quotas.is_empty() {
            let actual_micros = actual.micros().max(0) as u64;
            let millis = held.as_millis().min(u64::MAX as u128) as u64;
            let mut after_the_fact = vec![(Metric::ComputeMs, millis)];
            if actual_micros > admitted.cost_counted {
                after_the_fact.push((Metric::Cost, actual_micros - admitted.cost_counted));
            } else if actual_micros < admitted.cost_counted {
                let unused = [(Metric::Cost, admitted.cost_counted - actual_micros)];
                self.quotas.refund_many(client, &unused, now);
            }
            notices = self.quotas.record_many(client, &after_the_fact, now);
        }
        let alert = self.credits.track(admitted.reservation, actual)?;
        let settlement = self.credits.settle(admitted.reservation, actual, now)?;
        Ok(Finished {
            settlement,
            alert,
            notices,
        })
    }

    /// Gives back what a request took without running it.
    pub fn abandon(&mut self, needs: &[(usize, u64)], admitted: &Admitted, now: Timestamp) {
        for &(pool, amount) in needs {
            match &mut self.gauges[pool].level {
                Level::Slot { busy, .. } => *busy = busy.saturating_sub(amount as u32),
                Level::Rate(bucket) => {
                    let _ = bucket.refund(amount as f64, now);
                }
            }
        }
        let _ = self.credits.release(admitted.reservation, now);
    }

    /// Resizes a pool: slots of a slot pool, bucket capacity of a rate pool.
    pub fn resize(
        &mut self,
        pool: usize,
        size: f64,
        now: Timestamp,
    ) -> Result<(), ValidationError> {
        let gauge = &mut self.gauges[pool];
        match &mut gauge.level {
            Level::Rate(bucket) => bucket.set_capacity(size, now)?,
            Level::Slot { size: slots, .. } => {
                if !(size.is_finite() && size >= 1.0 && size <= u32::MAX as f64) {
                    return Err(ValidationError::new(
                        "slots",
                        size,
                        "a whole number of slots, at least 1",
                    ));
                }
                *slots = size.round() as u32;
            }
        }
        match &mut gauge.pool.kind {
            PoolKind::Rate { capacity, .. } => *capacity = size,
            PoolKind::Slot { slots, .. } => *slots = size.round() as u32,
        }
        Ok(())
    }

    pub fn set_down(&mut self, pool: usize, down: bool) {
        self.gauges[pool].down = down;
    }

    /// New price: per hour for a slot pool, per thousand units for a rate pool.
    pub fn set_price(&mut self, pool: usize, price: Money) {
        match &mut self.gauges[pool].pool.kind {
            PoolKind::Rate {
                cost_per_1k_units, ..
            } => *cost_per_1k_units = price,
            PoolKind::Slot { cost_per_hour, .. } => *cost_per_hour = price,
        }
    }
}
