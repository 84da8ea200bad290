//! `/api/credentials`: metadata to anyone entitled, values only to their owner or an admin.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, ServerState, with_vault};
use crate::clock::{Clock, WallClock};
use crate::live::vault::{NewCredential, SecretValue};
use crate::model::{ClientId, CredentialId, CredentialKind, EventKind};

#[derive(Deserialize)]
pub struct ListQuery {
    owner: Option<ClientId>,
}

pub async fn list(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = caller.scope(query.into_inner().owner)?;
    let metas = with_vault(&state, move |vault| Ok(vault.list(owner.as_ref())?)).await?;
    Ok(HttpResponse::Ok().json(metas))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetQuery {
    #[serde(default)]
    include_value: bool,
}

pub async fn get(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<CredentialId>,
    query: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let include_value = query.include_value;
    let body = with_vault(&state, move |vault| {
        let meta = vault.get(&id)?;
        caller.may_act_for(&meta.owner)?;
        if !include_value {
            return serde_json::to_value(&meta).map_err(ApiError::internal);
        }
        let (meta, value) = vault.reveal(&id, WallClock.now())?;
        let value = value.expose_str().map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("credential {} holds bytes that are not UTF-8 text", meta.id),
            )
        })?;
        let mut body = serde_json::to_value(&meta).map_err(ApiError::internal)?;
        body["value"] = serde_json::Value::String(value.to_owned());
        Ok(body)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    #[serde(rename = "type")]
    kind: CredentialKind,
    service: String,
    #[serde(default)]
    description: String,
    owner: Option<ClientId>,
    #[serde(default)]
    permissions: Vec<String>,
    value: String,
}

pub async fn create(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let owner = caller.acting_for(body.owner, "owner")?;
    let new = NewCredential {
        name: body.name,
        kind: body.kind,
        service: body.service,
        description: body.description,
        owner,
        permissions: body.permissions,
        value: SecretValue::from(body.value),
    };
    let meta = with_vault(&state, move |vault| Ok(vault.create(new, WallClock.now())?)).await?;
    state.engine.publish(EventKind::CredentialCreated {
        id: meta.id.clone(),
        owner: meta.owner.clone(),
    });
    Ok(HttpResponse::Created().json(meta))
}

pub async fn delete(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<CredentialId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let deleted = id.clone();
    let owner = with_vault(&state, move |vault| {
        let meta = vault.get(&deleted)?;
        caller.may_act_for(&meta.owner)?;
        vault.delete(&deleted)?;
        Ok(meta.owner)
    })
    .await?;
    state
        .engine
        .publish(EventKind::CredentialDeleted { id, owner });
    Ok(HttpResponse::NoContent().finish())
}
