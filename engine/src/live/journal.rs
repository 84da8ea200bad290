//! The durable command log and its snapshots. Every change the live engine accepts is
//! appended here before the caller hears "done"; on open, the newest valid snapshot is
//! loaded and only the commands after it are replayed through the same actors on a
//! virtual clock, which rebuilds their state exactly (the engine is deterministic given
//! its commands and their instants).
//!
//! Appends go to one writer thread that commits them in batches (group commit): callers
//! queue their command and wait for the batch that holds it to reach the disk, so many
//! concurrent callers share one fsync. Snapshots go through the same thread, after the
//! commands they cover; writing one also compacts: the commands and snapshots older than
//! the previous snapshot leave the database, moved into the trace archive
//! ([`super::archive`]) or dropped. Two snapshots are always kept, so a damaged newest
//! one falls back to the one before it with every command since still in the journal.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use super::archive::{self, Archive, ArchiveSettings};
use super::command::Command;
use crate::model::Timestamp;

/// `PRAGMA application_id` of a Quartermaster database ("QMst").
const APPLICATION_ID: i64 = 0x514d_7374;
/// The schema this build writes; older ones are migrated forward on open.
pub(super) const SCHEMA_VERSION: i64 = 2;
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
    #[error("snapshot at command {covers} cannot be used: {detail}")]
    BadSnapshot { covers: i64, detail: String },
    #[error(
        "no usable snapshot, and the journal no longer starts at its first command (it starts at {first}); \
         the commands before it are in the trace archive"
    )]
    NoStart { first: i64 },
    #[error("{path} does not exist")]
    Missing { path: String },
    #[error("{path} is open in another engine (a running `qm serve`?); stop it first")]
    Busy { path: String },
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the journal writer has stopped")]
    WriterGone,
    #[error("the journal writer failed: {0}")]
    Writer(String),
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

/// A stored snapshot, not yet decoded.
pub struct StoredSnapshot {
    /// The last command it covers.
    pub covers: i64,
    pub format: i64,
    pub build: String,
    pub checksum: Vec<u8>,
    pub body: Vec<u8>,
}

/// What an open database holds: its snapshots (newest first) and the commands after the
/// oldest of them.
pub struct Stored {
    pub snapshots: Vec<StoredSnapshot>,
    pub entries: Vec<Entry>,
}

/// A snapshot to write: its encoded state and the last command it covers.
pub struct SnapshotRow {
    pub covers: i64,
    pub at: Timestamp,
    pub format: i64,
    pub body: Vec<u8>,
    /// Compact up to this snapshot, not the previous one: nothing is kept to fall back on
    /// (`qm db compact`).
    pub full: bool,
}

/// What writing a snapshot did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Compaction {
    /// The last command the new snapshot covers.
    pub covers: i64,
    pub snapshot_bytes: usize,
    /// Commands that left the journal (moved to the archive, or dropped without one).
    pub moved: u64,
    /// Commands the archive's retention dropped.
    pub expired: u64,
}

/// Upper bounds (seconds) of the commit-latency histogram's buckets: from a fast disk's
/// fsync (well under a millisecond) to a stalled one.
pub const COMMIT_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// How long the writer's commits took, counted as they happen (a histogram over
/// `COMMIT_BUCKETS`), and the last commit's failure if it failed. Shared with whoever
/// reports on the engine (`/metrics`, `/health`).
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Commits at or under each bound (not cumulative), then those above the last.
    buckets: [AtomicU64; COMMIT_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A reading of [`CommitStats`].
#[derive(Debug, Clone, PartialEq)]
pub struct CommitTimes {
    pub count: u64,
    pub sum_secs: f64,
    /// (upper bound in seconds, commits that took at most that long): cumulative, as
    /// Prometheus histograms count, ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Why the latest commit failed, if it did.
    pub last_error: Option<String>,
}

impl CommitStats {
    fn record(&self, took: Duration, result: &Result<(), String>) {
        let secs = took.as_secs_f64();
        let bucket = COMMIT_BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(COMMIT_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = took.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *last = result.as_ref().err().cloned();
    }

    pub fn read(&self) -> CommitTimes {
        let mut running = 0;
        let mut buckets: Vec<(f64, u64)> = COMMIT_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| {
                running += n.load(Ordering::Relaxed);
                (*bound, running)
            })
            .collect();
        running += self.buckets[COMMIT_BUCKETS.len()].load(Ordering::Relaxed);
        buckets.push((f64::INFINITY, running));
        CommitTimes {
            // The total of the buckets, so the count and `+Inf` always agree.
            count: running,
            sum_secs: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            buckets,
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

enum Job {
    Append {
        seq: i64,
        at: Timestamp,
        command: String,
        done: oneshot::Sender<Result<(), String>>,
    },
    Snapshot {
        row: SnapshotRow,
        done: oneshot::Sender<Result<Compaction, String>>,
    },
    /// Check that the database takes a write now (answered with why not), after the jobs
    /// queued before it.
    Probe(oneshot::Sender<Result<(), String>>),
}

/// Handle to the writer thread.
pub struct Journal {
    /// The next command's number with the sender, under one lock: numbers reach the
    /// writer in order whoever appends.
    sender: Mutex<Option<(i64, mpsc::Sender<Job>)>>,
    writer: Option<thread::JoinHandle<()>>,
    /// The database file, locked while this engine has it open: two engines appending to
    /// one journal would interleave their commands. (An advisory `flock`, independent of
    /// SQLite's own locks, so other connections of this process still read and write.)
    _lock: Option<std::fs::File>,
    /// Commit latencies and the last commit's failure, kept by the writer.
    stats: Arc<CommitStats>,
}

/// Waits until an appended command is on disk.
pub struct Durable(oneshot::Receiver<Result<(), String>>);

impl Durable {
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(detail)) => Err(StoreError::Writer(detail)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

/// Waits until a snapshot is written and the journal compacted.
pub struct SnapshotWritten(oneshot::Receiver<Result<Compaction, String>>);

impl SnapshotWritten {
    /// Blocks the calling thread (never an async task's) until the snapshot is written.
    pub fn blocking_wait(self) -> Result<Compaction, StoreError> {
        match self.0.blocking_recv() {
            Ok(result) => result.map_err(StoreError::Writer),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

/// Opens (or creates) the database, migrates it, and reads back its snapshots and the
/// commands after the oldest of them.
pub fn open(
    location: &Location,
    group_commit: bool,
    archive: Option<ArchiveSettings>,
) -> Result<(Journal, Stored), StoreError> {
    let connection = connect(location, true)?;
    let lock = match location {
        Location::File(path) => Some(lock(path)?),
        Location::Memory => None,
    };
    let stored = read_stored(&connection)?;
    let next = next_seq(&connection)?;
    let archive = match (location, archive) {
        (Location::File(path), Some(settings)) => Some(Archive::open(path, settings)?),
        _ => None,
    };
    let (sender, receiver) = mpsc::channel::<Job>();
    let stats = Arc::new(CommitStats::default());
    let recorded = stats.clone();
    let writer = thread::Builder::new()
        .name("qm-journal".into())
        .spawn(move || write_loop(connection, archive, receiver, group_commit, &recorded))
        .map_err(|e| StoreError::Writer(e.to_string()))?;
    Ok((
        Journal {
            sender: Mutex::new(Some((next, sender))),
            writer: Some(writer),
            _lock: lock,
            stats,
        },
        stored,
    ))
}

fn lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let file = std::fs::File::open(path).map_err(|e| StoreError::Writer(e.to_string()))?;
    // An engine of this process that was just dropped may take a moment to let go (its
    // writer finishing what was queued): wait a little before calling the file busy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Busy {
                    path: path.display().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::Writer(e.to_string())),
        }
    }
}

fn path_of(location: &Location) -> String {
    match location {
        Location::File(path) => path.display().to_string(),
        Location::Memory => ":memory:".to_owned(),
    }
}

/// Opens the database; with `create`, a missing file is made and the schema brought up
/// to date, else the file must exist and is only read.
pub(super) fn connect(location: &Location, create: bool) -> Result<Connection, StoreError> {
    let path = path_of(location);
    let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
        path: path.clone(),
        detail: e.to_string(),
    };
    let connection = match location {
        Location::File(file) if create => Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?,
        Location::File(file) => {
            if !file.exists() {
                return Err(StoreError::Missing { path });
            }
            Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_WRITE)?
        }
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
    if application_id != APPLICATION_ID && (tables > 0 || user_version != 0 || !create) {
        return Err(StoreError::Foreign { path });
    }
    if user_version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path,
            found: user_version,
            supported: SCHEMA_VERSION,
        });
    }
    if !create {
        return Ok(connection);
    }
    if tables == 0 {
        // Only a new file can take it: freed pages (compacted journal) are then returned
        // to the file system a little at a time instead of waiting for a VACUUM.
        connection.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
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
    if from < 2 {
        // A snapshot is the whole engine's state after command `covers`, encoded by
        // `live::snapshot` (its `format`), written by build `build`, with a SHA-256 of
        // the body so a damaged one is noticed and the previous one used instead.
        connection.execute_batch(
            "BEGIN;
             CREATE TABLE snapshot (
                 covers   INTEGER PRIMARY KEY,
                 at       INTEGER NOT NULL,
                 format   INTEGER NOT NULL,
                 build    TEXT    NOT NULL,
                 checksum BLOB    NOT NULL,
                 body     BLOB    NOT NULL
             );
             PRAGMA user_version = 2;
             COMMIT;",
        )?;
    }
    Ok(())
}

fn next_seq(connection: &Connection) -> Result<i64, StoreError> {
    let last: i64 = connection.query_row(
        "SELECT max(coalesce((SELECT max(seq) FROM journal), 0),
                    coalesce((SELECT max(covers) FROM snapshot), 0))",
        [],
        |row| row.get(0),
    )?;
    Ok(last + 1)
}

fn read_stored(connection: &Connection) -> Result<Stored, StoreError> {
    let mut statement = connection.prepare(
        "SELECT covers, format, build, checksum, body FROM snapshot ORDER BY covers DESC",
    )?;
    let snapshots = statement
        .query_map([], |row| {
            Ok(StoredSnapshot {
                covers: row.get(0)?,
                format: row.get(1)?,
                build: row.get(2)?,
                checksum: row.get(3)?,
                body: row.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let after = snapshots.last().map_or(0, |s| s.covers);
    let entries = read_entries(connection, after)?;
    Ok(Stored { snapshots, entries })
}

/// The commands after `after`, in order.
pub(super) fn read_entries(connection: &Connection, after: i64) -> Result<Vec<Entry>, StoreError> {
    let mut statement =
        connection.prepare("SELECT seq, at, command FROM journal WHERE seq > ?1 ORDER BY seq")?;
    let rows = statement.query_map([after], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    let mut entries = Vec::new();
    for row in rows {
        let (seq, at, text) = row?;
        entries.push(decode_entry(seq, at, &text)?);
    }
    Ok(entries)
}

pub(super) fn decode_entry(seq: i64, at: i64, text: &str) -> Result<Entry, StoreError> {
    let command = serde_json::from_str(text).map_err(|e| StoreError::BadEntry {
        seq,
        detail: e.to_string(),
    })?;
    Ok(Entry {
        seq,
        at: Timestamp::from_nanos(at),
        command,
    })
}

fn write_loop(
    mut connection: Connection,
    mut archive: Option<Archive>,
    receiver: mpsc::Receiver<Job>,
    group_commit: bool,
    stats: &CommitStats,
) {
    let mut batch = Vec::new();
    let mut next = receiver.recv().ok();
    while let Some(job) = next.take() {
        match job {
            Job::Append {
                seq,
                at,
                command,
                done,
            } => {
                batch.push((seq, at, command, done));
                if group_commit {
                    while batch.len() < MAX_BATCH {
                        match receiver.try_recv() {
                            Ok(Job::Append {
                                seq,
                                at,
                                command,
                                done,
                            }) => batch.push((seq, at, command, done)),
                            // A snapshot waits for the commands queued before it.
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
                let started = Instant::now();
                let result = commit(&mut connection, &batch).map_err(|e| e.to_string());
                stats.record(started.elapsed(), &result);
                if let Err(e) = &result {
                    tracing::error!(error = %e, "journal commit failed");
                }
                for (_, _, _, done) in batch.drain(..) {
                    let _ = done.send(result.clone());
                }
            }
            Job::Snapshot { row, done } => {
                let result = write_snapshot(&mut connection, archive.as_mut(), &row)
                    .map_err(|e| e.to_string());
                if let Err(e) = &result {
                    tracing::error!(error = %e, "snapshot failed");
                }
                let _ = done.send(result);
            }
            Job::Probe(answer) => {
                let _ = answer.send(probe(&connection));
            }
        }
        if next.is_none() {
            next = receiver.recv().ok();
        }
    }
}

/// How long a health probe waits for another writer's lock before it calls the database
/// failing (commits wait rusqlite's default of five seconds).
const PROBE_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether the database takes a write now: takes the write lock and lets it go, writing
/// nothing (no fsync), and reads the journal's last entry.
fn probe(connection: &Connection) -> Result<(), String> {
    let check = || -> Result<(), rusqlite::Error> {
        connection.busy_timeout(PROBE_BUSY_TIMEOUT)?;
        connection.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
        connection.query_row("SELECT max(seq) FROM journal", [], |row| {
            row.get::<_, Option<i64>>(0)
        })?;
        Ok(())
    };
    let result = check().map_err(|e| e.to_string());
    let _ = connection.busy_timeout(Duration::from_secs(5));
    result
}

type Pending = (i64, Timestamp, String, oneshot::Sender<Result<(), String>>);

fn commit(connection: &mut Connection, batch: &[Pending]) -> Result<(), rusqlite::Error> {
    let transaction = connection.transaction()?;
    {
        let mut insert = transaction
            .prepare_cached("INSERT INTO journal (seq, at, command) VALUES (?1, ?2, ?3)")?;
        for (seq, at, command, _) in batch {
            insert.execute(params![seq, at.nanos(), command])?;
        }
    }
    transaction.commit()
}

/// Writes a snapshot, then compacts: what the previous snapshot covers leaves the
/// database (into the archive first, when there is one).
pub(super) fn write_snapshot(
    connection: &mut Connection,
    archive: Option<&mut Archive>,
    row: &SnapshotRow,
) -> Result<Compaction, StoreError> {
    use sha2::Digest;
    let checksum = sha2::Sha256::digest(&row.body).to_vec();
    connection.execute(
        "INSERT OR REPLACE INTO snapshot (covers, at, format, build, checksum, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            row.covers,
            row.at.nanos(),
            row.format,
            env!("CARGO_PKG_VERSION"),
            checksum,
            row.body
        ],
    )?;
    let previous: Option<i64> = if row.full {
        Some(row.covers)
    } else {
        connection
            .query_row(
                "SELECT covers FROM snapshot WHERE covers < ?1 ORDER BY covers DESC LIMIT 1",
                [row.covers],
                |r| r.get(0),
            )
            .optional()?
    };
    let mut compaction = Compaction {
        covers: row.covers,
        snapshot_bytes: row.body.len(),
        ..Compaction::default()
    };
    let Some(previous) = previous else {
        return Ok(compaction);
    };
    // Moved before it is deleted: a crash in between leaves a command in both places,
    // never in neither (the archive ignores one it already holds).
    if let Some(archive) = archive {
        let (moved, expired) = archive.take_from(connection, previous)?;
        compaction.moved = moved;
        compaction.expired = expired;
    } else {
        compaction.moved = connection
            .query_row(
                "SELECT count(*) FROM journal WHERE seq <= ?1",
                [previous],
                |r| r.get::<_, i64>(0),
            )?
            .max(0) as u64;
    }
    let transaction = connection.transaction()?;
    transaction.execute("DELETE FROM journal WHERE seq <= ?1", [previous])?;
    transaction.execute("DELETE FROM snapshot WHERE covers < ?1", [previous])?;
    transaction.commit()?;
    connection.execute_batch("PRAGMA incremental_vacuum")?;
    Ok(compaction)
}

impl Journal {
    /// Queues a command; answers its number and a handle that resolves once it is on
    /// disk. Commands reach the disk in the order they were appended.
    pub fn append(&self, at: Timestamp, command: &Command) -> Result<(i64, Durable), StoreError> {
        let text = serde_json::to_string(command).map_err(|e| StoreError::BadEntry {
            seq: -1,
            detail: e.to_string(),
        })?;
        let (done, waiter) = oneshot::channel();
        let mut guard = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let (next, sender) = guard.as_mut().ok_or(StoreError::WriterGone)?;
        let seq = *next;
        sender
            .send(Job::Append {
                seq,
                at,
                command: text,
                done,
            })
            .map_err(|_| StoreError::WriterGone)?;
        *next += 1;
        Ok((seq, Durable(waiter)))
    }

    /// Queues a snapshot behind every command appended so far.
    pub fn snapshot(&self, row: SnapshotRow) -> Result<SnapshotWritten, StoreError> {
        let (done, waiter) = oneshot::channel();
        let guard = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let (_, sender) = guard.as_ref().ok_or(StoreError::WriterGone)?;
        sender
            .send(Job::Snapshot { row, done })
            .map_err(|_| StoreError::WriterGone)?;
        Ok(SnapshotWritten(waiter))
    }

    /// Asks the writer thread to check the database, after what is queued before it.
    /// Answers `Err` at once if the writer has stopped; the receiver answers the database's
    /// state (or is dropped if the writer stops meanwhile).
    pub fn probe(&self) -> Result<oneshot::Receiver<Result<(), String>>, StoreError> {
        let (answer, waiter) = oneshot::channel();
        let guard = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let (_, sender) = guard.as_ref().ok_or(StoreError::WriterGone)?;
        sender
            .send(Job::Probe(answer))
            .map_err(|_| StoreError::WriterGone)?;
        Ok(waiter)
    }

    /// Commit latencies so far and the last commit's failure.
    pub fn commit_times(&self) -> CommitTimes {
        self.stats.read()
    }

    /// The number of the last command appended (0 before the first).
    pub fn last_seq(&self) -> i64 {
        let guard = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map_or(0, |(next, _)| next - 1)
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued, then stop.
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// What `qm db info` shows of a database.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DbInfo {
    pub path: String,
    pub schema_version: i64,
    pub file_bytes: u64,
    /// Commands in the journal and the range of their numbers.
    pub journal_commands: u64,
    pub first_command: Option<i64>,
    pub last_command: Option<i64>,
    pub snapshots: Vec<SnapshotInfo>,
    pub archive: Option<archive::ArchiveInfo>,
}

/// One stored snapshot, as `qm db info` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotInfo {
    pub covers: i64,
    /// The engine's clock when it was taken.
    pub at: Timestamp,
    pub format: i64,
    pub build: String,
    pub bytes: u64,
}

/// Reads what a database holds without changing it; a missing, foreign or corrupt file
/// is refused.
pub fn info(path: &Path) -> Result<DbInfo, StoreError> {
    let connection = connect(&Location::File(path.to_owned()), false)?;
    let schema_version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let (journal_commands, first_command, last_command) = connection.query_row(
        "SELECT count(*), min(seq), max(seq) FROM journal",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)),
    )?;
    let snapshots = if schema_version >= 2 {
        let mut statement = connection.prepare(
            "SELECT covers, at, format, build, length(body) FROM snapshot
             ORDER BY covers DESC",
        )?;
        statement
            .query_map([], |r| {
                Ok(SnapshotInfo {
                    covers: r.get(0)?,
                    at: Timestamp::from_nanos(r.get(1)?),
                    format: r.get(2)?,
                    build: r.get(3)?,
                    bytes: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    Ok(DbInfo {
        path: path.display().to_string(),
        schema_version,
        file_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        journal_commands,
        first_command,
        last_command,
        snapshots,
        archive: archive::info(path)?,
    })
}

/// Rewrites the database into the least space its contents need.
pub fn vacuum(path: &Path) -> Result<(), StoreError> {
    let connection = connect(&Location::File(path.to_owned()), false)?;
    connection.execute_batch("VACUUM")?;
    Ok(())
}
