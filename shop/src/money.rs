//! Money in integer minor units. The shop sells in one currency; floats never touch a price.

use std::fmt;

/// The shop's currency (ISO 4217), carried on orders and events so a second one can come later.
pub const CURRENCY: &str = "USD";

/// An amount in cents. Never negative: the catalog has no negative prices and orders only add them up
/// (the columns it is read from carry `CHECK (… >= 0)`, so a decoded value keeps that promise too).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    sqlx::Type,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(try_from = "i64")]
#[sqlx(transparent)]
pub struct Money(i64);

impl TryFrom<i64> for Money {
    type Error = MoneyError;
    fn try_from(cents: i64) -> Result<Money, MoneyError> {
        Money::from_cents(cents)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("an amount cannot be negative")]
    Negative,
    #[error("enter an amount such as 49.99")]
    Malformed,
    #[error("that amount is too large")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_cents(cents: i64) -> Result<Money, MoneyError> {
        if cents < 0 {
            Err(MoneyError::Negative)
        } else {
            Ok(Money(cents))
        }
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// Parses what a person types in a price field: `49`, `49.9`, `49.99`, `$1,049.00`.
    pub fn parse_decimal(input: &str) -> Result<Money, MoneyError> {
        let cleaned: String = input
            .trim()
            .trim_start_matches('$')
            .chars()
            .filter(|c| *c != ',')
            .collect();
        if cleaned.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
        let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 2 {
            return Err(MoneyError::Malformed);
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::TooLarge)?;
        let fraction: i64 = format!("{fraction:0<2}")
            .parse()
            .map_err(|_| MoneyError::Malformed)?;
        whole
            .checked_mul(100)
            .and_then(|cents| cents.checked_add(fraction))
            .map(Money)
            .ok_or(MoneyError::TooLarge)
    }

    /// `1049.00`: the amount in currency units with two decimals and nothing else, as machines read
    /// it (structured data's `price`; no symbol, no grouping).
    pub fn decimal(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }
}

impl fmt::Display for Money {
    /// `$1,049.00`: the form a student reads on every page.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dollars = (self.0 / 100).to_string();
        let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
        for (i, digit) in dollars.chars().enumerate() {
            if i > 0 && (dollars.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "${grouped}.{:02}", self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_dollars_with_grouping() {
        let show = |cents| Money::from_cents(cents).map(|m| m.to_string());
        assert_eq!(show(0), Ok("$0.00".to_string()));
        assert_eq!(show(4999), Ok("$49.99".to_string()));
        assert_eq!(show(104_900), Ok("$1,049.00".to_string()));
        assert_eq!(show(123_456_789), Ok("$1,234,567.89".to_string()));
    }

    #[test]
    fn decimals_for_machines_have_two_places_and_no_symbol() {
        let decimal = |cents| Money::from_cents(cents).map(Money::decimal);
        assert_eq!(decimal(0), Ok("0.00".to_string()));
        assert_eq!(decimal(5), Ok("0.05".to_string()));
        assert_eq!(decimal(1250), Ok("12.50".to_string()));
        assert_eq!(decimal(104_900), Ok("1049.00".to_string()));
    }

    #[test]
    fn refuses_negative_amounts() {
        assert_eq!(Money::from_cents(-1), Err(MoneyError::Negative));
        assert_eq!(Money::parse_decimal("-3"), Err(MoneyError::Negative));
    }

    #[test]
    fn parses_what_people_type() {
        let cents = |s| Money::parse_decimal(s).map(Money::cents);
        assert_eq!(cents("49"), Ok(4900));
        assert_eq!(cents("49.9"), Ok(4990));
        assert_eq!(cents(" $1,049.05 "), Ok(104_905));
        assert_eq!(cents("49.999"), Err(MoneyError::Malformed));
        assert_eq!(cents("4o"), Err(MoneyError::Malformed));
        assert_eq!(cents(".5"), Err(MoneyError::Malformed));
        assert_eq!(cents("99999999999999999999"), Err(MoneyError::TooLarge));
    }
}
