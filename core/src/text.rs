//! Bounded, trimmed text newtypes: names, titles, descriptions, e-mail addresses, phone
//! numbers, locales, passwords. Each constructor is the only way in.

use crate::error::FieldError;
use std::fmt;

/// Defines a trimmed text newtype with a length range in characters.
macro_rules! bounded_text {
    ($(#[$doc:meta] $name:ident, $min:expr, $max:expr;)*) => {$(
        #[$doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Shortest accepted length, in characters.
            pub const MIN: usize = $min;
            /// Longest accepted length, in characters.
            pub const MAX: usize = $max;

            /// Trims `raw` and checks its length and characters.
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                bounded(raw, $min, $max).map(Self)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, owned.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

bounded_text! {
    /// A person's or a plan's name.
    Name, 1, 120;
    /// A ticket or article title.
    Title, 3, 200;
    /// A ticket's problem description.
    Description, 1, 5_000;
    /// A postal address on one line or several.
    Address, 3, 300;
    /// A product a subscription covers ("Samsung QN90B living-room TV").
    Product, 1, 200;
    /// An expert's resolution of a ticket.
    Resolution, 1, 10_000;
    /// The body of a knowledge-base article.
    ArticleBody, 1, 50_000;
    /// A short free-text reason or comment.
    Comment, 0, 2_000;
    /// One tag of a knowledge-base article.
    Tag, 1, 40;
}

fn bounded(raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(if min <= 1 {
            FieldError::new("", "must not be empty")
        } else {
            FieldError::new("", format!("must be at least {min} characters"))
        });
    }
    if len > max {
        return Err(FieldError::new("", format!("must be at most {max} characters (got {len})")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(FieldError::new("", "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// An e-mail address, lower-cased; checked for shape, not deliverability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses and normalises (trim, lower-case) an address.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_lowercase();
        let bad = || FieldError::new("", "must be an e-mail address like name@example.com");
        if s.len() > 254 {
            return Err(FieldError::new("", "must be at most 254 characters"));
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '@' && c != '<' && c != '>');
        if local_ok && domain_ok { Ok(Self(s)) } else { Err(bad()) }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+14155550123`); spaces, dashes and brackets are
/// accepted on input and removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses a phone number into E.164.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let cleaned: String = raw.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
        let digits = cleaned.strip_prefix('+');
        match digits {
            Some(d) if (8..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()) && !d.starts_with('0') => {
                Ok(Self(cleaned))
            }
            _ => Err(FieldError::new("", "must be an international phone number like +14155550123")),
        }
    }

    /// The number in E.164.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A locale tag such as `en-US` or `fr`: a language, optionally a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Locale(String);

impl Locale {
    /// Parses `ll` or `ll-RR` (case-normalised).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().replace('_', "-");
        let mut parts = s.split('-');
        let lang = parts.next().unwrap_or_default();
        let region = parts.next();
        let lang_ok = (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_alphabetic());
        let region_ok = region.is_none_or(|r| r.len() == 2 && r.chars().all(|c| c.is_ascii_alphabetic()));
        if !lang_ok || !region_ok || parts.next().is_some() {
            return Err(FieldError::new("", "must be a locale like en-US or fr"));
        }
        Ok(Self(match region {
            Some(r) => format!("{}-{}", lang.to_lowercase(), r.to_uppercase()),
            None => lang.to_lowercase(),
        }))
    }

    /// The language part (`en` of `en-US`).
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed, checked for length; it is hashed at once and never stored or
/// printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Shortest accepted password.
    pub const MIN: usize = 8;
    /// Longest accepted password (bounds the hashing work an attacker can ask for).
    pub const MAX: usize = 128;

    /// Checks the length (not trimmed: spaces are allowed in passwords).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let len = raw.chars().count();
        if len < Self::MIN {
            Err(FieldError::new("", format!("must be at least {} characters", Self::MIN)))
        } else if len > Self::MAX {
            Err(FieldError::new("", format!("must be at most {} characters", Self::MAX)))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    /// The password, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  Screen flickers ").unwrap().as_str(), "Screen flickers");
        assert!(Title::parse("ab").is_err());
        assert!(Title::parse(&"x".repeat(201)).is_err());
        assert!(Title::parse("bad\u{0}title").is_err());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse(" Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in ["", "ann", "ann@", "@x.com", "ann@x", "a b@x.com", "ann@x..com", "ann@.x.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(Phone::parse("+1 (415) 555-0123").unwrap().as_str(), "+14155550123");
        for bad in ["4155550123", "+1", "+0123456789", "+1415555012a", "+1234567890123456"] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn locales_are_normalised() {
        assert_eq!(Locale::parse("en_us").unwrap().as_str(), "en-US");
        assert_eq!(Locale::parse("FR").unwrap().language(), "fr");
        assert!(Locale::parse("english").is_err());
        assert!(Locale::parse("en-US-x").is_err());
    }

    #[test]
    fn passwords_never_print() {
        let p = Password::parse("correct horse").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert!(Password::parse("short").is_err());
    }
}
