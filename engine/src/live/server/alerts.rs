//! `GET /admin/alerts`: the monitor's alerts, for operators (admin token only).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, ServerState};
use crate::policy::alert::AlertFilter;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// `open` (the default) or `all` (open and the resolved ones kept).
    state: Option<String>,
    /// Only alerts of this level: info, warning, error or critical.
    level: Option<String>,
    /// A subject (`pool:gpu`, `client:alice`, `quota:<id>`, `request:42`, `queue`) or a kind
    /// of subject (`pool`, `client`, `quota`, `request`).
    subject: Option<String>,
}

impl AlertsQuery {
    fn filter(&self) -> Result<AlertFilter, ApiError> {
        AlertFilter::parse(
            self.state.as_deref(),
            self.level.as_deref(),
            self.subject.as_deref(),
        )
        .map_err(|e| ApiError::bad_query(&e.field, &e.value, &e.expected))
    }
}

pub async fn list(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<AlertsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let filter = query.filter()?;
    let alerts = state.engine.alerts(filter).await?;
    Ok(HttpResponse::Ok().json(alerts))
}
