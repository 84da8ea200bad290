//! Messages of the live engine that count usage outside the queue and take things off
//! the scheduler's books: direct consumption, quota standings, removal of quotas and the
//! closing of a removed client's account.

use actix::prelude::*;

use super::SchedulerActor;
use crate::model::{ClientId, EventKind, Metric, Money, Quota, QuotaId, QuotaScope, Timestamp};
use crate::policy::reservation::{DirectCharge, ReserveError};

/// Counts usage of work that did not go through the queue: every applicable quota and,
/// with a `cost`, the client's credit, all or nothing. A hard quota the usage would pass
/// refuses it unless `force` (the work already ran: count it anyway).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Consumed, ConsumeError>")]
pub struct Consume {
    pub client: ClientId,
    /// Amounts by metric (`tokens`, `api_calls`, a pool's name, …).
    pub usage: Vec<(Metric, u64)>,
    pub cost: Option<Money>,
    pub force: bool,
}

/// What a consumption counted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Consumed {
    /// The charge taken from the client's credit (none without a cost).
    pub charge: Option<DirectCharge>,
    /// Warnings of the quotas it brought near or past their limits.
    pub warnings: Vec<String>,
    /// The highest usage ratio among the applicable quotas, after counting.
    pub usage_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConsumeError {
    #[error("{0}")]
    Quota(String),
    #[error(transparent)]
    Credit(#[from] ReserveError),
}

impl Handler<Consume> for SchedulerActor {
    type Result = Result<Consumed, ConsumeError>;

    fn handle(&mut self, msg: Consume, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        if self.gate.credits().account(&msg.client).is_none() {
            return Err(ReserveError::UnknownClient(msg.client).into());
        }
        let mut demands = msg.usage.clone();
        if let Some(cost) = msg.cost {
            demands.push((Metric::Cost, cost.micros().max(0) as u64));
        }
        // Checked first and taken last, so a refusal of either side changes nothing.
        let check = self
            .gate
            .quotas_mut()
            .check_many(&msg.client, &demands, now);
        if let (Some(refusal), false) = (&check.refusal, msg.force) {
            return Err(ConsumeError::Quota(refusal.to_string()));
        }
        let charge = match msg.cost {
            Some(cost) => Some(
                self.gate
                    .credits_mut()
                    .charge(&msg.client, cost, msg.force)?,
            ),
            None => None,
        };
        let notices = self
            .gate
            .quotas_mut()
            .record_many(&msg.client, &demands, now);
        for notice in &notices {
            self.publish(now, notice.to_event(&msg.client));
        }
        if let Some(charge) = charge {
            self.spent += charge.charged;
        }
        for (metric, amount) in &msg.usage {
            self.publish(
                now,
                EventKind::UsageConsumed {
                    client: msg.client.clone(),
                    metric: metric.as_str().to_owned(),
                    amount: *amount,
                    charged: Money::ZERO,
                },
            );
        }
        if let Some(charge) = charge {
            self.publish(
                now,
                EventKind::UsageConsumed {
                    client: msg.client.clone(),
                    metric: Metric::Cost.as_str().to_owned(),
                    amount: charge.charged.micros().max(0) as u64,
                    charged: charge.charged,
                },
            );
        }
        Ok(Consumed {
            charge,
            warnings: check.warnings,
            usage_ratio: check.usage_ratio,
        })
    }
}

/// One quota with its usage in the current period (the seed's `current_usage` and
/// `period_start`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuotaStanding {
    #[serde(flatten)]
    pub quota: Quota,
    pub current_usage: u64,
    /// The limit plus any allowance carried in.
    pub allowance: u64,
    pub usage_ratio: f64,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
}

/// Every quota with its usage now, in id order.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<QuotaStanding>")]
pub struct GetQuotaStandings;

impl Handler<GetQuotaStandings> for SchedulerActor {
    type Result = MessageResult<GetQuotaStandings>;

    fn handle(&mut self, _: GetQuotaStandings, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let standings = self
            .gate
            .quotas()
            .iter()
            .map(|state| {
                // A read changes nothing: a quota untouched since its period ended still
                // holds the old usage until the next journaled check rolls it over, so a
                // copy rolled to now shows the period that check will see.
                let mut state = state.clone();
                state.roll_over(now);
                QuotaStanding {
                    quota: state.quota().clone(),
                    current_usage: state.used(),
                    allowance: state.allowance(),
                    usage_ratio: state.usage_ratio(),
                    period_start: state.period_start(),
                    period_end: state.period_end(),
                }
            })
            .collect();
        MessageResult(standings)
    }
}

/// Removes a quota; answers it, or `None` if no quota has the id.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Quota>")]
pub struct RemoveQuota(pub QuotaId);

impl Handler<RemoveQuota> for SchedulerActor {
    type Result = Option<Quota>;

    fn handle(&mut self, RemoveQuota(id): RemoveQuota, _: &mut Context<Self>) -> Self::Result {
        let removed = self.gate.quotas_mut().remove(&id)?;
        self.publish(self.clock.now(), EventKind::QuotaRemoved { id });
        Some(removed.quota().clone())
    }
}

/// Closes a removed client's account and takes it out of the running: it must hold no
/// active reservation (the live engine drains it first). Its quotas are removed one by one
/// by the fleet, which knows them.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ReserveError>")]
pub struct CloseClient {
    pub client: usize,
}

impl Handler<CloseClient> for SchedulerActor {
    type Result = Result<(), ReserveError>;

    fn handle(&mut self, msg: CloseClient, _: &mut Context<Self>) -> Self::Result {
        let slot = &self.clients[msg.client];
        let id = slot.setup.id.clone();
        if slot.running > 0 {
            return Err(ReserveError::AccountBusy {
                client: id.clone(),
                reserved: self
                    .gate
                    .credits()
                    .account(&id)
                    .unwrap_or_default()
                    .reserved,
                count: slot.running as usize,
            });
        }
        self.gate.credits_mut().close_account(&id)?;
        self.clients[msg.client].setup.active = false;
        self.publish(self.clock.now(), EventKind::ClientRemoved { client: id });
        Ok(())
    }
}

/// Whether a quota names a client (so it goes when the client does).
pub fn belongs_to(quota: &Quota, client: &ClientId) -> bool {
    matches!(&quota.scope, QuotaScope::Client(c) if c == client)
}

/// The active reservations drawn on a client's account, oldest first.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<crate::model::ReservationId>")]
pub struct ActiveReservations(pub ClientId);

impl Handler<ActiveReservations> for SchedulerActor {
    type Result = MessageResult<ActiveReservations>;

    fn handle(
        &mut self,
        ActiveReservations(client): ActiveReservations,
        _: &mut Context<Self>,
    ) -> Self::Result {
        MessageResult(self.gate.credits().active_for(&client))
    }
}

/// A reservation, active or closed, if the id names one.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<crate::model::Reservation>")]
pub struct GetReservation(pub crate::model::ReservationId);

impl Handler<GetReservation> for SchedulerActor {
    type Result = Option<crate::model::Reservation>;

    fn handle(
        &mut self,
        GetReservation(id): GetReservation,
        _: &mut Context<Self>,
    ) -> Self::Result {
        self.gate.credits().get(id)
    }
}
