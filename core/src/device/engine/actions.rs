//! What an expert does on the device: read tickets and the KB, work a ticket, set their
//! status, write articles. Each action works offline: it changes one of the expert's own
//! documents, is projected into the tables at once, and is pending until the server
//! confirms it.

use super::*;

impl Device {
    /// The expert's tickets.
    pub fn tickets(&self) -> Result<Vec<TicketRow>, DeviceError> {
        self.inner.store.tickets()
    }

    /// One ticket.
    pub fn ticket(&self, id: &str) -> Result<TicketRow, DeviceError> {
        self.inner.store.ticket(id)?.ok_or_else(|| DeviceError::NotFound { what: format!("ticket {id}") })
    }

    fn work(
        &self,
        ticket: &str,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), crate::sync::docs::DocError>
        + Send
        + 'static,
    ) -> Result<(), DeviceError> {
        let expert = self.inner.expert()?;
        let t: Uuid = ticket.parse().map_err(|_| DeviceError::NotFound { what: format!("ticket {ticket}") })?;
        self.ticket(ticket)?;
        let inner = self.inner.clone();
        self.rt.block_on(async move {
            inner.edit(ids::work(t, expert), f).await?;
            let repo = inner.repo()?;
            project::ticket(&repo, &inner.store, expert, t).await;
            inner.notify("tickets");
            Ok(())
        })
    }

    /// Accepts a ticket (offline too).
    pub fn accept(&self, ticket: &str) -> Result<(), DeviceError> {
        let at = now();
        self.work(ticket, move |tx| WorkDoc::accept(tx, &at))
    }

    /// Declines a ticket.
    pub fn decline(&self, ticket: &str, reason: &str) -> Result<(), DeviceError> {
        let (at, reason) = (now(), reason.to_owned());
        self.work(ticket, move |tx| WorkDoc::decline(tx, &at, &reason))
    }

    /// Sets off.
    pub fn en_route(&self, ticket: &str) -> Result<(), DeviceError> {
        let at = now();
        self.work(ticket, move |tx| WorkDoc::en_route(tx, &at))
    }

    /// Arrives.
    pub fn arrived(&self, ticket: &str) -> Result<(), DeviceError> {
        let at = now();
        self.work(ticket, move |tx| WorkDoc::arrived(tx, &at))
    }

    /// Replaces the notes.
    pub fn set_notes(&self, ticket: &str, notes: &str) -> Result<(), DeviceError> {
        let notes = notes.to_owned();
        self.work(ticket, move |tx| WorkDoc::set_notes(tx, &notes))
    }

    /// Records a part used.
    pub fn add_part(&self, ticket: &str, name: &str, qty: f64) -> Result<(), DeviceError> {
        if name.trim().is_empty() || qty.is_nan() || qty <= 0.0 {
            return Err(DeviceError::Invalid { message: "a part needs a name and a positive quantity".into() });
        }
        let name = name.to_owned();
        self.work(ticket, move |tx| WorkDoc::add_part(tx, &name, qty))
    }

    /// Completes a ticket with its resolution, stamped with this device's clock.
    pub fn complete(&self, ticket: &str, resolution: &str) -> Result<(), DeviceError> {
        let r = crate::text::Resolution::parse(resolution)
            .map_err(|e| DeviceError::Invalid { message: format!("resolution {}", e.message) })?;
        let at = now();
        self.work(ticket, move |tx| WorkDoc::complete(tx, &at, r.as_str()))
    }

    /// Sets availability (synced to the dispatcher). Switching it on reports the latest
    /// position fix at once (if the app gave one); while off, no position goes out.
    pub fn set_available(&self, available: bool) -> Result<(), DeviceError> {
        let expert = self.inner.expert()?;
        let inner = self.inner.clone();
        self.rt.block_on(async move {
            inner.edit(ids::status(expert), move |tx| StatusDoc::set_available(tx, available)).await
        })?;
        let latest = self.inner.location.lock().ok().and_then(|mut l| {
            l.restart();
            l.latest()
        });
        if available && let Some(fix) = latest {
            self.report_location(fix.lat(), fix.lon())?;
        }
        Ok(())
    }

    /// Reports the current position now, whatever the throttle says (the app's explicit
    /// "send my position").
    pub fn set_location(&self, lat: f64, lon: f64) -> Result<(), DeviceError> {
        let fix = crate::geo::GeoPoint::new(lat, lon).map_err(|e| DeviceError::Invalid { message: e.to_string() })?;
        self.send_location(fix)?;
        if let Ok(mut l) = self.inner.location.lock() {
            l.wants(fix, true, std::time::Instant::now());
            l.sent(fix, std::time::Instant::now());
        }
        Ok(())
    }

    /// A position fix from the phone's location service: sent through the expert's status
    /// document when the [`LocationPolicy`](crate::device::location::LocationPolicy)
    /// says so (the first fix after sync starts or availability is switched on, then a
    /// significant move at most once per interval) and only while the expert is
    /// available (an expert who never set availability on a device counts as available:
    /// the server decides). Returns whether it was sent. Works offline (it syncs later).
    pub fn report_location(&self, lat: f64, lon: f64) -> Result<bool, DeviceError> {
        let fix = crate::geo::GeoPoint::new(lat, lon).map_err(|e| DeviceError::Invalid { message: e.to_string() })?;
        let available = self.available()? != Some(false);
        let now = std::time::Instant::now();
        let wants = self.inner.location.lock().is_ok_and(|mut l| l.wants(fix, available, now));
        if !wants {
            return Ok(false);
        }
        self.send_location(fix)?;
        if let Ok(mut l) = self.inner.location.lock() {
            l.sent(fix, now);
        }
        Ok(true)
    }

    /// How often and on how large a move [`Device::report_location`] sends.
    pub fn set_location_policy(&self, policy: crate::device::location::LocationPolicy) -> Result<(), DeviceError> {
        if !(policy.min_move_m.is_finite() && policy.min_move_m >= 0.0) {
            return Err(DeviceError::Invalid { message: "min_move_m must be a distance of 0 or more metres".into() });
        }
        if let Ok(mut l) = self.inner.location.lock() {
            l.policy = policy;
        }
        Ok(())
    }

    /// The location policy in force.
    pub fn location_policy(&self) -> crate::device::location::LocationPolicy {
        self.inner.location.lock().map(|l| l.policy).unwrap_or_default()
    }

    fn send_location(&self, fix: crate::geo::GeoPoint) -> Result<(), DeviceError> {
        let expert = self.inner.expert()?;
        let (inner, at) = (self.inner.clone(), now());
        let (lat, lon) = (fix.lat(), fix.lon());
        self.rt.block_on(async move {
            inner.edit(ids::status(expert), move |tx| StatusDoc::set_location(tx, lat, lon, &at)).await
        })
    }

    /// Ranked KB search (offline).
    pub fn search_kb(&self, query: &str, limit: u32) -> Result<Vec<KbHit>, DeviceError> {
        self.inner.store.search(query, limit.clamp(1, 100))
    }

    /// One article (offline).
    pub fn article(&self, id: &str) -> Result<KbArticle, DeviceError> {
        self.inner.store.article(id)?.ok_or_else(|| DeviceError::NotFound { what: format!("article {id}") })
    }

    /// Writes a KB article (offline): a new draft document, listed in the drafts index;
    /// searchable here at once, in review on the server after the next sync.
    pub fn write_article(&self, title: &str, body: &str, tags: Vec<String>) -> Result<String, DeviceError> {
        let t = crate::text::Title::parse(title)
            .map_err(|e| DeviceError::Invalid { message: format!("title {}", e.message) })?;
        let b = crate::text::ArticleBody::parse(body)
            .map_err(|e| DeviceError::Invalid { message: format!("body {}", e.message) })?;
        let tags: Vec<String> = crate::kb::parse_tags(&tags)
            .map_err(|e| DeviceError::Invalid { message: format!("tags {}", e.message) })?
            .into_iter()
            .map(|t| t.into_inner())
            .collect();
        let expert = self.inner.expert()?;
        let draft = DraftDoc { title: t.into_inner(), body: b.into_inner(), tags, created_at: now() };
        let inner = self.inner.clone();
        self.rt.block_on(async move {
            let repo = inner.repo()?;
            let mut doc = automerge::Automerge::new();
            let d2 = draft.clone();
            doc.transact::<_, _, crate::sync::docs::DocError>(|tx| d2.write(tx))
                .map_err(|f| DeviceError::Invalid { message: f.error.to_string() })?;
            let size: usize = doc.get_changes(&[]).iter().map(|c| c.raw_bytes().len()).sum();
            inner.local_bytes.fetch_add(size as u64, std::sync::atomic::Ordering::Relaxed);
            let h = repo.create(doc).await.map_err(|_| DeviceError::Storage { message: "stopped".into() })?;
            let id = Uuid::from_slice(h.document_id().as_bytes())
                .map_err(|e| DeviceError::Storage { message: e.to_string() })?;
            let heads: Vec<String> = h
                .with_document_async(|d| d.get_heads())
                .await
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect();
            inner.store.add_pending(&id.to_string(), &heads)?;
            let url = h.url().to_string();
            let key = id.to_string();
            inner
                .edit(ids::drafts(expert), move |tx| DraftsDoc::add(tx, &key, &url))
                .await
                .map_err(|_| DeviceError::Offline { message: "sync once before writing articles".into() })?;
            inner.store.put_draft(&id.to_string(), &draft.title, &draft.body, &draft.tags, &draft.created_at)?;
            inner.notify("kb");
            Ok(id.to_string())
        })
    }

    /// Registers the phone's push token (now if online, else on the next connection).
    pub fn register_push_token(&self, platform: &str, token: &str) -> Result<(), DeviceError> {
        if !matches!(platform, "android" | "ios") || token.trim().is_empty() {
            return Err(DeviceError::Invalid { message: "platform must be android or ios, with a token".into() });
        }
        if platform == "ios" && looks_like_apns_device_token(token.trim()) {
            // The server pushes through FCM, which refuses raw APNs tokens (ADR 19).
            return Err(DeviceError::Invalid {
                message: "this is an APNs device token; register the FCM registration token from Firebase \
                          Messaging (Messaging.messaging().token) instead"
                    .into(),
            });
        }
        self.inner.store.set_meta("push_platform", platform)?;
        self.inner.store.set_meta("push_token", token.trim())
    }
}

/// An APNs device token as apps print it: 32 bytes (64 hex digits, or more in future
/// tokens), nothing else. FCM registration tokens are longer and not hex (they carry `:`,
/// `-` and `_`).
fn looks_like_apns_device_token(token: &str) -> bool {
    token.len() >= 64 && token.len().is_multiple_of(2) && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_raw_apns_token_is_told_apart_from_an_fcm_token() {
        use super::looks_like_apns_device_token as apns;
        assert!(apns(&"a1".repeat(32)));
        assert!(!apns("dJ3k9:APA91bH-some_fcm_registration_token_0123456789abcdef0123456789abcdef0123"));
        assert!(!apns("abc123"), "too short to be an APNs token");
    }
}
