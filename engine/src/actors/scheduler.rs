//! The scheduler: five class queues scored against starvation, and the admission gate.
//! A request starts when every pool it needs has room, every quota allows it and its
//! client's credit covers the reservation, all checked and taken in one handler.

use actix::prelude::*;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::SchedulerSettings;
use crate::model::{
    ClientId, CostType, Event, EventKind, Money, PoolKind, RequestClass, RequestId, SeqIdMap, Tier,
    Timestamp,
};
use crate::policy::admission::{Admitted, Gate, Refusal, RefusalReason};
use crate::policy::batch::{self, BatchRule, Batcher, Combine, Gathered, Member};
use crate::policy::dispatch::{self, Blocked, ClientView, Decision, SCAN_LIMIT, earliest};
pub use crate::policy::dispatch::{BatchMember, Batching, Job, JobVariant};
use crate::policy::priority::{self, FairShare};
use crate::policy::queue::{Aging, ClassQueues};

use super::client::{ClientActor, ClientOutcome};

mod admin;
use super::ledger::{Charge, LedgerActor, Publish};
pub use admin::{
    AddClient, AddPool, CancelRequest, CheckQuota, CheckQuotas, CreditOp, CreditReply, GetAccount,
    QueueStatus, QueueStatusReply, QuotaAnswer, QuotaOp, SetQuota,
};

/// Registers a batch rule; answers the index a `Batching::Joins` names.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct AddBatchRule(pub BatchRule);

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

struct Running {
    client: usize,
    class: RequestClass,
    variant: JobVariant,
    admitted: Admitted,
    started: Timestamp,
    /// Requests it serves: its members if it is a batch, else one.
    requests: u32,
}

/// A request that started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dispatched {
    pub request: RequestId,
    pub downgraded: bool,
}

/// What a message to the scheduler set going.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dispatches {
    pub started: Vec<Dispatched>,
    /// Requests turned away, with why.
    pub refused: Vec<(RequestId, Refusal)>,
    /// When queued work might start without any other event (tokens refill, off-peak, a
    /// held batch falling due).
    pub wake_at: Option<Timestamp>,
    /// Batches formed, so the driver can follow their members.
    pub batched: Vec<FormedBatch>,
}

impl Dispatches {
    /// Adds what another message set going.
    pub fn merge(&mut self, other: Dispatches) {
        self.started.extend(other.started);
        self.refused.extend(other.refused);
        self.batched.extend(other.batched);
        self.wake_at = earliest(self.wake_at, other.wake_at);
    }
}

/// Like requests gathered into one job, which runs under its first member's id.
#[derive(Debug, Clone, PartialEq)]
pub struct FormedBatch {
    pub id: RequestId,
    pub members: Vec<RequestId>,
}

/// Queues requests and starts what can start.
#[derive(Debug, Message)]
#[rtype(result = "Dispatches")]
pub struct Submit(pub Vec<Job>);

/// A request that finished; `actual` is its cost if known, else it is priced from the
/// time it held its pools.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    pub request: RequestId,
    pub actual: Option<Money>,
}

#[derive(Debug, Message)]
#[rtype(result = "Dispatches")]
pub struct Finish(pub Vec<Completion>);

/// Time passed: start what can start now.
#[derive(Debug, Message)]
#[rtype(result = "Dispatches")]
pub struct Wake;

/// A pool changed (from its pool actor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Dispatches")]
pub enum PoolChange {
    Resize { pool: usize, size: f64 },
    Down { pool: usize, down: bool },
    Price { pool: usize, price: Money },
}

/// A client joins or leaves; leaving withdraws its queued requests.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Withdrawn")]
pub struct SetClientActive {
    pub client: usize,
    pub active: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Withdrawn(pub Vec<RequestId>);

/// Asks for utilisation, queue depth and spend now.
#[derive(Debug, Message)]
#[rtype(result = "Snapshot")]
pub struct TakeSnapshot;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub at: Timestamp,
    /// (utilisation 0..1, size) per pool, in pool order.
    pub pools: Vec<(f64, f64)>,
    /// Amount queued requests ask of each pool, in pool order: demand that is waiting.
    pub queued_demand: Vec<f64>,
    pub queued: [usize; 5],
    pub running: usize,
    pub spent: Money,
    pub starving: u64,
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
}

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
        })
    }

    /// Holds jobs that join batch group `i` ([`Batching::Joins`]) under `rules[i]`.
    pub fn with_batching(mut self, rules: Vec<BatchRule>) -> Self {
        self.batcher = Batcher::new(rules);
        self
    }

    fn publish(&self, at: Timestamp, kind: EventKind) {
        self.ledger.do_send(Publish(Event { at, kind }));
    }

    fn refuse(&self, job: &Job, refusal: &Refusal, on_arrival: bool) {
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

    /// Records a request that starts now and tells its client.
    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        mut job: Job,
        enqueued: Timestamp,
        admitted: Admitted,
        downgraded: bool,
        on_arrival: bool,
        now: Timestamp,
        out: &mut Dispatches,
    ) {
        let waited = now.since(enqueued);
        if waited > self.config.starvation_bound {
            self.starving += 1;
            self.publish(
                now,
                EventKind::RequestStarving {
                    request: job.id,
                    client: self.clients[job.client].setup.id.clone(),
                    waited_secs: waited.as_secs_f64(),
                },
            );
        }
        let requests = job.requests();
        let slot = &mut self.clients[job.client];
        slot.running += 1;
        match &job.batching {
            // Each member waited from its own arrival until the batch started.
            Batching::Of(members) => {
                for member in members.iter() {
                    slot.setup.actor.do_send(ClientOutcome::Admitted {
                        class: job.class,
                        waited_micros: micros(now.since(member.arrived)),
                        downgraded,
                        on_arrival,
                    });
                }
            }
            Batching::Alone | Batching::Joins(_) => {
                slot.setup.actor.do_send(ClientOutcome::Admitted {
                    class: job.class,
                    waited_micros: micros(waited),
                    downgraded,
                    on_arrival,
                });
            }
        }
        let _ = self.fair_share.record(job.client, 1.0, now);
        for notice in &admitted.notices {
            let event = notice.to_event(&self.clients[job.client].setup.id);
            self.publish(now, event);
        }
        let variant = match (downgraded, job.alternative.take()) {
            (true, Some(alt)) => *alt,
            _ => job.primary,
        };
        self.running.insert(
            job.id,
            Running {
                client: job.client,
                class: job.class,
                variant,
                admitted,
                started: now,
                requests,
            },
        );
        out.started.push(Dispatched {
            request: job.id,
            downgraded,
        });
    }

    fn finish(&mut self, completion: Completion, now: Timestamp) {
        let Some(run) = self.running.remove(&completion.request) else {
            tracing::warn!(request = %completion.request, "finish of a request that is not running");
            return;
        };
        let held = now.since(run.started);
        let actual = completion
            .actual
            .unwrap_or_else(|| self.gate.price(&run.variant.needs, held.as_secs_f64()));
        let slot = &mut self.clients[run.client];
        slot.running = slot.running.saturating_sub(1);
        let client = slot.setup.id.clone();
        match self.gate.finish(
            &client,
            &run.variant.needs,
            &run.admitted,
            actual,
            held,
            now,
        ) {
            Ok(finished) => {
                let charged = finished.settlement.charged;
                self.spent += charged;
                self.clients[run.client]
                    .setup
                    .actor
                    .do_send(ClientOutcome::Completed {
                        class: run.class,
                        cost: charged,
                        requests: run.requests,
                    });
                if charged > Money::ZERO {
                    self.ledger.do_send(Charge {
                        client: client.clone(),
                        cost_type: CostType::ApiUsage,
                        category: self.gate.gauges()[run.variant.needs[0].0]
                            .pool()
                            .id
                            .0
                            .clone(),
                        amount: charged,
                        at: now,
                        metadata: Default::default(),
                    });
                }
                if let Some(alert) = finished.alert {
                    let event = alert.event(
                        run.admitted.reservation,
                        &client,
                        actual,
                        run.admitted.reserved,
                    );
                    self.publish(now, event);
                }
                for notice in &finished.notices {
                    self.publish(now, notice.to_event(&client));
                }
            }
            Err(e) => {
                tracing::error!(request = %completion.request, error = %e, "settlement failed")
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

    /// Holds a request with like ones until its batch forms; one of an unknown group is
    /// served alone.
    fn gather(&mut self, job: Job, group: usize, now: Timestamp, out: &mut Dispatches) {
        let (client, class) = (job.client, job.class);
        match self.batcher.add(group, job, now) {
            Ok(gathered) => {
                self.clients[client]
                    .setup
                    .actor
                    .do_send(ClientOutcome::Submitted { class });
                if let Gathered::Formed(members) = gathered {
                    self.form_batch(members, now, out);
                }
            }
            Err(unknown) => {
                tracing::warn!(error = %unknown, "served alone");
                let mut job = unknown.item;
                job.batching = Batching::Alone;
                self.admit_or_queue(job, now, true, now, out);
            }
        }
    }

    /// Turns gathered members into one job and queues it as waiting since its oldest
    /// member arrived. The batch draws the sum of its members' tokens (each member's work
    /// consumes them) but shares slots (it runs as one job, holding the largest member's
    /// slots), and reserves what its members would have reserved together.
    fn form_batch(&mut self, members: Vec<Member<Job>>, now: Timestamp, out: &mut Dispatches) {
        let gauges = self.gate.gauges();
        let combine = |pool: usize| match gauges.get(pool).map(|g| &g.pool().kind) {
            Some(PoolKind::Slot { .. }) => Combine::Max,
            Some(PoolKind::Rate { .. }) | None => Combine::Sum,
        };
        let primary = merge_variants(members.iter().map(|m| &m.item.primary), combine);
        let alternative = members
            .iter()
            .all(|m| m.item.alternative.is_some())
            .then(|| {
                Box::new(merge_variants(
                    members.iter().filter_map(|m| m.item.alternative.as_deref()),
                    combine,
                ))
            });
        let first = &members[0];
        let enqueued = first.arrived;
        let batch = Job {
            id: first.item.id,
            client: first.item.client,
            class: first.item.class,
            urgency: first.item.urgency,
            primary,
            alternative,
            batching: Batching::Of(
                members
                    .iter()
                    .map(|m| BatchMember {
                        request: m.item.id,
                        arrived: m.arrived,
                    })
                    .collect(),
            ),
        };
        self.clients[batch.client]
            .setup
            .actor
            .do_send(ClientOutcome::Batched {
                members: members.len() as u32,
            });
        out.batched.push(FormedBatch {
            id: batch.id,
            members: members.iter().map(|m| m.item.id).collect(),
        });
        self.admit_or_queue(batch, enqueued, false, now, out);
    }

    /// Forms the batches whose oldest member has waited long enough.
    fn release_due(&mut self, now: Timestamp, out: &mut Dispatches) {
        if self.batcher.is_empty() {
            return;
        }
        for (_, members) in self.batcher.release_due(now) {
            self.form_batch(members, now, out);
        }
    }

    /// Asks to be woken when the next held batch falls due.
    fn wake_for_batches(&self, out: &mut Dispatches) {
        if !self.batcher.is_empty() {
            out.wake_at = earliest(out.wake_at, self.batcher.next_deadline());
        }
    }
}

fn micros(wait: Duration) -> u64 {
    wait.as_micros().min(u128::from(u64::MAX)) as u64
}

/// One variant of a batch from its members' variants of the same kind.
fn merge_variants<'a>(
    variants: impl Iterator<Item = &'a JobVariant> + Clone,
    combine: impl Fn(usize) -> Combine,
) -> JobVariant {
    JobVariant {
        needs: batch::combine_needs(variants.clone().map(|v| v.needs.as_slice()), combine),
        estimate: variants.map(|v| v.estimate).sum(),
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
        for completion in done {
            self.finish(completion, now);
        }
        let mut out = Dispatches::default();
        self.release_due(now, &mut out);
        self.dispatch(now, &mut out);
        self.wake_for_batches(&mut out);
        MessageResult(out)
    }
}

impl Handler<AddBatchRule> for SchedulerActor {
    type Result = usize;

    fn handle(&mut self, AddBatchRule(rule): AddBatchRule, _: &mut Context<Self>) -> usize {
        self.batcher.add_rule(rule)
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

impl Handler<SetClientActive> for SchedulerActor {
    type Result = MessageResult<SetClientActive>;

    fn handle(&mut self, msg: SetClientActive, _: &mut Context<Self>) -> Self::Result {
        self.clients[msg.client].setup.active = msg.active;
        let mut withdrawn = Vec::new();
        if !msg.active {
            let refusal = Refusal::new(RefusalReason::Withdrawn, "client left");
            for member in self.batcher.withdraw(|job| job.client == msg.client) {
                self.refuse(&member.item, &refusal, false);
                withdrawn.push(member.item.id);
            }
            let queued: Vec<_> = self.queues.drain();
            self.queued_demand.iter_mut().for_each(|d| *d = 0.0);
            let mut keep = Vec::new();
            for (job, enqueued, class) in queued {
                if job.client == msg.client {
                    let refusal = Refusal::new(RefusalReason::Withdrawn, "client left");
                    self.refuse(&job, &refusal, false);
                    withdrawn.push(job.id);
                } else {
                    keep.push((job, enqueued, class));
                }
            }
            // Re-queue the others with their original enqueue times and scores.
            for (job, enqueued, _) in keep {
                let slot = &self.clients[job.client];
                let share = self.fair_share.share(job.client, enqueued);
                let points = priority::static_points(
                    &self.config.weights,
                    slot.setup.tier,
                    job.urgency,
                    share,
                );
                self.enqueue(job, points, enqueued);
            }
        }
        MessageResult(Withdrawn(withdrawn))
    }
}

impl Handler<TakeSnapshot> for SchedulerActor {
    type Result = MessageResult<TakeSnapshot>;

    fn handle(&mut self, _: TakeSnapshot, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let queued = RequestClass::ALL.map(|c| self.queues.class_len(c));
        MessageResult(Snapshot {
            at: now,
            pools: self
                .gate
                .gauges()
                .iter()
                .map(|g| (g.utilisation(now), g.size()))
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
