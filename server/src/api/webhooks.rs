//! Delivery reports from providers: Twilio's status callbacks, verified with the
//! `X-Twilio-Signature` HMAC as Twilio documents it.

use super::problem::{ApiError, ApiResult};
use crate::db::entity::outbox_message;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine;
use hmac::{Hmac, Mac};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Twilio's signature: base64(HMAC-SHA1(auth token, URL + each POST parameter's name and
/// value, sorted by name)).
pub fn twilio_signature(auth_token: &str, url: &str, params: &BTreeMap<String, String>) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (k, v) in params {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Records a Twilio delivery status on the outbox message it is about.
#[post("/api/v1/webhooks/twilio/status")]
pub async fn twilio_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<BTreeMap<String, String>>,
) -> ApiResult<HttpResponse> {
    let Some(token) = &state.settings.twilio_auth_token else {
        return Err(ApiError::not_found("webhook"));
    };
    let url = format!("{}{}", state.public_base, req.uri().path_and_query().map_or("", |p| p.as_str()));
    let expected = twilio_signature(token.expose_secret(), &url, &form);
    let given = req.headers().get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if given != expected {
        return Err(ApiError::Forbidden("the X-Twilio-Signature does not match this request".to_owned()));
    }
    let id = web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("message_id").and_then(|v| v.parse::<Uuid>().ok()))
        .ok_or_else(|| ApiError::field("message_id", "missing or not an outbox message id"))?;
    let Some(m) = outbox_message::Entity::find_by_id(id).one(&state.db.write).await? else {
        return Err(ApiError::not_found("message"));
    };
    let mut payload = m.payload.clone();
    payload["delivery_status"] = serde_json::json!(form.get("MessageStatus"));
    let mut am: outbox_message::ActiveModel = m.into();
    am.payload = Set(payload);
    am.update(&state.db.write).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_twilios_documented_example() {
        // From Twilio's "Validating requests" documentation.
        let params: BTreeMap<String, String> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let sig = twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params);
        assert_eq!(sig, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
    }
}
