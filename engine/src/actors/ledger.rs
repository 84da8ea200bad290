//! The ledger actor: the cost ledger and the event bus.

use actix::prelude::*;
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::model::{ClientId, CostEntry, CostType, Event, Metadata, Money, Timestamp};
use crate::policy::ledger::{CostFilter, CostLedger, CostSummary, LedgerError, NewCost, series};

/// Records a cost (the simulator sends it fire-and-forget; the live engine waits for the
/// entry or the reason it was refused).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<CostEntry, LedgerError>")]
pub struct Charge {
    pub client: ClientId,
    pub cost_type: CostType,
    pub category: String,
    pub amount: Money,
    pub at: Timestamp,
    pub metadata: Metadata,
    /// An ISO 4217 code; USD when absent.
    pub currency: Option<String>,
    /// What the charge was for, in words (the seed's `description`).
    pub description: String,
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
    pub filter: CostFilter,
    /// At most this many cost entries are listed in the summary.
    pub item_limit: usize,
}

/// Asks for the totals of matching costs per bucket of time (see [`series`]).
#[derive(Debug, Message)]
#[rtype(result = "Vec<Money>")]
pub struct GetCostSeries {
    pub filter: CostFilter,
    pub from: Timestamp,
    pub to: Timestamp,
    pub bucket_nanos: i64,
}

#[derive(Debug, Clone)]
pub struct LedgerView {
    pub costs: CostSummary,
    pub event_counts: BTreeMap<Cow<'static, str>, u64>,
    pub events: Vec<Event>,
    /// Costs the ledger refused to record (should be none), with why.
    pub rejected: Vec<String>,
}

/// The ledger actor's state, as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LedgerImage {
    pub ledger: CostLedger,
    pub event_counts: BTreeMap<Cow<'static, str>, u64>,
    pub events: Vec<Event>,
    pub rejected: Vec<String>,
}

/// Asks the ledger actor for its state.
#[derive(Debug, Message)]
#[rtype(result = "LedgerImage")]
pub struct SaveLedger;

#[derive(Default)]
pub struct LedgerActor {
    ledger: CostLedger,
    event_counts: BTreeMap<Cow<'static, str>, u64>,
    events: Vec<Event>,
    event_limit: usize,
    rejected: Vec<String>,
    subscribers: Option<tokio::sync::broadcast::Sender<Event>>,
}

impl LedgerActor {
    /// Keeps at most `event_limit` events in memory (all are counted).
    pub fn new(event_limit: usize) -> Self {
        LedgerActor {
            event_limit,
            ..Default::default()
        }
    }

    /// The actor a snapshot saved (events kept up to `event_limit`).
    pub fn restore(event_limit: usize, image: LedgerImage) -> Self {
        LedgerActor {
            ledger: image.ledger,
            event_counts: image.event_counts,
            events: image.events,
            event_limit,
            rejected: image.rejected,
            subscribers: None,
        }
    }

    /// Also forwards every event to `subscribers` (the live engine's event stream).
    pub fn with_subscribers(mut self, subscribers: tokio::sync::broadcast::Sender<Event>) -> Self {
        self.subscribers = Some(subscribers);
        self
    }
}

impl Actor for LedgerActor {
    type Context = Context<Self>;
}

impl Handler<Charge> for LedgerActor {
    type Result = Result<CostEntry, LedgerError>;

    fn handle(&mut self, charge: Charge, ctx: &mut Context<Self>) -> Self::Result {
        let mut cost = NewCost::usd(
            charge.client,
            charge.cost_type,
            charge.category,
            charge.amount,
            charge.at,
        );
        cost.metadata = charge.metadata;
        cost.description = charge.description;
        if let Some(currency) = charge.currency {
            cost.currency = currency;
        }
        match self.ledger.record(cost) {
            Ok(entry) => {
                let entry = entry.clone();
                let event = Event {
                    at: entry.at,
                    kind: crate::model::EventKind::CostRecorded {
                        client: entry.client.clone(),
                        amount: entry.amount,
                        category: entry.category.clone(),
                    },
                };
                <Self as Handler<Publish>>::handle(self, Publish(event), ctx);
                Ok(entry)
            }
            Err(e) => {
                self.rejected.push(e.to_string());
                Err(e)
            }
        }
    }
}

impl Handler<Publish> for LedgerActor {
    type Result = ();

    fn handle(&mut self, Publish(event): Publish, _: &mut Context<Self>) {
        *self
            .event_counts
            .entry(Cow::Borrowed(event.kind.name()))
            .or_default() += 1;
        if let Some(subscribers) = &self.subscribers {
            // No subscriber is not an error: the stream is best-effort for watchers.
            let _ = subscribers.send(event.clone());
        }
        if self.events.len() < self.event_limit {
            self.events.push(event);
        }
    }
}

impl Handler<GetCostSeries> for LedgerActor {
    type Result = MessageResult<GetCostSeries>;

    fn handle(&mut self, request: GetCostSeries, _: &mut Context<Self>) -> Self::Result {
        MessageResult(series(
            &self.ledger,
            &request.filter,
            request.from,
            request.to,
            request.bucket_nanos,
        ))
    }
}

impl Handler<GetLedger> for LedgerActor {
    type Result = MessageResult<GetLedger>;

    fn handle(&mut self, request: GetLedger, _: &mut Context<Self>) -> Self::Result {
        MessageResult(LedgerView {
            costs: self.ledger.summary(&request.filter, request.item_limit),
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

impl Handler<SaveLedger> for LedgerActor {
    type Result = MessageResult<SaveLedger>;

    fn handle(&mut self, _: SaveLedger, _: &mut Context<Self>) -> Self::Result {
        MessageResult(LedgerImage {
            ledger: self.ledger.clone(),
            event_counts: self.event_counts.clone(),
            events: self.events.clone(),
            rejected: self.rejected.clone(),
        })
    }
}
