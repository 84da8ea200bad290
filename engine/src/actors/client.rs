//! One actor per client: what happened to its requests, for the report and the API.

use actix::prelude::*;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::model::{ClientId, Money, RequestClass};
use crate::policy::admission::RefusalReason;

/// What happened to one of the client's requests (sent fire-and-forget by the scheduler).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub enum ClientOutcome {
    Submitted {
        class: RequestClass,
    },
    /// `on_arrival`: decided as it arrived, so it also counts as submitted (one message
    /// instead of two on the common path).
    Admitted {
        class: RequestClass,
        waited_micros: u64,
        downgraded: bool,
        on_arrival: bool,
    },
    Refused {
        class: RequestClass,
        reason: RefusalReason,
        on_arrival: bool,
    },
    /// `requests` finished together (a batch finishes all its members) at `cost`.
    Completed {
        class: RequestClass,
        cost: Money,
        requests: u32,
    },
    /// Held requests left together as one batch.
    Batched {
        members: u32,
    },
}

/// Asks for the client's tallies.
#[derive(Debug, Message)]
#[rtype(result = "ClientStats")]
pub struct GetClientStats;

/// Tallies of one class of one client's requests.
#[derive(Debug, Clone)]
pub struct ClassStats {
    pub submitted: u64,
    pub admitted: u64,
    pub completed: u64,
    pub downgraded: u64,
    pub refused: [u64; RefusalReason::ALL.len()],
    pub spend: Money,
    /// Time from submission to dispatch, in microseconds.
    pub waits: Histogram<u64>,
    pub wait_sum_micros: u128,
}

impl ClassStats {
    fn new() -> Self {
        ClassStats {
            submitted: 0,
            admitted: 0,
            completed: 0,
            downgraded: 0,
            refused: [0; RefusalReason::ALL.len()],
            spend: Money::ZERO,
            // Microseconds, three significant figures, up to a year of waiting.
            waits: Histogram::new_with_bounds(1, 365 * 86_400 * 1_000_000, 3)
                .expect("valid histogram bounds"),
            wait_sum_micros: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientStats {
    pub client: ClientId,
    pub classes: Vec<(RequestClass, ClassStats)>,
    pub batches: u64,
    pub batch_members: u64,
}

/// One class's tallies as a snapshot keeps them: the wait histogram as its recorded
/// buckets (each bucket's highest value and count), which rebuild the same histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassImage {
    pub submitted: u64,
    pub admitted: u64,
    pub completed: u64,
    pub downgraded: u64,
    pub refused: [u64; RefusalReason::ALL.len()],
    pub spend: Money,
    pub waits: Vec<(u64, u64)>,
    /// `wait_sum_micros` as (high, low) 64-bit halves: the binary form has no 128-bit
    /// integers.
    pub wait_sum_micros: (u64, u64),
}

impl ClassStats {
    fn image(&self) -> ClassImage {
        ClassImage {
            submitted: self.submitted,
            admitted: self.admitted,
            completed: self.completed,
            downgraded: self.downgraded,
            refused: self.refused,
            spend: self.spend,
            waits: self
                .waits
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
            wait_sum_micros: (
                (self.wait_sum_micros >> 64) as u64,
                self.wait_sum_micros as u64,
            ),
        }
    }

    fn restore(image: &ClassImage) -> ClassStats {
        let mut stats = ClassStats::new();
        for &(value, count) in &image.waits {
            stats.waits.saturating_record_n(value, count);
        }
        ClassStats {
            submitted: image.submitted,
            admitted: image.admitted,
            completed: image.completed,
            downgraded: image.downgraded,
            refused: image.refused,
            spend: image.spend,
            wait_sum_micros: (u128::from(image.wait_sum_micros.0) << 64)
                | u128::from(image.wait_sum_micros.1),
            ..stats
        }
    }
}

/// A client actor's state, as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientImage {
    pub client: ClientId,
    pub classes: Vec<ClassImage>,
    pub batches: u64,
    pub batch_members: u64,
}

/// Asks a client actor for its state.
#[derive(Debug, Message)]
#[rtype(result = "ClientImage")]
pub struct SaveClient;

pub struct ClientActor {
    client: ClientId,
    classes: [ClassStats; 5],
    batches: u64,
    batch_members: u64,
}

impl ClientActor {
    pub fn new(client: ClientId) -> Self {
        ClientActor {
            client,
            classes: std::array::from_fn(|_| ClassStats::new()),
            batches: 0,
            batch_members: 0,
        }
    }

    /// The actor a snapshot saved.
    pub fn restore(image: &ClientImage) -> Self {
        let mut actor = ClientActor::new(image.client.clone());
        for (stats, class) in actor.classes.iter_mut().zip(&image.classes) {
            *stats = ClassStats::restore(class);
        }
        actor.batches = image.batches;
        actor.batch_members = image.batch_members;
        actor
    }
}

impl Actor for ClientActor {
    type Context = Context<Self>;
}

impl Handler<ClientOutcome> for ClientActor {
    type Result = ();

    fn handle(&mut self, outcome: ClientOutcome, _: &mut Context<Self>) {
        match outcome {
            ClientOutcome::Submitted { class } => self.classes[class.index()].submitted += 1,
            ClientOutcome::Admitted {
                class,
                waited_micros,
                downgraded,
                on_arrival,
            } => {
                let stats = &mut self.classes[class.index()];
                stats.submitted += u64::from(on_arrival);
                stats.admitted += 1;
                stats.downgraded += u64::from(downgraded);
                stats.waits.saturating_record(waited_micros);
                stats.wait_sum_micros += u128::from(waited_micros);
            }
            ClientOutcome::Refused {
                class,
                reason,
                on_arrival,
            } => {
                let stats = &mut self.classes[class.index()];
                stats.submitted += u64::from(on_arrival);
                stats.refused[reason as usize] += 1;
            }
            ClientOutcome::Completed {
                class,
                cost,
                requests,
            } => {
                let stats = &mut self.classes[class.index()];
                stats.completed += u64::from(requests);
                stats.spend += cost;
            }
            ClientOutcome::Batched { members } => {
                self.batches += 1;
                self.batch_members += u64::from(members);
            }
        }
    }
}

impl Handler<GetClientStats> for ClientActor {
    type Result = MessageResult<GetClientStats>;

    fn handle(&mut self, _: GetClientStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(ClientStats {
            client: self.client.clone(),
            classes: RequestClass::ALL
                .iter()
                .map(|c| (*c, self.classes[c.index()].clone()))
                .collect(),
            batches: self.batches,
            batch_members: self.batch_members,
        })
    }
}

impl Handler<SaveClient> for ClientActor {
    type Result = MessageResult<SaveClient>;

    fn handle(&mut self, _: SaveClient, _: &mut Context<Self>) -> Self::Result {
        MessageResult(ClientImage {
            client: self.client.clone(),
            classes: self.classes.iter().map(ClassStats::image).collect(),
            batches: self.batches,
            batch_members: self.batch_members,
        })
    }
}
