//! The ledger actor: the cost ledger and the event bus.

use actix::prelude::*;
use std::collections::BTreeMap;

use crate::model::{ClientId, CostType, Event, Money, Timestamp};
use crate::policy::ledger::{CostFilter, CostLedger, CostSummary, NewCost};

/// Records a cost (fire-and-forget).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Charge {
    pub client: ClientId,
    pub cost_type: CostType,
    pub category: String,
    pub amount: Money,
    pub at: Timestamp,
}

/// Puts an event on the bus (fire-and-forget).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Publish(pub Event);

/// Asks for the cost summary and the events seen.
#[derive(Debug, Message)]
#[rtype(result = "LedgerView")]
pub struct GetLedger {
    /// At most this many events are returned (the counts cover all of them).
    pub event_limit: usize,
}

#[derive(Debug, Clone)]
pub struct LedgerView {
    pub costs: CostSummary,
    pub event_counts: BTreeMap<&'static str, u64>,
    pub events: Vec<Event>,
    /// Costs the ledger refused to record (should be none), with why.
    pub rejected: Vec<String>,
}

#[derive(Default)]
pub struct LedgerActor {
    ledger: CostLedger,
    event_counts: BTreeMap<&'static str, u64>,
    events: Vec<Event>,
    event_limit: usize,
    rejected: Vec<String>,
}

impl LedgerActor {
    /// Keeps at most `event_limit` events in memory (all are counted).
    pub fn new(event_limit: usize) -> Self {
        LedgerActor {
            event_limit,
            ..Default::default()
        }
    }
}

impl Actor for LedgerActor {
    type Context = Context<Self>;
}

impl Handler<Charge> for LedgerActor {
    type Result = ();

    fn handle(&mut self, charge: Charge, _: &mut Context<Self>) {
        let cost = NewCost::usd(
            charge.client,
            charge.cost_type,
            charge.category,
            charge.amount,
            charge.at,
        );
        if let Err(e) = self.ledger.record(cost) {
            self.rejected.push(e.to_string());
        }
    }
}

impl Handler<Publish> for LedgerActor {
    type Result = ();

    fn handle(&mut self, Publish(event): Publish, _: &mut Context<Self>) {
        *self.event_counts.entry(event.kind.name()).or_default() += 1;
        if self.events.len() < self.event_limit {
            self.events.push(event);
        }
    }
}

impl Handler<GetLedger> for LedgerActor {
    type Result = MessageResult<GetLedger>;

    fn handle(&mut self, request: GetLedger, _: &mut Context<Self>) -> Self::Result {
        MessageResult(LedgerView {
            costs: self.ledger.summary(&CostFilter::default(), 0),
            event_counts: self.event_counts.clone(),
            events: self
                .events
                .iter()
                .take(request.event_limit)
                .cloned()
                .collect(),
            rejected: self.rejected.clone(),
        })
    }
}
