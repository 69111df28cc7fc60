//! Knowledge-base review: an article written on a device (the device library itself,
//! offline first) waits in review under the very id the device gave it; an admin
//! publishes it and the device receives it as published, or rejects it with a reason
//! the author's device is told.

use crate::device::Device as TestDevice;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sysops_core::device::{Device, KeyStore};
use sysops_core::sync::docs::RootDoc;
use sysops_core::sync::ids;

#[derive(Default)]
struct Keys(Mutex<HashMap<String, String>>);

impl KeyStore for Keys {
    fn get(&self, key: String) -> Option<String> {
        self.0.lock().ok()?.get(&key).cloned()
    }
    fn put(&self, key: String, value: String) {
        self.0.lock().unwrap().insert(key, value);
    }
    fn remove(&self, key: String) {
        self.0.lock().unwrap().remove(&key);
    }
}

/// Polls until `f` gives `Some` (the server and the device work in the background).
async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn in_review(s: &Server, admin: &str) -> Vec<Value> {
    let (st, page) = s.get("/api/v1/kb?status=in_review", Some(admin)).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_article_written_on_a_device_is_reviewed_under_the_devices_id_and_the_device_learns_the_outcome() {
    let s = Server::spawn(Backend::Sqlite).await;
    let admin = s.admin().await;
    let expert = add_expert(&s, &admin, "writer", &["television"], 1.0).await;
    let dir = tempfile::tempdir().unwrap();

    // The device writes two articles while signed in and syncing.
    let (base, email, path) = (s.base.clone(), expert.email.clone(), dir.path().join("device.db"));
    let (device, published_id, rejected_id) = tokio::task::spawn_blocking(move || {
        let d = Device::open(&path, &base, Arc::new(Keys::default())).unwrap();
        d.sign_in(&email, PASSWORD).unwrap();
        d.start_sync().unwrap();
        assert!(d.wait_synced(Duration::from_secs(30)), "first sync");
        let a = d
            .write_article(
                "HDMI handshake after a firmware update",
                "Unplug the TV for a minute, then re-seat the cable.",
                vec!["hdmi".into()],
            )
            .unwrap();
        let b = d.write_article("Printer offline on Wi-Fi", "Turn it off and on again.", vec![]).unwrap();
        assert!(d.wait_synced(Duration::from_secs(30)), "articles sent");
        (d, a, b)
    })
    .await
    .unwrap();
    let device = Arc::new(device);

    // The server holds both, in review, under the ids the device gave them.
    let waiting = eventually("both articles in review", async || {
        let items = in_review(&s, &admin).await;
        (items.len() == 2).then_some(items)
    })
    .await;
    let mut ids: Vec<&str> = waiting.iter().map(|a| a["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut expected = [published_id.as_str(), rejected_id.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "the ids the device gave them");
    // A page at a time.
    let (_, first) = s.get("/api/v1/kb?status=in_review&limit=1", Some(&admin)).await;
    let cursor = first["next_cursor"].as_str().expect("a second page").to_owned();
    let (_, second) = s.get(&format!("/api/v1/kb?status=in_review&limit=1&cursor={cursor}"), Some(&admin)).await;
    assert_eq!(second["next_cursor"], Value::Null);
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    assert!(waiting.iter().all(|a| a["status"] == "in_review" && a["author_id"] == expert.id.as_str()));
    // Only admins list the queue; readers' search does not show unpublished articles.
    assert_eq!(s.get("/api/v1/kb?status=in_review", Some(&expert.token)).await.0, StatusCode::FORBIDDEN);
    let (_, hits) = s.get("/api/v1/kb?q=hdmi", Some(&expert.token)).await;
    assert!(hits["items"].as_array().unwrap().is_empty());

    // Published: in search, and on the device as a published article (no longer a draft).
    let (st, a) = s.post(&format!("/api/v1/kb/{published_id}/publish"), Some(&admin), &json!({})).await;
    assert_eq!((st, a["status"].as_str()), (StatusCode::OK, Some("published")), "{a}");
    let (_, hits) = s.get("/api/v1/kb?q=hdmi", Some(&expert.token)).await;
    assert_eq!(hits["items"][0]["id"].as_str(), Some(published_id.as_str()));
    let (d, id) = (device.clone(), published_id.clone());
    eventually("the device to receive the published article", async || {
        let (d, id) = (d.clone(), id.clone());
        let a = tokio::task::spawn_blocking(move || d.article(&id)).await.unwrap().unwrap();
        (!a.draft).then_some(())
    })
    .await;

    // Rejected: a reason is required; the author's device is told it.
    let (st, p) = s.post(&format!("/api/v1/kb/{rejected_id}/reject"), Some(&admin), &json!({"reason": "  "})).await;
    assert_eq!((st, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")));
    let reason = "Too short: say which printer and what you checked.";
    let (st, a) = s.post(&format!("/api/v1/kb/{rejected_id}/reject"), Some(&admin), &json!({"reason": reason})).await;
    assert_eq!(
        (st, a["status"].as_str(), a["rejection_reason"].as_str()),
        (StatusCode::OK, Some("rejected"), Some(reason))
    );
    let (_, mine) = s.get(&format!("/api/v1/kb/{rejected_id}"), Some(&expert.token)).await;
    assert_eq!(mine["rejection_reason"].as_str(), Some(reason), "the author reads why");
    assert!(in_review(&s, &admin).await.is_empty());
    let watcher = TestDevice::connect(&s, &expert.email, PASSWORD).await;
    let root = watcher.find(ids::root(watcher.expert)).await.expect("the expert's root");
    let notices = watcher
        .wait_for(&root, 20, "both outcomes in the root's notices", |d| {
            let n = RootDoc::read(d).ok()?.notices;
            (n.len() >= 2).then_some(n)
        })
        .await;
    let about =
        |id: &str| notices.iter().find(|n| n.document == ids::url(id.parse().unwrap())).map(|n| n.message.clone());
    assert!(about(&published_id).unwrap().starts_with("kb_published"), "{notices:?}");
    let told = about(&rejected_id).unwrap();
    assert!(told.starts_with("kb_rejected") && told.contains(reason), "{told}");
    watcher.stop().await;

    // Decided once: a second decision conflicts; unknown articles and other roles are refused.
    assert_eq!(
        s.post(&format!("/api/v1/kb/{published_id}/publish"), Some(&admin), &json!({})).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        s.post(&format!("/api/v1/kb/{}/publish", uuid::Uuid::now_v7()), Some(&admin), &json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.post(&format!("/api/v1/kb/{rejected_id}/publish"), Some(&expert.token), &json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    // The device owns a runtime: it must end on a blocking thread, as the last reference.
    drop(d);
    tokio::task::spawn_blocking(move || {
        if let Ok(d) = Arc::try_unwrap(device) {
            d.close()
        }
    })
    .await
    .unwrap();
}
