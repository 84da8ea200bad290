//! The `trace` workload: recorded traffic as explicit arrivals (one tuple each), with what
//! each request really did once started (its service time and actual cost) so a replay
//! under changed settings can hold it as long as it really ran.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{ClientId, Money, PoolId, RequestClass, Timestamp, ValidationError};

/// Recorded traffic (`trace: (...)` in a scenario).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// Where it was recorded (the database `qm trace export` read), for people.
    #[serde(default)]
    pub source: String,
    /// The instant the recording fleet's queue measured waiting from (a live engine
    /// replayed from its first command: the epoch). Only ties between equal scores can
    /// depend on it; without it the run's start is used.
    #[serde(default)]
    pub origin: Option<Timestamp>,
    /// Seconds from the start at which the live monitor sampled; without them the monitor
    /// samples every `monitor.sample_every_secs` as in any scenario.
    #[serde(default)]
    pub ticks: Option<Vec<f64>>,
    /// The requests, in order of arrival.
    pub arrivals: Vec<TraceArrival>,
}

/// One recorded request: `(at_secs, client, class, urgency, needs, estimate, outcome, extra)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceArrival(
    /// Seconds from the scenario's start.
    pub f64,
    pub ClientId,
    pub RequestClass,
    /// Urgency, 0 to 1.
    pub f64,
    /// Needs: `(pool, amount)`.
    pub Vec<(PoolId, u64)>,
    /// The estimate it was submitted with.
    pub Option<Money>,
    pub Recorded,
    /// A cheaper alternative or a batch group, when it had one.
    pub Option<Box<TraceExtra>>,
);

/// What a recorded request did live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recorded {
    /// Started and completed: held its pools this many seconds, cost this much (if the
    /// completion reported it).
    Done(f64, Option<Money>),
    /// Cancelled (or its lease expired) at this many seconds from the scenario's start.
    Cancelled(f64),
    /// Refused live for this reason: no service time was ever observed.
    Refused(String),
    /// Still queued or running when the recording ended.
    Open,
}

/// Needs written as `(pool, amount)` pairs.
pub type TraceNeeds = Vec<(PoolId, u64)>;

/// The rarer parts of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceExtra {
    /// Needs of the cheaper alternative and its estimate.
    #[serde(default)]
    pub alternative: Option<(TraceNeeds, Option<Money>)>,
    /// The batch group: `(name, max_size, max_wait_secs)`.
    #[serde(default)]
    pub batch: Option<(String, u32, f64)>,
}

impl TraceArrival {
    pub fn at_secs(&self) -> f64 {
        self.0
    }
    pub fn client(&self) -> &ClientId {
        &self.1
    }
    pub fn recorded(&self) -> &Recorded {
        &self.6
    }
}

/// How a replay holds a traced request once it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hold {
    /// For this long, then it completes with this actual cost.
    For(Duration, Option<Money>),
    /// Until it is cancelled at this instant (or forever, if never).
    Until(Option<Timestamp>),
}

impl Trace {
    /// The problems of the trace; `pools` and `clients` are the scenario's ids.
    pub fn problems(
        &self,
        pools: &BTreeSet<&str>,
        clients: &BTreeSet<&str>,
        problems: &mut Vec<ValidationError>,
    ) {
        let known = |set: &BTreeSet<&str>| set.iter().copied().collect::<Vec<_>>().join(", ");
        let mut last = 0.0;
        for (i, arrival) in self.arrivals.iter().enumerate() {
            // Past a few problems the rest are usually the same mistake.
            if problems.len() >= 20 {
                return;
            }
            // Field names are built only for a problem: a trace has a million arrivals.
            let at = |part: &str| format!("trace.arrivals[{i}].{part}");
            let TraceArrival(when, client, _, urgency, needs, estimate, recorded, extra) = arrival;
            if !(when.is_finite() && *when >= last) {
                problems.push(ValidationError::new(
                    at("0"),
                    when,
                    format!(
                        "seconds from the start, zero or more and not before the previous arrival ({last})"
                    ),
                ));
            } else {
                last = *when;
            }
            if !clients.contains(client.as_str()) {
                problems.push(ValidationError::new(
                    at("1"),
                    client,
                    format!("the id of a client of the scenario ({})", known(clients)),
                ));
            }
            if !(urgency.is_finite() && (0.0..=1.0).contains(urgency)) {
                problems.push(ValidationError::new(
                    at("3"),
                    urgency,
                    "a number between 0 and 1",
                ));
            }
            let check_needs =
                |part: &str, needs: &[(PoolId, u64)], problems: &mut Vec<ValidationError>| {
                    if needs.is_empty() {
                        problems.push(ValidationError::new(
                            at(part),
                            "[]",
                            "at least one (pool, amount)",
                        ));
                    }
                    for (pool, amount) in needs {
                        if !pools.contains(pool.as_str()) {
                            problems.push(ValidationError::new(
                                at(part),
                                pool,
                                format!("the id of a pool of the scenario ({})", known(pools)),
                            ));
                        }
                        if *amount == 0 {
                            problems.push(ValidationError::new(
                                at(part),
                                amount,
                                "an amount of at least 1",
                            ));
                        }
                    }
                };
            check_needs("4", needs, problems);
            if let Some(cost) = estimate.filter(|c| c.is_negative()) {
                problems.push(ValidationError::new(at("5"), cost, "zero or more"));
            }
            match recorded {
                Recorded::Done(service, actual) => {
                    if !(service.is_finite() && *service >= 0.0) {
                        problems.push(ValidationError::new(
                            at("6"),
                            service,
                            "a service time of zero or more seconds",
                        ));
                    }
                    if let Some(cost) = actual.filter(|c| c.is_negative()) {
                        problems.push(ValidationError::new(
                            at("6"),
                            cost,
                            "an actual cost of zero or more",
                        ));
                    }
                }
                Recorded::Cancelled(t) if !(t.is_finite() && *t >= *when) => {
                    problems.push(ValidationError::new(
                        at("6"),
                        t,
                        format!("the instant it was cancelled, not before its arrival ({when})"),
                    ));
                }
                _ => {}
            }
            if let Some(extra) = extra {
                if let Some((needs, _)) = &extra.alternative {
                    check_needs("7.alternative", needs, problems);
                }
                if let Some((name, size, wait)) = &extra.batch
                    && (name.trim().is_empty() || *size < 2 || !(wait.is_finite() && *wait >= 0.0))
                {
                    problems.push(ValidationError::new(
                        at("7.batch"),
                        format!("({name:?}, {size}, {wait})"),
                        "a name, a max_size of at least 2 and a max_wait_secs of zero or more",
                    ));
                }
            }
        }
        for (t, tick) in self.ticks.iter().flatten().enumerate() {
            if !(tick.is_finite() && *tick >= 0.0) {
                problems.push(ValidationError::new(
                    format!("trace.ticks[{t}]"),
                    tick,
                    "zero or more seconds",
                ));
                break;
            }
        }
    }

    /// How each arrival is held once started. A request refused live never showed its
    /// service time: it is given the median of the completed requests of its client and
    /// class (of its client, else of all), and counted in the second number.
    pub fn holds(&self, start: Timestamp) -> (Vec<Hold>, u64) {
        let mut by_kind: BTreeMap<(&str, RequestClass), Vec<f64>> = BTreeMap::new();
        let mut by_client: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        let mut all = Vec::new();
        for a in &self.arrivals {
            if let Recorded::Done(service, _) = a.6 {
                by_kind
                    .entry((a.1.as_str(), a.2))
                    .or_default()
                    .push(service);
                by_client.entry(a.1.as_str()).or_default().push(service);
                all.push(service);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        let by_kind: BTreeMap<_, _> = by_kind
            .into_iter()
            .filter_map(|(k, mut v)| median(&mut v).map(|m| (k, m)))
            .collect();
        let by_client: BTreeMap<_, _> = by_client
            .into_iter()
            .filter_map(|(k, mut v)| median(&mut v).map(|m| (k, m)))
            .collect();
        let all = median(&mut all);
        let mut assumed = 0;
        let holds = self
            .arrivals
            .iter()
            .map(|a| match &a.6 {
                Recorded::Done(service, actual) => Hold::For(exact(*service), *actual),
                Recorded::Cancelled(at) => Hold::Until(Some(start + exact(*at))),
                Recorded::Open => Hold::Until(None),
                Recorded::Refused(_) => {
                    let guess = by_kind
                        .get(&(a.1.as_str(), a.2))
                        .or_else(|| by_client.get(a.1.as_str()))
                        .copied()
                        .or(all);
                    match guess {
                        Some(service) => {
                            assumed += 1;
                            Hold::For(exact(service), None)
                        }
                        None => Hold::Until(None),
                    }
                }
            })
            .collect();
        (holds, assumed)
    }
}

/// What a replay decided about one traced request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decision {
    pub started_at: Option<Timestamp>,
    pub downgraded: bool,
    /// Why it was refused (`quota`, `credit`, `capacity`, ...).
    pub refused: Option<String>,
    /// What its reservation settled at, once it finished.
    pub charged: Option<Money>,
}

/// The trace's part of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TraceTally {
    pub arrivals: u64,
    pub started: u64,
    pub refused: u64,
    /// Started requests whose service time was not recorded (refused live), held for the
    /// median of like requests.
    pub assumed_service: u64,
}

impl TraceTally {
    pub fn new(decisions: &[Decision], assumed_service: u64) -> Self {
        TraceTally {
            arrivals: decisions.len() as u64,
            started: decisions.iter().filter(|d| d.started_at.is_some()).count() as u64,
            refused: decisions.iter().filter(|d| d.refused.is_some()).count() as u64,
            assumed_service,
        }
    }
}

/// Seconds as written in a trace, to the nearest nanosecond (a span recorded in
/// nanoseconds comes back exactly for spans up to about ten days).
pub fn exact(secs: f64) -> Duration {
    Duration::from_nanos((secs.max(0.0) * 1e9).round() as u64)
}

/// Nanoseconds as trace seconds.
pub fn to_secs(span: Duration) -> f64 {
    span.as_nanos() as f64 / 1e9
}

/// A scenario as RON, its trace written one arrival a line (compact and quick to read
/// back: a million arrivals are some 60 MB).
pub fn to_ron(scenario: &super::Scenario) -> Result<String, ron::Error> {
    let mut head = scenario.clone();
    let trace = head.trace.take();
    let mut text = ron::ser::to_string_pretty(&head, ron::ser::PrettyConfig::new())?;
    let Some(trace) = trace else {
        return Ok(text);
    };
    let close = text.rfind(')').unwrap_or(text.len());
    text.truncate(close);
    let trimmed = text.trim_end().len();
    text.truncate(trimmed);
    if !text.ends_with(',') && !text.ends_with('(') {
        text.push(',');
    }
    text.push_str("\n    trace: (\n");
    text.push_str(&format!(
        "        source: {},\n",
        ron::to_string(&trace.source)?
    ));
    if let Some(origin) = trace.origin {
        text.push_str(&format!(
            "        origin: Some({}),\n",
            ron::to_string(&origin)?
        ));
    }
    if let Some(ticks) = &trace.ticks {
        text.push_str(&format!(
            "        ticks: Some({}),\n",
            ron::to_string(ticks)?
        ));
    }
    text.push_str(
        "        // (at_secs, client, class, urgency, [(pool, amount)], estimate, outcome, extra)\n",
    );
    text.push_str("        arrivals: [\n");
    for arrival in &trace.arrivals {
        text.push_str("            ");
        text.push_str(&ron::to_string(arrival)?);
        text.push_str(",\n");
    }
    text.push_str("        ],\n    ),\n)\n");
    Ok(text)
}
