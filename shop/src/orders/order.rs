//! Orders as the shop reads them back (a student's history, one order, those awaiting enrollment)
//! and their status.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::catalog::CourseSlug;
use crate::database::StoreError;
use crate::ids::{CourseId, OrderId, UserId};
use crate::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum OrderStatus {
    /// Paid; enrollment still to come (step 4).
    Paid,
    Enrolled,
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OrderStatus {
    /// As stored in `orders.status` and as `/orders/{id}/status` answers it.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Paid => "paid",
            OrderStatus::Enrolled => "enrolled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            OrderStatus::Paid => "Paid, enrollment pending",
            OrderStatus::Enrolled => "Enrolled",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OrderSummary {
    pub id: OrderId,
    pub status: OrderStatus,
    pub total: Money,
    pub created_at: DateTime<Utc>,
    pub items: i64,
}

#[derive(Debug, Clone)]
pub struct OrderItem {
    pub course: CourseId,
    /// Title and price as they were at purchase.
    pub title: String,
    pub price: Money,
    /// Where the course is now, if it is still published.
    pub slug: Option<CourseSlug>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: OrderId,
    pub status: OrderStatus,
    pub total: Money,
    pub created_at: DateTime<Utc>,
    pub items: Vec<OrderItem>,
}

/// Orders paid whose enrollment has not happened yet (step 4), across all students.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AwaitingEnrollment {
    pub orders: i64,
    /// How long the oldest of them has waited; `None` when there are none.
    pub oldest: Option<std::time::Duration>,
}

#[derive(Clone)]
pub struct Orders {
    pool: PgPool,
}

impl Orders {
    pub fn new(pool: PgPool) -> Orders {
        Orders { pool }
    }

    /// How many orders wait for the enrollment worker, and for how long the oldest has.
    pub async fn awaiting_enrollment(&self) -> Result<AwaitingEnrollment, StoreError> {
        // 'paid' stays a literal (OrderStatus::Paid, see the test below): only then can PostgreSQL
        // use the partial index `orders_awaiting_enrollment ... WHERE status = 'paid'`, which a
        // bound status (in a generic plan) does not match
        let row = sqlx::query!(
            r#"SELECT count(*) AS "orders!",
                      extract(epoch FROM now() - min(created_at))::float8 AS oldest_seconds
               FROM orders WHERE status = 'paid'"#
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(AwaitingEnrollment {
            orders: row.orders,
            oldest: row
                .oldest_seconds
                .map(|seconds| std::time::Duration::from_secs_f64(seconds.max(0.0))),
        })
    }

    /// The user's orders, newest first.
    pub async fn history(&self, user: UserId) -> Result<Vec<OrderSummary>, StoreError> {
        Ok(sqlx::query_as!(
            OrderSummary,
            r#"SELECT o.id AS "id: _", o.status AS "status: _", o.total_cents AS "total: _", o.created_at,
                      (SELECT count(*) FROM order_items i WHERE i.user_id = o.user_id AND i.order_id = o.id)
                          AS "items!"
               FROM orders o WHERE o.user_id = $1
               ORDER BY o.created_at DESC, o.id DESC"#,
            user.0
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// One of the user's orders. Someone else's order is `None`, exactly like a missing one.
    pub async fn order(&self, user: UserId, id: OrderId) -> Result<Option<Order>, StoreError> {
        let Some(head) = sqlx::query!(
            r#"SELECT status AS "status: OrderStatus", total_cents AS "total: Money", created_at
               FROM orders WHERE user_id = $1 AND id = $2"#,
            user.0,
            id.0
        )
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let items = sqlx::query_as!(
            OrderItem,
            r#"SELECT i.course_id AS "course: _", i.title, i.price_cents AS "price: _",
                      CASE WHEN c.published THEN c.slug END AS "slug: _"
               FROM order_items i JOIN courses c ON c.id = i.course_id
               WHERE i.user_id = $1 AND i.order_id = $2
               ORDER BY i.title"#,
            user.0,
            id.0
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(Order {
            id,
            status: head.status,
            total: head.total,
            created_at: head.created_at,
            items,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus;

    #[test]
    fn statuses_are_stored_as_the_schema_and_the_literal_queries_spell_them() {
        // migrations: CHECK (status IN ('paid', 'enrolled')), and the partial index on 'paid'
        assert_eq!(OrderStatus::Paid.as_str(), "paid");
        assert_eq!(OrderStatus::Enrolled.as_str(), "enrolled");
    }
}
