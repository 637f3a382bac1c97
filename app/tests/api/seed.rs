//! The demo catalog loader: realistic, deterministic, idempotent and scalable.

use shop::catalog::seed::{self, SeedReport};

use crate::helpers::{TestApp, TestDatabase};

#[tokio::test]
async fn seeding_twice_adds_nothing_the_second_time() {
    let database = TestDatabase::migrated().await;
    let pool = database.pool().await;
    let first = seed::seed_catalog(&pool, 120).await.expect("seed");
    assert_eq!(
        first,
        SeedReport {
            categories_added: 14,
            instructors_added: 48,
            courses_added: 120,
            courses_total: 120
        }
    );
    // the planner knows the new courses at once, not when autovacuum comes round (catalog/seed.rs)
    let analyzed: Option<i64> = sqlx::query_scalar(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = 'courses'::regclass AND reltuples >= 0",
    )
    .fetch_optional(&pool)
    .await
    .expect("statistics");
    assert_eq!(analyzed, Some(120), "courses are analyzed after a seed");
    let second = seed::seed_catalog(&pool, 120).await.expect("seed again");
    assert_eq!(
        second,
        SeedReport {
            categories_added: 0,
            instructors_added: 0,
            courses_added: 0,
            courses_total: 120
        }
    );
}

#[tokio::test]
async fn a_larger_seed_adds_only_the_new_courses_and_keeps_edits() {
    let database = TestDatabase::migrated().await;
    let pool = database.pool().await;
    seed::seed_catalog(&pool, 50).await.expect("seed");
    sqlx::query("UPDATE courses SET title = 'Edited by its instructor' WHERE slug = $1")
        .bind(seed::course(10).slug)
        .execute(&pool)
        .await
        .expect("edit");
    let report = seed::seed_catalog(&pool, 2_500).await.expect("seed more");
    assert_eq!(report.courses_added, 2_450);
    assert_eq!(report.courses_total, 2_500);
    let title: String = sqlx::query_scalar("SELECT title FROM courses WHERE slug = $1")
        .bind(seed::course(10).slug)
        .fetch_one(&pool)
        .await
        .expect("title");
    assert_eq!(title, "Edited by its instructor");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_catalog() {
    let (a, b) = (
        TestDatabase::migrated().await,
        TestDatabase::migrated().await,
    );
    let (pool_a, pool_b) = (a.pool().await, b.pool().await);
    seed::seed_catalog(&pool_a, 200).await.expect("seed a");
    seed::seed_catalog(&pool_b, 200).await.expect("seed b");
    let catalog = |pool: sqlx::PgPool| async move {
        sqlx::query_as::<_, (String, String, i64, String, bool)>(
            "SELECT slug, title, price_cents, level, published FROM courses ORDER BY slug",
        )
        .fetch_all(&pool)
        .await
        .expect("read")
    };
    assert_eq!(catalog(pool_a).await, catalog(pool_b).await);
}

#[tokio::test]
async fn an_empty_catalog_is_a_working_shop() {
    let app = TestApp::empty().await;
    let courses: i64 = sqlx::query_scalar("SELECT count(*) FROM courses")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(courses, 0, "{} is empty", app.database_name());
    let home = app.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("courseshop seed"));
    let courses = app.get("/courses").await;
    assert_eq!(courses.status, 200);
    assert!(courses.body.contains("No courses match"));
}
