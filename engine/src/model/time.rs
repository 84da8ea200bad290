use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use super::ValidationError;

/// An instant in UTC, as integer nanoseconds since the Unix epoch.
///
/// Policies take it as an argument; only the `Clock` produces the current one. Integer
/// nanoseconds keep the simulator exact and cheap; calendar maths goes through chrono.
/// Files and reports write it as RFC 3339 (`2026-11-24T09:00:00Z`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(0);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    pub fn from_secs_f64(secs: f64) -> Self {
        Timestamp((secs * 1e9).round() as i64)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        // Out-of-range instants (beyond year 2262) saturate rather than wrap.
        Timestamp(at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        }))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_nanos(self.0)
    }

    /// Parses RFC 3339, e.g. `2026-11-24T09:00:00Z`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        DateTime::parse_from_rfc3339(text)
            .map(|at| Self::from_datetime(at.with_timezone(&Utc)))
            .map_err(|e| {
                ValidationError::new(
                    "timestamp",
                    format!("{text:?}"),
                    format!("an RFC 3339 instant such as 2026-11-24T09:00:00Z ({e})"),
                )
            })
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    pub fn saturating_add(self, span: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(span.as_nanos()).unwrap_or(i64::MAX)),
        )
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, span: Duration) -> Timestamp {
        self.saturating_add(span)
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, span: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(span.as_nanos()).unwrap_or(i64::MAX)),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.to_datetime();
        if self.0 % 1_000_000_000 == 0 {
            write!(f, "{}", at.format("%Y-%m-%dT%H:%M:%SZ"))
        } else {
            write!(
                f,
                "{}",
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            )
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Binary forms (snapshots) keep the exact nanoseconds; text forms are RFC 3339.
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            return i64::deserialize(deserializer).map(Timestamp);
        }
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp::parse("2026-01-31T12:30:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-01-31T12:30:00Z");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let offset = Timestamp::parse("2026-01-31T13:30:00+01:00").unwrap();
        assert_eq!(offset, t);
    }

    #[test]
    fn bad_text_names_what_was_expected() {
        let err = Timestamp::parse("yesterday").unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_nanos(5);
        assert_eq!(t.since(Timestamp::from_nanos(10)), Duration::ZERO);
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
        assert_eq!((t + Duration::from_nanos(7)).nanos(), 12);
    }
}
