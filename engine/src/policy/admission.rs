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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    Quota,
    /// The client's credit does not cover the reservation.
    Credit,
    Rate,
    Capacity,
    /// The client left, or the request was cancelled.
    Withdrawn,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 5] = [
        RefusalReason::Quota,
        RefusalReason::Credit,
        RefusalReason::Rate,
        RefusalReason::Capacity,
        RefusalReason::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Quota => "quota",
            RefusalReason::Credit => "credit",
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// What a finished request really used, by position in its needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Used {
    /// The amount used of each need, in the order of the needs (`None`: all of each).
    pub pools: Option<Vec<u64>>,
    /// Compute time in milliseconds (`None`: the time the pools were held).
    pub compute_ms: Option<u64>,
}

impl Used {
    /// How much of need `i` (of `asked`) was used.
    fn of(&self, i: usize, asked: u64) -> u64 {
        self.pools
            .as_ref()
            .and_then(|p| p.get(i).copied())
            .unwrap_or(asked)
    }
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

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Level {
    Rate(TokenBucket),
    Slot { size: u32, busy: u32 },
}

/// A pool's definition and how much of it is in use.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

    /// Fraction free at `now`: none while the pool is out of service.
    pub fn free(&self, now: Timestamp) -> f64 {
        if self.down {
            0.0
        } else {
            (1.0 - self.utilisation(now)).clamp(0.0, 1.0)
        }
    }

    /// What could be taken now: tokens in a rate pool's bucket, free slots of a slot pool.
    pub fn available(&self, now: Timestamp) -> f64 {
        match &self.level {
            Level::Rate(bucket) => bucket.available(now),
            Level::Slot { size, busy } => f64::from(size.saturating_sub(*busy)),
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gate {
    gauges: Vec<Gauge>,
    quotas: QuotaSet,
    credits: CreditBook,
    /// Scratch space for a request's quota demands, reused to keep admission allocation-free.
    demands: Vec<(Metric, u64)>,
    /// `quota.exceeded` crossings of hard quotas that refused a request, for the caller to
    /// publish ([`Gate::take_refusal_notices`]); once per quota and period.
    refusal_notices: Vec<QuotaNotice>,
}

impl Gate {
    pub fn new(policy: ReservationPolicy) -> Result<Self, ValidationError> {
        Ok(Gate {
            gauges: Vec::new(),
            quotas: QuotaSet::new(),
            credits: CreditBook::new(policy)?,
            demands: Vec::new(),
            refusal_notices: Vec::new(),
        })
    }

    /// The `quota.exceeded` crossings of quotas that refused requests since the last call.
    pub fn take_refusal_notices(&mut self) -> Vec<QuotaNotice> {
        std::mem::take(&mut self.refusal_notices)
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
                // Counting a refused demand records nothing but notes the quota exceeded
                // (once a period), which is worth an event.
                let refused = self.quotas.consume_many(demand.client, &self.demands, now);
                self.refusal_notices.extend(refused.notices);
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
                            RefusalReason::Credit,
                            format!(
                                "client {} needs {needed} of credit but has {available} available",
                                demand.client
                            ),
                        ))
                    };
                }
                Err(other) => {
                    return Verdict::Refuse(Refusal::new(RefusalReason::Credit, other.to_string()));
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

    /// The refusal of a request that needs more of some pool than the pool could ever
    /// hold, even scaled to its maximum: no amount of waiting would let it start.
    pub fn never_fits(&self, needs: &[(usize, u64)]) -> Option<Refusal> {
        needs.iter().find_map(|&(pool, amount)| {
            let gauge = &self.gauges[pool];
            if amount as f64 <= gauge.ceiling() {
                return None;
            }
            let (reason, unit) = match gauge.level {
                Level::Rate(_) => (RefusalReason::Rate, "tokens"),
                Level::Slot { .. } => (RefusalReason::Capacity, "slots"),
            };
            Some(Refusal::new(
                reason,
                format!(
                    "needs {amount} {unit} of pool {}, which holds at most {}",
                    gauge.pool.id,
                    gauge.ceiling()
                ),
            ))
        })
    }

    fn check_pools(&self, needs: &[(usize, u64)], now: Timestamp) -> Option<Verdict> {
        if let Some(refusal) = self.never_fits(needs) {
            return Some(Verdict::Refuse(refusal));
        }
        for &(pool, amount) in needs {
            let gauge = &self.gauges[pool];
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
        // Per-pool demands cost a name each; build them only when some quota counts one.
        let counts_pools = self
            .quotas
            .iter()
            .any(|state| matches!(state.quota().metric, Metric::Named(_)));
        if counts_pools {
            for &(pool, amount) in needs {
                self.demands
                    .push((Metric::Named(self.gauges[pool].pool.id.0.clone()), amount));
            }
        }
    }

    /// Gives back what a finished request held and settles its reservation at `actual`.
    /// `used` is what the work really used of each pool (tokens of a rate pool), aligned
    /// with `needs` (`None`: all of it), and its compute time (`None`: the time held).
    /// Unused tokens go back to their bucket and out of the token and per-pool quotas, so
    /// the next request can have them. An error (the reservation is not active, or `actual`
    /// is negative) changes nothing, so finishing twice never frees another request's slots.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &mut self,
        client: &ClientId,
        needs: &[(usize, u64)],
        admitted: &Admitted,
        actual: Money,
        held: Duration,
        used: &Used,
        now: Timestamp,
    ) -> Result<Finished, ReserveError> {
        // First, because it refuses what `settle` would; once it passes, `settle` does too.
        let alert = self.credits.track(admitted.reservation, actual)?;
        for (i, &(pool, amount)) in needs.iter().enumerate() {
            match &mut self.gauges[pool].level {
                Level::Slot { busy, .. } => *busy = busy.saturating_sub(amount as u32),
                Level::Rate(bucket) => {
                    let unused = amount.saturating_sub(used.of(i, amount));
                    if unused > 0 {
                        // Never above the bucket's capacity, so a refund cannot fail.
                        let _ = bucket.refund(unused as f64, now);
                    }
                }
            }
        }
        let mut notices = Vec::new();
        if !self.quotas.is_empty() {
            let actual_micros = actual.micros().max(0) as u64;
            let millis = used
                .compute_ms
                .unwrap_or_else(|| held.as_millis().min(u64::MAX as u128) as u64);
            let overrun = actual_micros.saturating_sub(admitted.cost_counted);
            let mut unused = Vec::new();
            let mut extra = vec![(Metric::ComputeMs, millis)];
            if actual_micros < admitted.cost_counted {
                unused.push((Metric::Cost, admitted.cost_counted - actual_micros));
            } else if overrun > 0 {
                extra.push((Metric::Cost, overrun));
            }
            // Tokens and per-pool amounts were counted at admission as asked; count the
            // difference from what was used.
            let (mut asked, mut took) = (0u64, 0u64);
            for (i, &(pool, amount)) in needs.iter().enumerate() {
                let really = used.of(i, amount);
                if matches!(self.gauges[pool].level, Level::Rate(_)) {
                    asked += amount;
                    took += really;
                }
                if used.pools.is_some() {
                    let name = Metric::Named(self.gauges[pool].pool.id.0.clone());
                    match really.cmp(&amount) {
                        std::cmp::Ordering::Less => unused.push((name, amount - really)),
                        std::cmp::Ordering::Greater => extra.push((name, really - amount)),
                        std::cmp::Ordering::Equal => {}
                    }
                }
            }
            match took.cmp(&asked) {
                std::cmp::Ordering::Less => unused.push((Metric::Tokens, asked - took)),
                std::cmp::Ordering::Greater => extra.push((Metric::Tokens, took - asked)),
                std::cmp::Ordering::Equal => {}
            }
            if !unused.is_empty() {
                self.quotas.refund_many(client, &unused, now);
            }
            notices = self.quotas.record_many(client, &extra, now);
        }
        let settlement = self.credits.settle(admitted.reservation, actual, now)?;
        Ok(Finished {
            settlement,
            alert,
            notices,
        })
    }

    /// Gives back what a request took without running it: pools, credit and the quota
    /// usage counted at admission. Only once: a reservation already closed gives back nothing.
    pub fn abandon(&mut self, needs: &[(usize, u64)], admitted: &Admitted, now: Timestamp) {
        if self.credits.release(admitted.reservation, now).is_err() {
            return;
        }
        for &(pool, amount) in needs {
            match &mut self.gauges[pool].level {
                Level::Slot { busy, .. } => *busy = busy.saturating_sub(amount as u32),
                Level::Rate(bucket) => {
                    let _ = bucket.refund(amount as f64, now);
                }
            }
        }
        if !self.quotas.is_empty()
            && let Some(reservation) = self.credits.get(admitted.reservation)
        {
            let counted = i64::try_from(admitted.cost_counted).unwrap_or(i64::MAX);
            self.fill_demands(needs, Money::from_micros(counted));
            self.quotas
                .refund_many(&reservation.client, &self.demands, now);
        }
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
        self.gauges[pool].pool.set_price(price);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AutoscaleBounds, Period, QuotaScope, ReservationStatus};
    use crate::policy::quota::NoticeKind;
    use crate::policy::reservation::{AccountBalance, UnestimatedCost};
    use proptest::prelude::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_nanos(secs * 1_000_000_000)
    }

    fn units(n: i64) -> Money {
        Money::from_units(n)
    }

    fn slot_pool(id: &str, slots: u32, autoscale_max: Option<u32>) -> Pool {
        Pool {
            id: PoolId::new(id),
            kind: PoolKind::Slot {
                slots,
                cost_per_hour: units(2),
            },
            autoscale: autoscale_max.map(|max| AutoscaleBounds { min: 1, max }),
        }
    }

    /// 1,000 tokens refilled at `refill` per second, $0.03 per thousand.
    fn rate_pool(id: &str, refill: f64, autoscale_max: Option<u32>) -> Pool {
        Pool {
            id: PoolId::new(id),
            kind: PoolKind::Rate {
                capacity: 1000.0,
                refill_per_sec: refill,
                cost_per_1k_units: Money::from_micros(30_000),
            },
            autoscale: autoscale_max.map(|max| AutoscaleBounds { min: 1, max }),
        }
    }

    /// A gate with client "a" holding `credits`, a 2-slot pool (index 0) and a rate pool
    /// of 1,000 tokens refilled at 100/s (index 1).
    fn gate_with(policy: ReservationPolicy, credits: Money) -> (Gate, ClientId) {
        let mut gate = Gate::new(policy).unwrap();
        let a = ClientId::new("a");
        gate.credits_mut().open_account(a.clone(), credits).unwrap();
        assert_eq!(gate.add_pool(slot_pool("gpu", 2, None), t(0)), Ok(0));
        assert_eq!(gate.add_pool(rate_pool("llm", 100.0, None), t(0)), Ok(1));
        (gate, a)
    }

    fn gate() -> (Gate, ClientId) {
        gate_with(ReservationPolicy::default(), units(1000))
    }

    fn demand<'a>(
        client: &'a ClientId,
        request: u64,
        needs: &'a [(usize, u64)],
        estimate: Option<Money>,
    ) -> Demand<'a> {
        Demand {
            client,
            request: RequestId(request),
            needs,
            estimate,
        }
    }

    fn admitted(verdict: Verdict) -> Admitted {
        match verdict {
            Verdict::Admit(admitted) => admitted,
            other => panic!("expected an admission, got {other:?}"),
        }
    }

    fn blocker(verdict: Verdict) -> Blocker {
        match verdict {
            Verdict::Wait(blocker) => blocker,
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    fn refusal(verdict: Verdict) -> Refusal {
        match verdict {
            Verdict::Refuse(refusal) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn busy(gate: &Gate, pool: usize) -> u32 {
        match gate.gauges[pool].level {
            Level::Slot { busy, .. } => busy,
            Level::Rate(_) => panic!("pool {pool} is a rate pool"),
        }
    }

    fn balance(gate: &Gate, client: &ClientId) -> AccountBalance {
        gate.credits().account(client).unwrap()
    }

    fn quota(id: &str, metric: Metric, limit: u64) -> Quota {
        Quota::new(id, QuotaScope::Global, metric, limit, Period::Daily)
    }

    fn used(gate: &Gate, id: &str) -> u64 {
        gate.quotas().get(&id.into()).unwrap().used()
    }

    /// Everything a refusal must leave alone.
    fn snapshot(gate: &Gate, client: &ClientId, now: Timestamp) -> (AccountBalance, Vec<f64>) {
        let utilisation = gate.gauges().iter().map(|g| g.utilisation(now)).collect();
        (balance(gate, client), utilisation)
    }

    #[test]
    fn slot_pool_admits_until_full_and_finish_frees_a_slot() {
        let (mut gate, a) = gate();
        let one = [(0, 1)];
        let first = admitted(gate.try_admit(demand(&a, 1, &one, Some(units(1))), t(0)));
        admitted(gate.try_admit(demand(&a, 2, &one, Some(units(1))), t(0)));
        assert_eq!(gate.gauges()[0].utilisation(t(0)), 1.0);
        let full = gate.try_admit(demand(&a, 3, &one, Some(units(1))), t(0));
        assert_eq!(blocker(full), Blocker::Capacity { pool: 0 });

        gate.finish(
            &a,
            &one,
            &first,
            units(1),
            Duration::from_secs(1),
            &Used::default(),
            t(1),
        )
        .unwrap();
        assert_eq!(busy(&gate, 0), 1);
        let two = [(0, 2)];
        let blocked = gate.try_admit(demand(&a, 3, &two, Some(units(1))), t(1));
        assert_eq!(blocker(blocked), Blocker::Capacity { pool: 0 });
        admitted(gate.try_admit(demand(&a, 4, &one, Some(units(1))), t(1)));
        assert_eq!(busy(&gate, 0), 2);
    }

    #[test]
    fn a_need_beyond_the_pool_and_its_autoscale_ceiling_is_refused() {
        let (mut gate, a) = gate();
        let three = [(0, 3)];
        let refused = refusal(gate.try_admit(demand(&a, 1, &three, Some(units(1))), t(0)));
        assert_eq!(refused.reason, RefusalReason::Capacity);
        assert!(refused.message.contains("3 slots of pool gpu"), "{refused}");

        let scaled = gate
            .add_pool(slot_pool("scaled", 2, Some(4)), t(0))
            .unwrap();
        let within = [(scaled, 3)];
        let wait = gate.try_admit(demand(&a, 2, &within, Some(units(1))), t(0));
        assert_eq!(blocker(wait), Blocker::Capacity { pool: scaled });
        let beyond = [(scaled, 5)];
        let refused = gate.try_admit(demand(&a, 3, &beyond, Some(units(1))), t(0));
        assert_eq!(refusal(refused).reason, RefusalReason::Capacity);

        gate.resize(scaled, 4.0, t(0)).unwrap();
        admitted(gate.try_admit(demand(&a, 4, &within, Some(units(1))), t(0)));
        assert_eq!(gate.gauges()[scaled].size(), 4.0);
        assert_eq!(
            gate.gauges()[scaled].pool().kind,
            slot_pool("s", 4, None).kind
        );
    }

    #[test]
    fn unused_tokens_go_back_to_the_bucket_and_out_of_the_token_quota() {
        let (mut gate, a) = gate();
        let quota = Quota::new(
            "tok",
            QuotaScope::Global,
            Metric::Tokens,
            10_000,
            Period::Daily,
        );
        gate.add_quota(quota, t(0)).unwrap();
        let eight_hundred = [(1, 800)];
        let first = admitted(gate.try_admit(demand(&a, 1, &eight_hundred, Some(units(1))), t(0)));
        let four_hundred = [(1, 400)];
        let short = gate.try_admit(demand(&a, 2, &four_hundred, Some(units(1))), t(0));
        assert!(matches!(short, Verdict::Wait(Blocker::Tokens { .. })));
        let used = Used {
            pools: Some(vec![600]),
            compute_ms: Some(1_500),
        };
        gate.finish(
            &a,
            &eight_hundred,
            &first,
            units(1),
            Duration::ZERO,
            &used,
            t(0),
        )
        .unwrap();
        // 200 back in the bucket: 400 now fit at the same instant.
        admitted(gate.try_admit(demand(&a, 2, &four_hundred, Some(units(1))), t(0)));
        assert_eq!(gate.quotas().get(&"tok".into()).unwrap().used(), 1_000);
    }

    #[test]
    fn rate_pool_admits_while_tokens_last_then_says_when() {
        let (mut gate, a) = gate();
        let six_hundred = [(1, 600)];
        admitted(gate.try_admit(demand(&a, 1, &six_hundred, Some(units(1))), t(0)));
        assert_eq!(gate.gauges()[1].utilisation(t(0)), 0.6);
        // 400 left, 200 short at 100 per second.
        let wait = gate.try_admit(demand(&a, 2, &six_hundred, Some(units(1))), t(0));
        assert_eq!(
            blocker(wait),
            Blocker::Tokens {
                pool: 1,
                retry_after: Some(Duration::from_secs(2)),
            }
        );
        assert_eq!(
            balance(&gate, &a).reserved,
            units(1),
            "a wait takes no credit"
        );
        admitted(gate.try_admit(demand(&a, 2, &six_hundred, Some(units(1))), t(2)));

        let too_many = [(1, 1001)];
        let refused = refusal(gate.try_admit(demand(&a, 3, &too_many, Some(units(1))), t(2)));
        assert_eq!(refused.reason, RefusalReason::Rate);
        assert!(
            refused.message.contains("1001 tokens of pool llm"),
            "{refused}"
        );
    }

    #[test]
    fn rate_pool_without_refill_or_above_its_capacity_waits_without_a_time() {
        let (mut gate, a) = gate();
        let dry = gate.add_pool(rate_pool("dry", 0.0, None), t(0)).unwrap();
        let all = [(dry, 1000)];
        admitted(gate.try_admit(demand(&a, 1, &all, Some(units(1))), t(0)));
        let wait = gate.try_admit(demand(&a, 2, &[(dry, 1)], Some(units(1))), t(9));
        assert_eq!(
            blocker(wait),
            Blocker::Tokens {
                pool: dry,
                retry_after: None,
            }
        );

        let scalable = gate
            .add_pool(rate_pool("big", 100.0, Some(2000)), t(0))
            .unwrap();
        let wait = gate.try_admit(demand(&a, 3, &[(scalable, 1500)], Some(units(1))), t(0));
        assert_eq!(
            blocker(wait),
            Blocker::Tokens {
                pool: scalable,
                retry_after: None,
            }
        );
    }

    #[test]
    fn a_hard_quota_refuses_and_takes_nothing() {
        let (mut gate, a) = gate();
        gate.add_quota(quota("calls", Metric::ApiCalls, 1), t(0))
            .unwrap();
        gate.add_quota(quota("gpu-slots", Metric::Named("gpu".into()), 5), t(0))
            .unwrap();
        let needs = [(0, 1), (1, 100)];
        let first = admitted(gate.try_admit(demand(&a, 1, &needs, Some(units(3))), t(0)));
        assert_eq!(first.cost_counted, 3_000_000);
        assert_eq!((used(&gate, "calls"), used(&gate, "gpu-slots")), (1, 1));

        let before = snapshot(&gate, &a, t(0));
        let total = gate.credits().total_credits();
        let refused = refusal(gate.try_admit(demand(&a, 2, &needs, Some(units(3))), t(0)));
        assert_eq!(refused.reason, RefusalReason::Quota);
        assert!(refused.message.contains("quota calls"), "{refused}");
        assert_eq!(snapshot(&gate, &a, t(0)), before);
        assert_eq!(gate.credits().total_credits(), total);
        assert_eq!((used(&gate, "calls"), used(&gate, "gpu-slots")), (1, 1));
        assert_eq!(
            gate.credits().get(ReservationId(2)),
            None,
            "nothing reserved"
        );
    }

    #[test]
    fn a_quota_refusal_after_reserving_the_maximum_gives_the_credit_back() {
        // Unestimated requests reserve the maximum, which the cost quota only sees then.
        let policy = ReservationPolicy {
            max_reservation: units(10),
            unestimated: UnestimatedCost::ReserveMax,
        };
        let (mut gate, a) = gate_with(policy, units(100));
        gate.add_quota(quota("spend", Metric::Cost, 5_000_000), t(0))
            .unwrap();
        gate.add_quota(quota("calls", Metric::ApiCalls, 10), t(0))
            .unwrap();
        let before = snapshot(&gate, &a, t(0));
        let refused = refusal(gate.try_admit(demand(&a, 1, &[(0, 1), (1, 10)], None), t(0)));
        assert_eq!(refused.reason, RefusalReason::Quota);
        assert!(refused.message.contains("quota spend"), "{refused}");
        assert_eq!(snapshot(&gate, &a, t(0)), before);
        assert_eq!((used(&gate, "spend"), used(&gate, "calls")), (0, 0));
        assert_eq!(gate.credits().total_credits(), units(100));
    }

    #[test]
    fn credit_refuses_what_it_can_never_cover_and_waits_for_what_it_may() {
        let (mut gate, a) = gate_with(ReservationPolicy::default(), units(15));
        let one = [(0, 1), (1, 10)];
        let before = snapshot(&gate, &a, t(0));
        let refused = refusal(gate.try_admit(demand(&a, 1, &one, Some(units(16))), t(0)));
        assert_eq!(refused.reason, RefusalReason::Credit);
        assert!(refused.message.contains("needs $16.00"), "{refused}");
        assert_eq!(snapshot(&gate, &a, t(0)), before);

        let running = admitted(gate.try_admit(demand(&a, 2, &one, Some(units(10))), t(0)));
        let before = snapshot(&gate, &a, t(0));
        // $5 available and $10 reserved: enough once the running request settles.
        let wait = gate.try_admit(demand(&a, 3, &one, Some(units(10))), t(0));
        assert_eq!(blocker(wait), Blocker::Credit);
        assert_eq!(snapshot(&gate, &a, t(0)), before);

        gate.finish(
            &a,
            &one,
            &running,
            units(4),
            Duration::from_secs(1),
            &Used::default(),
            t(1),
        )
        .unwrap();
        admitted(gate.try_admit(demand(&a, 3, &one, Some(units(10))), t(1)));
    }

    #[test]
    fn unestimated_and_unknown_clients_are_refused_on_budget() {
        let (mut gate, a) = gate();
        let one = [(0, 1)];
        let refused = refusal(gate.try_admit(demand(&a, 1, &one, None), t(0)));
        assert_eq!(refused.reason, RefusalReason::Credit);
        assert!(refused.message.contains("no cost estimate"), "{refused}");
        let stranger = ClientId::new("stranger");
        let refused = refusal(gate.try_admit(demand(&stranger, 2, &one, Some(units(1))), t(0)));
        assert_eq!(refused.reason, RefusalReason::Credit);
        assert_eq!(busy(&gate, 0), 0);
    }

    #[test]
    fn finish_settles_the_actual_cost_and_reports_the_alert() {
        for (actual_micros, returned, alert) in [
            (5_000_000, 5_000_000, None),
            (8_500_000, 1_500_000, Some(ReservationAlert::Warning)),
            (9_600_000, 400_000, Some(ReservationAlert::Critical)),
            (12_000_000, 0, Some(ReservationAlert::Critical)),
        ] {
            let (mut gate, a) = gate();
            let needs = [(0, 1)];
            let admission = admitted(gate.try_admit(demand(&a, 1, &needs, Some(units(10))), t(0)));
            assert_eq!(admission.reserved, units(10));
            let actual = Money::from_micros(actual_micros);
            let done = gate
                .finish(
                    &a,
                    &needs,
                    &admission,
                    actual,
                    Duration::from_secs(5),
                    &Used::default(),
                    t(5),
                )
                .unwrap();
            assert_eq!(done.settlement.charged, actual);
            assert_eq!(done.settlement.returned, Money::from_micros(returned));
            assert_eq!(done.alert, alert, "actual {actual}");
            assert_eq!(
                balance(&gate, &a),
                AccountBalance {
                    available: units(1000) - actual,
                    reserved: Money::ZERO,
                    spent: actual,
                }
            );
            assert_eq!(gate.credits().total_credits(), units(1000));
            assert_eq!(busy(&gate, 0), 0);
        }
    }

    #[test]
    fn a_second_finish_fails_and_gives_nothing_back_twice() {
        let (mut gate, a) = gate();
        gate.add_quota(quota("compute", Metric::ComputeMs, 1_000_000), t(0))
            .unwrap();
        let needs = [(0, 1)];
        let first = admitted(gate.try_admit(demand(&a, 1, &needs, Some(units(1))), t(0)));
        let held = Duration::from_secs(2);
        gate.finish(&a, &needs, &first, units(1), held, &Used::default(), t(2))
            .unwrap();
        admitted(gate.try_admit(demand(&a, 2, &needs, Some(units(1))), t(2)));
        let err = gate
            .finish(&a, &needs, &first, units(1), held, &Used::default(), t(3))
            .unwrap_err();
        assert_eq!(
            err,
            ReserveError::NotActive {
                id: first.reservation,
                status: ReservationStatus::Settled,
            }
        );
        assert_eq!(busy(&gate, 0), 1, "the other request still holds its slot");
        assert_eq!(used(&gate, "compute"), 2_000);
        // A negative cost is refused the same way, before anything is given back.
        let second = ReservationId(2);
        let bad = Admitted {
            reservation: second,
            reserved: units(1),
            cost_counted: 1_000_000,
            notices: Vec::new(),
        };
        assert!(
            gate.finish(&a, &needs, &bad, units(-1), held, &Used::default(), t(3))
                .is_err()
        );
        assert_eq!(busy(&gate, 0), 1);
        assert_eq!(used(&gate, "compute"), 2_000);
    }

    #[test]
    fn cost_quota_counts_the_reservation_then_the_actual_cost() {
        let (mut gate, a) = gate();
        gate.add_quota(quota("spend", Metric::Cost, 20_000_000), t(0))
            .unwrap();
        gate.add_quota(quota("compute", Metric::ComputeMs, 100_000), t(0))
            .unwrap();
        let needs = [(0, 1)];
        let first = admitted(gate.try_admit(demand(&a, 1, &needs, Some(units(10))), t(0)));
        assert_eq!(first.cost_counted, 10_000_000);
        assert_eq!(used(&gate, "spend"), 10_000_000);
        let held = Duration::from_millis(1500);
        let done = gate
            .finish(&a, &needs, &first, units(4), held, &Used::default(), t(2))
            .unwrap();
        assert!(done.notices.is_empty());
        assert_eq!(used(&gate, "spend"), 4_000_000);
        assert_eq!(used(&gate, "compute"), 1_500);

        // An overrun is counted after the fact, here crossing the 80% warning.
        let second = admitted(gate.try_admit(demand(&a, 2, &needs, Some(units(10))), t(2)));
        assert_eq!(used(&gate, "spend"), 14_000_000);
        let done = gate
            .finish(&a, &needs, &second, units(13), held, &Used::default(), t(3))
            .unwrap();
        assert_eq!(used(&gate, "spend"), 17_000_000);
        assert_eq!(done.notices.len(), 1);
        assert_eq!(done.notices[0].kind, NoticeKind::Warning);
        assert_eq!(done.notices[0].quota, "spend".into());

        // $5 more would pass the $20 limit.
        let refused = refusal(gate.try_admit(demand(&a, 3, &needs, Some(units(5))), t(3)));
        assert_eq!(refused.reason, RefusalReason::Quota);
    }

    #[test]
    fn admission_reports_the_quota_crossings_it_causes() {
        let (mut gate, a) = gate();
        gate.add_quota(quota("calls", Metric::ApiCalls, 5), t(0))
            .unwrap();
        gate.add_quota(quota("tokens", Metric::Tokens, 1_000_000), t(0))
            .unwrap();
        let needs = [(1, 10)];
        for request in 1..=3 {
            let admission =
                admitted(gate.try_admit(demand(&a, request, &needs, Some(units(1))), t(0)));
            assert!(admission.notices.is_empty());
        }
        let fourth = admitted(gate.try_admit(demand(&a, 4, &needs, Some(units(1))), t(0)));
        assert_eq!(fourth.notices.len(), 1);
        assert_eq!(fourth.notices[0].kind, NoticeKind::Warning);
        assert_eq!(fourth.notices[0].usage_ratio, 0.8);
        assert_eq!(used(&gate, "tokens"), 40, "rate-pool units count as tokens");
    }

    #[test]
    fn a_blocked_pool_takes_nothing_from_the_others() {
        let (mut gate, a) = gate();
        let needs = [(0, 1), (1, 800)];
        admitted(gate.try_admit(demand(&a, 1, &needs, Some(units(1))), t(0)));
        let before = snapshot(&gate, &a, t(0));
        // The slot is free, the tokens are not.
        let wait = gate.try_admit(demand(&a, 2, &needs, Some(units(1))), t(0));
        assert!(matches!(blocker(wait), Blocker::Tokens { pool: 1, .. }));
        assert_eq!(snapshot(&gate, &a, t(0)), before);
        // The tokens are back, the slots are taken.
        admitted(gate.try_admit(demand(&a, 2, &[(0, 1)], Some(units(1))), t(0)));
        let before = snapshot(&gate, &a, t(8));
        let wait = gate.try_admit(demand(&a, 3, &needs, Some(units(1))), t(8));
        assert_eq!(blocker(wait), Blocker::Capacity { pool: 0 });
        assert_eq!(snapshot(&gate, &a, t(8)), before);
    }

    #[test]
    fn abandon_gives_back_everything_once() {
        let (mut gate, a) = gate();
        gate.add_quota(quota("calls", Metric::ApiCalls, 10), t(0))
            .unwrap();
        gate.add_quota(quota("spend", Metric::Cost, 100_000_000), t(0))
            .unwrap();
        let needs = [(0, 1), (1, 500)];
        let before = snapshot(&gate, &a, t(0));
        let admission = admitted(gate.try_admit(demand(&a, 1, &needs, Some(units(3))), t(0)));
        admitted(gate.try_admit(demand(&a, 2, &[(0, 1)], Some(units(1))), t(0)));
        gate.abandon(&needs, &admission, t(0));
        assert_eq!(busy(&gate, 0), 1);
        assert_eq!(gate.gauges()[1].utilisation(t(0)), 0.0);
        assert_eq!(balance(&gate, &a).reserved, units(1));
        assert_eq!(
            used(&gate, "calls"),
            1,
            "only the request still admitted counts"
        );
        assert_eq!(used(&gate, "spend"), 1_000_000);

        // Again: the reservation is closed, so nothing is given back twice.
        gate.abandon(&needs, &admission, t(0));
        assert_eq!(busy(&gate, 0), 1);
        assert_eq!(balance(&gate, &a).reserved, units(1));
        assert_eq!(used(&gate, "calls"), 1);
        assert_ne!(snapshot(&gate, &a, t(0)), before);
        assert_eq!(gate.credits().total_credits(), units(1000));
    }

    #[test]
    fn resize_changes_what_fits() {
        let (mut gate, a) = gate();
        let one = [(0, 1)];
        for request in 1..=2 {
            admitted(gate.try_admit(demand(&a, request, &one, Some(units(1))), t(0)));
        }
        assert_eq!(
            blocker(gate.try_admit(demand(&a, 3, &one, Some(units(1))), t(0))),
            Blocker::Capacity { pool: 0 }
        );
        gate.resize(0, 3.0, t(0)).unwrap();
        admitted(gate.try_admit(demand(&a, 3, &one, Some(units(1))), t(0)));
        for bad in [0.0, -1.0, f64::NAN, 1e12] {
            let err = gate.resize(0, bad, t(0)).unwrap_err();
            assert_eq!(err.field, "slots");
        }
        assert_eq!(gate.gauges()[0].size(), 3.0);

        // A smaller bucket refuses what no longer fits; a bigger one admits it.
        gate.resize(1, 500.0, t(0)).unwrap();
        let six_hundred = [(1, 600)];
        let refused = gate.try_admit(demand(&a, 4, &six_hundred, Some(units(1))), t(0));
        assert_eq!(refusal(refused).reason, RefusalReason::Rate);
        gate.resize(1, 2000.0, t(0)).unwrap();
        assert!(matches!(
            gate.gauges()[1].pool().kind,
            PoolKind::Rate { capacity, .. } if capacity == 2000.0
        ));
        // Growing adds no tokens: 500 now, 100 more each second.
        let wait = gate.try_admit(demand(&a, 4, &six_hundred, Some(units(1))), t(0));
        assert_eq!(
            blocker(wait),
            Blocker::Tokens {
                pool: 1,
                retry_after: Some(Duration::from_secs(1)),
            }
        );
        admitted(gate.try_admit(demand(&a, 4, &six_hundred, Some(units(1))), t(1)));
        assert!(gate.resize(1, f64::NAN, t(1)).is_err());
        assert_eq!(gate.gauges()[1].size(), 2000.0);
    }

    #[test]
    fn a_down_pool_makes_requests_wait() {
        let (mut gate, a) = gate();
        for pool in [0, 1] {
            gate.set_down(pool, true);
            assert!(gate.gauges()[pool].is_down());
            let needs = [(pool, 1)];
            let wait = gate.try_admit(demand(&a, 1, &needs, Some(units(1))), t(0));
            assert_eq!(blocker(wait), Blocker::Capacity { pool });
            gate.set_down(pool, false);
            admitted(gate.try_admit(demand(&a, 1, &needs, Some(units(1))), t(0)));
        }
    }

    #[test]
    fn price_follows_the_current_prices() {
        let (mut gate, _) = gate();
        let half_hour = 1800.0;
        assert_eq!(gate.price(&[(0, 1)], half_hour), units(1));
        assert_eq!(
            gate.price(&[(1, 1000)], half_hour),
            Money::from_micros(30_000)
        );
        assert_eq!(
            gate.price(&[(0, 2), (1, 500)], half_hour),
            units(2) + Money::from_micros(15_000)
        );
        assert_eq!(gate.price(&[], half_hour), Money::ZERO);
        gate.set_price(0, units(4));
        gate.set_price(1, Money::from_micros(60_000));
        assert_eq!(gate.price(&[(0, 1)], half_hour), units(2));
        assert_eq!(
            gate.price(&[(1, 1000)], half_hour),
            Money::from_micros(60_000)
        );
    }

    #[test]
    fn pools_are_found_by_name_and_bad_ones_are_refused() {
        let (mut gate, _) = gate();
        assert_eq!(gate.pool_index(&"llm".into()), Some(1));
        assert_eq!(gate.pool_index(&"nope".into()), None);
        let err = gate
            .add_pool(slot_pool("empty", 0, None), t(0))
            .unwrap_err();
        assert_eq!(err.field, "pool[empty].slots");
        assert_eq!(gate.gauges().len(), 2);
        assert!(
            Gate::new(ReservationPolicy {
                max_reservation: Money::ZERO,
                unestimated: UnestimatedCost::Refuse,
            })
            .is_err()
        );
    }

    #[test]
    fn refusal_reasons_have_stable_names() {
        let names: Vec<&str> = RefusalReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["quota", "credit", "rate", "capacity", "withdrawn"]);
        let refusal = Refusal::new(RefusalReason::Rate, "too fast");
        assert_eq!(refusal.to_string(), "refused (rate): too fast");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Admit { slots: u64, estimate: Option<i64> },
        Finish { nth: usize, actual: i64 },
        Abandon { nth: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..5u64, prop::option::weighted(0.9, 0..3_000_000i64))
                .prop_map(|(slots, estimate)| Op::Admit { slots, estimate }),
            2 => (any::<usize>(), 0..4_000_000i64)
                .prop_map(|(nth, actual)| Op::Finish { nth, actual }),
            1 => any::<usize>().prop_map(|nth| Op::Abandon { nth }),
        ]
    }

    proptest! {
        /// Finishing or abandoning any admission, even one already closed, never lets the
        /// slots in use pass the pool's size, and credit is conserved to the micro-unit.
        #[test]
        fn slots_stay_within_size_and_credit_is_conserved(
            ops in prop::collection::vec(op(), 1..80),
        ) {
            const SIZE: u64 = 3;
            let policy = ReservationPolicy {
                max_reservation: Money::from_micros(2_000_000),
                unestimated: UnestimatedCost::ReserveMax,
            };
            let mut gate = Gate::new(policy).unwrap();
            let a = ClientId::new("a");
            let credits = Money::from_micros(5_000_000);
            gate.credits_mut().open_account(a.clone(), credits).unwrap();
            gate.add_pool(slot_pool("gpu", SIZE as u32, None), t(0)).unwrap();
            // Every admission ever made: its slots, and whether it still holds them.
            let mut admissions: Vec<(u64, Admitted, bool)> = Vec::new();
            for (step, op) in ops.into_iter().enumerate() {
                let now = t(step as i64);
                match op {
                    Op::Admit { slots, estimate } => {
                        let needs = [(0, slots)];
                        let estimate = estimate.map(Money::from_micros);
                        let held = busy(&gate, 0) as u64;
                        match gate.try_admit(demand(&a, step as u64, &needs, estimate), now) {
                            Verdict::Admit(admission) => admissions.push((slots, admission, true)),
                            Verdict::Wait(Blocker::Capacity { .. }) => {
                                prop_assert!(held + slots > SIZE);
                            }
                            Verdict::Refuse(r) if r.reason == RefusalReason::Capacity => {
                                prop_assert!(slots > SIZE);
                            }
                            Verdict::Wait(Blocker::Credit) => {
                                prop_assert!(balance(&gate, &a).reserved > Money::ZERO);
                            }
                            Verdict::Refuse(r) => prop_assert_eq!(r.reason, RefusalReason::Credit),
                            Verdict::Wait(other) => prop_assert!(false, "unexpected {:?}", other),
                        }
                    }
                    Op::Finish { nth, actual } if !admissions.is_empty() => {
                        let i = nth % admissions.len();
                        let (slots, admission, open) = &mut admissions[i];
                        let (actual, held) = (Money::from_micros(actual), Duration::from_secs(1));
                        let result = gate.finish(&a, &[(0, *slots)], admission, actual, held, &Used::default(), now);
                        prop_assert_eq!(result.is_ok(), *open);
                        *open = false;
                    }
                    Op::Abandon { nth } if !admissions.is_empty() => {
                        let i = nth % admissions.len();
                        let (slots, admission, open) = &mut admissions[i];
                        gate.abandon(&[(0, *slots)], admission, now);
                        *open = false;
                    }
                    Op::Finish { .. } | Op::Abandon { .. } => {}
                }
                let open = admissions.iter().filter(|(_, _, open)| *open);
                let held: u64 = open.clone().map(|(slots, _, _)| slots).sum();
                let reserved: Money = open.map(|(_, admission, _)| admission.reserved).sum();
                prop_assert_eq!(u64::from(busy(&gate, 0)), held);
                prop_assert!(held <= SIZE);
                let b = balance(&gate, &a);
                prop_assert_eq!(b.reserved, reserved);
                prop_assert!(!b.available.is_negative());
                prop_assert_eq!(gate.credits().total_credits(), credits);
            }
        }
    }
}
