//! FCM's error bodies: `{"error": {"code", "message", "status", "details"}}` with the
//! `FcmError` and `BadRequest` details Google attaches.

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::http::{Refusal, Resp, refuse};

/// An FCM error body: `{"error": {"code", "message", "status", "details"}}`.
pub(crate) fn fcm_error(status: StatusCode, grpc_status: &str, message: &str, details: Vec<Value>) -> Resp {
    let mut error = json!({
        "code": status.as_u16(),
        "message": message,
        "status": grpc_status,
    });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    crate::http::json(status, &json!({ "error": error }))
}

/// The `google.firebase.fcm.v1.FcmError` detail carrying an FCM error code.
pub(crate) fn fcm_detail(error_code: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode": error_code,
    })
}

/// The `google.rpc.BadRequest` detail naming the offending field.
pub(crate) fn bad_request_detail(field: &str, description: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{ "field": field, "description": description }],
    })
}

/// 400 INVALID_ARGUMENT for a body that is not valid JSON for the `Message` proto.
pub(crate) fn invalid_payload(field: &str, description: &str) -> Refusal {
    refuse(fcm_error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        &format!("Invalid JSON payload received. {description}"),
        vec![bad_request_detail(field, description)],
    ))
}

/// 400 INVALID_ARGUMENT carrying FCM's own INVALID_ARGUMENT error code.
pub(crate) fn invalid_argument(message: &str) -> Refusal {
    refuse(fcm_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message, vec![fcm_detail("INVALID_ARGUMENT")]))
}

/// The 404 FCM answers for a token whose app instance is gone.
pub(crate) fn unregistered() -> Resp {
    fcm_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Requested entity was not found.", vec![fcm_detail("UNREGISTERED")])
}

/// The transient errors: 503 UNAVAILABLE or 500 INTERNAL.
pub(crate) fn transient(unavailable: bool) -> Resp {
    if unavailable {
        fcm_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The service is currently unavailable.",
            vec![fcm_detail("UNAVAILABLE")],
        )
    } else {
        fcm_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error encountered.",
            vec![fcm_detail("INTERNAL")],
        )
    }
}
