//! Survey links: signed, single-use, expiring. The token carries the ticket, the
//! invitation's nonce and the expiry, sealed with an HMAC; the invitation row makes it
//! single-use and lets a newer invitation supersede an older link.

use crate::api::problem::ApiError;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

const LEN: usize = 16 + 16 + 8 + 32;

/// The key survey links are signed with (derived from the server's signing secret).
#[derive(Clone)]
pub struct SurveyKeys {
    key: Vec<u8>,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyToken {
    /// The ticket.
    pub ticket_id: Uuid,
    /// The invitation's nonce.
    pub nonce: [u8; 16],
    /// When the link expires.
    pub expires_at_ms: i64,
}

impl SurveyKeys {
    /// Derives the survey key from the server secret.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"sysops survey links v1");
        Self { key: mac.finalize().into_bytes().to_vec() }
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(data);
        mac
    }

    /// A token for `t`.
    pub fn sign(&self, t: &SurveyToken) -> String {
        let mut buf = Vec::with_capacity(LEN);
        buf.extend_from_slice(t.ticket_id.as_bytes());
        buf.extend_from_slice(&t.nonce);
        buf.extend_from_slice(&t.expires_at_ms.to_be_bytes());
        let tag = self.mac(&buf).finalize().into_bytes();
        buf.extend_from_slice(&tag);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    }

    /// Checks a token's integrity (not its expiry or use: the caller checks those
    /// against the invitation).
    pub fn verify(&self, token: &str) -> Result<SurveyToken, ApiError> {
        let damaged = || {
            ApiError::BadRequest(
                "this survey link is damaged or was altered; please use the link exactly as it appears in your e-mail"
                    .to_owned(),
            )
        };
        if token.len() > 200 {
            return Err(damaged());
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| damaged())?;
        if raw.len() != LEN {
            return Err(damaged());
        }
        let (data, tag) = raw.split_at(40);
        self.mac(data).verify_slice(tag).map_err(|_| damaged())?;
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&data[16..32]);
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&data[32..40]);
        Ok(SurveyToken {
            ticket_id: Uuid::from_slice(&data[..16]).map_err(|_| damaged())?,
            nonce,
            expires_at_ms: i64::from_be_bytes(exp),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let k = SurveyKeys::derive(b"secret-secret-secret-secret-1234");
        let t = SurveyToken { ticket_id: Uuid::now_v7(), nonce: [7; 16], expires_at_ms: 1_800_000_000_000 };
        let s = k.sign(&t);
        assert_eq!(k.verify(&s).unwrap(), t);
        // Flip one character anywhere: refused.
        for i in [0, s.len() / 2, s.len() - 1] {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            assert!(k.verify(&String::from_utf8(b).unwrap()).is_err(), "tamper at {i}");
        }
        // Another server's key: refused.
        assert!(SurveyKeys::derive(b"another-secret-another-secret-12").verify(&s).is_err());
        assert!(k.verify("").is_err());
        assert!(k.verify("not base64 !!").is_err());
    }
}
