//! The demo accounts for people teaching from the shop (README: "Demo accounts"): the catalog's
//! first instructor and a student who bought a few courses, all with one published password.
//! `courseshop seed` adds them, except in production unless asked (`--demo-accounts`).

use chrono::{Duration as ChronoDuration, Utc};
use sqlx::PgPool;

use crate::catalog::seed::{FIRST_INSTRUCTOR, course};
use crate::database::StoreError;
use crate::enrollment::insert_enrollments;
use crate::ids::CourseId;
use crate::orders::{NewOrderItem, OrderStatus, insert_order};

/// The demo accounts' password. Set only while an account has none.
pub const DEMO_PASSWORD: &str = "courseshop-demo";
/// The demo instructor: the seeded catalog's first instructor, who owns every 48th course.
pub const DEMO_INSTRUCTOR: &str = FIRST_INSTRUCTOR;
/// The demo student, with two past orders.
pub const DEMO_STUDENT: &str = "student@courseshop.example";
/// The seeded courses the demo student has bought, by order.
pub const DEMO_ORDERS: [&[u32]; 2] = [&[2, 5], &[11]];

/// What `seed_demo_accounts` changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DemoReport {
    pub passwords_set: u64,
    pub orders_added: u64,
}

/// The demo accounts for people teaching from the shop: the instructor (seeded instructor 0) and a
/// student who bought a few courses. Idempotent; a password already set is never replaced. Needs
/// the catalog (`seed_catalog`) with at least the courses in `DEMO_ORDERS`.
pub async fn seed_demo_accounts(pool: &PgPool) -> Result<DemoReport, StoreError> {
    let mut report = DemoReport::default();
    let password = crate::accounts::Password::parse(DEMO_PASSWORD)
        .map_err(|error| StoreError::Corrupt(format!("demo password: {error}")))?;
    let hash = crate::accounts::password::hash(password)
        .await
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO users (email, display_name, role) VALUES ($1, 'Sam Student', 'student')
         ON CONFLICT (email) DO NOTHING",
        DEMO_STUDENT
    )
    .execute(&mut *tx)
    .await?;
    report.passwords_set = sqlx::query!(
        "UPDATE users SET password_hash = $2 WHERE email = ANY($1) AND password_hash IS NULL",
        &[DEMO_INSTRUCTOR.to_string(), DEMO_STUDENT.to_string()],
        hash.0
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();

    let student = sqlx::query_scalar!(
        r#"SELECT id AS "id: crate::ids::UserId" FROM users WHERE email = $1"#,
        DEMO_STUDENT
    )
    .fetch_one(&mut *tx)
    .await?;
    for (index, numbers) in DEMO_ORDERS.iter().enumerate() {
        let slugs: Vec<String> = numbers.iter().map(|n| course(*n).slug).collect();
        // a fixed key per demo order, so seeding again finds the order instead of adding one
        let key = uuid::Uuid::from_u128(0xDE30_0000_0000_4000_8000_0000_0000_0000 + index as u128);
        let items: Vec<NewOrderItem> = sqlx::query_as!(
            NewOrderItem,
            r#"SELECT id AS "course: _", title, price_cents AS "price: _"
               FROM courses WHERE slug = ANY($1) ORDER BY id"#,
            &slugs
        )
        .fetch_all(&mut *tx)
        .await?;
        if items.is_empty() {
            continue;
        }
        let placed_at = Utc::now() - ChronoDuration::days(30 - 10 * index as i64);
        let Some(order) = insert_order(
            &mut tx,
            student,
            OrderStatus::Enrolled,
            key,
            &items,
            Some(placed_at),
        )
        .await?
        else {
            continue;
        };
        let mut courses: Vec<CourseId> = items.iter().map(|item| item.course).collect();
        courses.sort();
        insert_enrollments(&mut tx, student, order, &courses).await?;
        report.orders_added += 1;
    }
    tx.commit().await?;
    Ok(report)
}
