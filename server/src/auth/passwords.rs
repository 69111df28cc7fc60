//! Which passwords we accept: 8 to 128 characters (core's [`Password`]), and not one of
//! the 100,000 most common passwords, nor one of them with letters swapped for look-alike
//! digits or symbols, or padded with digits and symbols, nor a repeated character or a
//! plain sequence, nor the account's own e-mail or name. The list ships compressed in
//! the binary (`assets/common-passwords.txt.gz`, 250 KB) and is unpacked once, on first
//! use.

use std::collections::HashSet;
use std::io::Read;
use std::sync::LazyLock;
use sysops_core::FieldError;
use sysops_core::text::Password;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let mut text = String::new();
    flate2::read::GzDecoder::new(&include_bytes!("../../assets/common-passwords.txt.gz")[..])
        .read_to_string(&mut text)
        .expect("the shipped password list unpacks");
    let text: &'static str = Box::leak(text.into_boxed_str());
    text.lines().collect()
});

/// Unpacks the list now (at start-up), so the first registration does not wait for it.
pub fn warm() {
    LazyLock::force(&COMMON);
}

fn is_common(s: &str) -> bool {
    COMMON.contains(s)
}

/// The password with look-alike digits and symbols read as letters (`p@ssw0rd`).
fn unleet(s: &str, one: char) -> String {
    s.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' | '|' => one,
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' | '+' => 't',
            '8' => 'b',
            '9' => 'g',
            other => other,
        })
        .collect()
}

/// The letters in the middle, without the digits and symbols around them (`dragon2026!`).
fn stem(s: &str) -> &str {
    s.trim_matches(|c: char| !c.is_alphabetic())
}

fn is_sequence(s: &str) -> bool {
    let c: Vec<u32> = s.chars().map(u32::from).collect();
    let all = |d: i64| c.windows(2).all(|w| i64::from(w[1]) - i64::from(w[0]) == d);
    all(0) || all(1) || all(-1)
}

/// Why `password` is too guessable, if it is. `context` holds what an attacker knows
/// about the account (its e-mail and name).
pub fn weakness(password: &str, context: &[&str]) -> Option<&'static str> {
    let lower = password.to_lowercase();
    if is_sequence(&lower) {
        return Some("must not be one repeated character or a plain sequence");
    }
    if is_common(&lower) {
        return Some("is one of the 100,000 most common passwords; choose a longer, less predictable one");
    }
    if ['i', 'l'].iter().any(|one| is_common(&unleet(&lower, *one))) {
        return Some("is a common password with letters swapped for digits or symbols; choose a less predictable one");
    }
    let st = stem(&lower);
    if st.chars().count() >= 4 && st.len() < lower.len() && (is_common(st) || is_common(&unleet(st, 'i'))) {
        return Some("is a common password with digits or symbols added; choose a less predictable one");
    }
    for c in context.iter().map(|c| c.trim().to_lowercase()).filter(|c| c.chars().count() >= 4) {
        let local = c.split('@').next().unwrap_or_default().to_owned();
        if lower == c || lower.contains(&c) || lower == local || stem(&lower) == local {
            return Some("must not be your e-mail address or name");
        }
    }
    None
}

/// A password for a new or changed account: long enough and not guessable. Like core's
/// parsers, the error's field is empty: the caller places it (`ValidationErrors::check`,
/// `FieldError::under`).
pub fn parse(raw: &str, context: &[&str]) -> Result<Password, FieldError> {
    let p = Password::parse(raw)?;
    match weakness(raw, context) {
        Some(why) => Err(FieldError::new("", why)),
        None => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_patterned_passwords_are_refused_with_the_reason() {
        for (p, why) in [
            ("password", "most common"),
            ("12345678", "sequence"),
            ("Password", "most common"),
            ("qwertyuiop", "most common"),
            ("P@ssw0rd", "most common"),
            ("S3cur1ty", "swapped"),
            ("b4s3b4ll", "swapped"),
            ("dragon2026!!", "added"),
            ("aaaaaaaaaa", "sequence"),
            ("abcdefghij", "sequence"),
            ("ann.lee@example.com", "e-mail"),
        ] {
            let got = weakness(p, &["ann.lee@example.com", "Ann Lee"]);
            assert!(got.is_some_and(|w| w.contains(why)), "{p}: {got:?}");
        }
    }

    #[test]
    fn ordinary_good_passwords_pass() {
        for p in ["a-good-password", "root-password-1", "correct horse battery staple", "Tz8#qLm2vR!x"] {
            assert_eq!(weakness(p, &["casey@customers.test", "Casey"]), None, "{p}");
        }
    }

    #[test]
    fn the_error_names_the_field_it_is_placed_under() {
        let e = parse("password", &[]).unwrap_err().under("new_password");
        assert_eq!(e.field, "new_password");
        assert!(e.message.contains("most common"));
        assert_eq!(parse("short", &[]).unwrap_err().under("password").field, "password");
        assert!(parse("a-good-password", &[]).is_ok());
    }

    #[test]
    fn the_shipped_list_is_the_hundred_thousand() {
        assert!(COMMON.len() > 90_000, "{}", COMMON.len());
        assert!(is_common("iloveyou") && is_common("sunshine"));
    }
}
