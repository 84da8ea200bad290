//! What a finished piece of work really used, reported beside its actual cost (seed 001's
//! finalize: cost, tokens and compute time), so that unused tokens go back to their bucket
//! and token and compute quotas count what was used rather than what was asked for.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::PoolId;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Usage {
    /// Units actually used of each pool the work held (tokens of a rate pool), by pool id.
    /// A pool not named here counts as fully used.
    pub pools: BTreeMap<PoolId, u64>,
    /// Compute time in milliseconds; the time the work held its pools when absent.
    pub compute_ms: Option<u64>,
}

impl Usage {
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty() && self.compute_ms.is_none()
    }

    /// The sum of two reports (a batch settles as the sum of its members').
    pub fn add(&mut self, other: &Usage) {
        for (pool, amount) in &other.pools {
            let total = self.pools.entry(pool.clone()).or_default();
            *total = total.saturating_add(*amount);
        }
        self.compute_ms = match (self.compute_ms, other.compute_ms) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
    }
}
