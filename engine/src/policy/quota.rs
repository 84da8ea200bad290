//! Quota accounting: usage per calendar period, checks before use, and a notice the first
//! time a period's usage reaches the warning threshold or passes the limit.
//!
//! A [`QuotaState`] follows one quota through its periods; a [`QuotaSet`] holds every quota
//! and answers for a request, all-or-nothing across the quotas that apply to it.
//!
//! Periods roll over lazily: any call whose `now` lies past the current period moves to the
//! period containing `now`; an earlier `now` counts in the current period. Unused allowance
//! carries over as if every boundary had been seen: a period nobody touched counts as a
//! period with no usage, so the outcome never depends on how often the state is looked at.

use chrono::{Datelike, Days, Months, NaiveDate, NaiveTime};
use std::fmt;
use thiserror::Error;

use crate::model::{
    ClientId, EventKind, Metric, Money, Period, Quota, QuotaId, Timestamp, ValidationError,
};

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// The calendar period containing `at`, in UTC, as `[start, end)`: a day from midnight, a
/// week from Monday 00:00, a month from the 1st 00:00 to the 1st of the next month.
/// Bounds beyond the range of [`Timestamp`] saturate.
pub fn period_bounds(period: Period, at: Timestamp) -> (Timestamp, Timestamp) {
    let day = at.to_datetime().date_naive();
    let (start, end) = match period {
        Period::Daily => (Some(day), day.succ_opt()),
        Period::Weekly => {
            let since_monday = Days::new(day.weekday().num_days_from_monday().into());
            let monday = day.checked_sub_days(since_monday);
            (
                monday,
                monday.and_then(|m| m.checked_add_days(Days::new(7))),
            )
        }
        Period::Monthly => {
            let first = day.with_day(1);
            (
                first,
                first.and_then(|f| f.checked_add_months(Months::new(1))),
            )
        }
    };
    (
        midnight_or(start, Timestamp::from_nanos(i64::MIN)),
        midnight_or(end, Timestamp::MAX),
    )
}

// Every date a Timestamp can hold lies far inside chrono's range; the fallbacks only keep
// this total.
fn midnight_or(date: Option<NaiveDate>, fallback: Timestamp) -> Timestamp {
    date.map_or(fallback, |d| {
        Timestamp::from_datetime(d.and_time(NaiveTime::MIN).and_utc())
    })
}

/// Whole periods from the period starting at `from` to the one starting at `to`.
fn periods_between(period: Period, from: Timestamp, to: Timestamp) -> u64 {
    let days = to.nanos().saturating_sub(from.nanos()) / NANOS_PER_DAY;
    let count = match period {
        Period::Daily => days,
        Period::Weekly => days / 7,
        Period::Monthly => {
            let (from, to) = (from.to_datetime(), to.to_datetime());
            i64::from(to.year() - from.year()) * 12 + i64::from(to.month())
                - i64::from(from.month())
        }
    };
    u64::try_from(count).unwrap_or(0)
}

fn period_name(period: Period) -> &'static str {
    match period {
        Period::Daily => "daily",
        Period::Weekly => "weekly",
        Period::Monthly => "monthly",
    }
}

/// An amount of a metric for people: money for `cost` (counted in micro-units), a bare
/// number otherwise.
fn amount_of(metric: &Metric, amount: u64) -> String {
    match metric {
        Metric::Cost => Money::from_micros(i64::try_from(amount).unwrap_or(i64::MAX)).to_string(),
        _ => amount.to_string(),
    }
}

/// "$0.27 of $500.00 cost", "40 of 100 api_calls".
fn usage_of(metric: &Metric, used: u64, allowance: u64) -> String {
    format!(
        "{} of {} {metric}",
        amount_of(metric, used),
        amount_of(metric, allowance)
    )
}

fn ratio(used: u64, allowance: u64) -> f64 {
    used as f64 / allowance.max(1) as f64
}

/// An amount a hard-stop quota refused: it would overrun the limit. (A request's refusal,
/// which names the quota that caused it, is `admission::Refusal`.)
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "quota {quota}: {} used this {} period; {} more would pass the limit",
    usage_of(.metric, *.used, *.allowance),
    period_name(*.period),
    amount_of(.metric, *.requested)
)]
pub struct Overrun {
    pub quota: QuotaId,
    pub metric: Metric,
    pub period: Period,
    pub used: u64,
    pub allowance: u64,
    pub requested: u64,
}

/// A crossing worth an event, raised at most once each per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NoticeKind {
    /// Usage first reached the warning threshold.
    Warning,
    /// Usage first passed the allowance (soft or shadow quota), or a hard quota first refused.
    Exceeded,
}

/// A crossing of one quota, with the usage ratio that caused it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuotaNotice {
    pub quota: QuotaId,
    pub kind: NoticeKind,
    pub usage_ratio: f64,
}

impl QuotaNotice {
    /// The event for the bus; `client` is the one whose request caused the crossing.
    pub fn to_event(&self, client: &ClientId) -> EventKind {
        let (id, client, usage_ratio) = (self.quota.clone(), client.clone(), self.usage_ratio);
        match self.kind {
            NoticeKind::Warning => EventKind::QuotaWarning {
                id,
                client,
                usage_ratio,
            },
            NoticeKind::Exceeded => EventKind::QuotaExceeded {
                id,
                client,
                usage_ratio,
            },
        }
    }
}

/// One quota's answer for an amount. The quota is the one asked (its id is not copied in,
/// so the allowed path allocates nothing); refusals and notices name it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaCheck {
    pub allowed: bool,
    /// Usage over allowance with the amount counted (what a refused amount would have made it).
    pub usage_ratio: f64,
    /// Set when the usage with the amount reaches the threshold or passes a soft limit, or a
    /// shadow quota would have refused.
    pub warning: Option<String>,
    pub refusal: Option<Overrun>,
    /// A shadow quota would have refused this amount (it was allowed anyway).
    pub shadow_refusal: bool,
    /// Filled only by calls that change usage (`consume`).
    pub notice: Option<QuotaNotice>,
}

/// One quota's usage in its current period.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuotaState {
    quota: Quota,
    period_start: Timestamp,
    period_end: Timestamp,
    used: u64,
    carried: u64,
    warned: bool,
    exceeded: bool,
}

impl QuotaState {
    /// Starts `quota` in the period containing `now`, with nothing used.
    pub fn new(quota: Quota, now: Timestamp) -> Result<Self, ValidationError> {
        quota.validate()?;
        let (period_start, period_end) = period_bounds(quota.period, now);
        Ok(QuotaState {
            quota,
            period_start,
            period_end,
            used: 0,
            carried: 0,
            warned: false,
            exceeded: false,
        })
    }

    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    pub fn period_start(&self) -> Timestamp {
        self.period_start
    }

    pub fn period_end(&self) -> Timestamp {
        self.period_end
    }

    pub fn used(&self) -> u64 {
        self.used
    }

    /// Allowance carried in from earlier periods.
    pub fn carried(&self) -> u64 {
        self.carried
    }

    /// What the current period allows: the limit plus the carried allowance.
    pub fn allowance(&self) -> u64 {
        self.quota.limit.saturating_add(self.carried)
    }

    pub fn usage_ratio(&self) -> f64 {
        ratio(self.used, self.allowance())
    }

    /// Moves to the period containing `now` if the current one has ended. With a carry-over
    /// cap, the next period receives the unused allowance (limit + carried − used) of the
    /// period that ended, plus a full limit for each period skipped in between, up to the cap.
    pub fn roll_over(&mut self, now: Timestamp) {
        if now < self.period_end {
            return;
        }
        let (start, end) = period_bounds(self.quota.period, now);
        if start <= self.period_start {
            return; // only at the end of representable time, where bounds saturate
        }
        self.carried = self.quota.carry_over_cap.map_or(0, |cap| {
            let unused = self.allowance().saturating_sub(self.used);
            let skipped = periods_between(self.quota.period, self.period_end, start);
            let idle = self.quota.limit.saturating_mul(skipped);
            unused.min(cap).saturating_add(idle).min(cap)
        });
        self.period_start = start;
        self.period_end = end;
        self.used = 0;
        self.warned = false;
        self.exceeded = false;
    }

    /// Whether `amount` would be allowed now, without counting it.
    pub fn check(&mut self, amount: u64, now: Timestamp) -> QuotaCheck {
        self.roll_over(now);
        self.evaluate(amount)
    }

    /// Checks `amount` and, if allowed, counts it, in one step.
    pub fn consume(&mut self, amount: u64, now: Timestamp) -> QuotaCheck {
        self.roll_over(now);
        let mut check = self.evaluate(amount);
        check.notice = self.settle(amount, check.allowed);
        check
    }

    /// Counts usage that already happened, whatever the limit (it may pass a hard one).
    pub fn record(&mut self, amount: u64, now: Timestamp) -> Option<QuotaNotice> {
        self.roll_over(now);
        self.used = self.used.saturating_add(amount);
        self.notice_for_usage()
    }

    /// Gives back usage counted in excess (a reservation that used less), never below zero.
    /// It applies to the current period, even if the usage was counted in the one before.
    pub fn refund(&mut self, amount: u64, now: Timestamp) {
        self.roll_over(now);
        self.used = self.used.saturating_sub(amount);
    }

    /// Overrides the current period's usage (a correction from an outside count).
    pub fn set_usage(&mut self, used: u64, now: Timestamp) -> Option<QuotaNotice> {
        self.roll_over(now);
        self.used = used;
        self.notice_for_usage()
    }

    /// Zeroes the usage of the period containing `now` and re-arms its notices. The period
    /// keeps its calendar bounds and carried allowance: resets never shift the calendar.
    pub fn reset(&mut self, now: Timestamp) {
        self.roll_over(now);
        self.used = 0;
        self.warned = false;
        self.exceeded = false;
    }

    /// Changes the limit, threshold, stop mode, shadow flag or carry-over cap at run time,
    /// keeping this period's usage, carried allowance and notices already raised. The id,
    /// scope, metric and period cannot change: those make a different quota.
    pub fn update(&mut self, quota: Quota) -> Result<(), ValidationError> {
        quota.validate()?;
        let owner = format!("quota[{}]", self.quota.id);
        let within = |e: ValidationError| e.within(&owner);
        ensure_unchanged("id", &self.quota.id, &quota.id).map_err(within)?;
        ensure_unchanged("scope", &self.quota.scope, &quota.scope).map_err(within)?;
        ensure_unchanged("metric", &self.quota.metric, &quota.metric).map_err(within)?;
        ensure_unchanged("period", &self.quota.period, &quota.period).map_err(within)?;
        self.quota = quota;
        Ok(())
    }

    fn passes_limit(&self, amount: u64) -> bool {
        amount > 0 && self.used.saturating_add(amount) > self.allowance()
    }

    fn refuses(&self, amount: u64) -> bool {
        self.quota.hard_stop && !self.quota.shadow && self.passes_limit(amount)
    }

    fn evaluate(&self, amount: u64) -> QuotaCheck {
        let after = self.used.saturating_add(amount);
        let mut check = QuotaCheck {
            allowed: true,
            usage_ratio: ratio(after, self.allowance()),
            warning: None,
            refusal: None,
            shadow_refusal: false,
            notice: None,
        };
        // Text is built only off the comfortable path.
        let passes_limit = self.passes_limit(amount);
        if passes_limit && self.quota.hard_stop {
            let refusal = self.refusal(amount);
            if self.quota.shadow {
                check.shadow_refusal = true;
                check.warning = Some(format!("shadow {refusal} (not refused: shadow quota)"));
            } else {
                check.allowed = false;
                check.refusal = Some(refusal);
            }
        } else if passes_limit {
            check.warning = Some(format!(
                "{}, past the limit (soft stop: allowed)",
                self.usage_text(after)
            ));
        } else if check.usage_ratio >= self.quota.warning_threshold {
            check.warning = Some(format!(
                "{} ({:.0}%), at or past the {:.0}% warning threshold",
                self.usage_text(after),
                check.usage_ratio * 100.0,
                self.quota.warning_threshold * 100.0
            ));
        }
        check
    }

    fn usage_text(&self, used: u64) -> String {
        let q = &self.quota;
        format!(
            "quota {}: {} used this {} period",
            q.id,
            usage_of(&q.metric, used, self.allowance()),
            period_name(q.period)
        )
    }

    fn refusal(&self, amount: u64) -> Overrun {
        Overrun {
            quota: self.quota.id.clone(),
            metric: self.quota.metric.clone(),
            period: self.quota.period,
            used: self.used,
            allowance: self.allowance(),
            requested: amount,
        }
    }

    /// Counts `amount` if the request was allowed as a whole, else notes this quota's refusal.
    fn settle(&mut self, amount: u64, allowed: bool) -> Option<QuotaNotice> {
        if allowed {
            self.used = self.used.saturating_add(amount);
            self.notice_for_usage()
        } else if self.refuses(amount) && !self.exceeded {
            self.exceeded = true;
            let attempted = ratio(self.used.saturating_add(amount), self.allowance());
            Some(self.notice(NoticeKind::Exceeded, attempted))
        } else {
            None
        }
    }

    fn notice_for_usage(&mut self) -> Option<QuotaNotice> {
        let usage_ratio = self.usage_ratio();
        if self.used > self.allowance() && !self.exceeded {
            self.exceeded = true;
            self.warned = true; // passing the limit says more than the warning would
            Some(self.notice(NoticeKind::Exceeded, usage_ratio))
        } else if usage_ratio >= self.quota.warning_threshold && !self.warned {
            self.warned = true;
            Some(self.notice(NoticeKind::Warning, usage_ratio))
        } else {
            None
        }
    }

    fn notice(&self, kind: NoticeKind, usage_ratio: f64) -> QuotaNotice {
        QuotaNotice {
            quota: self.quota.id.clone(),
            kind,
            usage_ratio,
        }
    }
}

fn ensure_unchanged<T: PartialEq + fmt::Debug>(
    field: &str,
    current: &T,
    new: &T,
) -> Result<(), ValidationError> {
    if current == new {
        return Ok(());
    }
    Err(ValidationError::new(
        field,
        format!("{new:?}"),
        format!(
            "{current:?} as before (to change its {field}, remove the quota with \
             `DELETE /api/quotas/{{id}}` or `LiveEngine::remove_quota`, then add it again)"
        ),
    ))
}

/// The answer of every quota that applies to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct CombinedCheck {
    /// Every applicable quota allows it (true when none applies).
    pub allowed: bool,
    /// The highest usage ratio among the applicable quotas, with the amounts counted.
    pub usage_ratio: f64,
    /// Warnings in quota-id order; empty (and unallocated) on the comfortable path.
    pub warnings: Vec<String>,
    /// The first refusal in quota-id order.
    pub refusal: Option<Overrun>,
    pub shadow_refusal: bool,
    /// Crossings raised by a `consume`, in quota-id order.
    pub notices: Vec<QuotaNotice>,
}

impl CombinedCheck {
    fn absorb(&mut self, check: QuotaCheck) {
        self.allowed &= check.allowed;
        self.usage_ratio = self.usage_ratio.max(check.usage_ratio);
        self.shadow_refusal |= check.shadow_refusal;
        self.warnings.extend(check.warning);
        if self.refusal.is_none() {
            self.refusal = check.refusal;
        }
    }
}

/// Every quota, kept in id order so answers are deterministic. A request must pass every
/// quota that applies to its client and metrics.
///
/// Applicable quotas are found by a linear scan: a deployment has tens of quotas, and a scan
/// over one small Vec compares a few names, allocates nothing and needs no index to keep in
/// step with adds and removes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuotaSet {
    states: Vec<QuotaState>,
}

impl QuotaSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a new quota, starting in the period containing `now`; its id must be new.
    pub fn add(&mut self, quota: Quota, now: Timestamp) -> Result<(), ValidationError> {
        match self.position(&quota.id) {
            Ok(_) => Err(
                ValidationError::new("id", &quota.id, "an id not already in the set")
                    .within(format!("quota[{}]", quota.id)),
            ),
            Err(at) => {
                self.states.insert(at, QuotaState::new(quota, now)?);
                Ok(())
            }
        }
    }

    /// Replaces the settings of the quota with this id, keeping its usage.
    pub fn update(&mut self, quota: Quota) -> Result<(), ValidationError> {
        match self.position(&quota.id) {
            Ok(at) => self.states[at].update(quota),
            Err(_) => Err(
                ValidationError::new("id", &quota.id, "the id of a quota in the set")
                    .within(format!("quota[{}]", quota.id)),
            ),
        }
    }

    pub fn remove(&mut self, id: &QuotaId) -> Option<QuotaState> {
        self.position(id).ok().map(|at| self.states.remove(at))
    }

    pub fn get(&self, id: &QuotaId) -> Option<&QuotaState> {
        self.position(id).ok().map(|at| &self.states[at])
    }

    /// For per-quota corrections: `record`, `refund`, `set_usage`, `reset`.
    pub fn get_mut(&mut self, id: &QuotaId) -> Option<&mut QuotaState> {
        self.position(id).ok().map(|at| &mut self.states[at])
    }

    /// The quotas in id order.
    pub fn iter(&self) -> impl Iterator<Item = &QuotaState> {
        self.states.iter()
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Whether `client` may use `amount` of `metric` now, without counting it.
    pub fn check(
        &mut self,
        client: &ClientId,
        metric: &Metric,
        amount: u64,
        now: Timestamp,
    ) -> CombinedCheck {
        self.evaluate(client, now, &|m: &Metric| (m == metric).then_some(amount))
    }

    /// Counts `amount` of `metric` against every applicable quota, or against none if any
    /// refuses.
    pub fn consume(
        &mut self,
        client: &ClientId,
        metric: &Metric,
        amount: u64,
        now: Timestamp,
    ) -> CombinedCheck {
        self.settle(client, now, &|m: &Metric| (m == metric).then_some(amount))
    }

    /// Whether `client` may use all of `demands` now (a metric listed twice counts the sum).
    pub fn check_many(
        &mut self,
        client: &ClientId,
        demands: &[(Metric, u64)],
        now: Timestamp,
    ) -> CombinedCheck {
        self.evaluate(client, now, &|m: &Metric| demand_of(demands, m))
    }

    /// Counts every demand against every applicable quota, or nothing at all if any quota
    /// refuses any of them: a request's calls, tokens and cost are admitted together.
    pub fn consume_many(
        &mut self,
        client: &ClientId,
        demands: &[(Metric, u64)],
        now: Timestamp,
    ) -> CombinedCheck {
        self.settle(client, now, &|m: &Metric| demand_of(demands, m))
    }

    /// Counts usage reported after the fact (never refused); returns the crossings.
    pub fn record_many(
        &mut self,
        client: &ClientId,
        demands: &[(Metric, u64)],
        now: Timestamp,
    ) -> Vec<QuotaNotice> {
        let mut notices = Vec::new();
        for state in &mut self.states {
            if let Some(amount) =
                applicable_amount(state, client, &|m: &Metric| demand_of(demands, m))
            {
                notices.extend(state.record(amount, now));
            }
        }
        notices
    }

    /// Gives back usage counted in advance that did not happen (saturating at zero).
    pub fn refund_many(&mut self, client: &ClientId, demands: &[(Metric, u64)], now: Timestamp) {
        for state in &mut self.states {
            if let Some(amount) =
                applicable_amount(state, client, &|m: &Metric| demand_of(demands, m))
            {
                state.refund(amount, now);
            }
        }
    }

    fn position(&self, id: &QuotaId) -> Result<usize, usize> {
        self.states.binary_search_by(|s| s.quota.id.cmp(id))
    }

    fn evaluate(
        &mut self,
        client: &ClientId,
        now: Timestamp,
        amount_for: &impl Fn(&Metric) -> Option<u64>,
    ) -> CombinedCheck {
        let mut combined = CombinedCheck {
            allowed: true,
            usage_ratio: 0.0,
            warnings: Vec::new(),
            refusal: None,
            shadow_refusal: false,
            notices: Vec::new(),
        };
        for state in &mut self.states {
            if let Some(amount) = applicable_amount(state, client, amount_for) {
                combined.absorb(state.check(amount, now));
            }
        }
        combined
    }

    fn settle(
        &mut self,
        client: &ClientId,
        now: Timestamp,
        amount_for: &impl Fn(&Metric) -> Option<u64>,
    ) -> CombinedCheck {
        // First every quota answers (rolling over as needed), then all count or none does.
        let mut combined = self.evaluate(client, now, amount_for);
        for state in &mut self.states {
            if let Some(amount) = applicable_amount(state, client, amount_for) {
                combined
                    .notices
                    .extend(state.settle(amount, combined.allowed));
            }
        }
        combined
    }
}

fn applicable_amount(
    state: &QuotaState,
    client: &ClientId,
    amount_for: &impl Fn(&Metric) -> Option<u64>,
) -> Option<u64> {
    if state.quota.applies_to(client) {
        amount_for(&state.quota.metric)
    } else {
        None
    }
}

fn demand_of(demands: &[(Metric, u64)], metric: &Metric) -> Option<u64> {
    demands
        .iter()
        .filter(|(m, _)| m == metric)
        .map(|(_, amount)| *amount)
        .reduce(u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::QuotaScope;
    use proptest::prelude::*;
    use std::time::Duration;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn bounds(period: Period, text: &str) -> (String, String) {
        let (start, end) = period_bounds(period, at(text));
        (start.to_string(), end.to_string())
    }

    fn pair(start: &str, end: &str) -> (String, String) {
        (start.to_owned(), end.to_owned())
    }

    fn daily(limit: u64) -> Quota {
        Quota::new(
            "daily-calls",
            QuotaScope::Global,
            Metric::ApiCalls,
            limit,
            Period::Daily,
        )
    }

    fn state(quota: Quota) -> QuotaState {
        QuotaState::new(quota, at("2026-03-15T10:00:00Z")).unwrap()
    }

    const DAY2: &str = "2026-03-16T10:00:00Z";

    #[test]
    fn a_day_runs_from_midnight_to_midnight() {
        let expected = pair("2026-03-15T00:00:00Z", "2026-03-16T00:00:00Z");
        assert_eq!(bounds(Period::Daily, "2026-03-15T17:45:12Z"), expected);
        assert_eq!(bounds(Period::Daily, "2026-03-15T00:00:00Z"), expected);
        assert_eq!(
            bounds(Period::Daily, "2026-03-16T00:00:00Z").0,
            "2026-03-16T00:00:00Z"
        );
    }

    #[test]
    fn a_week_starts_on_monday() {
        // 2026-01-01 is a Thursday; its week spans the year end.
        let new_year = pair("2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z");
        assert_eq!(bounds(Period::Weekly, "2026-01-01T12:00:00Z"), new_year);
        let sunday = pair("2026-02-23T00:00:00Z", "2026-03-02T00:00:00Z");
        assert_eq!(bounds(Period::Weekly, "2026-03-01T23:59:59Z"), sunday);
        assert_eq!(
            bounds(Period::Weekly, "2026-03-02T00:00:00Z").0,
            "2026-03-02T00:00:00Z"
        );
    }

    #[test]
    fn a_month_runs_from_the_first_to_the_first() {
        let january = pair("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
        assert_eq!(bounds(Period::Monthly, "2026-01-31T23:00:00Z"), january);
        let february = pair("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z");
        assert_eq!(bounds(Period::Monthly, "2026-02-28T12:00:00Z"), february);
        let leap = pair("2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z");
        assert_eq!(bounds(Period::Monthly, "2028-02-29T12:00:00Z"), leap);
        let december = pair("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z");
        assert_eq!(bounds(Period::Monthly, "2026-12-31T23:59:59Z"), december);
    }

    #[test]
    fn bounds_saturate_at_the_ends_of_time() {
        for period in [Period::Daily, Period::Weekly, Period::Monthly] {
            let (start, end) = period_bounds(period, Timestamp::MAX);
            assert!(start < Timestamp::MAX && end == Timestamp::MAX);
            let (start, end) = period_bounds(period, Timestamp::from_nanos(i64::MIN));
            assert!(start == Timestamp::from_nanos(i64::MIN) && end > start);
        }
        let mut last = state(daily(10));
        last.consume(3, Timestamp::MAX);
        last.consume(3, Timestamp::MAX);
        assert_eq!(last.used(), 6);
    }

    #[test]
    fn a_monthly_quota_set_on_the_31st_resets_on_the_1st() {
        let mut q = daily(100);
        q.period = Period::Monthly;
        let mut s = QuotaState::new(q, at("2026-01-31T09:00:00Z")).unwrap();
        s.consume(10, at("2026-01-31T09:00:00Z"));
        s.roll_over(at("2026-01-31T23:59:59Z"));
        assert_eq!(s.used(), 10);
        s.roll_over(at("2026-02-01T00:00:00Z"));
        assert_eq!(s.used(), 0);
        assert_eq!(s.period_end(), at("2026-03-01T00:00:00Z"));
    }

    #[test]
    fn a_new_period_resets_usage_and_rearms_notices() {
        let mut s = state(daily(10));
        assert_eq!(
            s.consume(9, s.period_start()).notice.unwrap().kind,
            NoticeKind::Warning
        );
        let next = s.consume(8, at(DAY2));
        assert_eq!(next.notice.unwrap().kind, NoticeKind::Warning);
        assert_eq!(s.used(), 8);
        assert_eq!(s.period_start(), at("2026-03-16T00:00:00Z"));
    }

    #[test]
    fn an_earlier_now_counts_in_the_current_period() {
        let mut s = state(daily(10));
        s.consume(2, at(DAY2));
        s.consume(3, at("2026-03-15T10:00:00Z"));
        assert_eq!(
            (s.used(), s.period_start()),
            (5, at("2026-03-16T00:00:00Z"))
        );
    }

    #[test]
    fn the_warning_is_raised_once_per_period_at_the_threshold() {
        let mut s = state(daily(100));
        let now = at("2026-03-15T11:00:00Z");
        let quiet = s.consume(79, now);
        assert!(quiet.allowed && quiet.warning.is_none() && quiet.notice.is_none());
        let peek = s.check(1, now);
        assert!(peek.warning.is_some() && peek.notice.is_none());
        assert_eq!(s.used(), 79);
        let crossing = s.consume(1, now);
        assert_eq!(
            crossing.warning.unwrap(),
            "quota daily-calls: 80 of 100 api_calls used this daily period (80%), \
             at or past the 80% warning threshold"
        );
        let notice = crossing.notice.unwrap();
        assert_eq!(
            (notice.kind, notice.usage_ratio),
            (NoticeKind::Warning, 0.8)
        );
        let again = s.consume(1, now);
        assert!(again.warning.is_some() && again.notice.is_none());
    }

    #[test]
    fn a_hard_stop_refuses_and_records_nothing() {
        let mut s = state(daily(1000));
        let now = at("2026-03-15T11:00:00Z");
        assert!(s.consume(1000, now).allowed);
        let refused = s.consume(5, now);
        assert!(!refused.allowed && refused.warning.is_none());
        assert_eq!(
            refused.refusal.unwrap().to_string(),
            "quota daily-calls: 1000 of 1000 api_calls used this daily period; \
             5 more would pass the limit"
        );
        assert_eq!(refused.usage_ratio, 1.005);
        assert_eq!(refused.notice.unwrap().kind, NoticeKind::Exceeded);
        assert_eq!(s.used(), 1000);
        assert!(
            s.consume(5, now).notice.is_none(),
            "exceeded is raised once"
        );
        assert!(
            s.consume(0, now).allowed,
            "nothing more never passes the limit"
        );
    }

    #[test]
    fn a_soft_stop_allows_with_a_warning() {
        let mut q = daily(10);
        q.hard_stop = false;
        let mut s = state(q);
        let now = at("2026-03-15T11:00:00Z");
        let over = s.consume(12, now);
        assert!(over.allowed && over.refusal.is_none() && !over.shadow_refusal);
        assert!(
            over.warning
                .unwrap()
                .ends_with("past the limit (soft stop: allowed)")
        );
        assert_eq!(over.notice.unwrap().usage_ratio, 1.2);
        assert_eq!(s.used(), 12);
        assert!(s.consume(1, now).notice.is_none());
    }

    #[test]
    fn a_shadow_quota_never_refuses_but_says_it_would() {
        let mut q = Quota::new("q", QuotaScope::Global, Metric::Tokens, 10, Period::Daily);
        q.shadow = true;
        let mut s = state(q);
        let check = s.consume(11, s.period_start());
        assert!(check.allowed && check.shadow_refusal && check.refusal.is_none());
        assert_eq!(
            check.warning.unwrap(),
            "shadow quota q: 0 of 10 tokens used this daily period; 11 more would pass \
             the limit (not refused: shadow quota)"
        );
        assert_eq!(check.notice.unwrap().kind, NoticeKind::Exceeded);
        assert_eq!(s.used(), 11);
    }

    #[test]
    fn unused_allowance_carries_over_up_to_the_cap() {
        let mut q = daily(100);
        q.carry_over_cap = Some(30);
        let mut s = state(q);
        s.consume(90, s.period_start());
        s.roll_over(at(DAY2));
        assert_eq!((s.carried(), s.allowance()), (10, 110));
        s.roll_over(at("2026-03-17T10:00:00Z"));
        assert_eq!((s.carried(), s.allowance()), (30, 130));
        let mut uncapped = state(daily(100));
        uncapped.roll_over(at(DAY2));
        assert_eq!(uncapped.allowance(), 100);
    }

    #[test]
    fn skipped_periods_count_as_periods_with_no_usage() {
        let mut q = daily(100);
        q.carry_over_cap = Some(250);
        let mut s = state(q);
        s.consume(100, s.period_start());
        s.roll_over(at("2026-03-18T10:00:00Z")); // the 16th and 17th went unused
        assert_eq!(s.carried(), 200);
        s.roll_over(at("2026-04-18T10:00:00Z"));
        assert_eq!(s.carried(), 250);
    }

    #[test]
    fn record_refund_set_and_reset() {
        let mut s = state(daily(10));
        let now = at("2026-03-15T11:00:00Z");
        assert_eq!(s.record(12, now).unwrap().kind, NoticeKind::Exceeded);
        assert_eq!(s.used(), 12, "recorded usage may pass a hard limit");
        s.refund(5, now);
        assert_eq!(s.used(), 7);
        s.refund(50, now);
        assert_eq!(s.used(), 0);
        assert!(
            s.set_usage(9, now).is_none(),
            "notices were already raised this period"
        );
        assert_eq!(s.used(), 9);
        s.reset(now);
        assert_eq!(
            (s.used(), s.period_start()),
            (0, at("2026-03-15T00:00:00Z"))
        );
        assert_eq!(s.set_usage(8, now).unwrap().kind, NoticeKind::Warning);
    }

    #[test]
    fn update_changes_the_limit_and_keeps_the_usage() {
        let mut s = state(daily(100));
        let now = at("2026-03-15T11:00:00Z");
        s.consume(50, now);
        let mut lower = daily(40);
        lower.warning_threshold = 0.5;
        s.update(lower).unwrap();
        assert_eq!((s.used(), s.allowance()), (50, 40));
        assert!(!s.check(1, now).allowed);
        let mut weekly = daily(40);
        weekly.period = Period::Weekly;
        let err = s.update(weekly).unwrap_err();
        assert_eq!(err.field, "quota[daily-calls].period");
        assert!(
            err.to_string()
                .contains("remove the quota with `DELETE /api/quotas/{id}`"),
            "{err}"
        );
        let mut bad = daily(40);
        bad.warning_threshold = 0.0;
        assert_eq!(
            s.update(bad).unwrap_err().field,
            "quota[daily-calls].warning_threshold"
        );
        assert_eq!(s.quota().warning_threshold, 0.5);
    }

    #[test]
    fn bad_quotas_are_refused() {
        let err = QuotaState::new(daily(0), at(DAY2)).unwrap_err();
        assert_eq!(err.field, "quota[daily-calls].limit");
        let mut set = QuotaSet::new();
        set.add(daily(10), at(DAY2)).unwrap();
        let duplicate = set.add(daily(20), at(DAY2)).unwrap_err();
        assert_eq!(duplicate.field, "quota[daily-calls].id");
        assert_eq!(set.get(&"daily-calls".into()).unwrap().quota().limit, 10);
        let unknown = Quota::new("nope", QuotaScope::Global, Metric::Tokens, 5, Period::Daily);
        assert_eq!(set.update(unknown).unwrap_err().field, "quota[nope].id");
        assert!(set.add(daily(0), at(DAY2)).is_err() && set.len() == 1);
    }

    fn client_quota(id: &str, client: &str, metric: Metric, limit: u64) -> Quota {
        Quota::new(
            id,
            QuotaScope::Client(client.into()),
            metric,
            limit,
            Period::Daily,
        )
    }

    #[test]
    fn global_and_client_quotas_must_both_pass_and_refusal_records_nothing() {
        let now = at("2026-03-15T11:00:00Z");
        let mut set = QuotaSet::new();
        set.add(daily(100), now).unwrap();
        set.add(client_quota("client-a", "a", Metric::ApiCalls, 10), now)
            .unwrap();
        let (a, b) = (ClientId::new("a"), ClientId::new("b"));
        let ok = set.consume(&a, &Metric::ApiCalls, 10, now);
        assert!(ok.allowed);
        assert_eq!(ok.usage_ratio, 1.0);
        assert_eq!(ok.notices.len(), 1, "client-a reached its threshold");
        let refused = set.consume(&a, &Metric::ApiCalls, 1, now);
        assert!(!refused.allowed);
        assert_eq!(refused.refusal.unwrap().quota.as_str(), "client-a");
        assert_eq!(set.get(&"daily-calls".into()).unwrap().used(), 10);
        assert!(set.consume(&b, &Metric::ApiCalls, 50, now).allowed);
        assert_eq!(set.get(&"daily-calls".into()).unwrap().used(), 60);
        assert_eq!(set.get(&"client-a".into()).unwrap().used(), 10);
    }

    #[test]
    fn consume_many_is_all_or_nothing_across_metrics() {
        let now = at("2026-03-15T11:00:00Z");
        let mut set = QuotaSet::new();
        set.add(daily(100), now).unwrap();
        set.add(client_quota("a-cost", "a", Metric::Cost, 500), now)
            .unwrap();
        let tokens = Quota::new(
            "tokens",
            QuotaScope::Global,
            Metric::Tokens,
            1000,
            Period::Daily,
        );
        set.add(tokens, now).unwrap();
        let a = ClientId::new("a");
        let request = |cost| {
            [
                (Metric::ApiCalls, 1),
                (Metric::Tokens, 300),
                (Metric::Cost, cost),
            ]
        };
        assert!(set.consume_many(&a, &request(200), now).allowed);
        let refused = set.consume_many(&a, &request(400), now);
        assert_eq!(refused.refusal.unwrap().quota.as_str(), "a-cost");
        let used: Vec<u64> = set.iter().map(QuotaState::used).collect();
        assert_eq!(
            used,
            [200, 1, 300],
            "in id order: a-cost, daily-calls, tokens"
        );
        let twice = [(Metric::Tokens, 400), (Metric::Tokens, 400)];
        assert!(
            !set.check_many(&a, &twice, now).allowed,
            "300 + 800 passes 1000"
        );
        assert!(set.remove(&"tokens".into()).is_some());
        assert!(set.consume_many(&a, &twice, now).allowed);
    }

    #[test]
    fn nothing_applicable_or_comfortable_allocates_nothing() {
        let now = at("2026-03-15T11:00:00Z");
        let mut set = QuotaSet::new();
        set.add(daily(100), now).unwrap();
        let none = set.check(&"a".into(), &Metric::Storage, 5, now);
        assert!(none.allowed && none.usage_ratio == 0.0);
        let comfortable = set.consume(&"a".into(), &Metric::ApiCalls, 5, now);
        assert!(comfortable.allowed && comfortable.usage_ratio == 0.05);
        assert_eq!(
            comfortable.warnings.capacity() + comfortable.notices.capacity(),
            0
        );
    }

    #[test]
    fn warnings_come_in_quota_id_order() {
        let now = at("2026-03-15T11:00:00Z");
        let mut set = QuotaSet::new();
        set.add(client_quota("z-client", "a", Metric::ApiCalls, 10), now)
            .unwrap();
        set.add(daily(10), now).unwrap();
        let check = set.check(&"a".into(), &Metric::ApiCalls, 9, now);
        assert!(check.warnings[0].starts_with("quota daily-calls"));
        assert!(check.warnings[1].starts_with("quota z-client"));
    }

    #[test]
    fn notices_become_bus_events() {
        let notice = QuotaNotice {
            quota: "q".into(),
            kind: NoticeKind::Exceeded,
            usage_ratio: 1.5,
        };
        let event = notice.to_event(&"a".into());
        assert_eq!(event.name(), "quota.exceeded");
        assert_eq!(event.client().unwrap().as_str(), "a");
    }

    fn any_period() -> impl Strategy<Value = Period> {
        prop_oneof![
            Just(Period::Daily),
            Just(Period::Weekly),
            Just(Period::Monthly)
        ]
    }

    proptest! {
        #[test]
        fn a_hard_stop_never_lets_usage_pass_the_allowance(
            limit in 1u64..1000,
            cap in proptest::option::of(0u64..500),
            period in any_period(),
            steps in prop::collection::vec((0u64..400, 0u64..(3 * 86_400)), 1..80),
        ) {
            let mut q = daily(limit);
            (q.carry_over_cap, q.period) = (cap, period);
            let mut s = state(q);
            let mut now = s.period_start();
            for (amount, wait_secs) in steps {
                now = now + Duration::from_secs(wait_secs);
                let check = s.consume(amount, now);
                prop_assert!(s.used() <= s.allowance());
                prop_assert_eq!(check.allowed, check.refusal.is_none());
            }
        }

        #[test]
        fn carry_over_does_not_depend_on_which_boundaries_were_seen(
            limit in 1u64..1000,
            cap in 0u64..3000,
            used in 0u64..1500,
            skipped in 1usize..6,
            period in any_period(),
        ) {
            let mut q = daily(limit);
            (q.carry_over_cap, q.period) = (Some(cap), period);
            let mut eager = QuotaState::new(q, at("2026-01-31T10:00:00Z")).unwrap();
            eager.record(used, eager.period_start());
            let mut lazy = eager.clone();
            for _ in 0..skipped {
                eager.roll_over(eager.period_end());
            }
            lazy.roll_over(eager.period_start() + Duration::from_secs(3600));
            prop_assert_eq!(lazy, eager);
        }
    }
}
