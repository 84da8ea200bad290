use serde::{Deserialize, Serialize};

use super::{ClientId, Money, RequestId, ReservationId, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Active,
    /// Finished: the actual cost was charged and the rest returned.
    Settled,
    /// Cancelled: everything reserved was returned.
    Released,
}

/// Credit set aside for a request at admission, settled when it finishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub client: ClientId,
    pub request: Option<RequestId>,
    pub reserved: Money,
    /// Usage tracked so far (while active) or the actual cost charged (once settled).
    pub used: Money,
    pub status: ReservationStatus,
    pub created_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}
