//! The customer's side of billing: the processor customer and card on file (saved
//! through a SetupIntent on the processor's page), invoices, plan cancellation; the
//! admin's refunds; and the processor's webhook events (verified, recorded once).

use super::service::{Billing, BillingError, INVOICE_COLUMNS, InvoiceRow, RunSummary, stmt};
use super::signature;
use super::stripe::StripeError;
use chrono::Utc;
use sea_orm::{ConnectionTrait, FromQueryResult};
use sysops_core::billing::{BillingEvent, Effect, Ledger, LedgerEntryKind};
use uuid::Uuid;

/// The card on file, as shown to its owner.
#[derive(Debug, Clone, serde::Serialize, FromQueryResult, utoipa::ToSchema)]
pub struct CardOnFile {
    /// `visa`, …
    pub card_brand: Option<String>,
    /// Last four digits.
    pub card_last4: Option<String>,
    /// Expiry month.
    pub card_exp_month: Option<i32>,
    /// Expiry year.
    pub card_exp_year: Option<i32>,
}

/// A card setup begun: where the customer's browser goes to enter the card.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CardSetup {
    /// `seti_…`: send it back to finish.
    pub setup_intent: String,
    /// For the processor's client-side library.
    pub client_secret: Option<String>,
    /// The processor's (stand-in's) card page.
    pub url: String,
}

/// A refund made.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RefundMade {
    /// Our ledger entry id.
    pub id: Uuid,
    /// The invoice.
    pub invoice_id: Uuid,
    /// Minor units.
    pub amount_cents: i64,
    /// The processor's id.
    pub processor_ref: String,
    /// Why.
    pub reason: String,
}

#[derive(Debug, FromQueryResult)]
struct AccountRow {
    processor_customer_id: String,
}

#[derive(Debug, FromQueryResult)]
struct RefundRow {
    id: Uuid,
    amount: i64,
    processor_ref: Option<String>,
    reason: Option<String>,
}

#[derive(Debug, FromQueryResult)]
struct LedgerRow {
    invoice_id: Uuid,
    kind: String,
    amount: i64,
}

impl Billing {
    fn processor(&self) -> Result<&super::stripe::Stripe, BillingError> {
        self.stripe.as_ref().ok_or_else(|| {
            BillingError::Unavailable("no card processor is configured (SYSOPS_STRIPE_SECRET_KEY)".into())
        })
    }

    fn unavailable(e: StripeError) -> BillingError {
        match e {
            StripeError::Declined { message, .. } => BillingError::Refused(format!("the card was declined: {message}")),
            other => BillingError::Unavailable(format!("the card processor: {other}; try again shortly")),
        }
    }

    /// The processor customer for `customer`, created on first use.
    pub async fn ensure_account(&self, customer: Uuid) -> Result<String, BillingError> {
        let b = self.db.backend();
        if let Some(a) = AccountRow::find_by_statement(stmt(
            b,
            "SELECT processor_customer_id FROM billing_accounts WHERE customer_id = $1",
            vec![customer.into()],
        ))
        .one(&self.db.read)
        .await?
        {
            return Ok(a.processor_customer_id);
        }
        let c = self.new_processor_customer(customer, &customer.to_string()).await?;
        let txn = self.db.begin_write().await?;
        txn.execute_raw(stmt(
            b,
            "INSERT INTO billing_accounts (customer_id, processor_customer_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (customer_id) DO NOTHING",
            vec![customer.into(), c.id.clone().into(), Utc::now().into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(c.id)
    }

    /// A new processor customer for `customer`, with their contact details; `key` names
    /// the request (its idempotency key), so a retry makes no second one.
    async fn new_processor_customer(&self, customer: Uuid, key: &str) -> Result<super::stripe::Customer, BillingError> {
        let contact = self
            .contact(&self.db.read, customer)
            .await?
            .ok_or_else(|| BillingError::NotFound("customer not found".into()))?;
        self.processor()?.create_customer(key, &contact.email, &contact.name).await.map_err(Self::unavailable)
    }

    /// Replaces a processor customer the processor does not know (`stale`) with a new
    /// one; the card on file goes with it (it belonged to the old customer).
    async fn replace_account(&self, customer: Uuid, stale: &str) -> Result<String, BillingError> {
        let c = self.new_processor_customer(customer, &format!("{customer}-after-{stale}")).await?;
        tracing::warn!(%customer, stale, new = %c.id, "the card processor did not know this customer; made a new one");
        let txn = self.db.begin_write().await?;
        txn.execute_raw(stmt(
            self.db.backend(),
            "UPDATE billing_accounts SET processor_customer_id = $1, payment_method_id = NULL, card_brand = NULL, \
             card_last4 = NULL, card_exp_month = NULL, card_exp_year = NULL, updated_at = $2 \
             WHERE customer_id = $3 AND processor_customer_id = $4",
            vec![c.id.clone().into(), Utc::now().into(), customer.into(), stale.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(c.id)
    }

    /// Begins saving a card: a SetupIntent and the page where the card is entered.
    pub async fn start_card_setup(&self, customer: Uuid, return_url: &str) -> Result<CardSetup, BillingError> {
        let cus = self.ensure_account(customer).await?;
        let key = format!("setup-{customer}-{}", Uuid::now_v7());
        let stripe = self.processor()?;
        let si = match stripe.create_setup_intent(&cus, &key).await {
            // The processor no longer knows this customer (deleted on its side, other
            // keys, or demo data): a new processor customer, then the card again.
            Err(StripeError::Invalid { status: 404, .. }) => {
                let cus = self.replace_account(customer, &cus).await?;
                stripe.create_setup_intent(&cus, &format!("{key}-again")).await.map_err(Self::unavailable)?
            }
            other => other.map_err(Self::unavailable)?,
        };
        let ret: String = url::form_urlencoded::byte_serialize(return_url.as_bytes()).collect();
        Ok(CardSetup {
            url: format!("{}/standin/setup/{}?return_url={ret}", stripe.base_url(), si.id),
            setup_intent: si.id,
            client_secret: si.client_secret,
        })
    }

    /// Finishes saving a card once the processor confirmed the SetupIntent; then charges
    /// any open invoice at once (a suspended subscription is restored when it is paid).
    pub async fn finish_card_setup(
        &self,
        customer: Uuid,
        setup_intent: &str,
    ) -> Result<(CardOnFile, RunSummary), BillingError> {
        let cus = self.ensure_account(customer).await?;
        let stripe = self.processor()?;
        let si = stripe.setup_intent(setup_intent).await.map_err(|e| match e {
            StripeError::Invalid { status: 404, .. } => {
                BillingError::Invalid { field: "setup_intent".into(), message: "no such card setup".into() }
            }
            other => Self::unavailable(other),
        })?;
        if si.customer.as_deref() != Some(cus.as_str()) {
            return Err(BillingError::Invalid { field: "setup_intent".into(), message: "no such card setup".into() });
        }
        let Some(pm) = si.payment_method.filter(|_| si.status == "succeeded") else {
            return Err(BillingError::Refused(format!(
                "the card setup is {}; enter the card on the processor's page first",
                si.status
            )));
        };
        let method = stripe.payment_method(&pm).await.map_err(Self::unavailable)?;
        let card = method.card.ok_or_else(|| BillingError::Refused("only cards are accepted".into()))?;
        let b = self.db.backend();
        let txn = self.db.begin_write().await?;
        txn.execute_raw(stmt(
            b,
            "UPDATE billing_accounts SET payment_method_id = $1, card_brand = $2, card_last4 = $3, card_exp_month = $4, \
             card_exp_year = $5, country = COALESCE(country, $6), updated_at = $7 WHERE customer_id = $8",
            vec![
                pm.into(),
                card.brand.clone().into(),
                card.last4.clone().into(),
                (card.exp_month as i16).into(),
                card.exp_year.into(),
                card.country.clone().into(),
                Utc::now().into(),
                customer.into(),
            ],
        ))
        .await?;
        txn.commit().await?;
        let paid = self.pay_open(customer, None).await?;
        Ok((
            CardOnFile {
                card_brand: Some(card.brand),
                card_last4: Some(card.last4),
                card_exp_month: Some(card.exp_month),
                card_exp_year: Some(card.exp_year),
            },
            paid,
        ))
    }

    /// The card on file, if any.
    pub async fn card(&self, customer: Uuid) -> Result<Option<CardOnFile>, BillingError> {
        Ok(CardOnFile::find_by_statement(stmt(
            self.db.backend(),
            "SELECT card_brand, card_last4, CAST(card_exp_month AS INTEGER) AS card_exp_month, card_exp_year \
             FROM billing_accounts WHERE customer_id = $1 AND payment_method_id IS NOT NULL",
            vec![customer.into()],
        ))
        .one(&self.db.read)
        .await?)
    }

    /// A customer's invoices, newest first, after `cursor`.
    pub async fn invoices(
        &self,
        customer: Uuid,
        limit: u64,
        cursor: Option<Uuid>,
    ) -> Result<Vec<InvoiceRow>, BillingError> {
        let mut values: Vec<sea_orm::Value> = vec![customer.into(), (limit as i64).into()];
        let after = match cursor {
            Some(c) => {
                values.push(c.into());
                "AND id < $3"
            }
            None => "",
        };
        Ok(InvoiceRow::find_by_statement(stmt(
            self.db.backend(),
            &format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE customer_id = $1 {after} ORDER BY id DESC LIMIT $2"),
            values,
        ))
        .all(&self.db.read)
        .await?)
    }

    /// One invoice; `customer` limits it to theirs (staff pass `None`).
    pub async fn invoice(&self, id: Uuid, customer: Option<Uuid>) -> Result<InvoiceRow, BillingError> {
        InvoiceRow::find_by_statement(stmt(
            self.db.backend(),
            &format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1"),
            vec![id.into()],
        ))
        .one(&self.db.read)
        .await?
        .filter(|i| customer.is_none_or(|c| c == i.customer_id))
        .ok_or_else(|| BillingError::NotFound("invoice not found".into()))
    }

    /// The customer cancels a subscription: it ends at the end of the paid period.
    pub async fn cancel(&self, customer: Uuid, subscription: Uuid) -> Result<(), BillingError> {
        let b = self.db.backend();
        let txn = self.db.begin_write().await?;
        let owner = txn
            .query_one_raw(stmt(b, "SELECT customer_id FROM subscriptions WHERE id = $1", vec![subscription.into()]))
            .await?
            .and_then(|r| r.try_get::<Uuid>("", "customer_id").ok());
        if owner != Some(customer) {
            return Err(BillingError::NotFound("subscription not found".into()));
        }
        let mut st = self.sub_state(&txn, subscription).await?;
        let effect = st.apply(BillingEvent::CancelRequested).map_err(|e| BillingError::Refused(e.to_string()))?;
        self.save_state(&txn, subscription, &st).await?;
        if effect == Effect::Cancelled {
            txn.execute_raw(stmt(
                b,
                "UPDATE subscriptions SET cancelled_at = $1 WHERE id = $2",
                vec![Utc::now().into(), subscription.into()],
            ))
            .await?;
            txn.execute_raw(stmt(
                b,
                "UPDATE invoices SET status = 'void', voided_at = $1, next_attempt_at_ms = NULL WHERE subscription_id = $2 AND status = 'open'",
                vec![Utc::now().into(), subscription.into()],
            ))
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// The whole ledger, checked: every entry replayed through the domain's rules.
    pub async fn ledger(&self) -> Result<Ledger, BillingError> {
        let rows = LedgerRow::find_by_statement(stmt(
            self.db.backend(),
            "SELECT invoice_id, kind, amount FROM ledger_entries ORDER BY id",
            vec![],
        ))
        .all(&self.db.read)
        .await?;
        Ledger::replay(rows.into_iter().map(|r| {
            let kind = if r.kind == "refund" { LedgerEntryKind::Refund } else { LedgerEntryKind::Charge };
            (sysops_core::ids::InvoiceId::from_uuid(r.invoice_id), kind, r.amount)
        }))
        .map_err(|e| BillingError::Internal(anyhow::anyhow!("the stored ledger breaks its rules: {e}")))
    }

    /// Refunds `amount` (all that is left when `None`) of a paid invoice, with a reason.
    pub async fn refund(
        &self,
        invoice: Uuid,
        amount: Option<i64>,
        reason: &str,
        actor: Uuid,
        request_key: Option<&str>,
    ) -> Result<RefundMade, BillingError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(BillingError::Invalid {
                field: "reason".into(),
                message: "say why, in 1 to 500 characters".into(),
            });
        }
        let inv = self.invoice(invoice, None).await?;
        // A retried request (same Idempotency-Key) answers what the first one did.
        let dedupe = request_key.map(|k| format!("refund:{invoice}/{k}"));
        if let Some(d) = &dedupe
            && let Some(r) = RefundRow::find_by_statement(stmt(
                self.db.backend(),
                "SELECT id, amount, processor_ref, reason FROM ledger_entries WHERE dedupe_key = $1",
                vec![d.clone().into()],
            ))
            .one(&self.db.read)
            .await?
        {
            return Ok(RefundMade {
                id: r.id,
                invoice_id: invoice,
                amount_cents: r.amount,
                processor_ref: r.processor_ref.unwrap_or_default(),
                reason: r.reason.unwrap_or_default(),
            });
        }
        let Some(pi) = inv.payment_intent_id.clone().filter(|_| inv.status == "paid") else {
            return Err(BillingError::Refused(format!(
                "the invoice is {}; only a paid invoice can be refunded",
                inv.status
            )));
        };
        let left = inv.total - inv.amount_refunded;
        let amount = amount.unwrap_or(left);
        if amount <= 0 || amount > left {
            return Err(BillingError::Invalid {
                field: "amount_cents".into(),
                message: format!("must be between 1 and {left} (what is left to refund)"),
            });
        }
        // The processor's idempotency key: from the caller's Idempotency-Key when given
        // (a retried request replays the first refund), else this entry's id.
        let id = Uuid::now_v7();
        let key = match request_key {
            Some(k) => format!("refund/{invoice}/{k}"),
            None => id.to_string(),
        };
        let re = self.processor()?.refund(&pi, amount, reason, &key).await.map_err(Self::unavailable)?;
        let b = self.db.backend();
        let txn = self.db.begin_write().await?;
        let fresh = txn
            .execute_raw(stmt(
                b,
                "INSERT INTO ledger_entries (id, invoice_id, customer_id, kind, amount, currency, dedupe_key, processor_ref, reason, actor_id, created_at) \
                 VALUES ($1, $2, $3, 'refund', $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (dedupe_key) DO NOTHING",
                vec![
                    id.into(),
                    invoice.into(),
                    inv.customer_id.into(),
                    re.amount.into(),
                    inv.currency.clone().into(),
                    dedupe.clone().unwrap_or_else(|| format!("refund:{}", re.id)).into(),
                    re.id.clone().into(),
                    reason.to_owned().into(),
                    actor.into(),
                    self.now().into(),
                ],
            ))
            .await?
            .rows_affected()
            == 1;
        if !fresh {
            // A replay: the refund is already recorded.
            txn.rollback().await?;
            return Ok(RefundMade {
                id,
                invoice_id: invoice,
                amount_cents: re.amount,
                processor_ref: re.id,
                reason: reason.to_owned(),
            });
        }
        let n = txn
            .execute_raw(stmt(
                b,
                "UPDATE invoices SET amount_refunded = amount_refunded + $1 WHERE id = $2 AND amount_refunded + $1 <= total",
                vec![re.amount.into(), invoice.into()],
            ))
            .await?
            .rows_affected();
        if n == 0 {
            return Err(BillingError::Refused("the invoice changed meanwhile; nothing more can be refunded".into()));
        }
        txn.commit().await?;
        Ok(RefundMade {
            id,
            invoice_id: invoice,
            amount_cents: re.amount,
            processor_ref: re.id,
            reason: reason.to_owned(),
        })
    }

    /// Handles a webhook delivery: verified by `Stripe-Signature`, recorded once by its
    /// event id (a replay changes nothing). Returns whether it was new.
    pub async fn webhook(&self, secret: &str, header: Option<&str>, body: &[u8]) -> Result<bool, BillingError> {
        let header = header.ok_or_else(|| BillingError::Invalid {
            field: "Stripe-Signature".into(),
            message: "the header is missing".into(),
        })?;
        signature::verify(header, body, secret, Utc::now().timestamp(), signature::DEFAULT_TOLERANCE_SECS)
            .map_err(|e| BillingError::Invalid { field: "Stripe-Signature".into(), message: e.to_string() })?;
        let event: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| BillingError::Invalid { field: "body".into(), message: format!("not an event: {e}") })?;
        let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
            return Err(BillingError::Invalid {
                field: "body".into(),
                message: "an event has an id and a type".into(),
            });
        };
        let b = self.db.backend();
        let txn = self.db.begin_write().await?;
        let fresh = txn
            .execute_raw(stmt(
                b,
                "INSERT INTO processor_events (id, kind, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                vec![id.to_owned().into(), kind.to_owned().into(), Utc::now().into()],
            ))
            .await?
            .rows_affected()
            == 1;
        txn.commit().await?;
        if !fresh {
            return Ok(false);
        }
        let object = &event["data"]["object"];
        // A payment failure never moves an invoice back (the run records declines
        // itself); a success confirms one whose answer was lost.
        if kind == "payment_intent.succeeded"
            && let (Some(inv), Some(pi)) =
                (object["metadata"]["invoice_id"].as_str().and_then(|s| s.parse::<Uuid>().ok()), object["id"].as_str())
        {
            self.record_paid(inv, pi, self.now()).await?;
        }
        Ok(true)
    }
}
