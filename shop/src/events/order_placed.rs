//! `OrderPlaced`: the message contract between checkout and the enrollment worker (DESIGN §5).
//!
//! ```json
//! { "type": "OrderPlaced", "version": 1, "eventId": "…", "occurredAt": "2026-11-22T10:00:00Z",
//!   "orderId": "7318349394477056", "userId": 42, "items": [{ "courseId": 7, "priceCents": 4999 }],
//!   "totalCents": 4999, "currency": "USD" }
//! ```
//!
//! `orderId` is a decimal *string*: order ids use all 64 bits, and a JSON number that large loses
//! digits in JavaScript and in every other reader that parses numbers as doubles.
//! Readers are tolerant of fields they do not know (a producer may add one without a new version),
//! and strict about everything they use: a message that breaks the contract is refused as a whole.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{CourseId, OrderId, UserId};
use crate::money::{CURRENCY, Money};

/// Why a message is not an `OrderPlaced` this code can act on. Retrying never helps: such a message
/// goes to the dead-letter queue with this text as its reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MalformedEvent {
    #[error("not JSON of the OrderPlaced shape: {0}")]
    Shape(String),
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("OrderPlaced version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u32),
    #[error("the order has no items")]
    NoItems,
    #[error("a course appears twice in the order")]
    DuplicateCourse,
    #[error("totalCents is not the sum of the items' prices")]
    WrongTotal,
    #[error("currency {0:?} is not the shop's")]
    WrongCurrency(String),
}

/// One course bought, at the price paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlacedItem {
    pub course_id: CourseId,
    #[serde(rename = "priceCents")]
    pub price: Money,
}

/// An order was paid: its courses are to be enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPlaced {
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub items: Vec<OrderPlacedItem>,
    pub total: Money,
}

impl OrderPlaced {
    pub const TYPE: &'static str = "OrderPlaced";
    pub const VERSION: u32 = 1;
    /// The topic exchange's routing key for this event.
    pub const ROUTING_KEY: &'static str = "order.placed";

    /// A new event with a fresh id, for an order just written.
    pub fn new(order_id: OrderId, user_id: UserId, items: Vec<OrderPlacedItem>) -> OrderPlaced {
        let total = Money::from_cents(items.iter().map(|item| item.price.cents()).sum())
            .unwrap_or(Money::ZERO);
        OrderPlaced {
            event_id: Uuid::new_v4(),
            occurred_at: Utc::now(),
            order_id,
            user_id,
            items,
            total,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!(Wire {
            kind: OrderPlaced::TYPE.to_string(),
            version: OrderPlaced::VERSION,
            event_id: self.event_id,
            occurred_at: self.occurred_at,
            order_id: self.order_id.0.to_string(),
            user_id: self.user_id,
            items: self.items.clone(),
            total_cents: self.total.cents(),
            currency: CURRENCY.to_string(),
        })
    }

    /// Reads a message body, checking everything the contract promises.
    pub fn from_json(body: &[u8]) -> Result<OrderPlaced, MalformedEvent> {
        // the type and version first, so a different event is named as such, not as a bad shape
        let header: Header = serde_json::from_slice(body)
            .map_err(|error| MalformedEvent::Shape(error.to_string()))?;
        if header.kind != OrderPlaced::TYPE {
            return Err(MalformedEvent::UnknownType(header.kind));
        }
        if header.version != OrderPlaced::VERSION {
            return Err(MalformedEvent::UnsupportedVersion(header.version));
        }
        let wire: Wire = serde_json::from_slice(body)
            .map_err(|error| MalformedEvent::Shape(error.to_string()))?;
        let order_id = wire
            .order_id
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(OrderId)
            .ok_or_else(|| MalformedEvent::Shape("orderId is not a positive integer".into()))?;
        if wire.items.is_empty() {
            return Err(MalformedEvent::NoItems);
        }
        let mut courses: Vec<CourseId> = wire.items.iter().map(|item| item.course_id).collect();
        courses.sort();
        courses.dedup();
        if courses.len() != wire.items.len() {
            return Err(MalformedEvent::DuplicateCourse);
        }
        let sum = wire
            .items
            .iter()
            .try_fold(0i64, |sum, item| sum.checked_add(item.price.cents()));
        if sum != Some(wire.total_cents) {
            return Err(MalformedEvent::WrongTotal);
        }
        if wire.currency != CURRENCY {
            return Err(MalformedEvent::WrongCurrency(wire.currency));
        }
        Ok(OrderPlaced {
            event_id: wire.event_id,
            occurred_at: wire.occurred_at,
            order_id,
            user_id: wire.user_id,
            items: wire.items,
            total: Money::from_cents(wire.total_cents).map_err(|error| {
                MalformedEvent::Shape(format!("totalCents is not an amount: {error}"))
            })?,
        })
    }

    pub fn courses(&self) -> Vec<CourseId> {
        self.items.iter().map(|item| item.course_id).collect()
    }
}

#[derive(Deserialize)]
struct Header {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    event_id: Uuid,
    occurred_at: DateTime<Utc>,
    order_id: String,
    user_id: UserId,
    items: Vec<OrderPlacedItem>,
    total_cents: i64,
    currency: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> OrderPlaced {
        OrderPlaced::new(
            OrderId(7_318_349_394_477_056),
            UserId(42),
            vec![
                OrderPlacedItem {
                    course_id: CourseId(7),
                    price: Money::from_cents(4999).expect("amount"),
                },
                OrderPlacedItem {
                    course_id: CourseId(9),
                    price: Money::from_cents(1000).expect("amount"),
                },
            ],
        )
    }

    fn body(value: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&value).expect("json")
    }

    #[test]
    fn an_event_round_trips_through_its_json() {
        let event = event();
        assert_eq!(event.total.cents(), 5999);
        let json = event.to_json();
        assert_eq!(json["type"], "OrderPlaced");
        assert_eq!(json["version"], 1);
        assert_eq!(json["orderId"], "7318349394477056");
        assert_eq!(json["items"][0]["priceCents"], 4999);
        assert_eq!(json["totalCents"], 5999);
        assert_eq!(json["currency"], "USD");
        assert_eq!(OrderPlaced::from_json(&body(json)), Ok(event));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut json = event().to_json();
        json["channel"] = "mobile".into();
        assert!(OrderPlaced::from_json(&body(json)).is_ok());
    }

    #[test]
    fn a_message_that_breaks_the_contract_says_how() {
        type Change = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(Change, MalformedEvent)> = vec![
            (
                Box::new(|json| json["type"] = "OrderCancelled".into()),
                MalformedEvent::UnknownType("OrderCancelled".into()),
            ),
            (
                Box::new(|json| json["version"] = 2.into()),
                MalformedEvent::UnsupportedVersion(2),
            ),
            (
                Box::new(|json| json["items"] = serde_json::json!([])),
                MalformedEvent::NoItems,
            ),
            (
                Box::new(|json| json["totalCents"] = 1.into()),
                MalformedEvent::WrongTotal,
            ),
            (
                Box::new(|json| json["currency"] = "EUR".into()),
                MalformedEvent::WrongCurrency("EUR".into()),
            ),
            (
                Box::new(|json| json["items"][1]["courseId"] = 7.into()),
                MalformedEvent::DuplicateCourse,
            ),
        ];
        for (change, expected) in cases {
            let mut json = event().to_json();
            change(&mut json);
            assert_eq!(OrderPlaced::from_json(&body(json)), Err(expected));
        }
        for broken in [
            &b"not json"[..],
            br#"{"type":"OrderPlaced","version":1}"#,
            br#"[1,2]"#,
        ] {
            assert!(matches!(
                OrderPlaced::from_json(broken),
                Err(MalformedEvent::Shape(_))
            ));
        }
        let mut negative = event().to_json();
        negative["items"][0]["priceCents"] = (-1).into();
        assert!(matches!(
            OrderPlaced::from_json(&body(negative)),
            Err(MalformedEvent::Shape(_))
        ));
        let mut bad_id = event().to_json();
        bad_id["orderId"] = "12abc".into();
        assert!(matches!(
            OrderPlaced::from_json(&body(bad_id)),
            Err(MalformedEvent::Shape(_))
        ));
    }
}
