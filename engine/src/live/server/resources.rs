//! `/api/resources`: the bookable registry, its availability and its use.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller, ServerState, parse_instant};
use crate::model::{BookingStatus, Money, Resource, ResourceId};
use crate::policy::booking::BookingFilter;

pub async fn list(state: web::Data<ServerState>, _: Caller) -> HttpResponse {
    let resources: Vec<serde_json::Value> = state
        .engine
        .resources()
        .await
        .iter()
        .map(resource_json)
        .collect();
    HttpResponse::Ok().json(resources)
}

async fn find(state: &ServerState, id: &ResourceId) -> Result<Resource, ApiError> {
    state
        .engine
        .resources()
        .await
        .into_iter()
        .find(|r| r.id == *id)
        .ok_or_else(|| ApiError::not_found("resource", id))
}

pub async fn get(
    state: web::Data<ServerState>,
    _: Caller,
    id: web::Path<ResourceId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(resource_json(&find(&state, &id).await?)))
}

/// A resource in our names and the seed's (`type` beside `kind`, `resource_id` beside `id`).
fn resource_json(resource: &Resource) -> serde_json::Value {
    let mut value = serde_json::to_value(resource).unwrap_or_default();
    value["type"] = value["kind"].clone();
    value["resource_id"] = value["id"].clone();
    value
}

pub async fn create(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let mut body = body.into_inner();
    let Some(fields) = body.as_object_mut() else {
        return Err(ApiError::invalid(crate::model::ValidationError::new(
            "body",
            "not an object",
            "a JSON object describing the resource",
        )));
    };
    let existing = state.engine.resources().await;
    // The seed's bodies carry no id: the server names the resource `res-N`, the first N
    // not taken, and says so in its answer.
    if !fields.contains_key("id") {
        let taken = |id: &str| existing.iter().any(|r| r.id.as_str() == id);
        let id = (existing.len() + 1..)
            .map(|n| format!("res-{n}"))
            .find(|id| !taken(id))
            .expect("some number is free");
        fields.insert("id".into(), serde_json::Value::String(id));
    }
    let resource: Resource = serde_json::from_value(body).map_err(|e| ApiError::from_serde(&e))?;
    if existing.iter().any(|r| r.id == resource.id) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            format!("resource {} already exists", resource.id),
        )
        .with_field("id"));
    }
    state.engine.add_resource(resource.clone()).await?;
    Ok(HttpResponse::Created().json(resource_json(&resource)))
}

/// Removes a resource (admin): 409 while it has confirmed bookings that have not ended.
pub async fn remove(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<ResourceId>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    state.engine.remove_resource(&id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id.as_str(), "removed": true })))
}

#[derive(Deserialize)]
pub struct AvailabilityQuery {
    resource_id: ResourceId,
    from_date: String,
    to_date: String,
}

pub async fn availability(
    state: web::Data<ServerState>,
    _: Caller,
    query: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let from = parse_instant("from_date", Some(&query.from_date))?;
    let to = parse_instant("to_date", Some(&query.to_date))?;
    let resource = find(&state, &query.resource_id).await?;
    let bookings = state
        .engine
        .bookings(BookingFilter {
            resource: Some(resource.id.clone()),
            status: Some(BookingStatus::Confirmed),
            from,
            to,
            ..BookingFilter::default()
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "resource_id": resource.id,
        "from_date": from,
        "to_date": to,
        "available": bookings.is_empty(),
        "status": resource.status,
        "bookings": bookings,
    })))
}

/// One resource's bookings, summed.
#[derive(Serialize)]
struct ResourceMetrics {
    resource_id: ResourceId,
    confirmed: usize,
    completed: usize,
    cancelled: usize,
    booked_hours: f64,
    booked_cost: Money,
}

pub async fn metrics(state: web::Data<ServerState>, _: Caller) -> Result<HttpResponse, ApiError> {
    let bookings = state.engine.bookings(BookingFilter::default()).await?;
    let metrics: Vec<ResourceMetrics> = state
        .engine
        .resources()
        .await
        .into_iter()
        .map(|r| {
            let mine = bookings.iter().filter(|b| b.resource == r.id);
            let count = |status| mine.clone().filter(|b| b.status == status).count();
            let held = mine
                .clone()
                .filter(|b| b.status != BookingStatus::Cancelled);
            ResourceMetrics {
                confirmed: count(BookingStatus::Confirmed),
                completed: count(BookingStatus::Completed),
                cancelled: count(BookingStatus::Cancelled),
                booked_hours: held.clone().map(|b| b.hours()).sum(),
                booked_cost: held.map(|b| b.estimated_cost).sum(),
                resource_id: r.id,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(metrics))
}
