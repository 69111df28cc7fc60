//! Forms: errors shown next to their fields, taken from the same validation problems
//! the API returns, and the answer to a good POST (a redirect, so reloading does not
//! send it again).

use crate::api::problem::ApiError;
use actix_web::HttpResponse;
use actix_web::http::header;

/// Messages per field (the API's field names: `name`, `location.lat`, …), plus a
/// general one for the form as a whole (field `""`).
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    /// The message for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| f == field || f.starts_with(&format!("{field}."))).map(|(_, m)| m.as_str())
    }

    /// The message about the form as a whole.
    pub fn general(&self) -> Option<&str> {
        self.get("")
    }

    /// Every (field, message).
    pub fn pairs(self) -> Vec<(String, String)> {
        self.0
    }

    /// Whether there is any message.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// Adds a message.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.get(field).is_none() || field.is_empty() {
            self.0.push((field.to_owned(), sentence(&message.into())));
        }
    }

    /// The fields of a validation problem (`Some`), or `None` for other errors, which
    /// the caller turns into a page. A conflict becomes a message on `conflict_field`.
    pub fn from_api(e: impl Into<ApiError>, conflict_field: &str) -> Result<Self, ApiError> {
        let mut out = Self::default();
        match e.into() {
            ApiError::Validation(v) => {
                for f in v.0 {
                    out.add(&f.field, f.message);
                }
            }
            ApiError::Conflict(m) | ApiError::Unprocessable(m) => out.add(conflict_field, m),
            other => return Err(other),
        }
        Ok(out)
    }
}

/// "must be at most 200 characters" → "Must be at most 200 characters."
pub fn sentence(m: &str) -> String {
    let mut c = m.chars();
    let mut s = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>(),
        None => String::new(),
    };
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// 303 See Other to `to` (POST-redirect-GET).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// Whether a field of a checkbox-like form is on.
pub fn checked(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| !v.is_empty() && v != "off" && v != "false")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences_and_match_nested_fields() {
        let mut e = FieldErrors::default();
        e.add("location.lat", "must be between -90 and 90");
        assert_eq!(e.get("location"), Some("Must be between -90 and 90."));
        assert_eq!(e.get("name"), None);
    }
}
