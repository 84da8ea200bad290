use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::error::{ensure, ensure_name};
use super::{Money, ResourceId, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Server,
    Gpu,
    Service,
    License,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    Available,
    Maintenance,
    Offline,
}

fn default_max_booking_hours() -> u32 {
    24
}

/// A shared machine or service in the registry, bookable by time slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: ResourceId,
    pub name: String,
    /// What it is; the seed calls this `type`.
    #[serde(alias = "type")]
    pub kind: ResourceKind,
    /// What it is for, in words (the seed's `description`).
    #[serde(default)]
    pub description: String,
    /// Who looks after it (the seed's `owner`), if anyone is named.
    #[serde(default)]
    pub owner: Option<String>,
    /// Free-form specifications (`gpu_model`, `memory_gb`: 80, …) as any JSON values,
    /// kept in key order.
    #[serde(default)]
    pub specs: BTreeMap<String, serde_json::Value>,
    #[serde(default = "default_status")]
    pub status: ResourceStatus,
    pub cost_per_hour: Money,
    #[serde(default = "default_max_booking_hours")]
    pub max_booking_hours: u32,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_status() -> ResourceStatus {
    ResourceStatus::Available
}

impl Resource {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let owner = format!("resource[{}]", self.id);
        let within = |e: ValidationError| e.within(&owner);
        ensure_name("id", self.id.as_str()).map_err(within)?;
        ensure_name("name", &self.name).map_err(within)?;
        ensure(
            !self.cost_per_hour.is_negative(),
            "cost_per_hour",
            self.cost_per_hour,
            "zero or more",
        )
        .map_err(within)?;
        ensure(
            self.max_booking_hours > 0,
            "max_booking_hours",
            self.max_booking_hours,
            "at least 1",
        )
        .map_err(within)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_validates() {
        let r: Resource = ron::from_str(
            "(id: \"gpu-1\", name: \"A100 #1\", kind: gpu, cost_per_hour: 2.5, specs: {\"memory_gb\": \"80\"})",
        )
        .unwrap();
        assert_eq!(r.status, ResourceStatus::Available);
        assert_eq!(r.max_booking_hours, 24);
        assert_eq!(r.cost_per_hour, Money::from_micros(2_500_000));
        r.validate().unwrap();
    }

    #[test]
    fn zero_max_booking_hours_is_refused() {
        let mut r: Resource =
            ron::from_str("(id: \"s\", name: \"s\", kind: server, cost_per_hour: 1)").unwrap();
        r.max_booking_hours = 0;
        assert_eq!(
            r.validate().unwrap_err().field,
            "resource[s].max_booking_hours"
        );
    }
}
