//! Money as integer minor units with an ISO 4217 currency; never floating point.

use crate::error::FieldError;
use std::fmt;

/// An ISO 4217 currency this business accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "String")]
pub struct Currency([u8; 3]);

/// Currencies accepted, with their number of minor-unit digits.
const CURRENCIES: &[(&str, u8)] = &[
    ("AUD", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("INR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("MXN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PLN", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("USD", 2),
    ("ZAR", 2),
];

impl Currency {
    /// US dollars.
    pub const USD: Currency = Currency(*b"USD");

    /// Parses an upper-case ISO 4217 code from the accepted list.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == raw)
            .map(|(code, _)| {
                let b = code.as_bytes();
                Currency([b[0], b[1], b[2]])
            })
            .ok_or_else(|| FieldError::new("", "must be an ISO 4217 currency code such as USD or EUR"))
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (2 for USD, 0 for JPY).
    pub fn minor_digits(&self) -> u8 {
        CURRENCIES.iter().find(|(c, _)| *c == self.code()).map_or(2, |(_, d)| *d)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money in minor units (cents) of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Money {
    amount_cents: i64,
    currency: Currency,
}

/// Money arithmetic that cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The two amounts are in different currencies.
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    /// The result does not fit.
    #[error("amount overflow")]
    Overflow,
}

impl Money {
    /// Largest price accepted for a plan (one million in major units).
    pub const MAX_PRICE_MINOR: i64 = 100_000_000;

    /// An amount; prices must be non-negative and bounded (use [`Money::price`]).
    pub fn new(amount_cents: i64, currency: Currency) -> Self {
        Self { amount_cents, currency }
    }

    /// A price: non-negative and at most [`Self::MAX_PRICE_MINOR`].
    pub fn price(amount_cents: i64, currency: Currency) -> Result<Self, FieldError> {
        if !(0..=Self::MAX_PRICE_MINOR).contains(&amount_cents) {
            return Err(FieldError::new("", format!("must be between 0 and {} minor units", Self::MAX_PRICE_MINOR)));
        }
        Ok(Self { amount_cents, currency })
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self { amount_cents: 0, currency }
    }

    /// The amount in minor units.
    pub fn amount_cents(&self) -> i64 {
        self.amount_cents
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The sum, refusing mixed currencies and overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.amount_cents
            .checked_add(other.amount_cents)
            .map(|a| Money::new(a, self.currency))
            .ok_or(MoneyError::Overflow)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = u32::from(self.currency.minor_digits());
        if digits == 0 {
            return write!(f, "{} {}", self.amount_cents, self.currency);
        }
        let scale = 10i64.pow(digits);
        let sign = if self.amount_cents < 0 { "-" } else { "" };
        let abs = self.amount_cents.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / scale as u64,
            abs % scale as u64,
            self.currency,
            width = digits as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_checked() {
        assert_eq!(Currency::parse("EUR").unwrap().code(), "EUR");
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("XYZ").is_err());
    }

    #[test]
    fn money_formats_and_adds() {
        let usd = Currency::USD;
        assert_eq!(Money::new(1999, usd).to_string(), "19.99 USD");
        assert_eq!(Money::new(-5, usd).to_string(), "-0.05 USD");
        assert_eq!(Money::new(500, Currency::parse("JPY").unwrap()).to_string(), "500 JPY");
        let eur = Currency::parse("EUR").unwrap();
        assert!(Money::new(1, usd).checked_add(Money::new(1, eur)).is_err());
        assert!(Money::new(i64::MAX, usd).checked_add(Money::new(1, usd)).is_err());
        assert!(Money::price(-1, usd).is_err());
    }
}
