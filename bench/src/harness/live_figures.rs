//! The live engine's figures, timed directly (no criterion): quota checks one by one and
//! batched, and persisted submit+complete with and without group commit.

use std::path::Path;
use std::time::Instant;

use quartermaster::actors::CheckQuota;
use quartermaster::live::LiveEngine;
use quartermaster::model::{ClientId, Metric};
use serde::Serialize;

use super::spread::Spread;
use crate::live::{CLIENT, engine, submit_complete_round};

/// Quota checks per message in the batched figure.
pub const QUOTA_BATCH: usize = 1024;
pub use crate::live::CALLERS_PER_ROUND as CALLERS;

/// How much work each timed run does.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LiveWork {
    pub single_checks: u64,
    pub batches: u64,
    pub rounds: u64,
}

/// Operations per second, each over the plan's runs.
#[derive(Debug, Clone, Serialize)]
pub struct LiveFigures {
    pub quota_checks_per_sec: Option<Spread>,
    pub batched_quota_checks_per_sec: Option<Spread>,
    pub submit_complete_group_commit_per_sec: Option<Spread>,
    pub submit_complete_commit_each_per_sec: Option<Spread>,
}

pub fn measure(scratch: &Path, work: LiveWork, runs: usize) -> Result<LiveFigures, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    runtime.block_on(async {
        let checks = engine(&scratch.join("quota"), true)
            .await
            .map_err(|e| e.to_string())?;
        let mut single = Vec::new();
        let mut batched = Vec::new();
        for _ in 0..runs {
            single.push(single_checks_per_sec(&checks, work.single_checks).await?);
            batched.push(batched_checks_per_sec(&checks, work.batches).await?);
        }
        let mut by_mode = Vec::new();
        for group_commit in [true, false] {
            let name = if group_commit {
                "group-commit"
            } else {
                "commit-each"
            };
            let engine = engine(&scratch.join(name), group_commit)
                .await
                .map_err(|e| e.to_string())?;
            let mut rates = Vec::new();
            for _ in 0..runs {
                let start = Instant::now();
                for _ in 0..work.rounds {
                    submit_complete_round(&engine, CALLERS)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let ops = work.rounds * CALLERS as u64;
                rates.push(ops as f64 / start.elapsed().as_secs_f64());
            }
            by_mode.push(Spread::of(&rates));
        }
        Ok(LiveFigures {
            quota_checks_per_sec: Spread::of(&single),
            batched_quota_checks_per_sec: Spread::of(&batched),
            submit_complete_group_commit_per_sec: by_mode[0],
            submit_complete_commit_each_per_sec: by_mode[1],
        })
    })
}

async fn single_checks_per_sec(engine: &LiveEngine, checks: u64) -> Result<f64, String> {
    let client = ClientId::new(CLIENT);
    let start = Instant::now();
    for _ in 0..checks {
        engine
            .check_quota(&client, Metric::ApiCalls, 1)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(checks as f64 / start.elapsed().as_secs_f64())
}

async fn batched_checks_per_sec(engine: &LiveEngine, batches: u64) -> Result<f64, String> {
    let queries: Vec<CheckQuota> = (0..QUOTA_BATCH)
        .map(|i| CheckQuota {
            client: ClientId::new(CLIENT),
            metric: Metric::ApiCalls,
            amount: i as u64 % 7,
        })
        .collect();
    let start = Instant::now();
    for _ in 0..batches {
        engine
            .check_quotas(queries.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok((batches * QUOTA_BATCH as u64) as f64 / start.elapsed().as_secs_f64())
}
