use serde::{Deserialize, Serialize};
use std::fmt;

use super::error::{ensure, ensure_fraction, ensure_name};
use super::{ClientId, QuotaId, ValidationError};

/// What a quota counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    ApiCalls,
    Tokens,
    /// Money spent, counted in micro-units.
    Cost,
    Storage,
    ComputeMs,
    /// Any other metric, by name.
    Named(String),
}

impl Metric {
    pub fn parse(name: &str) -> Metric {
        match name {
            "api_calls" => Metric::ApiCalls,
            "tokens" => Metric::Tokens,
            "cost" => Metric::Cost,
            "storage" => Metric::Storage,
            "compute_ms" => Metric::ComputeMs,
            other => Metric::Named(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Metric::ApiCalls => "api_calls",
            Metric::Tokens => "tokens",
            Metric::Cost => "cost",
            Metric::Storage => "storage",
            Metric::ComputeMs => "compute_ms",
            Metric::Named(name) => name,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Calendar period after which a quota's usage resets (UTC; weeks start on Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

/// Whom a quota applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaScope {
    Global,
    Client(ClientId),
}

fn default_warning_threshold() -> f64 {
    0.8
}

fn default_true() -> bool {
    true
}

/// A limit on a metric over a calendar period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    pub id: QuotaId,
    pub scope: QuotaScope,
    pub metric: Metric,
    /// Allowed amount per period, in the metric's unit (micro-units for `cost`).
    pub limit: u64,
    pub period: Period,
    /// Fraction of the limit at which a warning is raised.
    #[serde(default = "default_warning_threshold")]
    pub warning_threshold: f64,
    /// A hard stop refuses what would pass the limit; a soft one allows it with a warning.
    #[serde(default = "default_true")]
    pub hard_stop: bool,
    /// Report-only: evaluated and recorded, warns of what it would refuse, never refuses.
    #[serde(default)]
    pub shadow: bool,
    /// Unused allowance carried into the next period, at most this much (none if absent).
    #[serde(default)]
    pub carry_over_cap: Option<u64>,
}

impl Quota {
    pub fn new(
        id: impl Into<String>,
        scope: QuotaScope,
        metric: Metric,
        limit: u64,
        period: Period,
    ) -> Self {
        Quota {
            id: QuotaId::new(id),
            scope,
            metric,
            limit,
            period,
            warning_threshold: default_warning_threshold(),
            hard_stop: true,
            shadow: false,
            carry_over_cap: None,
        }
    }

    pub fn applies_to(&self, client: &ClientId) -> bool {
        match &self.scope {
            QuotaScope::Global => true,
            QuotaScope::Client(c) => c == client,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let owner = format!("quota[{}]", self.id);
        let within = |e: ValidationError| e.within(&owner);
        ensure_name("id", self.id.as_str()).map_err(within)?;
        if let QuotaScope::Client(client) = &self.scope {
            ensure_name("scope.client", client.as_str()).map_err(within)?;
        }
        if let Metric::Named(name) = &self.metric {
            ensure_name("metric", name).map_err(within)?;
        }
        ensure(self.limit > 0, "limit", self.limit, "at least 1").map_err(within)?;
        ensure_fraction("warning_threshold", self.warning_threshold).map_err(within)?;
        ensure(
            self.warning_threshold > 0.0,
            "warning_threshold",
            self.warning_threshold,
            "more than 0",
        )
        .map_err(within)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_hard_stop_warning_at_80_percent() {
        let q: Quota = ron::from_str(
            "(id: \"daily-calls\", scope: global, metric: api_calls, limit: 1000, period: daily)",
        )
        .unwrap();
        assert_eq!(q.warning_threshold, 0.8);
        assert!(q.hard_stop && !q.shadow);
        assert!(q.applies_to(&ClientId::new("anyone")));
        q.validate().unwrap();
    }

    #[test]
    fn client_scope_applies_only_to_its_client() {
        let q = Quota::new(
            "q",
            QuotaScope::Client("a".into()),
            Metric::Tokens,
            5,
            Period::Weekly,
        );
        assert!(q.applies_to(&"a".into()));
        assert!(!q.applies_to(&"b".into()));
    }

    #[test]
    fn bad_threshold_and_limit_are_named() {
        let mut q = Quota::new("q", QuotaScope::Global, Metric::Cost, 5, Period::Monthly);
        q.warning_threshold = 1.5;
        assert_eq!(
            q.validate().unwrap_err().field,
            "quota[q].warning_threshold"
        );
        q.warning_threshold = 0.8;
        q.limit = 0;
        assert_eq!(q.validate().unwrap_err().field, "quota[q].limit");
    }

    #[test]
    fn metric_names_round_trip() {
        for name in [
            "api_calls",
            "tokens",
            "cost",
            "storage",
            "compute_ms",
            "gpu_minutes",
        ] {
            assert_eq!(Metric::parse(name).as_str(), name);
        }
    }
}
