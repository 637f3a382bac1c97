//! Step 4 from the shop's side: checkout writes an `OrderPlaced` event to the outbox in the order's
//! transaction, the relay publishes it to RabbitMQ (the test's own exchange and queues), and the
//! enrollment worker, run in this process, enrolls the order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shop::catalog::seed;
use shop::events::OrderPlaced;
use shop::metrics::MessageOutcome;
use shop::orders::SimulatedPaymentGateway;
use uuid::Uuid;

use crate::helpers::{TcpProxy, TestApp, TestRabbit, TestWorker, eventually};

const PASSWORD: &str = "correct horse battery";
const CARD: &str = SimulatedPaymentGateway::APPROVED_CARD;

impl TestApp {
    pub(crate) async fn scalar(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("query")
    }

    /// Outbox rows the relay has not had confirmed yet.
    async fn pending_events(&self) -> i64 {
        self.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await
    }

    /// Waits until the relay has `left` rows still to send.
    async fn until_pending_events(&self, left: i64, what: &str) {
        eventually(what, Duration::from_secs(15), || async {
            self.pending_events().await == left
        })
        .await;
    }

    /// `paid` or `enrolled`, as the order page's status endpoint says.
    pub(crate) async fn order_status(&self, order_path: &str) -> String {
        let page = self.get(&format!("{order_path}/status")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let json: serde_json::Value = serde_json::from_str(&page.body).expect("JSON");
        json["status"].as_str().unwrap_or_default().to_string()
    }

    /// A new student buys seeded courses `courses`; returns the order's path.
    pub(crate) async fn buy(&self, email: &str, courses: &[u32]) -> String {
        self.register(email, "Student", PASSWORD).await;
        for course in courses {
            assert_eq!(self.add_to_cart(*course).await.status, 303);
        }
        let placed = self.check_out(CARD).await;
        assert_eq!(placed.status, 303, "{}", placed.body);
        placed.header("location").to_string()
    }
}

#[tokio::test]
async fn checkout_commits_a_paid_order_with_its_event_and_the_worker_enrolls_it() {
    let rabbit = TestRabbit::new();
    let app = TestApp::with_async_enrollment(&rabbit).await;
    let order = app.buy("ada@example.com", &[3, 4]).await;

    // no worker yet: the order is paid and says enrollment is pending
    let page = app.get(&order).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("enrollment pending"), "{}", page.body);
    assert_eq!(app.order_status(&order).await, "paid");
    assert!(
        !app.get("/my/courses")
            .await
            .body
            .contains(&seed::course(3).title)
    );
    assert_eq!(app.scalar("SELECT count(*) FROM enrollments").await, 0);
    // bought is owned, enrolled or not: the course cannot go into the cart to be paid for again
    app.add_to_cart(3).await;
    assert!(
        app.cart_slugs().await.is_empty(),
        "a pending course is owned"
    );

    // the relay published it once the transaction committed: persistent, message id = event id
    let queue = rabbit.names().queue();
    eventually(
        "the event reaches the queue",
        Duration::from_secs(10),
        || async { rabbit.message_count(&queue).await == 1 },
    )
    .await;
    let event_id: Uuid =
        sqlx::query_scalar("SELECT event_id FROM outbox WHERE published_at IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .expect("the outbox row is marked published");
    let message = rabbit.peek(&queue).await.expect("a message");
    assert_eq!(message.message_id(), Some(event_id.to_string()));
    assert!(message.is_persistent());
    let event = OrderPlaced::from_json(&message.body).expect("the contract");
    assert_eq!(event.event_id, event_id);
    assert_eq!(
        event.total.cents(),
        seed::course(3).price_cents + seed::course(4).price_cents,
        "priced from the catalog"
    );
    assert_eq!(event.items.len(), 2);

    let worker = TestWorker::start(&app, &rabbit).await;
    eventually(
        "the worker enrolls the order",
        Duration::from_secs(10),
        || async { app.order_status(&order).await == "enrolled" },
    )
    .await;
    let mine = app.get("/my/courses").await.body;
    assert!(mine.contains(&seed::course(3).title) && mine.contains(&seed::course(4).title));
    assert_eq!(app.scalar("SELECT count(*) FROM enrollments").await, 2);
    assert!(app.get(&order).await.body.contains("Enrolled"));
    worker.stop().await;
}

#[tokio::test]
async fn with_rabbitmq_down_checkout_still_succeeds_and_the_event_waits_in_the_outbox() {
    let proxy = TcpProxy::start(&TestRabbit::upstream()).await;
    let rabbit = TestRabbit::new();
    rabbit.declare().await;
    proxy.cut();
    let app = TestApp::with_async_enrollment(&rabbit.behind(&proxy)).await;
    let order = app.buy("ada@example.com", &[5]).await;
    assert!(app.get(&order).await.body.contains("enrollment pending"));

    let ready = app.get("/readyz").await;
    assert_eq!(
        ready.status, 200,
        "RabbitMQ is not critical: {}",
        ready.body
    );
    let body: serde_json::Value = serde_json::from_str(&ready.body).expect("JSON");
    assert_eq!(body["status"], "degraded");
    let broker = body["stores"]
        .as_array()
        .and_then(|stores| stores.iter().find(|store| store["name"] == "rabbitmq"))
        .expect("/readyz lists rabbitmq");
    assert_eq!(broker["status"], "down");

    // the relay keeps trying; the row stays pending and /metrics says how old it is
    eventually(
        "the backlog shows in /metrics",
        Duration::from_secs(10),
        || async {
            let text = app.get("/metrics").await.body;
            text.contains("courseshop_outbox_pending_events 1")
                && text
                    .contains(r#"courseshop_outbox_publish_failures_total{reason="unavailable"}"#)
        },
    )
    .await;
    assert_eq!(app.pending_events().await, 1);

    // back: it goes out without restarting anything, and the worker enrolls it
    proxy.restore();
    app.until_pending_events(0, "the event is published").await;
    let worker = TestWorker::start(&app, &rabbit).await;
    eventually("the order is enrolled", Duration::from_secs(10), || async {
        app.order_status(&order).await == "enrolled"
    })
    .await;
    worker.stop().await;
}

/// The issue's "done when": N checkouts with the broker cut partway and restored; then orders =
/// published events = enrolled orders = N, and no course is enrolled twice. The worker goes through
/// the same proxy, so it has to reconnect by itself too.
#[tokio::test]
async fn a_burst_of_checkouts_through_a_broker_cut_enrolls_every_order_once() {
    const STUDENTS: usize = 24;
    const CUT_AFTER: usize = 8;
    let proxy = TcpProxy::start(&TestRabbit::upstream()).await;
    let rabbit = TestRabbit::new();
    let through = rabbit.behind(&proxy);
    let app = Arc::new(TestApp::with_async_enrollment(&through).await);
    let worker = TestWorker::start(&app, &through).await;

    let placed = Arc::new(AtomicUsize::new(0));
    // six browsers at a time: the test pool and two cores, not the shop, set the pace
    let browsers = Arc::new(tokio::sync::Semaphore::new(6));
    let mut students = Vec::new();
    for n in 0..STUDENTS {
        let (app, placed, browsers) = (app.other_browser_app(), placed.clone(), browsers.clone());
        students.push(tokio::spawn(async move {
            let _turn = browsers.acquire().await.expect("the semaphore stays open");
            let first = 1 + (n as u32 * 2) % 50;
            let order = app
                .buy(&format!("student{n}@example.com"), &[first, first + 1])
                .await;
            placed.fetch_add(1, Ordering::SeqCst);
            (app, order)
        }));
    }
    eventually(
        "a third of the orders are placed",
        Duration::from_secs(60),
        || async { placed.load(Ordering::SeqCst) >= CUT_AFTER },
    )
    .await;
    proxy.cut();
    let mut orders = Vec::new();
    for student in students {
        orders.push(
            student
                .await
                .expect("every checkout succeeds while the broker is cut"),
        );
    }
    let pending_while_cut = app.pending_events().await;
    proxy.restore();

    eventually(
        "every order is enrolled",
        Duration::from_secs(30),
        || async {
            app.scalar("SELECT count(*) FROM orders WHERE status = 'enrolled'")
                .await
                == STUDENTS as i64
        },
    )
    .await;
    let count = |sql| app.scalar(sql);
    assert_eq!(count("SELECT count(*) FROM orders").await, STUDENTS as i64);
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL").await,
        STUDENTS as i64,
        "every event published"
    );
    assert_eq!(
        count("SELECT count(*) FROM enrollments").await,
        count("SELECT count(*) FROM order_items").await,
        "each course bought is enrolled exactly once"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM enrollments e JOIN order_items i
             ON i.user_id = e.user_id AND i.order_id = e.order_id AND i.course_id = e.course_id"
        )
        .await,
        count("SELECT count(*) FROM order_items").await,
        "and by the order that bought it"
    );
    assert!(
        pending_while_cut > 0,
        "the cut came while events were still to send"
    );
    // an ack lost in the cut makes a redelivery, which the worker counts as a duplicate; the count
    // comes after the ack, which comes after the commit the query above saw
    let counted = || {
        worker
            .metrics
            .enrollment
            .messages_processed(MessageOutcome::Enrolled)
            + worker
                .metrics
                .enrollment
                .messages_processed(MessageOutcome::Duplicate)
    };
    eventually(
        "every message is counted",
        Duration::from_secs(10),
        || async { counted() >= STUDENTS as u64 },
    )
    .await;
    let enrolled = worker
        .metrics
        .enrollment
        .messages_processed(MessageOutcome::Enrolled);
    assert!(
        enrolled <= STUDENTS as u64,
        "enrolled {enrolled}, duplicates {}",
        counted() - enrolled
    );
    assert_eq!(
        worker
            .metrics
            .enrollment
            .messages_processed(MessageOutcome::DeadLettered),
        0
    );
    assert_eq!(
        rabbit
            .message_count(&rabbit.names().dead_letter_queue())
            .await,
        0
    );
    // and each student's order page says so
    for (student, order) in &orders {
        assert_eq!(student.order_status(order).await, "enrolled");
    }
    worker.stop().await;
}

/// Two instances relay from one outbox, and a row locked elsewhere (a relay in the middle of its
/// batch) is skipped, not waited for: `FOR UPDATE SKIP LOCKED`. Every other event goes out, once.
#[tokio::test]
async fn relays_skip_rows_another_holds_and_send_each_event_once() {
    const ORDERS: usize = 8;
    let rabbit = TestRabbit::new();
    let first = TestApp::with_async_enrollment(&rabbit).await;
    let second = first.another_instance().await;
    // the oldest row, held as a relay holds its batch until the broker confirms
    let held_order = first.buy("held@example.com", &[9]).await;
    first
        .until_pending_events(0, "the first event is published")
        .await;
    let queue = rabbit.names().queue();
    // made pending again, then locked; a relay may publish it again in between (it polls and is
    // woken by NOTIFY), so the setup repeats until the lock holds a row that is still pending
    let (holder, held) = loop {
        sqlx::query("UPDATE outbox SET published_at = NULL")
            .execute(&first.pool)
            .await
            .expect("the row is pending again");
        let mut holder = first.pool.begin().await.expect("a transaction");
        let (held, pending): (i64, bool) = sqlx::query_as(
            "SELECT id, published_at IS NULL FROM outbox ORDER BY id LIMIT 1 FOR UPDATE",
        )
        .fetch_one(&mut *holder)
        .await
        .expect("the row is locked");
        if pending {
            break (holder, held);
        }
        holder.rollback().await.expect("the lock is let go");
    };
    // the held row's publications so far: the first, and any a relay made in the window above
    let held_publications = rabbit.message_count(&queue).await;

    for n in 0..ORDERS {
        let instance = if n % 2 == 0 { &first } else { &second };
        let student = instance.other_browser_app();
        student
            .buy(&format!("s{n}@example.com"), &[10 + n as u32])
            .await;
    }
    first
        .until_pending_events(1, "every event but the held one is published")
        .await;
    // the held row's earlier publications, and each of the others once
    assert_eq!(
        rabbit.message_count(&queue).await,
        held_publications + ORDERS as u32
    );
    holder.rollback().await.expect("the lock is let go");
    first
        .until_pending_events(0, "the held row goes out too")
        .await;
    let published_twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE id = $1 AND published_at IS NOT NULL",
    )
    .bind(held)
    .fetch_one(&first.pool)
    .await
    .expect("count");
    assert_eq!(published_twice, 1);
    // sent once more once let go, as a relay does when it could not mark a confirmed row: the
    // worker's duplicate (the earlier count may hold a publication from the setup's window too)
    assert_eq!(
        rabbit.message_count(&queue).await,
        held_publications + ORDERS as u32 + 1
    );
    assert!(!held_order.is_empty());
}

/// A queue deleted by hand: the relay's events come back unroutable and stay pending; the relay
/// reconnects, declares the topology again, and sends them. Nothing is marked without a confirm.
#[tokio::test]
async fn an_event_that_reaches_no_queue_stays_pending_until_the_queue_is_back() {
    let rabbit = TestRabbit::new();
    let app = TestApp::with_async_enrollment(&rabbit).await;
    let queue = rabbit.names().queue();
    app.buy("first@example.com", &[3]).await;
    eventually(
        "the first event is queued",
        Duration::from_secs(10),
        || async { rabbit.message_count(&queue).await == 1 },
    )
    .await;
    rabbit.delete_queue(&queue).await;
    app.other_browser_app()
        .buy("second@example.com", &[4])
        .await;
    app.until_pending_events(0, "the relay declares the queue again and sends the event")
        .await;
    assert_eq!(
        rabbit.message_count(&queue).await,
        1,
        "the new event, in the new queue"
    );
    let text = app.get("/metrics").await.body;
    assert!(
        text.contains(r#"courseshop_outbox_publish_failures_total{reason="not_taken"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn synchronous_enrollment_writes_no_event() {
    let app = TestApp::seeded().await;
    let order = app.buy("ada@example.com", &[3]).await;
    assert_eq!(app.order_status(&order).await, "enrolled");
    assert_eq!(app.scalar("SELECT count(*) FROM outbox").await, 0);
}

#[tokio::test]
async fn readiness_and_the_architecture_page_show_the_pipeline() {
    let rabbit = TestRabbit::new();
    let app = TestApp::with_async_enrollment(&rabbit).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    let body: serde_json::Value = serde_json::from_str(&ready.body).expect("JSON");
    assert_eq!(body["status"], "ready", "{body}");
    app.buy("ada@example.com", &[3]).await;
    let page = app.get("/about/architecture").await;
    assert!(
        page.body.contains(r#"data-testid="events""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("rabbitmq"));
    assert!(page.body.contains("outbox → RabbitMQ → enrollment worker"));
}

/// Step 4's preset, everything at once: carts in Cosmos DB behind Redis, the outbox to RabbitMQ,
/// and the worker beside the shop, each reporting ready.
#[tokio::test]
async fn step_4_runs_every_store_and_the_worker_reports_ready() {
    let rabbit = TestRabbit::new();
    let app = TestApp::at_step_4(&rabbit).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).expect("JSON");
    assert_eq!(body["status"], "ready", "{body}");
    let names: Vec<&str> = body["stores"]
        .as_array()
        .map(|stores| stores.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["postgres", "cosmos", "redis", "rabbitmq"]);
    assert!(app.get("/").await.body.contains("step 4"));

    let worker = TestWorker::start(&app, &rabbit).await;
    let client = reqwest::Client::new();
    let worker_ready = || async {
        client
            .get(format!("{}/readyz", worker.health))
            .send()
            .await
            .is_ok_and(|response| response.status() == 200)
    };
    eventually("the worker is ready", Duration::from_secs(10), worker_ready).await;
    let order = app.buy("ada@example.com", &[7]).await;
    eventually("the order is enrolled", Duration::from_secs(10), || async {
        app.order_status(&order).await == "enrolled"
    })
    .await;
    // counted after the ack, which comes after the commit the status showed
    eventually(
        "the worker counts the enrollment",
        Duration::from_secs(10),
        || async {
            let text = match client
                .get(format!("{}/metrics", worker.health))
                .send()
                .await
            {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            text.contains(r#"courseshop_enrollment_messages_total{outcome="enrolled"} 1"#)
        },
    )
    .await;
    worker.stop().await;
}
