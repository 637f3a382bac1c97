//! The cart: what a visitor means to buy. Stored behind `CartStore`, because the tutorial moves it:
//! PostgreSQL at steps 0-1 (`postgres.rs`), Cosmos DB from step 2 (`cosmos/`), cached in Redis from
//! step 3 (`cached.rs`).
//!
//! A store only stores lines. The rules — a course must be for sale, a student cannot add a course
//! they own, prices come from the catalog — live in `CartService` (`service.rs`), the same for
//! every store.

mod cached;
pub mod cosmos;
pub mod migration;
mod postgres;
mod read_through;
mod service;

use std::error::Error as StdError;

use chrono::{DateTime, Utc};

use crate::ids::{CourseId, UserId};
use crate::money::Money;

pub use cached::CachedCartStore;
pub use cosmos::CosmosCartStore;
pub use postgres::PostgresCartStore;
pub use read_through::ReadThroughCartStore;
pub use service::{AddOutcome, CartService, CartServiceError, CartView, PricedLine};

/// An anonymous visitor's cart, named in their session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CartId(pub uuid::Uuid);

impl CartId {
    pub fn new() -> CartId {
        CartId(uuid::Uuid::new_v4())
    }
}

impl Default for CartId {
    fn default() -> CartId {
        CartId::new()
    }
}

/// Whose cart: a visitor's (before login) or a signed-in user's (one each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartOwner {
    Visitor(CartId),
    User(UserId),
}

/// One course in a cart, with the price the student saw when adding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub course: CourseId,
    pub price_seen: Money,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// The cart's store cannot be reached: the cart is unavailable, nothing is lost.
    #[error("the cart store is unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    #[error("the cart store failed")]
    Failed(#[source] Box<dyn StdError + Send + Sync>),
}

/// Where carts are kept. Every method is idempotent, so a retried request does no harm.
#[async_trait::async_trait]
pub trait CartStore: Send + Sync {
    /// The owner's lines, oldest first; an owner without a cart has an empty one.
    async fn lines(&self, owner: CartOwner) -> Result<Vec<CartLine>, CartError>;
    /// Adds a line unless the course is already in the cart (then the first line stays).
    async fn add(&self, owner: CartOwner, line: CartLine) -> Result<(), CartError>;
    async fn remove(&self, owner: CartOwner, course: CourseId) -> Result<(), CartError>;
    async fn clear(&self, owner: CartOwner) -> Result<(), CartError>;
    /// Moves a visitor's lines into a user's cart at login, skipping courses already there, and
    /// deletes the visitor's cart.
    async fn merge(&self, visitor: CartId, user: UserId) -> Result<(), CartError>;
}
