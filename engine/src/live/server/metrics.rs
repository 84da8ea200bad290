//! `GET /metrics`: the engine in the OpenMetrics text format (which Prometheus scrapes), by
//! the `prometheus-client` crate.
//!
//! Two kinds of series. What happens over time (requests by outcome, their waits) is
//! counted as it happens, from the engine's event stream, by a task started with the
//! server ([`collect`]); the journal writer times its own commits. What stands now (pools,
//! queues, credit, quotas, open alerts) is read from the engine at each scrape. Names
//! follow Prometheus' conventions: base units in the name (`_seconds`, `_ratio`,
//! `_dollars`), counters ending in `_total`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{HttpResponse, web};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet, text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::broadcast::{self, error::RecvError};

use super::{ApiError, ServerState};
use crate::live::{CommitTimes, LiveEngine};
use crate::model::{BookingStatus, Event, EventKind, Money, RequestClass};
use crate::policy::booking::BookingFilter;

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Upper bounds (seconds) of the wait histogram: from an immediate start to a day's wait
/// for off-peak.
const WAIT_BUCKETS: [f64; 14] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3_600.0, 21_600.0, 86_400.0,
];

/// The series counted as events happen, since the server started.
#[derive(Debug)]
pub struct Collected {
    /// By `outcome` (queued, started, refused, finished, cancelled, expired) and, for
    /// refusals, `reason`.
    requests: Family<Labels, Counter>,
    /// From submission to start, of every started request.
    wait: Histogram,
    /// Events the collector missed because it fell behind the stream.
    missed: Counter,
}

impl Default for Collected {
    fn default() -> Self {
        Collected {
            requests: Family::default(),
            wait: Histogram::new(WAIT_BUCKETS),
            missed: Counter::default(),
        }
    }
}

impl Collected {
    fn count(&self, event: &Event) {
        let outcome = match &event.kind {
            EventKind::RequestQueued { .. } => "queued",
            EventKind::RequestStarted { waited_secs, .. } => {
                self.wait.observe(*waited_secs);
                "started"
            }
            EventKind::RequestRefused { reason, .. } => {
                let labels = vec![
                    ("outcome", "refused".to_owned()),
                    ("reason", reason.clone()),
                ];
                self.requests.get_or_create(&labels).inc();
                return;
            }
            EventKind::RequestFinished { .. } => "finished",
            EventKind::RequestCancelled { .. } => "cancelled",
            EventKind::RequestExpired { .. } => "expired",
            _ => return,
        };
        self.requests
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }
}

/// Counts the engine's events into `collected` until the stream closes.
pub async fn collect(mut events: broadcast::Receiver<Event>, collected: std::sync::Arc<Collected>) {
    loop {
        match events.recv().await {
            Ok(event) => collected.count(&event),
            Err(RecvError::Lagged(missed)) => {
                collected.missed.inc_by(missed);
                tracing::warn!(missed, "the metrics collector fell behind the event stream");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// The journal writer's commit latencies, as a histogram read when scraped.
#[derive(Debug)]
struct CommitHistogram(CommitTimes);

impl EncodeMetric for CommitHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        // The encoder sums per-bucket counts itself; the reading is cumulative.
        let mut below = 0;
        let buckets: Vec<(f64, u64)> = self
            .0
            .buckets
            .iter()
            .map(|&(bound, cumulative)| {
                let own = cumulative - below;
                below = cumulative;
                (bound, own)
            })
            .collect();
        encoder.encode_histogram::<NoLabelSet>(self.0.sum_secs, self.0.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

fn gauge(value: f64) -> FloatGauge {
    let gauge = FloatGauge::default();
    gauge.set(value);
    gauge
}

fn dollars(amount: Money) -> f64 {
    amount.as_f64()
}

/// A family of float gauges with one label, filled from `(label value, value)` pairs.
fn family(
    label: &'static str,
    values: impl IntoIterator<Item = (String, f64)>,
) -> Family<Labels, FloatGauge> {
    let family = Family::<Labels, FloatGauge>::default();
    for (key, value) in values {
        family.get_or_create(&vec![(label, key)]).set(value);
    }
    family
}

/// Everything the engine can say now, plus what was collected.
async fn registry(state: &ServerState) -> Result<Registry, ApiError> {
    let engine: &LiveEngine = &state.engine;
    let mut registry = Registry::default();
    let snapshot = engine.observe().await?;

    // Pools, in registration order.
    let ids: Vec<String> = snapshot
        .observed
        .pools
        .iter()
        .map(|p| p.pool.to_string())
        .collect();
    let utilisation = family(
        "pool",
        ids.iter()
            .cloned()
            .zip(snapshot.pools.iter().map(|(u, _)| *u)),
    );
    let size = family(
        "pool",
        ids.iter()
            .cloned()
            .zip(snapshot.pools.iter().map(|(_, s)| *s)),
    );
    let available = family(
        "pool",
        ids.iter().cloned().zip(snapshot.available.iter().copied()),
    );
    registry.register(
        "qm_pool_utilisation_ratio",
        "Fraction of each pool in use: busy slots, or tokens drawn from the bucket",
        utilisation,
    );
    registry.register(
        "qm_pool_size",
        "Slots of a slot pool, or bucket capacity (tokens) of a rate pool",
        size,
    );
    registry.register(
        "qm_pool_available",
        "What could be taken now: tokens in a rate pool's bucket, free slots of a slot pool",
        available,
    );

    // Queues.
    let depth = family(
        "class",
        RequestClass::ALL
            .iter()
            .map(|c| (c.to_string(), snapshot.queued[c.index()] as f64)),
    );
    registry.register("qm_queue_depth", "Requests waiting, by class", depth);
    registry.register(
        "qm_requests_running",
        "Requests holding pool capacity",
        gauge(snapshot.running as f64),
    );
    registry.register(
        "qm_requests",
        "Requests by outcome (queued, started, refused by reason, finished, cancelled, expired) since the server started",
        state.collected.requests.clone(),
    );
    registry.register(
        "qm_request_wait_seconds",
        "Time from submission to start of each started request",
        state.collected.wait.clone(),
    );
    registry.register(
        "qm_metrics_events_missed",
        "Engine events the metrics collector missed by falling behind",
        state.collected.missed.clone(),
    );

    // Clients: credit and spend.
    let (mut spent, mut left, mut reserved) = (Vec::new(), Vec::new(), Vec::new());
    for client in engine.clients().await {
        let Ok(balance) = engine.account(&client.id).await else {
            continue;
        };
        spent.push((client.id.to_string(), dollars(balance.spent)));
        left.push((client.id.to_string(), dollars(balance.available)));
        reserved.push((client.id.to_string(), dollars(balance.reserved)));
    }
    registry.register(
        "qm_client_spent_dollars",
        "Credit each client has spent (settled charges)",
        family("client", spent),
    );
    registry.register(
        "qm_client_credit_available_dollars",
        "Credit each client has left to reserve",
        family("client", left),
    );
    registry.register(
        "qm_client_credit_reserved_dollars",
        "Credit each client has reserved for running work",
        family("client", reserved),
    );
    registry.register(
        "qm_client_credit_used_ratio",
        "Spent and reserved credit over all the credit each client was given",
        family(
            "client",
            snapshot
                .observed
                .clients
                .iter()
                .map(|c| (c.client.to_string(), c.used_ratio)),
        ),
    );
    let quotas = Family::<Labels, FloatGauge>::default();
    for quota in &snapshot.observed.quotas {
        let scope = quota
            .client
            .as_ref()
            .map_or_else(String::new, |c| c.to_string());
        quotas
            .get_or_create(&vec![("quota", quota.quota.to_string()), ("client", scope)])
            .set(quota.usage_ratio);
    }
    registry.register(
        "qm_quota_usage_ratio",
        "Usage over allowance of each quota in its current period (client empty: global)",
        quotas,
    );

    // Alerts.
    let summary = engine.alert_summary().await?;
    registry.register(
        "qm_alerts_open",
        "Open alerts by level",
        family(
            "level",
            summary
                .open_by_level
                .iter()
                .map(|(level, n)| (level.to_string(), *n as f64)),
        ),
    );
    let raised = Family::<Labels, Counter>::default();
    for (kind, n) in &summary.raised.by_kind {
        raised
            .get_or_create(&vec![("kind", kind.to_string())])
            .inc_by(*n);
    }
    registry.register(
        "qm_alerts_raised",
        "Alerts raised since the engine opened, by kind",
        raised,
    );

    // The journal and the server.
    registry.register(
        "qm_journal_commit_seconds",
        "Time each journal commit (a group of changes made durable together) took",
        CommitHistogram(engine.commit_times()),
    );
    let confirmed = engine
        .bookings(BookingFilter {
            status: Some(BookingStatus::Confirmed),
            ..BookingFilter::default()
        })
        .await?
        .len();
    registry.register(
        "qm_bookings_confirmed",
        "Confirmed resource bookings",
        gauge(confirmed as f64),
    );
    let served = Counter::<u64>::default();
    served.inc_by(state.requests_served.load(Ordering::Relaxed));
    registry.register(
        "qm_http_requests",
        "HTTP requests received since the server started",
        served,
    );
    registry.register(
        "qm_uptime_seconds",
        "Seconds since the server started",
        gauge(state.started.elapsed().as_secs_f64()),
    );
    Ok(registry)
}

/// The OpenMetrics text exposition, version 1.0.0.
pub async fn metrics(state: web::Data<ServerState>) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state).await?;
    let mut body = String::new();
    text::encode(&mut body, &registry).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body))
}
