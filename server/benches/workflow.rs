//! The workflow benchmark: outbox throughput (messages per second delivered to the
//! provider stand-ins when draining a backlog, against sending the same messages
//! straight to the stand-ins) and the end-to-end latency from raising a ticket to the
//! expert's push arriving.
//!
//! `cargo bench -p sysops-server --bench workflow`

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use sysops_standins::{FcmConfig, FcmStandin, SmtpConfig, SmtpStandin, TwilioConfig, TwilioStandin};

mod common;
use common::{pct, serve};

async fn post(c: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut r = c.post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let fcm = FcmStandin::start(FcmConfig::default()).await.unwrap();
        let twilio = TwilioStandin::start(TwilioConfig::default()).await.unwrap();
        let smtp = SmtpStandin::start(SmtpConfig::default()).await.unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let creds = tmp.path().join("fcm.json");
        fcm.write_service_account(&creds).unwrap();
        let providers: Vec<(String, String)> = [
            ("SYSOPS_FCM_PROJECT_ID", fcm.project_id().to_owned()),
            ("SYSOPS_FCM_CREDENTIALS", creds.display().to_string()),
            ("SYSOPS_FCM_BASE_URL", fcm.url()),
            ("SYSOPS_TWILIO_ACCOUNT_SID", twilio.account_sid().to_owned()),
            ("SYSOPS_TWILIO_AUTH_TOKEN", twilio.auth_token().to_owned()),
            ("SYSOPS_TWILIO_FROM", "+13125550000".to_owned()),
            ("SYSOPS_TWILIO_BASE_URL", twilio.url()),
            ("SYSOPS_SMTP_URL", smtp.url()),
            ("SYSOPS_POLL_MS", "100".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .to_vec();
        let data = tmp.path().join("data");
        common::create_admin(&data, "bench@sysops.test", "bench-password");

        // Phase 1: a backlog queued while no provider is configured.
        let c = reqwest::Client::new();
        const TICKETS: usize = 1200;
        let token;
        let sub;
        {
            let s = serve(&data, &[]);
            let b = &s.1;
            let admin = post(&c, format!("{b}/api/v1/auth/login"), None, json!({"email": "bench@sysops.test", "password": "bench-password"})).await;
            let admin = admin["access_token"].as_str().unwrap().to_owned();
            let plan = post(&c, format!("{b}/api/v1/plans"), Some(&admin), json!({"name": "P", "categories": ["television"], "monthly_price_cents": 1, "currency": "USD"})).await;
            for i in 0..80 {
                let e = post(&c, format!("{b}/api/v1/experts"), Some(&admin), json!({"name": format!("E{i}"), "email": format!("e{i}@b.test"),
                    "password": "bench-password", "phone": format!("+1312555{:04}", 1000 + i), "skills": ["television"],
                    "service_area": {"center": {"lat": 41.88, "lon": -87.63}, "radius_km": 50.0}, "locale": "en-US",
                    "location": {"lat": 41.88 + i as f64 * 0.005, "lon": -87.63}, "available": true, "capacity": 20})).await;
                let login = post(&c, format!("{b}/api/v1/auth/login"), None, json!({"email": format!("e{i}@b.test"), "password": "bench-password"})).await;
                post(&c, format!("{b}/api/v1/devices"), login["access_token"].as_str(), json!({"platform": "android", "push_token": format!("tok-{}", e["id"].as_str().unwrap())})).await;
            }
            post(&c, format!("{b}/api/v1/customers"), None, json!({"name": "C", "email": "c@b.test", "password": "bench-password", "phone": "+13125550199",
                "notify_by": "email", "address": "1 Main St", "location": {"lat": 41.88, "lon": -87.63}})).await;
            let login = post(&c, format!("{b}/api/v1/auth/login"), None, json!({"email": "c@b.test", "password": "bench-password"})).await;
            token = login["access_token"].as_str().unwrap().to_owned();
            sub = post(&c, format!("{b}/api/v1/customers/me/subscriptions"), Some(&token), json!({"plan_id": plan["id"], "product": "TV"})).await["id"].as_str().unwrap().to_owned();
            for i in 0..TICKETS {
                let t = post(&c, format!("{b}/api/v1/tickets"), Some(&token), json!({"subscription_id": sub, "category": "television",
                    "title": format!("Backlog {i}"), "description": "No picture."})).await;
                // Three messages per ticket only if every ticket finds an expert.
                assert_eq!(t["status"], "assigned", "backlog ticket {i} was not assigned: {t}");
            }
        }
        let expected = TICKETS * 3;

        // Baseline: the same number of messages sent straight to the Twilio stand-in, 16
        // at a time (no database, no templates, no claims).
        let direct = Instant::now();
        let mut sends = Vec::new();
        for _ in 0..expected {
            let (c, tw, sid, tok) =
                (c.clone(), twilio.url(), twilio.account_sid().to_owned(), twilio.auth_token().to_owned());
            sends.push(tokio::spawn(async move {
                c.post(format!("{tw}/2010-04-01/Accounts/{sid}/Messages.json"))
                    .basic_auth(&sid, Some(tok))
                    .form(&[("To", "+13125550123"), ("From", "+13125550000"), ("Body", "baseline")])
                    .send()
                    .await
                    .map(|r| r.status().is_success())
            }));
            if sends.len() >= 16 {
                for s in sends.drain(..) {
                    let _ = s.await;
                }
            }
        }
        for s in sends {
            let _ = s.await;
        }
        let direct_rate = expected as f64 / direct.elapsed().as_secs_f64();
        twilio.clear();

        // Phase 2: restart with the providers configured and time the drain.
        let t0 = Instant::now();
        let s = serve(&data, &providers);
        let started = t0.elapsed().as_secs_f64();
        let listening = Instant::now();
        let total = || fcm.received_count() + twilio.received_count() + smtp.received_count();
        let mut per_channel = [0.0f64; 3];
        while total() < expected {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let t = listening.elapsed().as_secs_f64();
            for (i, n) in [fcm.received_count(), twilio.received_count(), smtp.received_count()].into_iter().enumerate() {
                if n >= TICKETS && per_channel[i] == 0.0 {
                    per_channel[i] = t;
                }
            }
            assert!(t0.elapsed() < Duration::from_secs(300), "drain stalled at {} of {expected}", total());
        }
        let drain = listening.elapsed().as_secs_f64();
        for t in &mut per_channel {
            if *t == 0.0 {
                *t = drain;
            }
        }
        let rate = expected as f64 / drain;

        // Phase 3: latency from POST /tickets to the expert's push at the stand-in.
        let b = s.1.clone();
        let mut lat = Vec::new();
        let mut sms_lat = Vec::new();
        let mut created = Vec::new();
        for i in 0..200 {
            let before = fcm.received_count();
            let sms_before = twilio.received_count();
            let t = Instant::now();
            post(&c, format!("{b}/api/v1/tickets"), Some(&token), json!({"subscription_id": sub, "category": "television",
                "title": format!("Latency {i}"), "description": "No picture."})).await;
            created.push(t.elapsed().as_secs_f64() * 1000.0);
            while fcm.received_count() == before {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            while twilio.received_count() == sms_before {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            sms_lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("workflow benchmark (release build, stand-ins in the bench process)");
        println!("  outbox drain of a {expected}-message backlog (push + SMS + e-mail per ticket): {rate:.0} messages/s ({drain:.2} s from the server listening; it started in {started:.2} s)");
        println!(
            "    each channel's {TICKETS} done after: push {:.2} s, SMS {:.2} s, e-mail {:.2} s",
            per_channel[0], per_channel[1], per_channel[2]
        );
        println!("  baseline, as many SMS sent straight to the Twilio stand-in (16 at a time): {direct_rate:.0} requests/s");
        println!("  ratio outbox / direct: {:.2}", rate / direct_rate);
        println!(
            "  ticket raised → expert's push received: p50 {:.1} ms, p99 {:.1} ms (200 tickets, one at a time)",
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99)
        );
        println!(
            "  ticket raised → expert's SMS received: p50 {:.1} ms, p99 {:.1} ms",
            pct(&mut sms_lat, 0.5),
            pct(&mut sms_lat, 0.99)
        );
        println!(
            "    of which the 201 for the ticket itself: p50 {:.1} ms, p99 {:.1} ms",
            pct(&mut created, 0.5),
            pct(&mut created, 0.99)
        );
    });
}
