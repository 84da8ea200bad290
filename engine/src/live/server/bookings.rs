//! `/api/bookings`: a client books, lists and cancels its own; an admin anyone's.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, ServerState, parse_instant, parse_seq};
use crate::model::{Booking, BookingId, BookingStatus, ClientId, ResourceId, Timestamp};
use crate::policy::booking::BookingFilter;

#[derive(Deserialize)]
pub struct ListQuery {
    resource_id: Option<ResourceId>,
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    status: Option<String>,
    from_date: Option<String>,
    to_date: Option<String>,
}

/// A booking in our names and the seed's: `resource_id`, `resource_name`, `booked_by`,
/// `agent_id`, `start_time`, `end_time`, and `actual_cost` (its cost once completed).
async fn bookings_json(state: &ServerState, bookings: &[Booking]) -> serde_json::Value {
    let resources = state.engine.resources().await;
    let shaped: Vec<serde_json::Value> = bookings
        .iter()
        .map(|booking| {
            let mut value = serde_json::to_value(booking).unwrap_or_default();
            let name = resources
                .iter()
                .find(|r| r.id == booking.resource)
                .map(|r| r.name.clone());
            value["resource_id"] = serde_json::json!(booking.resource);
            value["resource_name"] = serde_json::json!(name);
            value["booked_by"] = serde_json::json!(booking.client);
            value["agent_id"] = serde_json::json!(booking.client);
            value["start_time"] = serde_json::json!(booking.start);
            value["end_time"] = serde_json::json!(booking.end);
            value["actual_cost"] = serde_json::json!(
                (booking.status == BookingStatus::Completed).then_some(booking.estimated_cost)
            );
            value
        })
        .collect();
    serde_json::Value::Array(shaped)
}

async fn booking_json(state: &ServerState, booking: Booking) -> serde_json::Value {
    let mut list = bookings_json(state, std::slice::from_ref(&booking)).await;
    list[0].take()
}

fn parse_status(text: &str) -> Result<BookingStatus, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| ApiError::bad_query("status", text, "confirmed, cancelled or completed"))
}

pub async fn list(
    state: web::Data<ServerState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = BookingFilter {
        resource: query.resource_id,
        client: caller.scope(query.client)?,
        status: query.status.as_deref().map(parse_status).transpose()?,
        from: parse_instant("from_date", query.from_date.as_deref())?,
        to: parse_instant("to_date", query.to_date.as_deref())?,
    };
    let bookings = state.engine.bookings(filter).await?;
    Ok(HttpResponse::Ok().json(bookings_json(&state, &bookings).await))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    resource_id: ResourceId,
    /// The client (the seed's `agent_id` is accepted too).
    #[serde(alias = "agent_id")]
    client: Option<ClientId>,
    start_time: Timestamp,
    end_time: Timestamp,
    #[serde(default)]
    purpose: String,
}

pub async fn create(
    state: web::Data<ServerState>,
    caller: Caller,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let client = caller.acting_for(body.client, "client")?;
    let booking = state
        .engine
        .book(
            &body.resource_id,
            &client,
            body.start_time,
            body.end_time,
            &body.purpose,
        )
        .await?;
    Ok(HttpResponse::Created().json(booking_json(&state, booking).await))
}

pub async fn cancel(
    state: web::Data<ServerState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = BookingId(parse_seq("booking", &id)?);
    let owner = state
        .engine
        .bookings(BookingFilter::default())
        .await?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| ApiError::not_found("booking", id))?
        .client;
    caller.may_act_for(&owner)?;
    let booking = state.engine.cancel_booking(id).await?;
    Ok(HttpResponse::Ok().json(booking_json(&state, booking).await))
}
