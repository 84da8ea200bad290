//! The live engine in process: quota checks, and persisted submit+complete with and
//! without group commit (SQLite file, `synchronous=FULL`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quartermaster::actors::CheckQuota;
use quartermaster::model::{ClientId, Metric};
use quartermaster_bench::live::{CLIENT, engine, submit_complete_round};

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

fn quota_check(c: &mut Criterion) {
    let rt = runtime();
    let dir = std::env::temp_dir().join("qm-bench-quota");
    let engine = rt.block_on(engine(&dir, true)).unwrap();
    let bot = ClientId::new(CLIENT);
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
        let engine = rt.block_on(engine(&dir, group_commit)).unwrap();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(submit_complete_round(&engine, CALLERS))
                        .unwrap();
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = quota_check, submit_complete
}
criterion_main!(benches);
