//! The real binary: killed mid-message (the message is redelivered and enrolled once), and stopped
//! with SIGTERM (it exits 0, finishing the message in hand first).

use std::time::Duration;

use shop::orders::OrderStatus;

use crate::helpers::*;

#[tokio::test]
async fn a_worker_killed_mid_message_leaves_it_to_be_redelivered_and_enrolled_once() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    // a stalled database: the worker takes the message and waits, holding it unacked
    let proxy = TcpProxy::start(&postgres_upstream()).await;
    proxy.stall();
    let mut env = process_env(&url_through(&proxy, &database), &rabbit);
    env.push(("DATABASE_ACQUIRE_TIMEOUT_MS", "60000".to_string()));
    let mut process = WorkerProcess::spawn(&env).await;

    let event = paid_order(&pool, 2).await;
    rabbit.publish_event(&event).await;
    wait_until("the worker has taken the message", || async {
        metric(&process.metrics().await, CONSUMED) == 1.0
    })
    .await;
    let queue = rabbit.names().queue();
    assert_eq!(
        rabbit.message_count(&queue).await,
        0,
        "it is unacked, not ready"
    );

    process.child.kill().expect("SIGKILL");
    process.child.wait().expect("the worker is gone");
    proxy.restore();
    assert_eq!(order_status(&pool, &event).await, OrderStatus::Paid);

    let worker = TestWorker::ready(&settings_for(&database.url, &rabbit.overrides())).await;
    let before = Outcomes::of(&worker);
    assert_enrolled_once(&pool, &event).await;
    worker.stop().await.expect("the worker stops cleanly");
    assert_eq!(
        rabbit.message_count(&queue).await,
        0,
        "the redelivery was acked"
    );
    assert_eq!(before.since().enrolled, 1);
}

#[tokio::test]
async fn sigterm_stops_an_idle_worker_with_exit_status_0() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let mut process = WorkerProcess::spawn(&process_env(&database.url, &rabbit)).await;
    let port = process.port;
    wait_until("the worker is ready", || async {
        get(port, "/readyz").await.0 == 200
    })
    .await;
    assert_eq!(rabbit.consumer_count(&rabbit.names().queue()).await, 1);

    process.terminate();
    let status = process.exit_within(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
    assert_eq!(rabbit.consumer_count(&rabbit.names().queue()).await, 0);
    assert_eq!(
        get(port, "/healthz").await.0,
        599,
        "the health server stopped too"
    );
}

#[tokio::test]
async fn sigterm_lets_the_message_in_hand_finish_before_the_worker_exits() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let event = paid_order(&pool, 2).await;
    // the test holds the order's row, so the worker's enrollment waits on it
    let mut lock = pool.begin().await.expect("a transaction");
    sqlx::query("SELECT 1 FROM orders WHERE user_id = $1 AND id = $2 FOR UPDATE")
        .bind(event.user_id.0)
        .bind(event.order_id.0)
        .execute(&mut *lock)
        .await
        .expect("the order's row is locked");

    let mut process = WorkerProcess::spawn(&process_env(&database.url, &rabbit)).await;
    rabbit.publish_event(&event).await;
    wait_until("the worker has taken the message", || async {
        metric(&process.metrics().await, CONSUMED) == 1.0
    })
    .await;

    process.terminate();
    // still there while its message waits: it does not drop what it holds
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !process.has_exited(),
        "the worker left with a message in hand"
    );
    lock.rollback().await.expect("the row is released");

    let status = process.exit_within(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}");
    assert_eq!(order_status(&pool, &event).await, OrderStatus::Enrolled);
    assert_eq!(enrollments(&pool, &event).await, 2);
    let names = rabbit.names();
    assert_eq!(
        rabbit.message_count(&names.queue()).await,
        0,
        "acked before the exit, so nothing is left to redeliver"
    );
    assert_eq!(rabbit.message_count(&names.dead_letter_queue()).await, 0);
}
