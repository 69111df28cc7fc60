//! The HTTP API: routes, extractors, problem details and the generated OpenAPI document.

pub mod admin;
pub mod auth_routes;
pub mod billing;
pub mod create;
pub mod customers;
pub mod devices;
pub mod edge;
pub mod experts;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod invoices;
pub mod kb;
pub mod openapi;
pub mod plans;
pub mod privacy;
pub mod problem;
pub mod reports;
pub mod surveys;
pub mod sync;
pub mod tickets;
pub mod users;
pub mod views;
pub mod webhooks;
pub mod workflow;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, web};
use openapi::ProblemResponses;
use problem::ApiError;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The OpenAPI document, generated from the handlers and types.
#[derive(OpenApi)]
#[openapi(
    info(title = "Sysops Squad API", description = "Trouble tickets, experts in the field, and the knowledge base. Errors are RFC 9457 problem details."),
    paths(
        auth_routes::login, auth_routes::refresh, auth_routes::logout, auth_routes::logout_all,
        auth_routes::password_reset, auth_routes::password_reset_confirm,
        customers::register, customers::me, customers::subscribe, customers::subscriptions,
        privacy::export_mine, privacy::export_one, privacy::close_mine, privacy::erase_one,
        customers::update_me, customers::find, customers::get_one,
        users::create, users::get_one, users::update, plans::list, plans::create, plans::update, plans::retire,
        experts::create, experts::list, experts::get_one, experts::update,
        tickets::create, tickets::list, tickets::get_one, tickets::events,
        kb::search, kb::get_one, kb::create, kb::publish, kb::reject, devices::register,
        workflow::accept, workflow::decline, workflow::complete, workflow::cancel, workflow::note, surveys::submit,
        admin::list_outbox, admin::retry, admin::alerts, admin::conflicts,
        workflow::assign, workflow::en_route, workflow::arrived,
        invoices::mine, invoices::get_pdf, invoices::get_one, invoices::monthly,
        sync::root, sync::socket,
        health::live, health::ready, health::metrics,
        reports::ticketing, reports::experts, reports::financial,
        billing::stripe_webhook, billing::card, billing::card_setup, billing::card_save, billing::change_plan,
        billing::cancel, billing::refund,
    ),
    components(schemas(problem::Problem, problem::FieldErrorBody)),
    modifiers(&BearerAuth, &ProblemResponses),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::BadRequest(format!("invalid query parameters: {e}")).into()),
    )
    .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("resource").into()))
    .service(auth_routes::login)
    .service(auth_routes::refresh)
    .service(auth_routes::logout)
    .service(auth_routes::logout_all)
    .service(auth_routes::password_reset)
    .service(auth_routes::password_reset_confirm)
    .service(customers::register)
    .service(customers::me)
    .service(customers::update_me)
    .service(customers::find)
    .service(customers::get_one)
    .service(customers::subscribe)
    .service(customers::subscriptions)
    .service(privacy::export_mine)
    .service(privacy::close_mine)
    .service(privacy::export_one)
    .service(privacy::erase_one)
    .service(users::create)
    .service(users::get_one)
    .service(users::update)
    .service(plans::list)
    .service(plans::create)
    .service(plans::update)
    .service(plans::retire)
    .service(experts::create)
    .service(experts::list)
    .service(experts::get_one)
    .service(experts::update)
    .service(tickets::create)
    .service(tickets::list)
    .service(tickets::get_one)
    .service(tickets::events)
    .service(kb::search)
    .service(kb::get_one)
    .service(kb::create)
    .service(kb::publish)
    .service(kb::reject)
    .service(devices::register)
    .service(workflow::accept)
    .service(workflow::decline)
    .service(workflow::complete)
    .service(workflow::cancel)
    .service(workflow::note)
    .service(surveys::submit)
    .service(surveys::form)
    .service(surveys::form_submit)
    .service(admin::list_outbox)
    .service(admin::retry)
    .service(admin::alerts)
    .service(admin::conflicts)
    .service(admin::dev_outbox)
    .service(webhooks::twilio_status)
    .service(sync::root)
    .service(sync::socket)
    .service(health::live)
    .service(health::ready)
    .service(health::metrics)
    .service(health::problem_type)
    .service(reports::ticketing)
    .service(reports::experts)
    .service(reports::financial)
    .service(invoices::mine)
    .service(invoices::monthly)
    .service(invoices::get_pdf)
    .service(invoices::get_one)
    .service(health::docs_redirect)
    .service(workflow::assign)
    .service(workflow::en_route)
    .service(workflow::arrived)
    .service(billing::stripe_webhook)
    .service(billing::card)
    .service(billing::card_setup)
    .service(billing::card_save)
    .service(billing::change_plan)
    .service(billing::cancel)
    .service(billing::refund)
    .service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", ApiDoc::openapi()));
}

/// Unknown routes: 404 as a problem; a real route with a method it does not take: 405.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    edge::not_found(req).await
}

/// Turns any error response that is not already a problem (a 405 from routing, an
/// error from a middleware) into one, so clients see a single error format.
pub fn ensure_problem<B: MessageBody + 'static>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(problem::PROBLEM_JSON) || v.starts_with("text/html"));
    // Problems, and the web's own error pages, are already in their format.
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail = match status.as_u16() {
        404 => "no such resource".to_owned(),
        405 => format!("method {} is not allowed on {}", res.request().method(), res.request().path()),
        413 => "the request body is too large".to_owned(),
        s if s >= 500 => "an internal error occurred; nothing was changed by this request".to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let body = problem::Problem {
        kind: format!("/problems/http-{}", status.as_u16()),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        errors: None,
    };
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::CONTENT_TYPE, problem::PROBLEM_JSON));
    if let Some(allow) = res.headers().get(header::ALLOW) {
        resp.insert_header((header::ALLOW, allow.clone()));
    }
    let resp: HttpResponse<BoxBody> = resp.body(serde_json::to_string(&body).unwrap_or_default());
    let (req, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, resp).map_into_right_body()))
}

/// A request asking to switch protocols that this server does not switch to (e.g. the
/// `Upgrade: h2c` a JDK client sends on plain HTTP) gets its answer over HTTP/1.1 with
/// `Connection: close`, so the client never reuses a connection left in an undefined
/// state. WebSocket upgrades (101) pass through.
pub async fn refuse_upgrades(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let mut res = next.call(req).await?;
    if upgrade && res.status() != actix_web::http::StatusCode::SWITCHING_PROTOCOLS {
        res.response_mut().head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
    }
    Ok(res)
}
