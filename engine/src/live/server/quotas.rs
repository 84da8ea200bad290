//! `/api/quotas` and `/api/usage`: limits, their checks and their counters.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, ServerState};
use crate::model::{ClientId, Metric, Quota, QuotaId, QuotaScope};

/// The quotas with their usage in the current period (`used`, `allowance`, `usage_ratio`,
/// `period_start`, `period_end`), which the dashboard's gauges draw.
pub async fn list(state: web::Data<ServerState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let usage = state.engine.quota_usage().await?;
    let quotas: Vec<Quota> = state
        .engine
        .quotas()
        .await
        .into_iter()
        .filter(|q| match &caller {
            Caller::Admin => true,
            Caller::Client(me) => q.applies_to(me),
        })
        .collect();
    let mut listed = Vec::with_capacity(quotas.len());
    for quota in quotas {
        let mut item = serde_json::to_value(&quota).map_err(ApiError::internal)?;
        if let Some(u) = usage.iter().find(|u| u.id == quota.id) {
            item["used"] = u.used.into();
            item["allowance"] = u.allowance.into();
            item["usage_ratio"] = u.usage_ratio.into();
            item["period_start"] = serde_json::json!(u.period_start);
            item["period_end"] = serde_json::json!(u.period_end);
        }
        listed.push(item);
    }
    Ok(HttpResponse::Ok().json(listed))
}

pub async fn set(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<Quota>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let quota = body.into_inner();
    state.engine.set_quota(quota.clone()).await?;
    Ok(HttpResponse::Ok().json(quota))
}

/// The quota named `id`, if the caller may change its usage: a client only its own
/// client-scoped quotas, never a global one.
async fn owned_quota(
    state: &ServerState,
    caller: &Caller,
    id: &QuotaId,
) -> Result<Quota, ApiError> {
    let quota = state
        .engine
        .quotas()
        .await
        .into_iter()
        .find(|q| q.id == *id)
        .ok_or_else(|| ApiError::not_found("quota", id))?;
    match (&quota.scope, caller) {
        (_, Caller::Admin) => {}
        (QuotaScope::Client(owner), caller) => caller.may_act_for(owner)?,
        (QuotaScope::Global, Caller::Client(_)) => {
            return Err(ApiError::forbidden(format!("the global quota {id}")));
        }
    }
    Ok(quota)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageBody {
    used: u64,
}

pub async fn set_usage(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<QuotaId>,
    body: web::Json<UsageBody>,
) -> Result<HttpResponse, ApiError> {
    let quota = owned_quota(&state, &caller, &id).await?;
    state.engine.set_quota_usage(&quota.id, body.used).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": quota.id, "used": body.used })))
}

pub async fn reset(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<QuotaId>,
) -> Result<HttpResponse, ApiError> {
    let quota = owned_quota(&state, &caller, &id).await?;
    state.engine.reset_quota(&quota.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": quota.id, "used": 0 })))
}

#[derive(Deserialize)]
pub struct CheckQuery {
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    #[serde(rename = "type")]
    metric: String,
    amount: Option<u64>,
}

pub async fn check(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<CheckQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    if query.metric.is_empty() {
        return Err(ApiError::bad_query(
            "type",
            "",
            "a metric such as api_calls or tokens",
        ));
    }
    let client = caller.acting_for(query.client, "client")?;
    let answer = state
        .engine
        .check_quota(
            &client,
            Metric::parse(&query.metric),
            query.amount.unwrap_or(1),
        )
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

async fn balance(state: &ServerState, client: &ClientId) -> Result<serde_json::Value, ApiError> {
    let account = state.engine.account(client).await?;
    Ok(serde_json::json!({
        "available": account.available,
        "reserved": account.reserved,
        "spent": account.spent,
    }))
}

pub async fn usage(
    state: web::Data<ServerState>,
    caller: Caller,
    client: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    caller.may_act_for(&client)?;
    let stats = state.engine.client_stats(&client).await?;
    let classes: serde_json::Map<String, serde_json::Value> = stats
        .classes
        .iter()
        .map(|(class, s)| {
            let tallies = serde_json::json!({
                "submitted": s.submitted,
                "admitted": s.admitted,
                "completed": s.completed,
                "downgraded": s.downgraded,
                "refused": s.refused.iter().sum::<u64>(),
                "spend": s.spend,
            });
            (class.as_str().to_owned(), tallies)
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "agent_id": stats.client,
        "account": balance(&state, &client).await?,
        "classes": classes,
        "batches": stats.batches,
        "batch_members": stats.batch_members,
    })))
}

pub async fn current_usage(
    state: web::Data<ServerState>,
    caller: Caller,
    client: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    caller.may_act_for(&client)?;
    let account = balance(&state, &client).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "agent_id": client.into_inner(),
        "account": account,
    })))
}
