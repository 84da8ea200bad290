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

/// A client's monthly spending cap, enforced as a hard monthly cost quota of its own.
///
/// Written as a number (the cap), `None` / `null` (no cap at all), or left out (the tier's
/// default: $100 basic, $500 standard, $1,000 premium, none for enterprise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MonthlyBudget {
    #[default]
    TierDefault,
    Unlimited,
    Limit(Money),
}

impl MonthlyBudget {
    pub fn is_tier_default(&self) -> bool {
        *self == MonthlyBudget::TierDefault
    }
}

impl Serialize for MonthlyBudget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            // Skipped by the field; written as absent it reads back the same.
            MonthlyBudget::TierDefault | MonthlyBudget::Unlimited => serializer.serialize_none(),
            MonthlyBudget::Limit(money) => serializer.serialize_some(money),
        }
    }
}

impl<'de> Deserialize<'de> for MonthlyBudget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Present: a cap or none at all. Absent is the field's default, the tier's.
        Ok(match Option::<Money>::deserialize(deserializer)? {
            Some(money) => MonthlyBudget::Limit(money),
            None => MonthlyBudget::Unlimited,
        })
    }
}

impl From<Money> for MonthlyBudget {
    fn from(money: Money) -> Self {
        MonthlyBudget::Limit(money)
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
    /// Monthly spending cap: the tier's default unless set (`None` for no cap).
    #[serde(default, skip_serializing_if = "MonthlyBudget::is_tier_default")]
    pub monthly_budget: MonthlyBudget,
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
            monthly_budget: MonthlyBudget::TierDefault,
            max_concurrent: None,
        }
    }

    /// The cap in force: its own, its tier's, or none.
    pub fn effective_monthly_budget(&self) -> Option<Money> {
        match self.monthly_budget {
            MonthlyBudget::TierDefault => self.tier.default_monthly_budget(),
            MonthlyBudget::Unlimited => None,
            MonthlyBudget::Limit(money) => Some(money),
        }
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
        if let MonthlyBudget::Limit(budget) = self.monthly_budget {
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
    fn a_budget_is_the_tiers_unless_set_or_turned_off() {
        let parse = |text: &str| -> Client {
            let options = ron::Options::default()
                .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
            options.from_str(text).unwrap()
        };
        let default = parse("(id: \"a\", tier: basic)");
        assert_eq!(
            default.effective_monthly_budget(),
            Some(Money::from_units(100))
        );
        let own = parse("(id: \"a\", tier: basic, monthly_budget: 250)");
        assert_eq!(own.effective_monthly_budget(), Some(Money::from_units(250)));
        let none = parse("(id: \"a\", tier: basic, monthly_budget: None)");
        assert_eq!(none.effective_monthly_budget(), None);
        // Through JSON (the journal, HTTP, Python): each reads back as written.
        for client in [default, own, none] {
            let text = serde_json::to_string(&client).unwrap();
            let back: Client = serde_json::from_str(&text).unwrap();
            assert_eq!(back, client, "{text}");
        }
        let null: Client =
            serde_json::from_str(r#"{"id": "a", "tier": "premium", "monthly_budget": null}"#)
                .unwrap();
        assert_eq!(null.monthly_budget, MonthlyBudget::Unlimited);
    }

    #[test]
    fn parses_from_ron_with_defaults() {
        let c: Client = ron::from_str("(id: \"bot\", tier: premium)").unwrap();
        assert_eq!(c.tier, Tier::Premium);
        assert_eq!(c.credits, Money::from_units(10_000));
    }
}
