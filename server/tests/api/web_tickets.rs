//! The ticket pages over plain HTTP (the browser suite in `tests/web` drives them in
//! Chromium): the live status stream sees a change made on another node, on SQLite and
//! on PostgreSQL; a customer's session cannot see or act on another customer's ticket;
//! a form sent twice with its one-time key raises one ticket; bad input is shown at its
//! field, never a 500; a description's markup is escaped.

use crate::helpers::*;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};
use std::time::Duration;

/// A browser without a browser: keeps the session cookie, follows no redirects.
struct Browser {
    http: Client,
    base: String,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    html: String,
    location: Option<String>,
}

impl Browser {
    /// Signs `email` in through the form.
    async fn signed_in(s: &Server, email: &str, password: &str) -> Self {
        let http = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let mut b = Browser { http, base: s.base.clone(), cookie: None };
        let csrf = token(&b.get("/sign-in").await.html);
        let p = b.post("/sign-in", &[("email", email), ("password", password), ("csrf", &csrf)]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
        b
    }

    fn keep(&mut self, r: &reqwest::Response) {
        if let Some(set) = r.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()) {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base)).header("accept", "text/html");
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        r
    }

    async fn page(&mut self, r: reqwest::RequestBuilder) -> Page {
        let resp = r.send().await.unwrap();
        self.keep(&resp);
        let location = resp.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned());
        Page { status: resp.status(), location, html: resp.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        let r = self.request(reqwest::Method::GET, path);
        self.page(r).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self.request(reqwest::Method::POST, path).form(form);
        self.page(r).await
    }
}

/// The CSRF token a page's forms carry.
fn token(html: &str) -> String {
    field(html, "csrf")
}

/// The value of the hidden field `name`.
fn field(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let at = html.find(&needle).unwrap_or_else(|| panic!("a field {name} in {html}")) + needle.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// The `subscription:category` choice of the raise form for `category`.
fn cover(html: &str, category: &str) -> String {
    let end = html.find(&format!(":{category}\"")).expect("the category is offered");
    let start = html[..end].rfind('"').unwrap() + 1;
    format!("{}:{category}", &html[start..end])
}

/// Reads server-sent events from `resp` until one contains every one of `wanted`.
async fn wait_for_event(resp: &mut reqwest::Response, wanted: &[&str]) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        for frame in seen.split("\n\n") {
            if wanted.iter().all(|w| frame.contains(w)) {
                return frame.to_owned();
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no event with {wanted:?} in 30 s; got: {seen}"))
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn live_status_follows_changes_made_on_another_node(backend: Backend) {
    let a = Server::spawn(backend).await;
    // PostgreSQL: a second node over the same database makes the change.
    let other;
    let b = if backend == Backend::Postgres {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = a.cfg.clone();
        cfg.data_dir = dir.path().join("data");
        other = (Server::start(cfg).await, dir);
        &other.0
    } else {
        &a
    };
    let w = World::new(&a).await;
    let (st, t) = a.post("/api/v1/tickets", Some(&w.customer.token), &ticket_body(&w.customer, "laptop", "Dead")).await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let id = t["id"].as_str().unwrap();
    let expert = w.experts.iter().find(|e| Some(e.id.as_str()) == t["assigned_expert_id"].as_str()).unwrap();

    let mut browser = Browser::signed_in(&a, &w.customer.email, PASSWORD).await;
    let mut stream = browser.request(reqwest::Method::GET, "/my/live").send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    // The stream starts with the ticket as it is.
    let first = wait_for_event(&mut stream, &[id, "\"status\":\"assigned\""]).await;
    assert!(first.starts_with("event: ticket\ndata: {"), "{first}");
    assert!(!first.contains(&w.customer.id), "the customer id is never sent: {first}");

    // The expert accepts through the other node's API: the stream hears it.
    let (st, _) = b.post(&format!("/api/v1/tickets/{id}/accept"), Some(&expert.token), &serde_json::json!({})).await;
    assert_eq!(st, StatusCode::OK);
    let accepted = wait_for_event(&mut stream, &[id, "\"status\":\"accepted\""]).await;
    assert!(accepted.contains("\"label\":\"Expert confirmed\""), "{accepted}");

    // Another customer's ticket never reaches this stream.
    let someone = add_customer(&a, "someone", &w.plan_id).await;
    let (st, theirs) =
        b.post("/api/v1/tickets", Some(&someone.token), &ticket_body(&someone, "television", "Theirs")).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = b
        .post(&format!("/api/v1/tickets/{id}/complete"), Some(&expert.token), &serde_json::json!({"resolution": "ok"}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let completed = wait_for_event(&mut stream, &[id, "\"status\":\"completed\""]).await;
    assert!(completed.contains("\"label\":\"Fixed\""), "{completed}");
    let rest = tokio::time::timeout(Duration::from_millis(1500), stream.chunk()).await;
    let theirs_id = theirs["id"].as_str().unwrap();
    if let Ok(Ok(Some(more))) = rest {
        assert!(!String::from_utf8_lossy(&more).contains(theirs_id), "another customer's ticket");
    }
    // A staff stream is for staff only.
    assert_eq!(browser.get(&format!("/console/tickets/{id}/live")).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn live_status_follows_changes_made_on_another_node_sqlite() {
    live_status_follows_changes_made_on_another_node(Backend::Sqlite).await;
}

#[tokio::test]
async fn live_status_follows_changes_made_on_another_node_postgres() {
    live_status_follows_changes_made_on_another_node(Backend::Postgres).await;
}

#[tokio::test]
async fn ticket_forms_raise_once_show_bad_input_at_its_field_and_keep_customers_apart() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let mut casey = Browser::signed_in(&s, &w.customer.email, PASSWORD).await;
    let form = casey.get("/my/tickets/new").await;
    assert_eq!(form.status, StatusCode::OK);
    let (csrf, key, laptop) = (token(&form.html), field(&form.html, "key"), cover(&form.html, "laptop"));

    // Bad input of every kind: a page with the message at the field and the text kept.
    let long = "x".repeat(5001);
    for (cover_value, title, description, key_value, at) in [
        ("", "Dead laptop", "Nothing", key.as_str(), "f-cover-error"),
        ("nonsense", "Dead laptop", "Nothing", key.as_str(), "f-cover-error"),
        (&format!("{}:toaster", w.customer.subscription_id), "Dead laptop", "Nothing", key.as_str(), "f-cover-error"),
        (&format!("{}:laptop", uuid::Uuid::now_v7()), "Dead laptop", "Nothing", key.as_str(), "f-cover-error"),
        (laptop.as_str(), "", "Nothing", key.as_str(), "f-title-error"),
        (laptop.as_str(), "Dead laptop", long.as_str(), key.as_str(), "f-description-error"),
        (laptop.as_str(), "Dead laptop", "Nothing", "short", "class=\"alert\""),
    ] {
        let p = casey
            .post(
                "/my/tickets/new",
                &[
                    ("csrf", &csrf),
                    ("cover", cover_value),
                    ("title", title),
                    ("description", description),
                    ("key", key_value),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::OK, "{cover_value} {title}: {}", p.html);
        assert!(p.html.contains(at), "{at} for {cover_value:?} {title:?}: {}", p.html);
        assert!(p.html.contains(&format!("value=\"{title}\"")), "the title is kept");
    }

    // Sent twice at once with its key (a double click): one ticket, both answers lead to it.
    let body = [
        ("csrf", csrf.as_str()),
        ("cover", laptop.as_str()),
        ("title", "Laptop <script>alert(1)</script>"),
        ("description", "Shows <img src=x onerror=alert(1)> & more"),
        ("key", key.as_str()),
    ];
    let (one, two) = tokio::join!(
        casey.request(reqwest::Method::POST, "/my/tickets/new").form(&body).send(),
        casey.request(reqwest::Method::POST, "/my/tickets/new").form(&body).send()
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!((one.status(), two.status()), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));
    let to = one.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(to, two.headers()[LOCATION].to_str().unwrap());
    let id = to.rsplit('/').next().unwrap().to_owned();
    let (_, mine) = s.get("/api/v1/tickets", Some(&w.customer.token)).await;
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one ticket: {mine}");
    // The same key with other details is refused, not a second ticket.
    let changed = [body[0], body[1], ("title", "Another problem"), body[3], body[4]];
    let p = casey.post("/my/tickets/new", &changed).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("already sent with other details"), "{}", p.html);

    // The page shows the markup as text.
    let page = casey.get(&to).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Laptop &#60;script&#62;alert(1)&#60;/script&#62;"), "{}", page.html);
    assert!(page.html.contains("Shows &#60;img src=x onerror=alert(1)&#62; &#38; more"), "{}", page.html);
    assert!(!page.html.contains("<script>alert") && !page.html.contains("<img src=x"));

    // Another customer: no such ticket, to see or to cancel; no console page.
    let other = add_customer(&s, "other", &w.plan_id).await;
    let mut robin = Browser::signed_in(&s, &other.email, PASSWORD).await;
    let theirs = robin.get(&to).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert!(theirs.html.contains("Page not found"));
    let rcsrf = token(&theirs.html);
    let p = robin.post(&format!("/my/tickets/{id}/cancel"), &[("csrf", &rcsrf), ("reason", "mine now")]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(robin.get(&format!("/console/tickets/{id}")).await.status, StatusCode::FORBIDDEN);
    let p = robin.post(&format!("/console/tickets/{id}/notes"), &[("csrf", &rcsrf), ("text", "hi")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let (_, t) = s.get(&format!("/api/v1/tickets/{id}"), Some(&w.customer.token)).await;
    assert_eq!(t["status"].as_str(), Some("assigned"), "untouched: {t}");
    assert_eq!(robin.get("/my/tickets/not-a-uuid").await.status, StatusCode::NOT_FOUND);

    // Its own customer cancels it; a second cancel says why not, on the page.
    let p = casey.post(&format!("/my/tickets/{id}/cancel"), &[("csrf", &csrf), ("reason", "")]).await;
    assert_eq!((p.status, p.location.as_deref()), (StatusCode::SEE_OTHER, Some(to.as_str())));
    let p = casey.post(&format!("/my/tickets/{id}/cancel"), &[("csrf", &csrf), ("reason", "")]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let page = casey.get(&to).await;
    assert!(page.html.contains("could not be cancelled: the ticket is cancelled"), "{}", page.html);
    assert!(!page.html.contains("Cancel the ticket"));
}
