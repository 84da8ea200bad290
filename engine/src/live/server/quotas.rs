//! `/api/quotas` and `/api/usage`: limits, their checks and their counters.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, ServerState};
use crate::actors::QuotaStanding;
use crate::model::{ClientId, Metric, Period, Quota, QuotaId, QuotaScope, ValidationError};

/// A quota with its usage, in our names and the seed's (`agent_id`, `type`,
/// `current_usage`, `period_start`, `hard_limit`).
fn standing_json(standing: &QuotaStanding) -> serde_json::Value {
    let mut value = serde_json::to_value(standing).unwrap_or_default();
    let agent = match &standing.quota.scope {
        QuotaScope::Client(client) => serde_json::json!(client),
        QuotaScope::Global => serde_json::Value::Null,
    };
    value["agent_id"] = agent;
    value["type"] = serde_json::json!(standing.quota.metric.as_str());
    value["hard_limit"] = serde_json::json!(standing.quota.hard_stop);
    value["usage_percent"] = serde_json::json!(standing.usage_ratio * 100.0);
    // The dashboard's gauges read `used`.
    value["used"] = serde_json::json!(standing.current_usage);
    value
}

async fn standings(state: &ServerState) -> Result<Vec<QuotaStanding>, ApiError> {
    Ok(state.engine.quota_standings().await?)
}

/// The quotas with their usage in the current period (`current_usage` and `used`,
/// `allowance`, `usage_ratio`, `period_start`, `period_end`): the seed's shape, and what
/// the dashboard's gauges draw.
pub async fn list(state: web::Data<ServerState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let quotas: Vec<serde_json::Value> = standings(&state)
        .await?
        .iter()
        .filter(|s| match &caller {
            Caller::Admin => true,
            Caller::Client(me) => s.quota.applies_to(me),
        })
        .map(standing_json)
        .collect();
    Ok(HttpResponse::Ok().json(quotas))
}

/// A quota as the seed writes it (`agent_id`, `type`, `hard_limit`, no id) or as we do
/// (`scope`, `metric`, `hard_stop`, `id`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaBody {
    id: Option<QuotaId>,
    scope: Option<QuotaScope>,
    /// The client it limits; global when neither this nor `scope` is given.
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    #[serde(alias = "type", alias = "quota_type")]
    metric: MetricBody,
    limit: u64,
    period: Period,
    warning_threshold: Option<f64>,
    #[serde(alias = "hard_limit")]
    hard_stop: Option<bool>,
    #[serde(default)]
    shadow: bool,
    carry_over_cap: Option<u64>,
}

/// A metric by name (`"tokens"`, `"gpu"`), or as the engine writes it (`{"named": "gpu"}`).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum MetricBody {
    Name(String),
    Tagged(Metric),
}

impl QuotaBody {
    fn into_quota(self) -> Result<Quota, ApiError> {
        let scope = match (self.scope, self.client) {
            (Some(scope), None) => scope,
            (None, Some(client)) => QuotaScope::Client(client),
            (None, None) => QuotaScope::Global,
            (Some(_), Some(client)) => {
                return Err(ApiError::invalid(ValidationError::new(
                    "agent_id",
                    client,
                    "either scope or agent_id, not both",
                )));
            }
        };
        let metric = match self.metric {
            MetricBody::Name(name) => Metric::parse(&name),
            MetricBody::Tagged(metric) => metric,
        };
        // The seed's quotas have no id: one per scope, metric and period, named so.
        let id = self.id.unwrap_or_else(|| {
            let owner = match &scope {
                QuotaScope::Client(client) => client.as_str(),
                QuotaScope::Global => "global",
            };
            let period = serde_json::to_value(self.period).unwrap_or_default();
            let period = period.as_str().unwrap_or("period");
            QuotaId::new(format!("{owner}:{metric}:{period}"))
        });
        let mut quota = Quota::new(id.0, scope, metric, self.limit, self.period);
        if let Some(threshold) = self.warning_threshold {
            quota.warning_threshold = threshold;
        }
        if let Some(hard) = self.hard_stop {
            quota.hard_stop = hard;
        }
        quota.shadow = self.shadow;
        quota.carry_over_cap = self.carry_over_cap;
        Ok(quota)
    }
}

pub async fn set(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let quota = body.into_inner().into_quota()?;
    state.engine.set_quota(quota.clone()).await?;
    let standing = standings(&state)
        .await?
        .into_iter()
        .find(|s| s.quota.id == quota.id)
        .ok_or_else(|| ApiError::not_found("quota", &quota.id))?;
    Ok(HttpResponse::Ok().json(standing_json(&standing)))
}

/// Removes a quota (admin); its usage is forgotten.
pub async fn remove(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<QuotaId>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    state.engine.remove_quota(&id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id.as_str(), "removed": true })))
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
    let metric = Metric::parse(&query.metric);
    let answer = state
        .engine
        .check_quota(&client, metric.clone(), query.amount.unwrap_or(1))
        .await?;
    // The seed names the quota that decides: the applicable one nearest its limit.
    let quota = standings(&state)
        .await?
        .into_iter()
        .filter(|s| s.quota.metric == metric && s.quota.applies_to(&client))
        .max_by(|a, b| a.usage_ratio.total_cmp(&b.usage_ratio))
        .map(|s| standing_json(&s));
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "allowed": answer.allowed,
        "quota": quota,
        "warning": answer.warning,
        "usage_ratio": answer.usage_ratio,
        "usage_percent": answer.usage_ratio * 100.0,
        "reason": answer.reason,
        "agent_id": client,
        "type": metric.as_str(),
    })))
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
