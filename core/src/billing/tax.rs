//! Tax as a configured rate per country in basis points, with explicit rounding.
//!
//! Tax is computed once per invoice on its subtotal (not per line), so the lines and
//! the total always add up; the rounding rule is configured (half-up, away from zero,
//! by default; banker's half-even where a tax authority wants it).

use crate::error::FieldError;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// How a fractional minor unit is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Halves away from zero (2.5 → 3, −2.5 → −3): the usual commercial rule.
    #[default]
    HalfUp,
    /// Halves to the even neighbour (2.5 → 2, 3.5 → 4): banker's rounding.
    HalfEven,
}

impl FromStr for Rounding {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        match s {
            "half_up" => Ok(Self::HalfUp),
            "half_even" => Ok(Self::HalfEven),
            _ => Err(FieldError::new("", format!("unknown rounding {s:?}; one of half_up, half_even"))),
        }
    }
}

/// `numerator / denominator` rounded to an integer by `rounding`, in exact integer
/// arithmetic. `denominator` must be positive.
pub fn divide_rounded(numerator: i128, denominator: i128, rounding: Rounding) -> i128 {
    assert!(denominator > 0, "denominator must be positive");
    let q = numerator.div_euclid(denominator);
    let r = numerator.rem_euclid(denominator); // 0 <= r < d; value = q + r/d
    let twice = 2 * r;
    let up = match twice.cmp(&denominator) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => match rounding {
            // Away from zero: a positive value's half goes up; a negative value's half
            // (q negative, value = q + 1/2) goes down to q.
            Rounding::HalfUp => q >= 0,
            Rounding::HalfEven => q.rem_euclid(2) == 1,
        },
    };
    if up { q + 1 } else { q }
}

/// A tax rate in basis points (1/100 of a percent): 2000 is 20%.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct TaxRate(u32);

impl TaxRate {
    /// A rate of `basis_points`, at most 10,000 (100%).
    pub fn from_basis_points(basis_points: u32) -> Result<Self, FieldError> {
        if basis_points > 10_000 {
            return Err(FieldError::new("", "a tax rate is at most 10000 basis points (100%)"));
        }
        Ok(Self(basis_points))
    }

    /// The rate in basis points.
    pub fn basis_points(&self) -> u32 {
        self.0
    }

    /// Tax on `amount` minor units.
    pub fn tax_on(&self, amount: i64, rounding: Rounding) -> i64 {
        divide_rounded(i128::from(amount) * i128::from(self.0), 10_000, rounding) as i64
    }
}

impl fmt::Display for TaxRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}%", self.0 / 100, self.0 % 100)
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses two ASCII letters (either case).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let b = raw.trim().as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(Self([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
        } else {
            Err(FieldError::new("", format!("{raw:?} is not a two-letter country code such as FR")))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

/// Tax rates per country, a default for the others, and the rounding rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaxTable {
    rates: BTreeMap<CountryCode, TaxRate>,
    default: TaxRate,
    rounding: Rounding,
}

impl TaxTable {
    /// No tax anywhere.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses the configuration form `FR=2000,DE=1900,*=0` (basis points; `*` is every
    /// other country) with the rounding rule.
    pub fn parse(raw: &str, rounding: Rounding) -> Result<Self, FieldError> {
        let mut t = Self { rounding, ..Self::default() };
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| FieldError::new("", format!("{item:?} should be COUNTRY=BASIS_POINTS, e.g. FR=2000")))?;
            let bp: u32 = v
                .trim()
                .parse()
                .map_err(|_| FieldError::new("", format!("{v:?} is not a whole number of basis points")))?;
            let rate = TaxRate::from_basis_points(bp)?;
            if k.trim() == "*" {
                t.default = rate;
            } else {
                t.rates.insert(CountryCode::parse(k)?, rate);
            }
        }
        Ok(t)
    }

    /// The rate for `country` (the default when absent or unknown).
    pub fn rate_for(&self, country: Option<CountryCode>) -> TaxRate {
        country.and_then(|c| self.rates.get(&c).copied()).unwrap_or(self.default)
    }

    /// The rounding rule.
    pub fn rounding(&self) -> Rounding {
        self.rounding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_up_rounds_halves_away_from_zero() {
        assert_eq!(divide_rounded(25, 10, Rounding::HalfUp), 3);
        assert_eq!(divide_rounded(-25, 10, Rounding::HalfUp), -3);
        assert_eq!(divide_rounded(24, 10, Rounding::HalfUp), 2);
        assert_eq!(divide_rounded(-26, 10, Rounding::HalfUp), -3);
    }

    #[test]
    fn half_even_rounds_halves_to_even() {
        assert_eq!(divide_rounded(25, 10, Rounding::HalfEven), 2);
        assert_eq!(divide_rounded(35, 10, Rounding::HalfEven), 4);
        assert_eq!(divide_rounded(-25, 10, Rounding::HalfEven), -2);
        assert_eq!(divide_rounded(-35, 10, Rounding::HalfEven), -4);
        assert_eq!(divide_rounded(26, 10, Rounding::HalfEven), 3);
    }

    #[test]
    fn tax_is_rounded_as_configured() {
        // 20% of 6,173 cents is 1,234.6.
        let r = TaxRate::from_basis_points(2000).unwrap();
        assert_eq!(r.tax_on(6173, Rounding::HalfUp), 1235);
        // 5.5% of 1,000 = 55 exactly; 5.5% of 10 = 0.55 → 1.
        let r = TaxRate::from_basis_points(550).unwrap();
        assert_eq!(r.tax_on(1000, Rounding::HalfUp), 55);
        assert_eq!(r.tax_on(10, Rounding::HalfUp), 1);
        // 25% of 10 = 2.5: half-up 3, half-even 2.
        let r = TaxRate::from_basis_points(2500).unwrap();
        assert_eq!(r.tax_on(10, Rounding::HalfUp), 3);
        assert_eq!(r.tax_on(10, Rounding::HalfEven), 2);
        assert!(TaxRate::from_basis_points(10_001).is_err());
        assert_eq!(TaxRate::from_basis_points(1950).unwrap().to_string(), "19.50%");
    }

    #[test]
    fn the_table_parses_countries_and_a_default() {
        let t = TaxTable::parse("FR=2000, de=1900, *=500", Rounding::HalfEven).unwrap();
        assert_eq!(t.rate_for(Some(CountryCode::parse("FR").unwrap())).basis_points(), 2000);
        assert_eq!(t.rate_for(Some(CountryCode::parse("DE").unwrap())).basis_points(), 1900);
        assert_eq!(t.rate_for(Some(CountryCode::parse("US").unwrap())).basis_points(), 500);
        assert_eq!(t.rate_for(None).basis_points(), 500);
        assert_eq!(t.rounding(), Rounding::HalfEven);
        assert!(TaxTable::parse("FRA=2000", Rounding::HalfUp).is_err());
        assert!(TaxTable::parse("FR=20%", Rounding::HalfUp).is_err());
        assert!(TaxTable::parse("FR", Rounding::HalfUp).is_err());
        assert_eq!(TaxTable::parse("", Rounding::HalfUp).unwrap(), TaxTable::none());
    }
}
