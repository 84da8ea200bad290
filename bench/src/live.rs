//! The live engine set up for measuring: one huge slot pool, one rich client, a quota that
//! is never reached, so every call takes the path it names and none is refused.

use std::path::Path;

use quartermaster::live::{LiveConfig, LiveEngine, LiveError, SubmitOutcome};
use quartermaster::model::{
    Client, ClientId, Metric, Money, Need, Period, Pool, PoolId, PoolKind, Quota, QuotaScope,
    Request, RequestClass, RequestId, Tier,
};

/// The client every measured call is made for.
pub const CLIENT: &str = "bot";

/// Concurrent callers in a submit+complete round: what group commit has to batch.
pub const CALLERS_PER_ROUND: usize = 64;

/// Opens a fresh engine on `dir/bench.db`, removing what an earlier run left there.
pub async fn engine(dir: &Path, group_commit: bool) -> Result<LiveEngine, LiveError> {
    let config = LiveConfig {
        no_group_commit: !group_commit,
        ..LiveConfig::default()
    };
    engine_with(dir, config).await
}

/// [`engine`] with settings of the caller's.
pub async fn engine_with(dir: &Path, config: LiveConfig) -> Result<LiveEngine, LiveError> {
    // A missing folder is the usual case; any other problem shows when the engine opens.
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::create_dir_all(dir);
    let engine = LiveEngine::open(dir.join("bench.db"), config).await?;
    engine
        .add_pool(Pool {
            id: PoolId::new("api"),
            kind: PoolKind::Slot {
                slots: 1_000_000,
                cost_per_hour: Money::ZERO,
            },
            autoscale: None,
        })
        .await?;
    let mut client = Client::new(CLIENT, Tier::Enterprise);
    client.credits = Money::from_units(1_000_000_000);
    client.max_concurrent = Some(1_000_000);
    engine.add_client(client).await?;
    engine
        .set_quota(Quota::new(
            "calls",
            QuotaScope::Global,
            Metric::ApiCalls,
            u64::MAX / 4,
            Period::Monthly,
        ))
        .await?;
    Ok(engine)
}

/// One call's worth of work on the engine's pool.
pub fn request() -> Request {
    Request {
        id: RequestId(0),
        client: ClientId::new(CLIENT),
        class: RequestClass::Normal,
        urgency: 0.5,
        needs: vec![Need {
            pool: PoolId::new("api"),
            amount: 1,
        }],
        estimated_cost: Some(Money::from_micros(10)),
        alternative: None,
        batch: None,
        lease_secs: None,
    }
}

/// Why a submit+complete round did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error("the live engine failed: {0}")]
    Live(#[from] LiveError),
    #[error("the engine did not start a request on a pool of a million slots: {0:?}")]
    NotStarted(Box<SubmitOutcome>),
    #[error("a caller task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// `callers` tasks each submit one request and complete it: what group commit batches.
pub async fn submit_complete_round(engine: &LiveEngine, callers: usize) -> Result<(), RoundError> {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                match engine.submit(request()).await? {
                    SubmitOutcome::Started { request, .. } => {
                        engine
                            .complete(request, Some(Money::from_micros(10)))
                            .await?;
                        Ok(())
                    }
                    other => Err(RoundError::NotStarted(Box::new(other))),
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}
