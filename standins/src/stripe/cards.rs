//! Stripe's documented test cards and test payment-method tokens, and what each does.

/// How a test card behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Saves and charges.
    Succeeds,
    /// Refused whenever used (saving or charging): `card_declined` / `generic_decline`.
    Declines,
    /// Refused whenever used: `card_declined` / `insufficient_funds`.
    InsufficientFunds,
    /// Saves to a customer, then every charge fails (`card_declined`).
    AttachesThenFails,
}

/// A test card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCard {
    /// The number.
    pub number: &'static str,
    /// The `pm_card_…` token Stripe accepts in its place.
    pub token: &'static str,
    /// Brand.
    pub brand: &'static str,
    /// Behaviour.
    pub behaviour: Behaviour,
}

/// The cards the stand-in knows.
pub const CARDS: &[TestCard] = &[
    TestCard { number: "4242424242424242", token: "pm_card_visa", brand: "visa", behaviour: Behaviour::Succeeds },
    TestCard {
        number: "5555555555554444",
        token: "pm_card_mastercard",
        brand: "mastercard",
        behaviour: Behaviour::Succeeds,
    },
    TestCard {
        number: "4000000000000002",
        token: "pm_card_chargeDeclined",
        brand: "visa",
        behaviour: Behaviour::Declines,
    },
    TestCard {
        number: "4000000000009995",
        token: "pm_card_chargeDeclinedInsufficientFunds",
        brand: "visa",
        behaviour: Behaviour::InsufficientFunds,
    },
    TestCard {
        number: "4000000000000341",
        token: "pm_card_chargeCustomerFail",
        brand: "visa",
        behaviour: Behaviour::AttachesThenFails,
    },
];

/// The card with this number (spaces ignored) or token.
pub fn find(number_or_token: &str) -> Option<&'static TestCard> {
    let n: String = number_or_token.chars().filter(|c| !c.is_whitespace()).collect();
    CARDS.iter().find(|c| c.number == n || c.token == n)
}

impl Behaviour {
    /// The `(code, decline_code, message)` of a refusal, if this card is refused when
    /// `charging` (or when saved, if not).
    pub fn refusal(self, charging: bool) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Behaviour::Succeeds => None,
            Behaviour::Declines => Some(("card_declined", "generic_decline", "Your card was declined.")),
            Behaviour::InsufficientFunds => {
                Some(("card_declined", "insufficient_funds", "Your card has insufficient funds."))
            }
            Behaviour::AttachesThenFails if charging => {
                Some(("card_declined", "generic_decline", "Your card was declined."))
            }
            Behaviour::AttachesThenFails => None,
        }
    }
}
