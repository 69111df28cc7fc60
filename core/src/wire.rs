//! Request bodies that more than one side speaks: the server decodes them (and documents
//! them in its OpenAPI, feature `openapi`), the device library sends them. One type per
//! body, so the two cannot drift apart.

use serde::{Deserialize, Serialize};

/// Credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A refresh token to exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from login.
    pub refresh_token: String,
}

/// A device to push to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// `android` or `ios`.
    pub platform: String,
    /// The FCM registration token.
    pub push_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_keep_their_wire_names_and_refuse_unknown_fields() {
        let d = NewDevice { platform: "ios".into(), push_token: "t".into() };
        assert_eq!(serde_json::to_value(&d).unwrap(), serde_json::json!({"platform": "ios", "push_token": "t"}));
        assert!(serde_json::from_str::<LoginRequest>(r#"{"email":"a","password":"b","x":1}"#).is_err());
        let r: RefreshRequest = serde_json::from_str(r#"{"refresh_token":"r"}"#).unwrap();
        assert_eq!(r.refresh_token, "r");
    }
}
