//! The cut-over to Cosmos DB without downtime (`CART_MIGRATION=read-through`, step 2): before any
//! use of a cart, the cart PostgreSQL still holds for the same owner (steps 0–1) is absorbed into
//! its Cosmos DB document (the union of lines, with the etag check) and then removed from
//! PostgreSQL, so the shop can serve from Cosmos DB before the backfill (`courseshop carts migrate`)
//! has reached every cart, and no student meets an empty cart.
//!
//! Removing the PostgreSQL copy once it is absorbed is what keeps a line the student removes later
//! from coming back from PostgreSQL at the next request. Two requests for the same cart at once
//! both absorb (the union is the same) and both delete (the second finds nothing): copied once in
//! effect, nothing lost. What it costs: one indexed PostgreSQL query per cart operation while it is
//! on; turn it off once `courseshop carts migrate --finish` has emptied the tables.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::cosmos::CosmosCartStore;
use super::{CartError, CartId, CartLine, CartOwner, CartStore};
use crate::ids::{CourseId, UserId};
use crate::money::Money;

pub struct ReadThroughCartStore {
    cosmos: CosmosCartStore,
    inner: Arc<dyn CartStore>,
    pool: PgPool,
}

impl ReadThroughCartStore {
    /// `inner` serves the carts (Cosmos DB, or Redis in front of it); `cosmos` and `pool` are where
    /// a cart is absorbed into and from.
    pub fn new(
        cosmos: CosmosCartStore,
        inner: Arc<dyn CartStore>,
        pool: PgPool,
    ) -> ReadThroughCartStore {
        ReadThroughCartStore {
            cosmos,
            inner,
            pool,
        }
    }

    /// Moves the owner's PostgreSQL cart, if any, into Cosmos DB.
    async fn adopt(&self, owner: CartOwner) -> Result<(), CartError> {
        type Row = (uuid::Uuid, i64, i64, DateTime<Utc>);
        let rows: Vec<Row> = match owner {
            CartOwner::User(UserId(user)) => {
                sqlx::query_as(
                    "SELECT c.id, i.course_id, i.price_cents_seen, i.added_at
                     FROM carts c JOIN cart_items i ON i.cart_id = c.id WHERE c.user_id = $1",
                )
                .bind(user)
                .fetch_all(&self.pool)
                .await?
            }
            CartOwner::Visitor(CartId(id)) => {
                sqlx::query_as(
                    "SELECT c.id, i.course_id, i.price_cents_seen, i.added_at
                     FROM carts c JOIN cart_items i ON i.cart_id = c.id
                     WHERE c.id = $1 AND c.user_id IS NULL",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let Some((cart, ..)) = rows.first().copied() else {
            return Ok(());
        };
        let lines = rows
            .into_iter()
            .map(|(_, course, cents, added_at)| {
                Ok(CartLine {
                    course: CourseId(course),
                    price_seen: Money::from_cents(cents)
                        .map_err(|error| CartError::Failed(Box::new(error)))?,
                    added_at,
                })
            })
            .collect::<Result<Vec<_>, CartError>>()?;
        self.cosmos.absorb(owner, &lines, true).await?;
        // only once Cosmos DB holds every line; lines added meanwhile make the cart newer than
        // what was read, and it stays for the next request (its lines are absorbed then)
        sqlx::query(
            "DELETE FROM carts c WHERE c.id = $1
             AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = c.id
                             AND NOT (i.course_id = ANY($2)))",
        )
        .bind(cart)
        .bind(lines.iter().map(|line| line.course.0).collect::<Vec<_>>())
        .execute(&self.pool)
        .await?;
        tracing::info!(cart = %super::cosmos::document_id(owner), lines = lines.len(), "a cart from PostgreSQL is now in Cosmos DB");
        Ok(())
    }
}

#[async_trait::async_trait]
impl CartStore for ReadThroughCartStore {
    async fn lines(&self, owner: CartOwner) -> Result<Vec<CartLine>, CartError> {
        self.adopt(owner).await?;
        self.inner.lines(owner).await
    }

    async fn add(&self, owner: CartOwner, line: CartLine) -> Result<(), CartError> {
        self.adopt(owner).await?;
        self.inner.add(owner, line).await
    }

    async fn remove(&self, owner: CartOwner, course: CourseId) -> Result<(), CartError> {
        self.adopt(owner).await?;
        self.inner.remove(owner, course).await
    }

    async fn clear(&self, owner: CartOwner) -> Result<(), CartError> {
        self.adopt(owner).await?;
        self.inner.clear(owner).await
    }

    async fn merge(&self, visitor: CartId, user: UserId) -> Result<(), CartError> {
        self.adopt(CartOwner::Visitor(visitor)).await?;
        self.adopt(CartOwner::User(user)).await?;
        self.inner.merge(visitor, user).await
    }
}
