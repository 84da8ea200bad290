//! The discrete-event runner: a heap of timed events over the virtual clock, driving the
//! same actors the live engine uses. One seeded RNG, drawn in event order, makes a run
//! exactly repeatable.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::arrival::ArrivalClock;
use super::bookings::BookingDesk;
use super::distribution::Sampler;
use super::report::{self, Report};
use super::scenario::{Action, Estimate, Scenario, secs};
use crate::actors::{
    Batching, ClientActor, ClientSetup, Completion, Dispatches, Finish, GetClientStats, GetLedger,
    GetPoolHistory, GetSeries, Job, JobVariant, LedgerActor, MonitorActor, PoolActor, PoolCommand,
    SchedulerActor, SchedulerConfig, SetClientActive, SetQuota, Submit, TakeSnapshot, Tick, Wake,
};
use crate::clock::{SharedClock, VirtualClock};
use crate::model::{
    BookingId, Metric, Money, Period, Pool, Quota, QuotaScope, RequestId, SeqIdMap, Timestamp,
    ValidationError,
};
use crate::policy::admission::Gate;
use crate::policy::autoscale::Autoscaler;
use crate::policy::batch::BatchRule;
use crate::policy::booking::BookingError;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the scenario is invalid: {0}")]
    Invalid(#[from] ValidationError),
    #[error("an actor stopped unexpectedly: {0}")]
    Mailbox(#[from] MailboxError),
    #[error("the actor system failed: {0}")]
    System(String),
    #[error("a booking step failed unexpectedly: {0}")]
    Booking(#[from] BookingError),
}

/// Replays a scenario on a virtual clock and reports what happened.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<Report, RunError> {
    let problems = scenario.problems();
    if let Some(first) = problems.into_iter().next() {
        return Err(RunError::Invalid(first));
    }
    let scenario = scenario.clone();
    let options = options.clone();
    let system = actix::System::new();
    // The loop runs as a task on the system's arbiter: round trips to the actors are
    // cheapest from there.
    system.block_on(async move {
        actix::spawn(async move { drive(scenario, options).await })
            .await
            .map_err(|e| RunError::System(e.to_string()))?
    })
}

#[derive(Debug, Clone, Copy)]
enum EventKind {
    Arrival { workload: usize },
    Finish { request: RequestId },
    BookingArrival { stream: usize },
    BookingEnd { booking: BookingId },
    Wake,
    Tick,
    Scenario { index: usize },
}

#[derive(Debug)]
struct Timed {
    at: Timestamp,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    /// Earliest first, then first scheduled first (a min-heap through reversal).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Agenda {
    heap: BinaryHeap<Timed>,
    seq: u64,
    wake_at: Option<Timestamp>,
}

impl Agenda {
    fn push(&mut self, at: Timestamp, kind: EventKind) {
        self.seq += 1;
        self.heap.push(Timed {
            at,
            seq: self.seq,
            kind,
        });
    }
}

/// A workload ready to draw from.
struct Generator {
    client: usize,
    arrivals: ArrivalClock,
    kinds: Vec<KindSampler>,
    cumulative_weights: Vec<f64>,
    active: bool,
}

struct KindSampler {
    class: crate::model::RequestClass,
    urgency: f64,
    needs: Vec<(usize, Sampler)>,
    service: Sampler,
    mean_service: f64,
    estimate: Estimate,
    alternative: Option<(usize, usize)>,
    batch_group: Option<usize>,
}

async fn drive(scenario: Scenario, options: RunOptions) -> Result<Report, RunError> {
    let wall_started = Instant::now();
    let seed = options.seed.unwrap_or(scenario.seed);
    let mut rng = SmallRng::seed_from_u64(seed);
    let start = scenario.start;
    let end = start + secs(scenario.duration_secs);
    // Work still queued this long after the arrivals stop is reported as unfinished.
    let drain_until = end + secs(scenario.duration_secs.max(86_400.0));
    let virtual_clock = VirtualClock::starting_at(start);
    let clock: SharedClock = Arc::new(virtual_clock.clone());

    let pool_index = |id: &crate::model::PoolId| {
        scenario
            .pools
            .iter()
            .position(|p| &p.id == id)
            .expect("validated reference")
    };
    let client_index = |id: &crate::model::ClientId| {
        scenario
            .clients
            .iter()
            .position(|c| &c.id == id)
            .expect("validated reference")
    };

    let ledger = LedgerActor::new(10_000).start();
    let mut gate = Gate::new(scenario.scheduler.reservation)?;
    for pool in &scenario.pools {
        gate.add_pool(pool.clone(), start)?;
    }
    for quota in &scenario.quotas {
        gate.add_quota(quota.clone(), start)?;
    }
    let joins_later: Vec<bool> = scenario
        .clients
        .iter()
        .map(|c| {
            scenario
                .events
                .iter()
                .any(|e| matches!(&e.action, Action::ClientJoins { client } if client == &c.id))
        })
        .collect();
    let mut client_actors = Vec::new();
    let mut setups = Vec::new();
    for (i, client) in scenario.clients.iter().enumerate() {
        gate.credits_mut()
            .open_account(client.id.clone(), client.credits)
            .map_err(|e| {
                ValidationError::new(format!("clients[{i}]"), &client.id, e.to_string())
            })?;
        if let Some(budget) = client.monthly_budget {
            // A monthly budget is a hard monthly cost quota of the client's own.
            let mut quota = Quota::new(
                format!("budget:{}", client.id),
                QuotaScope::Client(client.id.clone()),
                Metric::Cost,
                budget.micros().max(1) as u64,
                Period::Monthly,
            );
            quota.hard_stop = true;
            gate.add_quota(quota, start)?;
        }
        let actor = ClientActor::new(client.id.clone()).start();
        client_actors.push(actor.clone());
        setups.push(ClientSetup {
            id: client.id.clone(),
            tier: client.tier,
            max_concurrent: client.effective_max_concurrent(),
            active: !joins_later[i],
            actor,
        });
    }
    let config = SchedulerConfig {
        weights: scenario.scheduler.weights,
        aging: scenario.scheduler.aging,
        fair_share_half_life: secs(scenario.scheduler.fair_share_half_life_secs),
        starvation_bound: secs(scenario.scheduler.starvation_bound_secs),
        off_peak: scenario
            .scheduler
            .off_peak
            .map(|w| (w.start_hour, w.end_hour)),
        downgrade: scenario.scheduler.downgrade,
    };
    // One batch group per kind that batches: a kind belongs to one workload, so its
    // requests are alike and of one client.
    let mut batch_rules = Vec::new();
    let mut batch_groups: Vec<Vec<Option<usize>>> = Vec::new();
    for (w, workload) in scenario.workloads.iter().enumerate() {
        let mut groups = Vec::new();
        for (k, kind) in workload.kinds.iter().enumerate() {
            groups.push(match kind.batch {
                Some(spec) => {
                    let rule = BatchRule::new(spec.max_size, secs(spec.max_wait_secs))
                        .map_err(|e| e.within(format!("workloads[{w}].kinds[{k}].batch")))?;
                    batch_rules.push(rule);
                    Some(batch_rules.len() - 1)
                }
                None => None,
            });
        }
        batch_groups.push(groups);
    }
    let scheduler = SchedulerActor::new(clock.clone(), config, gate, setups, ledger.clone())?
        .with_batching(batch_rules)
        .start();
    let mut pool_actors = Vec::new();
    let mut watched = Vec::new();
    for (index, pool) in scenario.pools.iter().enumerate() {
        let actor = PoolActor::new(
            pool.id.clone(),
            index,
            pool_size(pool),
            clock.clone(),
            scheduler.clone(),
            ledger.clone(),
        )
        .start();
        let autoscaler = match pool.autoscale {
            Some(bounds) => Some(Autoscaler::new(
                scenario.monitor.autoscale_config(bounds.min, bounds.max),
            )?),
            None => None,
        };
        pool_actors.push(actor.clone());
        watched.push((actor, autoscaler));
    }
    let monitor = MonitorActor::new(
        scheduler.clone(),
        watched,
        scenario.monitor.window,
        secs(scenario.monitor.horizon_secs),
    )?
    .start();

    let start_of_day = (start.nanos().rem_euclid(86_400_000_000_000)) as f64 / 1e9;
    let mut generators = Vec::new();
    for (w, workload) in scenario.workloads.iter().enumerate() {
        let client = client_index(&workload.client);
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
                            pool_index(&need.pool),
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
                    .map(|a| (pool_index(&a.replace), pool_index(&a.with))),
                batch_group: batch_groups[w][k],
            });
        }
        generators.push(Generator {
            client,
            arrivals: workload.arrivals.clock(start_of_day),
            kinds,
            cumulative_weights,
            active: !joins_later[client],
        });
    }
    let mut desk =
        BookingDesk::open(&scenario, &clock, &ledger, start_of_day, &joins_later).await?;
    let mut prices: Vec<Pool> = scenario.pools.clone();

    let mut agenda = Agenda {
        heap: BinaryHeap::new(),
        seq: 0,
        wake_at: None,
    };
    for (w, generator) in generators.iter_mut().enumerate() {
        let first = start + secs(generator.arrivals.next(&mut rng));
        if first < end {
            agenda.push(first, EventKind::Arrival { workload: w });
        }
    }
    if let Some(desk) = desk.as_mut() {
        for stream in 0..desk.streams() {
            let first = start + secs(desk.next_arrival(stream, &mut rng));
            if first < end {
                agenda.push(first, EventKind::BookingArrival { stream });
            }
        }
    }
    for (index, event) in scenario.events.iter().enumerate() {
        agenda.push(start + secs(event.at_secs), EventKind::Scenario { index });
    }
    let sample_every = secs(scenario.monitor.sample_every_secs);
    agenda.push(start, EventKind::Tick);

    let mut service_of: SeqIdMap<RequestId, Duration> = SeqIdMap::default();
    let mut next_request = 0u64;
    let max_requests = scenario.max_requests.unwrap_or(u64::MAX);
    let progress = options
        .progress
        .then(|| report::Progress::new(scenario.duration_secs));
    let mut last_progress = start;

    while let Some(event) = agenda.heap.pop() {
        if event.at > drain_until {
            break;
        }
        virtual_clock.advance_to(event.at);
        let now = event.at;
        if let Some(bar) = &progress
            && now.since(last_progress) > Duration::from_secs_f64(scenario.duration_secs / 200.0)
        {
            bar.update(now.since(start).as_secs_f64(), next_request);
            last_progress = now;
        }
        let out: Dispatches = match event.kind {
            EventKind::Arrival { workload } => {
                let generator = &mut generators[workload];
                // A client that left stops arriving (joining again restarts it).
                if !generator.active || next_request >= max_requests {
                    continue;
                }
                let next = start + secs(generator.arrivals.next(&mut rng));
                if next < end {
                    agenda.push(next, EventKind::Arrival { workload });
                }
                let id = RequestId(next_request);
                next_request += 1;
                let (job, service) = draw_job(generator, id, &prices, &mut rng);
                service_of.insert(id, service);
                scheduler.send(Submit(vec![job])).await?
            }
            EventKind::BookingArrival { stream } => {
                let Some(desk) = desk.as_mut() else { continue };
                if !desk.is_active(stream) {
                    continue;
                }
                let next = start + secs(desk.next_arrival(stream, &mut rng));
                if next < end {
                    agenda.push(next, EventKind::BookingArrival { stream });
                }
                if let Some(booking) = desk.attempt(stream, now, &mut rng).await? {
                    agenda.push(
                        booking.end,
                        EventKind::BookingEnd {
                            booking: booking.id,
                        },
                    );
                }
                continue;
            }
            EventKind::BookingEnd { booking } => {
                if let Some(desk) = &desk {
                    desk.complete(booking).await?;
                }
                continue;
            }
            EventKind::Finish { request } => {
                service_of.remove(&request);
                scheduler
                    .send(Finish(vec![Completion {
                        request,
                        actual: None,
                    }]))
                    .await?
            }
            EventKind::Wake => {
                if agenda.wake_at != Some(now) {
                    continue;
                }
                agenda.wake_at = None;
                scheduler.send(Wake).await?
            }
            EventKind::Tick => {
                if now < end || !service_of.is_empty() {
                    agenda.push(now + sample_every, EventKind::Tick);
                }
                monitor.send(Tick).await?
            }
            EventKind::Scenario { index } => match &scenario.events[index].action {
                Action::PoolCapacity { pool, capacity } => {
                    let p = pool_index(pool);
                    pool_actors[p]
                        .send(PoolCommand::Resize {
                            size: *capacity,
                            reason: "scenario event",
                        })
                        .await?
                }
                Action::PoolDown { pool } => {
                    pool_actors[pool_index(pool)]
                        .send(PoolCommand::Down)
                        .await?
                }
                Action::PoolUp { pool } => {
                    pool_actors[pool_index(pool)].send(PoolCommand::Up).await?
                }
                Action::PoolPrice { pool, price } => {
                    let p = pool_index(pool);
                    set_price(&mut prices[p], *price);
                    pool_actors[p].send(PoolCommand::Price(*price)).await?
                }
                Action::QuotaLimit { quota, limit } => {
                    let mut changed = scenario
                        .quotas
                        .iter()
                        .find(|q| &q.id == quota)
                        .cloned()
                        .expect("validated reference");
                    changed.limit = *limit;
                    scheduler.send(SetQuota(changed)).await??;
                    Dispatches::default()
                }
                Action::ClientJoins { client } | Action::ClientLeaves { client } => {
                    let c = client_index(client);
                    let active =
                        matches!(scenario.events[index].action, Action::ClientJoins { .. });
                    for (w, generator) in generators.iter_mut().enumerate() {
                        if generator.client == c && generator.active != active {
                            generator.active = active;
                            if active {
                                let next = resume(&mut generator.arrivals, &mut rng, start, now);
                                if next < end {
                                    agenda.push(next, EventKind::Arrival { workload: w });
                                }
                            }
                        }
                    }
                    if let Some(desk) = desk.as_mut() {
                        for (stream, next) in desk.set_active(c, active, &mut rng, start, now) {
                            if next < end {
                                agenda.push(next, EventKind::BookingArrival { stream });
                            }
                        }
                    }
                    let withdrawn = scheduler
                        .send(SetClientActive { client: c, active })
                        .await?;
                    for id in withdrawn.0 {
                        service_of.remove(&id);
                    }
                    Dispatches::default()
                }
            },
        };
        for batch in out.batched {
            // A batch runs as long as its longest member.
            let longest = batch
                .members
                .iter()
                .filter_map(|member| service_of.remove(member))
                .max()
                .unwrap_or_default();
            service_of.insert(batch.id, longest);
        }
        for started in out.started {
            if let Some(service) = service_of.get(&started.request) {
                agenda.push(
                    now + *service,
                    EventKind::Finish {
                        request: started.request,
                    },
                );
            }
        }
        for (refused, _) in out.refused {
            service_of.remove(&refused);
        }
        if let Some(at) = out.wake_at
            && agenda.wake_at.is_none_or(|w| at < w)
        {
            agenda.wake_at = Some(at);
            agenda.push(at, EventKind::Wake);
        }
    }
    if let Some(bar) = &progress {
        bar.finish();
    }

    let final_snapshot = scheduler.send(TakeSnapshot).await?;
    let mut clients = Vec::new();
    for actor in &client_actors {
        clients.push(actor.send(GetClientStats).await?);
    }
    let mut pools = Vec::new();
    for actor in &pool_actors {
        pools.push(actor.send(GetPoolHistory).await?);
    }
    let samples = monitor.send(GetSeries).await?;
    let bookings = match desk {
        Some(desk) => Some(desk.report(start, clock.now()).await?),
        None => None,
    };
    let ledger_view = ledger
        .send(GetLedger {
            event_limit: 200,
            filter: Default::default(),
            item_limit: 0,
        })
        .await?;
    System::current().stop();
    Ok(report::build(report::Inputs {
        scenario: &scenario,
        seed,
        requests: next_request,
        clients,
        pools,
        samples,
        ledger: ledger_view,
        bookings,
        final_snapshot,
        wall: wall_started.elapsed(),
        ended_at: clock.now(),
    }))
}

/// The first arrival of `arrivals` at or after `now`: a stream that resumes where the
/// calendar is.
pub(super) fn resume(
    arrivals: &mut ArrivalClock,
    rng: &mut SmallRng,
    start: Timestamp,
    now: Timestamp,
) -> Timestamp {
    let mut next = start + secs(arrivals.next(rng));
    while next < now {
        next = start + secs(arrivals.next(rng));
    }
    next
}

fn pool_size(pool: &Pool) -> f64 {
    match &pool.kind {
        crate::model::PoolKind::Rate { capacity, .. } => *capacity,
        crate::model::PoolKind::Slot { slots, .. } => f64::from(*slots),
    }
}

fn set_price(pool: &mut Pool, price: Money) {
    match &mut pool.kind {
        crate::model::PoolKind::Rate {
            cost_per_1k_units, ..
        } => *cost_per_1k_units = price,
        crate::model::PoolKind::Slot { cost_per_hour, .. } => *cost_per_hour = price,
    }
}

fn draw_job(
    generator: &Generator,
    id: RequestId,
    prices: &[Pool],
    rng: &mut SmallRng,
) -> (Job, Duration) {
    let kind = if generator.kinds.len() == 1 {
        &generator.kinds[0]
    } else {
        let total = *generator
            .cumulative_weights
            .last()
            .expect("at least one kind");
        let pick = rng.random::<f64>() * total;
        let at = generator.cumulative_weights.partition_point(|w| *w <= pick);
        &generator.kinds[at.min(generator.kinds.len() - 1)]
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
        client: generator.client,
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

fn price(pools: &[Pool], needs: &[(usize, u64)], held_secs: f64) -> Money {
    needs
        .iter()
        .map(|&(pool, amount)| pools[pool].cost_of(amount, held_secs))
        .sum()
}
