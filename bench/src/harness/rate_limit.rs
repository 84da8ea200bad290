//! Nanoseconds per rate-limit decision: our token bucket timed here, governor's read from
//! the criterion bench `bench/benches/governor.rs`, which times both in one run (governor
//! is a dev-dependency of the benches only, so the harness cannot call it).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use quartermaster::model::Timestamp;
use quartermaster::policy::token_bucket::TokenBucket;
use serde::{Deserialize, Serialize};

use super::spread::Spread;

pub const GOVERNOR_HOW_TO: &str = "no criterion estimates found: run \
    `cargo bench -p quartermaster-bench --bench governor` first";

const DECISIONS: u64 = 10_000_000;
const START: Timestamp = Timestamp::from_nanos(1_768_003_200_000_000_000);

#[derive(Debug, Clone, Serialize)]
pub struct RateLimitFigures {
    /// Timed here: allowed decisions, the clock one millisecond on each time.
    pub token_bucket_ns: Option<Spread>,
    /// From the criterion bench, the same case for both: (ours, governor) medians.
    pub criterion_token_bucket_ns: Option<f64>,
    pub governor_ns: Option<f64>,
}

pub fn measure(runs: usize) -> RateLimitFigures {
    let per_decision: Vec<f64> = (0..runs).filter_map(|_| token_bucket_ns()).collect();
    RateLimitFigures {
        token_bucket_ns: Spread::of(&per_decision),
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
