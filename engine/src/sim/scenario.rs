//! The scenario file: what to replay. RON, documented field by field in
//! `scenarios/README.md`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::arrival::Arrivals;
use super::distribution::Distribution;
use super::trace::Trace;
use crate::config::MonitorSettings;
pub use crate::config::{MonitorConfig, OffPeak, SchedulerConfig};
use crate::model::{
    Client, ClientId, Money, Pool, PoolId, PoolKind, Quota, QuotaId, QuotaScope, RequestClass,
    Resource, ResourceId, Timestamp, ValidationError, ensure,
};

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
    /// Recorded traffic replayed as it arrived (`qm trace export` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
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
    /// Sets a quota whole: a new one, or every field of one already set.
    Quota {
        quota: Quota,
    },
    /// Credit paid into a client's account.
    TopUp {
        client: ClientId,
        amount: Money,
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
        let monitor = MonitorSettings::try_from(&self.monitor);
        if let Err(e) = &monitor {
            problems.push(e.clone());
        }

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
            if let (Some(bounds), Ok(monitor)) = (pool.autoscale, &monitor) {
                let config = monitor.autoscale(bounds.min, bounds.max);
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
                Action::Quota { quota } => {
                    if let Err(e) = quota.validate() {
                        problems.push(e.within(format!("{field}.quota")));
                    }
                    if let QuotaScope::Client(client) = &quota.scope {
                        check_ref(
                            &client_ids,
                            client.as_str(),
                            &format!("{field}.quota.scope"),
                            "clients",
                            &mut problems,
                        );
                    }
                }
                Action::TopUp { client, amount } => {
                    check_ref(
                        &client_ids,
                        client.as_str(),
                        &format!("{field}.client"),
                        "clients",
                        &mut problems,
                    );
                    if amount.is_negative() {
                        problems.push(ValidationError::new(
                            format!("{field}.amount"),
                            amount,
                            "zero or more",
                        ));
                    }
                }
            }
        }
        if let Some(trace) = &self.trace {
            let pools = pool_ids.iter().map(String::as_str).collect();
            let clients = client_ids.iter().map(String::as_str).collect();
            trace.problems(&pools, &clients, &mut problems);
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
