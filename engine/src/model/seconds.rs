//! Serde for a `Duration` written as a number of seconds (`cooldown: 60`), as every
//! configuration in files writes its spans.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};
use std::time::Duration;

pub fn serialize<S: Serializer>(span: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    // Binary forms (snapshots) keep the exact nanoseconds.
    if serializer.is_human_readable() {
        serializer.serialize_f64(span.as_secs_f64())
    } else {
        span.serialize(serializer)
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    if !deserializer.is_human_readable() {
        return Duration::deserialize(deserializer);
    }
    let secs = f64::deserialize(deserializer)?;
    Duration::try_from_secs_f64(secs).map_err(|_| {
        D::Error::custom(format!(
            "got {secs} seconds, expected a finite number of seconds, zero or more"
        ))
    })
}
