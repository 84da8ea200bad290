//! `/health`, `/status` and `/metrics`: open to anyone, nothing about any client.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};

use super::{ApiError, ServerState};
use crate::model::{BookingStatus, RequestClass};
use crate::policy::booking::BookingFilter;

pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
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

/// Prometheus text exposition format, version 0.0.4.
pub async fn metrics(state: web::Data<ServerState>) -> Result<HttpResponse, ApiError> {
    let queue = state.engine.queue_status(None).await?;
    let confirmed = state
        .engine
        .bookings(BookingFilter {
            status: Some(BookingStatus::Confirmed),
            ..BookingFilter::default()
        })
        .await?
        .len();
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, samples: &[(String, f64)]| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(text, "{name}{labels} {value}");
        }
    };
    let queued: Vec<(String, f64)> = RequestClass::ALL
        .iter()
        .map(|c| (format!("{{class=\"{c}\"}}"), queue.queued[c.index()] as f64))
        .collect();
    gauge(
        "qm_queue_depth",
        "Requests waiting, by class.",
        "gauge",
        &queued,
    );
    gauge(
        "qm_running_requests",
        "Requests holding pool capacity.",
        "gauge",
        &[(String::new(), queue.running as f64)],
    );
    gauge(
        "qm_confirmed_bookings",
        "Confirmed resource bookings.",
        "gauge",
        &[(String::new(), confirmed as f64)],
    );
    gauge(
        "qm_http_requests_total",
        "HTTP requests received since the server started.",
        "counter",
        &[(
            String::new(),
            state.requests_served.load(Ordering::Relaxed) as f64,
        )],
    );
    gauge(
        "qm_uptime_seconds",
        "Seconds since the server started.",
        "gauge",
        &[(String::new(), state.started.elapsed().as_secs_f64())],
    );
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}
