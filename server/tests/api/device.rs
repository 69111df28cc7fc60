//! A device in a test: a samod repository dialing the server's sync endpoint with the
//! core crate's WebSocket dialer (the same code the mobile apps use), and the JS
//! automerge-repo client in `tests/sync-js`.

use crate::helpers::*;
use samod::{BackoffConfig, DocHandle, PeerId, Repo};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sysops_core::client::WsDialer;
use sysops_core::sync::ids;

pub struct Device {
    pub repo: Repo,
    pub expert: uuid::Uuid,
}

impl Device {
    /// Signs in as `email` and starts syncing with `s`.
    pub async fn connect(s: &Server, email: &str, password: &str) -> Device {
        let (_, login) =
            s.post("/api/v1/auth/login", None, &serde_json::json!({"email": email, "password": password})).await;
        let token = login["access_token"].as_str().unwrap().to_owned();
        let user_id = login["user_id"].as_str().unwrap().to_owned();
        let repo = Repo::build_tokio()
            .with_peer_id(PeerId::from(format!("expert:{user_id}:{}", uuid::Uuid::new_v4().simple())))
            .load()
            .await;
        let dialer = WsDialer::new(&s.base, Arc::new(Mutex::new(token))).unwrap();
        let handle = repo.dial(BackoffConfig::default(), Arc::new(dialer)).unwrap();
        tokio::time::timeout(Duration::from_secs(20), handle.established())
            .await
            .expect("connected in time")
            .expect("connected");
        Device { repo, expert: user_id.parse().unwrap() }
    }

    /// A ticket's two documents, found the way an app finds them: through the root.
    pub async fn ticket(&self, ticket: &str) -> (DocHandle, DocHandle) {
        let root = self.find(ids::root(self.expert)).await.expect("the root document");
        let t = ticket.to_owned();
        let links = self
            .wait_for(&root, 20, "the ticket in the root", move |d| {
                sysops_core::sync::docs::RootDoc::read(d).ok()?.tickets.get(&t).cloned()
            })
            .await;
        let ticket = self.find(Self::id(&links.ticket)).await.expect("the ticket document");
        let work = self.find(Self::id(&links.work)).await.expect("the work document");
        (ticket, work)
    }

    /// Finds a document, waiting until the server has answered (or failing).
    pub async fn find(&self, id: uuid::Uuid) -> Option<DocHandle> {
        let doc = samod::DocumentId::try_from(id.as_bytes().to_vec()).unwrap();
        for _ in 0..100 {
            match self.repo.find(doc.clone()).await {
                Ok(Some(h)) => return Some(h),
                Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => return None,
            }
        }
        None
    }

    /// Waits until `read` of the document returns `Some`.
    pub async fn wait_for<T: Send + 'static>(
        &self,
        h: &DocHandle,
        secs: u64,
        what: &str,
        read: impl Fn(&automerge::Automerge) -> Option<T> + Send + Sync + 'static,
    ) -> T {
        let read = Arc::new(read);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let r = read.clone();
            if let Some(v) = h.with_document_async(move |d| r(d)).await.unwrap() {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Edits a document locally (synced when connected).
    pub async fn edit(
        &self,
        h: &DocHandle,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) + Send + 'static,
    ) {
        h.with_document_async(move |d| {
            let mut tx = d.transaction();
            f(&mut tx);
            tx.commit();
        })
        .await
        .unwrap();
    }

    /// The id of a document given by URL.
    pub fn id(url: &str) -> uuid::Uuid {
        ids::parse_url(url).expect("an automerge URL")
    }

    pub async fn stop(self) {
        self.repo.stop().await;
    }
}

/// Runs the JS automerge-repo client (`tests/sync-js/client-e2e.mjs`) as the expert
/// `email` (password [`PASSWORD`]) against `base`; returns its JSON line.
pub fn js_client(base: &str, email: &str, args: &[&str]) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sync-js");
    assert!(
        dir.join("node_modules").exists(),
        "run `npm install --no-save` in tests/sync-js first (tests/run does); the JS client is needed"
    );
    let out = std::process::Command::new("node")
        .arg("client-e2e.mjs")
        .args(["--base", base, "--email", email, "--password", PASSWORD])
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|_| {
        panic!("JS client printed no JSON: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    })
}
