//! The live engine in process: quota checks, and persisted submit+complete with and
//! without group commit (SQLite file, `synchronous=FULL`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quartermaster::actors::CheckQuota;
use quartermaster::live::{LiveConfig, LiveEngine, SubmitOutcome};
use quartermaster::model::{
    Client, ClientId, Metric, Money, Need, Period, Pool, PoolId, PoolKind, Quota, QuotaScope,
    Request, RequestClass, RequestId, Tier,
};

/// Quota checks per message in the batched bench.
const QUOTA_BATCH: usize = 1024;

/// Concurrent callers in the submit+complete bench: what group commit has to batch.
const CALLERS: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn engine(dir: &std::path::Path, group_commit: bool) -> LiveEngine {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let config = LiveConfig {
        no_group_commit: !group_commit,
        ..LiveConfig::default()
    };
    let engine = LiveEngine::open(dir.join("bench.db"), config)
        .await
        .unwrap();
    engine
        .add_pool(Pool {
            id: PoolId::new("api"),
            kind: PoolKind::Slot {
                slots: 1_000_000,
                cost_per_hour: Money::ZERO,
            },
            autoscale: None,
        })
        .await
        .unwrap();
    let mut client = Client::new("bot", Tier::Enterprise);
    client.credits = Money::from_units(1_000_000_000);
    client.max_concurrent = Some(1_000_000);
    engine.add_client(client).await.unwrap();
    engine
        .set_quota(Quota::new(
            "calls",
            QuotaScope::Global,
            Metric::ApiCalls,
            u64::MAX / 4,
            Period::Monthly,
        ))
        .await
        .unwrap();
    engine
}

fn request() -> Request {
    Request {
        id: RequestId(0),
        client: ClientId::new("bot"),
        class: RequestClass::Normal,
        urgency: 0.5,
        needs: vec![Need {
            pool: PoolId::new("api"),
            amount: 1,
        }],
        estimated_cost: Some(Money::from_micros(10)),
        alternative: None,
    }
}

fn quota_check(c: &mut Criterion) {
    let rt = runtime();
    let dir = std::env::temp_dir().join("qm-bench-quota");
    let engine = rt.block_on(engine(&dir, true));
    let bot = ClientId::new("bot");
    let mut group = c.benchmark_group("live");
    group.throughput(Throughput::Elements(1));
    group.bench_function("check_quota", |b| {
        b.iter(|| {
            rt.block_on(engine.check_quota(black_box(&bot), Metric::ApiCalls, 1))
                .unwrap()
        })
    });
    group.throughput(Throughput::Elements(QUOTA_BATCH as u64));
    group.bench_function("check_quotas_batched", |b| {
        let queries: Vec<CheckQuota> = (0..QUOTA_BATCH)
            .map(|i| CheckQuota {
                client: bot.clone(),
                metric: Metric::ApiCalls,
                amount: i as u64 % 7,
            })
            .collect();
        b.iter(|| {
            rt.block_on(engine.check_quotas(black_box(queries.clone())))
                .unwrap()
        })
    });
    group.finish();
}

fn submit_complete(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("live/submit_complete");
    group.throughput(Throughput::Elements(CALLERS as u64));
    group.sample_size(20);
    for group_commit in [true, false] {
        let name = if group_commit {
            "group_commit"
        } else {
            "commit_each"
        };
        let dir = std::env::temp_dir().join(format!("qm-bench-{name}"));
        let engine = rt.block_on(engine(&dir, group_commit));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(round(&engine));
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

/// `CALLERS` tasks each submit one request and complete it.
async fn round(engine: &LiveEngine) {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let SubmitOutcome::Started { request, .. } =
                    engine.submit(request()).await.unwrap()
                else {
                    panic!("the bench pool never refuses");
                };
                engine
                    .complete(request, Some(Money::from_micros(10)))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = quota_check, submit_complete
}
criterion_main!(benches);
