//! `/api/tokens`: an admin lists, creates and revokes the API's bearer tokens. A revoked
//! token is refused from the very next request.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, ServerState, TokenError};
use crate::model::ClientId;

fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Unknown(id) => ApiError::not_found("token", id),
        e @ (TokenError::EmptyClient(_) | TokenError::BadExpiry(_)) => ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        ),
        e => ApiError::internal(e),
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
}

pub async fn list(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let tokens = state
        .tokens
        .list(query.client.as_ref())
        .map_err(token_error)?;
    Ok(HttpResponse::Ok().json(tokens))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// The client the token acts for; an admin token when absent.
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    /// Seconds until the token stops working; never when absent.
    expires_in_secs: Option<u64>,
}

pub async fn create(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body: CreateBody = super::optional_body(&body)?;
    if let Some(client) = &body.client {
        // A token for nobody would act for a client that cannot exist.
        let known = state.engine.clients().await.iter().any(|c| &c.id == client);
        if !known {
            return Err(ApiError::not_found("client", client));
        }
    }
    let created = state
        .tokens
        .issue(body.client.as_ref(), body.expires_in_secs)
        .map_err(token_error)?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn revoke(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id: i64 = id.parse().map_err(|_| ApiError::not_found("token", &*id))?;
    let revoked = state.tokens.revoke(id).map_err(token_error)?;
    Ok(HttpResponse::Ok().json(revoked))
}
