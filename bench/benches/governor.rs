//! Our token bucket against the `governor` crate's GCRA limiter, one decision per iteration,
//! in the same run: 10,000-token burst, 1,000 tokens/s.
//!
//! Both get time from the bench, not the wall clock: our bucket takes `now` as an argument,
//! governor reads a `FakeRelativeClock` the bench advances by the same millisecond.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter};
use quartermaster::model::Timestamp;
use quartermaster::policy::token_bucket::TokenBucket;

const START: Timestamp = Timestamp::from_nanos(1_768_003_200_000_000_000);
const BURST: u32 = 10_000;
const PER_SEC: u32 = 1_000;
const STEP: Duration = Duration::from_millis(1);

fn quota() -> Quota {
    Quota::per_second(NonZeroU32::new(PER_SEC).expect("non-zero rate"))
        .allow_burst(NonZeroU32::new(BURST).expect("non-zero burst"))
}

fn allowed(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit/allowed");
    group.throughput(Throughput::Elements(1));
    // Refill keeps pace with one token a millisecond: every decision allows.
    group.bench_function("quartermaster_token_bucket", |b| {
        let mut bucket =
            TokenBucket::new(f64::from(BURST), f64::from(PER_SEC), START).expect("valid bucket");
        let mut now = START;
        b.iter(|| {
            now = now + STEP;
            black_box(bucket.try_take(black_box(1.0), now))
        });
    });
    group.bench_function("governor", |b| {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(quota(), clock.clone());
        b.iter(|| {
            clock.advance(STEP);
            black_box(limiter.check())
        });
    });
    group.finish();
}

fn refused(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit/refused");
    group.throughput(Throughput::Elements(1));
    // Drained and time stands still: every decision refuses.
    group.bench_function("quartermaster_token_bucket", |b| {
        let mut bucket =
            TokenBucket::new(f64::from(BURST), f64::from(PER_SEC), START).expect("valid bucket");
        bucket
            .try_take(f64::from(BURST), START)
            .expect("a full bucket");
        b.iter(|| black_box(bucket.try_take(black_box(1.0), START)));
    });
    group.bench_function("governor", |b| {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(quota(), clock);
        while limiter.check().is_ok() {}
        b.iter(|| black_box(limiter.check()));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = allowed, refused
}
criterion_main!(benches);
