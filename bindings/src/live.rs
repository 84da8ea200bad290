//! The embedded live engine: each method blocks on the engine's future with the GIL
//! released, so Python threads (or `asyncio.to_thread`) can wait on it side by side.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::prelude::*;
use serde_json::json;
use tokio::runtime::Runtime;
use tokio::sync::broadcast;

use quartermaster::live::{LiveConfig, LiveEngine, LiveError, SubmitOutcome};
use quartermaster::model::{
    BookingId, ClientId, CostType, Event, Metadata, Metric, Money, PoolId, QuotaId, Request,
    RequestId, ReservationId, ResourceId, Timestamp, Usage,
};
use quartermaster::policy::alert::AlertFilter;
use quartermaster::policy::booking::BookingFilter;
use quartermaster::policy::ledger::CostFilter;
use quartermaster::policy::reservation::{AccountBalance, ReservationAlert};

use crate::convert::{decode, from_python, serialized, to_json, to_python};
use crate::errors::{invalid_input, live_error, raise};

/// The engine opened on a SQLite file, with the runtime its calls are driven on.
#[pyclass(name = "LiveEngine", module = "quartermaster._quartermaster", subclass)]
pub struct PyLiveEngine {
    engine: LiveEngine,
    runtime: Arc<Runtime>,
    /// The database and settings it was opened with, for `trace`.
    path: PathBuf,
    config: LiveConfig,
}

impl PyLiveEngine {
    fn block<T: Send>(
        &self,
        py: Python<'_>,
        future: impl Future<Output = Result<T, LiveError>> + Send,
    ) -> PyResult<T> {
        py.detach(|| self.runtime.block_on(future))
            .map_err(live_error)
    }

    fn read<T: Send>(&self, py: Python<'_>, future: impl Future<Output = T> + Send) -> T {
        py.detach(|| self.runtime.block_on(future))
    }
}

fn money(amount: f64) -> PyResult<Money> {
    Money::try_from_f64(amount).map_err(|e| invalid_input(e.to_string()))
}

fn timestamp(text: &str) -> PyResult<Timestamp> {
    Timestamp::parse(text).map_err(|e| invalid_input(e.to_string()))
}

fn optional_timestamp(text: Option<&str>) -> PyResult<Option<Timestamp>> {
    text.map(timestamp).transpose()
}

fn balance_json(balance: &AccountBalance) -> serde_json::Value {
    json!({
        "available": balance.available.as_f64(),
        "reserved": balance.reserved.as_f64(),
        "spent": balance.spent.as_f64(),
    })
}

fn cost_type(name: &str) -> PyResult<CostType> {
    decode(json!(name), "cost_type")
}

#[pymethods]
impl PyLiveEngine {
    /// Opens (or creates) the engine's database at `path` and rebuilds its state from it.
    #[new]
    #[pyo3(signature = (path, config = None))]
    fn open(py: Python<'_>, path: PathBuf, config: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let config: LiveConfig = match config {
            Some(config) => from_python(config, "config")?,
            None => LiveConfig::default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| raise("QuartermasterError", format!("cannot start a runtime: {e}")))?;
        let engine = py
            .detach(|| runtime.block_on(LiveEngine::open(&path, config.clone())))
            .map_err(live_error)?;
        Ok(PyLiveEngine {
            engine,
            runtime: Arc::new(runtime),
            path,
            config,
        })
    }

    /// The traffic recorded in this engine's database so far, as a scenario dict with a
    /// `trace` (as `qm trace export`); `from_` and `to` (RFC 3339) bound the window.
    #[pyo3(signature = (from_ = None, to = None))]
    fn trace<'py>(
        &self,
        py: Python<'py>,
        from_: Option<&str>,
        to: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = quartermaster::live::trace::TraceOptions {
            from: optional_timestamp(from_)?,
            to: optional_timestamp(to)?,
            config: self.config.clone(),
        };
        let exported = py
            .detach(|| quartermaster::live::trace::export(&self.path, &options))
            .map_err(live_error)?;
        serialized(py, &exported.scenario)
    }

    fn add_pool(&self, py: Python<'_>, pool: &Bound<'_, PyAny>) -> PyResult<()> {
        let pool = from_python(pool, "pool")?;
        self.block(py, self.engine.add_pool(pool))
    }

    /// Every pool's current size and scaling history, in registration order.
    fn pool_history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let history = self.block(py, self.engine.pool_history())?;
        serialized(py, &history)
    }

    /// A client joins (`active`) or leaves, withdrawing its waiting requests.
    fn set_client_active(&self, py: Python<'_>, client: &str, active: bool) -> PyResult<()> {
        self.block(
            py,
            self.engine
                .set_client_active(&ClientId::new(client), active),
        )
    }

    /// Samples the monitor now (it also samples by itself every `sample_every_secs`).
    fn tick(&self, py: Python<'_>) -> PyResult<()> {
        self.block(py, self.engine.tick())
    }

    fn resize_pool(&self, py: Python<'_>, pool: &str, size: f64) -> PyResult<()> {
        self.block(py, self.engine.resize_pool(&PoolId::new(pool), size))
    }

    fn set_pool_down(&self, py: Python<'_>, pool: &str, down: bool) -> PyResult<()> {
        self.block(py, self.engine.set_pool_down(&PoolId::new(pool), down))
    }

    fn set_pool_price(&self, py: Python<'_>, pool: &str, price: f64) -> PyResult<()> {
        let price = money(price)?;
        self.block(py, self.engine.set_pool_price(&PoolId::new(pool), price))
    }

    fn add_client(&self, py: Python<'_>, client: &Bound<'_, PyAny>) -> PyResult<()> {
        let client = from_python(client, "client")?;
        self.block(py, self.engine.add_client(client))
    }

    fn set_quota(&self, py: Python<'_>, quota: &Bound<'_, PyAny>) -> PyResult<()> {
        let quota = from_python(quota, "quota")?;
        self.block(py, self.engine.set_quota(quota))
    }

    fn set_quota_usage(&self, py: Python<'_>, quota: &str, used: u64) -> PyResult<()> {
        self.block(py, self.engine.set_quota_usage(&QuotaId::new(quota), used))
    }

    fn reset_quota(&self, py: Python<'_>, quota: &str) -> PyResult<()> {
        self.block(py, self.engine.reset_quota(&QuotaId::new(quota)))
    }

    /// Whether `client` may use `amount` of `metric` now (counts nothing).
    fn check_quota<'py>(
        &self,
        py: Python<'py>,
        client: &str,
        metric: &str,
        amount: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let answer = self.block(
            py,
            self.engine
                .check_quota(&ClientId::new(client), Metric::parse(metric), amount),
        )?;
        serialized(py, &answer)
    }

    fn quotas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let quotas = self.read(py, self.engine.quotas());
        serialized(py, &quotas)
    }

    /// Submits a request and waits until it starts or is refused; a refusal is an outcome,
    /// not an exception.
    fn submit<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut value = to_json(request)?;
        // The engine assigns the id, so a request dict need not carry one.
        if let Some(fields) = value.as_object_mut() {
            fields.entry("id").or_insert(json!(0));
        }
        let request: Request = decode(value, "request")?;
        let outcome = match self.block(py, self.engine.submit(request))? {
            SubmitOutcome::Started {
                request,
                downgraded,
                batch,
            } => json!({
                "status": "started",
                "request": request.0,
                "downgraded": downgraded,
                "batch": batch.map(|b| b.0),
            }),
            SubmitOutcome::Refused { request, refusal } => json!({
                "status": "refused",
                "request": request.0,
                "reason": refusal.reason.as_str(),
                "message": refusal.message,
            }),
        };
        to_python(py, &outcome)
    }

    /// Alerts as dicts (id, kind, level, subject, client, message, raised_at, resolved_at),
    /// open ones first: `state` "open" (the default) or "all"; `level` info, warning, error
    /// or critical; `subject` a kind of subject ("pool") or one subject ("pool:gpu").
    #[pyo3(signature = (state = None, level = None, subject = None))]
    fn alerts<'py>(
        &self,
        py: Python<'py>,
        state: Option<&str>,
        level: Option<&str>,
        subject: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = AlertFilter::parse(state, level, subject)
            .map_err(|e| live_error(LiveError::Invalid(e)))?;
        let alerts = self.block(py, self.engine.alerts(filter))?;
        serialized(py, &alerts)
    }

    /// Whether the engine can take changes: `{"ready", "journal_writer", "database"}`, each
    /// part "ok" or why not.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let health = self.read(py, self.engine.health());
        let part =
            |p: &Result<(), String>| p.as_ref().map_or_else(Clone::clone, |()| "ok".to_owned());
        to_python(
            py,
            &json!({
                "ready": health.is_ready(),
                "journal_writer": part(&health.journal_writer),
                "database": part(&health.database),
            }),
        )
    }

    /// Everything the engine knows of a request (state, times, wait, refusal, cost), or None.
    fn request_info<'py>(&self, py: Python<'py>, request: u64) -> PyResult<Bound<'py, PyAny>> {
        let record = self.read(py, self.engine.request(RequestId(request)));
        serialized(py, &record)
    }

    /// Reports a request finished, with its actual cost (priced by the engine if `None`)
    /// and what it really used: `used` maps pool ids to units (tokens of a rate pool; the
    /// unused rest goes back to the bucket), `compute_ms` its compute time.
    #[pyo3(signature = (request, actual = None, used = None, compute_ms = None))]
    fn complete(
        &self,
        py: Python<'_>,
        request: u64,
        actual: Option<f64>,
        used: Option<&Bound<'_, PyAny>>,
        compute_ms: Option<u64>,
    ) -> PyResult<()> {
        let actual = actual.map(money).transpose()?;
        let pools: BTreeMap<PoolId, u64> = match used {
            Some(used) => from_python(used, "used")?,
            None => BTreeMap::new(),
        };
        let usage = Usage { pools, compute_ms };
        self.block(
            py,
            self.engine
                .complete_with_usage(RequestId(request), actual, Some(usage)),
        )
    }

    /// Pays `amount` into a client's available credit; answers its balances.
    fn top_up<'py>(
        &self,
        py: Python<'py>,
        client: &str,
        amount: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let amount = money(amount)?;
        let balance = self.block(py, self.engine.top_up(&ClientId::new(client), amount))?;
        to_python(py, &balance_json(&balance))
    }

    /// Moves `amount` of available credit from one client to another, atomically;
    /// answers `{"from": balances, "to": balances}`.
    fn transfer<'py>(
        &self,
        py: Python<'py>,
        from_client: &str,
        to_client: &str,
        amount: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let amount = money(amount)?;
        let (from, to) = self.block(
            py,
            self.engine.transfer(
                &ClientId::new(from_client),
                &ClientId::new(to_client),
                amount,
            ),
        )?;
        to_python(
            py,
            &json!({"from": balance_json(&from), "to": balance_json(&to)}),
        )
    }

    /// Counts usage of work that did not go through the queue: `usage` maps metric names
    /// to amounts, `cost` is charged from the client's credit; a hard quota or the credit
    /// refuses what would pass it unless `force`.
    #[pyo3(signature = (client, usage = None, cost = None, force = false))]
    fn consume<'py>(
        &self,
        py: Python<'py>,
        client: &str,
        usage: Option<&Bound<'_, PyAny>>,
        cost: Option<f64>,
        force: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let usage: BTreeMap<String, u64> = match usage {
            Some(usage) => from_python(usage, "usage")?,
            None => BTreeMap::new(),
        };
        let cost = cost.map(money).transpose()?;
        let consumed = self.block(
            py,
            self.engine
                .consume(&ClientId::new(client), usage, cost, force),
        )?;
        to_python(
            py,
            &json!({
                "charged": consumed.charge.map(|c| c.charged.as_f64()),
                "uncovered": consumed.charge.map(|c| c.uncovered.as_f64()),
                "warning": (!consumed.warnings.is_empty()).then(|| consumed.warnings.join("; ")),
                "usage_ratio": consumed.usage_ratio,
            }),
        )
    }

    fn remove_quota(&self, py: Python<'_>, quota: &str) -> PyResult<()> {
        self.block(py, self.engine.remove_quota(&QuotaId::new(quota)))
    }

    fn remove_resource(&self, py: Python<'_>, resource: &str) -> PyResult<()> {
        self.block(py, self.engine.remove_resource(&ResourceId::new(resource)))
    }

    /// Removes a client; refused (`InUse`) while it has work in hand unless `drain`.
    #[pyo3(signature = (client, drain = false))]
    fn remove_client(&self, py: Python<'_>, client: &str, drain: bool) -> PyResult<()> {
        self.block(py, self.engine.remove_client(&ClientId::new(client), drain))
    }

    /// Every quota with its usage in the current period (`current_usage`, `period_start`).
    fn quota_usage<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let standings = self.block(py, self.engine.quota_standings())?;
        serialized(py, &standings)
    }

    fn cancel(&self, py: Python<'_>, request: u64) -> PyResult<()> {
        self.block(py, self.engine.cancel(RequestId(request)))
    }

    /// A worker's heartbeat: the running request's lease starts afresh (for `lease_secs`
    /// if given); a request that is neither completed nor renewed in time expires.
    #[pyo3(signature = (request, lease_secs = None))]
    fn renew(&self, py: Python<'_>, request: u64, lease_secs: Option<f64>) -> PyResult<()> {
        self.block(py, self.engine.renew(RequestId(request), lease_secs))
    }

    /// Closes the engine cleanly: a last snapshot (unless `storage.snapshot_on_close` is
    /// off), so the next open replays nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.block(py, self.engine.clone().close())
    }

    /// Takes a snapshot now and compacts the journal behind it: a dict of what it did
    /// (`covers`, `snapshot_bytes`, `moved`, `expired`).
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let compaction = self.block(py, self.engine.snapshot())?;
        serialized(py, &compaction)
    }

    /// `queued`, `running`, `finished`, `refused` or `cancelled`; `None` if unknown.
    fn request_state<'py>(&self, py: Python<'py>, request: u64) -> PyResult<Bound<'py, PyAny>> {
        let state = self.read(py, self.engine.request_state(RequestId(request)));
        serialized(py, &state)
    }

    #[pyo3(signature = (request = None))]
    fn queue_status<'py>(
        &self,
        py: Python<'py>,
        request: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let status = self.block(py, self.engine.queue_status(request.map(RequestId)))?;
        serialized(py, &status)
    }

    /// Reserves credit for work the client runs itself: `{"id", "amount"}`.
    #[pyo3(signature = (client, estimate = None))]
    fn reserve<'py>(
        &self,
        py: Python<'py>,
        client: &str,
        estimate: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let estimate = estimate.map(money).transpose()?;
        let grant = self.block(py, self.engine.reserve(&ClientId::new(client), estimate))?;
        to_python(
            py,
            &json!({"id": grant.id.0, "amount": grant.amount.as_f64()}),
        )
    }

    /// Records usage so far; answers `"warning"` or `"critical"` when a threshold is first
    /// crossed, else `None`.
    fn track(&self, py: Python<'_>, reservation: u64, used: f64) -> PyResult<Option<&'static str>> {
        let used = money(used)?;
        let alert = self.block(py, self.engine.track(ReservationId(reservation), used))?;
        Ok(alert.map(|alert| match alert {
            ReservationAlert::Warning => "warning",
            ReservationAlert::Critical => "critical",
        }))
    }

    fn settle<'py>(
        &self,
        py: Python<'py>,
        reservation: u64,
        actual: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let actual = money(actual)?;
        let settled = self.block(py, self.engine.settle(ReservationId(reservation), actual))?;
        to_python(
            py,
            &json!({
                "reservation": settled.reservation.0,
                "charged": settled.charged.as_f64(),
                "returned": settled.returned.as_f64(),
                "uncovered": settled.uncovered.as_f64(),
                "efficiency": settled.efficiency,
            }),
        )
    }

    fn release(&self, py: Python<'_>, reservation: u64) -> PyResult<()> {
        self.block(py, self.engine.release(ReservationId(reservation)))
    }

    /// A client's credit: `{"available", "reserved", "spent"}`.
    fn account<'py>(&self, py: Python<'py>, client: &str) -> PyResult<Bound<'py, PyAny>> {
        let balance = self.block(py, self.engine.account(&ClientId::new(client)))?;
        to_python(py, &balance_json(&balance))
    }

    fn add_resource(&self, py: Python<'_>, resource: &Bound<'_, PyAny>) -> PyResult<()> {
        let resource = from_python(resource, "resource")?;
        self.block(py, self.engine.add_resource(resource))
    }

    fn resources<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let resources = self.read(py, self.engine.resources());
        serialized(py, &resources)
    }

    /// Books `resource` for `[start, end)` (RFC 3339 instants); an overlap with a confirmed
    /// booking raises `BookingConflict`.
    #[pyo3(signature = (resource, client, start, end, purpose = ""))]
    fn book<'py>(
        &self,
        py: Python<'py>,
        resource: &str,
        client: &str,
        start: &str,
        end: &str,
        purpose: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (start, end) = (timestamp(start)?, timestamp(end)?);
        let booking = self.block(
            py,
            self.engine.book(
                &ResourceId::new(resource),
                &ClientId::new(client),
                start,
                end,
                purpose,
            ),
        )?;
        serialized(py, &booking)
    }

    fn cancel_booking<'py>(&self, py: Python<'py>, booking: u64) -> PyResult<Bound<'py, PyAny>> {
        let booking = self.block(py, self.engine.cancel_booking(BookingId(booking)))?;
        serialized(py, &booking)
    }

    fn complete_booking<'py>(&self, py: Python<'py>, booking: u64) -> PyResult<Bound<'py, PyAny>> {
        let booking = self.block(py, self.engine.complete_booking(BookingId(booking)))?;
        serialized(py, &booking)
    }

    /// Bookings matching every filter given, in the order they were made.
    #[pyo3(signature = (resource = None, client = None, status = None, start = None, end = None))]
    fn bookings<'py>(
        &self,
        py: Python<'py>,
        resource: Option<&str>,
        client: Option<&str>,
        status: Option<&str>,
        start: Option<&str>,
        end: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = BookingFilter {
            resource: resource.map(ResourceId::new),
            client: client.map(ClientId::new),
            status: status.map(|s| decode(json!(s), "status")).transpose()?,
            from: optional_timestamp(start)?,
            to: optional_timestamp(end)?,
        };
        let bookings = self.block(py, self.engine.bookings(filter))?;
        serialized(py, &bookings)
    }

    /// Records a cost entry (`amount` in currency units) and returns it.
    #[pyo3(signature = (client, cost_type, category, amount, metadata = None))]
    fn record_cost<'py>(
        &self,
        py: Python<'py>,
        client: &str,
        cost_type: &str,
        category: &str,
        amount: f64,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind = self::cost_type(cost_type)?;
        let amount = money(amount)?;
        let metadata: Metadata = match metadata {
            Some(metadata) => from_python(metadata, "metadata")?,
            None => BTreeMap::new(),
        };
        let entry = self.block(
            py,
            self.engine
                .record_cost(&ClientId::new(client), kind, category, amount, metadata),
        )?;
        serialized(py, &entry)
    }

    /// Costs matching every filter given: total, by type, category and client, and up to
    /// `item_limit` entries.
    #[pyo3(signature = (client = None, cost_type = None, start = None, end = None, item_limit = 100))]
    fn cost_summary<'py>(
        &self,
        py: Python<'py>,
        client: Option<&str>,
        cost_type: Option<&str>,
        start: Option<&str>,
        end: Option<&str>,
        item_limit: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = CostFilter {
            client: client.map(ClientId::new),
            cost_type: cost_type.map(self::cost_type).transpose()?,
            from: optional_timestamp(start)?,
            to: optional_timestamp(end)?,
        };
        let summary = self.block(py, self.engine.cost_summary(filter, item_limit))?;
        serialized(py, &summary)
    }

    /// Every event from now on.
    fn subscribe(&self) -> EventStream {
        EventStream {
            events: Mutex::new(self.engine.subscribe()),
            runtime: self.runtime.clone(),
        }
    }
}

/// Events of one subscription, oldest first (a slow reader misses the oldest).
#[pyclass(module = "quartermaster._quartermaster")]
pub struct EventStream {
    events: Mutex<broadcast::Receiver<Event>>,
    runtime: Arc<Runtime>,
}

#[pymethods]
impl EventStream {
    /// Every event already delivered, without waiting.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut events = self.receiver();
        let mut drained = Vec::new();
        loop {
            match events.try_recv() {
                Ok(event) => drained.push(event),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        serialized(py, &drained)
    }

    /// The next event, waiting up to `timeout` seconds (forever if `None`); `None` when
    /// none came in time.
    #[pyo3(signature = (timeout = None))]
    fn next<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let wait = timeout
            .map(|secs| {
                Duration::try_from_secs_f64(secs).map_err(|_| {
                    invalid_input(format!(
                        "invalid timeout: got {secs}, expected a number of seconds >= 0"
                    ))
                })
            })
            .transpose()?;
        let event = py.detach(|| {
            let mut events = self.receiver();
            self.runtime.block_on(async {
                loop {
                    let received = match wait {
                        Some(wait) => match tokio::time::timeout(wait, events.recv()).await {
                            Ok(received) => received,
                            Err(_) => return None,
                        },
                        None => events.recv().await,
                    };
                    match received {
                        Ok(event) => return Some(event),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            })
        });
        serialized(py, &event)
    }
}

impl EventStream {
    /// A panic while reading leaves the receiver usable, so a poisoned lock is taken as is.
    fn receiver(&self) -> MutexGuard<'_, broadcast::Receiver<Event>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
