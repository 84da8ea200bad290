//! The discrete-event runner: an agenda of timed events over the virtual clock, driving
//! the fleet the live engine drives too. One seeded RNG, drawn in event order, makes a run
//! exactly repeatable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::agenda::{Agenda, Happening};
use super::bookings::BookingDesk;
pub use super::error::RunError;
use super::report::{self, Report};
use super::scenario::{Action, Scenario};
use super::trace::{Decision, Hold, TraceArrival, TraceTally, exact};
use super::workload::Generator;
use crate::actors::{
    Batching, CancelRequest, Completion, Dispatches, Fleet, FleetSetup, GetLedger, Job, JobVariant,
    TakeSnapshot,
};
use crate::clock::{SharedClock, VirtualClock};
use crate::config::{MonitorSettings, SchedulerSettings, secs};
use crate::model::{PoolId, RequestId, SeqIdMap, Timestamp};
use crate::policy::alert::AlertFilter;
use crate::policy::batch::BatchRule;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
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

/// A run in progress: the fleet, what feeds it, and the requests it follows.
pub(super) struct Run<'s> {
    pub(super) scenario: &'s Scenario,
    pub(super) fleet: Fleet,
    pub(super) agenda: Agenda,
    pub(super) rng: SmallRng,
    pub(super) generators: Vec<Generator>,
    pub(super) desk: Option<BookingDesk>,
    pub(super) start: Timestamp,
    /// Arrivals stop here.
    pub(super) end: Timestamp,
    /// Service time of each request that has not finished, for its finish event.
    pub(super) service_of: SeqIdMap<RequestId, Duration>,
    next_request: u64,
    /// The recorded traffic being replayed, if the scenario has a trace.
    traced: Option<Traced>,
}

/// A trace being replayed: what comes next, how each request is held, what was decided.
struct Traced {
    next: usize,
    holds: Vec<Hold>,
    /// The trace position of each request submitted from it.
    index: SeqIdMap<RequestId, usize>,
    /// The members of each formed batch.
    batches: SeqIdMap<RequestId, Vec<RequestId>>,
    /// Batch groups registered so far: (client, class, name, size, wait bits).
    groups: BTreeMap<(usize, usize, String, u32, u64), usize>,
    decisions: Vec<Decision>,
    assumed_service: u64,
}

/// The fleet of a scenario at its start.
async fn assemble(
    scenario: &Scenario,
    clock: SharedClock,
    virtual_clock: &VirtualClock,
) -> Result<Fleet, RunError> {
    let setup = FleetSetup {
        clock,
        scheduler: SchedulerSettings::try_from(&scenario.scheduler)?,
        monitor: MonitorSettings::try_from(&scenario.monitor)?,
        events_kept: 10_000,
        samples_kept: usize::MAX,
        subscribers: None,
        request_events: false,
        // A trace replay follows each request's settlement, as the live engine does.
        settlements: scenario.trace.is_some(),
    };
    let mut fleet = Fleet::start(setup, &Arbiter::current())?;
    // A recording's fleet measured waiting from its own origin: built there, it ranks
    // ties exactly as the recording did.
    virtual_clock.advance_to(scenario.start);
    for pool in &scenario.pools {
        fleet.add_pool(pool.clone()).await?;
    }
    for client in &scenario.clients {
        fleet
            .add_client(client.clone(), !joins_later(scenario, &client.id))
            .await?;
    }
    for quota in &scenario.quotas {
        fleet.set_quota(quota.clone()).await?;
    }
    for resource in &scenario.resources {
        fleet.add_resource(resource.clone()).await?;
    }
    Ok(fleet)
}

fn joins_later(scenario: &Scenario, client: &crate::model::ClientId) -> bool {
    scenario
        .events
        .iter()
        .any(|e| matches!(&e.action, Action::ClientJoins { client: c } if c == client))
}

async fn drive(scenario: Scenario, options: RunOptions) -> Result<Report, RunError> {
    let wall_started = Instant::now();
    let seed = options.seed.unwrap_or(scenario.seed);
    let start = scenario.start;
    let end = start + secs(scenario.duration_secs);
    // Work still queued this long after the arrivals stop is reported as unfinished.
    let drain_until = end + secs(scenario.duration_secs.max(86_400.0));
    let origin = scenario
        .trace
        .as_ref()
        .and_then(|t| t.origin)
        .filter(|o| *o <= start)
        .unwrap_or(start);
    let virtual_clock = VirtualClock::starting_at(origin);
    let clock: SharedClock = Arc::new(virtual_clock.clone());
    let fleet = assemble(&scenario, clock.clone(), &virtual_clock).await?;

    // One batch group per kind that batches: a kind belongs to one workload, so its
    // requests are alike and of one client.
    let start_of_day = (start.nanos().rem_euclid(86_400_000_000_000)) as f64 / 1e9;
    let mut generators = Vec::new();
    for (w, workload) in scenario.workloads.iter().enumerate() {
        let mut groups = Vec::new();
        for (k, kind) in workload.kinds.iter().enumerate() {
            groups.push(match kind.batch {
                Some(spec) => {
                    let rule = BatchRule::new(spec.max_size, secs(spec.max_wait_secs))
                        .map_err(|e| e.within(format!("workloads[{w}].kinds[{k}].batch")))?;
                    Some(fleet.add_batch_rule(rule).await?)
                }
                None => None,
            });
        }
        let client = fleet.client(&workload.client)?;
        let active = !joins_later(&scenario, &workload.client);
        let pool = |id: &crate::model::PoolId| fleet.pool(id).expect("validated reference");
        generators.push(Generator::new(
            w,
            workload,
            client,
            active,
            start_of_day,
            pool,
            &groups,
        )?);
    }
    let desk = BookingDesk::open(&scenario, fleet.bookings().clone(), start_of_day, |id| {
        !joins_later(&scenario, id)
    })?;
    let mut run = Run {
        scenario: &scenario,
        fleet,
        agenda: Agenda::default(),
        rng: SmallRng::seed_from_u64(seed),
        generators,
        desk,
        start,
        end,
        service_of: SeqIdMap::default(),
        next_request: 0,
        traced: scenario.trace.as_ref().map(|trace| {
            let (holds, assumed_service) = trace.holds(start);
            Traced {
                next: 0,
                decisions: vec![Decision::default(); holds.len()],
                holds,
                index: SeqIdMap::default(),
                batches: SeqIdMap::default(),
                groups: BTreeMap::new(),
                assumed_service,
            }
        }),
    };
    run.schedule_first_events();

    let max_requests = scenario.max_requests.unwrap_or(u64::MAX);
    let progress = options
        .progress
        .then(|| report::Progress::new(scenario.duration_secs));
    let mut last_progress = start;
    let sample_every = secs(scenario.monitor.sample_every_secs);

    while let Some((now, happening)) = run.agenda.pop() {
        if now > drain_until {
            break;
        }
        virtual_clock.advance_to(now);
        if let Some(bar) = &progress
            && now.since(last_progress) > Duration::from_secs_f64(scenario.duration_secs / 200.0)
        {
            bar.update(now.since(start).as_secs_f64(), run.next_request);
            last_progress = now;
        }
        let out: Dispatches = match happening {
            Happening::Arrival { workload } => {
                if !run.generators[workload].active || run.next_request >= max_requests {
                    continue;
                }
                run.arrival(workload).await?
            }
            Happening::BookingArrival { stream } => {
                run.booking_arrival(stream, now).await?;
                continue;
            }
            Happening::BookingEnd { booking } => {
                if let Some(desk) = &run.desk {
                    desk.complete(booking).await?;
                }
                continue;
            }
            Happening::Finish { request } => {
                run.service_of.remove(&request);
                let actual = run.traced.as_ref().and_then(|t| t.actual(request));
                run.fleet
                    .finish(vec![Completion {
                        request,
                        actual,
                        used: None,
                        expired_lease: None,
                    }])
                    .await?
            }
            Happening::Traced => {
                if run.next_request >= max_requests {
                    continue;
                }
                run.traced_arrival().await?
            }
            Happening::Cancel { request } => {
                run.service_of.remove(&request);
                let (_, mut out) = run
                    .fleet
                    .scheduler()
                    .send(CancelRequest {
                        request,
                        expired_lease: None,
                    })
                    .await?;
                // Withdrawn by its own client: cancelled, not refused (as live).
                out.refused.retain(|(id, _)| *id != request);
                out
            }
            Happening::RecordedTick => run.fleet.tick(Vec::new()).await?,
            Happening::Wake => {
                if !run.agenda.take_wake(now) {
                    continue;
                }
                run.fleet.wake().await?
            }
            Happening::Tick => {
                // Sampling stops once no more work is offered (the window's end, or
                // `max_requests` reached) and what was offered has drained, so utilisation
                // and throughput are measured over the window in which work was offered.
                let offering = now < end && run.next_request < max_requests;
                if offering || !run.service_of.is_empty() {
                    run.agenda.push(now + sample_every, Happening::Tick);
                }
                run.fleet.tick(Vec::new()).await?
            }
            Happening::Scenario { index } => run.act(index, now).await?,
        };
        run.follow(out, now);
    }
    if let Some(bar) = &progress {
        bar.finish();
    }
    run.report(seed, wall_started, clock.now()).await
}

impl Run<'_> {
    /// The first arrival of every stream, the scenario's timed events and the first tick.
    fn schedule_first_events(&mut self) {
        let (start, end) = (self.start, self.end);
        for (w, generator) in self.generators.iter_mut().enumerate() {
            let first = start + secs(generator.arrivals.next(&mut self.rng));
            if first < end {
                self.agenda.push(first, Happening::Arrival { workload: w });
            }
        }
        if let Some(desk) = self.desk.as_mut() {
            for stream in 0..desk.streams() {
                let first = start + secs(desk.next_arrival(stream, &mut self.rng));
                if first < end {
                    self.agenda
                        .push(first, Happening::BookingArrival { stream });
                }
            }
        }
        // A trace's events are at recorded instants, kept to the nanosecond.
        let traced = self.scenario.trace.is_some();
        for (index, event) in self.scenario.events.iter().enumerate() {
            let at = if traced {
                exact(event.at_secs)
            } else {
                secs(event.at_secs)
            };
            self.agenda.push(start + at, Happening::Scenario { index });
        }
        match self.scenario.trace.as_ref() {
            Some(trace) => {
                if let Some(first) = trace.arrivals.first() {
                    self.agenda.push(start + exact(first.0), Happening::Traced);
                }
                match &trace.ticks {
                    Some(ticks) => {
                        for tick in ticks {
                            self.agenda
                                .push(start + exact(*tick), Happening::RecordedTick);
                        }
                    }
                    None => self.agenda.push(start, Happening::Tick),
                }
            }
            None => self.agenda.push(start, Happening::Tick),
        }
    }

    /// The trace's next recorded request arrives now; the one after it is scheduled.
    async fn traced_arrival(&mut self) -> Result<Dispatches, RunError> {
        let scenario: &Scenario = self.scenario;
        let trace = scenario.trace.as_ref().expect("a traced run has a trace");
        let Some(traced) = self.traced.as_mut() else {
            return Ok(Dispatches::default());
        };
        let i = traced.next;
        traced.next += 1;
        if let Some(next) = trace.arrivals.get(i + 1) {
            self.agenda
                .push(self.start + exact(next.0), Happening::Traced);
        }
        let TraceArrival(_, client, class, urgency, needs, estimate, _, extra) = &trace.arrivals[i];
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let client = self.fleet.client(client)?;
        let variant = |needs: &[(PoolId, u64)], estimate: Option<crate::model::Money>| {
            Ok::<_, RunError>(JobVariant {
                needs: needs
                    .iter()
                    .map(|(pool, amount)| Ok((self.fleet.pool(pool)?, *amount)))
                    .collect::<Result<_, RunError>>()?,
                estimate,
            })
        };
        let primary = variant(needs, *estimate)?;
        let alternative = match extra.as_ref().and_then(|e| e.alternative.as_ref()) {
            Some((needs, estimate)) => Some(Box::new(variant(needs, *estimate)?)),
            None => None,
        };
        let batching = match extra.as_ref().and_then(|e| e.batch.as_ref()) {
            Some((name, size, wait)) => {
                let key = (client, class.index(), name.clone(), *size, wait.to_bits());
                match traced.groups.get(&key) {
                    Some(group) => Batching::Joins(*group),
                    None => {
                        let rule = BatchRule::new(*size, secs(*wait))
                            .map_err(|e| e.within(format!("trace.arrivals[{i}].7.batch")))?;
                        let group = self.fleet.add_batch_rule(rule).await?;
                        traced.groups.insert(key, group);
                        Batching::Joins(group)
                    }
                }
            }
            None => Batching::Alone,
        };
        traced.index.insert(id, i);
        match traced.holds[i] {
            Hold::For(service, _) => {
                self.service_of.insert(id, service);
            }
            Hold::Until(Some(at)) => self.agenda.push(at, Happening::Cancel { request: id }),
            Hold::Until(None) => {}
        }
        let job = Job {
            id,
            client,
            class: *class,
            urgency: *urgency,
            primary,
            alternative,
            batching,
        };
        Ok(self.fleet.submit(vec![job]).await?)
    }

    /// A request of `workload` arrives now; the next one is scheduled.
    async fn arrival(&mut self, workload: usize) -> Result<Dispatches, RunError> {
        let generator = &mut self.generators[workload];
        let next = self.start + secs(generator.arrivals.next(&mut self.rng));
        if next < self.end {
            self.agenda.push(next, Happening::Arrival { workload });
        }
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let (job, service) = self.generators[workload].draw(id, self.fleet.pools(), &mut self.rng);
        self.service_of.insert(id, service);
        Ok(self.fleet.submit(vec![job]).await?)
    }

    async fn booking_arrival(&mut self, stream: usize, now: Timestamp) -> Result<(), RunError> {
        let Some(desk) = self.desk.as_mut() else {
            return Ok(());
        };
        if !desk.is_active(stream) {
            return Ok(());
        }
        let next = self.start + secs(desk.next_arrival(stream, &mut self.rng));
        if next < self.end {
            self.agenda.push(next, Happening::BookingArrival { stream });
        }
        if let Some(booking) = desk.attempt(stream, now, &mut self.rng).await? {
            self.agenda.push(
                booking.end,
                Happening::BookingEnd {
                    booking: booking.id,
                },
            );
        }
        Ok(())
    }

    /// Follows what the fleet set going: finishes of started requests at the end of their
    /// service, batches as long as their longest member, the next wake.
    fn follow(&mut self, out: Dispatches, now: Timestamp) {
        if let Some(traced) = self.traced.as_mut() {
            traced.follow(&out, now);
        }
        for batch in out.batched {
            let longest = batch
                .members
                .iter()
                .filter_map(|member| self.service_of.remove(member))
                .max()
                .unwrap_or_default();
            self.service_of.insert(batch.id, longest);
        }
        for started in out.started {
            if let Some(service) = self.service_of.get(&started.request) {
                self.agenda.push(
                    now + *service,
                    Happening::Finish {
                        request: started.request,
                    },
                );
            }
        }
        for (refused, _) in out.refused {
            self.service_of.remove(&refused);
        }
        if let Some(at) = out.wake_at {
            self.agenda.wake_at(at);
        }
    }

    async fn report(
        self,
        seed: u64,
        wall_started: Instant,
        ended_at: Timestamp,
    ) -> Result<Report, RunError> {
        let final_snapshot = self.fleet.scheduler().send(TakeSnapshot).await?;
        let clients = self.fleet.client_stats().await?;
        let pools = self.fleet.pool_histories().await?;
        let samples = self.fleet.take_samples().await?;
        let alerts = report::AlertReport::new(
            self.fleet.alert_summary().await?,
            self.fleet.alerts(AlertFilter::default()).await?,
        );
        let bookings = match self.desk {
            Some(desk) => Some(desk.report(self.start, ended_at).await?),
            None => None,
        };
        let ledger = self
            .fleet
            .ledger()
            .send(GetLedger {
                event_limit: 200,
                filter: Default::default(),
                item_limit: 0,
            })
            .await?;
        System::current().stop();
        Ok(report::build(report::Inputs {
            scenario: self.scenario,
            seed,
            requests: self.next_request,
            clients,
            pools,
            samples,
            ledger,
            bookings,
            final_snapshot,
            alerts,
            wall: wall_started.elapsed(),
            ended_at,
            traced: self.traced.map(|t| {
                let tally = TraceTally::new(&t.decisions, t.assumed_service);
                (tally, t.decisions)
            }),
        }))
    }
}

impl Traced {
    /// The recorded actual cost of a traced request, or of a batch (its members' sum, if
    /// every member's was recorded).
    fn actual(&self, request: RequestId) -> Option<crate::model::Money> {
        let of = |id: &RequestId| match self.index.get(id).map(|i| self.holds[*i]) {
            Some(Hold::For(_, actual)) => actual,
            _ => None,
        };
        match self.batches.get(&request) {
            Some(members) => members.iter().map(of).sum(),
            None => of(&request),
        }
    }

    /// Notes what was decided about the traced requests.
    fn follow(&mut self, out: &Dispatches, now: Timestamp) {
        for formed in &out.batched {
            self.batches.insert(formed.id, formed.members.clone());
        }
        for started in &out.started {
            let members = self
                .batches
                .get(&started.request)
                .cloned()
                .unwrap_or_else(|| vec![started.request]);
            for member in members {
                if let Some(i) = self.index.get(&member) {
                    let decision = &mut self.decisions[*i];
                    decision.started_at = Some(now);
                    decision.downgraded = started.downgraded;
                }
            }
        }
        for (job, refusal) in &out.refused {
            let members = self.batches.get(job).cloned().unwrap_or_else(|| vec![*job]);
            for member in members {
                if let Some(i) = self.index.get(&member) {
                    let decision = &mut self.decisions[*i];
                    if decision.started_at.is_none() && decision.refused.is_none() {
                        decision.refused = Some(refusal.reason.as_str().to_owned());
                    }
                }
            }
        }
        for settled in &out.finished {
            if let Some(i) = self.index.get(&settled.request) {
                self.decisions[*i].charged = Some(settled.charged);
            }
        }
    }
}
