use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use super::{ClientId, CostEntryId, Money, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostType {
    ApiUsage,
    Hosting,
    Booking,
    License,
    Other,
}

impl CostType {
    pub fn as_str(self) -> &'static str {
        match self {
            CostType::ApiUsage => "api_usage",
            CostType::Hosting => "hosting",
            CostType::Booking => "booking",
            CostType::License => "license",
            CostType::Other => "other",
        }
    }
}

impl fmt::Display for CostType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Free-form notes on a cost entry: any JSON values (the seed sends numbers, such as
/// `{"tokens": 1500}`), kept as given and in key order.
pub type Metadata = BTreeMap<String, serde_json::Value>;

fn default_currency() -> String {
    "USD".to_owned()
}

/// One line of the cost ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEntry {
    pub id: CostEntryId,
    pub client: ClientId,
    #[serde(rename = "type")]
    pub cost_type: CostType,
    pub category: String,
    pub amount: Money,
    #[serde(default = "default_currency")]
    pub currency: String,
    pub at: Timestamp,
    #[serde(default)]
    pub metadata: Metadata,
    /// What the charge was for, in words (the seed's `description`).
    #[serde(default)]
    pub description: String,
}
