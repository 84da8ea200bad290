use serde::{Deserialize, Serialize};

use super::error::{ensure, ensure_name};
use super::{ClientId, Money, ValidationError};

/// Service tier of a client: its base priority, concurrency and default monthly budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Basic,
    Standard,
    Premium,
    Enterprise,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Basic, Tier::Standard, Tier::Premium, Tier::Enterprise];

    /// Priority points this tier contributes to a request's score (0–40).
    pub fn priority_points(self) -> f64 {
        match self {
            Tier::Basic => 10.0,
            Tier::Standard => 20.0,
            Tier::Premium => 30.0,
            Tier::Enterprise => 40.0,
        }
    }

    pub fn max_concurrent(self) -> u32 {
        match self {
            Tier::Basic => 5,
            Tier::Standard => 20,
            Tier::Premium => 50,
            Tier::Enterprise => 100,
        }
    }

    /// Monthly budget when the client sets none; enterprise budgets are custom (none).
    pub fn default_monthly_budget(self) -> Option<Money> {
        match self {
            Tier::Basic => Some(Money::from_units(100)),
            Tier::Standard => Some(Money::from_units(500)),
            Tier::Premium => Some(Money::from_units(1000)),
            Tier::Enterprise => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "basic",
            Tier::Standard => "standard",
            Tier::Premium => "premium",
            Tier::Enterprise => "enterprise",
        }
    }
}

fn default_credits() -> Money {
    Money::from_units(10_000)
}

/// An agent, user or tenant that spends resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    pub id: ClientId,
    pub tier: Tier,
    /// Credit balance available for reservations.
    #[serde(default = "default_credits")]
    pub credits: Money,
    /// Monthly spending cap; `None` means the tier's default.
    #[serde(default)]
    pub monthly_budget: Option<Money>,
    /// Concurrent requests allowed; `None` means the tier's default.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

impl Client {
    pub fn new(id: impl Into<String>, tier: Tier) -> Self {
        Client {
            id: ClientId::new(id),
            tier,
            credits: default_credits(),
            monthly_budget: None,
            max_concurrent: None,
        }
    }

    pub fn effective_monthly_budget(&self) -> Option<Money> {
        self.monthly_budget.or(self.tier.default_monthly_budget())
    }

    pub fn effective_max_concurrent(&self) -> u32 {
        self.max_concurrent.unwrap_or(self.tier.max_concurrent())
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let owner = format!("client[{}]", self.id);
        ensure_name("id", self.id.as_str()).map_err(|e| e.within(&owner))?;
        ensure(
            !self.credits.is_negative(),
            "credits",
            self.credits,
            "zero or more",
        )
        .map_err(|e| e.within(&owner))?;
        if let Some(budget) = self.monthly_budget {
            ensure(
                !budget.is_negative(),
                "monthly_budget",
                budget,
                "zero or more",
            )
            .map_err(|e| e.within(&owner))?;
        }
        if let Some(n) = self.max_concurrent {
            ensure(n > 0, "max_concurrent", n, "at least 1").map_err(|e| e.within(&owner))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_defaults_follow_the_design() {
        let c = Client::new("a", Tier::Standard);
        assert_eq!(c.effective_monthly_budget(), Some(Money::from_units(500)));
        assert_eq!(c.effective_max_concurrent(), 20);
        assert_eq!(
            Client::new("e", Tier::Enterprise).effective_monthly_budget(),
            None
        );
        assert_eq!(c.credits, Money::from_units(10_000));
    }

    #[test]
    fn negative_credits_are_refused_with_the_field_named() {
        let mut c = Client::new("a", Tier::Basic);
        c.credits = Money::from_units(-1);
        let err = c.validate().unwrap_err();
        assert_eq!(err.field, "client[a].credits");
        assert!(err.to_string().contains("zero or more"));
    }

    #[test]
    fn parses_from_ron_with_defaults() {
        let c: Client = ron::from_str("(id: \"bot\", tier: premium)").unwrap();
        assert_eq!(c.tier, Tier::Premium);
        assert_eq!(c.credits, Money::from_units(10_000));
    }
}
