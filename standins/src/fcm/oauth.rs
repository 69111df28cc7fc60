//! Google's OAuth2 service-account flow, stood in: a generated service-account key, and the
//! token endpoint that trades a signed JWT assertion for a bearer token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hyper::StatusCode;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use crate::http::{Refusal, Resp, refuse};

/// The OAuth2 scope an FCM sender asks for.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The broad scope Google also accepts for FCM.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The grant type of the JWT-bearer flow.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of the access tokens the stand-in issues, as Google's endpoint answers it.
const TOKEN_SECONDS: u64 = 3599;
/// Clock skew tolerated on `iat`.
const SKEW_SECONDS: i64 = 300;

/// Base64url that, like Google, accepts segments with or without `=` padding (gcp_auth pads).
const B64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A generated service account: its RSA key and the identity written into the key file.
pub(crate) struct ServiceAccount {
    key: KeyPair,
    pub(crate) private_key_id: String,
    pub(crate) client_email: String,
    pub(crate) client_id: String,
}

impl ServiceAccount {
    /// Generates a fresh 2048-bit RSA key for an account of `project_id`.
    pub(crate) fn generate(project_id: &str) -> std::io::Result<Self> {
        let key =
            KeyPair::generate(KeySize::Rsa2048).map_err(|_| std::io::Error::other("RSA key generation failed"))?;
        let mut rng = rand::rng();
        Ok(ServiceAccount {
            key,
            private_key_id: format!("{:040x}", rng.random::<u128>()),
            client_email: format!("firebase-adminsdk-standin@{project_id}.iam.gserviceaccount.com"),
            client_id: format!("1{:020}", rng.random::<u64>()),
        })
    }

    /// The private key as a PKCS#8 PEM block, as Google's key files carry it.
    pub(crate) fn private_key_pem(&self) -> String {
        let der = self.key.as_der().expect("a generated RSA key serialises to PKCS#8");
        let b64 = STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    /// The key file Google would let you download, with `token_uri` set to the stand-in.
    pub(crate) fn key_file(&self, project_id: &str, token_uri: &str) -> serde_json::Value {
        json!({
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": self.private_key_id,
            "private_key": self.private_key_pem(),
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!(
                "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                self.client_email.replace('@', "%40")
            ),
            "universe_domain": "googleapis.com",
        })
    }
}

/// Access tokens handed out, with their expiry.
#[derive(Default)]
pub(crate) struct Tokens(Mutex<HashMap<String, Instant>>);

impl Tokens {
    fn issue(&self) -> String {
        let token = format!("ya29.standin-{:032x}{:032x}", rand::rng().random::<u128>(), rand::rng().random::<u128>());
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, expiry| *expiry > now);
        map.insert(token.clone(), now + Duration::from_secs(TOKEN_SECONDS));
        token
    }

    /// True when `token` was issued here and has not expired.
    pub(crate) fn valid(&self, token: &str) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(token).is_some_and(|expiry| *expiry > Instant::now())
    }
}

/// An OAuth2 error body as Google's token endpoint writes it.
fn oauth_error(error: &str, description: &str) -> Resp {
    crate::http::json(StatusCode::BAD_REQUEST, &json!({ "error": error, "error_description": description }))
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    exp: i64,
    iat: i64,
    #[serde(default)]
    scope: String,
}

/// Answers `POST /token`: verifies the JWT assertion and issues a bearer token.
pub(crate) fn token_endpoint(
    account: &ServiceAccount,
    token_uri: &str,
    tokens: &Tokens,
    form: &[(String, String)],
) -> Resp {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match field("grant_type") {
        Some(JWT_BEARER) => {}
        Some(other) => {
            return oauth_error("unsupported_grant_type", &format!("Invalid grant_type: {other}"));
        }
        None => return oauth_error("invalid_request", "Missing required parameter: grant_type"),
    }
    let Some(assertion) = field("assertion") else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    match verify(account, token_uri, assertion) {
        Err(resp) => *resp,
        Ok(()) => crate::http::json(
            StatusCode::OK,
            &json!({
                "access_token": tokens.issue(),
                "expires_in": TOKEN_SECONDS,
                "token_type": "Bearer",
            }),
        ),
    }
}

fn verify(account: &ServiceAccount, token_uri: &str, assertion: &str) -> Result<(), Refusal> {
    let malformed = || refuse(oauth_error("invalid_grant", "Invalid JWT: Malformed assertion."));
    let bad_signature = || refuse(oauth_error("invalid_grant", "Invalid JWT Signature."));
    let parts: Vec<&str> = assertion.split('.').collect();
    let [head, body, sig] = parts[..] else {
        return Err(malformed());
    };
    let header: JwtHeader =
        B64URL_LENIENT.decode(head).ok().and_then(|raw| serde_json::from_slice(&raw).ok()).ok_or_else(malformed)?;
    if header.alg != "RS256" {
        return Err(bad_signature());
    }
    if header.kid.as_deref().is_some_and(|kid| kid != account.private_key_id) {
        return Err(bad_signature());
    }
    let signature_bytes = B64URL_LENIENT.decode(sig).map_err(|_| malformed())?;
    let signed = &assertion[..head.len() + 1 + body.len()];
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, account.key.public_key().as_ref())
        .verify(signed.as_bytes(), &signature_bytes)
        .map_err(|_| bad_signature())?;
    let claims: Claims =
        B64URL_LENIENT.decode(body).ok().and_then(|raw| serde_json::from_slice(&raw).ok()).ok_or_else(malformed)?;
    if claims.iss != account.client_email {
        return Err(refuse(oauth_error("invalid_grant", "Invalid grant: account not found")));
    }
    if claims.aud != token_uri {
        return Err(refuse(oauth_error(
            "invalid_grant",
            &format!("Invalid JWT: Failed audience check. The right audience is {token_uri}"),
        )));
    }
    let now = chrono::Utc::now().timestamp();
    if claims.exp <= now || claims.iat > now + SKEW_SECONDS || claims.exp - claims.iat > 3600 || claims.exp < claims.iat
    {
        return Err(refuse(oauth_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
             timeframe. Check your iat and exp values in the JWT claim.",
        )));
    }
    let scopes: Vec<&str> = claims.scope.split_whitespace().collect();
    if !scopes.iter().any(|s| *s == FCM_SCOPE || *s == CLOUD_PLATFORM_SCOPE) {
        return Err(refuse(oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")));
    }
    Ok(())
}

/// Encodes bytes as unpadded base64url (used by tests that forge assertions).
#[cfg(test)]
pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;

    fn sign(account: &ServiceAccount, claims: &serde_json::Value) -> String {
        let head = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
        let body = b64url(claims.to_string().as_bytes());
        let input = format!("{head}.{body}");
        let mut sig = vec![0; account.key.public_modulus_len()];
        account.key.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
        format!("{input}.{}", b64url(&sig))
    }

    fn claims(account: &ServiceAccount, scope: &str, aud: &str) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        json!({"iss": account.client_email, "aud": aud, "iat": now, "exp": now + 3595, "scope": scope})
    }

    #[test]
    fn verifies_assertions_like_google() {
        let account = ServiceAccount::generate("p").unwrap();
        let uri = "http://127.0.0.1:1/token";
        assert!(verify(&account, uri, &sign(&account, &claims(&account, FCM_SCOPE, uri))).is_ok());
        // Wrong audience, wrong scope, other key, tampered payload: all refused.
        assert!(verify(&account, uri, &sign(&account, &claims(&account, FCM_SCOPE, "x"))).is_err());
        let email_scope = "https://www.googleapis.com/auth/userinfo.email";
        assert!(verify(&account, uri, &sign(&account, &claims(&account, email_scope, uri))).is_err());
        let other = ServiceAccount::generate("p").unwrap();
        let forged = sign(&other, &claims(&account, FCM_SCOPE, uri));
        assert!(verify(&account, uri, &forged).is_err());
        let good = sign(&account, &claims(&account, FCM_SCOPE, uri));
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = b64url(claims(&account, CLOUD_PLATFORM_SCOPE, uri).to_string().as_bytes());
        assert!(verify(&account, uri, &parts.join(".")).is_err());
        let now = chrono::Utc::now().timestamp();
        let expired =
            json!({"iss": account.client_email, "aud": uri, "iat": now - 4000, "exp": now - 400, "scope": FCM_SCOPE});
        assert!(verify(&account, uri, &sign(&account, &expired)).is_err());
    }
}
