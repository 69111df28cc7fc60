//! The web front end over plain HTTP (the browser suite in `tests/web` drives it in
//! Chromium): sessions in an HttpOnly SameSite cookie readable by every node, CSRF
//! tokens on every form, role pages refused with a 403 page, HTML 404s for browsers.

use crate::helpers::*;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};

/// A browser without a browser: keeps the session cookie, follows no redirects.
struct Browser {
    http: Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(s: &Server) -> Self {
        let http = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, base: s.base.clone(), cookie: None }
    }

    fn keep(&mut self, r: &reqwest::Response) -> Option<String> {
        let set = r.headers().get(SET_COOKIE)?.to_str().ok()?.to_owned();
        self.cookie = Some(set.split(';').next()?.to_owned());
        Some(set)
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String, Option<String>) {
        let mut r = self.http.get(format!("{}{path}", self.base)).header("accept", "text/html");
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        let resp = r.send().await.unwrap();
        self.keep(&resp);
        let loc = resp.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned());
        (resp.status(), resp.text().await.unwrap(), loc)
    }

    async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (StatusCode, String, Option<String>) {
        let mut r = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        let resp = r.send().await.unwrap();
        self.keep(&resp);
        let loc = resp.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned());
        (resp.status(), resp.text().await.unwrap(), loc)
    }
}

/// The CSRF token a page's forms carry.
fn token(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn signing_in_on_the_web_starts_a_session_and_every_form_needs_its_token() {
    let s = Server::spawn(Backend::Sqlite).await;
    let mut b = Browser::new(&s);
    let (st, html, _) = b.get("/sign-in").await;
    assert_eq!(st, StatusCode::OK);
    let csrf = token(&html);

    // Without the token, with a wrong one, or from another site: refused, and nobody signed in.
    let creds = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)];
    let (st, html, _) = b.post("/sign-in", &creds, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(html.contains("This form has expired"), "an HTML page says what to do");
    let (st, _, _) = b.post("/sign-in", &[creds[0], creds[1], ("csrf", "forged")], None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let with = [creds[0], creds[1], ("csrf", csrf.as_str())];
    let (st, _, _) = b.post("/sign-in", &with, Some("https://evil.example")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(b.get("/admin").await.0, StatusCode::SEE_OTHER);

    // A wrong password: the page says so and keeps the e-mail.
    let (st, html, _) =
        b.post("/sign-in", &[("email", ADMIN_EMAIL), ("password", "wrong-password"), ("csrf", &csrf)], None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("do not match an account") && html.contains(ADMIN_EMAIL));

    // The right one: an HttpOnly, SameSite=Lax session, and the admin's start page.
    let own = s.base.clone();
    let (st, _, to) = b.post("/sign-in", &with, Some(&own)).await;
    assert_eq!((st, to.as_deref()), (StatusCode::SEE_OTHER, Some("/admin")));
    let (st, html, _) = b.get("/admin").await;
    assert_eq!(st, StatusCode::OK);
    assert!(html.contains("Back office"));
    // The token changed at sign-in: the visitor's one no longer works.
    let fresh = token(&html);
    assert_ne!(fresh, csrf);
    assert_eq!(b.post("/sign-out", &[("csrf", &csrf)], None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(b.post("/sign-out", &[("csrf", &fresh)], None).await.0, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/admin").await.0, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn the_session_cookie_is_httponly_lax_and_secure_behind_https() {
    let s = Server::spawn_with(Backend::Sqlite, &[("SYSOPS_PUBLIC_URL", "https://portal.example")]).await;
    let mut b = Browser::new(&s);
    let resp = b.http.get(format!("{}/sign-in", s.base)).send().await.unwrap();
    let set = b.keep(&resp).expect("a session cookie");
    assert!(set.starts_with("__Host-sysops="), "{set}");
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    let plain = Server::spawn(Backend::Sqlite).await;
    let resp = b.http.get(format!("{}/sign-in", plain.base)).send().await.unwrap();
    let set = b.keep(&resp).unwrap();
    assert!(set.starts_with("sysops=") && set.contains("HttpOnly") && !set.contains("Secure"), "{set}");
}

#[tokio::test]
async fn a_session_started_on_one_node_works_on_another() {
    let a = Server::spawn(Backend::Postgres).await;
    let other = Server::start(a.cfg.clone()).await;
    let mut b = Browser::new(&a);
    let (_, html, _) = b.get("/sign-in").await;
    let csrf = token(&html);
    let (st, _, _) =
        b.post("/sign-in", &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("csrf", &csrf)], None).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    b.base = other.base.clone();
    let (st, html, _) = b.get("/admin/experts").await;
    assert_eq!(st, StatusCode::OK, "the other node reads the cookie");
    assert!(html.contains("Experts"));
}

#[tokio::test]
async fn role_pages_refuse_other_roles_and_unknown_pages_are_html_for_browsers() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let mut b = Browser::new(&s);
    let (_, html, _) = b.get("/sign-in").await;
    let csrf = token(&html);
    let (st, _, to) =
        b.post("/sign-in", &[("email", &w.customer.email), ("password", PASSWORD), ("csrf", &csrf)], None).await;
    assert_eq!((st, to.as_deref()), (StatusCode::SEE_OTHER, Some("/my")));
    for page in [
        "/console",
        "/console/customers/00000000-0000-0000-0000-000000000000",
        "/admin",
        "/admin/experts",
        "/admin/kb",
        "/admin/messages",
        "/admin/conflicts",
        "/manager",
    ] {
        let (st, html, _) = b.get(page).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{page}");
        assert!(html.contains("This page is not for your account"), "{page}: a page in the site's layout");
    }
    assert_eq!(b.get("/my").await.0, StatusCode::OK);

    let (st, html, _) = b.get("/no/such/page").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"));
    let (st, p) = s.get("/api/v1/no-such-thing", None).await;
    assert_eq!((st, p["status"].as_u64()), (StatusCode::NOT_FOUND, Some(404)), "the API keeps problem+json");
    let (st, p) = s.get("/no/such/page", None).await;
    assert_eq!((st, p["status"].as_u64()), (StatusCode::NOT_FOUND, Some(404)), "non-browsers get a problem");
}
