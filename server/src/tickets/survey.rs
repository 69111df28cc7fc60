//! Survey links: signed, single-use, expiring. The token carries the ticket, the
//! invitation's nonce and the expiry, sealed with an HMAC; the invitation row makes it
//! single-use and lets a newer invitation supersede an older link.

use super::effects::Effects;
use super::error::TicketError;
use super::{Actor, Tickets};
use crate::db::entity::{survey, survey_invite, ticket};
use crate::repo::tickets as rows;
use base64::Engine;
use chrono::{SubsecRound, Utc};
use hmac::{Hmac, Mac};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QuerySelect};
use serde_json::json;
use sha2::Sha256;
use sysops_core::ticket::{CloseReason, TicketEvent};
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

const LEN: usize = 16 + 16 + 8 + 32;

/// The key survey links are signed with (derived from the server's signing secret).
#[derive(Clone)]
pub struct SurveyKeys {
    key: Vec<u8>,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyToken {
    /// The ticket.
    pub ticket_id: Uuid,
    /// The invitation's nonce.
    pub nonce: [u8; 16],
    /// When the link expires.
    pub expires_at_ms: i64,
}

impl SurveyKeys {
    /// Derives the survey key from the server secret.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"sysops survey links v1");
        Self { key: mac.finalize().into_bytes().to_vec() }
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(data);
        mac
    }

    /// A token for `t`.
    pub fn sign(&self, t: &SurveyToken) -> String {
        let mut buf = Vec::with_capacity(LEN);
        buf.extend_from_slice(t.ticket_id.as_bytes());
        buf.extend_from_slice(&t.nonce);
        buf.extend_from_slice(&t.expires_at_ms.to_be_bytes());
        let tag = self.mac(&buf).finalize().into_bytes();
        buf.extend_from_slice(&tag);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    }

    /// Checks a token's integrity (not its expiry or use: the caller checks those
    /// against the invitation).
    pub fn verify(&self, token: &str) -> Result<SurveyToken, TicketError> {
        let damaged = || {
            TicketError::Damaged(
                "this survey link is damaged or was altered; please use the link exactly as it appears in your e-mail"
                    .to_owned(),
            )
        };
        if token.len() > 200 {
            return Err(damaged());
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| damaged())?;
        if raw.len() != LEN {
            return Err(damaged());
        }
        let (data, tag) = raw.split_at(40);
        self.mac(data).verify_slice(tag).map_err(|_| damaged())?;
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&data[16..32]);
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&data[32..40]);
        Ok(SurveyToken {
            ticket_id: Uuid::from_slice(&data[..16]).map_err(|_| damaged())?,
            nonce,
            expires_at_ms: i64::from_be_bytes(exp),
        })
    }
}

/// Records a survey answer through the link `token`; closes the ticket.
pub(super) async fn submit(t: &Tickets, token: &str, rating: i64, comment: &str) -> Result<survey::Model, TicketError> {
    let tok = t.surveys.verify(token)?;
    let rating = sysops_core::survey::Rating::new(rating).map_err(|e| e.under("rating"))?;
    let comment = sysops_core::text::Comment::parse(comment).map_err(|e| e.under("comment"))?;
    let now = Utc::now().trunc_subsecs(6);
    let not_waiting = || {
        TicketError::NotFound(
            "no survey is waiting for this link; it may belong to another ticket or have been replaced".to_owned(),
        )
    };
    let txn = t.db.begin_write().await?;
    let inv =
        survey_invite::Entity::find_by_id(tok.ticket_id).lock_exclusive().one(&txn).await?.ok_or_else(not_waiting)?;
    if inv.nonce != hex::encode(tok.nonce) || inv.expires_at_ms != tok.expires_at_ms {
        return Err(not_waiting());
    }
    if now.timestamp_millis() > inv.expires_at_ms {
        return Err(TicketError::Expired("this survey link has expired".to_owned()));
    }
    if inv.used_at.is_some() {
        return Err(TicketError::Refused("this survey has already been answered; thank you".to_owned()));
    }
    let row = rows::lock(&txn, tok.ticket_id).await?.ok_or_else(not_waiting)?;
    let mut machine = rows::machine(&row)?;
    machine
        .apply(TicketEvent::Close { reason: CloseReason::SurveyReceived })
        .map_err(|_| TicketError::Expired("this ticket is no longer waiting for a survey".to_owned()))?;
    let s = survey::Entity::insert(survey::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_id: Set(tok.ticket_id),
        rating: Set(i32::from(rating.get())),
        comment: Set(comment.to_string()),
        submitted_at: Set(now),
    })
    .exec_with_returning(&txn)
    .await?;
    let mut inv: survey_invite::ActiveModel = inv.into();
    inv.used_at = Set(Some(now));
    inv.update(&txn).await?;
    let mut am: ticket::ActiveModel = row.clone().into();
    am.status = Set(machine.status().as_str().to_owned());
    am.close_reason = Set(Some(CloseReason::SurveyReceived.as_str().to_owned()));
    am.updated_at = Set(now);
    am.version = Set(row.version + 1);
    am.update(&txn).await?;
    let mut fx = Effects::new(&t.notifier, now);
    fx.event(row.id, "survey_received", Actor::System, json!({"rating": rating.get()}));
    fx.event(row.id, "closed", Actor::System, json!({"reason": "survey_received"}));
    fx.write(&txn).await?;
    txn.commit().await?;
    t.sync.ticket(tok.ticket_id);
    Ok(s)
}

/// Writes a ticket's survey invitation, replacing an earlier one (a newer link
/// supersedes the old).
pub(super) async fn upsert_invite(c: &impl ConnectionTrait, inv: survey_invite::ActiveModel) -> Result<(), DbErr> {
    survey_invite::Entity::insert(inv)
        .on_conflict(
            OnConflict::column(survey_invite::Column::TicketId)
                .update_columns([
                    survey_invite::Column::Nonce,
                    survey_invite::Column::CreatedAtMs,
                    survey_invite::Column::ExpiresAtMs,
                    survey_invite::Column::ReminderSentAtMs,
                    survey_invite::Column::UsedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(c)
        .await?;
    Ok(())
}

/// The link of an existing invitation (for reminders).
pub fn token_for(keys: &SurveyKeys, inv: &survey_invite::Model) -> String {
    let mut nonce = [0u8; 16];
    if let Ok(b) = hex::decode(&inv.nonce)
        && b.len() == 16
    {
        nonce.copy_from_slice(&b);
    }
    keys.sign(&SurveyToken { ticket_id: inv.ticket_id, nonce, expires_at_ms: inv.expires_at_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let k = SurveyKeys::derive(b"secret-secret-secret-secret-1234");
        let t = SurveyToken { ticket_id: Uuid::now_v7(), nonce: [7; 16], expires_at_ms: 1_800_000_000_000 };
        let s = k.sign(&t);
        assert_eq!(k.verify(&s).unwrap(), t);
        // Flip one character anywhere: refused.
        for i in [0, s.len() / 2, s.len() - 1] {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            assert!(k.verify(&String::from_utf8(b).unwrap()).is_err(), "tamper at {i}");
        }
        // Another server's key: refused.
        assert!(SurveyKeys::derive(b"another-secret-another-secret-12").verify(&s).is_err());
        assert!(k.verify("").is_err());
        assert!(k.verify("not base64 !!").is_err());
    }
}
