//! `/api/fleet/*` and `/api/costs/series`: the read-only views the dashboard's fleet tab
//! draws — pools now, queue depth and waits per class, the monitor's samples, and spend
//! over time with the month's forecast.
//!
//! Pools and queue depth are the fleet's, not any client's, so every token sees them (as
//! `/api/pools` and `/api/queue/status` already show). Waits and money are a client's own:
//! a client token sees only its own, and never the fleet's total spend.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::costs::parse_type;
use super::{ApiError, Caller, ServerState, parse_instant};
use crate::actors::ClientStats;
use crate::model::{ClientId, Money, Period, PoolKind, RequestClass, Timestamp};
use crate::policy::ledger::{CostFilter, project_spend};
use crate::policy::quota::period_bounds;

/// Scaling events listed per pool (the newest).
const SCALING_LISTED: usize = 20;
/// Monitor samples answered unless `limit` says otherwise: an hour at the default
/// ten-second interval.
const DEFAULT_SAMPLES: usize = 360;
/// The most buckets a cost series may have, so a bad query cannot ask for millions.
const MAX_BUCKETS: i64 = 2_000;
/// The range a cost series covers when `from_date` is not given.
const DEFAULT_SERIES_SPAN: Duration = Duration::from_secs(30 * 86_400);

#[derive(Serialize)]
struct PoolGauge {
    id: String,
    kind: &'static str,
    /// Slots of a slot pool, bucket capacity (tokens) of a rate pool, now.
    size: f64,
    /// Fraction in use now: busy slots, or tokens drawn from the bucket.
    utilisation: f64,
    in_use: f64,
    /// Free slots, or tokens left in the bucket.
    available: f64,
    /// Per hour for a slot pool, per thousand tokens for a rate pool.
    price: Money,
    price_per: &'static str,
    refill_per_sec: Option<f64>,
    autoscale: Option<crate::model::AutoscaleBounds>,
    scaling: Vec<crate::actors::ScalingEvent>,
}

pub async fn pools(state: web::Data<ServerState>, _: Caller) -> Result<HttpResponse, ApiError> {
    let histories = state.engine.pool_history().await?;
    let gauges = state.engine.pool_gauges().await?;
    let definitions = state.engine.pools().await;
    let mut out = Vec::with_capacity(histories.len());
    // Histories and gauges are both in registration order.
    for (history, (utilisation, size)) in histories.into_iter().zip(gauges) {
        let Some(pool) = definitions.iter().find(|p| p.id == history.pool) else {
            continue;
        };
        let (kind, price, price_per, refill) = match &pool.kind {
            PoolKind::Rate {
                refill_per_sec,
                cost_per_1k_units,
                ..
            } => (
                "rate",
                *cost_per_1k_units,
                "1k_units",
                Some(*refill_per_sec),
            ),
            PoolKind::Slot { cost_per_hour, .. } => ("slot", *cost_per_hour, "hour", None),
        };
        let utilisation = if utilisation.is_finite() {
            utilisation.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let skip = history.scaling.len().saturating_sub(SCALING_LISTED);
        out.push(PoolGauge {
            id: pool.id.to_string(),
            kind,
            size,
            utilisation,
            in_use: utilisation * size,
            available: (1.0 - utilisation) * size,
            price,
            price_per,
            refill_per_sec: refill,
            autoscale: pool.autoscale,
            scaling: history.scaling.into_iter().skip(skip).collect(),
        });
    }
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize)]
pub struct ScopeQuery {
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
}

/// Waiting times from submission to start, in seconds.
#[derive(Serialize, Default)]
struct Waits {
    started: u64,
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

fn waits_of(histogram: Option<&Histogram<u64>>, started: u64, sum_micros: u128) -> Waits {
    let Some(h) = histogram.filter(|h| !h.is_empty()) else {
        return Waits::default();
    };
    let secs = |micros: u64| micros as f64 / 1e6;
    Waits {
        started,
        mean: sum_micros as f64 / started.max(1) as f64 / 1e6,
        p50: secs(h.value_at_quantile(0.50)),
        p90: secs(h.value_at_quantile(0.90)),
        p99: secs(h.value_at_quantile(0.99)),
        max: secs(h.max()),
    }
}

pub async fn queue(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<ScopeQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(query.into_inner().client)?;
    let status = state.engine.queue_status(None).await?;
    let clients: Vec<ClientId> = match scope {
        Some(client) => vec![client],
        None => state
            .engine
            .clients()
            .await
            .into_iter()
            .map(|c| c.id)
            .collect(),
    };
    let mut stats: Vec<ClientStats> = Vec::with_capacity(clients.len());
    for client in &clients {
        stats.push(state.engine.client_stats(client).await?);
    }
    let mut queued = serde_json::Map::new();
    let mut waits = serde_json::Map::new();
    for class in RequestClass::ALL {
        queued.insert(
            class.as_str().to_owned(),
            status.queued[class.index()].into(),
        );
        let mut merged: Option<Histogram<u64>> = None;
        let (mut started, mut sum) = (0u64, 0u128);
        for (_, s) in stats
            .iter()
            .flat_map(|s| &s.classes)
            .filter(|(c, _)| *c == class)
        {
            started += s.admitted;
            sum += s.wait_sum_micros;
            match &mut merged {
                // Every class histogram has the same bounds, so adding cannot fail; a
                // failure would only under-count, never corrupt.
                Some(h) => {
                    let _ = h.add(&s.waits);
                }
                None => merged = Some(s.waits.clone()),
            }
        }
        let w = waits_of(merged.as_ref(), started, sum);
        waits.insert(
            class.as_str().to_owned(),
            serde_json::to_value(w).map_err(ApiError::internal)?,
        );
    }
    Ok(HttpResponse::Ok().json(json!({
        "queued": queued,
        "total_queued": status.queued.iter().sum::<usize>(),
        "running": status.running,
        "waits": waits,
    })))
}

#[derive(Deserialize)]
pub struct SeriesQuery {
    limit: Option<usize>,
}

pub async fn series(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<SeriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_SAMPLES);
    let samples = state.engine.recent_samples(limit).await?;
    let pools: Vec<String> = state
        .engine
        .pool_history()
        .await?
        .into_iter()
        .map(|h| h.pool.to_string())
        .collect();
    let samples: Vec<serde_json::Value> = samples
        .into_iter()
        .map(|s| {
            let mut sample = json!({
                "at": s.at,
                "pools": s.pools,
                "queued": s.queued,
                "running": s.running,
            });
            // The fleet's spend is every client's money together: an admin's to see.
            if caller == Caller::Admin {
                sample["spent"] = json!(s.spent);
            }
            sample
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "pools": pools, "samples": samples })))
}

#[derive(Deserialize)]
pub struct CostSeriesQuery {
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    #[serde(rename = "type")]
    cost_type: Option<String>,
    from_date: Option<String>,
    to_date: Option<String>,
    bucket_secs: Option<i64>,
}

/// Hours for a range of up to three days, days beyond.
fn default_bucket_secs(span_secs: i64) -> i64 {
    if span_secs <= 3 * 86_400 {
        3_600
    } else {
        86_400
    }
}

pub async fn cost_series(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<CostSeriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let scope = caller.scope(query.client)?;
    let cost_type = query.cost_type.as_deref().map(parse_type).transpose()?;
    let now = state.engine.now();
    let to = parse_instant("to_date", query.to_date.as_deref())?.unwrap_or(now);
    let from = parse_instant("from_date", query.from_date.as_deref())?
        .unwrap_or_else(|| to - DEFAULT_SERIES_SPAN);
    if from >= to {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid from_date: got {from}, expected an instant before to_date ({to})"),
        )
        .with_field("from_date"));
    }
    let span_secs = to.since(from).as_secs() as i64;
    let bucket_secs = query
        .bucket_secs
        .unwrap_or_else(|| default_bucket_secs(span_secs));
    let smallest = (span_secs / MAX_BUCKETS).max(1);
    if bucket_secs < smallest {
        return Err(ApiError::bad_query(
            "bucket_secs",
            &bucket_secs.to_string(),
            &format!("at least {smallest} seconds (at most {MAX_BUCKETS} buckets in the range)"),
        ));
    }
    let bucket_nanos = bucket_secs.saturating_mul(1_000_000_000);
    let filter = CostFilter {
        client: scope.clone(),
        cost_type,
        ..CostFilter::default()
    };
    let totals = state
        .engine
        .cost_series(filter.clone(), from, to, bucket_nanos)
        .await?;
    let buckets: Vec<serde_json::Value> = totals
        .iter()
        .enumerate()
        .map(|(i, total)| {
            let start = Timestamp::from_nanos(
                from.nanos()
                    .saturating_add((i as i64).saturating_mul(bucket_nanos)),
            );
            json!({ "start": start, "total": total })
        })
        .collect();

    // The budget forecast is for this calendar month, whatever range is drawn.
    let (month_start, month_end) = period_bounds(Period::Monthly, now);
    let month = state
        .engine
        .cost_summary(
            CostFilter {
                from: Some(month_start),
                to: Some(now.saturating_add(Duration::from_nanos(1))),
                ..filter
            },
            0,
        )
        .await?;
    let clients = state.engine.clients().await;
    let budgets: Vec<Option<Money>> = clients
        .iter()
        .filter(|c| scope.as_ref().is_none_or(|s| *s == c.id))
        .map(|c| c.effective_monthly_budget())
        .collect();
    // One client without a limit makes the whole scope unlimited.
    let budget: Option<Money> = if budgets.is_empty() || budgets.iter().any(Option::is_none) {
        None
    } else {
        Some(budgets.into_iter().flatten().sum())
    };
    Ok(HttpResponse::Ok().json(json!({
        "from_date": from,
        "to_date": to,
        "bucket_secs": bucket_secs,
        "buckets": buckets,
        "forecast": {
            "period_start": month_start,
            "period_end": month_end,
            "now": now,
            "spent": month.total,
            "projected": project_spend(month.total, month_start, now, month_end),
            "budget": budget,
        },
    })))
}
