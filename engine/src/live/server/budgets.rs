//! Budgets over HTTP: reserve, track, settle and release credit for work an agent runs
//! itself (the seed's `/internal/reserve`, `/internal/release`, and `/api/reservations`),
//! usage counted directly (`/internal/consume`), and credit paid in or shared between
//! clients.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Caller, ServerState, parse_seq};
use crate::model::{ClientId, Money, ReservationId};
use crate::policy::reservation::AccountBalance;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveBody {
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    /// What the work is expected to cost (the seed also says `amount`).
    #[serde(alias = "amount", alias = "estimate")]
    estimated_cost: Option<Money>,
    /// Free text the seed sends along; kept out of the books.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

fn account_json(balance: &AccountBalance) -> serde_json::Value {
    json!({
        "available": balance.available,
        "reserved": balance.reserved,
        "spent": balance.spent,
    })
}

/// A reservation in the seed's shape, with our names beside.
async fn reservation_json(
    state: &ServerState,
    id: ReservationId,
) -> Result<serde_json::Value, ApiError> {
    let held = state
        .engine
        .reservation(id)
        .await
        .ok_or_else(|| ApiError::not_found("reservation", id))?;
    Ok(json!({
        "reservation_id": id,
        "id": id,
        "agent_id": held.client,
        "client": held.client,
        "request": held.request,
        "amount": held.reserved,
        "reserved": held.reserved,
        "used": held.used,
        "status": held.status,
        "created_at": held.created_at,
        "closed_at": held.closed_at,
    }))
}

/// The reservation named, if the caller may act on it.
async fn owned_reservation(
    state: &ServerState,
    caller: &Caller,
    text: &str,
) -> Result<ReservationId, ApiError> {
    let id = ReservationId(parse_seq("reservation", text)?);
    let held = state
        .engine
        .reservation(id)
        .await
        .ok_or_else(|| ApiError::not_found("reservation", id))?;
    caller.may_act_for(&held.client)?;
    Ok(id)
}

pub async fn reserve(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<ReserveBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let client = caller.acting_for(body.client, "client")?;
    let grant = state.engine.reserve(&client, body.estimated_cost).await?;
    let mut answer = reservation_json(&state, grant.id).await?;
    answer["account"] = account_json(&state.engine.account(&client).await?);
    Ok(HttpResponse::Created().json(answer))
}

pub async fn get(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = owned_reservation(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(reservation_json(&state, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    reservation_id: ReservationId,
}

/// The seed's `/internal/release`: the reservation in the body.
pub async fn release_by_body(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<ReleaseBody>,
) -> Result<HttpResponse, ApiError> {
    let id = body.reservation_id.to_string();
    release_one(&state, &caller, &id).await
}

pub async fn release(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    release_one(&state, &caller, &id).await
}

async fn release_one(
    state: &ServerState,
    caller: &Caller,
    text: &str,
) -> Result<HttpResponse, ApiError> {
    let id = owned_reservation(state, caller, text).await?;
    state.engine.release(id).await?;
    Ok(HttpResponse::Ok().json(reservation_json(state, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackBody {
    /// Cost used so far.
    #[serde(alias = "used_so_far", alias = "cost")]
    used: Money,
}

pub async fn track(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<TrackBody>,
) -> Result<HttpResponse, ApiError> {
    let id = owned_reservation(&state, &caller, &id).await?;
    let alert = state.engine.track(id, body.used).await?;
    let mut answer = reservation_json(&state, id).await?;
    answer["alert"] = json!(alert.map(|a| match a {
        crate::policy::reservation::ReservationAlert::Warning => "warning",
        crate::policy::reservation::ReservationAlert::Critical => "critical",
    }));
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleBody {
    /// What the work really cost.
    #[serde(alias = "actual")]
    actual_cost: Money,
}

pub async fn settle(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<SettleBody>,
) -> Result<HttpResponse, ApiError> {
    let id = owned_reservation(&state, &caller, &id).await?;
    let settled = state.engine.settle(id, body.actual_cost).await?;
    let mut answer = reservation_json(&state, id).await?;
    answer["actual_cost"] = json!(body.actual_cost);
    answer["charged"] = json!(settled.charged);
    answer["returned"] = json!(settled.returned);
    answer["uncovered"] = json!(settled.uncovered);
    answer["efficiency"] = json!(settled.efficiency);
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumeBody {
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    /// One metric to count (`tokens`, `api_calls`, `compute_ms`, a pool's name, …); the
    /// seed says `type`, `quota_type` or `resource_type`.
    #[serde(alias = "type", alias = "quota_type", alias = "resource_type")]
    metric: Option<String>,
    /// How much of `metric`.
    amount: Option<u64>,
    /// Several metrics at once.
    #[serde(default)]
    usage: BTreeMap<String, u64>,
    /// Money to charge from the client's credit.
    cost: Option<Money>,
    /// Count it even past a hard quota or the credit (the work already ran).
    #[serde(default)]
    force: bool,
}

pub async fn consume(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<ConsumeBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let client = caller.acting_for(body.client, "client")?;
    let mut usage = body.usage;
    match (body.metric, body.amount) {
        (Some(metric), amount) if !metric.trim().is_empty() => {
            *usage.entry(metric).or_default() += amount.unwrap_or(1);
        }
        (Some(metric), _) => {
            return Err(ApiError::invalid(crate::model::ValidationError::new(
                "type",
                format!("{metric:?}"),
                "a metric such as tokens or api_calls",
            )));
        }
        (None, Some(amount)) => {
            return Err(ApiError::invalid(crate::model::ValidationError::new(
                "type",
                "none",
                format!("the metric that amount {amount} counts, such as tokens"),
            )));
        }
        (None, None) => {}
    }
    let consumed = state
        .engine
        .consume(&client, usage.clone(), body.cost, body.force)
        .await?;
    let warning = (!consumed.warnings.is_empty()).then(|| consumed.warnings.join("; "));
    Ok(HttpResponse::Ok().json(json!({
        "agent_id": client,
        "client": client,
        "consumed": usage,
        "cost": body.cost,
        "charged": consumed.charge.map(|c| c.charged),
        "uncovered": consumed.charge.map(|c| c.uncovered),
        "usage_ratio": consumed.usage_ratio,
        "usage_percent": consumed.usage_ratio * 100.0,
        "warning": warning,
        "account": account_json(&state.engine.account(&client).await?),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    amount: Money,
}

/// An admin pays credit into a client's account.
pub async fn top_up(
    state: web::Data<ServerState>,
    caller: Caller,
    client: web::Path<ClientId>,
    body: web::Json<TopUpBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let balance = state.engine.top_up(&client, body.amount).await?;
    Ok(HttpResponse::Ok().json(json!({
        "agent_id": client.as_str(),
        "client": client.as_str(),
        "amount": body.amount,
        "account": account_json(&balance),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The client giving credit (the seed's `from_agent_id`); a client token may give
    /// only its own.
    #[serde(alias = "from_agent_id", alias = "from_agent")]
    from: Option<ClientId>,
    /// The client receiving it (the seed's `to_agent_id`).
    #[serde(alias = "to_agent_id", alias = "to_agent")]
    to: ClientId,
    amount: Money,
}

/// Shares credit: moves available credit from one client to another, atomically.
pub async fn transfer(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let from = caller.acting_for(body.from, "from")?;
    let (giver, receiver) = state.engine.transfer(&from, &body.to, body.amount).await?;
    Ok(HttpResponse::Ok().json(json!({
        "from": from,
        "to": body.to,
        "amount": body.amount,
        "from_account": account_json(&giver),
        // The receiver's balances are theirs to see.
        "to_account": match &caller {
            Caller::Admin => account_json(&receiver),
            Caller::Client(_) => serde_json::Value::Null,
        },
    })))
}
