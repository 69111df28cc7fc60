//! Request extractors that turn every kind of bad input into a precise problem: the
//! JSON body (content type, size, syntax, types, unknown and missing fields) and the
//! caller's bearer token.

use super::problem::ApiError;
use crate::auth::Caller;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::future::{LocalBoxFuture, ready};
use serde::de::DeserializeOwned;

/// A JSON body, strictly parsed, with its raw bytes (for idempotency fingerprints).
pub struct ApiJson<T> {
    /// The parsed value.
    pub value: T,
    /// The bytes as received.
    pub raw: Bytes,
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<web::Data<AppState>>().map_or(256 * 1024, |s| s.settings.max_body_bytes);
        if !is_json(req) {
            return Box::pin(ready(Err(ApiError::UnsupportedMediaType(
                "the body must be JSON sent with Content-Type: application/json".to_owned(),
            ))));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Box::pin(ready(Err(too_large(limit))));
        }
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            let raw = body.freeze();
            let value = parse_json(&raw)?;
            Ok(ApiJson { value, raw })
        })
    }
}

/// An optional JSON body: absent (no body and no content type) is `None`; anything
/// sent is parsed as strictly as [`ApiJson`].
pub struct MaybeJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for MaybeJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
        if !req.headers().contains_key(header::CONTENT_TYPE) && !chunked && length.unwrap_or(0) == 0 {
            return Box::pin(ready(Ok(Self(None))));
        }
        let inner = ApiJson::<T>::from_request(req, payload);
        Box::pin(async move { Ok(Self(Some(inner.await?.value))) })
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::TooLarge(format!("the body exceeds the limit of {limit} bytes"))
}

/// Parses `raw` strictly, mapping syntax errors to 400 and data errors (wrong types,
/// unknown or missing fields) to 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Malformed("the body is empty; send a JSON object".to_owned()));
    }
    // Syntax first (only on the error paths, so a good body is parsed once).
    let syntax = || {
        serde_json::from_slice::<serde::de::IgnoredAny>(raw)
            .map(|_| ())
            .map_err(|e| ApiError::Malformed(format!("malformed JSON: {e}")))
    };
    if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        syntax()?;
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(raw);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut *de);
    match result {
        Ok(v) => {
            de.end().map_err(|e| ApiError::Malformed(format!("malformed JSON: {e}")))?;
            Ok(v)
        }
        Err(err) => {
            syntax()?;
            let path = err.path().to_string();
            let msg = strip_position(&err.into_inner().to_string());
            Err(ApiError::field(&field_of(&path, &msg), msg))
        }
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// The field a data error is about: the path, extended by the field named in
/// "missing field `x`" or "unknown field `x`".
fn field_of(path: &str, msg: &str) -> String {
    let base = if path == "." { "" } else { path };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| msg.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match (named, msg.starts_with("unknown field")) {
        (Some(name), false) => join(base, name),
        (Some(name), true) if !base.ends_with(name) => join(base, name),
        _ if base.is_empty() => "body".to_owned(),
        _ => base.to_owned(),
    }
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() { name.to_owned() } else { format!("{base}.{name}") }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { caller_of(&req).await })
    }
}

/// The authenticated caller of `req` (a valid token of a user who still exists, is
/// enabled and has that role), or a 401 saying why not.
pub async fn caller_of(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
    let token = bearer(req).ok_or_else(|| {
        ApiError::Unauthorized("missing bearer token: send Authorization: Bearer <access token>".to_owned())
    })?;
    Ok(state.auth.authenticate(&state.db, &token).await?)
}

/// The bearer token of the `Authorization` header, if any.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Point {
        lat: f64,
        lon: f64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        location: Point,
    }

    fn field(raw: &str) -> String {
        match parse_json::<Body>(raw.as_bytes()) {
            Err(ApiError::Validation(v)) => v.0[0].field.clone(),
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn data_errors_name_the_field() {
        assert_eq!(field(r#"{"location":{"lat":1,"lon":2}}"#), "title");
        assert_eq!(field(r#"{"title":"x","location":{"lat":"north","lon":2}}"#), "location.lat");
        assert_eq!(field(r#"{"title":"x","location":{"lat":1}}"#), "location.lon");
        assert_eq!(field(r#"{"title":"x","extra":1,"location":{"lat":1,"lon":2}}"#), "extra");
        assert_eq!(field(r#"[1,2]"#), "body");
        assert_eq!(field(r#""a string""#), "body");
    }

    #[test]
    fn syntax_errors_are_malformed() {
        for raw in ["", "{", "{\"title\":}", "{} trailing"] {
            assert!(matches!(parse_json::<Body>(raw.as_bytes()), Err(ApiError::Malformed(_))), "{raw:?}");
        }
    }
}
