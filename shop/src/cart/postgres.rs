//! Step 0's cart store: two PostgreSQL tables (`carts`, `cart_items`).

use sqlx::PgPool;

use super::{CartError, CartId, CartLine, CartOwner, CartStore};
use crate::database::StoreError;
use crate::ids::{CourseId, UserId};

#[derive(Clone)]
pub struct PostgresCartStore {
    pool: PgPool,
}

impl PostgresCartStore {
    pub fn new(pool: PgPool) -> PostgresCartStore {
        PostgresCartStore { pool }
    }
}

impl From<sqlx::Error> for CartError {
    fn from(error: sqlx::Error) -> CartError {
        match StoreError::from(error) {
            StoreError::Unavailable(error) => CartError::Unavailable(Box::new(error)),
            other => CartError::Failed(Box::new(other)),
        }
    }
}

/// The owner's cart id, made when missing. A visitor's id only ever names an anonymous cart, so a
/// session cannot reach a user's cart by guessing its id.
async fn cart_id(
    connection: &mut sqlx::PgConnection,
    owner: CartOwner,
) -> Result<uuid::Uuid, sqlx::Error> {
    match owner {
        CartOwner::Visitor(CartId(id)) => {
            sqlx::query_scalar!(
                "INSERT INTO carts (id) VALUES ($1)
             ON CONFLICT (id) DO UPDATE SET updated_at = now() WHERE carts.user_id IS NULL
             RETURNING id",
                id
            )
            .fetch_one(connection)
            .await
        }
        CartOwner::User(UserId(user)) => {
            sqlx::query_scalar!(
                "INSERT INTO carts (id, user_id) VALUES ($1, $2)
             ON CONFLICT (user_id) WHERE user_id IS NOT NULL DO UPDATE SET updated_at = now()
             RETURNING id",
                uuid::Uuid::new_v4(),
                user
            )
            .fetch_one(connection)
            .await
        }
    }
}

#[async_trait::async_trait]
impl CartStore for PostgresCartStore {
    async fn lines(&self, owner: CartOwner) -> Result<Vec<CartLine>, CartError> {
        let (visitor, user) = match owner {
            CartOwner::Visitor(CartId(id)) => (Some(id), None),
            CartOwner::User(UserId(id)) => (None, Some(id)),
        };
        Ok(sqlx::query_as!(
            CartLine,
            r#"SELECT i.course_id AS "course: CourseId", i.price_cents_seen AS "price_seen: _", i.added_at
               FROM carts c JOIN cart_items i ON i.cart_id = c.id
               WHERE (c.id = $1 AND c.user_id IS NULL) OR c.user_id = $2
               ORDER BY i.added_at, i.course_id"#,
            visitor,
            user
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn add(&self, owner: CartOwner, line: CartLine) -> Result<(), CartError> {
        let mut tx = self.pool.begin().await?;
        let cart = cart_id(&mut tx, owner).await?;
        sqlx::query!(
            "INSERT INTO cart_items (cart_id, course_id, price_cents_seen, added_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (cart_id, course_id) DO NOTHING",
            cart,
            line.course.0,
            line.price_seen.cents(),
            line.added_at
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove(&self, owner: CartOwner, course: CourseId) -> Result<(), CartError> {
        let (visitor, user) = match owner {
            CartOwner::Visitor(CartId(id)) => (Some(id), None),
            CartOwner::User(UserId(id)) => (None, Some(id)),
        };
        sqlx::query!(
            "DELETE FROM cart_items i USING carts c
             WHERE i.cart_id = c.id AND i.course_id = $3
               AND ((c.id = $1 AND c.user_id IS NULL) OR c.user_id = $2)",
            visitor,
            user,
            course.0
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn clear(&self, owner: CartOwner) -> Result<(), CartError> {
        let (visitor, user) = match owner {
            CartOwner::Visitor(CartId(id)) => (Some(id), None),
            CartOwner::User(UserId(id)) => (None, Some(id)),
        };
        sqlx::query!(
            "DELETE FROM cart_items i USING carts c
             WHERE i.cart_id = c.id AND ((c.id = $1 AND c.user_id IS NULL) OR c.user_id = $2)",
            visitor,
            user
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn merge(&self, visitor: CartId, user: UserId) -> Result<(), CartError> {
        let mut tx = self.pool.begin().await?;
        let cart = cart_id(&mut tx, CartOwner::User(user)).await?;
        sqlx::query!(
            "INSERT INTO cart_items (cart_id, course_id, price_cents_seen, added_at)
             SELECT $2, i.course_id, i.price_cents_seen, i.added_at
             FROM cart_items i JOIN carts c ON c.id = i.cart_id
             WHERE c.id = $1 AND c.user_id IS NULL
             ON CONFLICT (cart_id, course_id) DO NOTHING",
            visitor.0,
            cart
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM carts WHERE id = $1 AND user_id IS NULL",
            visitor.0
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
