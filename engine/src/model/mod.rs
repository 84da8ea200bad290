//! Plain data: the nouns of the domain. serde everywhere, no behaviour beyond validation.

mod alert;
mod booking;
mod client;
mod cost;
mod credential;
mod error;
mod event;
mod ids;
mod money;
mod pool;
mod quota;
mod request;
mod reservation;
mod resource;
pub mod seconds;
mod time;
mod usage;

pub use alert::{Alert, AlertKind, AlertLevel, AlertSubject};
pub use booking::{Booking, BookingStatus, validate_slot};
pub use client::{Client, MonthlyBudget, Tier};
pub use cost::{CostEntry, CostType, Metadata};
pub use credential::{CredentialKind, CredentialMeta};
pub use error::ValidationError;
pub(crate) use error::ensure;
pub use event::{Event, EventKind};
pub use ids::{
    BookingId, ClientId, CostEntryId, CredentialId, PoolId, QuotaId, RequestId, ReservationId,
    ResourceId, SeqIdHasher, SeqIdMap,
};
pub use money::{Money, grouped};
pub use pool::{AutoscaleBounds, Pool, PoolKind};
pub use quota::{Metric, Period, Quota, QuotaScope};
pub use request::{Alternative, BatchGroup, Need, Request, RequestClass, ensure_lease};
pub use reservation::{Reservation, ReservationStatus};
pub use resource::{Resource, ResourceKind, ResourceStatus};
pub use time::Timestamp;
pub use usage::Usage;
