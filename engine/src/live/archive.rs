//! The trace archive: commands compacted out of the live database, kept beside it in a
//! second SQLite file (`fleet.db` → `fleet.archive.db`) with the journal's own table
//! layout, because the recorded traffic is what a replay of live traffic under a changed
//! policy reads. Retention drops the oldest commands by age or by size.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use super::journal::{Entry, StoreError, decode_entry};
use crate::model::Timestamp;

/// `PRAGMA application_id` of a Quartermaster trace archive ("QMar").
const APPLICATION_ID: i64 = 0x514d_6172;
const SCHEMA_VERSION: i64 = 1;

/// How long the archive keeps commands.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ArchiveSettings {
    /// Commands older than this (behind the newest archived one) are dropped.
    pub keep_for: Option<Duration>,
    /// The oldest commands are dropped while the archived command text exceeds this.
    pub max_bytes: Option<u64>,
}

/// What `qm db info` shows of an archive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArchiveInfo {
    pub path: String,
    pub file_bytes: u64,
    pub commands: u64,
    pub first_command: Option<i64>,
    pub last_command: Option<i64>,
    pub first_at: Option<Timestamp>,
    pub last_at: Option<Timestamp>,
}

/// The archive that goes with the database at `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map_or_else(|| "journal".into(), |s| s.to_string_lossy().into_owned());
    db.with_file_name(format!("{stem}.archive.db"))
}

pub(super) struct Archive {
    connection: Connection,
    settings: ArchiveSettings,
}

fn connect(path: &Path, create: bool) -> Result<Connection, StoreError> {
    let shown = path.display().to_string();
    let flags = if create {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let connection = Connection::open_with_flags(path, flags)?;
    let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
        path: shown.clone(),
        detail: e.to_string(),
    };
    let application_id: i64 = connection
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(corrupt)?;
    let tables: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(corrupt)?;
    if application_id != APPLICATION_ID && tables > 0 {
        return Err(StoreError::Foreign { path: shown });
    }
    let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: shown,
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if create && tables == 0 {
        connection.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        connection.execute_batch(&format!(
            "BEGIN;
             CREATE TABLE journal (
                 seq     INTEGER PRIMARY KEY,
                 at      INTEGER NOT NULL,
                 command TEXT    NOT NULL
             );
             CREATE INDEX journal_by_time ON journal (at);
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {SCHEMA_VERSION};
             COMMIT;"
        ))?;
    }
    if create {
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
    }
    Ok(connection)
}

impl Archive {
    /// Opens (or creates) the archive of the database at `db`.
    pub fn open(db: &Path, settings: ArchiveSettings) -> Result<Archive, StoreError> {
        Ok(Archive {
            connection: connect(&path_for(db), true)?,
            settings,
        })
    }

    /// Copies the commands up to `upto` from the live database into the archive (on disk
    /// when this returns), then applies retention. Answers (moved, dropped by retention).
    pub fn take_from(&mut self, main: &Connection, upto: i64) -> Result<(u64, u64), StoreError> {
        let transaction = self.connection.transaction()?;
        let mut moved = 0;
        {
            let mut read = main.prepare("SELECT seq, at, command FROM journal WHERE seq <= ?1")?;
            let mut insert = transaction.prepare_cached(
                "INSERT OR IGNORE INTO journal (seq, at, command) VALUES (?1, ?2, ?3)",
            )?;
            let mut rows = read.query([upto])?;
            while let Some(row) = rows.next()? {
                let (seq, at, command): (i64, i64, String) =
                    (row.get(0)?, row.get(1)?, row.get(2)?);
                insert.execute(params![seq, at, command])?;
                moved += 1;
            }
        }
        transaction.commit()?;
        let expired = self.retain()?;
        Ok((moved, expired))
    }

    fn retain(&mut self) -> Result<u64, StoreError> {
        let mut dropped = 0;
        if let Some(keep) = self.settings.keep_for {
            let keep = i64::try_from(keep.as_nanos()).unwrap_or(i64::MAX);
            dropped += self.connection.execute(
                "DELETE FROM journal WHERE at < (SELECT max(at) FROM journal) - ?1",
                [keep],
            )? as u64;
        }
        if let Some(max) = self.settings.max_bytes {
            // The newest commands whose text fits in `max` stay.
            dropped += self.connection.execute(
                "DELETE FROM journal WHERE seq <= (
                     SELECT seq FROM (
                         SELECT seq, sum(length(command)) OVER (ORDER BY seq DESC) AS kept
                         FROM journal
                     ) WHERE kept > ?1 ORDER BY seq DESC LIMIT 1
                 )",
                [i64::try_from(max).unwrap_or(i64::MAX)],
            )? as u64;
        }
        if dropped > 0 {
            self.connection.execute_batch("PRAGMA incremental_vacuum")?;
        }
        Ok(dropped)
    }
}

/// What the archive of the database at `db` holds, if it has one.
pub fn info(db: &Path) -> Result<Option<ArchiveInfo>, StoreError> {
    let path = path_for(db);
    if !path.exists() {
        return Ok(None);
    }
    let connection = connect(&path, false)?;
    let (commands, first_command, last_command, first_at, last_at) = connection.query_row(
        "SELECT count(*), min(seq), max(seq), min(at), max(at) FROM journal",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        },
    )?;
    Ok(Some(ArchiveInfo {
        file_bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        path: path.display().to_string(),
        commands,
        first_command,
        last_command,
        first_at: first_at.map(Timestamp::from_nanos),
        last_at: last_at.map(Timestamp::from_nanos),
    }))
}

/// The archived commands of the database at `db`, in order (none without an archive).
pub fn read(db: &Path) -> Result<Vec<Entry>, StoreError> {
    let path = path_for(db);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let connection = connect(&path, false)?;
    let mut statement = connection.prepare("SELECT seq, at, command FROM journal ORDER BY seq")?;
    let mut rows = statement.query([])?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next()? {
        let text: String = row.get(2)?;
        entries.push(decode_entry(row.get(0)?, row.get(1)?, &text)?);
    }
    Ok(entries)
}
