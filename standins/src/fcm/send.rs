//! FCM HTTP v1 `messages:send` request checking, refusing what Google's FCM refuses.

use hyper::StatusCode;
use serde_json::{Map, Value};

use super::errors::{fcm_detail, fcm_error, invalid_argument, invalid_payload};
use crate::http::{Refusal, refuse};

/// Fields the v1 `Message` resource has (proto JSON accepts both spellings).
const MESSAGE_FIELDS: &[&str] = &[
    "name",
    "data",
    "notification",
    "android",
    "webpush",
    "apns",
    "fcm_options",
    "fcmOptions",
    "token",
    "topic",
    "condition",
];

/// A request body that passed FCM's checks.
pub(crate) struct Checked {
    /// The `message` object as sent.
    pub(crate) message: Value,
    /// Token, `/topics/NAME` or condition.
    pub(crate) recipient: String,
    /// The registration token, when the target is one.
    pub(crate) token: Option<String>,
    /// `data.message_id`, else `android.collapse_key`.
    pub(crate) dedupe_id: Option<String>,
    /// `validate_only: true`: check, answer, deliver nothing.
    pub(crate) validate_only: bool,
}

/// Checks that a map (`data`, `android.data`, `apns.headers`) holds only strings.
fn string_map(value: &Value, path: &str) -> Result<(), Refusal> {
    let Value::Object(map) = value else {
        return Err(invalid_payload(
            path,
            &format!("Invalid value at '{path}' (type.googleapis.com/google.protobuf.Struct)"),
        ));
    };
    for (i, (_, v)) in map.iter().enumerate() {
        if !v.is_string() {
            let field = format!("{path}[{i}].value");
            return Err(invalid_payload(&field, &format!("Invalid value at '{field}' (TYPE_STRING), {v}")));
        }
    }
    Ok(())
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Refusal> {
    value.as_object().ok_or_else(|| invalid_payload(path, &format!("Invalid value at '{path}': expected an object")))
}

fn optional_string(map: &Map<String, Value>, key: &str, path: &str) -> Result<(), Refusal> {
    match map.get(key) {
        None | Some(Value::String(_)) => Ok(()),
        Some(v) => {
            let field = format!("{path}.{key}");
            Err(invalid_payload(&field, &format!("Invalid value at '{field}' (TYPE_STRING), {v}")))
        }
    }
}

fn check_data_keys(data: &Map<String, Value>) -> Result<(), Refusal> {
    for key in data.keys() {
        let lower = key.to_ascii_lowercase();
        if lower == "from" || lower == "message_type" || lower.starts_with("google.") || lower.starts_with("gcm.") {
            return Err(invalid_argument(&format!("Invalid data payload key: {key}")));
        }
    }
    Ok(())
}

fn check_android(android: &Value) -> Result<(), Refusal> {
    let map = object(android, "message.android")?;
    optional_string(map, "collapse_key", "message.android")?;
    optional_string(map, "restricted_package_name", "message.android")?;
    if let Some(data) = map.get("data") {
        string_map(data, "message.android.data")?;
    }
    if let Some(priority) = map.get("priority") {
        let ok = priority.as_str().is_some_and(|p| p.eq_ignore_ascii_case("normal") || p.eq_ignore_ascii_case("high"));
        if !ok {
            return Err(invalid_payload(
                "message.android.priority",
                &format!(
                    "Invalid value at 'message.android.priority' \
                     (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), {priority}"
                ),
            ));
        }
    }
    if let Some(ttl) = map.get("ttl") {
        let ok = ttl.as_str().is_some_and(|t| {
            t.strip_suffix('s').is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok_and(|v| v >= 0.0))
        });
        if !ok {
            return Err(invalid_payload(
                "message.android.ttl",
                &format!(
                    "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), {ttl}"
                ),
            ));
        }
    }
    if let Some(n) = map.get("notification") {
        object(n, "message.android.notification")?;
    }
    Ok(())
}

fn check_apns(apns: &Value) -> Result<(), Refusal> {
    let map = object(apns, "message.apns")?;
    if let Some(headers) = map.get("headers") {
        string_map(headers, "message.apns.headers")?;
    }
    if let Some(payload) = map.get("payload") {
        object(payload, "message.apns.payload")?;
    }
    Ok(())
}

fn valid_topic(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~%".contains(c))
}

/// Checks a `messages:send` body the way FCM does and pulls out what the record needs.
pub(crate) fn check(body: &[u8]) -> Result<Checked, Refusal> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| invalid_payload("", &format!("Unexpected token: {e}")))?;
    let root = object(&root, "")?.clone();
    let mut validate_only = false;
    for (key, value) in &root {
        match key.as_str() {
            "message" => {}
            "validate_only" | "validateOnly" => validate_only = value.as_bool().unwrap_or(false),
            other => {
                return Err(invalid_payload("", &format!("Unknown name \"{other}\": Cannot find field.")));
            }
        }
    }
    let Some(message) = root.get("message").cloned() else {
        return Err(refuse(fcm_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
            vec![fcm_detail("INVALID_ARGUMENT")],
        )));
    };
    let map = object(&message, "message")?;
    if let Some(unknown) = map.keys().find(|k| !MESSAGE_FIELDS.contains(&k.as_str())) {
        return Err(invalid_payload(
            "message",
            &format!("Unknown name \"{unknown}\" at 'message': Cannot find field."),
        ));
    }
    let targets: Vec<&str> = ["token", "topic", "condition"].into_iter().filter(|t| map.contains_key(*t)).collect();
    match targets.len() {
        0 => return Err(invalid_argument("Recipient of the message is not set.")),
        1 => {}
        _ => {
            return Err(invalid_payload(
                "message",
                &format!("Oneof field 'target' is already set. Cannot set '{}'", targets[1]),
            ));
        }
    }
    for key in ["token", "topic", "condition"] {
        optional_string(map, key, "message")?;
    }
    let (recipient, token) = if let Some(token) = map.get("token").and_then(Value::as_str) {
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err(invalid_argument("The registration token is not a valid FCM registration token"));
        }
        (token.to_owned(), Some(token.to_owned()))
    } else if let Some(topic) = map.get("topic").and_then(Value::as_str) {
        let name = topic.strip_prefix("/topics/").unwrap_or(topic);
        if !valid_topic(name) {
            return Err(invalid_argument("Invalid topic name"));
        }
        (format!("/topics/{name}"), None)
    } else {
        let condition = map.get("condition").and_then(Value::as_str).unwrap_or_default();
        if condition.trim().is_empty() {
            return Err(invalid_argument("Invalid condition expression"));
        }
        (condition.to_owned(), None)
    };
    if let Some(data) = map.get("data") {
        string_map(data, "message.data")?;
        check_data_keys(object(data, "message.data")?)?;
    }
    if let Some(notification) = map.get("notification") {
        let n = object(notification, "message.notification")?;
        for key in ["title", "body", "image"] {
            optional_string(n, key, "message.notification")?;
        }
    }
    if let Some(android) = map.get("android") {
        check_android(android)?;
    }
    if let Some(apns) = map.get("apns") {
        check_apns(apns)?;
    }
    if let Some(webpush) = map.get("webpush") {
        object(webpush, "message.webpush")?;
    }
    let dedupe_id = map
        .get("data")
        .and_then(|d| d.get("message_id"))
        .and_then(Value::as_str)
        .or_else(|| map.get("android").and_then(|a| a.get("collapse_key")).and_then(Value::as_str))
        .map(str::to_owned);
    Ok(Checked { message, recipient, token, dedupe_id, validate_only })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status_of(body: &Value) -> Option<u16> {
        check(body.to_string().as_bytes()).err().map(|resp| resp.status().as_u16())
    }

    #[test]
    fn accepts_a_well_formed_message() {
        let c = check(
            json!({"message": {"token": "abc", "notification": {"title": "t", "body": "b"},
                "data": {"message_id": "m1", "ticket": "42"},
                "android": {"priority": "high", "collapse_key": "ck", "ttl": "3600s"},
                "apns": {"headers": {"apns-priority": "10"}, "payload": {"aps": {"sound": "default"}}}}})
            .to_string()
            .as_bytes(),
        )
        .ok()
        .unwrap();
        assert_eq!(c.recipient, "abc");
        assert_eq!(c.dedupe_id.as_deref(), Some("m1"));
    }

    #[test]
    fn refuses_what_fcm_refuses() {
        for body in [
            json!({"message": {"notification": {"title": "t"}}}),
            json!({"message": {"token": "a", "topic": "b"}}),
            json!({"message": {"token": "a", "data": {"n": 1}}}),
            json!({"message": {"token": "a", "data": {"from": "x"}}}),
            json!({"message": {"token": "a", "bogus": 1}}),
            json!({"message": {"token": ""}}),
            json!({"message": {"topic": "bad topic"}}),
            json!({"message": {"token": "a", "android": {"ttl": "soon"}}}),
            json!({"msg": {}}),
        ] {
            assert_eq!(status_of(&body), Some(400), "{body}");
        }
    }

    #[test]
    fn collapse_key_is_the_fallback_dedupe_id() {
        let c = check(
            json!({"message": {"topic": "/topics/news", "android": {"collapse_key": "ck"}}}).to_string().as_bytes(),
        )
        .ok()
        .unwrap();
        assert_eq!(c.recipient, "/topics/news");
        assert_eq!(c.dedupe_id.as_deref(), Some("ck"));
    }
}
