use serde::{Deserialize, Serialize};

use super::{
    Alert, BookingId, ClientId, CredentialId, Money, PoolId, QuotaId, RequestClass, RequestId,
    ReservationId, ResourceId, Timestamp,
};

/// A state change worth knowing, as the report, the store and the event stream see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. The serialized `type` is the event's name (`quota.warning`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    #[serde(rename = "credential.created")]
    CredentialCreated { id: CredentialId, owner: ClientId },
    #[serde(rename = "credential.deleted")]
    CredentialDeleted { id: CredentialId, owner: ClientId },
    #[serde(rename = "resource.created")]
    ResourceCreated { id: ResourceId },
    #[serde(rename = "booking.created")]
    BookingCreated {
        id: BookingId,
        resource: ResourceId,
        client: ClientId,
    },
    #[serde(rename = "booking.cancelled")]
    BookingCancelled {
        id: BookingId,
        resource: ResourceId,
        client: ClientId,
    },
    #[serde(rename = "cost.recorded")]
    CostRecorded {
        client: ClientId,
        amount: Money,
        category: String,
    },
    #[serde(rename = "quota.updated")]
    QuotaUpdated { id: QuotaId },
    #[serde(rename = "quota.warning")]
    QuotaWarning {
        id: QuotaId,
        client: ClientId,
        usage_ratio: f64,
    },
    #[serde(rename = "quota.exceeded")]
    QuotaExceeded {
        id: QuotaId,
        client: ClientId,
        usage_ratio: f64,
    },
    #[serde(rename = "resource.reserved")]
    ResourceReserved {
        reservation: ReservationId,
        client: ClientId,
        amount: Money,
    },
    #[serde(rename = "resource.warning")]
    ResourceWarning {
        reservation: ReservationId,
        client: ClientId,
        usage_ratio: f64,
    },
    #[serde(rename = "resource.critical")]
    ResourceCritical {
        reservation: ReservationId,
        client: ClientId,
        usage_ratio: f64,
    },
    #[serde(rename = "resource.completed")]
    ResourceCompleted {
        reservation: ReservationId,
        client: ClientId,
        charged: Money,
        returned: Money,
    },
    #[serde(rename = "pool.scaled")]
    PoolScaled { pool: PoolId, from: u32, to: u32 },
    #[serde(rename = "request.starving")]
    RequestStarving {
        request: RequestId,
        client: ClientId,
        waited_secs: f64,
    },
    /// A request waits: in its class queue, or held for its batch to form.
    #[serde(rename = "request.queued")]
    RequestQueued {
        request: RequestId,
        client: ClientId,
        class: RequestClass,
    },
    #[serde(rename = "request.started")]
    RequestStarted {
        request: RequestId,
        client: ClientId,
        class: RequestClass,
        /// On its cheaper alternative.
        downgraded: bool,
        /// The batch it started in (named by its first member), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<RequestId>,
        waited_secs: f64,
    },
    #[serde(rename = "request.refused")]
    RequestRefused {
        request: RequestId,
        client: ClientId,
        reason: String,
        message: String,
    },
    /// A request (or a batch, by its id) finished and its reservation was settled.
    #[serde(rename = "request.finished")]
    RequestFinished {
        request: RequestId,
        client: ClientId,
        charged: Money,
        /// How well the reservation fitted the actual cost (1 is exact).
        efficiency: f64,
        held_secs: f64,
    },
    #[serde(rename = "request.cancelled")]
    RequestCancelled {
        request: RequestId,
        client: ClientId,
    },
    /// A started request was neither completed nor renewed within its lease: its capacity
    /// went back and its reservation was settled at what it used (`settled`) or released.
    #[serde(rename = "request.expired")]
    RequestExpired {
        request: RequestId,
        client: ClientId,
        lease_secs: f64,
        held_secs: f64,
        settled: bool,
        /// What it was charged: nothing when its reservation was released, and nothing
        /// yet for a member of a batch whose other members still run.
        charged: Money,
    },
    /// An admin paid credit into a client's account.
    #[serde(rename = "credit.topped_up")]
    CreditToppedUp {
        client: ClientId,
        amount: Money,
        available: Money,
    },
    /// Available credit moved from `client` to `to` (seed 003's sharing).
    #[serde(rename = "credit.transferred")]
    CreditTransferred {
        client: ClientId,
        to: ClientId,
        amount: Money,
    },
    /// Usage counted directly, for work that did not go through the queue.
    #[serde(rename = "usage.consumed")]
    UsageConsumed {
        client: ClientId,
        metric: String,
        amount: u64,
        charged: Money,
    },
    #[serde(rename = "quota.removed")]
    QuotaRemoved { id: QuotaId },
    #[serde(rename = "resource.removed")]
    ResourceRemoved { id: ResourceId },
    #[serde(rename = "client.removed")]
    ClientRemoved { client: ClientId },
    /// The monitor saw a condition start (see `policy::alert`).
    #[serde(rename = "alert.raised")]
    AlertRaised { alert: Alert },
    /// The condition of an open alert cleared; `alert.resolved_at` says when.
    #[serde(rename = "alert.resolved")]
    AlertResolved { alert: Alert },
}

impl EventKind {
    /// The event's name as the stream and the report spell it.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::CredentialCreated { .. } => "credential.created",
            EventKind::CredentialDeleted { .. } => "credential.deleted",
            EventKind::ResourceCreated { .. } => "resource.created",
            EventKind::BookingCreated { .. } => "booking.created",
            EventKind::BookingCancelled { .. } => "booking.cancelled",
            EventKind::CostRecorded { .. } => "cost.recorded",
            EventKind::QuotaUpdated { .. } => "quota.updated",
            EventKind::QuotaWarning { .. } => "quota.warning",
            EventKind::QuotaExceeded { .. } => "quota.exceeded",
            EventKind::ResourceReserved { .. } => "resource.reserved",
            EventKind::ResourceWarning { .. } => "resource.warning",
            EventKind::ResourceCritical { .. } => "resource.critical",
            EventKind::ResourceCompleted { .. } => "resource.completed",
            EventKind::PoolScaled { .. } => "pool.scaled",
            EventKind::RequestStarving { .. } => "request.starving",
            EventKind::RequestQueued { .. } => "request.queued",
            EventKind::RequestStarted { .. } => "request.started",
            EventKind::RequestRefused { .. } => "request.refused",
            EventKind::RequestFinished { .. } => "request.finished",
            EventKind::RequestCancelled { .. } => "request.cancelled",
            EventKind::RequestExpired { .. } => "request.expired",
            EventKind::CreditToppedUp { .. } => "credit.topped_up",
            EventKind::CreditTransferred { .. } => "credit.transferred",
            EventKind::UsageConsumed { .. } => "usage.consumed",
            EventKind::QuotaRemoved { .. } => "quota.removed",
            EventKind::ResourceRemoved { .. } => "resource.removed",
            EventKind::ClientRemoved { .. } => "client.removed",
            EventKind::AlertRaised { .. } => "alert.raised",
            EventKind::AlertResolved { .. } => "alert.resolved",
        }
    }

    /// The client the event concerns, if any (for per-agent filtering of the stream).
    pub fn client(&self) -> Option<&ClientId> {
        match self {
            EventKind::CredentialCreated { owner, .. }
            | EventKind::CredentialDeleted { owner, .. } => Some(owner),
            EventKind::BookingCreated { client, .. }
            | EventKind::BookingCancelled { client, .. }
            | EventKind::CostRecorded { client, .. }
            | EventKind::QuotaWarning { client, .. }
            | EventKind::QuotaExceeded { client, .. }
            | EventKind::ResourceReserved { client, .. }
            | EventKind::ResourceWarning { client, .. }
            | EventKind::ResourceCritical { client, .. }
            | EventKind::ResourceCompleted { client, .. }
            | EventKind::RequestStarving { client, .. }
            | EventKind::RequestQueued { client, .. }
            | EventKind::RequestStarted { client, .. }
            | EventKind::RequestRefused { client, .. }
            | EventKind::RequestFinished { client, .. }
            | EventKind::RequestCancelled { client, .. }
            | EventKind::RequestExpired { client, .. }
            | EventKind::CreditToppedUp { client, .. }
            | EventKind::CreditTransferred { client, .. }
            | EventKind::UsageConsumed { client, .. }
            | EventKind::ClientRemoved { client } => Some(client),
            EventKind::AlertRaised { alert } | EventKind::AlertResolved { alert } => {
                alert.client.as_ref()
            }
            EventKind::ResourceCreated { .. }
            | EventKind::QuotaRemoved { .. }
            | EventKind::ResourceRemoved { .. }
            | EventKind::QuotaUpdated { .. }
            | EventKind::PoolScaled { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_the_seed_name_as_type() {
        let e = Event {
            at: Timestamp::from_nanos(0),
            kind: EventKind::PoolScaled {
                pool: "gpu".into(),
                from: 2,
                to: 3,
            },
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"at":"1970-01-01T00:00:00Z","type":"pool.scaled","pool":"gpu","from":2,"to":3}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
        assert_eq!(e.kind.name(), "pool.scaled");
    }
}
