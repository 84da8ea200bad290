//! The scenario file: what to replay. RON, documented field by field in
//! `scenarios/README.md`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::arrival::Arrivals;
use super::distribution::Distribution;
use crate::model::{
    Client, ClientId, Money, Pool, PoolId, PoolKind, Quota, QuotaId, QuotaScope, RequestClass,
    Resource, ResourceId, Timestamp, ValidationError, ensure,
};
use crate::policy::autoscale::AutoscaleConfig;
use crate::policy::priority::PriorityWeights;
use crate::policy::reservation::ReservationPolicy;

/// A workload scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seed of the run's one random number generator; `qm run --seed` overrides it.
    #[serde(default)]
    pub seed: u64,
    /// Virtual instant at which the run starts (RFC 3339, UTC).
    pub start: Timestamp,
    /// Length of the arrival window in seconds; work still queued then is drained.
    pub duration_secs: f64,
    /// Stop generating arrivals after this many requests in total.
    #[serde(default)]
    pub max_requests: Option<u64>,
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    #[serde(default)]
    pub monitor: MonitorConfig,
    pub pools: Vec<Pool>,
    pub clients: Vec<Client>,
    #[serde(default)]
    pub quotas: Vec<Quota>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub bookings: Vec<BookingWorkload>,
    #[serde(default)]
    pub events: Vec<TimedEvent>,
}

/// How the scheduler orders and admits work.
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
    /// Fall back to a request's cheaper alternative when budget or capacity is short.
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

/// How the monitor samples, predicts and scales.
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
        }
    }
}

impl MonitorConfig {
    pub fn autoscale_config(&self, min: u32, max: u32) -> AutoscaleConfig {
        AutoscaleConfig {
            min,
            max,
            target_utilisation: self.target_utilisation,
            scale_up_above: self.scale_up_above,
            scale_down_below: self.scale_down_below,
            tolerance: self.tolerance,
            cooldown: secs(self.cooldown_secs),
            stabilisation_window: secs(self.stabilisation_secs),
        }
    }
}

pub(crate) fn secs(value: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(value.max(0.0))
}

/// One client's stream of requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub client: ClientId,
    pub arrivals: Arrivals,
    /// The kinds of request, drawn in proportion to their weights.
    pub kinds: Vec<RequestKind>,
}

/// A kind of request of a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestKind {
    pub name: String,
    #[serde(default = "one")]
    pub weight: f64,
    pub class: RequestClass,
    #[serde(default = "half")]
    pub urgency: f64,
    pub needs: Vec<NeedSpec>,
    /// How long the request holds its slots once dispatched.
    pub service_secs: Distribution,
    #[serde(default)]
    pub estimate: Estimate,
    /// Serve from another pool when budget or capacity is short (a model downgrade).
    #[serde(default)]
    pub alternative: Option<AlternativeSpec>,
    /// Group like requests into one dispatch.
    #[serde(default)]
    pub batch: Option<BatchSpec>,
}

fn one() -> f64 {
    1.0
}

fn half() -> f64 {
    0.5
}

/// An amount a request kind draws from a pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeedSpec {
    pub pool: PoolId,
    pub amount: Distribution,
}

/// What the client can tell in advance about a request's cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimate {
    /// The estimate is the actual cost.
    Exact,
    /// The drawn amounts priced at the mean service time.
    #[default]
    FromMeans,
    /// No estimate: the reservation policy decides.
    Unknown,
}

/// Replace one pool by a cheaper one, drawing the same amount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlternativeSpec {
    pub replace: PoolId,
    pub with: PoolId,
}

/// Group up to `max_size` like requests, waiting at most `max_wait_secs` for the group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    pub max_size: u32,
    pub max_wait_secs: f64,
}

/// A client's stream of booking attempts on registered resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingWorkload {
    pub client: ClientId,
    pub arrivals: Arrivals,
    /// The resources the client would take, tried in order.
    pub resources: Vec<ResourceId>,
    /// How far ahead of its arrival a booking starts.
    pub lead_secs: Distribution,
    pub hours: Distribution,
}

/// Something that happens at a fixed moment of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedEvent {
    pub at_secs: f64,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// New size: slots of a slot pool, or bucket capacity of a rate pool.
    PoolCapacity {
        pool: PoolId,
        capacity: f64,
    },
    PoolDown {
        pool: PoolId,
    },
    PoolUp {
        pool: PoolId,
    },
    /// New price: per hour for a slot pool, per thousand units for a rate pool.
    PoolPrice {
        pool: PoolId,
        price: Money,
    },
    QuotaLimit {
        quota: QuotaId,
        limit: u64,
    },
    ClientJoins {
        client: ClientId,
    },
    ClientLeaves {
        client: ClientId,
    },
}

impl Scenario {
    /// Every problem found, in file order where it matters; empty when the scenario is good.
    pub fn problems(&self) -> Vec<ValidationError> {
        let mut problems = Vec::new();
        let mut check = |result: Result<(), ValidationError>| {
            if let Err(e) = result {
                problems.push(e);
            }
        };
        check(ensure(
            !self.name.trim().is_empty(),
            "name",
            "\"\"",
            "a non-empty name",
        ));
        check(ensure(
            self.duration_secs.is_finite() && self.duration_secs > 0.0,
            "duration_secs",
            self.duration_secs,
            "a positive number of seconds",
        ));
        if let Some(n) = self.max_requests {
            check(ensure(n > 0, "max_requests", n, "at least 1"));
        }
        check(self.scheduler.validate());
        check(self.monitor.validate());

        let pool_ids = unique_ids(
            self.pools.iter().map(|p| p.id.as_str()),
            "pools",
            &mut problems,
        );
        for (i, pool) in self.pools.iter().enumerate() {
            if let Err(e) = pool.validate() {
                problems.push(reindex(
                    e,
                    &format!("pool[{}]", pool.id),
                    &format!("pools[{i}]"),
                ));
            }
            if let Some(bounds) = pool.autoscale {
                let config = self.monitor.autoscale_config(bounds.min, bounds.max);
                if let Err(e) = config.validate() {
                    problems.push(e.within(format!("pools[{i}].autoscale")));
                }
            }
        }
        let client_ids = unique_ids(
            self.clients.iter().map(|c| c.id.as_str()),
            "clients",
            &mut problems,
        );
        for (i, client) in self.clients.iter().enumerate() {
            if let Err(e) = client.validate() {
                problems.push(reindex(
                    e,
                    &format!("client[{}]", client.id),
                    &format!("clients[{i}]"),
                ));
            }
        }
        let quota_ids = unique_ids(
            self.quotas.iter().map(|q| q.id.as_str()),
            "quotas",
            &mut problems,
        );
        for (i, quota) in self.quotas.iter().enumerate() {
            if let Err(e) = quota.validate() {
                problems.push(reindex(
                    e,
                    &format!("quota[{}]", quota.id),
                    &format!("quotas[{i}]"),
                ));
            }
            if let QuotaScope::Client(client) = &quota.scope {
                check_ref(
                    &client_ids,
                    client.as_str(),
                    &format!("quotas[{i}].scope"),
                    "clients",
                    &mut problems,
                );
            }
        }
        let resource_ids = unique_ids(
            self.resources.iter().map(|r| r.id.as_str()),
            "resources",
            &mut problems,
        );
        for (i, resource) in self.resources.iter().enumerate() {
            if let Err(e) = resource.validate() {
                problems.push(reindex(
                    e,
                    &format!("resource[{}]", resource.id),
                    &format!("resources[{i}]"),
                ));
            }
        }
        for (w, workload) in self.workloads.iter().enumerate() {
            let at = format!("workloads[{w}]");
            check_ref(
                &client_ids,
                workload.client.as_str(),
                &format!("{at}.client"),
                "clients",
                &mut problems,
            );
            if let Err(e) = workload.arrivals.validate(&format!("{at}.arrivals")) {
                problems.push(e);
            }
            if workload.kinds.is_empty() {
                problems.push(ValidationError::new(
                    format!("{at}.kinds"),
                    "[]",
                    "at least one request kind",
                ));
            }
            for (k, kind) in workload.kinds.iter().enumerate() {
                kind.problems(
                    &format!("{at}.kinds[{k}]"),
                    &pool_ids,
                    &self.pools,
                    &mut problems,
                );
            }
        }
        for (b, booking) in self.bookings.iter().enumerate() {
            let at = format!("bookings[{b}]");
            check_ref(
                &client_ids,
                booking.client.as_str(),
                &format!("{at}.client"),
                "clients",
                &mut problems,
            );
            if let Err(e) = booking.arrivals.validate(&format!("{at}.arrivals")) {
                problems.push(e);
            }
            if booking.resources.is_empty() {
                problems.push(ValidationError::new(
                    format!("{at}.resources"),
                    "[]",
                    "at least one resource id",
                ));
            }
            for (r, resource) in booking.resources.iter().enumerate() {
                check_ref(
                    &resource_ids,
                    resource.as_str(),
                    &format!("{at}.resources[{r}]"),
                    "resources",
                    &mut problems,
                );
            }
            for (field, dist) in [("lead_secs", &booking.lead_secs), ("hours", &booking.hours)] {
                if let Err(e) = dist.sampler(&format!("{at}.{field}")) {
                    problems.push(e);
                }
            }
        }
        for (e, event) in self.events.iter().enumerate() {
            let at = format!("events[{e}]");
            if !(event.at_secs.is_finite() && event.at_secs >= 0.0) {
                problems.push(ValidationError::new(
                    format!("{at}.at_secs"),
                    event.at_secs,
                    "zero or more seconds",
                ));
            }
            let field = format!("{at}.action");
            match &event.action {
                Action::PoolCapacity { pool, capacity } => {
                    check_ref(
                        &pool_ids,
                        pool.as_str(),
                        &format!("{field}.pool"),
                        "pools",
                        &mut problems,
                    );
                    if !(capacity.is_finite() && *capacity >= 1.0) {
                        problems.push(ValidationError::new(
                            format!("{field}.capacity"),
                            capacity,
                            "a capacity of at least 1",
                        ));
                    }
                }
                Action::PoolDown { pool } | Action::PoolUp { pool } => {
                    check_ref(
                        &pool_ids,
                        pool.as_str(),
                        &format!("{field}.pool"),
                        "pools",
                        &mut problems,
                    );
                }
                Action::PoolPrice { pool, price } => {
                    check_ref(
                        &pool_ids,
                        pool.as_str(),
                        &format!("{field}.pool"),
                        "pools",
                        &mut problems,
                    );
                    if price.is_negative() {
                        problems.push(ValidationError::new(
                            format!("{field}.price"),
                            price,
                            "zero or more",
                        ));
                    }
                }
                Action::QuotaLimit { quota, limit } => {
                    check_ref(
                        &quota_ids,
                        quota.as_str(),
                        &format!("{field}.quota"),
                        "quotas",
                        &mut problems,
                    );
                    if *limit == 0 {
                        problems.push(ValidationError::new(
                            format!("{field}.limit"),
                            limit,
                            "at least 1",
                        ));
                    }
                }
                Action::ClientJoins { client } | Action::ClientLeaves { client } => {
                    check_ref(
                        &client_ids,
                        client.as_str(),
                        &format!("{field}.client"),
                        "clients",
                        &mut problems,
                    );
                }
            }
        }
        problems
    }
}

impl RequestKind {
    fn problems(
        &self,
        at: &str,
        pool_ids: &BTreeSet<String>,
        pools: &[Pool],
        problems: &mut Vec<ValidationError>,
    ) {
        if self.name.trim().is_empty() {
            problems.push(ValidationError::new(
                format!("{at}.name"),
                "\"\"",
                "a non-empty name",
            ));
        }
        if !(self.weight.is_finite() && self.weight > 0.0) {
            problems.push(ValidationError::new(
                format!("{at}.weight"),
                self.weight,
                "a positive weight",
            ));
        }
        if !(self.urgency.is_finite() && (0.0..=1.0).contains(&self.urgency)) {
            problems.push(ValidationError::new(
                format!("{at}.urgency"),
                self.urgency,
                "a number between 0 and 1",
            ));
        }
        if self.needs.is_empty() {
            problems.push(ValidationError::new(
                format!("{at}.needs"),
                "[]",
                "at least one pool need",
            ));
        }
        for (n, need) in self.needs.iter().enumerate() {
            let field = format!("{at}.needs[{n}]");
            check_ref(
                pool_ids,
                need.pool.as_str(),
                &format!("{field}.pool"),
                "pools",
                problems,
            );
            if self.needs[..n].iter().any(|other| other.pool == need.pool) {
                problems.push(ValidationError::new(
                    format!("{field}.pool"),
                    &need.pool,
                    "each pool named at most once",
                ));
            }
            if let Err(e) = need.amount.sampler(&format!("{field}.amount")) {
                problems.push(e);
            }
        }
        if let Err(e) = self.service_secs.sampler(&format!("{at}.service_secs")) {
            problems.push(e);
        }
        if let Some(alt) = &self.alternative {
            check_ref(
                pool_ids,
                alt.with.as_str(),
                &format!("{at}.alternative.with"),
                "pools",
                problems,
            );
            if !self.needs.iter().any(|n| n.pool == alt.replace) {
                problems.push(ValidationError::new(
                    format!("{at}.alternative.replace"),
                    &alt.replace,
                    "one of the pools this kind needs",
                ));
            }
            let kind_of = |id: &PoolId| {
                pools
                    .iter()
                    .find(|p| &p.id == id)
                    .map(|p| matches!(p.kind, PoolKind::Rate { .. }))
            };
            if let (Some(a), Some(b)) = (kind_of(&alt.replace), kind_of(&alt.with))
                && a != b
            {
                problems.push(ValidationError::new(
                    format!("{at}.alternative.with"),
                    &alt.with,
                    "a pool of the same kind (rate or slot) as the one it replaces",
                ));
            }
        }
        if let Some(batch) = &self.batch {
            if batch.max_size < 2 {
                problems.push(ValidationError::new(
                    format!("{at}.batch.max_size"),
                    batch.max_size,
                    "at least 2",
                ));
            }
            if !(batch.max_wait_secs.is_finite() && batch.max_wait_secs >= 0.0) {
                problems.push(ValidationError::new(
                    format!("{at}.batch.max_wait_secs"),
                    batch.max_wait_secs,
                    "zero or more seconds",
                ));
            }
        }
    }
}

impl SchedulerConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        let within = |e: ValidationError| e.within("scheduler");
        self.weights
            .validate()
            .map_err(|e| e.within("scheduler.weights"))?;
        ensure(
            self.fair_share_half_life_secs.is_finite() && self.fair_share_half_life_secs > 0.0,
            "fair_share_half_life_secs",
            self.fair_share_half_life_secs,
            "a positive number of seconds",
        )
        .map_err(within)?;
        ensure(
            self.starvation_bound_secs.is_finite() && self.starvation_bound_secs > 0.0,
            "starvation_bound_secs",
            self.starvation_bound_secs,
            "a positive number of seconds",
        )
        .map_err(within)?;
        if let Some(window) = self.off_peak {
            for (field, hour) in [
                ("off_peak.start_hour", window.start_hour),
                ("off_peak.end_hour", window.end_hour),
            ] {
                ensure(hour < 24, field, hour, "an hour of the day, 0 to 23").map_err(within)?;
            }
            ensure(
                window.start_hour != window.end_hour,
                "off_peak.end_hour",
                window.end_hour,
                "an hour other than start_hour",
            )
            .map_err(within)?;
        }
        self.reservation
            .validate()
            .map_err(|e| e.within("scheduler.reservation"))
    }
}

impl MonitorConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        let within = |e: ValidationError| e.within("monitor");
        ensure(
            self.sample_every_secs.is_finite() && self.sample_every_secs > 0.0,
            "sample_every_secs",
            self.sample_every_secs,
            "a positive number of seconds",
        )
        .map_err(within)?;
        ensure(
            self.window >= 2,
            "window",
            self.window,
            "at least 2 samples",
        )
        .map_err(within)?;
        ensure(
            self.horizon_secs.is_finite() && self.horizon_secs >= 0.0,
            "horizon_secs",
            self.horizon_secs,
            "zero or more seconds",
        )
        .map_err(within)?;
        self.autoscale_config(1, 1).validate().map_err(within)
    }
}

fn unique_ids<'a>(
    ids: impl Iterator<Item = &'a str>,
    list: &str,
    problems: &mut Vec<ValidationError>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id.to_owned()) {
            problems.push(ValidationError::new(
                format!("{list}[{i}].id"),
                format!("{id:?}"),
                "an id not used before in this list",
            ));
        }
    }
    seen
}

fn check_ref(
    known: &BTreeSet<String>,
    id: &str,
    field: &str,
    list: &str,
    problems: &mut Vec<ValidationError>,
) {
    if !known.contains(id) {
        let names: Vec<&str> = known.iter().map(String::as_str).collect();
        problems.push(ValidationError::new(
            field,
            format!("{id:?}"),
            format!("the id of one of the {list} ({})", names.join(", ")),
        ));
    }
}

/// Turns a model error's owner (`pool[gpt4]`) into the scenario path (`pools[0]`).
fn reindex(mut error: ValidationError, owner: &str, path: &str) -> ValidationError {
    if let Some(rest) = error.field.strip_prefix(owner) {
        error.field = format!("{path}{rest}");
    }
    error
}
