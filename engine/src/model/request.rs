use serde::{Deserialize, Serialize};
use std::fmt;

use super::error::{ensure, ensure_fraction};
use super::{ClientId, Money, PoolId, RequestId, ValidationError};

/// Queue class of a request, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestClass {
    Immediate,
    Fast,
    Normal,
    Batch,
    /// Runs off-peak.
    Deferred,
}

impl RequestClass {
    pub const ALL: [RequestClass; 5] = [
        RequestClass::Immediate,
        RequestClass::Fast,
        RequestClass::Normal,
        RequestClass::Batch,
        RequestClass::Deferred,
    ];

    /// Position in [`RequestClass::ALL`], for per-class arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestClass::Immediate => "immediate",
            RequestClass::Fast => "fast",
            RequestClass::Normal => "normal",
            RequestClass::Batch => "batch",
            RequestClass::Deferred => "deferred",
        }
    }
}

impl fmt::Display for RequestClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount drawn from one pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    pub pool: PoolId,
    pub amount: u64,
}

/// A cheaper way to serve the same request (a model downgrade).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub needs: Vec<Need>,
    #[serde(default)]
    pub estimated_cost: Option<Money>,
}

/// Like requests of one client gathered into one dispatch: a request joins the group of
/// its name and waits until `max_size` members have joined or the oldest has waited
/// `max_wait_secs` (the same rule as a scenario's `batch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchGroup {
    pub name: String,
    pub max_size: u32,
    pub max_wait_secs: f64,
}

impl BatchGroup {
    pub fn validate(&self) -> Result<(), ValidationError> {
        super::error::ensure_name("name", &self.name)?;
        ensure(self.max_size >= 2, "max_size", self.max_size, "at least 2")?;
        ensure(
            self.max_wait_secs.is_finite() && self.max_wait_secs >= 0.0,
            "max_wait_secs",
            self.max_wait_secs,
            "zero or more seconds",
        )
    }
}

/// A unit of work a client asks to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: RequestId,
    pub client: ClientId,
    pub class: RequestClass,
    /// 0 (can wait) to 1 (needed now).
    #[serde(default)]
    pub urgency: f64,
    pub needs: Vec<Need>,
    /// `None` when the cost cannot be estimated in advance.
    #[serde(default)]
    pub estimated_cost: Option<Money>,
    #[serde(default)]
    pub alternative: Option<Alternative>,
    /// Gather with like requests into one dispatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchGroup>,
    /// Once started, it must complete or be renewed within this many seconds, or it
    /// expires and its capacity goes back (live engine; its default lease if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_secs: Option<f64>,
}

impl Request {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let owner = format!("request[{}]", self.id);
        let within = |e: ValidationError| e.within(&owner);
        ensure_fraction("urgency", self.urgency).map_err(within)?;
        validate_needs("needs", &self.needs).map_err(within)?;
        if let Some(cost) = self.estimated_cost {
            ensure(!cost.is_negative(), "estimated_cost", cost, "zero or more").map_err(within)?;
        }
        if let Some(lease) = self.lease_secs {
            ensure_lease("lease_secs", lease).map_err(within)?;
        }
        if let Some(alt) = &self.alternative {
            validate_needs("alternative.needs", &alt.needs).map_err(within)?;
            if let Some(cost) = alt.estimated_cost {
                ensure(
                    !cost.is_negative(),
                    "alternative.estimated_cost",
                    cost,
                    "zero or more",
                )
                .map_err(within)?;
            }
        }
        if let Some(batch) = &self.batch {
            batch
                .validate()
                .map_err(|e| e.within(format!("{owner}.batch")))?;
        }
        Ok(())
    }
}

fn validate_needs(field: &str, needs: &[Need]) -> Result<(), ValidationError> {
    for (i, need) in needs.iter().enumerate() {
        ensure(
            !need.pool.as_str().is_empty(),
            &format!("{field}[{i}].pool"),
            "\"\"",
            "a pool name",
        )?;
        let repeated = needs[..i].iter().any(|n| n.pool == need.pool);
        ensure(
            !repeated,
            &format!("{field}[{i}].pool"),
            &need.pool,
            "each pool named at most once",
        )?;
    }
    Ok(())
}

/// A lease length: seconds, finite and above zero.
pub fn ensure_lease(field: &str, secs: f64) -> Result<(), ValidationError> {
    ensure(
        secs.is_finite() && secs > 0.0 && secs <= 365.0 * 86_400.0,
        field,
        secs,
        "a number of seconds above zero, at most a year",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            id: RequestId(7),
            client: "a".into(),
            class: RequestClass::Normal,
            urgency: 0.5,
            needs: vec![Need {
                pool: "gpt4".into(),
                amount: 800,
            }],
            estimated_cost: Some(Money::from_micros(24_000)),
            alternative: None,
            batch: None,
            lease_secs: None,
        }
    }

    #[test]
    fn classes_index_in_order() {
        for (i, class) in RequestClass::ALL.iter().enumerate() {
            assert_eq!(class.index(), i);
        }
    }

    #[test]
    fn urgency_out_of_range_is_refused() {
        let mut r = request();
        r.urgency = 1.2;
        let err = r.validate().unwrap_err();
        assert_eq!(err.field, "request[7].urgency");
        assert_eq!(err.value, "1.2");
    }

    #[test]
    fn a_pool_named_twice_is_refused() {
        let mut r = request();
        r.needs.push(r.needs[0].clone());
        assert_eq!(r.validate().unwrap_err().field, "request[7].needs[1].pool");
    }
}
