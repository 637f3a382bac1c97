//! Step 2's cart migration (`courseshop carts migrate`, `shop::cart::migration`) against the real
//! stores: the carts steps 0-1 kept in PostgreSQL, visitors' and students', copied into a Cosmos DB
//! database of the test's own, merged with what is there, checked, and only then removed.

use std::collections::HashMap;

use shop::cart::migration::{CartMigration, MigrationError, MigrationOptions, MigrationReport};
use shop::cart::{CartLine, CartOwner, CartStore, CosmosCartStore};
use shop::catalog::seed;
use shop::ids::{CourseId, UserId};
use shop::money::Money;

use testkit::TestCosmosServer;

use crate::helpers::{TestApp, TestCosmos};

/// `count` visitors' carts written as step 0 writes them, each with one to three courses.
async fn visitor_carts(app: &TestApp, count: usize) -> HashMap<uuid::Uuid, Vec<i64>> {
    let courses: Vec<i64> = sqlx::query_scalar("SELECT id FROM courses ORDER BY id LIMIT 40")
        .fetch_all(&app.pool)
        .await
        .expect("courses");
    let mut carts = HashMap::new();
    for n in 0..count {
        let id = uuid::Uuid::new_v4();
        let lines: Vec<i64> = (0..(n % 3 + 1))
            .map(|k| courses[(n * 7 + k * 13) % courses.len()])
            .collect();
        sqlx::query("INSERT INTO carts (id) VALUES ($1)")
            .bind(id)
            .execute(&app.pool)
            .await
            .expect("cart");
        for course in &lines {
            sqlx::query(
                "INSERT INTO cart_items (cart_id, course_id, price_cents_seen) VALUES ($1, $2, 1999)",
            )
            .bind(id)
            .bind(course)
            .execute(&app.pool)
            .await
            .expect("line");
        }
        carts.insert(id, lines);
    }
    carts
}

fn migration(app: &TestApp, cosmos: &TestCosmos, dry_run: bool) -> CartMigration {
    CartMigration::new(
        app.pool.clone(),
        cosmos.settings(),
        MigrationOptions {
            batch: 128,
            concurrency: 16,
            dry_run,
        },
    )
}

async fn courses_in_cosmos(store: &CosmosCartStore, owner: CartOwner) -> Vec<i64> {
    let mut courses: Vec<i64> = store
        .lines(owner)
        .await
        .expect("Cosmos answers")
        .iter()
        .map(|line| line.course.0)
        .collect();
    courses.sort();
    courses
}

#[tokio::test]
async fn a_thousand_carts_move_to_cosmos_once_and_the_same_browsers_find_them_at_step_2() {
    // one session key before and after the switch, as a deployment keeps it (without it a
    // restart signs everyone out, and the cart would be a stranger's)
    let app = TestApp::seeded_with(vec![("SESSION_KEY", "k".repeat(64))]).await;
    // a student's and a visitor's cart built through the pages at step 0
    let student = app.other_browser_app();
    assert_eq!(
        student
            .register("mover@example.com", "Mover", "correct horse battery")
            .await
            .status,
        303
    );
    assert_eq!(student.add_to_cart(3).await.status, 303);
    assert_eq!(student.add_to_cart(4).await.status, 303);
    let visitor = app.other_browser_app();
    assert_eq!(visitor.add_to_cart(5).await.status, 303);
    let mut student_cart = student.cart_slugs().await;
    let visitor_cart = visitor.cart_slugs().await;
    let carts = visitor_carts(&app, 1_000).await;

    let cosmos = TestCosmos::new();
    let dry = migration(&app, &cosmos, true)
        .run(|_| {})
        .await
        .expect("dry run");
    assert_eq!((dry.total, dry.migrated), (1_002, 1_002));
    let store = CosmosCartStore::new(cosmos.settings());
    let (id, _) = carts.iter().next().expect("a cart");
    assert!(
        courses_in_cosmos(&store, CartOwner::Visitor(shop::cart::CartId(*id)))
            .await
            .is_empty(),
        "a dry run writes nothing"
    );

    let mut reported = Vec::new();
    let report = migration(&app, &cosmos, false)
        .run(|report| reported.push(*report))
        .await
        .expect("the migration runs");
    assert_eq!(
        report,
        MigrationReport {
            total: 1_002,
            migrated: 1_002,
            merged: 0,
            skipped: 0,
            failed: 0,
            retried: 0
        }
    );
    assert!(reported.len() > 1, "progress after each batch");
    for (id, lines) in &carts {
        let mut expected = lines.clone();
        expected.sort();
        assert_eq!(
            courses_in_cosmos(&store, CartOwner::Visitor(shop::cart::CartId(*id))).await,
            expected
        );
    }
    assert!(
        migration(&app, &cosmos, false)
            .verify()
            .await
            .expect("verify")
            .is_empty()
    );

    // a second run finds everything there and writes nothing
    let again = migration(&app, &cosmos, false)
        .run(|_| {})
        .await
        .expect("the second run");
    assert_eq!((again.skipped, again.migrated, again.merged), (1_002, 0, 0));

    // the same browsers, now served at step 2, see their carts line for line
    let step_2 = app.at_step_2_on(cosmos.settings()).await;
    let mut moved = student.continue_on(&step_2).cart_slugs().await;
    moved.sort();
    student_cart.sort();
    assert_eq!(moved, student_cart);
    assert_eq!(
        visitor.continue_on(&step_2).cart_slugs().await,
        visitor_cart
    );
    assert_eq!(student_cart.len(), 2);
    assert_eq!(visitor_cart, [seed::course(5).slug]);
}

#[tokio::test]
async fn a_cart_cosmos_already_has_is_merged_and_finish_waits_for_a_clean_verification() {
    let app = TestApp::seeded().await;
    let student = app.other_browser_app();
    assert_eq!(
        student
            .register("merge@example.com", "Merge", "correct horse battery")
            .await
            .status,
        303
    );
    assert_eq!(student.add_to_cart(3).await.status, 303);
    assert_eq!(student.add_to_cart(4).await.status, 303);
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'merge@example.com'")
        .fetch_one(&app.pool)
        .await
        .expect("the student");
    let owner = CartOwner::User(UserId(user));
    let pool = app.pool.clone();
    let course = |n: u32| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM courses WHERE slug = $1")
                .bind(seed::course(n).slug)
                .fetch_one(&pool)
                .await
                .expect("course")
        }
    };
    // the shop already serves step 2: the student added course 4 and course 6 there
    let cosmos = TestCosmos::new();
    let store = CosmosCartStore::new(cosmos.settings());
    for n in [4, 6] {
        store
            .add(
                owner,
                CartLine {
                    course: CourseId(course(n).await),
                    price_seen: Money::from_cents(1999).expect("price"),
                    added_at: chrono::Utc::now(),
                },
            )
            .await
            .expect("a line in Cosmos");
    }

    let report = migration(&app, &cosmos, false)
        .run(|_| {})
        .await
        .expect("migrate");
    assert_eq!((report.merged, report.migrated), (1, 0));
    let mut expected = vec![course(3).await, course(4).await, course(6).await];
    expected.sort();
    assert_eq!(
        courses_in_cosmos(&store, owner).await,
        expected,
        "the union, each course once"
    );

    // a line added at step 0 after the migration: the stores differ, and finish refuses
    assert_eq!(student.add_to_cart(7).await.status, 303);
    let refused = migration(&app, &cosmos, false).finish().await;
    assert!(
        matches!(refused, Err(MigrationError::Differs(1))),
        "{refused:?}"
    );
    let carts: i64 = sqlx::query_scalar("SELECT count(*) FROM carts")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(carts, 1, "nothing removed while the stores differ");

    migration(&app, &cosmos, false)
        .run(|_| {})
        .await
        .expect("migrate again");
    let removed = migration(&app, &cosmos, false)
        .finish()
        .await
        .expect("finish after a clean verification");
    assert_eq!(removed, 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM cart_items")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
    assert_eq!(courses_in_cosmos(&store, owner).await.len(), 4);
}

/// The cut-over before the backfill: the shop at step 2 with `CART_MIGRATION=read-through` finds a
/// cart only PostgreSQL has, copies it on first use (eight requests for it at once), removes it
/// from PostgreSQL, and a line the student then removes does not come back.
#[tokio::test]
async fn read_through_moves_a_cart_on_first_use_once_under_concurrent_requests() {
    let app = TestApp::seeded_with(vec![("SESSION_KEY", "k".repeat(64))]).await;
    let student = app.other_browser_app();
    assert_eq!(
        student
            .register("through@example.com", "Through", "correct horse battery")
            .await
            .status,
        303
    );
    for course in [3, 4, 5] {
        assert_eq!(student.add_to_cart(course).await.status, 303);
    }
    let visitor = app.other_browser_app();
    assert_eq!(visitor.add_to_cart(6).await.status, 303);
    let mut before = student.cart_slugs().await;
    before.sort();

    let cosmos = TestCosmos::new();
    let mut settings = cosmos.settings();
    settings.read_through = true;
    let step_2 = app.at_step_2_on(settings).await;
    let on_step_2 = student.continue_on(&step_2);
    let pages = futures::future::join_all((0..8).map(|_| on_step_2.cart_slugs())).await;
    for mut page in pages {
        page.sort();
        assert_eq!(page, before, "every request sees the whole cart");
    }
    assert_eq!(
        visitor.continue_on(&step_2).cart_slugs().await,
        [seed::course(6).slug]
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM carts")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(left, 0, "PostgreSQL's copies are gone once in Cosmos DB");
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'through@example.com'")
        .fetch_one(&app.pool)
        .await
        .expect("the student");
    let store = CosmosCartStore::new(cosmos.settings());
    assert_eq!(
        courses_in_cosmos(&store, CartOwner::User(UserId(user)))
            .await
            .len(),
        3,
        "each line once"
    );

    // a removal sticks: PostgreSQL no longer holds the line to bring back
    let removed = on_step_2.remove_from_cart(4).await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(on_step_2.cart_slugs().await.len(), 2);
}

/// The real command as ops run it, on the test's database and Cosmos DB database.
fn carts_migrate(app: &TestApp, cosmos: &TestCosmos, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_courseshop"));
    command
        .args(["carts", "migrate"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.database.url)
        .env("RUST_LOG", "warn")
        .envs(cosmos.overrides())
        .current_dir(std::env::temp_dir());
    command
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A row of the command's final table (`migrated   20`).
fn row(report: &str, name: &str) -> u64 {
    report
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} row in {report}"))
}

/// Killed midway (SIGKILL, as a node going away does), the command is simply run again: it
/// finishes the job, counts what the first run did as already there, and duplicates no line.
#[tokio::test]
async fn a_migration_killed_midway_is_finished_by_running_it_again() {
    let app = TestApp::seeded().await;
    let carts = visitor_carts(&app, 1_500).await;
    let cosmos = TestCosmos::new();
    let mut first = carts_migrate(&app, &cosmos, &["--batch", "50", "--concurrency", "4"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the command starts");
    let store = CosmosCartStore::new(cosmos.settings());
    let ids: Vec<uuid::Uuid> = {
        let mut ids: Vec<_> = carts.keys().copied().collect();
        ids.sort();
        ids
    };
    // killed once the first carts (in id order) are in Cosmos DB, long before the last
    crate::helpers::eventually(
        "the first run has migrated some carts",
        std::time::Duration::from_secs(30),
        || async {
            !courses_in_cosmos(&store, CartOwner::Visitor(shop::cart::CartId(ids[0])))
                .await
                .is_empty()
        },
    )
    .await;
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    assert!(
        courses_in_cosmos(
            &store,
            CartOwner::Visitor(shop::cart::CartId(ids[ids.len() - 1]))
        )
        .await
        .is_empty(),
        "killed midway"
    );

    let rerun = carts_migrate(&app, &cosmos, &[]).output().expect("runs");
    assert!(rerun.status.success(), "{}", stdout(&rerun));
    let report = stdout(&rerun);
    assert!(
        row(&report, "skipped") > 0,
        "the first run's carts count as there: {report}"
    );
    assert_eq!(row(&report, "failed"), 0, "{report}");
    assert_eq!(row(&report, "carts in PostgreSQL"), 1_500);
    for (id, lines) in &carts {
        let mut expected = lines.clone();
        expected.sort();
        assert_eq!(
            courses_in_cosmos(&store, CartOwner::Visitor(shop::cart::CartId(*id))).await,
            expected,
            "each line once"
        );
    }
    let verified = carts_migrate(&app, &cosmos, &["--verify"])
        .output()
        .expect("runs");
    assert!(verified.status.success(), "{}", stdout(&verified));
}

/// Cosmos DB away for the whole run: the command says how many carts it could not move and
/// exits 1 (after its retries); run again once Cosmos DB answers, it moves them.
#[tokio::test]
async fn cosmos_down_during_the_run_fails_clearly_and_a_rerun_resumes() {
    let app = TestApp::seeded().await;
    let carts = visitor_carts(&app, 20).await;
    let cosmos = TestCosmos::new();
    // the same account and database, while nothing answers at its address
    let away = TestCosmos {
        endpoint: "http://127.0.0.1:1/".to_string(),
        database: cosmos.database.clone(),
    };
    let failed = carts_migrate(&app, &away, &[]).output().expect("runs");
    assert_eq!(failed.status.code(), Some(1), "{}", stdout(&failed));
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("20 carts were not migrated"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    assert_eq!(row(&stdout(&failed), "failed"), 20);

    let rerun = carts_migrate(&app, &cosmos, &[]).output().expect("runs");
    assert!(rerun.status.success(), "{}", stdout(&rerun));
    assert_eq!(row(&stdout(&rerun), "migrated"), 20);
    let store = CosmosCartStore::new(cosmos.settings());
    for (id, lines) in &carts {
        assert_eq!(
            courses_in_cosmos(&store, CartOwner::Visitor(shop::cart::CartId(*id)))
                .await
                .len(),
            lines.len()
        );
    }
}

/// A container with little throughput: beyond 40 operations a second Cosmos DB answers 429 with
/// `x-ms-retry-after-ms`, and the migration waits as long as each answer asks (the SDK's own
/// retries, inside `OPERATION_BUDGET` rather than the page's budget), so every cart moves and
/// none fails.
#[tokio::test]
async fn a_throttling_container_is_waited_out_and_no_cart_fails() {
    let app = TestApp::seeded().await;
    let carts = visitor_carts(&app, 120).await;
    let server = TestCosmosServer::start(Some(40));
    let cosmos = TestCosmos {
        endpoint: server.endpoint(),
        ..TestCosmos::new()
    };

    let report = migration(&app, &cosmos, false)
        .run(|_| {})
        .await
        .expect("the migration runs");
    let verified = migration(&app, &cosmos, false).verify().await;
    let log = server.stop();

    let throttled: u64 = log
        .lines()
        .find_map(|line| {
            line.strip_prefix("cosmos-local: ")?
                .strip_suffix(" requests throttled (429)")
        })
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("the server reports what it throttled: {log}"));
    assert!(
        throttled > 0,
        "the load was above the container's throughput: {log}"
    );
    // the SDK waited out every 429 inside the operation's budget: no cart needed a second attempt
    assert_eq!(
        (report.migrated, report.failed, report.retried),
        (carts.len() as u64, 0, 0),
        "{report:?} with {throttled} requests throttled"
    );
    assert!(
        verified.expect("verification runs").is_empty(),
        "every line is in Cosmos DB"
    );
}
