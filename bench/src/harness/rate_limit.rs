//! Nanoseconds per rate-limit decision: our token bucket and governor's GCRA limiter timed
//! here alike, in the same run (the same burst, rate and millisecond steps of a clock the
//! loop advances), and both as the criterion bench `bench/benches/governor.rs` last saw
//! them, if it was run.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter};

use quartermaster::model::Timestamp;
use quartermaster::policy::token_bucket::TokenBucket;
use serde::{Deserialize, Serialize};

use super::spread::Spread;

const DECISIONS: u64 = 10_000_000;
const START: Timestamp = Timestamp::from_nanos(1_768_003_200_000_000_000);

#[derive(Debug, Clone, Serialize)]
pub struct RateLimitFigures {
    /// Timed here: allowed decisions, the clock one millisecond on each time.
    pub token_bucket_ns: Option<Spread>,
    /// governor, timed here in the same way.
    pub governor_timed_ns: Option<Spread>,
    /// From the criterion bench, the same case for both: (ours, governor) medians.
    pub criterion_token_bucket_ns: Option<f64>,
    pub governor_ns: Option<f64>,
}

pub fn measure(runs: usize) -> RateLimitFigures {
    let per_decision: Vec<f64> = (0..runs).filter_map(|_| token_bucket_ns()).collect();
    let governor: Vec<f64> = (0..runs).map(|_| governor_ns()).collect();
    RateLimitFigures {
        token_bucket_ns: Spread::of(&per_decision),
        governor_timed_ns: Spread::of(&governor),
        criterion_token_bucket_ns: criterion_median("quartermaster_token_bucket"),
        governor_ns: criterion_median("governor"),
    }
}

fn token_bucket_ns() -> Option<f64> {
    let mut bucket = TokenBucket::new(10_000.0, 1_000.0, START).ok()?;
    let step = Duration::from_millis(1);
    let mut now = START;
    let start = Instant::now();
    for _ in 0..DECISIONS {
        now = now + step;
        let _ = black_box(bucket.try_take(black_box(1.0), now));
    }
    Some(start.elapsed().as_nanos() as f64 / DECISIONS as f64)
}

fn governor_ns() -> f64 {
    let quota = Quota::per_second(NonZeroU32::new(1_000).expect("non-zero rate"))
        .allow_burst(NonZeroU32::new(10_000).expect("non-zero burst"));
    let clock = FakeRelativeClock::default();
    let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
    let step = Duration::from_millis(1);
    let start = Instant::now();
    for _ in 0..DECISIONS {
        clock.advance(step);
        let _ = black_box(limiter.check());
    }
    start.elapsed().as_nanos() as f64 / DECISIONS as f64
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// The median criterion saved for `rate_limit/allowed/<name>`, in nanoseconds: looked for
/// in the target folder this binary was built into, then in `$CARGO_TARGET_DIR`.
fn criterion_median(name: &str) -> Option<f64> {
    let built_into = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_owned()));
    let from_env = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
    built_into.into_iter().chain(from_env).find_map(|target| {
        let path = target.join(format!(
            "criterion/rate_limit_allowed/{name}/new/estimates.json"
        ));
        let text = std::fs::read_to_string(path).ok()?;
        let estimates: Estimates = serde_json::from_str(&text).ok()?;
        Some(estimates.median.point_estimate)
    })
}
