//! `/health`, `/health/live`, `/health/ready` and `/status`: open to anyone, nothing about
//! any client. (`/metrics` is `metrics.rs`.)

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};

use super::{ApiError, ServerState};
use crate::live::Health;

/// The answer of `/health` and `/health/ready`: 200 when the journal writer answers and
/// the database takes a write, else 503 naming what fails and why.
fn readiness(health: &Health) -> HttpResponse {
    let check = |part: &Result<(), String>| match part {
        Ok(()) => serde_json::json!({ "status": "ok" }),
        Err(reason) => serde_json::json!({ "status": "failing", "reason": reason }),
    };
    let mut reasons = Vec::new();
    for (name, part) in [
        ("journal writer", &health.journal_writer),
        ("database", &health.database),
    ] {
        if let Err(reason) = part {
            reasons.push(format!("{name}: {reason}"));
        }
    }
    let mut body = serde_json::json!({
        "status": if health.is_ready() { "ok" } else { "failing" },
        "checks": {
            "journal_writer": check(&health.journal_writer),
            "database": check(&health.database),
        },
    });
    if !reasons.is_empty() {
        body["reason"] = reasons.join("; ").into();
    }
    if let Some(error) = &health.last_commit_error {
        body["last_commit_error"] = error.as_str().into();
    }
    if health.is_ready() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Whether the engine can take changes (the same as `/health/ready`).
pub async fn health(state: web::Data<ServerState>) -> HttpResponse {
    readiness(&state.engine.health().await)
}

/// Whether the engine can take changes: the journal writer answers and the database takes
/// a write. A load balancer sends traffic only while this answers 200.
pub async fn ready(state: web::Data<ServerState>) -> HttpResponse {
    readiness(&state.engine.health().await)
}

/// Whether the process serves HTTP at all (checks nothing else): a supervisor restarts the
/// process only when this fails.
pub async fn live(state: web::Data<ServerState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "uptime_secs": state.started.elapsed().as_secs(),
    }))
}

pub async fn status(state: web::Data<ServerState>) -> Result<HttpResponse, ApiError> {
    let queue = state.engine.queue_status(None).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "clients": state.engine.clients().await.len(),
        "resources": state.engine.resources().await.len(),
        "quotas": state.engine.quotas().await.len(),
        "queued": queue.queued.iter().sum::<usize>(),
        "running": queue.running,
        "requests_served": state.requests_served.load(Ordering::Relaxed),
    })))
}
