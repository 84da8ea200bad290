//! An alert: a condition an operator should look at, raised once when it starts and
//! resolved when it clears. The rules that raise and resolve them are `policy::alert`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{ClientId, PoolId, QuotaId, RequestId, Timestamp, ValidationError};

/// How urgent an alert is, least first (so levels order and compare).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    #[default]
    Info,
    Warning,
    Error,
    Critical,
}

impl AlertLevel {
    pub const ALL: [AlertLevel; 4] = [
        AlertLevel::Info,
        AlertLevel::Warning,
        AlertLevel::Error,
        AlertLevel::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Info => "info",
            AlertLevel::Warning => "warning",
            AlertLevel::Error => "error",
            AlertLevel::Critical => "critical",
        }
    }
}

impl fmt::Display for AlertLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertLevel {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, ValidationError> {
        AlertLevel::ALL
            .into_iter()
            .find(|level| level.as_str() == text)
            .ok_or_else(|| {
                ValidationError::new("level", text, "one of info, warning, error, critical")
            })
    }
}

/// What an alert is about. Each kind has one level (see [`AlertKind::level`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlertKind {
    /// A pool has less free capacity than `monitor.alerts.pool_free_below`.
    #[serde(rename = "pool.capacity_low")]
    PoolCapacityLow,
    /// A client has used more of its credit than `monitor.alerts.client_spend_above`.
    #[serde(rename = "client.spend_high")]
    ClientSpendHigh,
    /// A quota is used past `monitor.alerts.quota_usage_above` of its allowance.
    #[serde(rename = "quota.usage_high")]
    QuotaUsageHigh,
    /// More requests wait than `monitor.alerts.queue_depth_above`.
    #[serde(rename = "queue.backup")]
    QueueBackup,
    /// A request still waits past the scheduler's starvation bound.
    #[serde(rename = "request.starving")]
    RequestStarving,
    /// A started request's lease ends within `monitor.alerts.lease_expiring_within_secs`.
    #[serde(rename = "lease.expiring")]
    LeaseExpiring,
}

impl AlertKind {
    pub const ALL: [AlertKind; 6] = [
        AlertKind::PoolCapacityLow,
        AlertKind::ClientSpendHigh,
        AlertKind::QuotaUsageHigh,
        AlertKind::QueueBackup,
        AlertKind::RequestStarving,
        AlertKind::LeaseExpiring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::PoolCapacityLow => "pool.capacity_low",
            AlertKind::ClientSpendHigh => "client.spend_high",
            AlertKind::QuotaUsageHigh => "quota.usage_high",
            AlertKind::QueueBackup => "queue.backup",
            AlertKind::RequestStarving => "request.starving",
            AlertKind::LeaseExpiring => "lease.expiring",
        }
    }

    /// The level of every alert of this kind: a full pool or a waiting request is worth a
    /// look (warning); a client about to run out of credit will soon be refused (error);
    /// a thousand requests backed up is an outage in the making (critical); a lease about
    /// to end is expected to end by itself, freeing what it holds (info).
    pub fn level(self) -> AlertLevel {
        match self {
            AlertKind::PoolCapacityLow | AlertKind::QuotaUsageHigh => AlertLevel::Warning,
            AlertKind::RequestStarving => AlertLevel::Warning,
            AlertKind::ClientSpendHigh => AlertLevel::Error,
            AlertKind::QueueBackup => AlertLevel::Critical,
            AlertKind::LeaseExpiring => AlertLevel::Info,
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an alert concerns, written `pool:<id>`, `client:<id>`, `quota:<id>`,
/// `request:<id>` or `queue` (the scheduler's queue as a whole).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertSubject {
    Pool(PoolId),
    Client(ClientId),
    Quota(QuotaId),
    Request(RequestId),
    Queue,
}

impl AlertSubject {
    /// The subject's kind: `pool`, `client`, `quota`, `request` or `queue`.
    pub fn kind(&self) -> &'static str {
        match self {
            AlertSubject::Pool(_) => "pool",
            AlertSubject::Client(_) => "client",
            AlertSubject::Quota(_) => "quota",
            AlertSubject::Request(_) => "request",
            AlertSubject::Queue => "queue",
        }
    }

    /// Whether this subject is the one `filter` names: a whole subject (`pool:gpu`) or a
    /// kind of subject (`pool`).
    pub fn matches(&self, filter: &str) -> bool {
        if filter.contains(':') || filter == "queue" {
            self.to_string() == filter
        } else {
            self.kind() == filter
        }
    }
}

impl fmt::Display for AlertSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertSubject::Pool(id) => write!(f, "pool:{id}"),
            AlertSubject::Client(id) => write!(f, "client:{id}"),
            AlertSubject::Quota(id) => write!(f, "quota:{id}"),
            AlertSubject::Request(id) => write!(f, "request:{id}"),
            AlertSubject::Queue => f.write_str("queue"),
        }
    }
}

impl FromStr for AlertSubject {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, ValidationError> {
        let bad = || {
            ValidationError::new(
                "subject",
                format!("{text:?}"),
                "pool:<id>, client:<id>, quota:<id>, request:<number> or queue",
            )
        };
        if text == "queue" {
            return Ok(AlertSubject::Queue);
        }
        let (kind, id) = text.split_once(':').ok_or_else(bad)?;
        if id.is_empty() {
            return Err(bad());
        }
        match kind {
            "pool" => Ok(AlertSubject::Pool(id.into())),
            "client" => Ok(AlertSubject::Client(id.into())),
            "quota" => Ok(AlertSubject::Quota(id.into())),
            "request" => id
                .parse()
                .map(|n| AlertSubject::Request(RequestId(n)))
                .map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl Serialize for AlertSubject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AlertSubject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One alert, open (no `resolved_at`) or resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Sequence number, from 1, in the order alerts were raised.
    pub id: u64,
    pub kind: AlertKind,
    pub level: AlertLevel,
    pub subject: AlertSubject,
    /// The client concerned, if any (the subject's, or the client of a request subject),
    /// so a client's event stream carries its own alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientId>,
    /// What was seen when it was raised, for people.
    pub message: String,
    pub raised_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

impl Alert {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_read_back_what_they_write() {
        for subject in [
            AlertSubject::Pool("gpu".into()),
            AlertSubject::Client("alice".into()),
            AlertSubject::Quota("budget:alice".into()),
            AlertSubject::Request(RequestId(42)),
            AlertSubject::Queue,
        ] {
            let text = subject.to_string();
            assert_eq!(text.parse::<AlertSubject>().unwrap(), subject, "{text}");
            assert!(subject.matches(&text));
            assert!(subject.matches(subject.kind()));
        }
        assert!(!AlertSubject::Pool("gpu".into()).matches("pool:cpu"));
        assert!(!AlertSubject::Pool("gpu".into()).matches("client"));
        let e = "request:x".parse::<AlertSubject>().unwrap_err();
        assert_eq!(e.field, "subject");
        assert!("disk:a".parse::<AlertSubject>().is_err());
        assert!("pool:".parse::<AlertSubject>().is_err());
    }

    #[test]
    fn levels_order_and_parse() {
        assert!(AlertLevel::Info < AlertLevel::Critical);
        assert_eq!("error".parse::<AlertLevel>().unwrap(), AlertLevel::Error);
        assert_eq!("loud".parse::<AlertLevel>().unwrap_err().value, "loud");
        let json = serde_json::to_string(&AlertKind::QueueBackup).unwrap();
        assert_eq!(json, "\"queue.backup\"");
    }
}
