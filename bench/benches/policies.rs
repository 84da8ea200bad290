//! Micro-benchmarks of the pure policies, one decision per iteration.
//!
//! Time is a `Timestamp` the bench moves forward itself; the wall clock only measures.
//! Quick run: `cargo bench -p quartermaster-bench -- --warm-up-time 1 --measurement-time 3`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quartermaster::model::{
    ClientId, Metric, Money, Period, Pool, PoolId, PoolKind, Quota, QuotaScope, RequestId,
    Resource, ResourceId, ResourceKind, ResourceStatus, Tier, Timestamp,
};
use quartermaster::policy::admission::{Demand, Gate, Used, Verdict};
use quartermaster::policy::booking::BookingBook;
use quartermaster::policy::priority::{self, FairShare, PriorityWeights};
use quartermaster::policy::quota::QuotaSet;
use quartermaster::policy::reservation::ReservationPolicy;
use quartermaster::policy::token_bucket::TokenBucket;

/// 2026-01-10T00:00:00Z: mid-month, so no quota period rolls over during a bench.
const START: Timestamp = Timestamp::from_nanos(1_768_003_200_000_000_000);
const HOUR: Duration = Duration::from_secs(3600);
const CLIENTS: usize = 10;
/// Never reached: a refusal or a warning would bench a different path.
const QUOTA_LIMIT: u64 = 1 << 60;

fn token_bucket(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_bucket");
    group.throughput(Throughput::Elements(1));

    // 1,000 tokens/s and one token every millisecond: refill keeps pace, so every take
    // succeeds after the same arithmetic.
    group.bench_function("try_take", |b| {
        let mut bucket = TokenBucket::new(10_000.0, 1_000.0, START).expect("valid bucket");
        let step = Duration::from_millis(1);
        let mut now = START;
        b.iter(|| {
            now = now + step;
            black_box(bucket.try_take(black_box(1.0), now))
        });
    });

    // An empty bucket that never refills: every take is refused with no retry hint.
    group.bench_function("try_take_refused", |b| {
        let mut bucket = TokenBucket::new(100.0, 0.0, START).expect("valid bucket");
        bucket.try_take(100.0, START).expect("a full bucket");
        b.iter(|| black_box(bucket.try_take(black_box(1.0), START)));
    });

    // Half empty: 500 tokens short at 1,000 tokens/s, so the wait is computed.
    group.bench_function("time_until", |b| {
        let mut bucket = TokenBucket::new(1_000.0, 1_000.0, START).expect("valid bucket");
        bucket.try_take(1_000.0, START).expect("a full bucket");
        let now = START + Duration::from_millis(500);
        b.iter(|| black_box(bucket.time_until(black_box(1_000.0), black_box(now))));
    });
    group.finish();
}

fn client(index: usize) -> ClientId {
    ClientId::new(format!("client-{index:02}"))
}

/// A global quota and one per client for each of calls, tokens and cost: 33 quotas, of which
/// two apply to each metric of a request.
fn quota_set() -> QuotaSet {
    let mut quotas = QuotaSet::new();
    for (name, metric) in [
        ("calls", Metric::ApiCalls),
        ("tokens", Metric::Tokens),
        ("cost", Metric::Cost),
    ] {
        let global = Quota::new(
            format!("global-{name}"),
            QuotaScope::Global,
            metric.clone(),
            QUOTA_LIMIT,
            Period::Monthly,
        );
        quotas.add(global, START).expect("valid quota");
        for index in 0..CLIENTS {
            let per_client = Quota::new(
                format!("{}-{name}", client(index)),
                QuotaScope::Client(client(index)),
                metric.clone(),
                QUOTA_LIMIT,
                Period::Daily,
            );
            quotas.add(per_client, START).expect("valid quota");
        }
    }
    quotas
}

fn quota(c: &mut Criterion) {
    let mut group = c.benchmark_group("quota");
    group.throughput(Throughput::Elements(1));
    let who = client(CLIENTS / 2);
    let one_metric = [(Metric::ApiCalls, 1)];
    let three_metrics = [
        (Metric::ApiCalls, 1),
        (Metric::Tokens, 800),
        (Metric::Cost, 24_000),
    ];

    group.bench_function("check/1_metric", |b| {
        let mut quotas = quota_set();
        b.iter(|| black_box(quotas.check(&who, &Metric::ApiCalls, black_box(1), START)));
    });
    group.bench_function("check_many/3_metrics", |b| {
        let mut quotas = quota_set();
        b.iter(|| black_box(quotas.check_many(&who, black_box(&three_metrics), START)));
    });
    for (name, demands) in [
        ("consume_many/1_metric", &one_metric[..]),
        ("consume_many/3_metrics", &three_metrics[..]),
    ] {
        group.bench_function(name, |b| {
            let mut quotas = quota_set();
            b.iter(|| black_box(quotas.consume_many(&who, black_box(demands), START)));
        });
    }
    group.finish();
}

fn priority(c: &mut Criterion) {
    let mut group = c.benchmark_group("priority");
    group.throughput(Throughput::Elements(1));

    group.bench_function("score", |b| {
        let weights = PriorityWeights::default();
        b.iter(|| {
            black_box(priority::score(
                black_box(&weights),
                black_box(Tier::Premium),
                black_box(0.7),
                black_box(Duration::from_secs(12)),
                black_box(0.15),
            ))
        });
    });

    // Ten clients with a minute of history each; the asked-about client rotates.
    group.bench_function("fair_share/share", |b| {
        let mut shares = FairShare::new(Duration::from_secs(300)).expect("valid half-life");
        for second in 0..60u32 {
            let at = START + Duration::from_secs(u64::from(second));
            for index in 0..CLIENTS {
                let amount = f64::from((index as u32 + 1) * (second % 7 + 1));
                shares.record(index, amount, at).expect("valid amount");
            }
        }
        let now = START + Duration::from_secs(90);
        let mut index = 0;
        b.iter(|| {
            index = (index + 1) % CLIENTS;
            black_box(shares.share(black_box(index), now))
        });
    });
    group.finish();
}

fn gpu() -> Resource {
    Resource {
        id: ResourceId::new("gpu-a100-1"),
        name: "A100 #1".to_owned(),
        kind: ResourceKind::Gpu,
        specs: BTreeMap::new(),
        description: String::new(),
        owner: None,
        status: ResourceStatus::Available,
        cost_per_hour: Money::from_micros(2_500_000),
        max_booking_hours: 24,
        tags: Vec::new(),
    }
}

/// Booking `i` holds the first half of hour `i` after `START`; the second half is free.
fn booked(resource: &Resource, bookings: u64) -> BookingBook {
    let mut book = BookingBook::new();
    for i in 0..bookings {
        let start = START + HOUR * i as u32;
        book.book(
            resource,
            client(i as usize % CLIENTS),
            start,
            start + HOUR / 2,
            String::new(),
            START,
        )
        .expect("bookings in distinct hours do not overlap");
    }
    book
}

/// A prime that shares no factor with the sizes benched, so `i × STRIDE mod n` visits every
/// free half-hour once before repeating, spread over the whole schedule.
const STRIDE: u64 = 7_919;

fn booking(c: &mut Criterion) {
    let mut group = c.benchmark_group("booking");
    group.throughput(Throughput::Elements(1));
    let resource = gpu();
    let who = client(3);
    for size in [1_000u64, 100_000] {
        let base = booked(&resource, size);

        // Each insert fills a free half-hour of its own; the book is rebuilt (untimed) after
        // `size / 4` of them, so it always holds between `size` and 1.25 × `size` bookings.
        group.bench_with_input(BenchmarkId::new("book", size), &size, |b, &size| {
            b.iter_custom(|iters| {
                quartermaster_bench::time_in_chunks(
                    iters,
                    size / 4,
                    || base.clone(),
                    |book, index| {
                        let hour = (index * STRIDE) % size;
                        let start = START + HOUR * hour as u32 + HOUR / 2;
                        let booked = book.book(
                            &resource,
                            who.clone(),
                            start,
                            start + HOUR / 2,
                            String::new(),
                            START,
                        );
                        black_box(booked).expect("a free half-hour");
                    },
                )
            });
        });

        // Overlaps the booking in the middle of the schedule: refused, so nothing changes.
        group.bench_with_input(
            BenchmarkId::new("book_conflict", size),
            &size,
            |b, &size| {
                let mut book = base.clone();
                let start = START + HOUR * (size / 2) as u32 + Duration::from_secs(600);
                b.iter(|| {
                    let refused = book.book(
                        &resource,
                        who.clone(),
                        black_box(start),
                        start + HOUR,
                        String::new(),
                        START,
                    );
                    black_box(refused).expect_err("overlaps a booking")
                });
            },
        );
    }
    group.finish();
}

/// A gate with one 8-slot GPU pool, a client with ample credit and, if asked, the quota set.
fn gate(who: &ClientId, with_quotas: bool) -> Gate {
    let mut gate = Gate::new(ReservationPolicy::default()).expect("valid policy");
    let gpus = Pool {
        id: PoolId::new("gpus"),
        kind: PoolKind::Slot {
            slots: 8,
            cost_per_hour: Money::from_units(2),
        },
        autoscale: None,
    };
    gate.add_pool(gpus, START).expect("valid pool");
    gate.credits_mut()
        .open_account(who.clone(), Money::from_units(1_000_000_000))
        .expect("a new account");
    if with_quotas {
        *gate.quotas_mut() = quota_set();
    }
    gate
}

/// Admits a one-slot request and finishes it a millisecond later, at half its estimate.
/// Every admission opens a reservation that stays on record, so the gate is rebuilt (untimed)
/// every 10,000 requests.
fn admission(c: &mut Criterion) {
    let mut group = c.benchmark_group("admission");
    group.throughput(Throughput::Elements(1));
    let who = client(4);
    let needs = [(0usize, 1u64)];
    let estimate = Money::from_micros(20_000);
    let step = Duration::from_millis(1);
    for (name, with_quotas) in [("admit_finish", false), ("admit_finish_with_quotas", true)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                quartermaster_bench::time_in_chunks(
                    iters,
                    10_000,
                    || gate(&who, with_quotas),
                    |gate, index| {
                        let now = START + step * (2 * index as u32);
                        let demand = Demand {
                            client: &who,
                            request: RequestId(index),
                            needs: &needs,
                            estimate: Some(estimate),
                        };
                        let Verdict::Admit(admitted) = gate.try_admit(black_box(demand), now)
                        else {
                            panic!("a free slot, ample credit and unreachable quotas admit");
                        };
                        let finished = gate.finish(
                            &who,
                            &needs,
                            &admitted,
                            estimate.scale(0.5),
                            step,
                            &Used::default(),
                            now + step,
                        );
                        black_box(finished).expect("an active reservation");
                    },
                )
            });
        });
    }
    group.finish();
}

criterion_group!(benches, token_bucket, quota, priority, booking, admission);
criterion_main!(benches);
