//! Embeds Quartermaster as the live scheduler of three agents sharing a rate-limited model
//! API and a daily call quota. Run with `cargo run --example embed -p quartermaster`.
//!
//! Every change is on disk (a SQLite file) before the call returns; run it twice and the
//! second run picks up the first run's spend.

use quartermaster::live::{LiveConfig, LiveEngine, SubmitOutcome};
use quartermaster::model::{
    Client, ClientId, Metric, Money, Need, Period, Pool, PoolId, PoolKind, Quota, QuotaScope,
    Request, RequestClass, RequestId, Tier,
};
use quartermaster::policy::ledger::CostFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("quartermaster-embed.db");
    let engine = LiveEngine::open(&path, LiveConfig::default()).await?;
    if engine.quotas().await.is_empty() {
        engine
            .add_pool(Pool {
                id: PoolId::new("gpt4"),
                kind: PoolKind::Rate {
                    capacity: 10_000.0,
                    refill_per_sec: 166.0,
                    cost_per_1k_units: Money::from_micros(30_000),
                },
                autoscale: None,
            })
            .await?;
        for (name, tier) in [
            ("planner", Tier::Premium),
            ("coder", Tier::Standard),
            ("critic", Tier::Basic),
        ] {
            engine.add_client(Client::new(name, tier)).await?;
        }
        engine
            .set_quota(Quota::new(
                "daily-calls",
                QuotaScope::Global,
                Metric::ApiCalls,
                1_000,
                Period::Daily,
            ))
            .await?;
    }
    let mut events = engine.subscribe();

    let agents: Vec<_> = ["planner", "coder", "critic"]
        .into_iter()
        .map(|name| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for call in 0..5u64 {
                    let tokens = 800 + 100 * call;
                    let request = Request {
                        id: RequestId(0),
                        client: ClientId::new(name),
                        class: RequestClass::Normal,
                        urgency: 0.5,
                        needs: vec![Need {
                            pool: PoolId::new("gpt4"),
                            amount: tokens,
                        }],
                        estimated_cost: Some(Money::from_micros(30 * tokens as i64)),
                        alternative: None,
                        batch: None,
                        lease_secs: None,
                    };
                    match engine.submit(request).await? {
                        SubmitOutcome::Started { request, .. } => {
                            // ... call the model here; then report what it really cost.
                            let used = tokens - 150;
                            engine
                                .complete(request, Some(Money::from_micros(30 * used as i64)))
                                .await?;
                        }
                        SubmitOutcome::Refused { refusal, .. } => println!("{name}: {refusal}"),
                    }
                }
                Ok::<_, quartermaster::live::LiveError>(())
            })
        })
        .collect();
    for agent in agents {
        agent.await??;
    }

    let summary = engine.cost_summary(CostFilter::default(), 0).await?;
    println!(
        "spend so far: {} over {} requests",
        summary.total, summary.count
    );
    for (client, amount) in &summary.by_client {
        println!("  {client:<8} {amount}");
    }
    let quota = engine
        .check_quota(&ClientId::new("planner"), Metric::ApiCalls, 1)
        .await?;
    println!("daily calls used: {:.1}%", quota.usage_ratio * 100.0);
    let mut seen = 0;
    while events.try_recv().is_ok() {
        seen += 1;
    }
    println!("{seen} events streamed; state kept in {}", path.display());
    Ok(())
}
