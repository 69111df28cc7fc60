//! Surveys: the JSON endpoint for clients, and a small server-rendered page (no
//! JavaScript needed) that the e-mailed link opens.

use super::extract::ApiJson;
use super::problem::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::{HttpResponse, ResponseError, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A survey answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyBody {
    /// 1 (poor) to 5 (excellent).
    pub rating: i64,
    /// Anything to add (up to 2,000 characters).
    #[serde(default)]
    pub comment: String,
}

/// A recorded survey.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyView {
    /// Id.
    pub id: Uuid,
    /// The ticket.
    pub ticket_id: Uuid,
    /// Rating.
    pub rating: i32,
    /// Comment.
    pub comment: String,
    /// When.
    pub submitted_at: DateTime<Utc>,
}

/// Records the survey behind an e-mailed link (once).
#[utoipa::path(tag = "surveys", request_body = SurveyBody, responses((status = 201, body = SurveyView),
    (status = 400, body = super::problem::Problem, description = "Damaged or altered link"),
    (status = 404, body = super::problem::Problem, description = "No survey waits for this link"),
    (status = 409, body = super::problem::Problem, description = "Already answered"),
    (status = 410, body = super::problem::Problem, description = "Expired")))]
#[post("/api/v1/surveys/{token}")]
pub async fn submit(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: ApiJson<SurveyBody>,
) -> ApiResult<HttpResponse> {
    let s = state.tickets.answer_survey(&token, body.value.rating, &body.value.comment).await?;
    Ok(HttpResponse::Created().json(SurveyView {
        id: s.id,
        ticket_id: s.ticket_id,
        rating: s.rating,
        comment: s.comment,
        submitted_at: s.submitted_at,
    }))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A page in the site's look (its stylesheet and header), readable without JavaScript.
fn page(title: &str, inner: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Sysops Squad</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
         <link rel=\"icon\" href=\"/static/logo.svg\" type=\"image/svg+xml\"></head>\
         <body><header class=\"top\"><div class=\"wrap bar\"><a class=\"brand\" href=\"/\">\
         <img src=\"/static/logo.svg\" alt=\"\" width=\"32\" height=\"32\"><span>Sysops Squad</span></a></div></header>\
         <main id=\"main\" class=\"wrap\"><section class=\"panel narrow\"><h1>{t}</h1>{inner}</section></main></body></html>",
        t = escape(title)
    )
}

fn error_page(e: &ApiError) -> HttpResponse {
    let body = page("Survey", &format!("<p class=\"error\">{}</p>", escape(&e.problem().detail)));
    HttpResponse::build(e.status_code()).content_type("text/html; charset=utf-8").body(body)
}

/// The survey form: `rating` and `comment` as sent (a form sent again keeps them), and
/// the message for each field that was refused.
fn survey_form(token: &str, rating: Option<i64>, comment: &str, errors: &[(String, String)]) -> String {
    let error_of = |field: &str| errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str());
    let stars: String = (1..=5)
        .rev()
        .map(|n| {
            format!(
                "<label class=\"choice\"><input type=\"radio\" name=\"rating\" value=\"{n}\"{}> {n} {}</label>",
                if rating == Some(n) { " checked" } else { "" },
                "★".repeat(n as usize)
            )
        })
        .collect();
    let rating_error = error_of("rating")
        .map(|m| format!("<p class=\"error\" id=\"rating-error\">{}</p>", escape(&sentence(m))))
        .unwrap_or_default();
    let comment_error = error_of("comment")
        .map(|m| format!("<p class=\"error\" id=\"comment-error\">{}</p>", escape(&sentence(m))))
        .unwrap_or_default();
    let has_rating_error = if error_of("rating").is_some() { " has-error" } else { "" };
    let has_comment_error = if error_of("comment").is_some() { " has-error" } else { "" };
    let described = |field: &str, id: &str| {
        if error_of(field).is_some() {
            format!(" aria-describedby=\"{id}\" aria-invalid=\"true\"")
        } else {
            String::new()
        }
    };
    format!(
        "<form method=\"post\" action=\"/survey/{}\"><fieldset class=\"choices{has_rating_error}\"{}><legend>Your rating</legend>{rating_error}{stars}</fieldset>\
         <div class=\"field{has_comment_error}\"><label for=\"comment\">Anything else?</label>{comment_error}\
         <textarea id=\"comment\" name=\"comment\" rows=\"4\" maxlength=\"2000\"{}>{}</textarea></div>\
         <p><button type=\"submit\" class=\"button\">Send</button></p></form>",
        escape(token),
        described("rating", "rating-error"),
        described("comment", "comment-error"),
        escape(comment)
    )
}

/// "must be between 1 and 5" → "Must be between 1 and 5."
fn sentence(m: &str) -> String {
    let mut c = m.chars();
    let mut s: String = c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// The survey form.
#[get("/survey/{token}")]
pub async fn form(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    if let Err(e) = state.tickets.surveys.verify(&token) {
        return error_page(&e.into());
    }
    let body = page("How did we do?", &survey_form(&token, None, "", &[]));
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
}

/// The form's fields.
#[derive(Debug, Deserialize)]
pub struct SurveyForm {
    rating: Option<String>,
    #[serde(default)]
    comment: String,
}

/// Records the form and thanks the customer.
#[post("/survey/{token}")]
pub async fn form_submit(
    state: web::Data<AppState>,
    token: web::Path<String>,
    answer: web::Form<SurveyForm>,
) -> HttpResponse {
    let sent = answer.rating.as_deref().and_then(|r| r.trim().parse::<i64>().ok());
    let Some(rating) = sent else {
        // Nothing chosen: the form again, with the message at the rating and the comment kept.
        if let Err(e) = state.tickets.surveys.verify(&token) {
            return error_page(&e.into());
        }
        let errors = [("rating".to_owned(), "choose a rating from 1 to 5 stars".to_owned())];
        let body = page("How did we do?", &survey_form(&token, None, &answer.comment, &errors));
        return HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(body);
    };
    match state.tickets.answer_survey(&token, rating, &answer.comment).await {
        Ok(_) => HttpResponse::Created()
            .content_type("text/html; charset=utf-8")
            .body(page("Thank you", "<p>Your answer has been recorded. Thank you for helping us improve.</p>")),
        Err(crate::tickets::TicketError::Invalid(v)) => {
            let errors: Vec<(String, String)> = v.0.into_iter().map(|f| (f.field, f.message)).collect();
            let body = page("How did we do?", &survey_form(&token, Some(rating), &answer.comment, &errors));
            HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(body)
        }
        Err(e) => error_page(&e.into()),
    }
}
