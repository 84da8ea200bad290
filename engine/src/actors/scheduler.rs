//! The scheduler: five class queues scored against starvation, and the admission gate.
//! A request starts when every pool it needs has room, every quota allows it and its
//! client's credit covers the reservation, all checked and taken in one handler.

use actix::prelude::*;

use crate::clock::SharedClock;
use crate::config::SchedulerSettings;
use crate::model::{
    ClientId, Event, EventKind, Money, QuotaScope, RequestClass, RequestId, SeqIdMap, Tier,
    Timestamp,
};
use crate::policy::admission::{Admitted, Gate, Refusal, RefusalReason};
use crate::policy::alert::{
    self, ClientObservation, Observations, PoolObservation, QuotaObservation, STARVING_LISTED,
    StarvingObservation,
};
use crate::policy::batch::{BatchRule, Batcher};
use crate::policy::dispatch::{self, Blocked, ClientView, Decision, SCAN_LIMIT, earliest};
pub use crate::policy::dispatch::{BatchMember, Batching, Job, JobVariant};
use crate::policy::priority::{self, FairShare};
use crate::policy::queue::{Aging, ClassQueues};

use super::client::{ClientActor, ClientOutcome};

mod accounts;
mod admin;
mod batching;
mod messages;
mod running;
use super::ledger::{LedgerActor, Publish};
pub use accounts::{
    ActiveReservations, CloseClient, Consume, ConsumeError, Consumed, GetQuotaStandings,
    GetReservation, QuotaStanding, RemoveQuota, belongs_to,
};
pub use admin::{
    AddClient, AddPool, CancelRequest, CheckQuota, CheckQuotas, CreditOp, CreditReply, GetAccount,
    QueueStatus, QueueStatusReply, QuotaAnswer, QuotaOp, SetQuota,
};
pub use messages::{
    AddBatchRule, Completion, Dispatched, Dispatches, Finish, FormedBatch, PoolChange,
    SetClientActive, Settled, Snapshot, Submit, TakeSnapshot, Wake, Withdrawn,
};

/// A client as the scheduler knows it.
#[derive(Debug, Clone)]
pub struct ClientSetup {
    pub id: ClientId,
    pub tier: Tier,
    pub max_concurrent: u32,
    pub active: bool,
    pub actor: Addr<ClientActor>,
}

struct ClientSlot {
    setup: ClientSetup,
    running: u32,
}

/// A client as a snapshot keeps it: its setup without the actor's address.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClientSlotImage {
    pub id: ClientId,
    pub tier: Tier,
    pub max_concurrent: u32,
    pub active: bool,
    pub running: u32,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Running {
    client: usize,
    class: RequestClass,
    variant: JobVariant,
    admitted: Admitted,
    started: Timestamp,
    /// Requests it serves: its members if it is a batch, else one.
    requests: u32,
}

pub struct SchedulerActor {
    clock: SharedClock,
    config: SchedulerSettings,
    gate: Gate,
    queues: ClassQueues<Job>,
    /// What queued jobs ask of each pool (primary needs), for the autoscaler.
    queued_demand: Vec<f64>,
    fair_share: FairShare,
    clients: Vec<ClientSlot>,
    running: SeqIdMap<RequestId, Running>,
    ledger: Addr<LedgerActor>,
    blocked: Blocked,
    batcher: Batcher<Job>,
    starving: u64,
    spent: Money,
    /// Publish each request's lifecycle (`request.queued`, `.started`, `.refused`,
    /// `.finished`, `.cancelled`) and hand back each settlement (`Dispatches::finished`):
    /// on for the live engine, off for replays, whose report tallies the same per client
    /// and class without a message per step.
    request_events: bool,
    /// Hand back each settlement (`Dispatches::finished`) without publishing events: a
    /// trace replay that follows what each request was charged.
    settlements: bool,
}

/// The scheduler's state, as a snapshot keeps it (its settings come from the engine that
/// restores it; the running map in request order, so equal states have equal images).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SchedulerImage {
    pub gate: Gate,
    pub queues: ClassQueues<Job>,
    pub queued_demand: Vec<f64>,
    pub fair_share: FairShare,
    pub clients: Vec<ClientSlotImage>,
    pub running: Vec<(RequestId, Running)>,
    pub blocked: Blocked,
    pub batcher: Batcher<Job>,
    pub starving: u64,
    pub spent: Money,
}

/// Asks the scheduler for its state.
#[derive(Debug, Message)]
#[rtype(result = "SchedulerImage")]
pub struct SaveScheduler;

/// The clients as a dispatch scan sees them.
struct Slots<'a>(&'a [ClientSlot]);

impl ClientView for Slots<'_> {
    fn id(&self, client: usize) -> &ClientId {
        &self.0[client].setup.id
    }

    fn may_start(&self, client: usize) -> bool {
        let slot = &self.0[client];
        slot.running < slot.setup.max_concurrent
    }
}

impl SchedulerActor {
    pub fn new(
        clock: SharedClock,
        config: SchedulerSettings,
        gate: Gate,
        clients: Vec<ClientSetup>,
        ledger: Addr<LedgerActor>,
    ) -> Result<Self, crate::model::ValidationError> {
        let now = clock.now();
        let aging = Aging {
            max_waiting: if config.aging {
                config.weights.waiting
            } else {
                0.0
            },
            full_after: config.weights.waiting_full_after,
        };
        Ok(SchedulerActor {
            fair_share: FairShare::new(config.fair_share_half_life)?,
            queues: ClassQueues::new(aging, now),
            queued_demand: vec![0.0; gate.gauges().len()],
            blocked: Blocked::default(),
            clients: clients
                .into_iter()
                .map(|setup| ClientSlot { setup, running: 0 })
                .collect(),
            clock,
            config,
            gate,
            running: SeqIdMap::default(),
            ledger,
            batcher: Batcher::default(),
            starving: 0,
            spent: Money::ZERO,
            request_events: false,
            settlements: false,
        })
    }

    /// The scheduler a snapshot saved; `actors` are its clients' actors, in client order.
    pub fn restore(
        clock: SharedClock,
        config: SchedulerSettings,
        ledger: Addr<LedgerActor>,
        image: SchedulerImage,
        actors: Vec<Addr<ClientActor>>,
    ) -> Self {
        SchedulerActor {
            clock,
            config,
            gate: image.gate,
            queues: image.queues,
            queued_demand: image.queued_demand,
            fair_share: image.fair_share,
            clients: image
                .clients
                .into_iter()
                .zip(actors)
                .map(|(slot, actor)| ClientSlot {
                    setup: ClientSetup {
                        id: slot.id,
                        tier: slot.tier,
                        max_concurrent: slot.max_concurrent,
                        active: slot.active,
                        actor,
                    },
                    running: slot.running,
                })
                .collect(),
            running: image.running.into_iter().collect(),
            ledger,
            blocked: image.blocked,
            batcher: image.batcher,
            starving: image.starving,
            spent: image.spent,
            request_events: false,
            settlements: false,
        }
    }

    fn image(&self) -> SchedulerImage {
        let mut running: Vec<_> = self
            .running
            .iter()
            .map(|(id, run)| (*id, run.clone()))
            .collect();
        running.sort_unstable_by_key(|(id, _)| *id);
        SchedulerImage {
            gate: self.gate.clone(),
            queues: self.queues.clone(),
            queued_demand: self.queued_demand.clone(),
            fair_share: self.fair_share.clone(),
            clients: self
                .clients
                .iter()
                .map(|slot| ClientSlotImage {
                    id: slot.setup.id.clone(),
                    tier: slot.setup.tier,
                    max_concurrent: slot.setup.max_concurrent,
                    active: slot.setup.active,
                    running: slot.running,
                })
                .collect(),
            running,
            blocked: self.blocked.clone(),
            batcher: self.batcher.clone(),
            starving: self.starving,
            spent: self.spent,
        }
    }

    /// Publishes every request's lifecycle on the bus (see the field).
    pub fn with_request_events(mut self, on: bool) -> Self {
        self.request_events = on;
        self.settlements |= on;
        self
    }

    /// Hands back each settlement without publishing lifecycle events (see the field).
    pub fn with_settlements(mut self, on: bool) -> Self {
        self.settlements |= on;
        self
    }

    /// Holds jobs that join batch group `i` ([`Batching::Joins`]) under `rules[i]`.
    pub fn with_batching(mut self, rules: Vec<BatchRule>) -> Self {
        self.batcher = Batcher::new(rules);
        self
    }

    fn publish(&self, at: Timestamp, kind: EventKind) {
        self.ledger.do_send(Publish(Event { at, kind }));
    }

    /// Turns a job away: its client is told, and so is the bus (`request.refused`, or
    /// `request.cancelled` when `cancelled`), with any quota it pushed past its limit.
    fn refuse(&mut self, job: &Job, refusal: &Refusal, on_arrival: bool) {
        let now = self.clock.now();
        let client = self.clients[job.client].setup.id.clone();
        for notice in self.gate.take_refusal_notices() {
            self.publish(now, notice.to_event(&client));
        }
        self.turn_away(job, refusal, on_arrival, false);
    }

    fn turn_away(&self, job: &Job, refusal: &Refusal, on_arrival: bool, cancelled: bool) {
        let client = &self.clients[job.client].setup;
        let outcome = ClientOutcome::Refused {
            class: job.class,
            reason: refusal.reason,
            on_arrival,
        };
        match &job.batching {
            Batching::Of(members) => members.iter().for_each(|_| client.actor.do_send(outcome)),
            Batching::Alone | Batching::Joins(_) => client.actor.do_send(outcome),
        }
        tracing::debug!(request = %job.id, client = %client.id, %refusal, "refused");
        if self.request_events {
            let now = self.clock.now();
            for request in job.members() {
                let kind = if cancelled {
                    EventKind::RequestCancelled {
                        request,
                        client: client.id.clone(),
                    }
                } else {
                    EventKind::RequestRefused {
                        request,
                        client: client.id.clone(),
                        reason: refusal.reason.as_str().to_owned(),
                        message: refusal.message.clone(),
                    }
                };
                self.publish(now, kind);
            }
        }
    }

    /// Tells the bus a request waits (when it publishes request events).
    fn queued(&self, request: RequestId, client: usize, class: RequestClass, now: Timestamp) {
        if self.request_events {
            let client = self.clients[client].setup.id.clone();
            let kind = EventKind::RequestQueued {
                request,
                client,
                class,
            };
            self.publish(now, kind);
        }
    }

    fn is_off_peak(&self, now: Timestamp) -> bool {
        self.config
            .off_peak
            .is_none_or(|window| window.contains(now))
    }

    /// Queues a job (its primary needs count as waiting demand).
    fn enqueue(&mut self, job: Job, points: f64, enqueued: Timestamp) {
        self.count_demand(&job, 1.0);
        self.queues.push(job.class, job, points, enqueued);
    }

    /// A job left the queue.
    fn dequeued(&mut self, job: &Job) {
        self.count_demand(job, -1.0);
    }

    fn count_demand(&mut self, job: &Job, sign: f64) {
        for &(pool, amount) in &job.primary.needs {
            let demand = &mut self.queued_demand[pool];
            *demand = (*demand + sign * amount as f64).max(0.0);
        }
    }

    /// Starts everything that can start now, most urgent class first.
    fn dispatch(&mut self, now: Timestamp, out: &mut Dispatches) {
        self.queues.saturate(now);
        self.blocked.reset(self.gate.gauges().len());
        let off_peak = self.is_off_peak(now);
        for class in RequestClass::ALL {
            if self.queues.class_len(class) == 0 {
                continue;
            }
            if class == RequestClass::Deferred && !off_peak {
                let opens = self.config.off_peak.map(|w| w.next_start(now));
                out.wake_at = earliest(out.wake_at, opens);
                continue;
            }
            // A pass looks at SCAN_LIMIT requests at most; when it saw that many and took
            // some, the class may hold more that can go now (refusals free no capacity).
            while !self.blocked.all() {
                let pass = dispatch::scan_class(
                    &mut self.queues,
                    class,
                    &mut self.gate,
                    &Slots(&self.clients),
                    &mut self.blocked,
                    self.config.downgrade,
                    &mut out.wake_at,
                    now,
                );
                let progressed = !pass.taken.is_empty();
                for (job, enqueued, decision) in pass.taken {
                    self.dequeued(&job);
                    match decision {
                        Ok((admitted, downgraded)) => {
                            self.start(job, enqueued, admitted, downgraded, false, now, out);
                        }
                        Err(refusal) => {
                            self.refuse(&job, &refusal, false);
                            out.refused.push((job.id, refusal));
                        }
                    }
                }
                if pass.visited < SCAN_LIMIT || !progressed {
                    break;
                }
            }
        }
    }

    /// Why a request can never start, if so: it needs more than a pool could ever hold and
    /// has no alternative that might fit.
    fn never_fits(&self, job: &Job) -> Option<Refusal> {
        let refusal = self.gate.never_fits(&job.primary.needs)?;
        let alternative_may_fit = self.config.downgrade
            && job
                .alternative
                .as_ref()
                .is_some_and(|alt| self.gate.never_fits(&alt.needs).is_none());
        (!alternative_may_fit).then_some(refusal)
    }

    /// Takes a new request: refuses it, holds it for its batch, starts it at once when
    /// nothing waits ahead of it, or queues it.
    fn submit(&mut self, job: Job, now: Timestamp, out: &mut Dispatches) {
        let slot = &self.clients[job.client];
        if !slot.setup.active {
            let refusal = Refusal::new(
                RefusalReason::Withdrawn,
                format!("client {} is not active", slot.setup.id),
            );
            self.refuse(&job, &refusal, true);
            out.refused.push((job.id, refusal));
            return;
        }
        match job.batching {
            Batching::Joins(group) => self.gather(job, group, now, out),
            Batching::Alone | Batching::Of(_) => self.admit_or_queue(job, now, true, now, out),
        }
    }

    /// Starts `job` at once when nothing waits ahead of it and everything allows, refuses
    /// it, or queues it as waiting since `enqueued`. `on_arrival`: its client has not been
    /// told of it yet.
    fn admit_or_queue(
        &mut self,
        job: Job,
        enqueued: Timestamp,
        on_arrival: bool,
        now: Timestamp,
        out: &mut Dispatches,
    ) {
        let slot = &self.clients[job.client];
        let deferred_now = job.class == RequestClass::Deferred && !self.is_off_peak(now);
        if self.queues.is_empty() && slot.running < slot.setup.max_concurrent && !deferred_now {
            // Nobody waits ahead of it, so it may start at once if everything allows.
            let client = slot.setup.id.clone();
            match dispatch::decide(&mut self.gate, &client, &job, self.config.downgrade, now) {
                Decision::Start(admitted, downgraded) => {
                    self.start(job, enqueued, admitted, downgraded, on_arrival, now, out);
                    return;
                }
                Decision::Refuse(refusal) => {
                    self.refuse(&job, &refusal, on_arrival);
                    out.refused.push((job.id, refusal));
                    return;
                }
                Decision::Wait(_) => {}
            }
        }
        if let Some(refusal) = self.never_fits(&job) {
            // Waiting would not help: say so now rather than after the queue ahead of it.
            self.refuse(&job, &refusal, on_arrival);
            out.refused.push((job.id, refusal));
            return;
        }
        if on_arrival {
            self.queued(job.id, job.client, job.class, now);
        }
        let slot = &self.clients[job.client];
        if on_arrival {
            slot.setup
                .actor
                .do_send(ClientOutcome::Submitted { class: job.class });
        }
        let share = self.fair_share.share(job.client, now);
        let points =
            priority::static_points(&self.config.weights, slot.setup.tier, job.urgency, share);
        self.enqueue(job, points, enqueued);
    }
}

impl SchedulerActor {
    /// What the alert policy needs to see now.
    fn observe(&self, now: Timestamp) -> Observations {
        let pools = self
            .gate
            .gauges()
            .iter()
            .map(|gauge| PoolObservation {
                pool: gauge.pool().id.clone(),
                free: gauge.free(now),
            })
            .collect();
        let clients = self
            .gate
            .credits()
            .balances()
            .map(|(client, balance)| {
                let used = balance.spent + balance.reserved;
                let total = used + balance.available;
                ClientObservation {
                    client: client.clone(),
                    used_ratio: if total > Money::ZERO {
                        used.as_f64() / total.as_f64()
                    } else {
                        0.0
                    },
                }
            })
            .collect();
        let quotas = self
            .gate
            .quotas()
            .iter()
            .map(|state| QuotaObservation {
                quota: state.quota().id.clone(),
                client: match &state.quota().scope {
                    QuotaScope::Client(client) => Some(client.clone()),
                    QuotaScope::Global => None,
                },
                // A period that has ended starts afresh at the next use.
                usage_ratio: if now >= state.period_end() {
                    0.0
                } else {
                    state.usage_ratio()
                },
            })
            .collect();
        Observations {
            at: now,
            pools,
            clients,
            quotas,
            queued: self.queues.len(),
            starving: self.starving_now(now),
            // Leases are the live driver's: it hands them to the monitor with each tick.
            leases: Vec::new(),
        }
    }

    /// Queued requests waiting past the starvation bound, oldest first, at most
    /// `STARVING_LISTED`. Tickets are issued in arrival order, so the walk stops at the
    /// first request (other than deferred work, whose wait may not count yet) that has
    /// not waited that long: every later one arrived after it. (Requests re-queued when
    /// another client leaves keep their arrival but take new tickets; they are seen once
    /// those ahead of them start.)
    fn starving_now(&self, now: Timestamp) -> Vec<StarvingObservation> {
        let bound = self.config.starvation_bound;
        let mut starving = Vec::new();
        for (job, enqueued, class) in self.queues.oldest_first() {
            if starving.len() == STARVING_LISTED {
                break;
            }
            if class != RequestClass::Deferred && now.since(enqueued) <= bound {
                break;
            }
            let overdue = alert::overdue(class, enqueued, now, self.config.off_peak);
            if overdue.is_some_and(|overdue| overdue > bound) {
                starving.push(StarvingObservation {
                    request: job.id,
                    client: self.clients[job.client].setup.id.clone(),
                    waited: now.since(enqueued),
                });
            }
        }
        starving
    }
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;
}

impl Handler<Submit> for SchedulerActor {
    type Result = MessageResult<Submit>;

    fn handle(&mut self, Submit(jobs): Submit, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let mut out = Dispatches::default();
        let queued_before = self.queues.len();
        self.release_due(now, &mut out);
        for job in jobs {
            self.submit(job, now, &mut out);
        }
        // Only a newly queued request can change what may start.
        if self.queues.len() > queued_before {
            self.dispatch(now, &mut out);
        }
        self.wake_for_batches(&mut out);
        MessageResult(out)
    }
}

impl Handler<Finish> for SchedulerActor {
    type Result = MessageResult<Finish>;

    fn handle(&mut self, Finish(done): Finish, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let mut out = Dispatches::default();
        for completion in done {
            let settled = self.finish(completion, now);
            // Only a driver that follows each request (the live engine) wants these; a
            // replay would pay an allocation per finish for nothing.
            if let Some(settled) = settled.filter(|_| self.settlements) {
                out.finished.push(settled);
            }
        }
        self.release_due(now, &mut out);
        self.dispatch(now, &mut out);
        self.wake_for_batches(&mut out);
        MessageResult(out)
    }
}

impl Handler<Wake> for SchedulerActor {
    type Result = MessageResult<Wake>;

    fn handle(&mut self, _: Wake, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let mut out = Dispatches::default();
        self.release_due(now, &mut out);
        self.dispatch(now, &mut out);
        self.wake_for_batches(&mut out);
        MessageResult(out)
    }
}

impl Handler<PoolChange> for SchedulerActor {
    type Result = MessageResult<PoolChange>;

    fn handle(&mut self, change: PoolChange, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        match change {
            PoolChange::Resize { pool, size } => {
                if let Err(e) = self.gate.resize(pool, size, now) {
                    tracing::warn!(pool, error = %e, "resize refused");
                }
            }
            PoolChange::Down { pool, down } => self.gate.set_down(pool, down),
            PoolChange::Price { pool, price } => self.gate.set_price(pool, price),
        }
        let mut out = Dispatches::default();
        self.dispatch(now, &mut out);
        self.wake_for_batches(&mut out);
        MessageResult(out)
    }
}

impl Handler<TakeSnapshot> for SchedulerActor {
    type Result = MessageResult<TakeSnapshot>;

    fn handle(&mut self, _: TakeSnapshot, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let queued = RequestClass::ALL.map(|c| self.queues.class_len(c));
        let observed = self.observe(now);
        MessageResult(Snapshot {
            observed,
            at: now,
            pools: self
                .gate
                .gauges()
                .iter()
                .map(|g| (g.utilisation(now), g.size()))
                .collect(),
            available: self
                .gate
                .gauges()
                .iter()
                .map(|g| g.available(now))
                .collect(),
            queued_demand: self.queued_demand.clone(),
            queued,
            running: self.running.len(),
            spent: self.spent,
            starving: self.starving,
        })
    }
}

#[cfg(test)]
mod tests;

impl Handler<SaveScheduler> for SchedulerActor {
    type Result = MessageResult<SaveScheduler>;

    fn handle(&mut self, _: SaveScheduler, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.image())
    }
}
