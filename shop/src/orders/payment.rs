//! Taking payment. The shop ships only a *simulated* gateway: no card data leaves the process and
//! no money moves. A real one (Stripe, Adyen) would implement the same trait.

use uuid::Uuid;

use crate::money::Money;

/// A card number as typed: 12 to 19 digits (spaces and hyphens allowed) passing the Luhn check.
/// Never stored or logged; only its last four digits are kept for messages.
#[derive(Clone)]
pub struct CardNumber(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("enter the card's 12 to 19 digits as printed on it")]
pub struct CardNumberError;

impl CardNumber {
    pub fn parse(input: &str) -> Result<CardNumber, CardNumberError> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !(12..=19).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(CardNumberError);
        }
        let sum: u32 = digits
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 1 {
                    let doubled = d * 2;
                    if doubled > 9 { doubled - 9 } else { doubled }
                } else {
                    d
                }
            })
            .sum();
        if sum.is_multiple_of(10) {
            Ok(CardNumber(digits))
        } else {
            Err(CardNumberError)
        }
    }

    pub fn last_four(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

impl std::fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardNumber(…{})", self.last_four())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PaymentError {
    #[error("the card was declined")]
    Declined,
    #[error("the payment service is unavailable")]
    Unavailable,
}

/// A payment taken; `reference` is the gateway's id for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub reference: String,
}

#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Charges `amount`. `idempotency_key` is the checkout's key: a gateway charges a repeated key
    /// once (as Stripe's Idempotency-Key does), so a retried checkout never pays twice.
    async fn charge(
        &self,
        amount: Money,
        card: &CardNumber,
        idempotency_key: Uuid,
    ) -> Result<Payment, PaymentError>;
}

/// The simulated gateway. Its test cards, documented in the README:
/// `4242 4242 4242 4242` (or any Luhn-valid number) is approved; `4000 0000 0000 0002` is declined.
pub struct SimulatedPaymentGateway;

impl SimulatedPaymentGateway {
    pub const APPROVED_CARD: &'static str = "4242 4242 4242 4242";
    pub const DECLINED_CARD: &'static str = "4000 0000 0000 0002";
}

#[async_trait::async_trait]
impl PaymentGateway for SimulatedPaymentGateway {
    async fn charge(
        &self,
        amount: Money,
        card: &CardNumber,
        idempotency_key: Uuid,
    ) -> Result<Payment, PaymentError> {
        if card.0 == "4000000000000002" {
            tracing::info!(card = card.last_four(), %amount, "simulated payment declined");
            return Err(PaymentError::Declined);
        }
        tracing::info!(card = card.last_four(), %amount, "simulated payment approved");
        Ok(Payment {
            reference: format!("sim_{}", idempotency_key.simple()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_valid_numbers_only() {
        assert!(CardNumber::parse(SimulatedPaymentGateway::APPROVED_CARD).is_ok());
        assert!(CardNumber::parse(SimulatedPaymentGateway::DECLINED_CARD).is_ok());
        assert!(
            CardNumber::parse("4242-4242-4242-4241").is_err(),
            "checksum"
        );
        assert!(CardNumber::parse("4242").is_err());
        assert!(CardNumber::parse("4242 4242 4242 424x").is_err());
        assert_eq!(
            CardNumber::parse("4242424242424242").map(|c| c.last_four().to_string()),
            Ok("4242".into())
        );
    }

    #[test]
    fn debug_shows_only_the_last_four_digits() {
        let card = CardNumber::parse(SimulatedPaymentGateway::APPROVED_CARD).expect("valid");
        assert_eq!(format!("{card:?}"), "CardNumber(…4242)");
    }

    #[tokio::test]
    async fn the_test_cards_behave_as_documented() {
        let gateway = SimulatedPaymentGateway;
        let key = Uuid::new_v4();
        let ok = CardNumber::parse(SimulatedPaymentGateway::APPROVED_CARD).expect("valid");
        let declined = CardNumber::parse(SimulatedPaymentGateway::DECLINED_CARD).expect("valid");
        assert!(gateway.charge(Money::ZERO, &ok, key).await.is_ok());
        assert_eq!(
            gateway.charge(Money::ZERO, &declined, key).await,
            Err(PaymentError::Declined)
        );
    }
}
