//! The commands the live engine accepts: each is one change, logged before it is
//! acknowledged and replayed on open. The serialized form is the journal's format, so
//! variants and fields are only ever added.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::model::{BookingId, Resource, ResourceId, Timestamp};
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
        metadata: BTreeMap<String, String>,
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
}
