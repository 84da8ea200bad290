//! `/api/costs`: the ledger's summary, and recording a charge.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, ServerState, parse_instant};
use crate::live::NewCostEntry;
use crate::model::{ClientId, CostType, Metadata, Money};
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

pub(super) fn parse_type(text: &str) -> Result<CostType, ApiError> {
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
    #[serde(rename = "type", alias = "cost_type")]
    cost_type: CostType,
    /// What it is filed under; the type's name when absent.
    category: Option<String>,
    amount: Money,
    /// An ISO 4217 code; USD when absent.
    currency: Option<String>,
    #[serde(default)]
    description: String,
    /// Any JSON values (the seed sends numbers).
    #[serde(default)]
    metadata: Metadata,
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
        .record_cost_entry(NewCostEntry {
            client,
            cost_type: body.cost_type,
            category: body
                .category
                .unwrap_or_else(|| body.cost_type.as_str().to_owned()),
            amount: body.amount,
            metadata: body.metadata,
            currency: body.currency,
            description: body.description,
        })
        .await?;
    let mut answer = serde_json::to_value(&entry).map_err(ApiError::internal)?;
    // The seed's names beside ours.
    answer["agent_id"] = answer["client"].clone();
    answer["cost_type"] = answer["type"].clone();
    answer["timestamp"] = answer["at"].clone();
    Ok(HttpResponse::Created().json(answer))
}
