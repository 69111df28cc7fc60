//! Web sessions: an encrypted cookie (HttpOnly, SameSite=Lax, Secure when the public URL
//! is https) holding who is signed in and the CSRF token. The key is configuration
//! (`SYSOPS_SESSION_KEY`) or generated once and kept in the database, so every node
//! reads every node's cookies. The session yields the same `Caller` a bearer token does.

use super::chrome::Chrome;
use super::error::WebError;
use crate::auth::{Caller, Role, SignedIn};
use crate::config::Settings;
use crate::db::{Db, setting_or_init};
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_web::cookie::{Key, SameSite, time::Duration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha512};
use uuid::Uuid;

const USER: &str = "uid";
const ROLE: &str = "role";
const NAME: &str = "name";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";

/// How long a session lasts without being renewed by a change (a working day).
const TTL_HOURS: i64 = 12;

/// What the session middleware needs, built once at start.
#[derive(Clone)]
pub struct Sessions {
    key: Key,
    secure: bool,
}

impl Sessions {
    /// The key from `session_key`, or the one stored in the database (made on first
    /// start). Cookies are Secure when `public_url` is https.
    pub async fn load(settings: &Settings, db: &Db) -> anyhow::Result<Self> {
        let secret = match &settings.session_key {
            Some(s) => {
                let s = s.expose_secret().to_owned();
                anyhow::ensure!(s.len() >= 32, "session_key must be at least 32 characters");
                s
            }
            None => {
                setting_or_init(db, "session_key", || {
                    let mut b = [0u8; 64];
                    rand::rng().fill_bytes(&mut b);
                    hex::encode(b)
                })
                .await?
            }
        };
        let key = Key::from(Sha512::digest(secret.as_bytes()).as_slice());
        let secure = settings.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
        Ok(Self { key, secure })
    }

    /// The middleware for the web's scope.
    pub fn middleware(&self) -> SessionMiddleware<CookieSessionStore> {
        // `__Host-` binds the cookie to this host and path `/` (browsers require Secure).
        let name = if self.secure { "__Host-sysops" } else { "sysops" };
        SessionMiddleware::builder(CookieSessionStore::default(), self.key.clone())
            .cookie_name(name.to_owned())
            .cookie_secure(self.secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".to_owned())
            .cookie_content_security(CookieContentSecurity::Private)
            .session_lifecycle(PersistentSession::default().session_ttl(Duration::hours(TTL_HOURS)))
            .build()
    }
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The session's CSRF token, made on first use (a visitor's sign-in form needs one too).
pub fn csrf_token(s: &Session) -> String {
    if let Ok(Some(t)) = s.get::<String>(CSRF) {
        return t;
    }
    let t = random_token();
    let _ = s.insert(CSRF, &t);
    t
}

/// The token the session holds, without making one.
pub fn stored_csrf(s: &Session) -> Option<String> {
    s.get::<String>(CSRF).ok().flatten()
}

/// Starts a signed-in session (a new CSRF token; nothing of the visitor's kept).
pub fn start(s: &Session, who: &SignedIn) {
    s.clear();
    s.renew();
    let _ = s.insert(USER, who.user_id);
    let _ = s.insert(ROLE, who.role);
    let _ = s.insert(NAME, &who.name);
    let _ = s.insert(CSRF, random_token());
}

/// Ends the session.
pub fn end(s: &Session) {
    s.purge();
}

/// Who is signed in, if anyone.
pub fn signed_in(s: &Session) -> Option<(Caller, String)> {
    let user_id = s.get::<Uuid>(USER).ok().flatten()?;
    let role = s.get::<Role>(ROLE).ok().flatten()?;
    let name = s.get::<String>(NAME).ok().flatten().unwrap_or_default();
    Some((Caller { user_id, role }, name))
}

/// Keeps a short message for the next page (after a redirect).
pub fn flash(s: &Session, message: impl Into<String>) {
    let _ = s.insert(FLASH, message.into());
}

/// Takes the message kept for this page.
pub fn take_flash(s: &Session) -> Option<String> {
    s.remove_as::<String>(FLASH).and_then(Result::ok)
}

/// A signed-in person viewing a page: their `Caller` (for the same checks the API
/// makes), their session and the page's chrome. Not signed in: a redirect to sign-in.
pub struct Viewer {
    /// Who, in the API's terms.
    pub caller: Caller,
    /// Their session.
    pub session: Session,
    /// Header, navigation and the CSRF token for this page.
    pub chrome: Chrome,
}

impl Viewer {
    /// Refuses with the 403 page unless the viewer has one of `roles` (the API's check).
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), WebError> {
        self.caller.require(roles, action).map_err(|e| self.error(e))
    }

    /// An API error as a page carrying this viewer's chrome.
    pub fn error(&self, e: impl Into<crate::api::problem::ApiError>) -> WebError {
        WebError::from_api(&self.chrome, e.into())
    }
}

impl FromRequest for Viewer {
    type Error = WebError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, WebError>>;

    /// The session's user, checked as every API request is: still there, enabled, and in
    /// the same role (a disabled or erased account's sessions end at once, on every node).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = req.get_session();
            let Some((caller, _)) = signed_in(&session) else {
                return Err(WebError::SignIn { next: next_of(&req) });
            };
            if let Some(state) = req.app_data::<actix_web::web::Data<crate::state::AppState>>() {
                let status = state.auth.users.get(&state.db, caller.user_id).await.map_err(anyhow::Error::from)?;
                if !status.is_some_and(|s| s.active && s.role == caller.role) {
                    end(&session);
                    return Err(WebError::SignIn { next: next_of(&req) });
                }
            }
            let chrome = Chrome::new(&session, req.path());
            Ok(Viewer { caller, session, chrome })
        })
    }
}

/// Where to come back to after signing in: this page (GET only; a form posted while
/// signed out starts again from its page).
fn next_of(req: &HttpRequest) -> String {
    if req.method() == actix_web::http::Method::GET {
        req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned()
    } else {
        req.path().to_owned()
    }
}
