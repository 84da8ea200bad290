//! Anti-starvation priority: a request's score on 0–100 and the fair-share tracker behind it.
//!
//! The score adds four parts, each capped by its weight: tier, urgency, waiting time and
//! fair share. Waiting points grow with age so that an old request climbs past fresher ones
//! of a higher tier; fair-share points shrink as a client's recent share of use grows.

use serde::{Deserialize, Serialize};
use std::f64::consts::LN_2;
use std::time::Duration;

use crate::model::{Tier, Timestamp, ValidationError};

/// Points of a tier that scores the full tier weight (enterprise).
const MAX_TIER_POINTS: f64 = 40.0;

/// How many points each part of the score can contribute at most. Configuration, not code.
///
/// Serialized with the age as a number of seconds: `waiting_full_after_secs: 60`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriorityWeights {
    /// Points for the top tier; lower tiers get their share of it (basic a quarter).
    pub tier: f64,
    /// Points for an urgency of 1.
    pub urgency: f64,
    /// Points for a request that has waited `waiting_full_after` or longer.
    pub waiting: f64,
    /// Points for a client with no recent use.
    pub fair_share: f64,
    /// Age at which waiting points reach `waiting`.
    #[serde(rename = "waiting_full_after_secs", with = "crate::model::seconds")]
    pub waiting_full_after: Duration,
}

impl Default for PriorityWeights {
    fn default() -> Self {
        PriorityWeights {
            tier: 40.0,
            urgency: 30.0,
            waiting: 20.0,
            fair_share: 10.0,
            waiting_full_after: Duration::from_secs(60),
        }
    }
}

impl PriorityWeights {
    /// Refuses weights that are negative or not finite, that add up to more than 100 (the
    /// score must stay within 0–100), or a zero `waiting_full_after`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let parts = [
            ("tier", self.tier),
            ("urgency", self.urgency),
            ("waiting", self.waiting),
            ("fair_share", self.fair_share),
        ];
        for (field, weight) in parts {
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(ValidationError::new(
                    format!("priority_weights.{field}"),
                    weight,
                    "a finite number of points, zero or more",
                ));
            }
        }
        let total: f64 = parts.iter().map(|(_, weight)| weight).sum();
        // A hair of tolerance so that weights like 33.3 + 33.3 + 33.4 are accepted.
        if total > 100.0 + 1e-9 {
            return Err(ValidationError::new(
                "priority_weights",
                format!("a total of {total} points"),
                "tier + urgency + waiting + fair_share of at most 100",
            ));
        }
        if self.waiting_full_after.is_zero() {
            return Err(ValidationError::new(
                "priority_weights.waiting_full_after_secs",
                0,
                "a duration above zero",
            ));
        }
        Ok(())
    }
}

/// A request's priority on 0–100: higher is served first within its class.
///
/// `urgency` and `recent_share` are clamped to 0..1 (NaN counts as 0). Waiting points rise
/// linearly from 0 at enqueue to `weights.waiting` at `weights.waiting_full_after`, then stay
/// flat. The result is `static_points + waiting_points`, see those for the parts.
pub fn score(
    weights: &PriorityWeights,
    tier: Tier,
    urgency: f64,
    waited: Duration,
    recent_share: f64,
) -> f64 {
    // The clamp only matters within float tolerance of a total of exactly 100.
    (static_points(weights, tier, urgency, recent_share) + waiting_points(weights, waited))
        .min(100.0)
}

/// The part of the score that does not change while a request waits (tier, urgency and
/// fair share, for the share as it stands now).
///
/// Until a request reaches `waiting_full_after` its score is
/// `static_points + rate × (now − enqueued_at)` with one `rate` for all requests, so a
/// scheduler may order a queue by `static_points − rate × enqueued_at`, a key that does not
/// change with time, as long as no request in it has reached the cap.
#[expect(
    clippy::manual_clamp,
    reason = "clamp keeps NaN; max/min turn it into 0"
)]
pub fn static_points(
    weights: &PriorityWeights,
    tier: Tier,
    urgency: f64,
    recent_share: f64,
) -> f64 {
    // `f64::max` returns the other operand for NaN, so NaN inputs become 0 without a branch.
    let urgency = urgency.max(0.0).min(1.0);
    let recent_share = recent_share.max(0.0).min(1.0);
    weights.tier * tier.priority_points() / MAX_TIER_POINTS
        + weights.urgency * urgency
        + weights.fair_share * (1.0 - recent_share)
}

/// Points for having waited `waited`: linear up to `weights.waiting`, reached at
/// `weights.waiting_full_after`, flat afterwards.
pub fn waiting_points(weights: &PriorityWeights, waited: Duration) -> f64 {
    // A zero `waiting_full_after` (refused by `validate`) gives inf or NaN here, both → 1.
    let age = waited.as_secs_f64() / weights.waiting_full_after.as_secs_f64();
    weights.waiting * age.min(1.0)
}

/// An amount that halves every half-life, brought up to date only when touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Decaying {
    value: f64,
    at: Timestamp,
}

impl Decaying {
    /// The value at `now`; an earlier `now` than the last update counts as no time passed.
    fn at(self, now: Timestamp, decay_per_sec: f64) -> f64 {
        self.value * (-now.since(self.at).as_secs_f64() * decay_per_sec).exp()
    }

    fn add(&mut self, amount: f64, now: Timestamp, decay_per_sec: f64) {
        self.value = self.at(now, decay_per_sec) + amount;
        self.at = self.at.max(now);
    }
}

/// Each client's recent use, decaying exponentially: `u(t) = u(t0) · 2^(−(t−t0)/half_life)`.
///
/// Clients are dense indices (0, 1, 2, …) for speed; the tracker grows to the largest index
/// recorded, so indices must be small. Every client decays at the same rate, so the total is
/// one decaying sum and `share` is O(1).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FairShare {
    decay_per_sec: f64,
    usage: Vec<Decaying>,
    total: Decaying,
}

impl FairShare {
    pub fn new(half_life: Duration) -> Result<Self, ValidationError> {
        if half_life.is_zero() {
            return Err(ValidationError::new(
                "fair_share.half_life",
                "0s",
                "a duration above zero",
            ));
        }
        Ok(FairShare {
            decay_per_sec: LN_2 / half_life.as_secs_f64(),
            usage: Vec::new(),
            total: Decaying::default(),
        })
    }

    /// Adds `amount` of use by client `client_index` at `now`.
    pub fn record(
        &mut self,
        client_index: usize,
        amount: f64,
        now: Timestamp,
    ) -> Result<(), ValidationError> {
        if !(amount.is_finite() && amount >= 0.0) {
            return Err(ValidationError::new(
                "fair_share.amount",
                amount,
                "a finite amount of use, zero or more",
            ));
        }
        if client_index >= self.usage.len() {
            self.usage.resize(client_index + 1, Decaying::default());
        }
        self.usage[client_index].add(amount, now, self.decay_per_sec);
        self.total.add(amount, now, self.decay_per_sec);
        Ok(())
    }

    /// The client's share of all recent use at `now`, in 0..1; 0 when nothing is recorded.
    pub fn share(&self, client_index: usize, now: Timestamp) -> f64 {
        let Some(usage) = self.usage.get(client_index) else {
            return 0.0;
        };
        let total = self.total.at(now, self.decay_per_sec);
        if total > 0.0 {
            (usage.at(now, self.decay_per_sec) / total).min(1.0)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: Duration = Duration::from_secs(1);

    fn at(secs: f64) -> Timestamp {
        Timestamp::from_secs_f64(secs)
    }

    fn default_score(tier: Tier, urgency: f64, waited: Duration, share: f64) -> f64 {
        score(&PriorityWeights::default(), tier, urgency, waited, share)
    }

    #[test]
    fn extreme_inputs_stay_within_0_and_100() {
        let top = default_score(Tier::Enterprise, 1.0, Duration::MAX, 0.0);
        assert_eq!(top, 100.0);
        let bottom = default_score(Tier::Basic, 0.0, Duration::ZERO, 1.0);
        assert_eq!(bottom, 10.0);
        assert_eq!(
            default_score(Tier::Enterprise, 7.0, Duration::MAX, -3.0),
            100.0
        );
        assert_eq!(default_score(Tier::Basic, -7.0, Duration::ZERO, 3.0), 10.0);
        let nan = default_score(Tier::Basic, f64::NAN, Duration::ZERO, f64::NAN);
        assert_eq!(nan, 20.0, "NaN urgency and share count as 0");
        let zeros = PriorityWeights {
            tier: 0.0,
            urgency: 0.0,
            waiting: 0.0,
            fair_share: 0.0,
            ..PriorityWeights::default()
        };
        assert_eq!(
            score(&zeros, Tier::Enterprise, 1.0, Duration::MAX, 0.0),
            0.0
        );
    }

    #[test]
    fn each_part_spans_its_weight() {
        let w = PriorityWeights::default();
        let tiers: Vec<f64> = Tier::ALL
            .iter()
            .map(|&t| static_points(&w, t, 0.0, 1.0))
            .collect();
        assert_eq!(tiers, [10.0, 20.0, 30.0, 40.0]);
        assert_eq!(static_points(&w, Tier::Basic, 0.5, 1.0), 10.0 + 15.0);
        assert_eq!(static_points(&w, Tier::Basic, 1.0, 1.0), 10.0 + 30.0);
        assert_eq!(static_points(&w, Tier::Basic, 0.0, 0.0), 10.0 + 10.0);
        assert_eq!(static_points(&w, Tier::Basic, 0.0, 0.25), 10.0 + 7.5);
        assert_eq!(waiting_points(&w, Duration::ZERO), 0.0);
        assert_eq!(waiting_points(&w, 15 * SEC), 5.0);
        assert_eq!(waiting_points(&w, 60 * SEC), 20.0);
        assert_eq!(waiting_points(&w, 3600 * SEC), 20.0, "flat after the cap");
        let s = score(&w, Tier::Standard, 0.5, 30 * SEC, 0.5);
        assert_eq!(s, 20.0 + 15.0 + 10.0 + 5.0);
    }

    #[test]
    fn score_rises_with_age_and_urgency() {
        let mut last = -1.0;
        for secs in [0, 1, 10, 30, 59, 60, 61, 1000] {
            let s = default_score(Tier::Standard, 0.3, secs * SEC, 0.2);
            assert!(s >= last, "{secs}s: {s} < {last}");
            last = s;
        }
        let low = default_score(Tier::Standard, 0.2, 5 * SEC, 0.2);
        let high = default_score(Tier::Standard, 0.9, 5 * SEC, 0.2);
        assert!(high > low);
    }

    #[test]
    fn old_basic_requests_climb_past_fresh_premium_ones() {
        let age = 10 * SEC;
        assert!(
            default_score(Tier::Premium, 0.5, age, 0.0) > default_score(Tier::Basic, 0.5, age, 0.0)
        );
        // At full age the 20 waiting points cover the 20-point gap between basic and premium:
        // equal scores, so ties must go to the older request.
        let old_basic = default_score(Tier::Basic, 0.5, 60 * SEC, 0.0);
        let fresh_premium = default_score(Tier::Premium, 0.5, Duration::ZERO, 0.0);
        assert_eq!(old_basic, fresh_premium);
        // Any recent use by the premium client tips it.
        let busy_premium = default_score(Tier::Premium, 0.5, Duration::ZERO, 0.1);
        assert!(old_basic > busy_premium);
    }

    #[test]
    fn bad_weights_are_named() {
        let field_of = |w: PriorityWeights| w.validate().unwrap_err().field;
        let d = PriorityWeights::default();
        assert_eq!(d.validate(), Ok(()));
        assert_eq!(
            field_of(PriorityWeights { tier: -1.0, ..d }),
            "priority_weights.tier"
        );
        let nan_urgency = PriorityWeights {
            urgency: f64::NAN,
            ..d
        };
        assert_eq!(field_of(nan_urgency), "priority_weights.urgency");
        let inf_waiting = PriorityWeights {
            waiting: f64::INFINITY,
            ..d
        };
        assert_eq!(field_of(inf_waiting), "priority_weights.waiting");
        let over = PriorityWeights {
            fair_share: 10.5,
            ..d
        };
        let err = over.validate().unwrap_err();
        assert_eq!(err.field, "priority_weights");
        assert!(err.to_string().contains("100.5"), "{err}");
        let instant = PriorityWeights {
            waiting_full_after: Duration::ZERO,
            ..d
        };
        assert_eq!(
            field_of(instant),
            "priority_weights.waiting_full_after_secs"
        );
    }

    #[test]
    fn weights_parse_with_defaults_and_refuse_typos() {
        let w: PriorityWeights =
            ron::from_str("(urgency: 25, waiting_full_after_secs: 90)").unwrap();
        assert_eq!(w.urgency, 25.0);
        assert_eq!(w.tier, 40.0);
        assert_eq!(w.waiting_full_after, 90 * SEC);
        assert!(ron::from_str::<PriorityWeights>("(urgncy: 25)").is_err());
        let negative = ron::from_str::<PriorityWeights>("(waiting_full_after_secs: -1)");
        assert!(
            negative
                .unwrap_err()
                .to_string()
                .contains("finite number of seconds")
        );
        let json = serde_json::to_string(&PriorityWeights::default()).unwrap();
        assert_eq!(
            serde_json::from_str::<PriorityWeights>(&json).unwrap(),
            PriorityWeights::default()
        );
    }

    #[test]
    fn fair_share_splits_use_and_halves_each_half_life() {
        let mut fair = FairShare::new(10 * SEC).unwrap();
        assert_eq!(fair.share(0, at(0.0)), 0.0, "nothing recorded");
        fair.record(0, 30.0, at(0.0)).unwrap();
        fair.record(2, 10.0, at(0.0)).unwrap();
        assert_eq!(fair.share(0, at(0.0)), 0.75);
        assert_eq!(fair.share(1, at(0.0)), 0.0);
        assert_eq!(fair.share(2, at(0.0)), 0.25);
        assert_eq!(fair.share(9, at(0.0)), 0.0, "never seen");
        // After one half-life client 0 has 15 and client 2 has 5, then adds 15: 15 of 35.
        fair.record(2, 15.0, at(10.0)).unwrap();
        assert!((fair.share(0, at(10.0)) - 15.0 / 35.0).abs() < 1e-12);
        assert!((fair.share(2, at(10.0)) - 20.0 / 35.0).abs() < 1e-12);
        // Shares are unchanged by further decay alone.
        assert!((fair.share(0, at(1000.0)) - 15.0 / 35.0).abs() < 1e-9);
    }

    #[test]
    fn fair_share_decay_is_exact_to_the_half_life() {
        let mut fair = FairShare::new(10 * SEC).unwrap();
        fair.record(0, 8.0, at(0.0)).unwrap();
        assert!((fair.usage[0].at(at(10.0), fair.decay_per_sec) - 4.0).abs() < 1e-12);
        assert!((fair.total.at(at(30.0), fair.decay_per_sec) - 1.0).abs() < 1e-12);
        // Time running backwards counts as no time passed.
        assert_eq!(fair.total.at(at(-5.0), fair.decay_per_sec), 8.0);
    }

    #[test]
    fn fair_share_refuses_bad_input() {
        let err = FairShare::new(Duration::ZERO).unwrap_err();
        assert_eq!(err.field, "fair_share.half_life");
        let mut fair = FairShare::new(SEC).unwrap();
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                fair.record(0, bad, at(0.0)).unwrap_err().field,
                "fair_share.amount"
            );
        }
        assert_eq!(fair.share(0, at(0.0)), 0.0, "nothing was recorded");
    }

    fn valid_weights() -> impl Strategy<Value = PriorityWeights> {
        (
            0.0..=40.0,
            0.0..=30.0,
            0.0..=20.0,
            0.0..=10.0,
            1u64..10_000_000_000,
        )
            .prop_map(
                |(tier, urgency, waiting, fair_share, nanos)| PriorityWeights {
                    tier,
                    urgency,
                    waiting,
                    fair_share,
                    waiting_full_after: Duration::from_nanos(nanos),
                },
            )
    }

    proptest! {
        #[test]
        fn score_stays_within_0_and_100_and_never_falls_with_age(
            weights in valid_weights(),
            tier in prop::sample::select(Tier::ALL.to_vec()),
            urgency in prop::num::f64::ANY,
            share in prop::num::f64::ANY,
            younger in any::<u64>(),
            extra in any::<u64>(),
        ) {
            let younger = Duration::from_nanos(younger);
            let older = younger.saturating_add(Duration::from_nanos(extra));
            let young_score = score(&weights, tier, urgency, younger, share);
            let old_score = score(&weights, tier, urgency, older, share);
            prop_assert!((0.0..=100.0).contains(&young_score), "{young_score}");
            prop_assert!((0.0..=100.0).contains(&old_score), "{old_score}");
            prop_assert!(old_score >= young_score, "{old_score} < {young_score}");
        }
    }
}
