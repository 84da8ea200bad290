//! The scheduler's messages and what they answer.

use actix::prelude::*;

use crate::model::{Money, RequestId, Timestamp};
use crate::policy::admission::Refusal;
use crate::policy::alert::Observations;
use crate::policy::batch::BatchRule;
use crate::policy::dispatch::{Job, earliest};

/// Registers a batch rule; answers the index a `Batching::Joins` names.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct AddBatchRule(pub BatchRule);

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
    /// Requests (or batches) that finished, with what they were charged.
    pub finished: Vec<Settled>,
}

/// A request whose reservation was settled at its finish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settled {
    pub request: RequestId,
    pub charged: Money,
    /// How well the reservation fitted the actual cost (1 is exact).
    pub efficiency: f64,
}

impl Dispatches {
    /// Adds what another message set going.
    pub fn merge(&mut self, other: Dispatches) {
        self.started.extend(other.started);
        self.refused.extend(other.refused);
        self.batched.extend(other.batched);
        self.finished.extend(other.finished);
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
#[derive(Debug, Clone)]
pub struct Completion {
    pub request: RequestId,
    pub actual: Option<Money>,
    /// What the work really used of its pools and its compute time (all it held, and the
    /// time it held them, when `None`).
    pub used: Option<crate::model::Usage>,
    /// The lease (in seconds) the request outlived, if it expired instead of completing:
    /// it is announced as `request.expired`, not `request.finished`.
    pub expired_lease: Option<f64>,
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
    /// What could be taken now from each pool, in pool order: tokens in a rate pool's
    /// bucket, free slots of a slot pool.
    pub available: Vec<f64>,
    /// Amount queued requests ask of each pool, in pool order: demand that is waiting.
    pub queued_demand: Vec<f64>,
    pub queued: [usize; 5],
    pub running: usize,
    pub spent: Money,
    pub starving: u64,
    /// What the alert policy looks at (pools' free capacity, clients' credit, quotas,
    /// requests waiting past the starvation bound).
    pub observed: Observations,
}
