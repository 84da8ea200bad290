//! The report of a run: per client and class, per pool, costs, events, fairness; printed
//! for people, written as JSON for programs.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use super::arrival::Arrivals;
use super::distribution::Distribution;
use super::scenario::Scenario;
use super::trace::{Decision, TraceTally};
use crate::actors::{
    AlertSummary, ClientStats, LedgerView, PoolHistory, ResourceUse, Sample, ScalingEvent, Snapshot,
};
use crate::model::{Alert, AlertKind, AlertLevel, Booking, Money, PoolKind, Timestamp};
use crate::policy::admission::RefusalReason;
use crate::policy::ledger::CostSummary;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub requests: u64,
    pub totals: Tally,
    pub clients: Vec<ClientReport>,
    pub pools: Vec<PoolReport>,
    pub costs: CostSummary,
    pub events: BTreeMap<std::borrow::Cow<'static, str>, u64>,
    pub starvation_events: u64,
    /// Alerts the monitor raised, by kind and level, and the list it kept.
    pub alerts: AlertReport,
    pub still_queued: usize,
    /// Jain's index over clients' admitted fractions: 1 when every client is served alike.
    pub fairness_jain: f64,
    pub erlang_c: Option<ErlangCheck>,
    /// Present when the scenario has booking streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bookings: Option<BookingReport>,
    pub series: Vec<Sample>,
    /// Present when the scenario replays a trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceTally>,
    /// What was decided about each traced request, in trace order (not in the JSON).
    #[serde(skip)]
    pub decisions: Vec<Decision>,
    /// Wall-clock facts of this replay; excluded from the determinism guarantee.
    #[serde(skip)]
    pub wall: Duration,
}

/// The alerts of a run: every one raised is counted; the list holds those still open at
/// the end and the latest resolved ones (`monitor.alerts.history`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertReport {
    pub raised: u64,
    pub by_kind: BTreeMap<AlertKind, u64>,
    pub by_level: BTreeMap<AlertLevel, u64>,
    pub open_at_end: u64,
    pub list: Vec<Alert>,
}

impl AlertReport {
    pub fn new(summary: AlertSummary, list: Vec<Alert>) -> Self {
        AlertReport {
            raised: summary.raised.by_kind.values().sum(),
            by_kind: summary.raised.by_kind,
            by_level: summary.raised.by_level,
            open_at_end: summary.open_by_level.values().sum(),
            list,
        }
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "
Alerts: {} raised",
            self.raised
        );
        if self.raised == 0 {
            return;
        }
        let levels: Vec<String> = self
            .by_level
            .iter()
            .map(|(level, n)| format!("{level} {n}"))
            .collect();
        let _ = writeln!(out, "  by level: {}", levels.join(", "));
        for (kind, n) in &self.by_kind {
            let _ = writeln!(out, "  {:<20} {n}", kind.as_str());
        }
        let open: Vec<&Alert> = self.list.iter().filter(|a| a.is_open()).collect();
        if !open.is_empty() {
            let _ = writeln!(out, "  open at the end: {}", self.open_at_end);
            for alert in open.iter().take(5) {
                let _ = writeln!(out, "    [{}] {}", alert.level, alert.message);
            }
            if open.len() > 5 {
                let _ = writeln!(out, "    … and {} more", self.open_at_end - 5);
            }
        }
    }
}

/// Counts and waits of a set of requests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub submitted: u64,
    pub admitted: u64,
    pub completed: u64,
    pub downgraded: u64,
    pub refused: BTreeMap<&'static str, u64>,
    pub spend: Money,
    pub wait: WaitStats,
    /// Completed per second of virtual time.
    pub throughput_per_sec: f64,
}

/// Waiting time from submission to dispatch, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WaitStats {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    pub client: String,
    pub totals: Tally,
    pub classes: BTreeMap<&'static str, Tally>,
    /// Present when some of the client's requests were batched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batched: Option<BatchTally>,
}

/// Requests that left in batches: each batch was one dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BatchTally {
    pub batches: u64,
    pub members: u64,
}

/// Booking attempts and what they came to.
#[derive(Debug, Clone, Serialize)]
pub struct BookingReport {
    pub attempts: u64,
    pub booked: u64,
    pub refused: BookingRefusals,
    /// What bookings were charged (also under `costs.by_type.booking`).
    pub spend: Money,
    /// Each resource's bookings, booked hours and utilisation over the run.
    pub resources: Vec<ResourceUse>,
    /// Every booking made, in the order made.
    pub list: Vec<Booking>,
}

/// Attempts that no resource took, by the most hopeful reason among the resources tried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BookingRefusals {
    /// Every free resource was booked at that time.
    pub conflict: u64,
    /// The slot was longer than the resources' `max_booking_hours`.
    pub too_long: u64,
    /// The resources were in maintenance or offline.
    pub unavailable: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolReport {
    pub pool: String,
    pub final_size: f64,
    pub mean_utilisation: f64,
    pub peak_utilisation: f64,
    pub scaling: Vec<ScalingEvent>,
    /// Mean absolute error of the utilisation forecasts that came due.
    pub prediction_mae: Option<f64>,
}

/// The measured mean wait of an M/M/c pool beside the Erlang C formula.
#[derive(Debug, Clone, Serialize)]
pub struct ErlangCheck {
    pub pool: String,
    pub servers: u32,
    pub arrival_rate: f64,
    pub service_rate: f64,
    pub utilisation: f64,
    pub expected_mean_wait: f64,
    pub measured_mean_wait: f64,
    pub relative_error: f64,
}

pub(super) struct Inputs<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    pub requests: u64,
    pub clients: Vec<ClientStats>,
    pub pools: Vec<PoolHistory>,
    pub samples: Vec<Sample>,
    pub ledger: LedgerView,
    pub bookings: Option<BookingReport>,
    pub final_snapshot: Snapshot,
    pub alerts: AlertReport,
    pub wall: Duration,
    pub ended_at: Timestamp,
    pub traced: Option<(TraceTally, Vec<Decision>)>,
}

pub(super) fn build(inputs: Inputs<'_>) -> Report {
    let scenario = inputs.scenario;
    let span = scenario.duration_secs;
    let mut totals = Accumulator::default();
    let mut clients = Vec::new();
    let mut fractions = Vec::new();
    for stats in &inputs.clients {
        let mut client_total = Accumulator::default();
        let mut classes = BTreeMap::new();
        for (class, class_stats) in &stats.classes {
            if class_stats.submitted == 0 {
                continue;
            }
            let mut one = Accumulator::default();
            one.add(class_stats);
            client_total.add(class_stats);
            totals.add(class_stats);
            classes.insert(class.as_str(), one.tally(span));
        }
        if client_total.submitted > 0 {
            fractions.push(client_total.admitted as f64 / client_total.submitted as f64);
        }
        clients.push(ClientReport {
            client: stats.client.to_string(),
            totals: client_total.tally(span),
            classes,
            batched: (stats.batches > 0).then_some(BatchTally {
                batches: stats.batches,
                members: stats.batch_members,
            }),
        });
    }
    let pools = inputs
        .pools
        .iter()
        .enumerate()
        .map(|(i, history)| {
            let utilisation: Vec<f64> = inputs
                .samples
                .iter()
                .filter_map(|s| s.pools.get(i))
                .map(|p| p.utilisation)
                .collect();
            let errors: Vec<f64> = inputs
                .samples
                .iter()
                .filter_map(|s| s.pools.get(i))
                .filter_map(|p| p.predicted.map(|pred| (pred - p.utilisation).abs()))
                .collect();
            PoolReport {
                pool: history.pool.to_string(),
                final_size: history.size,
                mean_utilisation: mean(&utilisation),
                peak_utilisation: utilisation.iter().copied().fold(0.0, f64::max),
                scaling: history.scaling.clone(),
                prediction_mae: (!errors.is_empty()).then(|| mean(&errors)),
            }
        })
        .collect();
    let totals = totals.tally(span);
    let refused = totals.refused.values().sum::<u64>();
    let erlang_c = (refused == 0)
        .then(|| erlang_check(scenario, totals.wait.mean))
        .flatten();
    Report {
        scenario: scenario.name.clone(),
        seed: inputs.seed,
        started_at: scenario.start,
        ended_at: inputs.ended_at,
        requests: inputs.requests,
        totals,
        clients,
        pools,
        costs: inputs.ledger.costs,
        starvation_events: inputs
            .ledger
            .event_counts
            .get("request.starving")
            .copied()
            .unwrap_or(0),
        events: inputs.ledger.event_counts,
        alerts: inputs.alerts,
        still_queued: inputs.final_snapshot.queued.iter().sum(),
        fairness_jain: jain(&fractions),
        erlang_c,
        bookings: inputs.bookings,
        series: inputs.samples,
        wall: inputs.wall,
        trace: inputs.traced.as_ref().map(|(tally, _)| tally.clone()),
        decisions: inputs.traced.map(|(_, d)| d).unwrap_or_default(),
    }
}

#[derive(Default)]
struct Accumulator {
    submitted: u64,
    admitted: u64,
    completed: u64,
    downgraded: u64,
    refused: [u64; RefusalReason::ALL.len()],
    spend: Money,
    waits: Option<hdrhistogram::Histogram<u64>>,
    wait_sum_micros: u128,
}

impl Accumulator {
    fn add(&mut self, stats: &crate::actors::ClientStatsClass) {
        self.submitted += stats.submitted;
        self.admitted += stats.admitted;
        self.completed += stats.completed;
        self.downgraded += stats.downgraded;
        for (total, n) in self.refused.iter_mut().zip(stats.refused) {
            *total += n;
        }
        self.spend += stats.spend;
        self.wait_sum_micros += stats.wait_sum_micros;
        match &mut self.waits {
            Some(h) => {
                let _ = h.add(&stats.waits);
            }
            None => self.waits = Some(stats.waits.clone()),
        }
    }

    fn tally(&self, span_secs: f64) -> Tally {
        let secs = |micros: u64| micros as f64 / 1e6;
        let wait = match &self.waits {
            Some(h) if self.admitted > 0 => WaitStats {
                mean: self.wait_sum_micros as f64 / self.admitted as f64 / 1e6,
                p50: secs(h.value_at_quantile(0.50)),
                p95: secs(h.value_at_quantile(0.95)),
                p99: secs(h.value_at_quantile(0.99)),
                max: secs(h.max()),
            },
            _ => WaitStats::default(),
        };
        Tally {
            submitted: self.submitted,
            admitted: self.admitted,
            completed: self.completed,
            downgraded: self.downgraded,
            refused: RefusalReason::ALL
                .iter()
                .zip(self.refused)
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| (r.as_str(), n))
                .collect(),
            spend: self.spend,
            wait,
            throughput_per_sec: self.completed as f64 / span_secs,
        }
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Jain's fairness index: (Σx)² / (n·Σx²).
pub fn jain(values: &[f64]) -> f64 {
    let sum: f64 = values.iter().sum();
    let squares: f64 = values.iter().map(|x| x * x).sum();
    if squares == 0.0 {
        1.0
    } else {
        sum * sum / (values.len() as f64 * squares)
    }
}

/// Erlang C mean wait in queue for `servers` servers, arrival rate λ and service rate μ.
pub fn erlang_c_mean_wait(servers: u32, arrival_rate: f64, service_rate: f64) -> Option<f64> {
    let c = f64::from(servers);
    let a = arrival_rate / service_rate;
    let rho = a / c;
    if rho.is_nan() || rho >= 1.0 || servers == 0 {
        return None;
    }
    // Σ_{k<c} a^k/k!, computed term by term to stay stable for large c.
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..servers {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / c;
    let waiting_probability = last / (1.0 - rho) / (sum + last / (1.0 - rho));
    Some(waiting_probability / (c * service_rate - arrival_rate))
}

/// Relaxation times a run must last for its mean wait to be compared with Erlang C.
const SETTLED_AFTER: f64 = 10.0;

/// The Erlang C check applies when the scenario is an M/M/c queue: one slot pool without
/// autoscaling, Poisson arrivals, exponential service, one slot per request, one class, no
/// batching, nothing refused (the caller checks that), and a run long enough to reach the
/// steady state the formula describes: at least [`SETTLED_AFTER`] relaxation times.
fn erlang_check(scenario: &Scenario, measured_mean_wait: f64) -> Option<ErlangCheck> {
    let [pool] = scenario.pools.as_slice() else {
        return None;
    };
    let PoolKind::Slot { slots, .. } = pool.kind else {
        return None;
    };
    if pool.autoscale.is_some() || !scenario.events.is_empty() || !scenario.quotas.is_empty() {
        return None;
    }
    let mut arrival_rate = 0.0;
    let mut mean_service = None;
    let mut classes = scenario
        .workloads
        .iter()
        .flat_map(|w| w.kinds.iter().map(|k| k.class));
    let first_class = classes.next()?;
    if classes.any(|class| class != first_class) {
        return None;
    }
    for workload in &scenario.workloads {
        let Arrivals::Poisson { rate_per_sec } = workload.arrivals else {
            return None;
        };
        arrival_rate += rate_per_sec;
        for kind in &workload.kinds {
            let Distribution::Exponential { mean } = kind.service_secs else {
                return None;
            };
            if kind.needs.len() != 1
                || kind.needs[0].amount != Distribution::Constant(1.0)
                || kind.batch.is_some()
            {
                return None;
            }
            if mean_service.is_some_and(|m| m != mean) {
                return None;
            }
            mean_service = Some(mean);
        }
    }
    let service_rate = 1.0 / mean_service?;
    let expected = erlang_c_mean_wait(slots, arrival_rate, service_rate)?;
    let utilisation = arrival_rate / (service_rate * f64::from(slots));
    // The queue's relaxation time in heavy traffic, 1 / (cμ (1 − √ρ)²): a queue that
    // starts empty needs several of them before its mean wait approaches Erlang C's.
    let relaxation_secs =
        1.0 / (f64::from(slots) * service_rate * (1.0 - utilisation.sqrt()).powi(2));
    let offered_secs = scenario.max_requests.map_or(scenario.duration_secs, |n| {
        scenario.duration_secs.min(n as f64 / arrival_rate)
    });
    if offered_secs < SETTLED_AFTER * relaxation_secs {
        return None;
    }
    Some(ErlangCheck {
        pool: pool.id.to_string(),
        servers: slots,
        arrival_rate,
        service_rate,
        utilisation,
        expected_mean_wait: expected,
        measured_mean_wait,
        relative_error: (measured_mean_wait - expected) / expected,
    })
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// Replayed requests per second of wall time.
    pub fn replay_rate(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// The summary for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let t = &self.totals;
        let _ = writeln!(out, "Scenario {} (seed {})", self.scenario, self.seed);
        let _ = writeln!(
            out,
            "  virtual time {} → {}",
            self.started_at, self.ended_at
        );
        let _ = writeln!(
            out,
            "  {} requests replayed in {:.2} s of wall time ({:.0} requests/s)",
            self.requests,
            self.wall.as_secs_f64(),
            self.replay_rate()
        );
        let _ = writeln!(out, "\nRequests");
        let _ = writeln!(
            out,
            "  {:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12}",
            "client / class",
            "submitted",
            "admitted",
            "done",
            "refused",
            "wait p50",
            "p95",
            "p99",
            "max",
            "spend"
        );
        let row = |out: &mut String, name: &str, t: &Tally| {
            let refused: u64 = t.refused.values().sum();
            let _ = writeln!(
                out,
                "  {:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12}",
                name,
                t.submitted,
                t.admitted,
                t.completed,
                refused,
                fmt_secs(t.wait.p50),
                fmt_secs(t.wait.p95),
                fmt_secs(t.wait.p99),
                fmt_secs(t.wait.max),
                t.spend.to_string()
            );
        };
        for client in &self.clients {
            row(&mut out, &client.client, &client.totals);
            if client.classes.len() > 1 {
                for (class, tally) in &client.classes {
                    row(&mut out, &format!("  {class}"), tally);
                }
            }
        }
        row(&mut out, "all", t);
        if !t.refused.is_empty() {
            let reasons: Vec<String> = t.refused.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let _ = writeln!(out, "  refused by reason: {}", reasons.join(", "));
        }
        if t.downgraded > 0 {
            let _ = writeln!(
                out,
                "  downgraded to a cheaper alternative: {}",
                t.downgraded
            );
        }
        for client in &self.clients {
            if let Some(batched) = client.batched {
                let _ = writeln!(
                    out,
                    "  batched: {} sent {} requests in {} batches",
                    client.client, batched.members, batched.batches
                );
            }
        }
        let _ = writeln!(out, "\nPools");
        for pool in &self.pools {
            let mae = pool
                .prediction_mae
                .map_or("-".to_owned(), |e| format!("{e:.3}"));
            let _ = writeln!(
                out,
                "  {:<18} utilisation mean {:>5.1}% peak {:>5.1}%  size {}  scaled {}×  forecast error {}",
                pool.pool,
                pool.mean_utilisation * 100.0,
                pool.peak_utilisation * 100.0,
                pool.final_size,
                pool.scaling.len(),
                mae
            );
        }
        if let Some(bookings) = &self.bookings {
            bookings.render(&mut out);
        }
        let _ = writeln!(out, "\nCosts: total {}", self.costs.total);
        for (client, amount) in &self.costs.by_client {
            let _ = writeln!(out, "  {client:<18} {amount}");
        }
        let _ = writeln!(out, "\nEvents");
        if self.events.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for (name, count) in &self.events {
            let _ = writeln!(out, "  {name:<20} {count}");
        }
        self.alerts.render(&mut out);
        let _ = writeln!(
            out,
            "\nFairness (Jain, admitted fraction per client): {:.3}",
            self.fairness_jain
        );
        if self.still_queued > 0 {
            let _ = writeln!(out, "Still queued at the end: {}", self.still_queued);
        }
        if let Some(check) = &self.erlang_c {
            let _ = writeln!(
                out,
                "\nM/M/{} check on pool {} (λ={}/s, μ={}/s, ρ={:.2})\n  mean wait measured {:.4} s, Erlang C {:.4} s ({:+.2}%)",
                check.servers,
                check.pool,
                check.arrival_rate,
                check.service_rate,
                check.utilisation,
                check.measured_mean_wait,
                check.expected_mean_wait,
                check.relative_error * 100.0
            );
        }
        out
    }
}

impl BookingReport {
    fn render(&self, out: &mut String) {
        let r = &self.refused;
        let _ = writeln!(
            out,
            "\nBookings: {} attempts, {} booked; refused: conflict {}, too long {}, unavailable {}; spend {}",
            self.attempts, self.booked, r.conflict, r.too_long, r.unavailable, self.spend
        );
        for resource in &self.resources {
            let _ = writeln!(
                out,
                "  {:<18} {:>5} booked {:>9.1} h  utilisation {:>5.1}%  spend {}",
                resource.resource.as_str(),
                resource.bookings,
                resource.booked_hours,
                resource.utilisation * 100.0,
                resource.spend
            );
        }
    }
}

impl Report {
    /// Writes `series.csv`: one row per sample with each pool's utilisation, size and
    /// forecast, the queue depth, running count and cumulative spend.
    pub fn write_csv(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut out = String::from("at_secs,queued,running,spent");
        for pool in &self.pools {
            let _ = write!(out, ",{0}_utilisation,{0}_size,{0}_predicted", pool.pool);
        }
        out.push('\n');
        for sample in &self.series {
            let _ = write!(
                out,
                "{:.3},{},{},{}",
                sample.at.since(self.started_at).as_secs_f64(),
                sample.queued,
                sample.running,
                sample.spent.as_f64()
            );
            for pool in &sample.pools {
                let predicted = pool.predicted.map_or(String::new(), |p| format!("{p:.4}"));
                let _ = write!(out, ",{:.4},{},{}", pool.utilisation, pool.size, predicted);
            }
            out.push('\n');
        }
        std::fs::write(dir.join("series.csv"), out)
    }
}

fn fmt_secs(secs: f64) -> String {
    if secs == 0.0 {
        "0".to_owned()
    } else if secs < 1.0 {
        format!("{:.0}ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.1}s")
    } else {
        format!("{:.1}m", secs / 60.0)
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub(super) struct Progress {
    total_secs: f64,
    enabled: bool,
}

impl Progress {
    pub fn new(total_secs: f64) -> Self {
        Progress {
            total_secs,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&self, virtual_secs: f64, requests: u64) {
        if !self.enabled {
            return;
        }
        let fraction = (virtual_secs / self.total_secs).clamp(0.0, 1.0);
        let filled = (fraction * 30.0) as usize;
        let _ = write!(
            std::io::stderr(),
            "\r[{}{}] {:>3.0}%  {} requests",
            "#".repeat(filled),
            " ".repeat(30 - filled),
            fraction * 100.0,
            requests
        );
    }

    pub fn finish(&self) {
        if self.enabled {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_known_values() {
        // M/M/1: Wq = ρ / (μ − λ).
        let wq = erlang_c_mean_wait(1, 0.8, 1.0).unwrap();
        assert!((wq - 4.0).abs() < 1e-12);
        // M/M/2, λ=1.6, μ=1 (ρ=0.8): P(wait)=0.7111…, Wq = 0.7111/0.4 = 1.7778.
        let wq = erlang_c_mean_wait(2, 1.6, 1.0).unwrap();
        assert!((wq - 1.777_777_8).abs() < 1e-6, "{wq}");
        assert!(erlang_c_mean_wait(2, 2.0, 1.0).is_none());
    }

    #[test]
    fn jain_index_is_one_when_equal_and_one_over_n_when_one_gets_all() {
        assert!((jain(&[0.5, 0.5, 0.5]) - 1.0).abs() < 1e-12);
        assert!((jain(&[1.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
    }
}
