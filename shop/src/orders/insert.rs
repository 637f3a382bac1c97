//! Writing an order: the one place an `orders` row and its `order_items` are inserted (checkout,
//! the demo seed, and tests that need an order without going through checkout).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::OrderStatus;
use crate::database::StoreError;
use crate::ids::{CourseId, OrderId, UserId};
use crate::money::{CURRENCY, Money};

/// A course bought in an order, with its title and price snapshotted at purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderItem {
    pub course: CourseId,
    pub title: String,
    pub price: Money,
}

/// Inserts the order (id from `next_order_id`, total the sum of the items' prices) and its items,
/// inside the caller's transaction. `placed_at` is `now()` when `None` (the demo seed backdates its
/// orders). `None` back means the user has an order with this idempotency key already: nothing was
/// written. Enrollments and outbox rows are the caller's: this writes the order alone.
pub async fn insert_order(
    tx: &mut PgConnection,
    user: UserId,
    status: OrderStatus,
    key: Uuid,
    items: &[NewOrderItem],
    placed_at: Option<DateTime<Utc>>,
) -> Result<Option<OrderId>, StoreError> {
    let total = items
        .iter()
        .try_fold(Money::ZERO, |total, item| total.checked_add(item.price))
        .ok_or_else(|| StoreError::Corrupt(format!("the total of {user}'s order overflows")))?;
    let Some(id) = sqlx::query_scalar!(
        r#"INSERT INTO orders (id, user_id, status, total_cents, currency, idempotency_key, created_at)
           VALUES (next_order_id($1), $1, $2, $3, $4, $5, coalesce($6, now()))
           ON CONFLICT (user_id, idempotency_key) DO NOTHING
           RETURNING id AS "id: OrderId""#,
        user.0,
        status.as_str(),
        total.cents(),
        CURRENCY,
        key,
        placed_at
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let courses: Vec<i64> = items.iter().map(|item| item.course.0).collect();
    let titles: Vec<String> = items.iter().map(|item| item.title.clone()).collect();
    let prices: Vec<i64> = items.iter().map(|item| item.price.cents()).collect();
    sqlx::query!(
        "INSERT INTO order_items (user_id, order_id, course_id, title, price_cents)
         SELECT $1, $2, * FROM UNNEST($3::bigint[], $4::text[], $5::bigint[])",
        user.0,
        id.0,
        &courses,
        &titles,
        &prices
    )
    .execute(&mut *tx)
    .await?;
    Ok(Some(id))
}
