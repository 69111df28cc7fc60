//! Stripe webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">` (several `v1` while a secret rotates). A signature older or newer than
//! the tolerance is refused, so a captured delivery cannot be replayed later; within
//! the tolerance, replays are caught by the event id (recorded once).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No or unreadable header.
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    /// No `v1` matches.
    #[error("no signature matches the payload")]
    Mismatch,
    /// Signed too long ago (or in the future).
    #[error("the signature's timestamp is outside the tolerance of {0} seconds")]
    Stale(i64),
}

fn mac(secret: &str, t: i64, payload: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(payload);
    m
}

/// The header value for `payload` signed at `t` (tests and the stand-in use this form).
pub fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, payload).finalize().into_bytes()))
}

/// Checks `header` against `payload` at `now` (unix seconds).
pub fn verify(header: &str, payload: &[u8], secret: &str, now: i64, tolerance: i64) -> Result<(), SignatureError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Constant-time comparison of each candidate.
    if !sigs.iter().any(|s| mac(secret, t, payload).verify_slice(s).is_ok()) {
        return Err(SignatureError::Mismatch);
    }
    if (now - t).abs() > tolerance {
        return Err(SignatureError::Stale(tolerance));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_signature_verifies_and_anything_else_is_refused() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign("whsec_a", 1_000, body);
        assert_eq!(verify(&h, body, "whsec_a", 1_100, 300), Ok(()));
        assert_eq!(verify(&h, body, "whsec_b", 1_100, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(&h, br#"{"id":"evt_2"}"#, "whsec_a", 1_100, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(&h, body, "whsec_a", 1_301, 300), Err(SignatureError::Stale(300)));
        assert_eq!(verify("v1=00", body, "whsec_a", 1_000, 300), Err(SignatureError::Malformed));
        assert_eq!(verify("t=1000", body, "whsec_a", 1_000, 300), Err(SignatureError::Malformed));
        // A rotated secret: either signature may match.
        let other = sign("whsec_old", 1_000, body);
        let both = format!("{h},{}", other.split(',').nth(1).unwrap());
        assert_eq!(verify(&both, body, "whsec_old", 1_000, 300), Ok(()));
        // A forged timestamp breaks the signature.
        let forged = h.replace("t=1000", "t=5000");
        assert_eq!(verify(&forged, body, "whsec_a", 5_000, 300), Err(SignatureError::Mismatch));
    }
}
