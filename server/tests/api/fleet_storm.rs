//! A small fleet on one node (issue 13), correctness only (speed is the fleet bench's):
//! 200 devices connect and get every document their roots list; a dispatcher's change
//! reaches each device it concerns; the node restarts while every expert keeps working
//! offline, all 200 reconnect at once, and afterwards every device and the server agree
//! on every document, the server has every offline note, and no device was ever told a
//! document of its own was unavailable.

use crate::fleet::*;
use crate::helpers::*;
use std::time::Duration;

const TICKETS_EACH: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_devices_converge_after_a_node_restart_storm() {
    // FLEET_TEST_DEVICES: a smaller or larger fleet when looking into a failure.
    let devices_n: usize = std::env::var("FLEET_TEST_DEVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let started = std::time::Instant::now();
    let phase = |what: &str| eprintln!("fleet test: {what} at {:.1} s", started.elapsed().as_secs_f64());
    let mut s = Server::spawn(Backend::Sqlite).await;
    let world = FleetWorld::build(&s, devices_n, TICKETS_EACH, 16).await;
    documents_written(&s).await;
    phase("world built");
    let stats = Stats::default();
    let devices = world.connect(&s, 25, &stats).await;
    phase("devices connected");
    eprintln!("fleet test: {} unavailable answers so far", stats.unavailable());
    assert_eq!(devices.len(), devices_n);
    let mut listed: Vec<String> = devices.iter().flat_map(|d| d.tickets.iter().map(|t| t.0.clone())).collect();
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), devices_n * TICKETS_EACH, "every ticket on exactly one device");
    assert!(devices.iter().all(|d| d.tickets.len() == TICKETS_EACH), "the dispatcher spread the tickets evenly");

    // A dispatcher's change to half of them reaches each of those devices.
    let half = &devices[..devices_n / 2];
    let waits: Vec<_> = half.iter().map(|d| d.dispatcher_note_arrives(format!("Gate code {}", d.expert))).collect();
    let admin = s.admin().await;
    for d in half {
        dispatcher_note(&s, &admin, &d.tickets[0].0, &format!("Gate code {}", d.expert)).await;
    }
    tokio::time::timeout(Duration::from_secs(120), futures::future::join_all(waits))
        .await
        .expect("every device got its dispatcher's note");
    phase("dispatcher notes arrived");

    // The node restarts; every expert writes a note offline meanwhile.
    s.stop();
    all_disconnected(&devices).await;
    for d in &devices {
        d.note_first(format!("Written offline by {}", d.expert)).await;
    }
    s.restart_in_place().await;
    tokio::time::timeout(Duration::from_secs(600), futures::future::join_all(devices.iter().map(|d| d.caught_up())))
        .await
        .expect("every device caught up after the restart");
    phase("caught up after the restart");

    assert_eq!(stats.unavailable(), 0, "no device was told one of its documents was unavailable");
    assert_eq!(metric(&s, "sysops_sync_unavailable_total").await, 0.0, "the server answered doc-unavailable");
    let admin = s.admin().await;
    for d in &devices {
        let id = &d.tickets[0].0;
        let mut notes = String::new();
        for _ in 0..200 {
            notes = s.get(&format!("/api/v1/tickets/{id}"), Some(&admin)).await.1["expert_notes"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !notes.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(notes, format!("Written offline by {}", d.expert), "the offline note of {}", d.email);
    }
    for d in devices {
        d.stop().await;
    }
}
