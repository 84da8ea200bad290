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

/// Hashes sequential ids (requests, reservations) cheaply: they are already well spread
/// integers assigned by the engine, never chosen by an adversary, so SipHash's protection
/// buys nothing on the per-request path.
#[derive(Debug, Default, Clone, Copy)]
pub struct SeqIdHasher(u64);

impl std::hash::Hasher for SeqIdHasher {
    fn finish(&self) -> u64 {
        // Fibonacci hashing spreads consecutive ids over the table's high bits.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A map keyed by sequential ids.
pub type SeqIdMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<SeqIdHasher>>;
