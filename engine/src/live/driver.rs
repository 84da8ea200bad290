//! The sequencer's state: the fleet, and what the live engine follows beside it (where
//! each request stands, who waits for which outcome, formed batches). Every command is
//! applied here, in journal order, live and on replay alike.

use std::collections::{BTreeMap, HashMap, VecDeque};

use tokio::sync::oneshot;

use super::command::Command;
use super::engine::{LiveConfig, LiveError, RequestRecord, RequestState, SubmitOutcome};
use super::lease::{LeaseConfig, LeaseExpiry, Leases};
use crate::actors::{
    ActiveReservations, CancelClientBookings, CancelRequest, Charge, Completion, Consume, Consumed,
    CreditOp, CreditReply, Dispatches, Fleet, Job, JobVariant, PendingBookings, QuotaOp,
};
use crate::actors::{Batching, Book, CancelBooking, CompleteBooking, Publish};
use crate::clock::{Clock, VirtualClock};
use crate::config::secs;
use crate::model::{
    Booking, ClientId, CostEntry, Event, EventKind, Metric, Money, Need, Request, RequestId,
    Timestamp, Usage, ValidationError, ensure_lease,
};
use crate::policy::admission::{Refusal, RefusalReason};
use crate::policy::alert::{LEASES_LISTED, LeaseObservation};
use crate::policy::batch::BatchRule;

/// What applying a command answered.
pub(super) enum Reply {
    Done,
    Submitted(RequestId),
    Credit(CreditReply),
    Cost(CostEntry),
    Booking(Booking),
    Consumed(Consumed),
}

/// Outcomes waiting for the command that decided them to be durable: a start caused by a
/// completion must not reach its submitter before the completion is on disk, or a crash
/// could bring an acknowledged request back queued.
#[derive(Default)]
pub(super) struct Notices(Vec<(oneshot::Sender<SubmitOutcome>, SubmitOutcome)>);

impl Notices {
    fn hold(&mut self, tell: oneshot::Sender<SubmitOutcome>, outcome: SubmitOutcome) {
        self.0.push((tell, outcome));
    }

    pub(super) fn take(&mut self) -> Notices {
        std::mem::take(self)
    }

    /// Tells each waiting submitter; call only once the deciding command is durable.
    pub(super) fn send(self) {
        for (tell, outcome) in self.0 {
            // A submitter that stopped waiting is not an error.
            let _ = tell.send(outcome);
        }
    }
}

/// A batch that formed: its members each complete on their own, and the batch releases
/// its pools and settles when the last one has.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Batch {
    members: Vec<RequestId>,
    /// Members not yet completed or cancelled.
    open: usize,
    /// Actual costs reported by the members so far.
    actual: Option<Money>,
    /// Whether any member completed (rather than all cancelling).
    completed: bool,
    /// Usage reported by the members so far; counted only if every member reports it.
    #[serde(default)]
    used: Option<Usage>,
    #[serde(default)]
    unreported: bool,
}

/// A batch group as requests name it: one client, one class, one name and rule.
type GroupKey = (usize, usize, String, u32, u64);

/// What the sequencer follows beside the fleet, as a snapshot keeps it (maps in key
/// order, so equal states have equal images).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DriverImage {
    next_request: u64,
    records: Vec<RequestRecord>,
    /// Ended requests in the order they ended, the next to forget first.
    #[serde(default)]
    ended: Vec<RequestId>,
    wake_at: Option<Timestamp>,
    groups: Vec<(GroupKey, usize)>,
    batches: Vec<(RequestId, Batch)>,
}

pub(super) struct Driver {
    pub(super) clock: VirtualClock,
    /// When the last command that changed anything was applied: the instant a snapshot
    /// is taken at (a refused command moves the clock but changes nothing).
    pub(super) applied_at: Timestamp,
    pub(super) fleet: Fleet,
    pub(super) next_request: u64,
    /// Requests whose submitter waits for the start or the refusal.
    pub(super) waiting: HashMap<RequestId, oneshot::Sender<SubmitOutcome>>,
    pub(super) notices: Notices,
    /// What happened to every request submitted so far.
    pub(super) records: HashMap<RequestId, RequestRecord>,
    pub(super) wake_at: Option<Timestamp>,
    groups: BTreeMap<GroupKey, usize>,
    /// Formed batches by their id (their first member's).
    batches: HashMap<RequestId, Batch>,
    /// The batch each member of a formed batch belongs to.
    member_of: HashMap<RequestId, RequestId>,
    lease_config: LeaseConfig,
    /// Running requests with a lease, by its end.
    leases: Leases,
    /// Ended requests in the order they ended: beyond `keep_ended`, the oldest records
    /// are forgotten after each command.
    ended: VecDeque<RequestId>,
    keep_ended: usize,
}

/// How a running request ended.
enum Ending {
    Completed {
        actual: Option<Money>,
        used: Option<Usage>,
    },
    Cancelled,
    /// Its lease ran out: settled at what it used, or its reservation released.
    Expired {
        lease_secs: f64,
        settle: bool,
    },
}

impl Driver {
    pub(super) fn new(clock: VirtualClock, fleet: Fleet, config: &LiveConfig) -> Driver {
        Driver {
            applied_at: clock.now(),
            clock,
            fleet,
            next_request: 0,
            waiting: HashMap::new(),
            notices: Notices::default(),
            records: HashMap::new(),
            wake_at: None,
            groups: BTreeMap::new(),
            batches: HashMap::new(),
            member_of: HashMap::new(),
            lease_config: config.leases.clone(),
            leases: Leases::default(),
            ended: VecDeque::new(),
            keep_ended: config.storage.keep_ended_requests,
        }
    }

    /// A driver a snapshot saved, around a restored fleet.
    pub(super) fn restore(
        clock: VirtualClock,
        fleet: Fleet,
        config: &LiveConfig,
        image: DriverImage,
    ) -> Driver {
        let mut leases = Leases::default();
        for record in &image.records {
            if let (RequestState::Running, Some(until)) = (record.state, record.lease_until) {
                leases.hold(record.request, until);
            }
        }
        let ended = if image.ended.is_empty() {
            // An image from before the order was kept: by when they ended.
            let mut ended: Vec<_> = image
                .records
                .iter()
                .filter(|r| r.state.is_ended())
                .map(|r| (r.ended_at, r.request))
                .collect();
            ended.sort_unstable();
            ended.into_iter().map(|(_, request)| request).collect()
        } else {
            image.ended.into()
        };
        let member_of = image
            .batches
            .iter()
            .flat_map(|(id, batch)| batch.members.iter().map(move |m| (*m, *id)))
            .collect();
        Driver {
            applied_at: clock.now(),
            clock,
            fleet,
            next_request: image.next_request,
            waiting: HashMap::new(),
            notices: Notices::default(),
            records: image.records.into_iter().map(|r| (r.request, r)).collect(),
            wake_at: image.wake_at,
            groups: image.groups.into_iter().collect(),
            batches: image.batches.into_iter().collect(),
            member_of,
            lease_config: config.leases.clone(),
            leases,
            ended,
            keep_ended: config.storage.keep_ended_requests,
        }
    }

    /// When the engine must wake next by itself: queued work may start, or a lease ends.
    pub(super) fn next_wake(&self) -> Option<Timestamp> {
        match (self.wake_at, self.leases.next_end()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires the running requests whose lease has ended by now.
    async fn expire_leases(&mut self) -> Result<Dispatches, LiveError> {
        let now = self.clock.now();
        let settle = self.lease_config.on_expiry == LeaseExpiry::Settle;
        let mut all = Dispatches::default();
        for request in self.leases.take_ended(now) {
            let Some(record) = self.records.get(&request) else {
                continue;
            };
            let (client, lease_secs) = (record.client.clone(), record.lease_secs.unwrap_or(0.0));
            let held_secs = record
                .started_at
                .map_or(0.0, |at| now.since(at).as_secs_f64());
            if self.member_of.contains_key(&request) {
                // A member of a batch: the scheduler knows only the batch, which goes on
                // while other members run; its share is settled with the batch.
                self.fleet.ledger().do_send(Publish(Event {
                    at: now,
                    kind: EventKind::RequestExpired {
                        request,
                        client,
                        lease_secs,
                        held_secs,
                        settled: settle,
                        charged: Money::ZERO,
                    },
                }));
            }
            let ending = Ending::Expired { lease_secs, settle };
            let out = self.end_running(request, ending).await?;
            all.merge(out);
        }
        Ok(all)
    }

    /// A heartbeat: the lease of a running request starts afresh.
    fn renew(&mut self, request: RequestId, lease_secs: Option<f64>) -> Result<(), LiveError> {
        if let Some(secs) = lease_secs {
            ensure_lease("lease_secs", secs)?;
        }
        let now = self.clock.now();
        let record = self
            .records
            .get_mut(&request)
            .filter(|r| r.state == RequestState::Running)
            .ok_or_else(|| LiveError::Unknown {
                kind: "running request",
                id: request.to_string(),
            })?;
        let Some(secs) = lease_secs.or(record.lease_secs) else {
            return Err(ValidationError::new(
                "lease_secs",
                "none",
                format!("a lease length: request {request} was started without a lease"),
            )
            .into());
        };
        if let Some(until) = record.lease_until {
            self.leases.drop_lease(request, until);
        }
        let until = now.saturating_add(secs_duration(secs));
        record.lease_secs = Some(secs);
        record.lease_until = Some(until);
        self.leases.hold(request, until);
        Ok(())
    }

    /// What the driver follows, for a snapshot (the fleet's actors save their own).
    pub(super) fn image(&self) -> DriverImage {
        let mut records: Vec<_> = self.records.values().cloned().collect();
        records.sort_unstable_by_key(|r| r.request);
        let mut batches: Vec<_> = self
            .batches
            .iter()
            .map(|(id, batch)| (*id, batch.clone()))
            .collect();
        batches.sort_unstable_by_key(|(id, _)| *id);
        DriverImage {
            next_request: self.next_request,
            records,
            ended: self.ended.iter().copied().collect(),
            wake_at: self.wake_at,
            groups: self.groups.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            batches,
        }
    }

    pub(super) fn state(&self, request: RequestId) -> Option<RequestState> {
        self.records.get(&request).map(|r| r.state)
    }

    /// Checks a request's references before anything is applied.
    pub(super) fn check_request(&self, request: &Request) -> Result<(), LiveError> {
        self.fleet.client(&request.client)?;
        for need in request
            .needs
            .iter()
            .chain(request.alternative.iter().flat_map(|a| a.needs.iter()))
        {
            self.fleet.pool(&need.pool)?;
        }
        if request.needs.is_empty() {
            return Err(ValidationError::new("needs", "[]", "at least one pool need").into());
        }
        Ok(())
    }

    fn variant(&self, needs: &[Need], estimate: Option<Money>) -> Result<JobVariant, LiveError> {
        Ok(JobVariant {
            needs: needs
                .iter()
                .map(|n| Ok((self.fleet.pool(&n.pool)?, n.amount)))
                .collect::<Result<_, LiveError>>()?,
            estimate,
        })
    }

    /// The requests a started or refused job stands for: a batch's members, or itself.
    fn members(&self, job: RequestId) -> Vec<RequestId> {
        self.batches
            .get(&job)
            .map_or_else(|| vec![job], |batch| batch.members.clone())
    }

    /// Follows what a command set going, and holds the outcomes for waiting submitters.
    fn settle_dispatches(&mut self, out: Dispatches) {
        for formed in out.batched {
            for member in &formed.members {
                self.member_of.insert(*member, formed.id);
            }
            self.batches.insert(
                formed.id,
                Batch {
                    open: formed.members.len(),
                    members: formed.members,
                    actual: None,
                    completed: false,
                    used: None,
                    unreported: false,
                },
            );
        }
        let now = self.clock.now();
        for started in out.started {
            let batch = self.batches.contains_key(&started.request);
            for member in self.members(started.request) {
                if let Some(record) = self.records.get_mut(&member) {
                    record.state = RequestState::Running;
                    record.started_at = Some(now);
                    record.waited_secs = Some(now.since(record.queued_at).as_secs_f64());
                    record.downgraded = started.downgraded;
                    record.batch = batch.then_some(started.request);
                    if let Some(secs) = record.lease_secs {
                        let until = now.saturating_add(secs_duration(secs));
                        record.lease_until = Some(until);
                        self.leases.hold(member, until);
                    }
                }
                if let Some(tell) = self.waiting.remove(&member) {
                    let outcome = SubmitOutcome::Started {
                        request: member,
                        downgraded: started.downgraded,
                        batch: batch.then_some(started.request),
                    };
                    self.notices.hold(tell, outcome);
                }
            }
        }
        for (job, refusal) in out.refused {
            self.refused(job, &refusal);
        }
        for settled in out.finished {
            if let Some(record) = self.records.get_mut(&settled.request)
                && record.batch.is_none()
            {
                record.charged = Some(settled.charged);
                record.efficiency = Some(settled.efficiency);
            }
        }
        self.wake_at = match (self.wake_at.filter(|w| *w > now), out.wake_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn refused(&mut self, job: RequestId, refusal: &Refusal) {
        let members = self.members(job);
        if let Some(batch) = self.batches.remove(&job) {
            for member in &batch.members {
                self.member_of.remove(member);
            }
        }
        let now = self.clock.now();
        for request in members {
            if let Some(record) = self.records.get_mut(&request)
                && record.state == RequestState::Queued
            {
                record.state = RequestState::Refused;
                self.ended.push_back(request);
                record.ended_at = Some(now);
                record.waited_secs = Some(now.since(record.queued_at).as_secs_f64());
                record.reason = Some(refusal.reason.as_str().to_owned());
                record.message = Some(refusal.message.clone());
            }
            if let Some(tell) = self.waiting.remove(&request) {
                let outcome = SubmitOutcome::Refused {
                    request,
                    refusal: refusal.clone(),
                };
                self.notices.hold(tell, outcome);
            }
        }
    }

    /// The batch group a request joins, registered the first time it is named.
    async fn group(&mut self, request: &Request, client: usize) -> Result<Batching, LiveError> {
        let Some(group) = &request.batch else {
            return Ok(Batching::Alone);
        };
        let key = (
            client,
            request.class.index(),
            group.name.clone(),
            group.max_size,
            group.max_wait_secs.to_bits(),
        );
        if let Some(index) = self.groups.get(&key) {
            return Ok(Batching::Joins(*index));
        }
        let rule = BatchRule::new(group.max_size, secs(group.max_wait_secs))
            .map_err(|e| e.within("batch"))?;
        let index = self.fleet.add_batch_rule(rule).await?;
        self.groups.insert(key, index);
        Ok(Batching::Joins(index))
    }

    /// A running request is done (`actual` its cost if known) or given up (`cancelled`).
    /// A member of a batch only counts down its batch, which finishes with its last member.
    async fn end_running(
        &mut self,
        request: RequestId,
        ending: Ending,
    ) -> Result<Dispatches, LiveError> {
        let now = self.clock.now();
        let (actual, used) = match &ending {
            Ending::Completed { actual, used } => (*actual, used.clone()),
            Ending::Cancelled | Ending::Expired { .. } => (None, None),
        };
        // An expired request settles as a completion that reported nothing.
        let finishes = matches!(
            ending,
            Ending::Completed { .. } | Ending::Expired { settle: true, .. }
        );
        if let Some(record) = self.records.get_mut(&request) {
            if let Some(until) = record.lease_until.take() {
                self.leases.drop_lease(request, until);
            }
            if !record.state.is_ended() {
                self.ended.push_back(request);
            }
            record.state = match ending {
                Ending::Completed { .. } => RequestState::Finished,
                Ending::Cancelled => RequestState::Cancelled,
                Ending::Expired { .. } => RequestState::Expired,
            };
            record.ended_at = Some(now);
            if record.batch.is_some() {
                // A member's share: what it reported; the batch settles as their sum.
                record.charged = actual;
            }
        }
        let (job, actual, used, completed) = match self.member_of.get(&request).copied() {
            Some(id) => {
                let batch = self
                    .batches
                    .get_mut(&id)
                    .expect("a member's batch is known");
                batch.open -= 1;
                if finishes {
                    batch.completed = true;
                    if let Some(cost) = actual {
                        batch.actual = Some(batch.actual.unwrap_or_default() + cost);
                    }
                    match &used {
                        Some(used) => batch.used.get_or_insert_with(Usage::default).add(used),
                        None => batch.unreported = true,
                    }
                }
                if batch.open > 0 {
                    return Ok(Dispatches::default());
                }
                let batch = self.batches.remove(&id).expect("just seen");
                for member in &batch.members {
                    self.member_of.remove(member);
                }
                let used = batch.used.filter(|_| !batch.unreported);
                (id, batch.actual, used, batch.completed)
            }
            None => (request, actual, used, finishes),
        };
        // The scheduler announces how a lone request ended; a batch's end is the batch's
        // own event, so the driver announces a member's expiry itself (see expire_leases).
        let expired_lease = match ending {
            Ending::Expired { lease_secs, .. } if job == request => Some(lease_secs),
            _ => None,
        };
        if completed {
            Ok(self
                .fleet
                .finish(vec![Completion {
                    request: job,
                    actual,
                    used,
                    expired_lease,
                }])
                .await?)
        } else {
            let cancel = CancelRequest {
                request: job,
                expired_lease,
            };
            Ok(self.fleet.scheduler().send(cancel).await?.1)
        }
    }

    /// Cancels a queued or running request, and follows what that set going.
    async fn cancel(&mut self, request: RequestId) -> Result<(), LiveError> {
        if self.state(request) == Some(RequestState::Running) {
            let out = self.end_running(request, Ending::Cancelled).await?;
            self.settle_dispatches(out);
            return Ok(());
        }
        // Queued alone, held for a batch, or a member of a formed batch that has not
        // started (which cancels the batch).
        let job = self.member_of.get(&request).copied().unwrap_or(request);
        let (found, out) = self
            .fleet
            .scheduler()
            .send(CancelRequest {
                request: job,
                expired_lease: None,
            })
            .await?;
        if !found {
            return Err(LiveError::Unknown {
                kind: "request",
                id: request.to_string(),
            });
        }
        self.settle_dispatches(out);
        if let Some(record) = self.records.get_mut(&request) {
            if !record.state.is_ended() {
                self.ended.push_back(request);
            }
            record.state = RequestState::Cancelled;
            record.reason = None;
            record.message = None;
        }
        Ok(())
    }

    /// Removes a client. Without `drain` it is refused, changing nothing, while the client
    /// has work queued or running, reservations open or bookings to come; with `drain`
    /// those are cancelled, released and cancelled first (credit returns to its account,
    /// slots to the other clients), then it is removed.
    async fn remove_client(&mut self, client: &ClientId, drain: bool) -> Result<(), LiveError> {
        self.fleet.client(client)?;
        // Queued ones first, so that a slot freed by a running one is not given to them.
        let mut requests: Vec<(bool, RequestId)> = self
            .records
            .values()
            .filter(|r| &r.client == client)
            .filter(|r| matches!(r.state, RequestState::Queued | RequestState::Running))
            .map(|r| (r.state == RequestState::Running, r.request))
            .collect();
        requests.sort();
        let requests: Vec<RequestId> = requests.into_iter().map(|(_, id)| id).collect();
        let reservations = self
            .fleet
            .scheduler()
            .send(ActiveReservations(client.clone()))
            .await?;
        let bookings = self
            .fleet
            .bookings()
            .send(PendingBookings(client.clone()))
            .await?;
        if !drain {
            let mut busy = Vec::new();
            let list = |ids: Vec<String>| ids.join(", ");
            if !requests.is_empty() {
                let ids = requests.iter().map(|r| r.to_string()).collect();
                busy.push(format!("queued or running requests {}", list(ids)));
            }
            if !reservations.is_empty() {
                let ids = reservations.iter().map(|r| r.to_string()).collect();
                busy.push(format!("active reservations {}", list(ids)));
            }
            if !bookings.is_empty() {
                let ids = bookings.iter().map(|b| b.to_string()).collect();
                busy.push(format!("confirmed bookings to come {}", list(ids)));
            }
            if !busy.is_empty() {
                return Err(LiveError::InUse(format!(
                    "client {client} still has {}: finish or cancel them, or remove it with \
                     drain to cancel them all",
                    busy.join("; ")
                )));
            }
        }
        for request in requests {
            // A member of a batch cancelled with an earlier one is already gone.
            if matches!(
                self.state(request),
                Some(RequestState::Queued | RequestState::Running)
            ) {
                self.cancel(request).await?;
            }
        }
        // What is left are the client's own reservations (the requests' went with them).
        let reservations = self
            .fleet
            .scheduler()
            .send(ActiveReservations(client.clone()))
            .await?;
        for reservation in reservations {
            let op = CreditOp::Release { reservation };
            self.fleet.scheduler().send(op).await??;
        }
        if !bookings.is_empty() {
            let cancel = CancelClientBookings(client.clone());
            self.fleet.bookings().send(cancel).await?;
        }
        self.fleet.remove_client(client).await?;
        Ok(())
    }

    /// Applies one command through the fleet. An error means nothing changed.
    pub(super) async fn apply(&mut self, command: &Command) -> Result<Reply, LiveError> {
        let reply = self.apply_command(command).await;
        self.forget_ended();
        reply
    }

    /// Forgets the oldest ended requests beyond `keep_ended`.
    fn forget_ended(&mut self) {
        while self.ended.len() > self.keep_ended {
            let Some(request) = self.ended.pop_front() else {
                break;
            };
            if self
                .records
                .get(&request)
                .is_some_and(|r| r.state.is_ended())
            {
                self.records.remove(&request);
            }
        }
    }

    async fn apply_command(&mut self, command: &Command) -> Result<Reply, LiveError> {
        let out = match command {
            Command::AddPool { pool } => {
                self.fleet.add_pool(pool.clone()).await?;
                return Ok(Reply::Done);
            }
            Command::ResizePool { pool, size } => {
                self.fleet.resize_pool(pool, *size, "operator").await?
            }
            Command::SetPoolDown { pool, down } => self.fleet.set_pool_down(pool, *down).await?,
            Command::SetPoolPrice { pool, price } => {
                self.fleet.set_pool_price(pool, *price).await?
            }
            Command::AddClient { client } => {
                self.fleet.add_client(client.clone(), true).await?;
                return Ok(Reply::Done);
            }
            Command::SetClientActive { client, active } => {
                let withdrawn = self.fleet.set_client_active(client, *active).await?;
                let refusal = Refusal::new(RefusalReason::Withdrawn, "client left");
                for job in withdrawn.0 {
                    self.refused(job, &refusal);
                }
                return Ok(Reply::Done);
            }
            Command::SetQuota { quota } => {
                self.fleet.set_quota(quota.clone()).await?;
                return Ok(Reply::Done);
            }
            Command::SetQuotaUsage { quota, used } => {
                let op = QuotaOp::SetUsage {
                    quota: quota.clone(),
                    used: *used,
                };
                self.fleet.scheduler().send(op).await??;
                return Ok(Reply::Done);
            }
            Command::ResetQuota { quota } => {
                let op = QuotaOp::Reset {
                    quota: quota.clone(),
                };
                self.fleet.scheduler().send(op).await??;
                return Ok(Reply::Done);
            }
            Command::Submit { request } => {
                self.check_request(request)?;
                let client = self.fleet.client(&request.client)?;
                let primary = self.variant(&request.needs, request.estimated_cost)?;
                let alternative = match &request.alternative {
                    Some(alt) => Some(Box::new(self.variant(&alt.needs, alt.estimated_cost)?)),
                    None => None,
                };
                let batching = self.group(request, client).await?;
                let job = Job {
                    id: request.id,
                    client,
                    class: request.class,
                    urgency: request.urgency,
                    primary,
                    alternative,
                    batching,
                };
                self.next_request = self.next_request.max(request.id.0 + 1);
                let record = RequestRecord::queued(
                    request,
                    self.clock.now(),
                    self.lease_config.default_secs,
                );
                self.records.insert(request.id, record);
                let out = self.fleet.submit(vec![job]).await?;
                self.settle_dispatches(out);
                return Ok(Reply::Submitted(request.id));
            }
            Command::Complete {
                request,
                actual,
                used,
            } => {
                if self.state(*request) != Some(RequestState::Running) {
                    return Err(LiveError::Unknown {
                        kind: "running request",
                        id: request.to_string(),
                    });
                }
                if let Some(cost) = actual.filter(|c| c.is_negative()) {
                    return Err(ValidationError::new("actual", cost, "zero or more").into());
                }
                for pool in used.iter().flat_map(|u| u.pools.keys()) {
                    if self.fleet.pool(pool).is_err() {
                        let expected = "the id of a pool the request holds";
                        return Err(ValidationError::new("used.pools", pool, expected).into());
                    }
                }
                let ending = Ending::Completed {
                    actual: *actual,
                    used: used.clone(),
                };
                self.end_running(*request, ending).await?
            }
            Command::Cancel { request } => {
                self.cancel(*request).await?;
                return Ok(Reply::Done);
            }
            Command::Reserve { client, estimate } => {
                self.fleet.client(client)?;
                let op = CreditOp::Reserve {
                    client: client.clone(),
                    estimate: *estimate,
                };
                return Ok(Reply::Credit(self.fleet.scheduler().send(op).await??));
            }
            Command::Track { reservation, used } => {
                let op = CreditOp::Track {
                    reservation: *reservation,
                    used: *used,
                };
                return Ok(Reply::Credit(self.fleet.scheduler().send(op).await??));
            }
            Command::Settle {
                reservation,
                actual,
            } => {
                let op = CreditOp::Settle {
                    reservation: *reservation,
                    actual: *actual,
                };
                return Ok(Reply::Credit(self.fleet.scheduler().send(op).await??));
            }
            Command::Release { reservation } => {
                let op = CreditOp::Release {
                    reservation: *reservation,
                };
                return Ok(Reply::Credit(self.fleet.scheduler().send(op).await??));
            }
            Command::RecordCost {
                client,
                cost_type,
                category,
                amount,
                metadata,
                currency,
                description,
            } => {
                self.fleet.client(client)?;
                let charge = Charge {
                    client: client.clone(),
                    cost_type: *cost_type,
                    category: category.clone(),
                    amount: *amount,
                    at: self.clock.now(),
                    metadata: metadata.clone(),
                    currency: currency.clone(),
                    description: description.clone(),
                };
                return Ok(Reply::Cost(self.fleet.ledger().send(charge).await??));
            }
            Command::RegisterResource { resource } => {
                self.fleet.add_resource(resource.clone()).await?;
                return Ok(Reply::Done);
            }
            Command::Book {
                resource,
                client,
                start,
                end,
                purpose,
            } => {
                self.fleet.client(client)?;
                let book = Book {
                    resource: resource.clone(),
                    client: client.clone(),
                    start: *start,
                    end: *end,
                    purpose: purpose.clone(),
                };
                return Ok(Reply::Booking(self.fleet.bookings().send(book).await??));
            }
            Command::CancelBooking { id } => {
                let booking = self.fleet.bookings().send(CancelBooking(*id)).await??;
                return Ok(Reply::Booking(booking));
            }
            Command::CompleteBooking { id } => {
                let booking = self.fleet.bookings().send(CompleteBooking(*id)).await??;
                return Ok(Reply::Booking(booking));
            }
            Command::Renew {
                request,
                lease_secs,
            } => {
                self.renew(*request, *lease_secs)?;
                return Ok(Reply::Done);
            }
            Command::TopUp { client, amount } => {
                self.fleet.client(client)?;
                let op = CreditOp::TopUp {
                    client: client.clone(),
                    amount: *amount,
                };
                return Ok(Reply::Credit(self.fleet.scheduler().send(op).await??));
            }
            Command::Transfer { from, to, amount } => {
                self.fleet.client(from)?;
                self.fleet.client(to)?;
                let op = CreditOp::Transfer {
                    from: from.clone(),
                    to: to.clone(),
                    amount: *amount,
                };
                return Ok(Reply::Credit(self.fleet.scheduler().send(op).await??));
            }
            Command::Consume {
                client,
                usage,
                cost,
                force,
            } => {
                self.fleet.client(client)?;
                let consume = Consume {
                    client: client.clone(),
                    usage: usage.iter().map(|(m, n)| (Metric::parse(m), *n)).collect(),
                    cost: *cost,
                    force: *force,
                };
                let consumed = self.fleet.scheduler().send(consume).await?;
                return Ok(Reply::Consumed(consumed?));
            }
            Command::RemoveQuota { quota } => {
                self.fleet.remove_quota(quota).await?;
                return Ok(Reply::Done);
            }
            Command::RemoveResource { resource } => {
                self.fleet.remove_resource(resource).await?;
                return Ok(Reply::Done);
            }
            Command::RemoveClient { client, drain } => {
                self.remove_client(client, *drain).await?;
                return Ok(Reply::Done);
            }
            Command::Wake => {
                let mut out = self.fleet.wake().await?;
                out.merge(self.expire_leases().await?);
                out
            }
            Command::Tick => {
                let leases = self.leases.soonest(LEASES_LISTED);
                let leases = leases
                    .filter_map(|(request, expires_at)| {
                        let client = self.records.get(&request)?.client.clone();
                        Some(LeaseObservation {
                            request,
                            client,
                            expires_at,
                        })
                    })
                    .collect();
                self.fleet.tick(leases).await?
            }
        };
        self.settle_dispatches(out);
        Ok(Reply::Done)
    }
}

fn secs_duration(secs: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(secs).unwrap_or(std::time::Duration::MAX)
}
