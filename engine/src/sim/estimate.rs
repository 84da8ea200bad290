//! What a run will cost before it starts: how many requests arrive, how many may pile up
//! in the queue, and the memory that takes. `qm check` prints it; `qm run` refuses a run
//! past its limits unless forced, since an overloaded or enormous scenario otherwise grows
//! by gigabytes before anything is printed.

use std::fmt;

use crate::model::{PoolKind, grouped};

use super::Scenario;

/// Bytes a queued request takes in a replay, as `qm bench` measures at a million queued
/// (444), rounded up for the queue's own growth.
pub const BYTES_PER_QUEUED: f64 = 512.0;
/// Bytes a replay takes whatever its size: the runtime, the actors, the report's tallies.
pub const BASE_BYTES: f64 = 16.0 * 1024.0 * 1024.0;

/// The expected size of a run, from the scenario's mean rates and service times.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEstimate {
    /// Arrivals over `duration_secs`, capped by `max_requests`.
    pub requests: f64,
    /// Requests still queued at the end if the offered load exceeds a pool's capacity (its
    /// largest autoscaled size): the excess share of the arrivals. Zero when every pool
    /// keeps up on average (bursts queue briefly and are not counted).
    pub peak_queue: f64,
    /// The pool that falls behind most, and its offered load over its capacity.
    pub overloaded: Option<(String, f64)>,
    pub memory_bytes: f64,
}

/// Limits past which `qm run` refuses to start without `--force`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunLimits {
    pub requests: f64,
    pub memory_bytes: f64,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            requests: 50_000_000.0,
            memory_bytes: 4.0 * 1024.0 * 1024.0 * 1024.0,
        }
    }
}

impl RunEstimate {
    pub fn of(scenario: &Scenario) -> RunEstimate {
        // A trace's arrivals are counted as they are; they are already in memory, and
        // replayed work queues no further than it did when it was recorded.
        let recorded = scenario.trace.as_ref().map_or(0, |t| t.arrivals.len()) as f64;
        let arrivals: f64 = recorded
            + scenario
                .workloads
                .iter()
                .map(|w| w.arrivals.mean_rate() * scenario.duration_secs)
                .sum::<f64>();
        let requests = scenario
            .max_requests
            .map_or(arrivals, |cap| arrivals.min(cap as f64));
        // The share of arrivals offered before `max_requests` stops them.
        let offered_share = if arrivals > 0.0 {
            requests / arrivals
        } else {
            0.0
        };
        let mut overloaded: Option<(String, f64)> = None;
        for pool in &scenario.pools {
            let capacity = match pool.kind {
                PoolKind::Slot { slots, .. } => {
                    let most = pool.autoscale.map_or(slots, |bounds| bounds.max.max(slots));
                    f64::from(most)
                }
                // Tokens per second the bucket refills: what it can sustain.
                PoolKind::Rate { refill_per_sec, .. } => refill_per_sec,
            };
            let slots = matches!(pool.kind, PoolKind::Slot { .. });
            let mut demand = 0.0;
            for workload in &scenario.workloads {
                let total_weight: f64 = workload.kinds.iter().map(|k| k.weight).sum();
                if total_weight <= 0.0 {
                    continue;
                }
                for kind in &workload.kinds {
                    let share = kind.weight / total_weight;
                    // A slot pool is held for the service time; a bucket is drawn once.
                    let held = if slots {
                        kind.service_secs.mean().unwrap_or(0.0)
                    } else {
                        1.0
                    };
                    for need in kind.needs.iter().filter(|n| n.pool == pool.id) {
                        let amount = need.amount.mean().unwrap_or(0.0);
                        demand += workload.arrivals.mean_rate() * share * amount * held;
                    }
                }
            }
            if capacity > 0.0 && demand > capacity {
                let load = demand / capacity;
                if overloaded.as_ref().is_none_or(|(_, worst)| load > *worst) {
                    overloaded = Some((pool.id.to_string(), load));
                }
            }
        }
        let peak_queue = overloaded.as_ref().map_or(0.0, |(_, load)| {
            requests * offered_share.min(1.0) * (1.0 - 1.0 / load)
        });
        RunEstimate {
            requests,
            peak_queue,
            overloaded,
            memory_bytes: BASE_BYTES + peak_queue * BYTES_PER_QUEUED,
        }
    }

    /// What exceeds `limits`, said so a person knows what to change; empty when the run
    /// may go ahead.
    pub fn excesses(&self, limits: &RunLimits) -> Vec<String> {
        let mut excesses = Vec::new();
        if self.requests > limits.requests {
            excesses.push(format!(
                "about {} requests would arrive (limit {}): lower duration_secs or the \
                 arrival rates, or set max_requests",
                count(self.requests),
                count(limits.requests)
            ));
        }
        if self.memory_bytes > limits.memory_bytes {
            let why = match &self.overloaded {
                Some((pool, load)) => format!(
                    "pool {pool} is offered {load:.1}x what it can serve, so about {} \
                     requests would pile up in its queue: add capacity, lower the arrival \
                     rates, or set max_requests",
                    count(self.peak_queue)
                ),
                None => "lower duration_secs or set max_requests".to_owned(),
            };
            excesses.push(format!(
                "the run would need about {} of memory (limit {}): {why}",
                bytes(self.memory_bytes),
                bytes(limits.memory_bytes)
            ));
        }
        excesses
    }
}

impl fmt::Display for RunEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "about {} requests, peak queue about {}, memory about {}",
            count(self.requests),
            count(self.peak_queue),
            bytes(self.memory_bytes)
        )?;
        if let Some((pool, load)) = &self.overloaded {
            write!(f, " (pool {pool} offered {load:.2}x its capacity)")?;
        }
        Ok(())
    }
}

/// A count as people read it: grouped, or in scientific notation when enormous.
fn count(n: f64) -> String {
    if !n.is_finite() || n >= 1e15 {
        return format!("{n:.1e}");
    }
    // Adding zero turns a negative zero into zero.
    grouped(&format!("{:.0}", n.max(0.0) + 0.0))
}

fn bytes(n: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n >= 1024.0 * 1024.0 * MIB {
        format!("{:.1e} bytes", n)
    } else if n >= 1024.0 * MIB {
        format!("{:.1} GiB", n / (1024.0 * MIB))
    } else {
        format!("{:.0} MiB", n / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::parse;

    fn scenario(rate: f64, duration: f64, max: &str, slots: u32) -> Scenario {
        let text = format!(
            r#"(
            name: "e", start: "2026-01-05T00:00:00Z", duration_secs: {duration}, max_requests: {max},
            pools: [(id: "s", kind: slot(slots: {slots}, cost_per_hour: 1))],
            clients: [(id: "c", tier: standard)],
            workloads: [(client: "c", arrivals: poisson(rate_per_sec: {rate}),
                kinds: [(name: "k", class: normal, needs: [(pool: "s", amount: constant(1))],
                         service_secs: exponential(mean: 1))])],
        )"#
        );
        parse(&text, "e.ron").unwrap()
    }

    #[test]
    fn a_pool_that_keeps_up_queues_nothing_in_the_estimate() {
        let estimate = RunEstimate::of(&scenario(6.4, 1000.0, "None", 8));
        assert_eq!(estimate.requests, 6400.0);
        assert_eq!(estimate.peak_queue, 0.0);
        assert!(estimate.excesses(&RunLimits::default()).is_empty());
    }

    #[test]
    fn an_overloaded_pool_piles_up_its_excess_and_is_named() {
        // 100 arrivals/s into one server for 100,000 s: 99% of 10^7 requests pile up.
        let estimate = RunEstimate::of(&scenario(100.0, 100_000.0, "None", 1));
        assert_eq!(estimate.requests, 1e7);
        assert!((estimate.peak_queue - 9.9e6).abs() < 1.0);
        let excesses = estimate.excesses(&RunLimits::default());
        assert_eq!(excesses.len(), 1, "{excesses:?}");
        assert!(
            excesses[0].contains("pool s is offered 100.0x"),
            "{excesses:?}"
        );
    }

    #[test]
    fn enormous_arrivals_are_refused_and_max_requests_caps_them() {
        let huge = RunEstimate::of(&scenario(1e12, 1e9, "None", 1_000_000));
        assert!(
            huge.excesses(&RunLimits::default())[0].contains("1.0e21 requests"),
            "{:?}",
            huge.excesses(&RunLimits::default())
        );
        let capped = RunEstimate::of(&scenario(1e12, 1e9, "Some(1000)", 1_000_000));
        assert_eq!(capped.requests, 1000.0);
    }
}
