//! The vault's two tables and every statement that touches them.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::VaultError;
use super::cipher::Sealed;
use crate::model::{
    ClientId, CredentialId, CredentialKind, CredentialMeta, Timestamp, ValidationError,
};

/// The version of the tables below, kept in `vault_meta`. A database written by a newer
/// version is refused rather than misread.
pub(super) const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS vault_meta (
    singleton       INTEGER PRIMARY KEY CHECK (singleton = 1),
    schema_version  INTEGER NOT NULL,
    key_check_nonce BLOB NOT NULL,
    key_check       BLOB NOT NULL,
    next_seq        INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS vault_credentials (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    service     TEXT NOT NULL,
    description TEXT NOT NULL,
    owner       TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    last_used   INTEGER,
    usage_count INTEGER NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS vault_credentials_by_owner ON vault_credentials (owner, seq);
";

const META_COLUMNS: &str = "id, name, kind, service, description, owner, permissions, \
                            created_at, last_used, usage_count";

/// Creates the vault's tables where missing; existing tables and rows are left alone.
/// Timestamps are integer nanoseconds since the Unix epoch (UTC), permissions a JSON array.
pub fn ensure_schema(conn: &Connection) -> Result<(), VaultError> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

pub(super) struct VaultMeta {
    pub schema_version: i64,
    pub key_check: Sealed,
}

pub(super) fn has_meta_table(conn: &Connection) -> Result<bool, VaultError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vault_meta'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub(super) fn read_meta(conn: &Connection) -> Result<Option<VaultMeta>, VaultError> {
    Ok(conn
        .query_row(
            "SELECT schema_version, key_check_nonce, key_check FROM vault_meta",
            [],
            |row| {
                Ok(VaultMeta {
                    schema_version: row.get(0)?,
                    key_check: Sealed {
                        nonce: row.get(1)?,
                        ciphertext: row.get(2)?,
                    },
                })
            },
        )
        .optional()?)
}

pub(super) fn insert_meta(conn: &Connection, key_check: &Sealed) -> Result<(), VaultError> {
    conn.execute(
        "INSERT INTO vault_meta (singleton, schema_version, key_check_nonce, key_check, next_seq)
         VALUES (1, ?1, ?2, ?3, 1)",
        params![SCHEMA_VERSION, key_check.nonce, key_check.ciphertext],
    )?;
    Ok(())
}

pub(super) fn write_key_check(conn: &Connection, key_check: &Sealed) -> Result<(), VaultError> {
    conn.execute(
        "UPDATE vault_meta SET key_check_nonce = ?1, key_check = ?2",
        params![key_check.nonce, key_check.ciphertext],
    )?;
    Ok(())
}

/// The next credential number, never reused even after deletes, so a stale id cannot come
/// to name a different secret.
pub(super) fn take_next_seq(conn: &Connection) -> Result<i64, VaultError> {
    Ok(conn.query_row(
        "UPDATE vault_meta SET next_seq = next_seq + 1 RETURNING next_seq - 1",
        [],
        |row| row.get(0),
    )?)
}

pub(super) fn insert_credential(
    conn: &Connection,
    seq: i64,
    meta: &CredentialMeta,
    sealed: &Sealed,
) -> Result<(), VaultError> {
    let permissions = serde_json::to_string(&meta.permissions)
        .map_err(|e| ValidationError::new("permissions", e, "a list of strings"))?;
    conn.execute(
        "INSERT INTO vault_credentials (seq, id, name, kind, service, description, owner,
             permissions, created_at, last_used, usage_count, nonce, ciphertext)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, 0, ?10, ?11)",
        params![
            seq,
            meta.id.as_str(),
            meta.name,
            meta.kind.as_str(),
            meta.service,
            meta.description,
            meta.owner.as_str(),
            permissions,
            meta.created_at.nanos(),
            sealed.nonce,
            sealed.ciphertext,
        ],
    )?;
    Ok(())
}

/// Metadata of every credential in creation order, or only `owner`'s.
pub(super) fn select_metas(
    conn: &Connection,
    owner: Option<&ClientId>,
) -> Result<Vec<CredentialMeta>, VaultError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {META_COLUMNS} FROM vault_credentials
         WHERE ?1 IS NULL OR owner = ?1 ORDER BY seq"
    ))?;
    let rows = statement
        .query_map([owner.map(ClientId::as_str)], StoredMeta::read)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(StoredMeta::into_meta).collect()
}

pub(super) fn select_meta(
    conn: &Connection,
    id: &CredentialId,
) -> Result<Option<CredentialMeta>, VaultError> {
    conn.query_row(
        &format!("SELECT {META_COLUMNS} FROM vault_credentials WHERE id = ?1"),
        [id.as_str()],
        StoredMeta::read,
    )
    .optional()?
    .map(StoredMeta::into_meta)
    .transpose()
}

pub(super) fn select_sealed(
    conn: &Connection,
    id: &CredentialId,
) -> Result<Option<(CredentialMeta, Sealed)>, VaultError> {
    conn.query_row(
        &format!("SELECT {META_COLUMNS}, nonce, ciphertext FROM vault_credentials WHERE id = ?1"),
        [id.as_str()],
        |row| Ok((StoredMeta::read(row)?, read_sealed(row, 10)?)),
    )
    .optional()?
    .map(|(meta, sealed)| Ok((meta.into_meta()?, sealed)))
    .transpose()
}

/// Every credential's id and ciphertext, in creation order.
pub(super) fn select_all_sealed(
    conn: &Connection,
) -> Result<Vec<(CredentialId, Sealed)>, VaultError> {
    let mut statement =
        conn.prepare("SELECT id, nonce, ciphertext FROM vault_credentials ORDER BY seq")?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                CredentialId::new(row.get::<_, String>(0)?),
                read_sealed(row, 1)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn record_use(conn: &Connection, meta: &CredentialMeta) -> Result<(), VaultError> {
    let usage_count = i64::try_from(meta.usage_count).unwrap_or(i64::MAX);
    conn.execute(
        "UPDATE vault_credentials SET last_used = ?2, usage_count = ?3 WHERE id = ?1",
        params![
            meta.id.as_str(),
            meta.last_used.map(Timestamp::nanos),
            usage_count
        ],
    )?;
    Ok(())
}

/// Replaces a credential's ciphertext; false when no credential has that id.
pub(super) fn update_sealed(
    conn: &Connection,
    id: &CredentialId,
    sealed: &Sealed,
) -> Result<bool, VaultError> {
    let changed = conn.execute(
        "UPDATE vault_credentials SET nonce = ?2, ciphertext = ?3 WHERE id = ?1",
        params![id.as_str(), sealed.nonce, sealed.ciphertext],
    )?;
    Ok(changed == 1)
}

/// Deletes a credential's row; false when no credential has that id.
pub(super) fn delete(conn: &Connection, id: &CredentialId) -> Result<bool, VaultError> {
    let changed = conn.execute("DELETE FROM vault_credentials WHERE id = ?1", [id.as_str()])?;
    Ok(changed == 1)
}

fn read_sealed(row: &Row<'_>, first: usize) -> rusqlite::Result<Sealed> {
    Ok(Sealed {
        nonce: row.get(first)?,
        ciphertext: row.get(first + 1)?,
    })
}

/// A metadata row as SQLite returns it, before its text is checked.
struct StoredMeta {
    id: String,
    name: String,
    kind: String,
    service: String,
    description: String,
    owner: String,
    permissions: String,
    created_at: i64,
    last_used: Option<i64>,
    usage_count: i64,
}

impl StoredMeta {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredMeta {
            id: row.get(0)?,
            name: row.get(1)?,
            kind: row.get(2)?,
            service: row.get(3)?,
            description: row.get(4)?,
            owner: row.get(5)?,
            permissions: row.get(6)?,
            created_at: row.get(7)?,
            last_used: row.get(8)?,
            usage_count: row.get(9)?,
        })
    }

    fn into_meta(self) -> Result<CredentialMeta, VaultError> {
        let corrupt = |field, value: String, expected| VaultError::CorruptRow {
            row: self.id.clone(),
            field,
            value,
            expected,
        };
        let kind = CredentialKind::parse(&self.kind).map_err(|_| {
            corrupt(
                "kind",
                format!("{:?}", self.kind),
                "one of api_key, token, password, certificate, other",
            )
        })?;
        let permissions = serde_json::from_str(&self.permissions).map_err(|_| {
            corrupt(
                "permissions",
                format!("{:?}", self.permissions),
                "a JSON list of strings",
            )
        })?;
        let usage_count = u64::try_from(self.usage_count).map_err(|_| {
            corrupt(
                "usage_count",
                self.usage_count.to_string(),
                "a count of zero or more",
            )
        })?;
        Ok(CredentialMeta {
            id: CredentialId::new(self.id),
            name: self.name,
            kind,
            service: self.service,
            description: self.description,
            owner: ClientId::new(self.owner),
            permissions,
            created_at: Timestamp::from_nanos(self.created_at),
            last_used: self.last_used.map(Timestamp::from_nanos),
            usage_count,
        })
    }
}
