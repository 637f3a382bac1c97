//! Enrollments: which courses a student may watch. Written by checkout (steps 0-3, in the order's
//! transaction) or by the enrollment worker (step 4); read here.

use sqlx::{PgConnection, PgPool};

use crate::database::StoreError;
use crate::events::OrderPlaced;
use crate::ids::{CourseId, OrderId, UserId};
use crate::orders::OrderStatus;

/// Enrolls `user` in `courses` for `order`, inside the caller's transaction. A course the student
/// already has keeps its first enrollment: repeating this is harmless (the key is user and course).
pub async fn insert_enrollments(
    tx: &mut PgConnection,
    user: UserId,
    order: OrderId,
    courses: &[CourseId],
) -> Result<u64, sqlx::Error> {
    let courses: Vec<i64> = courses.iter().map(|course| course.0).collect();
    let inserted = sqlx::query!(
        "INSERT INTO enrollments (user_id, course_id, order_id)
         SELECT $1, course, $2 FROM UNNEST($3::bigint[]) AS course
         ON CONFLICT (user_id, course_id) DO NOTHING",
        user.0,
        order.0,
        &courses
    )
    .execute(tx)
    .await?;
    Ok(inserted.rows_affected())
}

/// What enrolling an order's courses did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolled {
    /// The order moved from paid to enrolled; `courses` enrollments were added.
    Now { courses: u64 },
    /// The order was enrolled before: this event was a duplicate or a redelivery.
    Already,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// No such order for this user: the event names something PostgreSQL never committed. Retrying
    /// cannot help (the outbox row is written in the order's transaction, so a real order is
    /// always there before its event).
    #[error("order {order} of user {user} does not exist")]
    UnknownOrder { order: OrderId, user: UserId },
    /// The event's courses are not the order's: a forged or corrupted message.
    #[error("the event's courses are not the courses of order {0}")]
    ItemsDiffer(OrderId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for EnrollError {
    fn from(error: sqlx::Error) -> EnrollError {
        EnrollError::Store(error.into())
    }
}

/// The worker's step 4 enrollment: in one transaction, the order's courses are enrolled and the
/// order moves from paid to enrolled. Idempotent: a duplicated or redelivered event enrolls once.
/// The courses come from the order as PostgreSQL has it; the event must agree with it.
#[tracing::instrument(name = "enroll order", skip_all, fields(order = %event.order_id, user = %event.user_id))]
pub async fn enroll_order(pool: &PgPool, event: &OrderPlaced) -> Result<Enrolled, EnrollError> {
    let (order, user) = (event.order_id, event.user_id);
    let mut tx = pool.begin().await?;
    // the order row locked, so two deliveries of one event cannot both see it paid
    let Some(status) = sqlx::query_scalar!(
        r#"SELECT status AS "status: OrderStatus" FROM orders WHERE user_id = $1 AND id = $2 FOR UPDATE"#,
        user.0,
        order.0
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Err(EnrollError::UnknownOrder { order, user });
    };
    let mut bought = sqlx::query_scalar!(
        r#"SELECT course_id AS "course: CourseId" FROM order_items
           WHERE user_id = $1 AND order_id = $2"#,
        user.0,
        order.0
    )
    .fetch_all(&mut *tx)
    .await?;
    bought.sort();
    let mut announced = event.courses();
    announced.sort();
    if bought != announced {
        return Err(EnrollError::ItemsDiffer(order));
    }
    if status == OrderStatus::Enrolled {
        return Ok(Enrolled::Already);
    }
    let courses = insert_enrollments(&mut tx, user, order, &bought).await?;
    sqlx::query!(
        "UPDATE orders SET status = $3, updated_at = now() WHERE user_id = $1 AND id = $2",
        user.0,
        order.0,
        OrderStatus::Enrolled.as_str()
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Enrolled::Now { courses })
}

#[derive(Clone)]
pub struct Enrollments {
    pool: PgPool,
}

impl Enrollments {
    pub fn new(pool: PgPool) -> Enrollments {
        Enrollments { pool }
    }

    /// Which of `courses` the student owns: enrolled in, or bought in an order still waiting for
    /// the enrollment worker (step 4), so a course cannot be paid for twice during that wait.
    pub async fn owned_among(
        &self,
        user: UserId,
        courses: &[CourseId],
    ) -> Result<Vec<CourseId>, StoreError> {
        owned_among(&self.pool, user, courses).await
    }
}

/// [`Enrollments::owned_among`] on a connection the caller holds (checkout's transaction, which
/// must not ask the pool for a second connection while it keeps one).
pub async fn owned_among(
    executor: impl sqlx::PgExecutor<'_>,
    user: UserId,
    courses: &[CourseId],
) -> Result<Vec<CourseId>, StoreError> {
    let ids: Vec<i64> = courses.iter().map(|course| course.0).collect();
    Ok(sqlx::query_scalar!(
        r#"SELECT course_id AS "course_id!: CourseId" FROM enrollments
           WHERE user_id = $1 AND course_id = ANY($2)
           UNION
           SELECT i.course_id FROM order_items i
           JOIN orders o ON o.user_id = i.user_id AND o.id = i.order_id
           WHERE i.user_id = $1 AND i.course_id = ANY($2) AND o.status = $3"#,
        user.0,
        &ids,
        OrderStatus::Paid.as_str()
    )
    .fetch_all(executor)
    .await?)
}

/// A course a student is enrolled in (My courses).
#[derive(Debug, Clone)]
pub struct EnrolledCourse {
    pub title: String,
    pub instructor_name: String,
    /// Where the course page is, while the course is published.
    pub slug: Option<crate::catalog::CourseSlug>,
    pub enrolled_at: chrono::DateTime<chrono::Utc>,
}

impl Enrollments {
    /// The student's courses, most recent enrollment first.
    pub async fn courses(&self, user: UserId) -> Result<Vec<EnrolledCourse>, StoreError> {
        Ok(sqlx::query_as!(
            EnrolledCourse,
            r#"SELECT c.title, u.display_name AS instructor_name,
                      CASE WHEN c.published THEN c.slug END AS "slug: _", e.enrolled_at
               FROM enrollments e
               JOIN courses c ON c.id = e.course_id
               JOIN users u ON u.id = c.instructor_id
               WHERE e.user_id = $1
               ORDER BY e.enrolled_at DESC, c.title"#,
            user.0
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
