//! The subscription's billing state machine and its dunning schedule.

use crate::plan::SubscriptionStatus;
use chrono::{DateTime, Duration, Utc};

/// Days after the first failed charge of an invoice on which it is retried; a failure
/// of the last retry suspends the subscription.
pub const DUNNING_RETRY_DAYS: [i64; 3] = [1, 3, 7];

/// Billing's view of a subscription's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingStatus {
    /// Paid up.
    Active,
    /// The open invoice's charge failed; retries are scheduled.
    PastDue,
    /// Every retry failed: no new tickets until paid.
    Suspended,
    /// Ended at a period end; final.
    Cancelled,
}

impl From<BillingStatus> for SubscriptionStatus {
    fn from(s: BillingStatus) -> Self {
        match s {
            BillingStatus::Active => SubscriptionStatus::Active,
            BillingStatus::PastDue => SubscriptionStatus::PastDue,
            BillingStatus::Suspended => SubscriptionStatus::Suspended,
            BillingStatus::Cancelled => SubscriptionStatus::Cancelled,
        }
    }
}

impl From<SubscriptionStatus> for BillingStatus {
    fn from(s: SubscriptionStatus) -> Self {
        match s {
            SubscriptionStatus::Active => BillingStatus::Active,
            SubscriptionStatus::PastDue => BillingStatus::PastDue,
            SubscriptionStatus::Suspended => BillingStatus::Suspended,
            SubscriptionStatus::Cancelled => BillingStatus::Cancelled,
        }
    }
}

/// Something that happens to a subscription's billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingEvent {
    /// The open invoice was paid (by the run, a retry, or the customer).
    ChargeSucceeded,
    /// A charge of the open invoice failed at `at`.
    ChargeFailed {
        /// When.
        at: DateTime<Utc>,
    },
    /// The customer cancels: effective at the end of the paid period.
    CancelRequested,
    /// The current period ended.
    PeriodEnded,
}

/// What the caller must do after an event (the effectful half).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing (a stale or repeated event).
    None,
    /// Send a receipt.
    Receipt,
    /// Send a receipt and lift the suspension.
    Restored,
    /// Tell the customer the charge failed and when it is retried (with a link to
    /// update the card).
    RetryAt(DateTime<Utc>),
    /// Tell the customer the subscription is suspended until paid.
    Suspend,
    /// Cancellation recorded for the end of the period.
    CancelScheduled,
    /// The subscription is now cancelled; void any open invoice.
    Cancelled,
    /// Issue the next period's invoice.
    BillNextPeriod,
}

/// An event that makes no sense now; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {status:?} subscription cannot take {event}")]
pub struct NotAllowed {
    /// Status at the time.
    pub status: BillingStatus,
    /// The refused event.
    pub event: &'static str,
}

/// A subscription's billing state. Only [`BillingState::apply`] changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingState {
    status: BillingStatus,
    failures: u8,
    first_failure_at: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
}

impl Default for BillingState {
    fn default() -> Self {
        Self::new()
    }
}

impl BillingState {
    /// A new, paid-up subscription.
    pub fn new() -> Self {
        Self { status: BillingStatus::Active, failures: 0, first_failure_at: None, cancel_at_period_end: false }
    }

    /// Rebuilds a state from storage, refusing one the machine cannot reach.
    pub fn restore(
        status: BillingStatus,
        failures: u8,
        first_failure_at: Option<DateTime<Utc>>,
        cancel_at_period_end: bool,
    ) -> Result<Self, &'static str> {
        let s = Self { status, failures, first_failure_at, cancel_at_period_end };
        s.check_invariants().map(|()| s)
    }

    /// Checks every invariant of a reachable state.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        let max = DUNNING_RETRY_DAYS.len() as u8 + 1;
        match self.status {
            BillingStatus::Active if self.failures != 0 || self.first_failure_at.is_some() => {
                Err("an active subscription has no failed charge pending")
            }
            BillingStatus::PastDue if !(1..max).contains(&self.failures) || self.first_failure_at.is_none() => {
                Err("a past-due subscription has between one failure and the last retry")
            }
            BillingStatus::Suspended if self.failures != max || self.first_failure_at.is_none() => {
                Err("a suspended subscription failed every retry")
            }
            _ => Ok(()),
        }
    }

    /// Status.
    pub fn status(&self) -> BillingStatus {
        self.status
    }

    /// Failed charges of the open invoice.
    pub fn failures(&self) -> u8 {
        self.failures
    }

    /// When the open invoice's first charge failed.
    pub fn first_failure_at(&self) -> Option<DateTime<Utc>> {
        self.first_failure_at
    }

    /// Whether it ends at the end of the current period.
    pub fn cancel_at_period_end(&self) -> bool {
        self.cancel_at_period_end
    }

    /// When the next retry is due, while past due.
    pub fn next_retry_at(&self) -> Option<DateTime<Utc>> {
        if self.status != BillingStatus::PastDue {
            return None;
        }
        let days = DUNNING_RETRY_DAYS.get(usize::from(self.failures) - 1)?;
        self.first_failure_at.map(|t| t + Duration::days(*days))
    }

    /// Applies `event` and says what to do about it.
    pub fn apply(&mut self, event: BillingEvent) -> Result<Effect, NotAllowed> {
        use BillingStatus::*;
        let refuse = |status, event| Err(NotAllowed { status, event });
        match (self.status, event) {
            (Cancelled, BillingEvent::ChargeSucceeded) => refuse(Cancelled, "a payment (refund it)"),
            (Cancelled, _) => Ok(Effect::None),
            (from, BillingEvent::ChargeSucceeded) => {
                self.status = Active;
                self.failures = 0;
                self.first_failure_at = None;
                Ok(if from == Suspended { Effect::Restored } else { Effect::Receipt })
            }
            (Suspended, BillingEvent::ChargeFailed { .. }) => Ok(Effect::None),
            (Active | PastDue, BillingEvent::ChargeFailed { at }) => {
                let first = *self.first_failure_at.get_or_insert(at);
                self.failures += 1;
                match DUNNING_RETRY_DAYS.get(usize::from(self.failures) - 1) {
                    Some(days) => {
                        self.status = PastDue;
                        Ok(Effect::RetryAt(first + Duration::days(*days)))
                    }
                    None => {
                        self.status = Suspended;
                        Ok(Effect::Suspend)
                    }
                }
            }
            (Suspended, BillingEvent::CancelRequested) => {
                self.status = Cancelled;
                Ok(Effect::Cancelled)
            }
            (_, BillingEvent::CancelRequested) => {
                if self.cancel_at_period_end {
                    return Ok(Effect::None);
                }
                self.cancel_at_period_end = true;
                Ok(Effect::CancelScheduled)
            }
            (Suspended, BillingEvent::PeriodEnded) => Ok(Effect::None),
            (_, BillingEvent::PeriodEnded) => {
                if self.cancel_at_period_end {
                    self.status = Cancelled;
                    self.failures = 0;
                    self.first_failure_at = None;
                    Ok(Effect::Cancelled)
                } else {
                    Ok(Effect::BillNextPeriod)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        "2027-03-01T06:00:00Z".parse().unwrap()
    }

    #[test]
    fn dunning_retries_after_one_three_and_seven_days_then_suspends() {
        let mut s = BillingState::new();
        let day = Duration::days(1);
        assert_eq!(s.apply(BillingEvent::ChargeFailed { at: t0() }), Ok(Effect::RetryAt(t0() + day)));
        assert_eq!(s.status(), BillingStatus::PastDue);
        assert_eq!(s.next_retry_at(), Some(t0() + day));
        assert_eq!(s.apply(BillingEvent::ChargeFailed { at: t0() + day }), Ok(Effect::RetryAt(t0() + day * 3)));
        assert_eq!(s.apply(BillingEvent::ChargeFailed { at: t0() + day * 3 }), Ok(Effect::RetryAt(t0() + day * 7)));
        assert_eq!(s.apply(BillingEvent::ChargeFailed { at: t0() + day * 7 }), Ok(Effect::Suspend));
        assert_eq!(s.status(), BillingStatus::Suspended);
        assert_eq!(s.next_retry_at(), None);
        assert!(!SubscriptionStatus::from(s.status()).allows_tickets());
        assert_eq!(s.apply(BillingEvent::PeriodEnded), Ok(Effect::None));
        assert_eq!(s.apply(BillingEvent::ChargeSucceeded), Ok(Effect::Restored));
        assert_eq!(s, BillingState::new());
    }

    #[test]
    fn a_successful_retry_ends_dunning() {
        let mut s = BillingState::new();
        s.apply(BillingEvent::ChargeFailed { at: t0() }).unwrap();
        assert_eq!(s.apply(BillingEvent::ChargeSucceeded), Ok(Effect::Receipt));
        assert_eq!(s, BillingState::new());
    }

    #[test]
    fn cancellation_waits_for_the_period_end() {
        let mut s = BillingState::new();
        assert_eq!(s.apply(BillingEvent::CancelRequested), Ok(Effect::CancelScheduled));
        assert_eq!(s.apply(BillingEvent::CancelRequested), Ok(Effect::None));
        assert_eq!(s.status(), BillingStatus::Active);
        assert_eq!(s.apply(BillingEvent::PeriodEnded), Ok(Effect::Cancelled));
        assert_eq!(s.status(), BillingStatus::Cancelled);
        assert!(s.apply(BillingEvent::ChargeSucceeded).is_err());
        assert_eq!(s.apply(BillingEvent::PeriodEnded), Ok(Effect::None));
        let mut s = BillingState::new();
        assert_eq!(s.apply(BillingEvent::PeriodEnded), Ok(Effect::BillNextPeriod));
    }

    #[test]
    fn restore_refuses_unreachable_states() {
        assert!(BillingState::restore(BillingStatus::Active, 1, Some(t0()), false).is_err());
        assert!(BillingState::restore(BillingStatus::PastDue, 0, None, false).is_err());
        assert!(BillingState::restore(BillingStatus::Suspended, 2, Some(t0()), false).is_err());
        assert!(BillingState::restore(BillingStatus::PastDue, 2, Some(t0()), true).is_ok());
    }

    fn event() -> impl Strategy<Value = BillingEvent> {
        prop_oneof![
            3 => Just(BillingEvent::ChargeSucceeded),
            5 => (0i64..30).prop_map(|d| BillingEvent::ChargeFailed { at: t0() + Duration::days(d) }),
            1 => Just(BillingEvent::CancelRequested),
            2 => Just(BillingEvent::PeriodEnded),
        ]
    }

    proptest! {
        #[test]
        fn random_event_sequences_keep_the_invariants(events in proptest::collection::vec(event(), 0..60)) {
            let mut s = BillingState::new();
            let mut consecutive_failures = 0;
            for e in events {
                let before = s;
                match s.apply(e) {
                    Err(_) => prop_assert_eq!(s, before),
                    Ok(effect) => {
                        prop_assert!(s.check_invariants().is_ok(), "{:?}", s);
                        match e {
                            BillingEvent::ChargeSucceeded => { consecutive_failures = 0; prop_assert_eq!(s.status(), BillingStatus::Active); }
                            BillingEvent::ChargeFailed { .. } if before.status() != BillingStatus::Suspended && before.status() != BillingStatus::Cancelled => consecutive_failures += 1,
                            _ => {}
                        }
                        if effect == Effect::Suspend {
                            prop_assert_eq!(consecutive_failures, DUNNING_RETRY_DAYS.len() + 1);
                        }
                        if before.status() == BillingStatus::Cancelled {
                            prop_assert_eq!(s, before);
                        }
                    }
                }
            }
        }
    }
}
