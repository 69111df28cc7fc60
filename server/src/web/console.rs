//! The call-center console: find a caller among all customers by name, e-mail or phone
//! (the API's search, an index range per page), then see their plans and tickets.

use super::chrome::Chrome;
use super::customer::{TicketRow, recent_tickets};
use super::error::WebResult;
use super::session::Viewer;
use crate::customers::{self, CustomerDetail, CustomerSummary};
use crate::state::AppState;
use actix_web::web::{self, Query};
use actix_web::{HttpRequest, HttpResponse, Responder, get};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use uuid::Uuid;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(search).service(customer);
}

/// The search box.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchForm {
    q: String,
    cursor: String,
}

/// What a search found.
#[derive(Default)]
pub struct Results {
    /// The query.
    pub q: String,
    /// Matches on this page.
    pub items: Vec<CustomerSummary>,
    /// The next page's cursor.
    pub next: Option<String>,
    /// Why the query could not be run.
    pub problem: Option<String>,
    /// A search was made.
    pub searched: bool,
}

impl Results {
    fn next_href(&self) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!("/console?q={}&cursor={}", enc(&self.q), enc(self.next.as_deref().unwrap_or_default()))
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "web/console.html")]
struct ConsolePage {
    chrome: Chrome,
    results: Results,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/console_results.html")]
struct ResultsFragment {
    results: Results,
}

/// `GET /console?q=`: the search page; htmx asks for the results alone as you type.
#[get("/console")]
pub async fn search(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    q: Query<SearchForm>,
) -> WebResult<HttpResponse> {
    viewer.require(customers::FINDERS, "the call-center console")?;
    let f = q.into_inner();
    let mut results = Results { q: f.q.clone(), ..Default::default() };
    if !f.q.trim().is_empty() {
        results.searched = true;
        let cursor = Some(f.cursor.as_str()).filter(|c| !c.is_empty());
        match customers::find(&state.db, &f.q, 20, cursor).await {
            Ok(page) => {
                results.items = page.items;
                results.next = page.next_cursor;
            }
            Err(crate::error::ServiceError::Validation(v)) => results.problem = v.0.first().map(|e| e.message.clone()),
            Err(e) => return Err(viewer.error(e)),
        }
    }
    let fragment = req.headers().contains_key("hx-request") && !req.headers().contains_key("hx-boosted");
    Ok(if fragment {
        ResultsFragment { results }.respond_to(&req).map_into_boxed_body()
    } else {
        ConsolePage { chrome: viewer.chrome, results }.respond_to(&req).map_into_boxed_body()
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "web/customer_detail.html")]
struct CustomerPage {
    chrome: Chrome,
    detail: CustomerDetail,
    tickets: Vec<TicketRow>,
    invoices: Vec<super::billing::InvoiceRowView>,
}

/// `GET /console/customers/{id}`: a customer's profile, plans and latest tickets.
#[get("/console/customers/{id}")]
pub async fn customer(viewer: Viewer, state: web::Data<AppState>, id: web::Path<Uuid>) -> WebResult<CustomerPage> {
    viewer.require(customers::FINDERS, "the call-center console")?;
    let id = id.into_inner();
    let detail = customers::detail(&state.db, id).await.map_err(|e| viewer.error(e))?;
    let tickets = recent_tickets(&state, id, 20, "/console/tickets").await?;
    let invoices = super::invoices::latest(&state, id).await?;
    Ok(CustomerPage { chrome: viewer.chrome, detail, tickets, invoices })
}
