//! Leases on started requests: a worker that dies without completing its request would
//! hold the request's capacity and reservation forever. A request with a lease must be
//! completed or renewed (a heartbeat) before the lease ends; otherwise the engine expires
//! it at that instant, in a journaled wake, so a replay expires it alike.

use std::collections::BTreeSet;

use crate::model::{RequestId, Timestamp, ValidationError, ensure_lease};

/// What becomes of an expired request's reservation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseExpiry {
    /// Charged for what it used: its pools' price for the time it held them, as a
    /// completion without a reported cost is.
    #[default]
    Settle,
    /// Charged nothing: the whole reservation goes back to the client.
    Release,
}

/// Lease settings (`leases` in a live settings file).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaseConfig {
    /// The lease of a request that names none (none: such requests hold until completed).
    pub default_secs: Option<f64>,
    pub on_expiry: LeaseExpiry,
}

impl LeaseConfig {
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self.default_secs {
            Some(secs) => ensure_lease("default_secs", secs).map_err(|e| e.within("leases")),
            None => Ok(()),
        }
    }
}

/// Running requests by the end of their lease, soonest first.
#[derive(Debug, Default)]
pub(super) struct Leases(BTreeSet<(Timestamp, RequestId)>);

impl Leases {
    pub fn hold(&mut self, request: RequestId, until: Timestamp) {
        self.0.insert((until, request));
    }

    pub fn drop_lease(&mut self, request: RequestId, until: Timestamp) {
        self.0.remove(&(until, request));
    }

    /// When the next lease ends.
    pub fn next_end(&self) -> Option<Timestamp> {
        self.0.first().map(|(until, _)| *until)
    }

    /// The leases that end soonest, at most `count`, with their ends.
    pub fn soonest(&self, count: usize) -> impl Iterator<Item = (RequestId, Timestamp)> + '_ {
        self.0
            .iter()
            .take(count)
            .map(|&(until, request)| (request, until))
    }

    /// Takes the leases that have ended by `now`, soonest first.
    pub fn take_ended(&mut self, now: Timestamp) -> Vec<RequestId> {
        let mut ended = Vec::new();
        while let Some(&(until, request)) = self.0.first()
            && until <= now
        {
            self.0.pop_first();
            ended.push(request);
        }
        ended
    }
}
