//! Surveys: how the customer rated the repair.

use crate::error::FieldError;

/// A rating from 1 (poor) to 5 (excellent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Rating(u8);

impl Rating {
    /// Checks the range 1..=5.
    pub fn new(raw: i64) -> Result<Self, FieldError> {
        if (1..=5).contains(&raw) {
            Ok(Self(raw as u8))
        } else {
            Err(FieldError::new("", "must be a whole number from 1 to 5"))
        }
    }

    /// The rating.
    pub fn get(self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_bounded() {
        assert!(Rating::new(0).is_err());
        assert!(Rating::new(6).is_err());
        assert_eq!(Rating::new(5).unwrap().get(), 5);
    }
}
