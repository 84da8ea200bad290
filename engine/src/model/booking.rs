use serde::{Deserialize, Serialize};

use super::error::ensure;
use super::{BookingId, ClientId, Money, ResourceId, Timestamp, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Confirmed,
    Cancelled,
    Completed,
}

/// A registered resource reserved for the half-open slot `[start, end)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    pub id: BookingId,
    pub resource: ResourceId,
    pub client: ClientId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: BookingStatus,
    pub estimated_cost: Money,
    #[serde(default)]
    pub purpose: String,
}

impl Booking {
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        self.start < end && start < self.end
    }

    pub fn hours(&self) -> f64 {
        self.end.since(self.start).as_secs_f64() / 3600.0
    }
}

/// Checks a requested slot: it must end after it starts.
pub fn validate_slot(start: Timestamp, end: Timestamp) -> Result<(), ValidationError> {
    ensure(
        end > start,
        "end",
        end,
        &format!("an instant after start ({start})"),
    )
}
