//! Random quantities of a scenario (amounts, service times), drawn from the run's one RNG.

use rand::Rng;
use rand::RngExt;
use rand_distr::{Distribution as _, Exp, LogNormal, Pareto};
use serde::{Deserialize, Serialize};

use crate::model::ValidationError;

/// A distribution as written in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    Constant(f64),
    Uniform {
        min: f64,
        max: f64,
    },
    Exponential {
        mean: f64,
    },
    /// Log-normal given the mean and standard deviation of the underlying normal.
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// Pareto with minimum `scale` and tail index `shape`.
    Pareto {
        scale: f64,
        shape: f64,
    },
}

/// A validated distribution, ready to sample.
#[derive(Debug, Clone, Copy)]
pub enum Sampler {
    Constant(f64),
    Uniform { min: f64, span: f64 },
    Exponential(Exp<f64>),
    LogNormal(LogNormal<f64>),
    Pareto(Pareto<f64>),
}

impl Distribution {
    /// Checks the parameters; `field` names where the distribution was written.
    pub fn sampler(&self, field: &str) -> Result<Sampler, ValidationError> {
        let bad = |what: &str, value: f64, expected: &str| {
            ValidationError::new(format!("{field}.{what}"), value, expected)
        };
        let positive = |what: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(value)
            } else {
                Err(bad(what, value, "a positive finite number"))
            }
        };
        Ok(match *self {
            Distribution::Constant(value) => {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(ValidationError::new(field, value, "a finite number >= 0"));
                }
                Sampler::Constant(value)
            }
            Distribution::Uniform { min, max } => {
                if !(min.is_finite() && min >= 0.0) {
                    return Err(bad("min", min, "a finite number >= 0"));
                }
                if !(max.is_finite() && max >= min) {
                    return Err(bad("max", max, &format!("a finite number >= min ({min})")));
                }
                Sampler::Uniform {
                    min,
                    span: max - min,
                }
            }
            Distribution::Exponential { mean } => Sampler::Exponential(
                Exp::new(1.0 / positive("mean", mean)?)
                    .map_err(|_| bad("mean", mean, "a positive finite number"))?,
            ),
            Distribution::LogNormal { mu, sigma } => {
                if !mu.is_finite() {
                    return Err(bad("mu", mu, "a finite number"));
                }
                if !(sigma.is_finite() && sigma >= 0.0) {
                    return Err(bad("sigma", sigma, "a finite number >= 0"));
                }
                Sampler::LogNormal(
                    LogNormal::new(mu, sigma).map_err(|_| bad("sigma", sigma, "a number >= 0"))?,
                )
            }
            Distribution::Pareto { scale, shape } => Sampler::Pareto(
                Pareto::new(positive("scale", scale)?, positive("shape", shape)?)
                    .map_err(|_| bad("shape", shape, "a positive finite number"))?,
            ),
        })
    }

    /// The distribution's mean, where it has one.
    pub fn mean(&self) -> Option<f64> {
        match *self {
            Distribution::Constant(v) => Some(v),
            Distribution::Uniform { min, max } => Some((min + max) / 2.0),
            Distribution::Exponential { mean } => Some(mean),
            Distribution::LogNormal { mu, sigma } => Some((mu + sigma * sigma / 2.0).exp()),
            Distribution::Pareto { scale, shape } => {
                (shape > 1.0).then(|| shape * scale / (shape - 1.0))
            }
        }
    }
}

impl Sampler {
    /// Draws one value. A constant draws nothing, so adding a constant field to a scenario
    /// does not shift the random stream of everything after it.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Sampler::Constant(v) => *v,
            Sampler::Uniform { min, span } => min + span * rng.random::<f64>(),
            Sampler::Exponential(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
            Sampler::Pareto(d) => d.sample(rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn mean_of(d: &Distribution, n: usize) -> f64 {
        let s = d.sampler("x").unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        (0..n).map(|_| s.sample(&mut rng)).sum::<f64>() / n as f64
    }

    #[test]
    fn sample_means_match_the_distribution_means() {
        for d in [
            Distribution::Constant(3.0),
            Distribution::Uniform { min: 1.0, max: 5.0 },
            Distribution::Exponential { mean: 2.0 },
            Distribution::LogNormal {
                mu: 0.0,
                sigma: 0.5,
            },
            Distribution::Pareto {
                scale: 1.0,
                shape: 3.0,
            },
        ] {
            let expected = d.mean().unwrap();
            let got = mean_of(&d, 200_000);
            assert!(
                (got - expected).abs() / expected < 0.02,
                "{d:?}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let err = Distribution::Exponential { mean: 0.0 }
            .sampler("kinds[0].service_secs")
            .unwrap_err();
        assert_eq!(err.field, "kinds[0].service_secs.mean");
        let err = Distribution::Uniform { min: 5.0, max: 1.0 }
            .sampler("n")
            .unwrap_err();
        assert_eq!(err.field, "n.max");
        assert!(err.expected.contains(">= min (5)"));
        assert!(Distribution::Constant(f64::NAN).sampler("c").is_err());
        assert!(
            Distribution::Pareto {
                scale: 1.0,
                shape: -1.0
            }
            .sampler("p")
            .is_err()
        );
    }
}
