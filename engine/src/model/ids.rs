use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

macro_rules! seq_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

name_id!(
    /// A client (agent, user or tenant), named by its operator.
    ClientId
);
name_id!(
    /// A resource pool (rate or slot), named by its operator.
    PoolId
);
name_id!(
    /// A quota, named by its operator.
    QuotaId
);
name_id!(
    /// A bookable resource of the registry.
    ResourceId
);
name_id!(
    /// A stored credential.
    CredentialId
);
seq_id!(
    /// A request, numbered in order of submission (never random, so runs replay exactly).
    RequestId
);
seq_id!(
    /// A budget reservation.
    ReservationId
);
seq_id!(
    /// A booking of a resource.
    BookingId
);
seq_id!(
    /// An entry of the cost ledger.
    CostEntryId
);
