//! How the live engine keeps its database small: when it takes snapshots, and what
//! happens to the commands they cover.

use std::time::Duration;

use super::archive::ArchiveSettings;
use crate::model::{ValidationError, ensure};

/// Snapshot and archive settings (`storage` in a live settings file).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// A snapshot after this many commands since the last one (0: not by count).
    pub snapshot_every_commands: u64,
    /// A snapshot once this many seconds passed since the last one and a command came
    /// (0: not by time).
    pub snapshot_every_secs: f64,
    /// A snapshot when the engine is closed cleanly, so the next open replays nothing.
    pub snapshot_on_close: bool,
    /// Move compacted commands into the trace archive beside the database (`fleet.db` →
    /// `fleet.archive.db`) instead of dropping them.
    pub archive: bool,
    /// Archived commands older than this many days (behind the newest) are dropped.
    pub archive_keep_days: Option<f64>,
    /// The oldest archived commands are dropped while their text exceeds this many MB.
    pub archive_max_mb: Option<f64>,
    /// The records of this many ended requests (finished, refused, cancelled, expired)
    /// are kept for lookups, the oldest forgotten first; queued and running ones always
    /// are. Every record would otherwise grow memory, snapshots and restarts without end.
    pub keep_ended_requests: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            snapshot_every_commands: 10_000,
            snapshot_every_secs: 60.0,
            snapshot_on_close: true,
            archive: true,
            archive_keep_days: None,
            archive_max_mb: None,
            keep_ended_requests: 100_000,
        }
    }
}

impl StorageConfig {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let within = |e: ValidationError| e.within("storage");
        ensure(
            self.snapshot_every_secs.is_finite() && self.snapshot_every_secs >= 0.0,
            "snapshot_every_secs",
            self.snapshot_every_secs,
            "a number of seconds, zero or more",
        )
        .map_err(within)?;
        if let Some(days) = self.archive_keep_days {
            ensure(
                days.is_finite() && days > 0.0,
                "archive_keep_days",
                days,
                "a number of days above zero",
            )
            .map_err(within)?;
        }
        if let Some(mb) = self.archive_max_mb {
            ensure(
                mb.is_finite() && mb > 0.0,
                "archive_max_mb",
                mb,
                "a number of megabytes above zero",
            )
            .map_err(within)?;
        }
        Ok(())
    }

    /// Time between snapshots, if they are taken by time.
    pub fn every(&self) -> Option<Duration> {
        (self.snapshot_every_secs > 0.0).then(|| Duration::from_secs_f64(self.snapshot_every_secs))
    }

    /// The archive's retention, if compacted commands are archived.
    pub fn archive_settings(&self) -> Option<ArchiveSettings> {
        self.archive.then(|| ArchiveSettings {
            keep_for: self
                .archive_keep_days
                .map(|days| Duration::from_secs_f64(days * 86_400.0)),
            max_bytes: self.archive_max_mb.map(|mb| (mb * 1_000_000.0) as u64),
        })
    }
}
