//! What every page shares: who is signed in, the navigation of their role, the CSRF
//! token for forms, and a message left by the previous request.

use super::session;
use crate::auth::Role;
use actix_session::Session;

/// The signed-in person, as the header shows them.
#[derive(Debug, Clone)]
pub struct Badge {
    /// Their name.
    pub name: String,
    /// Their role, in words.
    pub role: &'static str,
}

/// A place in the navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Where it goes (empty for a place not built yet).
    pub href: &'static str,
    /// What it says.
    pub label: &'static str,
    /// Not built yet: shown as "coming soon", not as a link.
    pub soon: bool,
    /// The page being shown is this place (or under it).
    pub current: bool,
}

/// The layout's data.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Who is signed in.
    pub user: Option<Badge>,
    /// Navigation of their role.
    pub nav: Vec<NavItem>,
    /// The CSRF token every form carries.
    pub csrf: String,
    /// A message left by the previous request (after a redirect).
    pub flash: Option<String>,
}

/// Where each role starts after signing in.
pub fn start_page(role: Role) -> &'static str {
    match role {
        Role::Customer => "/my",
        Role::Agent => "/console",
        Role::Admin => "/admin",
        Role::Manager => "/manager",
        Role::Expert => "/expert",
    }
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Customer => "Customer",
        Role::Agent => "Call center",
        Role::Admin => "Administrator",
        Role::Manager => "Manager",
        Role::Expert => "Expert",
    }
}

fn places(role: Role) -> &'static [(&'static str, &'static str)] {
    // An empty href is a place that comes with later work (billing, reports).
    match role {
        Role::Customer => &[
            ("/my", "Plans and tickets"),
            ("/my/tickets", "Tickets"),
            ("/my/profile", "Profile"),
            ("/my/billing", "Billing"),
        ],
        Role::Agent => &[("/console", "Find a customer")],
        Role::Admin => &[
            ("/admin", "Overview"),
            ("/admin/experts", "Experts"),
            ("/admin/staff", "Staff"),
            ("/console", "Customers"),
            ("/admin/kb", "Knowledge base"),
            ("/admin/messages", "Messages"),
            ("/admin/conflicts", "Conflicts"),
        ],
        Role::Manager => &[
            ("/manager", "Overview"),
            ("/manager/reports/ticketing", "Ticketing report"),
            ("/manager/reports/experts", "Expert performance"),
            ("/manager/reports/financial", "Financial report"),
        ],
        Role::Expert => &[],
    }
}

fn is_current(href: &str, path: &str, all: &[(&str, &str)]) -> bool {
    // The longest matching place wins (`/my/profile` over `/my`).
    let matches = |h: &str| !h.is_empty() && (path == h || path.starts_with(&format!("{h}/")));
    matches(href) && !all.iter().any(|(h, _)| h.len() > href.len() && matches(h))
}

impl Chrome {
    /// The chrome for `path` in this session (taking any message left for it).
    pub fn new(session: &Session, path: &str) -> Self {
        let csrf = session::csrf_token(session);
        let flash = session::take_flash(session);
        let Some((caller, name)) = session::signed_in(session) else {
            return Self { user: None, nav: Vec::new(), csrf, flash };
        };
        let all = places(caller.role);
        let nav = all
            .iter()
            .map(|(href, label)| NavItem { href, label, soon: href.is_empty(), current: is_current(href, path, all) })
            .collect();
        Self { user: Some(Badge { name, role: role_label(caller.role) }), nav, csrf, flash }
    }

    /// The chrome of a page shown without a session (an error before one was read).
    pub fn bare() -> Self {
        Self { user: None, nav: Vec::new(), csrf: String::new(), flash: None }
    }
}

/// Categories in words (`television`, `gaming_console` → `Televisions, Gaming consoles`).
pub fn covers(slugs: &[String]) -> String {
    slugs.iter().map(|s| category(s)).collect::<Vec<_>>().join(", ")
}

/// One category in words (unknown slugs as they are).
pub fn category(slug: &str) -> String {
    slug.parse::<sysops_core::category::Category>().map_or_else(|_| slug.to_owned(), |c| c.label().to_owned())
}
