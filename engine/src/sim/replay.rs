//! Counterfactual replay: recorded traffic run as it was (the baseline), then again with
//! changed settings, and the two reports side by side.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use ron::extensions::Extensions;
use serde::{Deserialize, Serialize};

use super::report::{Report, Tally};
use super::runner::{RunError, RunOptions, run};
use super::scenario::{Action, OffPeak, Scenario};
use crate::model::{
    AutoscaleBounds, ClientId, Money, MonthlyBudget, PoolId, PoolKind, QuotaId, Tier,
    ValidationError,
};
use crate::policy::priority::PriorityWeights;
use crate::policy::reservation::ReservationPolicy;

/// What to change before replaying (`--with CHANGES.ron`): every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// A label shown in the comparison.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scheduler: SchedulerChanges,
    #[serde(default)]
    pub pools: Vec<PoolChange>,
    #[serde(default)]
    pub quotas: Vec<QuotaChange>,
    #[serde(default)]
    pub clients: Vec<ClientChange>,
    /// Monthly budgets of every client of a tier that has its tier's default budget.
    #[serde(default)]
    pub tiers: Vec<TierChange>,
}

/// Scheduler settings to replace; those not named stay as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerChanges {
    #[serde(default)]
    pub weights: Option<PriorityWeights>,
    #[serde(default)]
    pub aging: Option<bool>,
    #[serde(default)]
    pub fair_share_half_life_secs: Option<f64>,
    #[serde(default)]
    pub starvation_bound_secs: Option<f64>,
    #[serde(default)]
    pub off_peak: Option<OffPeak>,
    /// Serve from a request's cheaper alternative when its first choice is short.
    #[serde(default)]
    pub downgrade: Option<bool>,
    #[serde(default)]
    pub reservation: Option<ReservationPolicy>,
}

/// A pool's size, price or autoscale bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolChange {
    pub pool: PoolId,
    /// Its size at the start (slots, or a rate pool's bucket capacity); recorded resizes
    /// still apply.
    #[serde(default)]
    pub size: Option<f64>,
    /// Added to its size at the start and to every recorded resize.
    #[serde(default)]
    pub add: Option<f64>,
    /// Its price at the start (per hour, or per thousand units); recorded price changes
    /// still apply.
    #[serde(default)]
    pub price: Option<Money>,
    #[serde(default)]
    pub autoscale: Option<AutoscaleBounds>,
}

/// A quota's limit, from the start and in place of recorded limit changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaChange {
    pub quota: QuotaId,
    pub limit: u64,
}

/// A client's tier, budget, credit or concurrency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientChange {
    pub client: ClientId,
    #[serde(default)]
    pub tier: Option<Tier>,
    #[serde(default)]
    pub monthly_budget: Option<Money>,
    #[serde(default)]
    pub credits: Option<Money>,
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierChange {
    pub tier: Tier,
    pub monthly_budget: Money,
}

/// Why a replay could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {detail}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        detail: String,
    },
    #[error("{origin}: {error}")]
    Invalid {
        origin: String,
        error: ValidationError,
    },
    #[error(transparent)]
    Scenario(#[from] super::ScenarioError),
    #[error("the replay failed: {0}")]
    Run(#[from] RunError),
}

impl Changes {
    /// Reads a changes file (RON, as a scenario is written).
    pub fn load(path: &Path) -> Result<Changes, ReplayError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Read {
            path: shown.clone(),
            source,
        })?;
        Changes::parse(&text, &shown)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Changes, ReplayError> {
        ron::Options::default()
            .with_default_extension(Extensions::IMPLICIT_SOME)
            .from_str(text)
            .map_err(|e| ReplayError::Syntax {
                path: origin.to_owned(),
                line: e.span.start.line,
                column: e.span.start.col,
                detail: e.code.to_string(),
            })
    }

    /// The scenario with these changes made; a change naming something the scenario
    /// does not have is an error naming the field.
    pub fn apply(&self, scenario: &Scenario) -> Result<Scenario, ValidationError> {
        let mut changed = scenario.clone();
        let s = &self.scheduler;
        let config = &mut changed.scheduler;
        if let Some(v) = s.weights {
            config.weights = v;
        }
        if let Some(v) = s.aging {
            config.aging = v;
        }
        if let Some(v) = s.fair_share_half_life_secs {
            config.fair_share_half_life_secs = v;
        }
        if let Some(v) = s.starvation_bound_secs {
            config.starvation_bound_secs = v;
        }
        if let Some(v) = s.off_peak {
            config.off_peak = Some(v);
        }
        if let Some(v) = s.downgrade {
            config.downgrade = v;
        }
        if let Some(v) = s.reservation {
            config.reservation = v;
        }
        let ids = |list: Vec<&str>| list.join(", ");
        for (i, change) in self.pools.iter().enumerate() {
            let known = ids(scenario.pools.iter().map(|p| p.id.as_str()).collect());
            let pool = changed
                .pools
                .iter_mut()
                .find(|p| p.id == change.pool)
                .ok_or_else(|| {
                    ValidationError::new(
                        format!("pools[{i}].pool"),
                        format!("{:?}", change.pool.as_str()),
                        format!("the id of a pool of the trace ({known})"),
                    )
                })?;
            let add = change.add.unwrap_or(0.0);
            if let Some(size) = change.size.map(|s| s + add).or(Some(pool.size() + add))
                && size != pool.size()
            {
                if !(size.is_finite() && size >= 1.0) {
                    return Err(ValidationError::new(
                        format!("pools[{i}].size"),
                        size,
                        "a size of at least 1",
                    ));
                }
                match &mut pool.kind {
                    PoolKind::Slot { slots, .. } => *slots = size.round() as u32,
                    PoolKind::Rate { capacity, .. } => *capacity = size,
                }
            }
            if let Some(price) = change.price {
                pool.set_price(price);
            }
            if let Some(bounds) = change.autoscale {
                pool.autoscale = Some(bounds);
            }
            if add != 0.0 {
                for event in &mut changed.events {
                    if let Action::PoolCapacity { pool, capacity } = &mut event.action
                        && *pool == change.pool
                    {
                        *capacity += add;
                    }
                }
            }
        }
        for (i, change) in self.quotas.iter().enumerate() {
            let known = ids(scenario.quotas.iter().map(|q| q.id.as_str()).collect());
            let quota = changed
                .quotas
                .iter_mut()
                .find(|q| q.id == change.quota)
                .ok_or_else(|| {
                    ValidationError::new(
                        format!("quotas[{i}].quota"),
                        format!("{:?}", change.quota.as_str()),
                        format!("the id of a quota of the trace ({known})"),
                    )
                })?;
            quota.limit = change.limit;
            // The changed limit holds throughout: recorded limit changes give way to it.
            for event in &mut changed.events {
                match &mut event.action {
                    Action::QuotaLimit { quota, limit } if *quota == change.quota => {
                        *limit = change.limit;
                    }
                    Action::Quota { quota } if quota.id == change.quota => {
                        quota.limit = change.limit;
                    }
                    _ => {}
                }
            }
        }
        for (i, change) in self.clients.iter().enumerate() {
            let known = ids(scenario.clients.iter().map(|c| c.id.as_str()).collect());
            let client = changed
                .clients
                .iter_mut()
                .find(|c| c.id == change.client)
                .ok_or_else(|| {
                    ValidationError::new(
                        format!("clients[{i}].client"),
                        format!("{:?}", change.client.as_str()),
                        format!("the id of a client of the trace ({known})"),
                    )
                })?;
            if let Some(tier) = change.tier {
                client.tier = tier;
            }
            if let Some(budget) = change.monthly_budget {
                client.monthly_budget = MonthlyBudget::Limit(budget);
            }
            if let Some(credits) = change.credits {
                client.credits = credits;
            }
            if let Some(max) = change.max_concurrent {
                client.max_concurrent = Some(max);
            }
        }
        for change in &self.tiers {
            for client in &mut changed.clients {
                if client.tier == change.tier && client.monthly_budget.is_tier_default() {
                    client.monthly_budget = MonthlyBudget::Limit(change.monthly_budget);
                }
            }
        }
        if let Some(first) = changed.problems().into_iter().next() {
            return Err(first);
        }
        Ok(changed)
    }
}

/// The baseline and, with changes, the changed replay of one trace.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<Report>,
}

/// Replays `scenario` as recorded, then with `changes` if given.
pub fn replay(
    scenario: &Scenario,
    changes: Option<&Changes>,
    options: &RunOptions,
) -> Result<Comparison, ReplayError> {
    let changed_scenario = changes
        .map(|c| c.apply(scenario))
        .transpose()
        .map_err(|error| ReplayError::Invalid {
            origin: "changes".into(),
            error,
        })?;
    let baseline = run(scenario, options)?;
    let changed = changed_scenario.map(|s| run(&s, options)).transpose()?;
    Ok(Comparison {
        baseline,
        changes: changes.cloned(),
        changed,
    })
}

impl Comparison {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a comparison serializes")
    }

    /// Both reports side by side, with the differences.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let b = &self.baseline;
        let label = self
            .changes
            .as_ref()
            .map(|c| {
                if c.name.is_empty() {
                    "changed".to_owned()
                } else {
                    c.name.clone()
                }
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Replay of {} ({} requests, {} to {})",
            b.scenario,
            b.requests,
            b.started_at.to_datetime().to_rfc3339(),
            b.ended_at.to_datetime().to_rfc3339()
        );
        let Some(c) = &self.changed else {
            out.push_str("\nAs recorded (no changes given):\n");
            out.push_str(&b.render());
            return out;
        };
        let _ = writeln!(out, "Baseline: as recorded. Changed: {label}.\n");
        let _ = writeln!(
            out,
            "{:<34} {:>14} {:>14} {:>14}",
            "", "baseline", "changed", "difference"
        );
        let mut row = |name: &str, base: String, new: String, diff: String| {
            let _ = writeln!(out, "{name:<34} {base:>14} {new:>14} {diff:>14}");
        };
        tally_rows(&mut row, "", &b.totals, &c.totals);
        let refusals: BTreeSet<&str> = b
            .totals
            .refused
            .keys()
            .chain(c.totals.refused.keys())
            .copied()
            .collect();
        for reason in refusals {
            let get = |t: &Tally| t.refused.get(reason).copied().unwrap_or(0);
            count_row(
                &mut row,
                &format!("  refused: {reason}"),
                get(&b.totals),
                get(&c.totals),
            );
        }
        count_row(
            &mut row,
            "starvation events",
            b.starvation_events,
            c.starvation_events,
        );
        count_row(&mut row, "alerts raised", b.alerts.raised, c.alerts.raised);
        count_row(
            &mut row,
            "still queued at the end",
            b.still_queued as u64,
            c.still_queued as u64,
        );
        if let (Some(bt), Some(ct)) = (&b.trace, &c.trace) {
            count_row(
                &mut row,
                "service times assumed",
                bt.assumed_service.min(bt.started),
                ct.assumed_service.min(ct.started),
            );
        }
        let pools: BTreeMap<&str, (f64, f64, f64, f64)> = b
            .pools
            .iter()
            .map(|p| {
                let other = c.pools.iter().find(|q| q.pool == p.pool);
                (
                    p.pool.as_str(),
                    (
                        p.mean_utilisation,
                        other.map_or(0.0, |q| q.mean_utilisation),
                        p.final_size,
                        other.map_or(0.0, |q| q.final_size),
                    ),
                )
            })
            .collect();
        for (pool, (bu, cu, bs, cs)) in pools {
            row(
                &format!("pool {pool}: mean utilisation"),
                format!("{:.1}%", bu * 100.0),
                format!("{:.1}%", cu * 100.0),
                format!("{:+.1} pts", (cu - bu) * 100.0),
            );
            row(
                &format!("pool {pool}: final size"),
                format!("{bs}"),
                format!("{cs}"),
                format!("{:+}", cs - bs),
            );
        }
        for client in &b.clients {
            let Some(other) = c.clients.iter().find(|o| o.client == client.client) else {
                continue;
            };
            let _ = &mut row;
            row(
                &format!("client {}", client.client),
                "".into(),
                "".into(),
                "".into(),
            );
            tally_rows(&mut row, "  ", &client.totals, &other.totals);
            for (class, tally) in &client.classes {
                let Some(changed) = other.classes.get(class) else {
                    continue;
                };
                wait_rows(&mut row, &format!("  {class} "), tally, changed);
            }
        }
        out
    }
}

fn count_row(row: &mut impl FnMut(&str, String, String, String), name: &str, b: u64, c: u64) {
    row(
        name,
        b.to_string(),
        c.to_string(),
        format!("{:+}", c as i64 - b as i64),
    );
}

fn tally_rows(
    row: &mut impl FnMut(&str, String, String, String),
    indent: &str,
    b: &Tally,
    c: &Tally,
) {
    count_row(row, &format!("{indent}submitted"), b.submitted, c.submitted);
    count_row(row, &format!("{indent}admitted"), b.admitted, c.admitted);
    let refused = |t: &Tally| t.refused.values().sum::<u64>();
    count_row(row, &format!("{indent}refused"), refused(b), refused(c));
    count_row(row, &format!("{indent}completed"), b.completed, c.completed);
    if b.downgraded + c.downgraded > 0 {
        count_row(
            row,
            &format!("{indent}downgraded"),
            b.downgraded,
            c.downgraded,
        );
    }
    row(
        &format!("{indent}spend"),
        b.spend.to_string(),
        c.spend.to_string(),
        signed_money(c.spend - b.spend),
    );
    wait_rows(row, indent, b, c);
}

fn wait_rows(
    row: &mut impl FnMut(&str, String, String, String),
    indent: &str,
    b: &Tally,
    c: &Tally,
) {
    for (name, bw, cw) in [
        ("wait p50", b.wait.p50, c.wait.p50),
        ("wait p95", b.wait.p95, c.wait.p95),
        ("wait p99", b.wait.p99, c.wait.p99),
    ] {
        row(
            &format!("{indent}{name}"),
            format!("{bw:.3}s"),
            format!("{cw:.3}s"),
            format!("{:+.3}s", cw - bw),
        );
    }
}

fn signed_money(m: Money) -> String {
    if m.is_negative() {
        m.to_string()
    } else {
        format!("+{m}")
    }
}
