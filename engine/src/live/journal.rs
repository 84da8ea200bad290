//! The durable command log. Every change the live engine accepts is appended here before
//! the caller hears "done"; on open, the log is replayed through the same actors on a
//! virtual clock, which rebuilds their state exactly (the engine is deterministic given
//! its commands and their instants).
//!
//! Appends go to one writer thread that commits them in batches (group commit): callers
//! queue their command and wait for the batch that holds it to reach the disk, so many
//! concurrent callers share one fsync.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::oneshot;

use super::command::Command;
use crate::model::Timestamp;

/// `PRAGMA application_id` of a Quartermaster database ("QMst").
const APPLICATION_ID: i64 = 0x514d_7374;
/// The schema this build writes; older ones are migrated forward on open.
const SCHEMA_VERSION: i64 = 1;
/// Most commands committed in one transaction.
const MAX_BATCH: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not a Quartermaster database (it holds other tables); refusing to touch it")]
    Foreign { path: String },
    #[error("{path} is not a readable SQLite database ({detail}); nothing was changed")]
    Corrupt { path: String, detail: String },
    #[error(
        "{path} was written by a newer Quartermaster (schema {found}, this build reads up to {supported})"
    )]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("journal entry {seq} cannot be read: {detail}")]
    BadEntry { seq: i64, detail: String },
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the journal writer has stopped")]
    WriterGone,
}

/// Where the journal lives.
#[derive(Debug, Clone)]
pub enum Location {
    File(PathBuf),
    /// For tests only: nothing survives the process.
    Memory,
}

/// One logged command.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: i64,
    pub at: Timestamp,
    pub command: Command,
}

struct Append {
    at: Timestamp,
    command: String,
    done: oneshot::Sender<Result<(), String>>,
}

/// Handle to the writer thread.
pub struct Journal {
    sender: Option<mpsc::Sender<Append>>,
    writer: Option<thread::JoinHandle<()>>,
}

/// Waits until an appended command is on disk.
pub struct Durable(oneshot::Receiver<Result<(), String>>);

impl Durable {
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(detail)) => Err(StoreError::Sqlite(rusqlite::Error::InvalidParameterName(
                detail,
            ))),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

/// Opens (or creates) the database, migrates it, and reads back every logged command.
pub fn open(location: &Location, group_commit: bool) -> Result<(Journal, Vec<Entry>), StoreError> {
    let connection = connect(location)?;
    let entries = read_all(&connection)?;
    let (sender, receiver) = mpsc::channel::<Append>();
    let writer = thread::Builder::new()
        .name("qm-journal".into())
        .spawn(move || write_loop(connection, receiver, group_commit))
        .map_err(|e| StoreError::Sqlite(rusqlite::Error::InvalidParameterName(e.to_string())))?;
    Ok((
        Journal {
            sender: Some(sender),
            writer: Some(writer),
        },
        entries,
    ))
}

fn path_of(location: &Location) -> String {
    match location {
        Location::File(path) => path.display().to_string(),
        Location::Memory => ":memory:".to_owned(),
    }
}

fn connect(location: &Location) -> Result<Connection, StoreError> {
    let path = path_of(location);
    let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
        path: path.clone(),
        detail: e.to_string(),
    };
    let connection = match location {
        Location::File(file) => Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?,
        Location::Memory => Connection::open_in_memory()?,
    };
    // Reading the header is the first thing that fails on a file that is not SQLite.
    let application_id: i64 = connection
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(corrupt)?;
    let user_version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(corrupt)?;
    let tables: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(corrupt)?;
    if application_id != APPLICATION_ID && (tables > 0 || user_version != 0) {
        return Err(StoreError::Foreign { path });
    }
    if user_version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path,
            found: user_version,
            supported: SCHEMA_VERSION,
        });
    }
    if matches!(location, Location::File(_)) {
        connection.pragma_update(None, "journal_mode", "WAL")?;
    }
    // FULL: a commit is on disk when it returns, WAL or not.
    connection.pragma_update(None, "synchronous", "FULL")?;
    migrate(&connection, user_version)?;
    Ok(connection)
}

/// Brings the schema from `from` up to `SCHEMA_VERSION`, one version per step.
fn migrate(connection: &Connection, from: i64) -> Result<(), StoreError> {
    if from < 1 {
        connection.execute_batch(&format!(
            "BEGIN;
             CREATE TABLE journal (
                 seq     INTEGER PRIMARY KEY,
                 at      INTEGER NOT NULL,
                 command TEXT    NOT NULL
             );
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = 1;
             COMMIT;"
        ))?;
    }
    Ok(())
}

fn read_all(connection: &Connection) -> Result<Vec<Entry>, StoreError> {
    let mut statement = connection.prepare("SELECT seq, at, command FROM journal ORDER BY seq")?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    let mut entries = Vec::new();
    for row in rows {
        let (seq, at, text) = row?;
        let command = serde_json::from_str(&text).map_err(|e| StoreError::BadEntry {
            seq,
            detail: e.to_string(),
        })?;
        entries.push(Entry {
            seq,
            at: Timestamp::from_nanos(at),
            command,
        });
    }
    Ok(entries)
}

fn write_loop(mut connection: Connection, receiver: mpsc::Receiver<Append>, group_commit: bool) {
    let mut batch: Vec<Append> = Vec::new();
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        if group_commit {
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        let result = commit(&mut connection, &batch).map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "journal commit failed");
        }
        for append in batch.drain(..) {
            let _ = append.done.send(result.clone());
        }
    }
}

fn commit(connection: &mut Connection, batch: &[Append]) -> Result<(), rusqlite::Error> {
    let transaction = connection.transaction()?;
    {
        let mut insert =
            transaction.prepare_cached("INSERT INTO journal (at, command) VALUES (?1, ?2)")?;
        for append in batch {
            insert.execute(params![append.at.nanos(), append.command])?;
        }
    }
    transaction.commit()
}

impl Journal {
    /// Queues a command; the returned handle resolves once it is on disk. Commands reach the
    /// disk in the order they were appended.
    pub fn append(&self, at: Timestamp, command: &Command) -> Result<Durable, StoreError> {
        let text = serde_json::to_string(command).map_err(|e| StoreError::BadEntry {
            seq: -1,
            detail: e.to_string(),
        })?;
        let (done, waiter) = oneshot::channel();
        self.sender
            .as_ref()
            .ok_or(StoreError::WriterGone)?
            .send(Append {
                at,
                command: text,
                done,
            })
            .map_err(|_| StoreError::WriterGone)?;
        Ok(Durable(waiter))
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued, then stop.
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}
