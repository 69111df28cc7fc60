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

fn page(title: &str, inner: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
         fieldset{{border:0;padding:0}}label{{display:block;margin:.3rem 0}}textarea{{width:100%;min-height:6rem}}\
         button{{font-size:1rem;padding:.5rem 1.2rem;margin-top:1rem}}.error{{color:#a00}}</style></head>\
         <body><h1>{t}</h1>{inner}</body></html>",
        t = escape(title)
    )
}

fn error_page(e: &ApiError) -> HttpResponse {
    let body = page("Survey", &format!("<p class=\"error\">{}</p>", escape(&e.problem().detail)));
    HttpResponse::build(e.status_code()).content_type("text/html; charset=utf-8").body(body)
}

/// The survey form.
#[get("/survey/{token}")]
pub async fn form(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    if let Err(e) = state.tickets.surveys.verify(&token) {
        return error_page(&e.into());
    }
    let stars: String = (1..=5)
        .rev()
        .map(|n| {
            format!(
                "<label><input type=\"radio\" name=\"rating\" value=\"{n}\" required> {n} {}</label>",
                "★".repeat(n)
            )
        })
        .collect();
    let body = page(
        "How did we do?",
        &format!(
            "<form method=\"post\" action=\"/survey/{}\"><fieldset><legend>Your rating</legend>{stars}</fieldset>\
             <label for=\"comment\">Anything else?</label><textarea id=\"comment\" name=\"comment\" maxlength=\"2000\"></textarea>\
             <button type=\"submit\">Send</button></form>",
            escape(&token)
        ),
    );
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
    let rating = answer.rating.as_deref().and_then(|r| r.parse::<i64>().ok()).unwrap_or(0);
    match state.tickets.answer_survey(&token, rating, &answer.comment).await {
        Ok(_) => HttpResponse::Created()
            .content_type("text/html; charset=utf-8")
            .body(page("Thank you", "<p>Your answer has been recorded. Thank you for helping us improve.</p>")),
        Err(e) => error_page(&e.into()),
    }
}
