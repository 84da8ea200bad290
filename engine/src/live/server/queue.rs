//! `/api/queue` and `/api/execution`: requests for pooled capacity, from enqueue to
//! completion; and `/api/clients`, `/api/pools`, the registrations they need.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, ServerState, optional_body, parse_seq};
use crate::live::{RequestRecord, RequestState};
use std::collections::BTreeMap;

use crate::model::{
    Alternative, BatchGroup, Client, ClientId, Money, Need, Pool, PoolId, Request, RequestClass,
    RequestId, Usage,
};

pub async fn list_clients(
    state: web::Data<ServerState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    Ok(HttpResponse::Ok().json(state.engine.clients().await))
}

pub async fn add_client(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<Client>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let client = body.into_inner();
    if state
        .engine
        .clients()
        .await
        .iter()
        .any(|c| c.id == client.id)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("client {} already exists", client.id),
        )
        .with_field("id"));
    }
    state.engine.add_client(client.clone()).await?;
    Ok(HttpResponse::Created().json(client))
}

#[derive(Deserialize)]
pub struct RemoveQuery {
    /// Cancel the client's queued and running requests, release its reservations and
    /// cancel its bookings to come, instead of refusing while it has any.
    #[serde(default)]
    drain: bool,
}

/// Removes a client (admin): refused with 409 while it has work in hand, unless
/// `?drain=true`. Its tokens are revoked with it.
pub async fn remove_client(
    state: web::Data<ServerState>,
    caller: Caller,
    client: web::Path<ClientId>,
    query: web::Query<RemoveQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    state.engine.remove_client(&client, query.drain).await?;
    let revoked = state
        .tokens
        .revoke_client(&client)
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "agent_id": client.as_str(),
        "client": client.as_str(),
        "removed": true,
        "tokens_revoked": revoked,
    })))
}

pub async fn add_pool(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<Pool>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let pool = body.into_inner();
    if state.engine.pools().await.iter().any(|p| p.id == pool.id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("pool {} already exists", pool.id),
        )
        .with_field("id"));
    }
    state.engine.add_pool(pool.clone()).await?;
    Ok(HttpResponse::Created().json(pool))
}

pub async fn list_pools(state: web::Data<ServerState>, _: Caller) -> HttpResponse {
    HttpResponse::Ok().json(state.engine.pools().await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimateBody {
    needs: Vec<Need>,
    /// How long slot pools are held; rate pools are priced by units alone.
    #[serde(default)]
    duration_secs: f64,
}

/// What `needs` would cost at the pools' current prices.
pub async fn estimate(
    state: web::Data<ServerState>,
    _: Caller,
    body: web::Json<EstimateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if !(body.duration_secs.is_finite() && body.duration_secs >= 0.0) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "invalid duration_secs: got {}, expected zero or more seconds",
                body.duration_secs
            ),
        )
        .with_field("duration_secs"));
    }
    let pools = state.engine.pools().await;
    let mut by_pool = serde_json::Map::new();
    let mut total = Money::default();
    for (i, need) in body.needs.iter().enumerate() {
        let pool = pools.iter().find(|p| p.id == need.pool).ok_or_else(|| {
            ApiError::not_found("pool", &need.pool).with_field(format!("needs[{i}].pool"))
        })?;
        let cost = pool.cost_of(need.amount, body.duration_secs);
        total += cost;
        by_pool.insert(
            need.pool.to_string(),
            serde_json::to_value(cost).map_err(ApiError::internal)?,
        );
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "estimated_cost": total,
        "by_pool": by_pool,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnqueueBody {
    /// The client the request is for (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    #[serde(default = "normal")]
    class: RequestClass,
    #[serde(default)]
    urgency: f64,
    needs: Vec<Need>,
    estimated_cost: Option<Money>,
    alternative: Option<Alternative>,
    /// Gather with like requests of the same client into one dispatch.
    batch: Option<BatchGroup>,
    /// Once started, complete or renew (`POST /api/execution/{id}/heartbeat`) within this
    /// many seconds, or the request expires (the server's default lease if absent).
    lease_secs: Option<f64>,
}

fn normal() -> RequestClass {
    RequestClass::Normal
}

/// The longest `?wait=` an enqueue may hold its connection for an outcome.
const MAX_WAIT_SECS: f64 = 300.0;

#[derive(Deserialize, Default)]
pub struct EnqueueQuery {
    /// Seconds to wait for the request to start or be refused before answering (at most
    /// 300); the answer says `queued` if it is still waiting.
    wait: Option<f64>,
}

pub async fn enqueue(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<EnqueueBody>,
    query: web::Query<EnqueueQuery>,
) -> Result<HttpResponse, ApiError> {
    let wait = match query.wait {
        Some(secs) if secs.is_finite() && (0.0..=MAX_WAIT_SECS).contains(&secs) => {
            Some(std::time::Duration::from_secs_f64(secs))
        }
        Some(secs) => {
            return Err(ApiError::bad_query(
                "wait",
                &secs.to_string(),
                "a number of seconds from 0 to 300",
            ));
        }
        None => None,
    };
    let body = body.into_inner();
    let client = caller.acting_for(body.client, "client")?;
    let request = Request {
        // The engine assigns the id.
        id: RequestId(0),
        client,
        class: body.class,
        urgency: body.urgency,
        needs: body.needs,
        estimated_cost: body.estimated_cost,
        alternative: body.alternative,
        batch: body.batch,
        lease_secs: body.lease_secs,
    };
    // The answer carries the state; waiting for the start is the caller's choice (`?wait=`,
    // polling, or the WebSocket).
    let (id, outcome) = state.engine.enqueue(request).await?;
    if let Some(wait) = wait {
        // A timeout only means it is still queued; the answer says so.
        let _ = tokio::time::timeout(wait, outcome).await;
    }
    let record = state
        .engine
        .request(id)
        .await
        .ok_or_else(|| ApiError::not_found("request", id))?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "request_id": id,
        "state": record.state,
        "downgraded": record.downgraded,
        "batch": record.batch,
        "reason": record.reason,
        "message": record.message,
    })))
}

pub async fn status(state: web::Data<ServerState>, _: Caller) -> Result<HttpResponse, ApiError> {
    let status = state.engine.queue_status(None).await?;
    let queued: serde_json::Map<String, serde_json::Value> = RequestClass::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), status.queued[c.index()].into()))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "queued": queued,
        "total_queued": status.queued.iter().sum::<usize>(),
        "running": status.running,
    })))
}

/// The request named in the path, if the caller may see it.
async fn owned_request(
    state: &ServerState,
    caller: &Caller,
    id: &str,
) -> Result<(RequestId, ClientId), ApiError> {
    let id = RequestId(parse_seq("request", id)?);
    let owner = state
        .engine
        .request_client(id)
        .await
        .ok_or_else(|| ApiError::not_found("request", id))?;
    caller.may_act_for(&owner)?;
    Ok((id, owner))
}

async fn state_of(state: &ServerState, id: RequestId) -> Option<RequestState> {
    state.engine.request_state(id).await
}

pub async fn position(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, _) = owned_request(&state, &caller, &id).await?;
    let status = state.engine.queue_status(Some(id)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "request_id": id,
        "state": state_of(&state, id).await,
        "position": status.position,
        "is_running": status.is_running,
    })))
}

pub async fn execution(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, owner, record) = owned_record(&state, &caller, &id).await?;
    let mut body = serde_json::to_value(&record).map_err(ApiError::internal)?;
    // The seed's names beside ours.
    body["request_id"] = serde_json::json!(id);
    body["agent_id"] = serde_json::json!(owner);
    Ok(HttpResponse::Ok().json(body))
}

/// A request the caller may see, with its record.
async fn owned_record(
    state: &ServerState,
    caller: &Caller,
    id: &str,
) -> Result<(RequestId, ClientId, RequestRecord), ApiError> {
    let (id, owner) = owned_request(state, caller, id).await?;
    let record = state
        .engine
        .request(id)
        .await
        .ok_or_else(|| ApiError::not_found("request", id))?;
    Ok((id, owner, record))
}

/// What a request was charged: its settlement once it finished (none before).
pub async fn cost(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, owner, record) = owned_record(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "request_id": id,
        "agent_id": owner,
        "state": record.state,
        "charged": record.charged,
        "efficiency": record.efficiency,
    })))
}

/// Only a queued or running request can be cancelled or completed.
fn conflict_unless(
    id: RequestId,
    current: Option<RequestState>,
    allowed: &[RequestState],
) -> Result<(), ApiError> {
    match current {
        Some(s) if allowed.contains(&s) => Ok(()),
        other => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "request {id} is {}, expected {}",
                other.map_or("unknown".to_owned(), |s| format!("{s:?}").to_lowercase()),
                allowed
                    .iter()
                    .map(|s| format!("{s:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        )),
    }
}

pub async fn cancel(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, _) = owned_request(&state, &caller, &id).await?;
    conflict_unless(
        id,
        state_of(&state, id).await,
        &[RequestState::Queued, RequestState::Running],
    )?;
    state.engine.cancel(id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "request_id": id,
        "state": state_of(&state, id).await,
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    /// What the work really cost; priced from its pools and time when absent.
    #[serde(alias = "cost")]
    actual_cost: Option<Money>,
    /// Units really used of each pool (tokens of a rate pool), by pool id.
    #[serde(default)]
    used: BTreeMap<PoolId, u64>,
    /// Tokens really used, when the request holds one rate pool (seed 001's finalize).
    #[serde(alias = "tokens")]
    tokens_used: Option<u64>,
    /// Compute time in milliseconds (the seed's `compute_time_ms`).
    #[serde(alias = "compute_time_ms")]
    compute_ms: Option<u64>,
}

pub async fn complete(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: CompleteBody = optional_body(&body)?;
    let (id, _) = owned_request(&state, &caller, &id).await?;
    conflict_unless(id, state_of(&state, id).await, &[RequestState::Running])?;
    let mut pools = body.used;
    if let Some(tokens) = body.tokens_used {
        let pool = state.engine.rate_pool_of(id).await?;
        pools.insert(pool, tokens);
    }
    let used = Usage {
        pools,
        compute_ms: body.compute_ms,
    };
    state
        .engine
        .complete_with_usage(id, body.actual_cost, Some(used))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "request_id": id,
        "state": state_of(&state, id).await,
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HeartbeatBody {
    /// A new lease length; the request's own when absent.
    lease_secs: Option<f64>,
}

/// A worker's heartbeat: the running request's lease starts afresh.
pub async fn heartbeat(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: HeartbeatBody = optional_body(&body)?;
    let (id, _) = owned_request(&state, &caller, &id).await?;
    conflict_unless(id, state_of(&state, id).await, &[RequestState::Running])?;
    state.engine.renew(id, body.lease_secs).await?;
    let record = state.engine.request(id).await;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "request_id": id,
        "state": record.as_ref().map(|r| r.state),
        "lease_secs": record.as_ref().and_then(|r| r.lease_secs),
        "lease_until": record.as_ref().and_then(|r| r.lease_until),
    })))
}
