//! Bounded restarts, measured: how long the live engine takes to reopen after a history of
//! n logged commands with snapshots (killed, so it replays what came after the last one)
//! and without (it replays everything), the database sizes, and what a snapshot of many
//! queued requests costs: how long it holds the sequencer, and in all.

use std::path::Path;
use std::time::Instant;

use quartermaster::live::{self, LiveConfig, LiveEngine, StorageConfig};
use serde::Serialize;

use super::spread::Spread;
use crate::live::{CALLERS_PER_ROUND, engine_with, request, submit_complete_round};

/// Reopen figures after one history length.
#[derive(Debug, Clone, Serialize)]
pub struct ReopenPoint {
    pub commands: u64,
    /// Snapshots every 10,000 commands (the default), killed without a closing one.
    pub with_snapshots_secs: Option<Spread>,
    /// Snapshots off: the whole journal is replayed.
    pub without_snapshots_secs: Option<Spread>,
    /// Database file with snapshots (journal compacted; the archive is beside it).
    pub with_snapshots_bytes: u64,
    pub archive_bytes: u64,
    pub without_snapshots_bytes: u64,
}

/// What a snapshot of many queued requests costs.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotCost {
    pub queued: u64,
    /// Taking the state while the sequencer waits.
    pub hold_secs: Option<Spread>,
    /// Taking, encoding and writing it.
    pub total_secs: Option<Spread>,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReopenFigures {
    pub points: Vec<ReopenPoint>,
    pub snapshot: Option<SnapshotCost>,
}

impl ReopenFigures {
    /// Reopen with snapshots after the longest history over the shortest: flat is 1.
    pub fn flatness(&self) -> Option<f64> {
        let first = self.points.first()?.with_snapshots_secs?.median;
        let last = self.points.last()?.with_snapshots_secs?.median;
        (first > 0.0).then(|| last / first)
    }
}

fn config(snapshots: bool) -> LiveConfig {
    let storage = if snapshots {
        StorageConfig {
            snapshot_on_close: false,
            ..StorageConfig::default()
        }
    } else {
        StorageConfig {
            snapshot_every_commands: 0,
            snapshot_every_secs: 0.0,
            snapshot_on_close: false,
            ..StorageConfig::default()
        }
    };
    LiveConfig {
        storage,
        ..LiveConfig::default()
    }
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Runs submit+complete rounds until `commands` are logged, then drops the engine as a
/// kill would (no closing snapshot; the journal is flushed by the writer).
async fn history(dir: &Path, snapshots: bool, commands: u64) -> Result<(), String> {
    let engine = engine_with(dir, config(snapshots))
        .await
        .map_err(|e| e.to_string())?;
    let rounds = commands.div_ceil(2 * CALLERS_PER_ROUND as u64);
    for _ in 0..rounds {
        submit_complete_round(&engine, CALLERS_PER_ROUND)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn reopen_secs(path: &Path, snapshots: bool, runs: usize) -> Result<Option<Spread>, String> {
    let mut secs = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let engine = LiveEngine::open(path, config(snapshots))
            .await
            .map_err(|e| e.to_string())?;
        secs.push(start.elapsed().as_secs_f64());
        drop(engine);
    }
    Ok(Spread::of(&secs))
}

pub fn measure(
    scratch: &Path,
    histories: &[u64],
    queued: u64,
    runs: usize,
) -> Result<ReopenFigures, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    runtime.block_on(async {
        let mut points = Vec::new();
        for &commands in histories {
            // A replay of a million commands takes a minute: once is enough to see it.
            let runs = if commands >= 1_000_000 { 1 } else { runs };
            let with = scratch.join(format!("reopen-{commands}-snapshots"));
            let without = scratch.join(format!("reopen-{commands}-journal"));
            tracing::info!(commands, "reopen: building the histories");
            history(&with, true, commands).await?;
            history(&without, false, commands).await?;
            let (with_db, without_db) = (with.join("bench.db"), without.join("bench.db"));
            points.push(ReopenPoint {
                commands,
                with_snapshots_secs: reopen_secs(&with_db, true, runs).await?,
                without_snapshots_secs: reopen_secs(&without_db, false, runs).await?,
                with_snapshots_bytes: size(&with_db),
                archive_bytes: size(&live::archive::path_for(&with_db)),
                without_snapshots_bytes: size(&without_db),
            });
            let _ = std::fs::remove_dir_all(&with);
            let _ = std::fs::remove_dir_all(&without);
        }
        let snapshot = snapshot_cost(&scratch.join("snapshot"), queued, runs).await?;
        Ok(ReopenFigures {
            points,
            snapshot: Some(snapshot),
        })
    })
}

/// Queues `queued` requests on a pool with one slot, then snapshots `runs` times.
async fn snapshot_cost(dir: &Path, queued: u64, runs: usize) -> Result<SnapshotCost, String> {
    let engine = engine_with(dir, config(false))
        .await
        .map_err(|e| e.to_string())?;
    engine
        .resize_pool(&quartermaster::model::PoolId::new("api"), 1.0)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(queued, "snapshot: queueing");
    let per_task = queued.div_ceil(CALLERS_PER_ROUND as u64);
    let tasks: Vec<_> = (0..CALLERS_PER_ROUND)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    engine.enqueue(request()).await?;
                }
                Ok::<_, live::LiveError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let (mut hold, mut total, mut bytes) = (Vec::new(), Vec::new(), 0);
    for _ in 0..runs {
        let start = Instant::now();
        drop(engine.state().await.map_err(|e| e.to_string())?);
        hold.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let compaction = engine.snapshot().await.map_err(|e| e.to_string())?;
        total.push(start.elapsed().as_secs_f64());
        bytes = compaction.snapshot_bytes as u64;
    }
    drop(engine);
    let _ = std::fs::remove_dir_all(dir);
    Ok(SnapshotCost {
        queued: per_task * CALLERS_PER_ROUND as u64,
        hold_secs: Spread::of(&hold),
        total_secs: Spread::of(&total),
        bytes,
    })
}
