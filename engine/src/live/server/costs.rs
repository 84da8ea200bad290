//! `/api/costs`: the ledger's summary, and recording a charge.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, ServerState, parse_instant};
use crate::model::{ClientId, CostType, Money};
use crate::policy::ledger::CostFilter;

/// Entries listed in a summary unless `limit` says otherwise.
const DEFAULT_ITEMS: usize = 100;

#[derive(Deserialize)]
pub struct SummaryQuery {
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    #[serde(rename = "type")]
    cost_type: Option<String>,
    from_date: Option<String>,
    to_date: Option<String>,
    limit: Option<usize>,
}

fn parse_type(text: &str) -> Result<CostType, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        ApiError::bad_query(
            "type",
            text,
            "api_usage, hosting, booking, license or other",
        )
    })
}

pub async fn summary(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = CostFilter {
        client: caller.scope(query.client)?,
        cost_type: query.cost_type.as_deref().map(parse_type).transpose()?,
        from: parse_instant("from_date", query.from_date.as_deref())?,
        to: parse_instant("to_date", query.to_date.as_deref())?,
    };
    let limit = query.limit.unwrap_or(DEFAULT_ITEMS);
    let summary = state.engine.cost_summary(filter, limit).await?;
    let mut body = serde_json::to_value(&summary).map_err(ApiError::internal)?;
    // The seed's clients read the per-client totals as `by_agent`.
    body["by_agent"] = body["by_client"].clone();
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    #[serde(rename = "type")]
    cost_type: CostType,
    category: String,
    amount: Money,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

pub async fn record(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<RecordBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let client = caller.acting_for(body.client, "client")?;
    let entry = state
        .engine
        .record_cost(
            &client,
            body.cost_type,
            &body.category,
            body.amount,
            body.metadata,
        )
        .await?;
    Ok(HttpResponse::Created().json(entry))
}
