//! Bearer tokens: an admin may do everything, a client token acts for its own client only.
//!
//! Tokens are stored as their SHA-256 in the `api_tokens` table of the engine's database,
//! over a connection of their own (the journal's WAL mode lets both write). The plaintext
//! exists only in the creator's output and in the callers' headers.

use std::future::{Ready, ready};
use std::path::Path;
use std::sync::Mutex;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::ServerState;
use super::error::ApiError;
use crate::clock::{Clock, WallClock};
use crate::model::ClientId;

/// The environment variable holding a token that is always admin (compared by its hash).
pub const ADMIN_TOKEN_VARIABLE: &str = "QM_ADMIN_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token store: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("no OS randomness for a token: {0}")]
    Randomness(getrandom::Error),
    #[error("invalid client id {0:?}: expected a non-empty name")]
    EmptyClient(String),
}

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Client(ClientId),
}

impl Caller {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Client(_) => Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "this operation needs an admin token",
            )),
        }
    }

    /// Whether this caller may see or change what belongs to `owner`.
    pub fn may_act_for(&self, owner: &ClientId) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Client(me) if me == owner => Ok(()),
            Caller::Client(_) => Err(ApiError::forbidden(format!("client {owner}'s data"))),
        }
    }

    /// The client a request acts for: the one named, which a client token may name only
    /// as itself (and defaults to); an admin must name one.
    pub fn acting_for(&self, named: Option<ClientId>, field: &str) -> Result<ClientId, ApiError> {
        match (self, named) {
            (_, Some(client)) => {
                self.may_act_for(&client)?;
                Ok(client)
            }
            (Caller::Client(me), None) => Ok(me.clone()),
            (Caller::Admin, None) => Err(ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                format!("missing {field}: an admin token must name the client it acts for"),
            )
            .with_field(field)),
        }
    }

    /// The client whose data a listing is limited to (`None`: everyone's, for an admin).
    pub fn scope(&self, named: Option<ClientId>) -> Result<Option<ClientId>, ApiError> {
        match (self, named) {
            (Caller::Admin, named) => Ok(named),
            (Caller::Client(_), Some(client)) => {
                self.may_act_for(&client)?;
                Ok(Some(client))
            }
            (Caller::Client(me), None) => Ok(Some(me.clone())),
        }
    }
}

/// The token table and the environment's admin token.
pub struct TokenStore {
    conn: Mutex<Connection>,
    admin_hash: Option<[u8; 32]>,
}

impl TokenStore {
    /// Opens the token table in the SQLite file at `path`, creating it if missing.
    pub fn open(path: &Path, admin_token: Option<&str>) -> Result<TokenStore, TokenError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS api_tokens (
                hash BLOB PRIMARY KEY,
                client TEXT,
                created_at TEXT NOT NULL
            )",
        )?;
        Ok(TokenStore {
            conn: Mutex::new(conn),
            admin_hash: admin_token.filter(|t| !t.is_empty()).map(hash),
        })
    }

    /// Creates a token (admin when `client` is `None`) and returns its only plaintext copy.
    pub fn create(&self, client: Option<&ClientId>) -> Result<String, TokenError> {
        if let Some(c) = client.filter(|c| c.as_str().is_empty()) {
            return Err(TokenError::EmptyClient(c.to_string()));
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(TokenError::Randomness)?;
        let token: String = std::iter::once("qm_".to_owned())
            .chain(secret.iter().map(|b| format!("{b:02x}")))
            .collect();
        self.lock().execute(
            "INSERT INTO api_tokens (hash, client, created_at) VALUES (?1, ?2, ?3)",
            params![
                hash(&token).as_slice(),
                client.map(ClientId::as_str),
                WallClock.now().to_string()
            ],
        )?;
        Ok(token)
    }

    /// Who `token` acts for, if it is known.
    pub fn caller(&self, token: &str) -> Result<Option<Caller>, TokenError> {
        let digest = hash(token);
        if self.admin_hash == Some(digest) {
            return Ok(Some(Caller::Admin));
        }
        let conn = self.lock();
        let mut statement = conn.prepare_cached("SELECT client FROM api_tokens WHERE hash = ?1")?;
        let row: Option<Option<String>> = statement
            .query_row([digest.as_slice()], |row| row.get(0))
            .optional()?;
        Ok(row.map(|client| match client {
            None => Caller::Admin,
            Some(id) => Caller::Client(ClientId::new(id)),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection half-changed: every
        // statement is its own transaction.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(token.as_bytes()));
    out
}

/// The bearer token of a request; for `/ws` also `?token=`, since browsers cannot set
/// headers on a WebSocket.
fn presented_token(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(AUTHORIZATION) {
        let text = value.to_str().ok()?;
        return text.strip_prefix("Bearer ").map(|t| t.trim().to_owned());
    }
    if req.path() == "/ws" {
        return web::Query::<TokenQuery>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.into_inner().token);
    }
    None
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<ServerState>>() else {
            return ready(Err(ApiError::internal("the server state is missing")));
        };
        let Some(token) = presented_token(req) else {
            return ready(Err(ApiError::unauthorized()));
        };
        ready(match state.tokens.caller(&token) {
            Ok(Some(caller)) => Ok(caller),
            Ok(None) => Err(ApiError::unauthorized()),
            Err(e) => Err(ApiError::internal(e)),
        })
    }
}

/// `GET /api/whoami`: who the presented token acts for, so a page can show only what
/// that caller may use (the API enforces it regardless).
pub async fn whoami(caller: Caller) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(match caller {
        Caller::Admin => serde_json::json!({ "role": "admin" }),
        Caller::Client(client) => serde_json::json!({ "role": "client", "client": client }),
    })
}
