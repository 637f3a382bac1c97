//! The cart as one Cosmos DB document (DESIGN §4).
//!
//! ```json
//! { "id": "user-42", "userId": 42,
//!   "lines": [{ "courseId": 7, "priceSeenCents": 4999, "addedAt": "2026-11-22T18:00:00Z" }],
//!   "updatedAt": "2026-11-22T18:00:00Z", "ttl": 5184000 }
//! ```
//!
//! Partition key `/id`: every cart operation names exactly one cart, so each cart is its own logical
//! partition and every read and write is a point operation (about 1 RU for a read of a cart this
//! small). No query ever spans carts, so nothing is lost by not grouping them; `/userId` would leave
//! visitors' carts without a key and put nothing useful together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cart::{CartId, CartLine, CartOwner};
use crate::ids::{CourseId, UserId};
use crate::money::Money;

/// A visitor's cart expires a week after its last change: most are never come back to, and the
/// cookie that names it (`courseshop_cart`) does not outlive the browser session anyway.
pub const VISITOR_CART_TTL_SECONDS: i64 = 7 * 24 * 60 * 60;
/// A signed-in student's cart is kept for 60 days after its last change, then Cosmos deletes it
/// without a request (and without charging request units for it).
pub const USER_CART_TTL_SECONDS: i64 = 60 * 24 * 60 * 60;

/// The document id, which is also the partition key value. Visitor and user carts live in
/// different id spaces, so a visitor id can never name a user's cart.
pub fn document_id(owner: CartOwner) -> String {
    match owner {
        CartOwner::Visitor(CartId(id)) => format!("visitor-{}", id.simple()),
        CartOwner::User(UserId(id)) => format!("user-{id}"),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartDocument {
    pub id: String,
    /// Present on a signed-in student's cart, for people reading the container in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    pub lines: Vec<LineDocument>,
    pub updated_at: DateTime<Utc>,
    /// Seconds after the last write at which Cosmos deletes the cart (the container's default TTL
    /// must be on, -1, for a per-document `ttl` to count).
    pub ttl: i64,
    /// The version Cosmos gave this document; sent back as `If-Match` on replace.
    #[serde(rename = "_etag", default, skip_serializing)]
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineDocument {
    pub course_id: i64,
    pub price_seen_cents: i64,
    pub added_at: DateTime<Utc>,
}

/// A document whose content cannot be a cart line (a hand edit in the portal, say).
#[derive(Debug, thiserror::Error)]
#[error("cart document {id} holds an invalid line for course {course}: {reason}")]
pub struct CorruptCart {
    pub id: String,
    pub course: i64,
    pub reason: String,
}

impl CartDocument {
    pub fn empty(owner: CartOwner) -> CartDocument {
        CartDocument {
            id: document_id(owner),
            user_id: match owner {
                CartOwner::User(UserId(id)) => Some(id),
                CartOwner::Visitor(_) => None,
            },
            lines: Vec::new(),
            updated_at: Utc::now(),
            ttl: match owner {
                CartOwner::User(_) => USER_CART_TTL_SECONDS,
                CartOwner::Visitor(_) => VISITOR_CART_TTL_SECONDS,
            },
            etag: None,
        }
    }

    /// The lines, oldest first, as the store trait promises.
    pub fn cart_lines(&self) -> Result<Vec<CartLine>, CorruptCart> {
        let mut lines = self
            .lines
            .iter()
            .map(|line| {
                Ok(CartLine {
                    course: CourseId(line.course_id),
                    price_seen: Money::from_cents(line.price_seen_cents).map_err(|error| {
                        CorruptCart {
                            id: self.id.clone(),
                            course: line.course_id,
                            reason: error.to_string(),
                        }
                    })?,
                    added_at: line.added_at,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        lines.sort_by_key(|line| (line.added_at, line.course));
        Ok(lines)
    }

    /// Whether the course has a line in this cart.
    pub fn has(&self, course: CourseId) -> bool {
        self.lines.iter().any(|line| line.course_id == course.0)
    }

    /// Adds the line unless its course is there already. Returns whether the document changed.
    pub fn add(&mut self, line: &CartLine) -> bool {
        if self.has(line.course) {
            return false;
        }
        self.lines.push(LineDocument {
            course_id: line.course.0,
            price_seen_cents: line.price_seen.cents(),
            added_at: line.added_at,
        });
        true
    }

    /// Adds every line whose course is not there yet. Returns whether the document changed.
    pub fn add_all(&mut self, lines: &[CartLine]) -> bool {
        let mut changed = false;
        for line in lines {
            changed |= self.add(line);
        }
        changed
    }

    /// Removes the course's line. Returns whether the document changed.
    pub fn remove(&mut self, course: CourseId) -> bool {
        let before = self.lines.len();
        self.lines.retain(|line| line.course_id != course.0);
        self.lines.len() != before
    }

    /// Marks a change about to be written: a new `updatedAt`, and the TTL counts from now.
    pub fn touch(&mut self) {
        self.updated_at = Utc::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(course: i64, minutes_ago: i64) -> CartLine {
        CartLine {
            course: CourseId(course),
            price_seen: Money::from_cents(1999).expect("price"),
            added_at: Utc::now() - chrono::Duration::minutes(minutes_ago),
        }
    }

    #[test]
    fn visitor_and_user_carts_never_share_an_id() {
        let visitor = CartId(uuid::Uuid::from_u128(42));
        assert_ne!(
            document_id(CartOwner::Visitor(visitor)),
            document_id(CartOwner::User(UserId(42)))
        );
        assert_eq!(document_id(CartOwner::User(UserId(42))), "user-42");
    }

    #[test]
    fn the_document_has_the_designed_shape() {
        let mut cart = CartDocument::empty(CartOwner::User(UserId(7)));
        assert!(cart.add(&line(3, 1)));
        let json = serde_json::to_value(&cart).expect("serialises");
        assert_eq!(json["id"], "user-7");
        assert_eq!(json["userId"], 7);
        assert_eq!(json["ttl"], USER_CART_TTL_SECONDS);
        assert_eq!(json["lines"][0]["courseId"], 3);
        assert_eq!(json["lines"][0]["priceSeenCents"], 1999);
        assert!(json.get("_etag").is_none(), "the etag is never written");
    }

    #[test]
    fn a_read_document_keeps_its_etag_and_ignores_system_properties() {
        let cart: CartDocument = serde_json::from_value(serde_json::json!({
            "id": "visitor-1", "lines": [], "updatedAt": "2026-11-22T18:00:00Z", "ttl": 60,
            "_etag": "\"0000-1\"", "_rid": "abc", "_ts": 1
        }))
        .expect("deserialises");
        assert_eq!(cart.etag.as_deref(), Some("\"0000-1\""));
        assert_eq!(cart.user_id, None);
    }

    #[test]
    fn lines_come_out_oldest_first_without_duplicates() {
        let mut cart = CartDocument::empty(CartOwner::Visitor(CartId::new()));
        assert!(cart.add(&line(1, 1)));
        assert!(cart.add(&line(2, 10)));
        assert!(
            !cart.add(&line(1, 30)),
            "a course already there stays as it was"
        );
        let courses: Vec<i64> = cart
            .cart_lines()
            .expect("valid")
            .iter()
            .map(|l| l.course.0)
            .collect();
        assert_eq!(courses, vec![2, 1]);
        assert!(cart.remove(CourseId(2)));
        assert!(!cart.remove(CourseId(2)));
    }

    #[test]
    fn a_negative_price_is_reported_not_trusted() {
        let mut cart = CartDocument::empty(CartOwner::Visitor(CartId::new()));
        cart.lines.push(LineDocument {
            course_id: 9,
            price_seen_cents: -5,
            added_at: Utc::now(),
        });
        assert!(cart.cart_lines().is_err());
    }
}
