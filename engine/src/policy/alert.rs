//! Alerts: which conditions are worth an operator's look, raised once when they start and
//! resolved when they clear.
//!
//! The rule is pure: the monitor hands [`AlertBook::evaluate`] what it observed at an
//! instant, and the book answers what was raised and what was resolved. An alert is keyed
//! by its kind and subject, so a condition that persists over many samples stays one alert;
//! once it clears, the same condition starting again is a new alert. Open alerts are all
//! kept (they are bounded by what is observed); resolved ones go into a history of bounded
//! length, oldest dropped first.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{
    Alert, AlertKind, AlertLevel, AlertSubject, ClientId, PoolId, QuotaId, RequestClass, RequestId,
    Timestamp, ValidationError,
};

use super::dispatch::OffPeakWindow;

/// Starving requests a snapshot lists at most (the oldest first): enough to name every one
/// in a sick fleet, bounded so one sample stays cheap with a million queued.
pub const STARVING_LISTED: usize = 100;

/// At most this many leases, the soonest to end, are observed at a tick.
pub const LEASES_LISTED: usize = 100;

/// The checked thresholds (see `config::AlertConfig` for the written form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertThresholds {
    /// A pool with less than this fraction free (0..1) is low on capacity.
    pub pool_free_below: f64,
    /// A client that has used (spent or reserved) more than this fraction of its credit.
    pub client_spend_above: f64,
    /// A quota used past this fraction of its allowance.
    pub quota_usage_above: f64,
    /// More requests queued than this is a backup.
    pub queue_depth_above: usize,
    /// A lease that ends within this long is about to expire.
    pub lease_expiring_within: Duration,
    /// Resolved alerts kept, oldest dropped first.
    pub history: usize,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            pool_free_below: 0.10,
            client_spend_above: 0.95,
            quota_usage_above: 0.95,
            queue_depth_above: 1_000,
            lease_expiring_within: Duration::from_secs(60),
            history: 1_000,
        }
    }
}

/// What the monitor saw at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observations {
    pub at: Timestamp,
    pub pools: Vec<PoolObservation>,
    pub clients: Vec<ClientObservation>,
    pub quotas: Vec<QuotaObservation>,
    /// Requests waiting in the class queues.
    pub queued: usize,
    /// Requests still waiting past the starvation bound (see [`overdue`]), oldest first, at
    /// most [`STARVING_LISTED`].
    pub starving: Vec<StarvingObservation>,
    /// Leases of running requests and when they end, soonest first, at most
    /// [`LEASES_LISTED`]; an alert is raised for each ending within `lease_expiring_within`.
    pub leases: Vec<LeaseObservation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolObservation {
    pub pool: PoolId,
    /// Fraction of the pool free now (0 for a pool out of service).
    pub free: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientObservation {
    pub client: ClientId,
    /// Spent and reserved credit over all the credit the client was given.
    pub used_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaObservation {
    pub quota: QuotaId,
    /// The client of a per-client quota.
    pub client: Option<ClientId>,
    /// Usage over allowance in the current period.
    pub usage_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StarvingObservation {
    pub request: RequestId,
    pub client: ClientId,
    /// Time waited since it was queued.
    pub waited: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseObservation {
    pub request: RequestId,
    pub client: ClientId,
    pub expires_at: Timestamp,
}

/// How long a request queued at `enqueued` has been waiting past what it chose, at `now`;
/// `None` when its wait does not count. Deferred work waits for the off-peak window on
/// purpose: outside the window it does not count at all, inside it counts from the
/// window's opening (or its arrival, if later). The scheduler's `request.starving` event and
/// the `request.starving` alert both use this, so they agree.
pub fn overdue(
    class: RequestClass,
    enqueued: Timestamp,
    now: Timestamp,
    off_peak: Option<OffPeakWindow>,
) -> Option<Duration> {
    match (class, off_peak) {
        (RequestClass::Deferred, Some(window)) => window
            .contains(now)
            .then(|| now.since(window.last_start(now).max(enqueued))),
        _ => Some(now.since(enqueued)),
    }
}

/// A change of an alert: what the monitor publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlertChange {
    Raised(Alert),
    Resolved(Alert),
}

/// Which alerts a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertFilter {
    /// Only open alerts (else open and resolved).
    pub open_only: bool,
    pub level: Option<AlertLevel>,
    /// A subject (`pool:gpu`) or a kind of subject (`pool`).
    pub subject: Option<String>,
}

impl AlertFilter {
    /// The filter as written in a query: `state` `open` (the default) or `all`; `level`
    /// one of info, warning, error, critical; `subject` a kind of subject (`pool`,
    /// `client`, `quota`, `request`, `queue`) or one subject (`pool:gpu`).
    pub fn parse(
        state: Option<&str>,
        level: Option<&str>,
        subject: Option<&str>,
    ) -> Result<AlertFilter, ValidationError> {
        let open_only = match state {
            None | Some("open") => true,
            Some("all") => false,
            Some(other) => return Err(ValidationError::new("state", other, "open or all")),
        };
        let level = level.map(str::parse::<AlertLevel>).transpose()?;
        if let Some(subject) = subject
            && !SUBJECT_KINDS.contains(&subject)
            && subject.parse::<AlertSubject>().is_err()
        {
            return Err(ValidationError::new(
                "subject",
                subject,
                "pool, client, quota, request or queue, or one subject such as pool:gpu",
            ));
        }
        Ok(AlertFilter {
            open_only,
            level,
            subject: subject.map(str::to_owned),
        })
    }

    pub fn admits(&self, alert: &Alert) -> bool {
        (!self.open_only || alert.is_open())
            && self.level.is_none_or(|level| alert.level == level)
            && self
                .subject
                .as_deref()
                .is_none_or(|subject| alert.subject.matches(subject))
    }
}

/// The kinds of subject a filter may name alone.
const SUBJECT_KINDS: [&str; 5] = ["pool", "client", "quota", "request", "queue"];

/// Tallies of every alert raised, by kind and by level (the history forgets, these do not).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertCounts {
    pub by_kind: BTreeMap<AlertKind, u64>,
    pub by_level: BTreeMap<AlertLevel, u64>,
}

/// Open alerts, the resolved history, and the tallies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertBook {
    thresholds: AlertThresholds,
    /// Open alerts by what they are about (written as a list: the key is in the alert).
    #[serde(with = "open_as_list")]
    open: BTreeMap<(AlertKind, AlertSubject), Alert>,
    resolved: VecDeque<Alert>,
    next_id: u64,
    counts: AlertCounts,
}

impl Default for AlertBook {
    fn default() -> Self {
        AlertBook::new(AlertThresholds::default())
    }
}

/// A condition seen in one sample.
struct Seen {
    kind: AlertKind,
    subject: AlertSubject,
    client: Option<ClientId>,
    message: String,
}

impl AlertBook {
    pub fn new(thresholds: AlertThresholds) -> Self {
        AlertBook {
            thresholds,
            open: BTreeMap::new(),
            resolved: VecDeque::new(),
            next_id: 1,
            counts: AlertCounts::default(),
        }
    }

    /// The same alerts judged from now on by `thresholds` (settings may change between a
    /// snapshot and the engine that restores it).
    pub fn with_thresholds(mut self, thresholds: AlertThresholds) -> Self {
        self.thresholds = thresholds;
        while self.resolved.len() > self.thresholds.history {
            self.resolved.pop_front();
        }
        self
    }

    pub fn thresholds(&self) -> &AlertThresholds {
        &self.thresholds
    }

    /// Raises an alert for each condition seen now that is not open yet, and resolves each
    /// open alert whose condition is no longer seen. Raised first (in the order of the
    /// observations), then resolved (by kind and subject): the same observations give the
    /// same changes, so a replay repeats them.
    pub fn evaluate(&mut self, seen: &Observations) -> Vec<AlertChange> {
        let now = seen.at;
        let conditions = self.conditions(seen);
        let mut changes = Vec::new();
        let mut present = std::collections::BTreeSet::new();
        for condition in conditions {
            let key = (condition.kind, condition.subject);
            if !self.open.contains_key(&key) {
                let alert = Alert {
                    id: self.next_id,
                    kind: condition.kind,
                    level: condition.kind.level(),
                    subject: key.1.clone(),
                    client: condition.client,
                    message: condition.message,
                    raised_at: now,
                    resolved_at: None,
                };
                self.next_id += 1;
                *self.counts.by_kind.entry(alert.kind).or_default() += 1;
                *self.counts.by_level.entry(alert.level).or_default() += 1;
                self.open.insert(key.clone(), alert.clone());
                changes.push(AlertChange::Raised(alert));
            }
            present.insert(key);
        }
        let cleared: Vec<_> = self
            .open
            .keys()
            .filter(|key| !present.contains(*key))
            .cloned()
            .collect();
        for key in cleared {
            let mut alert = self.open.remove(&key).expect("listed from the map");
            alert.resolved_at = Some(now);
            if self.thresholds.history > 0 {
                if self.resolved.len() == self.thresholds.history {
                    self.resolved.pop_front();
                }
                self.resolved.push_back(alert.clone());
            }
            changes.push(AlertChange::Resolved(alert));
        }
        changes
    }

    fn conditions(&self, seen: &Observations) -> Vec<Seen> {
        let limits = &self.thresholds;
        let mut out = Vec::new();
        for pool in &seen.pools {
            if pool.free < limits.pool_free_below {
                out.push(Seen {
                    kind: AlertKind::PoolCapacityLow,
                    subject: AlertSubject::Pool(pool.pool.clone()),
                    client: None,
                    message: format!(
                        "pool {} has {} free (alert below {})",
                        pool.pool,
                        percent(pool.free),
                        percent(limits.pool_free_below)
                    ),
                });
            }
        }
        for client in &seen.clients {
            if client.used_ratio > limits.client_spend_above {
                out.push(Seen {
                    kind: AlertKind::ClientSpendHigh,
                    subject: AlertSubject::Client(client.client.clone()),
                    client: Some(client.client.clone()),
                    message: format!(
                        "client {} has spent or reserved {} of its credit (alert above {})",
                        client.client,
                        percent(client.used_ratio),
                        percent(limits.client_spend_above)
                    ),
                });
            }
        }
        for quota in &seen.quotas {
            if quota.usage_ratio > limits.quota_usage_above {
                out.push(Seen {
                    kind: AlertKind::QuotaUsageHigh,
                    subject: AlertSubject::Quota(quota.quota.clone()),
                    client: quota.client.clone(),
                    message: format!(
                        "quota {} is at {} of its allowance (alert above {})",
                        quota.quota,
                        percent(quota.usage_ratio),
                        percent(limits.quota_usage_above)
                    ),
                });
            }
        }
        if seen.queued > limits.queue_depth_above {
            out.push(Seen {
                kind: AlertKind::QueueBackup,
                subject: AlertSubject::Queue,
                client: None,
                message: format!(
                    "{} requests queued (alert above {})",
                    seen.queued, limits.queue_depth_above
                ),
            });
        }
        for starving in &seen.starving {
            out.push(Seen {
                kind: AlertKind::RequestStarving,
                subject: AlertSubject::Request(starving.request),
                client: Some(starving.client.clone()),
                message: format!(
                    "request {} of client {} still waits after {:.0}s, past the starvation bound",
                    starving.request,
                    starving.client,
                    starving.waited.as_secs_f64()
                ),
            });
        }
        for lease in &seen.leases {
            let left = if lease.expires_at > seen.at {
                lease.expires_at.since(seen.at)
            } else {
                Duration::ZERO
            };
            if left <= limits.lease_expiring_within {
                out.push(Seen {
                    kind: AlertKind::LeaseExpiring,
                    subject: AlertSubject::Request(lease.request),
                    client: Some(lease.client.clone()),
                    message: format!(
                        "the lease of request {} of client {} ends in {:.0}s unless renewed",
                        lease.request,
                        lease.client,
                        left.as_secs_f64()
                    ),
                });
            }
        }
        out
    }

    /// Open alerts first (oldest first), then resolved ones (most recently resolved last),
    /// as `filter` admits them.
    pub fn list(&self, filter: &AlertFilter) -> Vec<Alert> {
        let mut open: Vec<&Alert> = self.open.values().collect();
        open.sort_by_key(|alert| alert.id);
        let resolved = self.resolved.iter().filter(|_| !filter.open_only);
        open.into_iter()
            .chain(resolved)
            .filter(|alert| filter.admits(alert))
            .cloned()
            .collect()
    }

    /// Open alerts by level.
    pub fn open_by_level(&self) -> BTreeMap<AlertLevel, u64> {
        let mut levels: BTreeMap<AlertLevel, u64> =
            AlertLevel::ALL.iter().map(|level| (*level, 0)).collect();
        for alert in self.open.values() {
            *levels.entry(alert.level).or_default() += 1;
        }
        levels
    }

    /// Every alert raised so far, by kind and level.
    pub fn counts(&self) -> &AlertCounts {
        &self.counts
    }
}

/// A fraction as a percentage to two decimals at most (`95.04%`, `10%`), so a value just
/// past its threshold does not read as equal to it.
fn percent(fraction: f64) -> String {
    format!("{}%", (fraction * 10_000.0).round() / 100.0)
}

/// Open alerts serialize as the list of alerts; the map's key is rebuilt from each.
mod open_as_list {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        open: &BTreeMap<(AlertKind, AlertSubject), Alert>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(open.values())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<(AlertKind, AlertSubject), Alert>, D::Error> {
        let alerts = Vec::<Alert>::deserialize(deserializer)?;
        Ok(alerts
            .into_iter()
            .map(|alert| ((alert.kind, alert.subject.clone()), alert))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_nanos(secs * 1_000_000_000)
    }

    fn quiet(at: i64) -> Observations {
        Observations {
            at: t(at),
            pools: vec![PoolObservation {
                pool: "gpu".into(),
                free: 0.5,
            }],
            clients: vec![ClientObservation {
                client: "alice".into(),
                used_ratio: 0.1,
            }],
            quotas: vec![QuotaObservation {
                quota: "calls".into(),
                client: Some("alice".into()),
                usage_ratio: 0.1,
            }],
            ..Observations::default()
        }
    }

    fn raised(changes: &[AlertChange]) -> Vec<(AlertKind, String)> {
        changes
            .iter()
            .filter_map(|c| match c {
                AlertChange::Raised(a) => Some((a.kind, a.subject.to_string())),
                AlertChange::Resolved(_) => None,
            })
            .collect()
    }

    fn resolved(changes: &[AlertChange]) -> Vec<(AlertKind, String)> {
        changes
            .iter()
            .filter_map(|c| match c {
                AlertChange::Resolved(a) => Some((a.kind, a.subject.to_string())),
                AlertChange::Raised(_) => None,
            })
            .collect()
    }

    #[test]
    fn each_condition_is_raised_once_and_resolved_when_it_clears() {
        let mut book = AlertBook::new(AlertThresholds::default());
        assert!(book.evaluate(&quiet(0)).is_empty());
        let mut bad = quiet(10);
        bad.pools[0].free = 0.05;
        bad.clients[0].used_ratio = 0.96;
        bad.quotas[0].usage_ratio = 0.97;
        bad.queued = 1_001;
        bad.starving = vec![StarvingObservation {
            request: RequestId(7),
            client: "alice".into(),
            waited: Duration::from_secs(400),
        }];
        bad.leases = vec![LeaseObservation {
            request: RequestId(8),
            client: "alice".into(),
            expires_at: t(40),
        }];
        let changes = book.evaluate(&bad);
        assert_eq!(
            raised(&changes),
            [
                (AlertKind::PoolCapacityLow, "pool:gpu".to_owned()),
                (AlertKind::ClientSpendHigh, "client:alice".to_owned()),
                (AlertKind::QuotaUsageHigh, "quota:calls".to_owned()),
                (AlertKind::QueueBackup, "queue".to_owned()),
                (AlertKind::RequestStarving, "request:7".to_owned()),
                (AlertKind::LeaseExpiring, "request:8".to_owned()),
            ]
        );
        let AlertChange::Raised(pool) = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(pool.message, "pool gpu has 5% free (alert below 10%)");
        assert_eq!(pool.raised_at, t(10));
        // Still the same conditions: nothing new.
        bad.at = t(20);
        assert!(book.evaluate(&bad).is_empty());
        assert_eq!(book.list(&AlertFilter::default()).len(), 6);
        let levels = book.open_by_level();
        assert_eq!(levels[&AlertLevel::Info], 1);
        assert_eq!(levels[&AlertLevel::Warning], 3);
        assert_eq!(levels[&AlertLevel::Error], 1);
        assert_eq!(levels[&AlertLevel::Critical], 1);

        let changes = book.evaluate(&quiet(30));
        assert_eq!(resolved(&changes).len(), 6);
        for change in &changes {
            let AlertChange::Resolved(alert) = change else {
                panic!("{change:?}")
            };
            assert_eq!(alert.raised_at, t(10));
            assert_eq!(alert.resolved_at, Some(t(30)));
        }
        let open = AlertFilter {
            open_only: true,
            ..AlertFilter::default()
        };
        assert!(book.list(&open).is_empty());
        assert_eq!(book.counts().by_kind[&AlertKind::QueueBackup], 1);
        assert_eq!(book.counts().by_level[&AlertLevel::Warning], 3);

        // The same condition again is a new alert with a new id.
        let changes = book.evaluate(&bad);
        let AlertChange::Raised(again) = &changes[0] else {
            panic!()
        };
        assert_eq!(again.id, 7);
    }

    #[test]
    fn thresholds_are_strict_bounds() {
        let mut book = AlertBook::new(AlertThresholds::default());
        let mut edge = quiet(0);
        edge.pools[0].free = 0.10;
        edge.clients[0].used_ratio = 0.95;
        edge.quotas[0].usage_ratio = 0.95;
        edge.queued = 1_000;
        edge.leases = vec![LeaseObservation {
            request: RequestId(1),
            client: "alice".into(),
            expires_at: t(61),
        }];
        assert!(book.evaluate(&edge).is_empty(), "at the thresholds");
    }

    #[test]
    fn history_keeps_the_latest_resolved() {
        let mut book = AlertBook::new(AlertThresholds {
            history: 2,
            ..AlertThresholds::default()
        });
        for round in 0..3 {
            let mut bad = quiet(round * 20);
            bad.queued = 5_000;
            book.evaluate(&bad);
            book.evaluate(&quiet(round * 20 + 10));
        }
        let all = book.list(&AlertFilter::default());
        assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(book.counts().by_kind[&AlertKind::QueueBackup], 3);
    }

    #[test]
    fn filters_by_state_level_and_subject() {
        let mut book = AlertBook::new(AlertThresholds::default());
        let mut bad = quiet(0);
        bad.pools[0].free = 0.0;
        bad.queued = 2_000;
        book.evaluate(&bad);
        bad.at = t(10);
        bad.queued = 0;
        book.evaluate(&bad);
        let all = |f: AlertFilter| book.list(&f).len();
        assert_eq!(all(AlertFilter::default()), 2);
        let open_only = AlertFilter {
            open_only: true,
            ..AlertFilter::default()
        };
        assert_eq!(all(open_only), 1);
        let critical = AlertFilter {
            level: Some(AlertLevel::Critical),
            ..AlertFilter::default()
        };
        assert_eq!(book.list(&critical)[0].kind, AlertKind::QueueBackup);
        for (subject, n) in [("pool", 1), ("pool:gpu", 1), ("pool:cpu", 0), ("queue", 1)] {
            let filter = AlertFilter {
                subject: Some(subject.into()),
                ..AlertFilter::default()
            };
            assert_eq!(all(filter), n, "{subject}");
        }
    }

    #[test]
    fn deferred_work_is_overdue_only_inside_its_window() {
        let window = OffPeakWindow::new(22, 6).unwrap();
        let hour = 3_600;
        // Queued at 10:00; at 20:00 the window has not opened: its wait does not count.
        let queued = t(10 * hour);
        assert_eq!(
            overdue(RequestClass::Deferred, queued, t(20 * hour), Some(window)),
            None
        );
        // At 23:00 it counts from 22:00.
        assert_eq!(
            overdue(RequestClass::Deferred, queued, t(23 * hour), Some(window)),
            Some(Duration::from_secs(hour as u64))
        );
        // Other classes count from their arrival.
        assert_eq!(
            overdue(RequestClass::Batch, queued, t(20 * hour), Some(window)),
            Some(Duration::from_secs(10 * hour as u64))
        );
    }

    #[test]
    fn the_book_round_trips_through_serde() {
        let mut book = AlertBook::new(AlertThresholds::default());
        let mut bad = quiet(0);
        bad.pools[0].free = 0.0;
        book.evaluate(&bad);
        let json = serde_json::to_string(&book).unwrap();
        let back: AlertBook = serde_json::from_str(&json).unwrap();
        assert_eq!(back, book);
    }
}
