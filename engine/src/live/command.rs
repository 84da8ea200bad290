//! The commands the live engine accepts: each is one change, logged before it is
//! acknowledged and replayed on open. The serialized form is the journal's format, so
//! variants and fields are only ever added.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::model::{BookingId, Metadata, Resource, ResourceId, Timestamp, Usage};
use crate::model::{
    Client, ClientId, CostType, Money, Pool, PoolId, Quota, QuotaId, Request, RequestId,
    ReservationId,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    AddPool {
        pool: Pool,
    },
    ResizePool {
        pool: PoolId,
        size: f64,
    },
    SetPoolDown {
        pool: PoolId,
        down: bool,
    },
    SetPoolPrice {
        pool: PoolId,
        price: Money,
    },
    AddClient {
        client: Client,
    },
    SetQuota {
        quota: Quota,
    },
    SetQuotaUsage {
        quota: QuotaId,
        used: u64,
    },
    ResetQuota {
        quota: QuotaId,
    },
    Submit {
        request: Request,
    },
    Complete {
        request: RequestId,
        actual: Option<Money>,
        /// What the work really used of its pools and its compute time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        used: Option<Usage>,
    },
    Cancel {
        request: RequestId,
    },
    /// A heartbeat: the running request's lease starts afresh (for `lease_secs`, if given).
    Renew {
        request: RequestId,
        #[serde(default)]
        lease_secs: Option<f64>,
    },
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
    RecordCost {
        client: ClientId,
        cost_type: CostType,
        category: String,
        amount: Money,
        #[serde(default)]
        metadata: Metadata,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        description: String,
    },
    RegisterResource {
        resource: Resource,
    },
    Book {
        resource: ResourceId,
        client: ClientId,
        start: Timestamp,
        end: Timestamp,
        #[serde(default)]
        purpose: String,
    },
    CancelBooking {
        id: BookingId,
    },
    CompleteBooking {
        id: BookingId,
    },
    /// Time passed: start what can start (token refill, off-peak, a held batch due).
    Wake,
    /// The monitor samples, predicts and autoscales.
    Tick,
    /// A client joins (`active`) or leaves; leaving withdraws its waiting requests.
    SetClientActive {
        client: ClientId,
        active: bool,
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
    /// Usage of work that did not go through the queue, counted against quotas (by
    /// metric name) and, with a cost, the client's credit.
    Consume {
        client: ClientId,
        usage: BTreeMap<String, u64>,
        #[serde(default)]
        cost: Option<Money>,
        #[serde(default)]
        force: bool,
    },
    RemoveQuota {
        quota: QuotaId,
    },
    /// Refused while the resource has confirmed bookings that have not ended.
    RemoveResource {
        resource: ResourceId,
    },
    /// Refused while the client has queued or running work, active reservations or
    /// bookings to come, unless `drain`: then those are cancelled first, in this command.
    RemoveClient {
        client: ClientId,
        #[serde(default)]
        drain: bool,
    },
}
