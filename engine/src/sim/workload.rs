//! Workload generators: each workload of a scenario becomes a stream of requests drawn
//! from the run's one RNG, in event order.

use std::time::Duration;

use rand::RngExt;
use rand::rngs::SmallRng;

use super::arrival::ArrivalClock;
use super::distribution::Sampler;
use super::scenario::{Estimate, Workload};
use crate::actors::{Batching, Job, JobVariant};
use crate::config::secs;
use crate::model::{Pool, PoolId, RequestClass, RequestId, ValidationError};

/// A workload ready to draw from.
pub struct Generator {
    pub client: usize,
    pub arrivals: ArrivalClock,
    kinds: Vec<KindSampler>,
    cumulative_weights: Vec<f64>,
    /// A client that left stops arriving (joining again restarts it).
    pub active: bool,
}

struct KindSampler {
    class: RequestClass,
    urgency: f64,
    needs: Vec<(usize, Sampler)>,
    service: Sampler,
    mean_service: f64,
    estimate: Estimate,
    alternative: Option<(usize, usize)>,
    batch_group: Option<usize>,
}

impl Generator {
    /// The generator of `workloads[w]`; `pool` gives a pool's index, `batch_groups` the
    /// batch group of each of its kinds that batches.
    pub fn new(
        w: usize,
        workload: &Workload,
        client: usize,
        active: bool,
        start_of_day_secs: f64,
        pool: impl Fn(&PoolId) -> usize,
        batch_groups: &[Option<usize>],
    ) -> Result<Generator, ValidationError> {
        let mut kinds = Vec::new();
        let mut cumulative_weights = Vec::new();
        let mut total = 0.0;
        for (k, kind) in workload.kinds.iter().enumerate() {
            let at = format!("workloads[{w}].kinds[{k}]");
            total += kind.weight;
            cumulative_weights.push(total);
            kinds.push(KindSampler {
                class: kind.class,
                urgency: kind.urgency,
                needs: kind
                    .needs
                    .iter()
                    .enumerate()
                    .map(|(n, need)| {
                        Ok((
                            pool(&need.pool),
                            need.amount.sampler(&format!("{at}.needs[{n}].amount"))?,
                        ))
                    })
                    .collect::<Result<_, ValidationError>>()?,
                service: kind.service_secs.sampler(&format!("{at}.service_secs"))?,
                mean_service: kind.service_secs.mean().unwrap_or(0.0),
                estimate: kind.estimate,
                alternative: kind
                    .alternative
                    .as_ref()
                    .map(|a| (pool(&a.replace), pool(&a.with))),
                batch_group: batch_groups.get(k).copied().flatten(),
            });
        }
        Ok(Generator {
            client,
            arrivals: workload.arrivals.clock(start_of_day_secs),
            kinds,
            cumulative_weights,
            active,
        })
    }

    /// Draws the next request: its kind, amounts and service time, priced at `prices`.
    pub fn draw(&self, id: RequestId, prices: &[Pool], rng: &mut SmallRng) -> (Job, Duration) {
        let kind = if self.kinds.len() == 1 {
            &self.kinds[0]
        } else {
            let total = *self.cumulative_weights.last().expect("at least one kind");
            let pick = rng.random::<f64>() * total;
            let at = self.cumulative_weights.partition_point(|w| *w <= pick);
            &self.kinds[at.min(self.kinds.len() - 1)]
        };
        let needs: Vec<(usize, u64)> = kind
            .needs
            .iter()
            .map(|(pool, amount)| (*pool, amount.sample(rng).round().max(1.0) as u64))
            .collect();
        let service_secs = kind.service.sample(rng).max(0.0);
        let estimate_for = |needs: &[(usize, u64)]| match kind.estimate {
            Estimate::Exact => Some(price(prices, needs, service_secs)),
            Estimate::FromMeans => Some(price(prices, needs, kind.mean_service)),
            Estimate::Unknown => None,
        };
        let alternative = kind.alternative.map(|(replace, with)| {
            let needs: Vec<(usize, u64)> = needs
                .iter()
                .map(|&(pool, amount)| (if pool == replace { with } else { pool }, amount))
                .collect();
            Box::new(JobVariant {
                estimate: estimate_for(&needs),
                needs,
            })
        });
        let job = Job {
            id,
            client: self.client,
            class: kind.class,
            urgency: kind.urgency,
            primary: JobVariant {
                estimate: estimate_for(&needs),
                needs,
            },
            alternative,
            batching: kind.batch_group.map_or(Batching::Alone, Batching::Joins),
        };
        (job, secs(service_secs))
    }
}

fn price(pools: &[Pool], needs: &[(usize, u64)], held_secs: f64) -> crate::model::Money {
    needs
        .iter()
        .map(|&(pool, amount)| pools[pool].cost_of(amount, held_secs))
        .sum()
}
