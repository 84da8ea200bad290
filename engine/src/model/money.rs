use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use super::ValidationError;

/// An amount of money (or credit) in integer micro-units of the currency: $1 = 1,000,000.
///
/// Sums never drift. Files and reports write it as a decimal number of whole units
/// (`0.03` is three cents); the conversion happens only at that boundary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);
    pub const MICROS_PER_UNIT: i64 = 1_000_000;

    pub const fn from_micros(micros: i64) -> Self {
        Money(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Whole currency units, e.g. `Money::from_units(100)` is $100.
    pub const fn from_units(units: i64) -> Self {
        Money(units * Self::MICROS_PER_UNIT)
    }

    /// Converts a decimal amount, rounding to the nearest micro-unit.
    pub fn try_from_f64(amount: f64) -> Result<Self, ValidationError> {
        let micros = (amount * Self::MICROS_PER_UNIT as f64).round();
        if amount.is_finite() && micros.abs() < 9.0e18 {
            Ok(Money(micros as i64))
        } else {
            Err(ValidationError::new(
                "amount",
                amount,
                "a finite amount below 9e12 currency units",
            ))
        }
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / Self::MICROS_PER_UNIT as f64
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn min(self, other: Money) -> Money {
        Money(self.0.min(other.0))
    }

    pub fn max(self, other: Money) -> Money {
        Money(self.0.max(other.0))
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }

    /// `self × numerator / denominator`, rounded half away from zero, computed in 128 bits.
    /// Used for prices per thousand units and per hour.
    pub fn mul_div(self, numerator: i128, denominator: i128) -> Money {
        debug_assert!(denominator != 0);
        let product = self.0 as i128 * numerator;
        let (quotient, remainder) = (product / denominator, product % denominator);
        let rounded = if 2 * remainder.abs() >= denominator.abs() {
            quotient + product.signum() * denominator.signum()
        } else {
            quotient
        };
        Money(rounded.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    /// `self × ratio` rounded to the nearest micro-unit (for ratios such as 0.8).
    pub fn scale(self, ratio: f64) -> Money {
        Money((self.0 as f64 * ratio).round() as i64)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        self.0 -= rhs.0;
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl std::ops::Mul<i64> for Money {
    type Output = Money;
    fn mul(self, rhs: i64) -> Money {
        Money(self.0 * rhs)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money(iter.map(|m| m.0).sum())
    }
}

/// A run of digits with thousands separated by commas, as people read counts: 1,384.
pub fn grouped(digits: &str) -> String {
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Money as people read it: to the cent with thousands grouped ($1,384.10). An amount
/// under a cent keeps its significant digits ($0.00003) rather than reading as nothing;
/// files and APIs carry the exact micro-units (see `Serialize`).
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MICROS_PER_CENT: u64 = 10_000;
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        if abs > 0 && abs < MICROS_PER_CENT {
            let digits = format!("{abs:06}");
            return write!(f, "{sign}$0.{}", digits.trim_end_matches('0'));
        }
        // Half a cent and more rounds up, away from zero.
        let cents = (abs + MICROS_PER_CENT / 2) / MICROS_PER_CENT;
        let units = grouped(&(cents / 100).to_string());
        write!(f, "{sign}${units}.{:02}", cents % 100)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Binary forms (snapshots) keep the exact micro-units; text forms read as money.
        if !serializer.is_human_readable() {
            serializer.serialize_i64(self.0)
        } else if self.0 % Self::MICROS_PER_UNIT == 0 {
            serializer.serialize_i64(self.0 / Self::MICROS_PER_UNIT)
        } else {
            serializer.serialize_f64(self.as_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            return i64::deserialize(deserializer).map(Money);
        }
        let amount = f64::deserialize(deserializer)?;
        Money::try_from_f64(amount).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_amounts_round_to_micros() {
        assert_eq!(Money::try_from_f64(0.03).unwrap().micros(), 30_000);
        assert_eq!(
            Money::try_from_f64(0.1).unwrap() * 3,
            Money::try_from_f64(0.3).unwrap()
        );
        assert!(Money::try_from_f64(f64::NAN).is_err());
        assert!(Money::try_from_f64(1e20).is_err());
    }

    #[test]
    fn mul_div_rounds_half_away_from_zero() {
        let m = Money::from_micros(30_000); // $0.03 per 1K units
        assert_eq!(m.mul_div(1, 1000).micros(), 30);
        assert_eq!(Money::from_micros(5).mul_div(1, 10).micros(), 1);
        assert_eq!(Money::from_micros(-5).mul_div(1, 10).micros(), -1);
        assert_eq!(Money::from_micros(4).mul_div(1, 10).micros(), 0);
        assert_eq!(Money::from_units(2).mul_div(3, 2), Money::from_units(3));
    }

    #[test]
    fn displays_as_currency() {
        assert_eq!(Money::from_units(12).to_string(), "$12.00");
        assert_eq!(Money::from_micros(1_500_000).to_string(), "$1.50");
        assert_eq!(Money::from_micros(30).to_string(), "$0.00003");
        assert_eq!(Money::from_micros(9_999).to_string(), "$0.009999");
        assert_eq!(Money::from_micros(-2_000_000).to_string(), "-$2.00");
        assert_eq!(Money::from_micros(1_384_104_852).to_string(), "$1,384.10");
        assert_eq!(Money::from_micros(999_995_000).to_string(), "$1,000.00");
        assert_eq!(Money::from_units(1_234_567).to_string(), "$1,234,567.00");
        assert_eq!(Money::from_micros(-123_456_789).to_string(), "-$123.46");
        assert_eq!(Money::ZERO.to_string(), "$0.00");
    }

    #[test]
    fn serde_round_trip_is_exact() {
        for micros in [0, 1, 30, 999_999, 1_000_000, 123_456_789, -42] {
            let m = Money::from_micros(micros);
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m, "{json}");
        }
    }
}
