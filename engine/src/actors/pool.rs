//! One actor per pool: the authority on its size, price and state, and the keeper of its
//! scaling history. Changes go to the scheduler's gate before the reply, so the driver
//! never runs ahead of them.

use std::borrow::Cow;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::model::{Event, EventKind, Money, PoolId, Timestamp};

use super::ledger::{LedgerActor, Publish};
use super::scheduler::{Dispatches, PoolChange, SchedulerActor};

/// A change to the pool, from the monitor (autoscaling) or an operator / scenario event.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Dispatches")]
pub enum PoolCommand {
    Resize { size: f64, reason: &'static str },
    Down,
    Up,
    Price(Money),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingEvent {
    pub at: Timestamp,
    pub from: f64,
    pub to: f64,
    pub reason: Cow<'static, str>,
}

#[derive(Debug, Message)]
#[rtype(result = "PoolHistory")]
pub struct GetPoolHistory;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolHistory {
    pub pool: PoolId,
    pub size: f64,
    pub scaling: Vec<ScalingEvent>,
}

/// A pool actor's state, as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolImage {
    pub id: PoolId,
    pub index: usize,
    pub size: f64,
    pub scaling: Vec<ScalingEvent>,
}

/// Asks an actor for its state (answered as a `PoolImage`).
#[derive(Debug, Message)]
#[rtype(result = "PoolImage")]
pub struct SavePool;

pub struct PoolActor {
    id: PoolId,
    index: usize,
    size: f64,
    clock: SharedClock,
    scheduler: Addr<SchedulerActor>,
    ledger: Addr<LedgerActor>,
    scaling: Vec<ScalingEvent>,
}

impl PoolActor {
    pub fn new(
        id: PoolId,
        index: usize,
        size: f64,
        clock: SharedClock,
        scheduler: Addr<SchedulerActor>,
        ledger: Addr<LedgerActor>,
    ) -> Self {
        PoolActor {
            id,
            index,
            size,
            clock,
            scheduler,
            ledger,
            scaling: Vec::new(),
        }
    }

    /// The actor a snapshot saved, wired to this fleet's scheduler and ledger.
    pub fn restore(
        image: PoolImage,
        clock: SharedClock,
        scheduler: Addr<SchedulerActor>,
        ledger: Addr<LedgerActor>,
    ) -> Self {
        PoolActor {
            id: image.id,
            index: image.index,
            size: image.size,
            clock,
            scheduler,
            ledger,
            scaling: image.scaling,
        }
    }
}

impl Actor for PoolActor {
    type Context = Context<Self>;
}

impl Handler<PoolCommand> for PoolActor {
    type Result = ResponseFuture<Dispatches>;

    fn handle(&mut self, command: PoolCommand, _: &mut Context<Self>) -> Self::Result {
        let pool = self.index;
        let change = match command {
            PoolCommand::Resize { size, reason } => {
                let at = self.clock.now();
                self.scaling.push(ScalingEvent {
                    at,
                    from: self.size,
                    to: size,
                    reason: Cow::Borrowed(reason),
                });
                self.ledger.do_send(Publish(Event {
                    at,
                    kind: EventKind::PoolScaled {
                        pool: self.id.clone(),
                        from: self.size.round() as u32,
                        to: size.round() as u32,
                    },
                }));
                self.size = size;
                PoolChange::Resize { pool, size }
            }
            PoolCommand::Down => PoolChange::Down { pool, down: true },
            PoolCommand::Up => PoolChange::Down { pool, down: false },
            PoolCommand::Price(price) => PoolChange::Price { pool, price },
        };
        let scheduler = self.scheduler.clone();
        Box::pin(async move { scheduler.send(change).await.unwrap_or_default() })
    }
}

impl Handler<GetPoolHistory> for PoolActor {
    type Result = MessageResult<GetPoolHistory>;

    fn handle(&mut self, _: GetPoolHistory, _: &mut Context<Self>) -> Self::Result {
        MessageResult(PoolHistory {
            pool: self.id.clone(),
            size: self.size,
            scaling: self.scaling.clone(),
        })
    }
}

impl Handler<SavePool> for PoolActor {
    type Result = MessageResult<SavePool>;

    fn handle(&mut self, _: SavePool, _: &mut Context<Self>) -> Self::Result {
        MessageResult(PoolImage {
            id: self.id.clone(),
            index: self.index,
            size: self.size,
            scaling: self.scaling.clone(),
        })
    }
}
