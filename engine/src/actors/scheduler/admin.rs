//! Messages of the live engine to the scheduler: registering pools, clients and quotas at
//! run time, quota checks and corrections, budgets reserved outside the queue, cancelling.
//! They live beside the scheduler because they change the state it owns.

use actix::prelude::*;

use super::{ClientSetup, ClientSlot, Dispatches, SchedulerActor, SetClientActive, Withdrawn};
use crate::model::EventKind;
use crate::model::{
    ClientId, Metric, Money, Pool, Quota, QuotaId, RequestClass, RequestId, ReservationId,
    ValidationError,
};
use crate::policy::admission::{Refusal, RefusalReason};
use crate::policy::priority;
use crate::policy::reservation::{
    AccountBalance, ReservationAlert, ReservationGrant, ReserveError, Settlement,
};

/// Registers a pool; answers its index.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, ValidationError>")]
pub struct AddPool(pub Pool);

/// Registers a client with its opening credit; answers its index.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, ValidationError>")]
pub struct AddClient {
    pub setup: ClientSetup,
    pub credits: Money,
}

/// Adds a quota, or replaces the settings of the quota with its id (usage kept).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), ValidationError>")]
pub struct SetQuota(pub Quota);

/// Corrections to a quota's usage.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ValidationError>")]
pub enum QuotaOp {
    SetUsage { quota: QuotaId, used: u64 },
    Reset { quota: QuotaId },
}

/// Whether `client` may use `amount` of `metric` now (counts nothing).
#[derive(Debug, Clone)]
pub struct CheckQuota {
    pub client: ClientId,
    pub metric: Metric,
    pub amount: u64,
}

/// Several quota checks in one message, answered in order (`None` for an unknown client):
/// one mailbox round trip for the lot.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<Option<QuotaAnswer>>")]
pub struct CheckQuotas(pub Vec<CheckQuota>);

/// The seed's answer shape.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QuotaAnswer {
    pub allowed: bool,
    pub usage_ratio: f64,
    pub warning: Option<String>,
    pub reason: Option<String>,
}

/// A budget operation outside the queue (an agent reserving for its own work).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<CreditReply, ReserveError>")]
pub enum CreditOp {
    Reserve {
        client: ClientId,
        estimate: Option<Money>,
    },
    Track {
        reservation: ReservationId,
        used: Money,
    },
    Settle {
        reservation: ReservationId,
        actual: Money,
    },
    Release {
        reservation: ReservationId,
    },
    /// An admin pays credit into a client's account.
    TopUp {
        client: ClientId,
        amount: Money,
    },
    /// Available credit moves from one client to another.
    Transfer {
        from: ClientId,
        to: ClientId,
        amount: Money,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreditReply {
    Reserved(ReservationGrant),
    Tracked(Option<ReservationAlert>),
    Settled(Settlement),
    Released,
    /// The client's balances after a top-up.
    ToppedUp(AccountBalance),
    /// Both sides' balances after a transfer.
    Transferred {
        from: AccountBalance,
        to: AccountBalance,
    },
}

/// Cancels a queued or running request; answers what it set going and whether the request
/// was found.
#[derive(Debug, Message)]
#[rtype(result = "(bool, Dispatches)")]
pub struct CancelRequest {
    pub request: RequestId,
    /// The lease (in seconds) a running request outlived, if it expired and its
    /// reservation is released: it is announced as `request.expired`, not cancelled.
    pub expired_lease: Option<f64>,
}

/// A client's credit balances.
#[derive(Debug, Message)]
#[rtype(result = "Option<AccountBalance>")]
pub struct GetAccount(pub ClientId);

impl Handler<GetAccount> for SchedulerActor {
    type Result = Option<AccountBalance>;

    fn handle(&mut self, GetAccount(client): GetAccount, _: &mut Context<Self>) -> Self::Result {
        self.gate.credits().account(&client)
    }
}

/// Queue depth per class, running count, and the position of one request if asked.
#[derive(Debug, Message)]
#[rtype(result = "QueueStatusReply")]
pub struct QueueStatus(pub Option<RequestId>);

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueueStatusReply {
    pub queued: [usize; 5],
    pub running: usize,
    /// Requests ahead of the one asked about, if it is queued.
    pub position: Option<usize>,
    pub is_running: bool,
}

impl Handler<AddPool> for SchedulerActor {
    type Result = Result<usize, ValidationError>;

    fn handle(&mut self, AddPool(pool): AddPool, _: &mut Context<Self>) -> Self::Result {
        if self.gate.pool_index(&pool.id).is_some() {
            return Err(ValidationError::new(
                "pool.id",
                &pool.id,
                "an id not registered yet",
            ));
        }
        let index = self.gate.add_pool(pool, self.clock.now())?;
        self.queued_demand.push(0.0);
        Ok(index)
    }
}

impl Handler<AddClient> for SchedulerActor {
    type Result = Result<usize, ValidationError>;

    fn handle(&mut self, msg: AddClient, _: &mut Context<Self>) -> Self::Result {
        let id = msg.setup.id.clone();
        self.gate
            .credits_mut()
            .open_account(id.clone(), msg.credits)
            .map_err(|e| ValidationError::new("client.id", &id, e.to_string()))?;
        self.clients.push(ClientSlot {
            setup: msg.setup,
            running: 0,
        });
        Ok(self.clients.len() - 1)
    }
}

impl Handler<SetQuota> for SchedulerActor {
    type Result = Result<(), ValidationError>;

    fn handle(&mut self, SetQuota(quota): SetQuota, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let id = quota.id.clone();
        let quotas = self.gate.quotas_mut();
        if quotas.get(&quota.id).is_some() {
            quotas.update(quota)?;
        } else {
            quotas.add(quota, now)?;
        }
        self.publish(now, crate::model::EventKind::QuotaUpdated { id });
        Ok(())
    }
}

impl Handler<QuotaOp> for SchedulerActor {
    type Result = Result<(), ValidationError>;

    fn handle(&mut self, op: QuotaOp, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let (QuotaOp::SetUsage { quota, .. } | QuotaOp::Reset { quota }) = &op;
        let Some(state) = self.gate.quotas_mut().get_mut(quota) else {
            return Err(ValidationError::new(
                "quota",
                quota,
                "the id of a registered quota",
            ));
        };
        let notice = match op {
            QuotaOp::SetUsage { used, .. } => state.set_usage(used, now),
            QuotaOp::Reset { .. } => {
                state.reset(now);
                None
            }
        };
        let scope_client = match &state.quota().scope {
            crate::model::QuotaScope::Client(c) => Some(c.clone()),
            crate::model::QuotaScope::Global => None,
        };
        if let (Some(notice), Some(client)) = (notice, scope_client) {
            self.publish(now, notice.to_event(&client));
        }
        Ok(())
    }
}

impl Handler<CheckQuotas> for SchedulerActor {
    type Result = MessageResult<CheckQuotas>;

    fn handle(&mut self, CheckQuotas(checks): CheckQuotas, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let answers = checks
            .iter()
            .map(|query| {
                self.gate.credits().account(&query.client)?;
                let check =
                    self.gate
                        .quotas_mut()
                        .check(&query.client, &query.metric, query.amount, now);
                Some(QuotaAnswer {
                    allowed: check.allowed,
                    usage_ratio: check.usage_ratio,
                    warning: (!check.warnings.is_empty()).then(|| check.warnings.join("; ")),
                    reason: check.refusal.map(|r| r.to_string()),
                })
            })
            .collect();
        MessageResult(answers)
    }
}

impl Handler<CreditOp> for SchedulerActor {
    type Result = Result<CreditReply, ReserveError>;

    fn handle(&mut self, op: CreditOp, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let credits = self.gate.credits_mut();
        match op {
            CreditOp::Reserve { client, estimate } => {
                let grant = credits.reserve(&client, None, estimate, now)?;
                self.publish(
                    now,
                    crate::model::EventKind::ResourceReserved {
                        reservation: grant.id,
                        client,
                        amount: grant.amount,
                    },
                );
                Ok(CreditReply::Reserved(grant))
            }
            CreditOp::Track { reservation, used } => {
                let alert = credits.track(reservation, used)?;
                if let (Some(alert), Some(held)) = (alert, credits.get(reservation)) {
                    let event = alert.event(reservation, &held.client, used, held.reserved);
                    self.publish(now, event);
                }
                Ok(CreditReply::Tracked(alert))
            }
            CreditOp::Settle {
                reservation,
                actual,
            } => {
                let settlement = credits.settle(reservation, actual, now)?;
                if let Some(held) = credits.get(reservation) {
                    self.spent += settlement.charged;
                    self.publish(
                        now,
                        crate::model::EventKind::ResourceCompleted {
                            reservation,
                            client: held.client,
                            charged: settlement.charged,
                            returned: settlement.returned,
                        },
                    );
                }
                Ok(CreditReply::Settled(settlement))
            }
            CreditOp::Release { reservation } => {
                credits.release(reservation, now)?;
                Ok(CreditReply::Released)
            }
            CreditOp::TopUp { client, amount } => {
                if amount <= Money::ZERO {
                    return Err(
                        ValidationError::new("amount", amount, "an amount above zero").into(),
                    );
                }
                credits.deposit(&client, amount)?;
                let balance = credits.account(&client).unwrap_or_default();
                self.publish(
                    now,
                    EventKind::CreditToppedUp {
                        client,
                        amount,
                        available: balance.available,
                    },
                );
                Ok(CreditReply::ToppedUp(balance))
            }
            CreditOp::Transfer { from, to, amount } => {
                credits.transfer(&from, &to, amount)?;
                let reply = CreditReply::Transferred {
                    from: credits.account(&from).unwrap_or_default(),
                    to: credits.account(&to).unwrap_or_default(),
                };
                self.publish(
                    now,
                    EventKind::CreditTransferred {
                        client: from,
                        to,
                        amount,
                    },
                );
                Ok(reply)
            }
        }
    }
}

impl Handler<CancelRequest> for SchedulerActor {
    type Result = MessageResult<CancelRequest>;

    fn handle(
        &mut self,
        CancelRequest {
            request,
            expired_lease,
        }: CancelRequest,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let now = self.clock.now();
        let mut out = Dispatches::default();
        if let Some(ticket) = self.queues.find(|job| job.id == request)
            && let Some(job) = self.queues.remove(ticket)
        {
            self.dequeued(&job);
            let refusal = Refusal::new(RefusalReason::Withdrawn, "cancelled");
            self.turn_away(&job, &refusal, false, true);
            out.refused.push((request, refusal));
            return MessageResult((true, out));
        }
        // Held for a batch that has not formed.
        if let Some(member) = self.batcher.withdraw(|job| job.id == request).pop() {
            let refusal = Refusal::new(RefusalReason::Withdrawn, "cancelled");
            self.turn_away(&member.item, &refusal, false, true);
            out.refused.push((request, refusal));
            return MessageResult((true, out));
        }
        if let Some(run) = self.running.remove(&request) {
            self.gate.abandon(&run.variant.needs, &run.admitted, now);
            let slot = &mut self.clients[run.client];
            slot.running = slot.running.saturating_sub(1);
            if self.request_events {
                let client = slot.setup.id.clone();
                let kind = match expired_lease {
                    Some(lease_secs) => EventKind::RequestExpired {
                        request,
                        client,
                        lease_secs,
                        held_secs: now.since(run.started).as_secs_f64(),
                        settled: false,
                        charged: Money::ZERO,
                    },
                    None => EventKind::RequestCancelled { request, client },
                };
                self.publish(now, kind);
            }
            self.dispatch(now, &mut out);
            return MessageResult((true, out));
        }
        MessageResult((false, out))
    }
}

impl Handler<QueueStatus> for SchedulerActor {
    type Result = MessageResult<QueueStatus>;

    fn handle(&mut self, QueueStatus(request): QueueStatus, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let position = request
            .and_then(|id| self.queues.find(|job| job.id == id))
            .and_then(|ticket| self.queues.position(ticket, now));
        MessageResult(QueueStatusReply {
            queued: RequestClass::ALL.map(|c| self.queues.class_len(c)),
            running: self.running.len(),
            position,
            is_running: request.is_some_and(|id| self.running.contains_key(&id)),
        })
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
