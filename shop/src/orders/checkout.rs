//! Placing an order (DESIGN §5): payment, then one transaction with the order and its items, and
//! either the enrollments (synchronous, steps 0-3) or an `OrderPlaced` event in the outbox for the
//! enrollment worker (asynchronous, step 4).

use std::sync::Arc;

use sqlx::PgPool;
use uuid::Uuid;

use super::payment::{CardNumber, PaymentError, PaymentGateway};
use super::{NewOrderItem, OrderStatus, insert_order};
use crate::cart::{CartOwner, CartService, CartServiceError};
use crate::database::StoreError;
use crate::enrollment::{insert_enrollments, owned_among};
use crate::events::{OrderPlaced, OrderPlacedItem, outbox};
use crate::ids::{CourseId, OrderId, UserId};
use crate::topology::EnrollmentMode;

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("the cart has nothing to buy")]
    EmptyCart,
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Cart(#[from] CartServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CheckoutError {
    fn from(error: sqlx::Error) -> CheckoutError {
        CheckoutError::Store(error.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedOrder {
    pub id: OrderId,
    /// The same checkout was submitted before: this is the order it made then.
    pub replayed: bool,
}

#[derive(Clone)]
pub struct Checkout {
    pool: PgPool,
    carts: CartService,
    gateway: Arc<dyn PaymentGateway>,
    enrollment: EnrollmentMode,
}

impl Checkout {
    pub fn new(
        pool: PgPool,
        carts: CartService,
        gateway: Arc<dyn PaymentGateway>,
        enrollment: EnrollmentMode,
    ) -> Checkout {
        Checkout {
            pool,
            carts,
            gateway,
            enrollment,
        }
    }

    /// Turns the user's cart into a paid order. `key` comes from the checkout form: submitting the
    /// same form twice (a double click, a replayed POST) gives the first order back, paid once.
    #[tracing::instrument(name = "place order", skip_all, fields(user = %user))]
    pub async fn place_order(
        &self,
        user: UserId,
        key: Uuid,
        card: &CardNumber,
    ) -> Result<PlacedOrder, CheckoutError> {
        if let Some(id) = self.order_for_key(&self.pool, user, key).await? {
            return Ok(PlacedOrder { id, replayed: true });
        }
        // Every price from the catalog, now. Read before the transaction: the cart, catalog and
        // enrollment reads take connections of their own, and a transaction that waits for one
        // while holding another starves the pool (or a transaction pooler's few server
        // connections) as soon as checkouts run side by side.
        let cart = self.carts.view(CartOwner::User(user), Some(user)).await?;
        let mut tx = self.pool.begin().await?;
        // A student's checkouts wait for each other here: two submits of one form pay once, and
        // two checkout forms open in two tabs cannot both buy the same course (the second sees
        // what the first bought as owned, below). Per student, so different students never wait
        // for each other.
        sqlx::query!(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            format!("checkout:{user}")
        )
        .execute(&mut *tx)
        .await?;
        if let Some(id) = self.order_for_key(&mut *tx, user, key).await? {
            return Ok(PlacedOrder { id, replayed: true });
        }
        // courses the student owns by now (bought in another tab a moment ago) are dropped
        let courses: Vec<CourseId> = cart.lines.iter().map(|line| line.course.id).collect();
        let cart = cart.setting_apart(&owned_among(&mut *tx, user, &courses).await?);
        if cart.lines.is_empty() {
            return Err(CheckoutError::EmptyCart);
        }
        let total = cart.total();
        // The simulated gateway answers at once. A real one is slow and should be called before the
        // transaction, relying on its idempotency key instead of this lock.
        self.gateway.charge(total, card, key).await?;

        // paid until the worker enrolls it (step 4); enrolled at once when that happens right here
        let status = match self.enrollment {
            EnrollmentMode::Sync => OrderStatus::Enrolled,
            EnrollmentMode::Async => OrderStatus::Paid,
        };
        let items: Vec<NewOrderItem> = cart
            .lines
            .iter()
            .map(|line| NewOrderItem {
                course: line.course.id,
                title: line.course.title.clone(),
                price: line.course.price,
            })
            .collect();
        let Some(id) = insert_order(&mut tx, user, status, key, &items, None).await? else {
            // cannot happen while the lock above is held and no order had the key: but if it
            // does, the key's order is the answer, as for any replay
            let id = self
                .order_for_key(&mut *tx, user, key)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("no order of {user} has key {key}")))?;
            return Ok(PlacedOrder { id, replayed: true });
        };
        match self.enrollment {
            EnrollmentMode::Sync => {
                // sorted, as the worker does: concurrent enrollments lock rows in one order
                let mut courses: Vec<_> = cart.lines.iter().map(|line| line.course.id).collect();
                courses.sort();
                insert_enrollments(&mut tx, user, id, &courses).await?;
            }
            // no broker call here: the event commits with the order, and the relay sends it
            EnrollmentMode::Async => {
                let items = cart
                    .lines
                    .iter()
                    .map(|line| OrderPlacedItem {
                        course_id: line.course.id,
                        price: line.course.price,
                    })
                    .collect();
                outbox::record(&mut tx, &OrderPlaced::new(id, user, items)).await?;
            }
        }
        tx.commit().await?;
        tracing::info!(order = %id, %total, "order placed");

        // the order stands whatever happens to the cart now
        if let Err(error) = self.carts.clear(CartOwner::User(user)).await {
            tracing::warn!(%error, order = %id, "the cart could not be emptied after checkout");
        }
        Ok(PlacedOrder {
            id,
            replayed: false,
        })
    }

    async fn order_for_key(
        &self,
        executor: impl sqlx::PgExecutor<'_>,
        user: UserId,
        key: Uuid,
    ) -> Result<Option<OrderId>, sqlx::Error> {
        sqlx::query_scalar!(
            r#"SELECT id AS "id: OrderId" FROM orders WHERE user_id = $1 AND idempotency_key = $2"#,
            user.0,
            key
        )
        .fetch_optional(executor)
        .await
    }
}
