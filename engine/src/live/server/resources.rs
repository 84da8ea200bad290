//! `/api/resources`: the bookable registry, its availability and its use.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{ApiError, Caller, ServerState, parse_instant};
use crate::model::{BookingStatus, Money, Resource, ResourceId};
use crate::policy::booking::BookingFilter;

pub async fn list(state: web::Data<ServerState>, _: Caller) -> HttpResponse {
    HttpResponse::Ok().json(state.engine.resources().await)
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
    Ok(HttpResponse::Ok().json(find(&state, &id).await?))
}

pub async fn create(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<Resource>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let resource = body.into_inner();
    if state
        .engine
        .resources()
        .await
        .iter()
        .any(|r| r.id == resource.id)
    {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            format!("resource {} already exists", resource.id),
        )
        .with_field("id"));
    }
    state.engine.add_resource(resource.clone()).await?;
    Ok(HttpResponse::Created().json(resource))
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
