//! `backup` while serving and `restore`: every ticket acknowledged before the backup
//! began comes back, with its sync document and the tokens issued before.

use crate::device::js_client;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_every_acknowledged_ticket_and_document_on_sqlite() {
    backup_and_restore(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_every_acknowledged_ticket_and_document_on_postgres() {
    backup_and_restore(Backend::Postgres).await;
}

async fn backup_and_restore(backend: Backend) {
    let s = Server::spawn(backend).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let mut before = Vec::new();
    for i in 0..30 {
        let category = if i % 2 == 0 { "television" } else { "laptop" };
        let (st, t) =
            s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, category, &format!("Before {i}"))).await;
        assert_eq!(st, StatusCode::CREATED, "{t}");
        before.push((t["id"].as_str().unwrap().to_owned(), t["assigned_expert_id"].as_str().map(str::to_owned)));
    }

    // Tickets keep arriving while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, http, url, token, body) = (
            stop.clone(),
            s.http.clone(),
            s.url("/api/v1/tickets"),
            c.token.clone(),
            ticket_body(c, "television", "During the backup"),
        );
        tokio::spawn(async move {
            let mut acked = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = http.request(Method::POST, &url).bearer_auth(&token).json(&body).send().await;
                if r.is_ok_and(|r| r.status() == StatusCode::CREATED) {
                    acked += 1;
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sysops-backup.tar.gz");
    let out = s.cli(&["backup", "--to", file.to_str().unwrap()]);
    stop.store(true, Ordering::Relaxed);
    let during = load.await.unwrap();
    assert!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("backup written"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(during > 0, "no ticket was raised while the backup ran");

    // A fresh installation, restored from the file.
    let target = tempfile::tempdir().unwrap();
    let cfg = Config {
        backend,
        data_dir: target.path().join("data"),
        db_url: (backend == Backend::Postgres).then(|| pg().fresh_database()),
        env: s.cfg.env.clone(),
    };
    let out = cfg.cli(&["restore", "--from", file.to_str().unwrap()]);
    assert!(out.status.success(), "restore failed: {}", String::from_utf8_lossy(&out.stderr));
    // A second restore over the restored data is refused without --force.
    let out = cfg.cli(&["restore", "--from", file.to_str().unwrap()]);
    assert!(!out.status.success(), "a restore over existing data went ahead without --force");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", String::from_utf8_lossy(&out.stderr));

    let restored = Server::start(cfg.clone()).await;
    // Tokens issued before the backup still work: the signing key came back too.
    for (id, _) in &before {
        let (st, t) = restored.get(&format!("/api/v1/tickets/{id}"), Some(&c.token)).await;
        assert_eq!(st, StatusCode::OK, "acknowledged ticket {id} is missing after the restore: {t}");
    }
    // The ticket's sync document came back: its expert's device opens and completes it.
    let (id, expert) = before.iter().find(|(_, e)| e.is_some()).expect("an assigned ticket");
    let expert = w.experts.iter().find(|e| Some(&e.id) == expert.as_ref()).expect("the assignee");
    let out = js_client(&restored.base, &expert.email, &["--ticket", id, "--resolution", "Done after the restore."]);
    assert_eq!(out["ok"], true, "{out}");
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        status = restored.get(&format!("/api/v1/tickets/{id}"), Some(&w.admin)).await.1["status"].clone();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "completed", "the device's completion on the restored server was not projected");

    if backend == Backend::Sqlite {
        // Restoring under a running server is refused, even with --force.
        let out = cfg.cli(&["restore", "--from", file.to_str().unwrap(), "--force"]);
        assert!(!out.status.success(), "a restore went ahead under a running server");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("another sysops-server is serving"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
