//! The `courseshop` binary as ops run it: refusing bad settings at start, migrate, seed.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use testkit::{PoolerSettings, TestPgBouncer};

use crate::helpers::{TestDatabase, eventually};

/// Runs the real binary with only the given environment (plus PATH), from a folder with no `.env`.
fn courseshop(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_courseshop"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir())
        .output()
        .expect("courseshop runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_missing_or_bad_setting_stops_the_start_with_its_name() {
    let output = courseshop(&[], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("configuration error: DATABASE_URL is not set"),
        "{}",
        stderr(&output)
    );

    let url = (
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    let output = courseshop(&[], &[url, ("PORT", "http")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(r#"PORT="http" is not valid"#),
        "{}",
        stderr(&output)
    );
}

#[test]
fn step_4_needs_a_broker_to_serve_and_a_bad_broker_setting_is_named() {
    let url = (
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    let step_4 = [
        url,
        ("SHOP_STEP", "4"),
        ("COSMOS_ENDPOINT", "http://127.0.0.1:8081/"),
        ("COSMOS_KEY", "c2VjcmV0"),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
    ];
    let output = courseshop(&[], &step_4);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("configuration error: RABBITMQ_URL is not set"),
        "{message}"
    );
    let mut bad = step_4.to_vec();
    bad.push(("RABBITMQ_URL", "amqp://guest:hunter2@mq:5672/%2f"));
    bad.push(("ENROLLMENT_RETRY_DELAYS_MS", "1000,later"));
    let output = courseshop(&[], &bad);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains(r#"ENROLLMENT_RETRY_DELAYS_MS="1000,later" is not valid"#),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn step_2_needs_a_cosmos_endpoint_to_serve_but_not_to_migrate() {
    let url = ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere");
    let output = courseshop(&[], &[url, ("SHOP_STEP", "2")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("configuration error: COSMOS_ENDPOINT is not set"),
        "{}",
        stderr(&output)
    );
    // migrate reads only the database settings: it fails on the unreachable database instead
    let output = courseshop(
        &["migrate"],
        &[
            url,
            ("SHOP_STEP", "2"),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "200"),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("migrating the database failed"));
}

#[test]
fn services_lists_what_the_step_needs() {
    let list = |env: &[(&str, &str)]| {
        let output = courseshop(&["services"], env);
        assert!(output.status.success(), "{}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(list(&[("SHOP_STEP", "0")]), "postgres\n");
    assert_eq!(list(&[("SHOP_STEP", "2")]), "postgres\ncosmos\n");
    assert_eq!(list(&[("SHOP_STEP", "3")]), "postgres\ncosmos\nredis\n");
    assert_eq!(
        list(&[("SHOP_STEP", "2"), ("CART_STORE", "postgres")]),
        "postgres\n"
    );
    assert_eq!(
        list(&[("SHOP_STEP", "4")]),
        "postgres\ncosmos\nredis\nrabbitmq\n"
    );
    assert_eq!(
        list(&[("SHOP_STEP", "4"), ("ENROLLMENT", "sync")]),
        "postgres\ncosmos\nredis\n"
    );
    assert_eq!(
        list(&[("ENROLLMENT", "async"), ("SHOP_STEP", "0")]),
        "postgres\nrabbitmq\n"
    );
    // step 5: step 4's stores, and the stack ./scripts/run starts around them only then
    assert_eq!(
        list(&[("SHOP_STEP", "5")]),
        "postgres\ncosmos\nredis\nrabbitmq\nreplica\npgbouncer\nhaproxy\n"
    );
    assert_eq!(
        list(&[("SHOP_STEP", "5"), ("ENROLLMENT", "sync")]),
        "postgres\ncosmos\nredis\nreplica\npgbouncer\nhaproxy\n"
    );
    let output = courseshop(&["services"], &[("SHOP_STEP", "6")]);
    assert_eq!(output.status.code(), Some(2), "an unknown step is refused");
    assert!(
        stderr(&output)
            .contains(r#"SHOP_STEP="6" is not valid: expected a tutorial step from 0 to 5"#),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_commands_print_the_usage() {
    let output = courseshop(&["frobnicate"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("usage: courseshop"));
    let output = courseshop(&["seed", "--courses", "lots"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--courses takes a number"));
}

#[tokio::test]
async fn migrate_then_seed_prepare_an_empty_database() {
    // not yet migrated: the binary does both steps
    let (database, pool) = unmigrated_database().await;
    let env = [("DATABASE_URL", database.url.as_str())];

    let migrate = courseshop(&["migrate"], &env);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let again = courseshop(&["migrate"], &env);
    assert!(
        again.status.success(),
        "migrating twice is harmless: {}",
        stderr(&again)
    );

    let seed = courseshop(&["seed", "--courses", "40"], &env);
    assert!(seed.status.success(), "{}", stderr(&seed));
    let courses: i64 = sqlx::query_scalar("SELECT count(*) FROM courses")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(courses, 40);
}

#[test]
fn seeding_an_unreachable_database_fails_with_a_clear_message() {
    let output = courseshop(
        &["seed"],
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere"),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "500"),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("seeding the catalog failed"),
        "{}",
        stderr(&output)
    );
}

/// An empty database of the test's own (and a pool on it), with no migration applied.
async fn unmigrated_database() -> (TestDatabase, sqlx::PgPool) {
    let database = TestDatabase::migrated().await;
    let pool = database.pool().await;
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .execute(&pool)
        .await
        .expect("reset");
    (database, pool)
}

/// A port nothing listens on a moment ago, for a shop started as a process.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The shop as a container starts it on Azure: `serve --migrate` through PgBouncer, migrating
/// over the direct connection first; and `healthcheck`, which a Docker `HEALTHCHECK` runs.
#[tokio::test]
async fn serve_migrate_brings_an_empty_database_up_to_date_before_it_serves() {
    let (database, pool) = unmigrated_database().await;
    let pgbouncer = TestPgBouncer::start(&database, PoolerSettings::AZURE);
    let port = free_port().to_string();
    let env = [
        ("DATABASE_URL", pgbouncer.url.as_str()),
        ("DATABASE_DIRECT_URL", database.url.as_str()),
        ("SHOP_STEP", "0"),
        ("PORT", port.as_str()),
    ];
    let misconfigured = courseshop(&["healthcheck"], &[("PORT", "http")]);
    assert_eq!(
        misconfigured.status.code(),
        Some(2),
        "a bad setting, not an unhealthy shop"
    );
    assert!(
        stderr(&misconfigured).contains(r#"PORT="http" is not valid"#),
        "{}",
        stderr(&misconfigured)
    );
    let unhealthy = courseshop(&["healthcheck"], &env);
    assert_eq!(unhealthy.status.code(), Some(1), "nothing listens yet");
    assert!(
        stderr(&unhealthy).contains("the shop is not healthy"),
        "{}",
        stderr(&unhealthy)
    );

    let mut shop = Command::new(env!("CARGO_BIN_EXE_courseshop"))
        .args(["serve", "--migrate"])
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the shop starts");
    eventually(
        "the shop answers its healthcheck",
        Duration::from_secs(30),
        || async { courseshop(&["healthcheck"], &env).status.success() },
    )
    .await;
    let migrated: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .expect("the migrations table exists");
    assert_eq!(migrated, shop::database::MIGRATOR.iter().count() as i64);
    let page = reqwest::get(format!("http://127.0.0.1:{port}/courses"))
        .await
        .expect("the shop answers");
    assert_eq!(
        page.status(),
        200,
        "the empty catalog page serves through PgBouncer"
    );
    let _ = shop.kill();
    let _ = shop.wait();

    // the migrator goes only to the direct URL: with that unreachable, the start fails at once,
    // although DATABASE_URL (PgBouncer) answers
    let unreachable = [
        ("DATABASE_URL", pgbouncer.url.as_str()),
        (
            "DATABASE_DIRECT_URL",
            "postgres://postgres@127.0.0.1:1/nowhere",
        ),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "500"),
        ("SHOP_STEP", "0"),
        ("PORT", port.as_str()),
    ];
    let output = courseshop(&["serve", "--migrate"], &unreachable);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("migrating the database failed"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn seeding_in_production_leaves_out_the_demo_accounts_unless_asked() {
    let database = TestDatabase::migrated().await;
    let pool = database.pool().await;
    let url = format!("{}?sslmode=require", database.url);
    let env = [("DATABASE_URL", url.as_str()), ("SHOP_ENV", "production")];
    let demo_accounts = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM users WHERE email = $1")
            .bind(shop::accounts::demo::DEMO_STUDENT)
            .fetch_one(&pool)
            .await
            .expect("count")
    };

    let seed = courseshop(&["seed", "--courses", "60"], &env);
    assert!(seed.status.success(), "{}", stderr(&seed));
    assert_eq!(demo_accounts().await, 0);
    let seed = courseshop(&["seed", "--courses", "60", "--demo-accounts"], &env);
    assert!(seed.status.success(), "{}", stderr(&seed));
    assert_eq!(demo_accounts().await, 1);
}
