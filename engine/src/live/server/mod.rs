//! `qm serve`: the live engine and the vault over HTTP and a WebSocket, behind bearer tokens.
//!
//! Each resource has its module of handlers; this one holds the shared state, the route
//! table (also the source of the OpenAPI document's coverage test), and the server's start.

mod alerts;
mod auth;
mod bookings;
mod budgets;
mod costs;
mod credentials;
mod dashboard;
mod error;
mod fleet;
mod health;
mod metrics;
mod openapi;
mod queue;
mod quotas;
mod resources;
mod tokens;
mod ws;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::http::Method;
use actix_web::{App, HttpServer, web};

pub use auth::{ADMIN_TOKEN_VARIABLE, Caller, CreatedToken, TokenError, TokenInfo, TokenStore};
pub use error::ApiError;
pub use openapi::document as openapi_document;

use super::vault::{Vault, VaultError, VaultKey};
use super::{LiveConfig, LiveEngine, LiveError};
use crate::model::Timestamp;

/// The largest request body accepted; larger ones answer 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler shares.
pub struct ServerState {
    pub engine: LiveEngine,
    pub vault: Mutex<Vault>,
    pub tokens: TokenStore,
    started: Instant,
    requests_served: AtomicU64,
    /// Counted from the engine's events by `metrics::collect`, started with the server.
    collected: Arc<metrics::Collected>,
}

impl ServerState {
    pub fn new(engine: LiveEngine, vault: Vault, tokens: TokenStore) -> Self {
        ServerState {
            engine,
            vault: Mutex::new(vault),
            tokens,
            started: Instant::now(),
            requests_served: AtomicU64::new(0),
            collected: Arc::default(),
        }
    }

    /// Starts counting the engine's events into the metrics (call once, inside the
    /// server's runtime; until then request outcomes and waits are not counted).
    pub fn start_collecting(&self) {
        let events = self.engine.subscribe();
        actix_web::rt::spawn(metrics::collect(events, self.collected.clone()));
    }
}

/// Runs `work` on the vault off the async workers: SQLite waits for the disk.
async fn with_vault<T: Send + 'static>(
    state: &web::Data<ServerState>,
    work: impl FnOnce(&mut Vault) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    web::block(move || {
        // Every vault write is one transaction, so a poisoned lock guards nothing half-done.
        let mut vault = state.vault.lock().unwrap_or_else(|p| p.into_inner());
        work(&mut vault)
    })
    .await
    .map_err(ApiError::internal)?
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("opening the live engine: {0}")]
    Live(#[from] LiveError),
    #[error("opening the vault: {0}")]
    Vault(#[from] VaultError),
    #[error("opening the token store: {0}")]
    Tokens(#[from] TokenError),
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

macro_rules! routes {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every route the server answers, as (method, path) in OpenAPI's spelling.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::method(Method::$method).to($handler));)*
        }
    };
}

// Fixed paths before the `{id}` paths they would otherwise match.
routes! {
    GET "/health" => health::health,
    GET "/status" => health::status,
    GET "/metrics" => metrics::metrics,
    GET "/openapi.json" => openapi::serve_document,
    GET "/health/live" => health::live,
    GET "/health/ready" => health::ready,
    GET "/ws" => ws::events,
    GET "/api/whoami" => auth::whoami,
    GET "/admin/alerts" => alerts::list,
    GET "/api/clients" => queue::list_clients,
    POST "/api/clients" => queue::add_client,
    DELETE "/api/clients/{id}" => queue::remove_client,
    POST "/api/clients/{id}/credit" => budgets::top_up,
    POST "/api/credit/transfer" => budgets::transfer,
    POST "/internal/reserve" => budgets::reserve,
    POST "/internal/release" => budgets::release_by_body,
    POST "/internal/consume" => budgets::consume,
    POST "/api/reservations" => budgets::reserve,
    GET "/api/reservations/{id}" => budgets::get,
    POST "/api/reservations/{id}/track" => budgets::track,
    POST "/api/reservations/{id}/settle" => budgets::settle,
    DELETE "/api/reservations/{id}" => budgets::release,
    POST "/api/usage/consume" => budgets::consume,
    GET "/api/tokens" => tokens::list,
    POST "/api/tokens" => tokens::create,
    DELETE "/api/tokens/{id}" => tokens::revoke,
    GET "/api/pools" => queue::list_pools,
    GET "/api/fleet/pools" => fleet::pools,
    GET "/api/fleet/queue" => fleet::queue,
    GET "/api/fleet/series" => fleet::series,
    POST "/api/pools" => queue::add_pool,
    POST "/api/cost/estimate" => queue::estimate,
    GET "/api/credentials" => credentials::list,
    POST "/api/credentials" => credentials::create,
    GET "/api/credentials/{id}" => credentials::get,
    DELETE "/api/credentials/{id}" => credentials::delete,
    GET "/api/resources" => resources::list,
    POST "/api/resources" => resources::create,
    GET "/api/resources/availability" => resources::availability,
    GET "/api/resources/metrics" => resources::metrics,
    GET "/api/resources/{id}" => resources::get,
    DELETE "/api/resources/{id}" => resources::remove,
    GET "/api/bookings" => bookings::list,
    POST "/api/bookings" => bookings::create,
    DELETE "/api/bookings/{id}" => bookings::cancel,
    GET "/api/costs" => costs::summary,
    GET "/api/costs/series" => fleet::cost_series,
    POST "/api/costs" => costs::record,
    GET "/api/quotas" => quotas::list,
    POST "/api/quotas" => quotas::set,
    GET "/api/quotas/check" => quotas::check,
    PUT "/api/quotas/{id}/usage" => quotas::set_usage,
    POST "/api/quotas/{id}/reset" => quotas::reset,
    DELETE "/api/quotas/{id}" => quotas::remove,
    GET "/api/usage/{client_id}" => quotas::usage,
    GET "/api/usage/{client_id}/current" => quotas::current_usage,
    POST "/api/queue/enqueue" => queue::enqueue,
    GET "/api/queue/status" => queue::status,
    GET "/api/queue/position/{id}" => queue::position,
    DELETE "/api/queue/{id}" => queue::cancel,
    GET "/api/execution/{id}" => queue::execution,
    GET "/api/cost/{id}" => queue::cost,
    POST "/api/execution/{id}/cancel" => queue::cancel,
    POST "/api/execution/{id}/complete" => queue::complete,
    POST "/api/execution/{id}/heartbeat" => queue::heartbeat,
}

/// The API routes, the dashboard, their JSON, query and path error answers, and the body
/// limit.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_BODY_BYTES)
            .error_handler(|e, _| ApiError::from_json(&e).into()),
    )
    .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
    .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::from_query(&e).into()))
    .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::from_path(&e).into()));
    register(cfg);
    dashboard::register(cfg);
}

/// Opens the engine (with `config`), the vault and the tokens in `db`, binds `bind`, tells `ready` the
/// address it got (port 0 picks a free one), and serves until stopped. Runs inside an actix
/// system.
pub async fn serve(
    db: &Path,
    bind: SocketAddr,
    config: LiveConfig,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let engine = LiveEngine::open(db, config).await?;
    let vault = Vault::open_path(db, VaultKey::from_env()?)?;
    let admin = std::env::var(ADMIN_TOKEN_VARIABLE).ok();
    let tokens = TokenStore::open(db, admin.as_deref())?;
    let state = web::Data::new(ServerState::new(engine.clone(), vault, tokens));
    state.start_collecting();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap_fn(|req, srv| {
                if let Some(state) = req.app_data::<web::Data<ServerState>>() {
                    state.requests_served.fetch_add(1, Ordering::Relaxed);
                }
                actix_web::dev::Service::call(srv, req)
            })
            .configure(configure)
            .default_service(web::to(no_route))
    })
    .bind(bind)?;
    for addr in server.addrs() {
        tracing::info!(%addr, "listening");
    }
    ready(server.addrs()[0]);
    server.run().await?;
    // Stopped (Ctrl-C, SIGTERM): a last snapshot, so the next start replays nothing.
    engine.close().await?;
    Ok(())
}

async fn no_route(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        format!(
            "no route {} {}: see /openapi.json",
            req.method(),
            req.path()
        ),
    ))
}

/// A query parameter holding an RFC 3339 instant.
fn parse_instant(field: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(|t| {
        Timestamp::parse(t).map_err(|_| {
            ApiError::bad_query(field, t, "an RFC 3339 instant such as 2026-11-24T09:00:00Z")
        })
    })
    .transpose()
}

/// A path id that is a sequence number; anything else names nothing.
fn parse_seq(kind: &str, text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| ApiError::not_found(kind, text))
}

/// A JSON body that may be empty (then `T::default()`), with the usual error answers.
fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::from_serde(&e))
}
