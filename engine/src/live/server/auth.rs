//! Bearer tokens: an admin may do everything, a client token acts for its own client only.
//!
//! Tokens are stored as their SHA-256 in the `api_tokens` table of the engine's database,
//! over a connection of their own (the journal's WAL mode lets both write). The plaintext
//! exists only in the creator's output and in the callers' headers; a listing shows each
//! token's id, role, times and first characters, never the token. A revoked token is
//! deleted, and an expired one refused, on the very next request: every request looks its
//! token up afresh.

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
    #[error("invalid expires_in_secs: got {0}, expected a number of seconds above zero")]
    BadExpiry(u64),
    #[error("unknown token {0}: see `qm token list`")]
    Unknown(i64),
}

/// A stored token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    /// `admin`, or `client` (acting for `client` only).
    pub role: String,
    pub client: Option<ClientId>,
    pub created_at: String,
    /// When it stops working, if it expires.
    pub expires_at: Option<String>,
    /// Its first characters, to tell tokens apart (`qm_1a2b3c…`).
    pub hint: String,
}

/// What creating a token answers: its only plaintext copy, and how it is listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
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
        // Databases made before tokens could expire or be listed gain the columns; their
        // tokens keep working, never expiring.
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('api_tokens')")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for (column, kind) in [("expires_at", "TEXT"), ("hint", "TEXT NOT NULL DEFAULT ''")] {
            if !columns.iter().any(|c| c == column) {
                conn.execute_batch(&format!(
                    "ALTER TABLE api_tokens ADD COLUMN {column} {kind}"
                ))?;
            }
        }
        Ok(TokenStore {
            conn: Mutex::new(conn),
            admin_hash: admin_token.filter(|t| !t.is_empty()).map(hash),
        })
    }

    /// Creates a token (admin when `client` is `None`) and returns its only plaintext copy.
    pub fn create(&self, client: Option<&ClientId>) -> Result<String, TokenError> {
        Ok(self.issue(client, None)?.token)
    }

    /// Creates a token that stops working after `expires_in_secs` (never if `None`).
    pub fn issue(
        &self,
        client: Option<&ClientId>,
        expires_in_secs: Option<u64>,
    ) -> Result<CreatedToken, TokenError> {
        if let Some(c) = client.filter(|c| c.as_str().trim().is_empty()) {
            return Err(TokenError::EmptyClient(c.to_string()));
        }
        let now = WallClock.now();
        let expires_at = match expires_in_secs {
            Some(0) => return Err(TokenError::BadExpiry(0)),
            Some(secs) => {
                let secs = secs.min(100 * 365 * 86_400);
                Some((now + std::time::Duration::from_secs(secs)).to_string())
            }
            None => None,
        };
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(TokenError::Randomness)?;
        let token: String = std::iter::once("qm_".to_owned())
            .chain(secret.iter().map(|b| format!("{b:02x}")))
            .collect();
        let hint = format!("{}…", &token[..9]);
        let conn = self.lock();
        conn.execute(
            "INSERT INTO api_tokens (hash, client, created_at, expires_at, hint)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                hash(&token).as_slice(),
                client.map(ClientId::as_str),
                now.to_string(),
                expires_at,
                hint
            ],
        )?;
        let id = conn.last_insert_rowid();
        drop(conn);
        let info = TokenInfo {
            id,
            role: role(client.is_none()).to_owned(),
            client: client.cloned(),
            created_at: now.to_string(),
            expires_at,
            hint,
        };
        Ok(CreatedToken { token, info })
    }

    /// Every stored token (not the environment's admin token), oldest first; `client`
    /// limits the list to that client's tokens.
    pub fn list(&self, client: Option<&ClientId>) -> Result<Vec<TokenInfo>, TokenError> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(
            "SELECT rowid, client, created_at, expires_at, hint FROM api_tokens
             WHERE ?1 IS NULL OR client = ?1 ORDER BY rowid",
        )?;
        let rows = statement.query_map([client.map(ClientId::as_str)], |row| {
            let client: Option<String> = row.get(1)?;
            Ok(TokenInfo {
                id: row.get(0)?,
                role: role(client.is_none()).to_owned(),
                client: client.map(ClientId::new),
                created_at: row.get(2)?,
                expires_at: row.get(3)?,
                hint: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes (deletes) a token by its id: it is refused from the next request on.
    pub fn revoke(&self, id: i64) -> Result<TokenInfo, TokenError> {
        let found = self
            .list(None)?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(TokenError::Unknown(id))?;
        self.lock()
            .execute("DELETE FROM api_tokens WHERE rowid = ?1", [id])?;
        Ok(found)
    }

    /// Revokes every token of `client` (a removed client's tokens must stop working).
    pub fn revoke_client(&self, client: &ClientId) -> Result<usize, TokenError> {
        Ok(self.lock().execute(
            "DELETE FROM api_tokens WHERE client = ?1",
            [client.as_str()],
        )?)
    }

    /// Who `token` acts for, if it is known.
    pub fn caller(&self, token: &str) -> Result<Option<Caller>, TokenError> {
        let digest = hash(token);
        if self.admin_hash == Some(digest) {
            return Ok(Some(Caller::Admin));
        }
        let conn = self.lock();
        let mut statement =
            conn.prepare_cached("SELECT client, expires_at FROM api_tokens WHERE hash = ?1")?;
        let row: Option<(Option<String>, Option<String>)> = statement
            .query_row([digest.as_slice()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((client, expires_at)) = row else {
            return Ok(None);
        };
        // An expiry that cannot be read is taken as expired: refusing is the safe side.
        let expired = expires_at.is_some_and(|at| {
            crate::model::Timestamp::parse(&at).map_or(true, |at| at <= WallClock.now())
        });
        if expired {
            return Ok(None);
        }
        Ok(Some(match client {
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

fn role(admin: bool) -> &'static str {
    if admin { "admin" } else { "client" }
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
