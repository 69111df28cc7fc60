//! From experts' documents to the database. When a device's changes reach a work
//! document, a status document or a draft, the same domain code the REST API uses
//! applies them: accepting, declining and completing go through the ticket workflow
//! (completing offline sends the survey e-mail exactly as the REST completion does),
//! availability and location update the dispatcher, a draft becomes a KB article in
//! review. What the state machine refuses becomes a recorded conflict, shown to managers
//! and, as a notice in the expert's root document, to the device. Rules: `docs/adr/0005`.

use super::acl::Entry;
use super::hub::SyncHub;
use super::reconcile;
use crate::auth::{Caller, Role};
use crate::db::entity::{alert, expert, kb_article, sync_conflict, sync_projection, ticket};
use crate::tickets::effects::Effects;
use crate::tickets::{Actor, Op, TicketError, Tickets};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, sea_query::OnConflict};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use sysops_core::sync::docs::{DraftDoc, StatusDoc, WorkDoc};
use sysops_core::sync::ids::DocKind;
use sysops_core::sync::project::{WorkAction, WorkProjection, mark, plan};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Projects documents as devices change them, until the channel closes.
pub async fn run(state: Arc<Tickets>, hub: Arc<SyncHub>, mut rx: mpsc::UnboundedReceiver<Uuid>) {
    // The heads each document was last projected at: a sync message that brought nothing
    // new (a device fetching, or announcing what it has on reconnect) projects nothing.
    // Projection is idempotent, so forgetting this (a restart) only costs time.
    let mut projected: std::collections::HashMap<Uuid, Vec<automerge::ChangeHash>> = Default::default();
    loop {
        // Ends on shutdown between batches, letting go of the state. A document stored
        // but not yet projected is projected when its device next connects: a device
        // announces every document it holds on each connection.
        let first = tokio::select! {
            f = rx.recv() => f,
            () = hub.closing.cancelled() => None,
        };
        let Some(first) = first else { break };
        // A device's sync arrives as several messages: let them land, then project once.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut docs = BTreeSet::from([first]);
        while let Ok(d) = rx.try_recv() {
            docs.insert(d);
        }
        for doc in docs {
            let heads = match hub.find(doc).await {
                Ok(Some(h)) => hub.read(&h, |d| d.get_heads()).await.ok(),
                _ => None,
            };
            if heads.is_some() && projected.get(&doc) == heads.as_ref() {
                continue;
            }
            let known = hub.acl.get(doc).await.ok().flatten().is_some_and(|e| e.owner.is_some());
            match project(&state, &hub, doc).await {
                Ok(()) => {
                    if let Some(h) = heads.filter(|_| known) {
                        if projected.len() >= 100_000 {
                            projected.clear(); // bounded memory; costs one extra projection each
                        }
                        projected.insert(doc, h);
                    }
                }
                Err(e) => {
                    projected.remove(&doc);
                    tracing::error!(%doc, error = %format!("{e:#}"), "projection failed; it runs again on the next change");
                }
            }
        }
    }
}

/// Projects one document (idempotent: what was applied before is not applied again).
pub async fn project(state: &Tickets, hub: &SyncHub, doc: Uuid) -> anyhow::Result<()> {
    let Some(entry) = hub.acl.get(doc).await? else { return Ok(()) };
    let Some(owner) = entry.owner else { return Ok(()) };
    let Some(h) = hub.find(doc).await? else { return Ok(()) };
    match entry.kind {
        DocKind::Work => {
            let Ok(work) = hub.read(&h, WorkDoc::read).await? else { return Ok(()) };
            project_work(state, hub, doc, owner, entry, work).await
        }
        DocKind::Status => {
            let Ok(status) = hub.read(&h, StatusDoc::read).await? else { return Ok(()) };
            project_status(state, owner, status).await
        }
        DocKind::Draft => match hub.read(&h, DraftDoc::read).await? {
            Ok(draft) => project_draft(state, hub, doc, owner, draft).await,
            Err(_) => Ok(()), // not (yet) a draft: nothing to take in
        },
        _ => Ok(()),
    }
}

async fn load_projection(state: &Tickets, doc: Uuid) -> anyhow::Result<WorkProjection> {
    Ok(sync_projection::Entity::find_by_id(doc)
        .one(&state.db.write)
        .await?
        .and_then(|p| serde_json::from_value(p.state).ok())
        .unwrap_or_default())
}

async fn save_projection(state: &Tickets, doc: Uuid, p: &WorkProjection) -> anyhow::Result<()> {
    sync_projection::Entity::insert(sync_projection::ActiveModel {
        doc_id: Set(doc),
        state: Set(serde_json::to_value(p)?),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(sync_projection::Column::DocId)
            .update_columns([sync_projection::Column::State, sync_projection::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(&state.db.write)
    .await?;
    Ok(())
}

fn device_time(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at).ok().map(|t| t.with_timezone(&Utc).trunc_subsecs(6))
}

async fn project_work(
    state: &Tickets,
    hub: &SyncHub,
    doc: Uuid,
    expert: Uuid,
    entry: Entry,
    work: WorkDoc,
) -> anyhow::Result<()> {
    let Some(ticket_id) = entry.ticket else { return Ok(()) };
    let mut done = load_projection(state, doc).await?;
    let actor = Actor::User(Caller { user_id: expert, role: Role::Expert });
    for action in plan(&work, &done) {
        let outcome = match &action {
            WorkAction::Accept { .. } => state.run(actor, ticket_id, Op::Accept).await.map(|_| ()),
            WorkAction::Decline { reason, .. } => {
                state.run(actor, ticket_id, Op::Decline { reason: Some(reason.clone()) }).await.map(|_| ())
            }
            WorkAction::Complete { at, resolution } => {
                let op = Op::Complete { resolution: resolution.clone(), completed_at: device_time(at) };
                state.run(actor, ticket_id, op).await.map(|_| ())
            }
            WorkAction::EnRoute { at } => {
                state.run(actor, ticket_id, Op::EnRoute { at: device_time(at) }).await.map(|_| ())
            }
            WorkAction::Arrived { at } => {
                state.run(actor, ticket_id, Op::Arrived { at: device_time(at) }).await.map(|_| ())
            }
            WorkAction::Parts(parts) => {
                let parts: Vec<_> = parts.iter().map(|p| json!({"name": p.name, "qty": p.qty})).collect();
                record(state, actor, ticket_id, "parts_used", json!({"parts": parts})).await
            }
            WorkAction::Notes(notes) => set_expert_notes(state, ticket_id, notes).await,
        };
        if let Err(e) = outcome
            && !already_done(state, ticket_id, expert, &action).await?
        {
            conflict(state, hub, doc, Some(ticket_id), expert, &action, &e).await?;
        }
        mark(&mut done, &action);
        save_projection(state, doc, &done).await?;
    }
    Ok(())
}

/// Whether a refused action is already reflected in the ticket (the expert accepted or
/// completed through the REST API too, or from another device): not a conflict.
async fn already_done(state: &Tickets, ticket_id: Uuid, expert: Uuid, action: &WorkAction) -> anyhow::Result<bool> {
    let Some(t) = ticket::Entity::find_by_id(ticket_id).one(&state.db.write).await? else { return Ok(false) };
    Ok(match action {
        WorkAction::Accept { .. } => {
            t.assigned_expert_id == Some(expert) && matches!(t.status.as_str(), "accepted" | "completed" | "closed")
        }
        WorkAction::Complete { .. } => t.completed_by == Some(expert),
        _ => false,
    })
}

async fn record(
    state: &Tickets,
    actor: Actor,
    ticket_id: Uuid,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), TicketError> {
    let mut fx = Effects::new(&state.notifier, Utc::now().trunc_subsecs(6));
    fx.event(ticket_id, kind, actor, detail);
    let txn = state.db.begin_write().await?;
    fx.write(&txn).await?;
    txn.commit().await?;
    Ok(())
}

async fn set_expert_notes(state: &Tickets, ticket_id: Uuid, notes: &str) -> Result<(), TicketError> {
    let Some(t) = ticket::Entity::find_by_id(ticket_id).one(&state.db.write).await? else {
        return Err(TicketError::not_found("ticket"));
    };
    let mut am: ticket::ActiveModel = t.into();
    am.expert_notes = Set(notes.to_owned());
    am.update(&state.db.write).await?;
    Ok(())
}

/// Records what could not be applied: for managers (a conflict and an alert) and for the
/// device (a notice in the expert's root document).
async fn conflict(
    state: &Tickets,
    hub: &SyncHub,
    doc: Uuid,
    ticket_id: Option<Uuid>,
    expert: Uuid,
    action: &WorkAction,
    error: &TicketError,
) -> anyhow::Result<()> {
    let kind = match action {
        WorkAction::Accept { .. } => "accept_refused",
        WorkAction::Decline { .. } => "decline_refused",
        WorkAction::Complete { .. } => "completion_refused",
        _ => "change_refused",
    };
    let message = format!("{kind}: {}", error.detail());
    let now = Utc::now();
    let inserted = sync_conflict::Entity::insert(sync_conflict::ActiveModel {
        id: Set(Uuid::now_v7()),
        doc_id: Set(doc),
        ticket_id: Set(ticket_id),
        expert_id: Set(Some(expert)),
        kind: Set(kind.to_owned()),
        message: Set(message.clone()),
        dedupe_key: Set(format!("{doc}:{kind}")),
        created_at: Set(now),
        resolved_at: Set(None),
    })
    .on_conflict(OnConflict::column(sync_conflict::Column::DedupeKey).do_nothing().to_owned())
    .exec_without_returning(&state.db.write)
    .await?;
    if inserted == 0 {
        return Ok(());
    }
    alert::Entity::insert(alert::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set("sync_conflict".to_owned()),
        ticket_id: Set(ticket_id),
        message: Set(format!("An expert's offline change could not be applied: {message}")),
        created_at: Set(now),
        acknowledged_at: Set(None),
        dedupe_key: Set(Some(format!("sync_conflict:{doc}:{kind}"))),
    })
    .on_conflict(OnConflict::column(alert::Column::DedupeKey).do_nothing().to_owned())
    .exec_without_returning(&state.db.write)
    .await?;
    tracing::warn!(%doc, kind, %message, "sync conflict recorded");
    reconcile::notice(hub, expert, doc, message).await
}

async fn project_status(state: &Tickets, expert_id: Uuid, status: StatusDoc) -> anyhow::Result<()> {
    let Some(e) = expert::Entity::find_by_id(expert_id).one(&state.db.write).await? else { return Ok(()) };
    let mut am: expert::ActiveModel = e.clone().into();
    let mut changed = false;
    if let Some(a) = status.available.filter(|a| *a != e.on_duty) {
        am.on_duty = Set(a);
        changed = true;
    }
    if let Some((lat, lon, _)) = status.location
        && sysops_core::geo::GeoPoint::new(lat, lon).is_ok()
        && (lat != e.lat || lon != e.lon)
    {
        am.lat = Set(lat);
        am.lon = Set(lon);
        changed = true;
    }
    if changed {
        am.updated_at = Set(Utc::now());
        am.update(&state.db.write).await?;
        state.dispatcher.refresh_expert(&state.db, expert_id).await?;
    }
    Ok(())
}

async fn project_draft(state: &Tickets, hub: &SyncHub, doc: Uuid, author: Uuid, draft: DraftDoc) -> anyhow::Result<()> {
    let title = sysops_core::text::Title::parse(&draft.title);
    let body =
        sysops_core::text::ArticleBody::parse(if draft.body.trim().is_empty() { "(empty)" } else { &draft.body });
    let tags = sysops_core::kb::parse_tags(&draft.tags);
    let (Ok(title), Ok(body), Ok(tags)) = (title, body, tags) else {
        // Not yet a valid article (the expert may still be typing a title).
        return Ok(());
    };
    let tags = json!(tags.iter().map(|t| t.as_str()).collect::<Vec<_>>());
    let now = Utc::now();
    match kb_article::Entity::find_by_id(doc).one(&state.db.write).await? {
        None => {
            kb_article::Entity::insert(kb_article::ActiveModel {
                id: Set(doc),
                title: Set(title.into_inner()),
                body: Set(body.into_inner()),
                tags: Set(tags),
                status: Set("in_review".to_owned()),
                author_id: Set(Some(author)),
                source_ticket_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .on_conflict(OnConflict::column(kb_article::Column::Id).do_nothing().to_owned())
            .exec_without_returning(&state.db.write)
            .await?;
        }
        Some(a) if a.status == "in_review" => {
            if a.title != title.as_str() || a.body != body.as_str() || a.tags != tags {
                let mut am: kb_article::ActiveModel = a.into();
                am.title = Set(title.into_inner());
                am.body = Set(body.into_inner());
                am.tags = Set(tags);
                am.updated_at = Set(now);
                am.update(&state.db.write).await?;
            }
        }
        Some(a) => {
            if a.title != title.as_str() || a.body != body.as_str() {
                let err =
                    TicketError::Refused(format!("the article is already {}; later edits are not applied", a.status));
                let action = WorkAction::Notes(String::new());
                conflict(state, hub, doc, None, author, &action, &err).await?;
            }
        }
    }
    Ok(())
}
