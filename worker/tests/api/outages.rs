//! Outages: PostgreSQL or RabbitMQ cut away (a TCP proxy in the way) and restored. The worker
//! retries what may pass (for as long as PostgreSQL is out of reach), dead-letters what cannot
//! succeed, and reconnects by itself.

use std::time::Duration;

use shop::events::broker::{DEAD_LETTER_REASON_HEADER, LAST_ERROR_HEADER};
use shop::orders::OrderStatus;

use crate::helpers::*;

#[tokio::test]
async fn an_event_that_meets_postgres_down_is_retried_and_enrolled_once_it_is_back() {
    // a first delay long enough to see the message waiting in its retry queue, and attempts
    // enough that the proxy is restored well before they run out
    let rabbit = TestRabbit::new().with_retry_delays(&[1000, 2000, 4000]);
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let proxy = TcpProxy::start(&postgres_upstream()).await;
    let mut overrides = rabbit.overrides();
    overrides.push(("DATABASE_ACQUIRE_TIMEOUT_MS", "500".to_string()));
    let worker =
        TestWorker::ready(&settings_for(&url_through(&proxy, &database), &overrides)).await;
    let before = Outcomes::of(&worker);

    let event = paid_order(&pool, 2).await;
    proxy.cut();
    rabbit.publish_event(&event).await;
    let retry_queue = rabbit.names().retry_queue(Duration::from_secs(1));
    wait_until("the event waits in the first retry queue", || async {
        rabbit.message_count(&retry_queue).await == 1
    })
    .await;
    assert_eq!(order_status(&pool, &event).await, OrderStatus::Paid);
    let (status, body) = worker.get("/readyz").await;
    assert_eq!(status, 503, "{body}");

    proxy.restore();
    assert_enrolled_once(&pool, &event).await;
    let since = before.once_enrolled(1).await;
    assert!(since.retried >= 1 && since.enrolled == 1, "{since:?}");
    assert_eq!(since.dead_lettered, 0, "{since:?}");
    assert_eq!(
        rabbit
            .message_count(&rabbit.names().dead_letter_queue())
            .await,
        0
    );
    worker.stop().await.expect("the worker stops cleanly");
}

/// An outage longer than every retry delay together (200 + 400 + 800 ms here, 71 s by default)
/// dead-letters nothing: PostgreSQL out of reach is no fault of the message, which keeps coming
/// back at the longest delay and is enrolled once the database returns, with nobody redriving it.
#[tokio::test]
async fn a_postgres_outage_longer_than_the_attempts_dead_letters_nothing() {
    let rabbit = TestRabbit::new(); // 200, 400 and 800 ms: four attempts for an error PostgreSQL gives
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let proxy = TcpProxy::start(&postgres_upstream()).await;
    let mut overrides = rabbit.overrides();
    overrides.push(("DATABASE_ACQUIRE_TIMEOUT_MS", "300".to_string()));
    let settings = settings_for(&url_through(&proxy, &database), &overrides);
    let worker = TestWorker::ready(&settings).await;
    let before = Outcomes::of(&worker);

    let event = paid_order(&pool, 2).await;
    proxy.cut();
    rabbit.publish_event(&event).await;
    let names = rabbit.names();
    let longest = names.retry_queue(Duration::from_millis(800));
    // past the fourth attempt, where a bounded budget would have given up
    wait_for(
        "the event is still being retried after its attempts",
        Duration::from_secs(20),
        || async {
            match rabbit.peek(&longest).await {
                Some(message) => message.attempt() >= 6,
                None => false,
            }
        },
    )
    .await;
    assert_eq!(rabbit.message_count(&names.dead_letter_queue()).await, 0);
    let waiting = rabbit.peek(&longest).await;
    if let Some(message) = waiting {
        let error = message.header(LAST_ERROR_HEADER).unwrap_or_default();
        assert!(error.contains("unavailable"), "{error}");
        assert_eq!(message.message_id(), Some(event.event_id.to_string()));
    }

    proxy.restore();
    assert_enrolled_once(&pool, &event).await;
    let since = before.once_enrolled(1).await;
    assert!(since.retried >= 5 && since.enrolled == 1, "{since:?}");
    assert_eq!(since.dead_lettered, 0, "{since:?}");
    worker.stop().await.expect("the worker stops cleanly");
}

/// What the dead-letter queue is for: an event that cannot succeed as things are (here its order is
/// not in the database yet, as after a restore from an older backup) waits there with its reason;
/// once ops have put things right, `redrive` sends it back and it is enrolled.
#[tokio::test]
async fn a_dead_letter_is_enrolled_after_the_cause_is_fixed_and_it_is_redriven() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let settings = settings_for(&database.url, &rabbit.overrides());
    let worker = TestWorker::ready(&settings).await;

    let event = paid_order(&pool, 2).await;
    // the order goes missing: every row of it, kept aside to be put back
    // (as JSON, to be put back exactly as they were: not a new order, the same one)
    let items: serde_json::Value = sqlx::query_scalar(
        "WITH gone AS (DELETE FROM order_items WHERE user_id = $1 AND order_id = $2 RETURNING *)
         SELECT jsonb_agg(gone) FROM gone",
    )
    .bind(event.user_id.0)
    .bind(event.order_id.0)
    .fetch_one(&pool)
    .await
    .expect("items removed");
    let order: serde_json::Value = sqlx::query_scalar(
        "DELETE FROM orders WHERE user_id = $1 AND id = $2 RETURNING to_jsonb(orders)",
    )
    .bind(event.user_id.0)
    .bind(event.order_id.0)
    .fetch_one(&pool)
    .await
    .expect("order removed");
    rabbit.publish_event(&event).await;
    let names = rabbit.names();
    wait_until("the event is dead-lettered", || async {
        rabbit.message_count(&names.dead_letter_queue()).await == 1
    })
    .await;
    let letter = rabbit
        .peek(&names.dead_letter_queue())
        .await
        .expect("the dead letter");
    let reason = letter.header(DEAD_LETTER_REASON_HEADER).unwrap_or_default();
    assert!(reason.contains("does not exist"), "{reason}");
    assert_eq!(letter.message_id(), Some(event.event_id.to_string()));

    // put right, then redriven (the worker stopped first, so the moved message can be looked at)
    worker.stop().await.expect("the worker stops cleanly");
    let mut tx = pool.begin().await.expect("a transaction");
    sqlx::query("INSERT INTO orders SELECT * FROM jsonb_populate_record(NULL::orders, $1)")
        .bind(&order)
        .execute(&mut *tx)
        .await
        .expect("order restored");
    sqlx::query(
        "INSERT INTO order_items SELECT * FROM jsonb_populate_recordset(NULL::order_items, $1)",
    )
    .bind(&items)
    .execute(&mut *tx)
    .await
    .expect("items restored");
    tx.commit().await.expect("the restore commits");
    let moved = worker::redrive(&rabbit.settings(), None)
        .await
        .expect("redrive");
    assert_eq!(moved, 1);
    assert_eq!(rabbit.message_count(&names.dead_letter_queue()).await, 0);
    let redriven = rabbit
        .peek(&names.queue())
        .await
        .expect("back in the queue");
    assert_eq!(redriven.attempt(), 1, "a fresh set of attempts");
    assert_eq!(redriven.header(DEAD_LETTER_REASON_HEADER), None);
    assert_eq!(redriven.header(LAST_ERROR_HEADER), None);
    assert_eq!(redriven.message_id(), Some(event.event_id.to_string()));

    let worker = TestWorker::ready(&settings).await;
    assert_enrolled_once(&pool, &event).await;
    worker.stop().await.expect("the worker stops cleanly");
}

#[tokio::test]
async fn the_worker_reconnects_by_itself_when_rabbitmq_comes_back() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let proxy = TcpProxy::start(&TestRabbit::upstream()).await;
    let through_proxy = rabbit.behind(&proxy);
    let worker = TestWorker::ready(&settings_for(&database.url, &through_proxy.overrides())).await;
    let queue = rabbit.names().queue();
    assert_eq!(rabbit.consumer_count(&queue).await, 1);

    proxy.cut();
    wait_until("/readyz says RabbitMQ is down", || async {
        let (status, body) = worker.get("/readyz").await;
        status == 503
            && body.contains(r#""name":"rabbitmq""#)
            && body.contains(r#""status":"down""#)
    })
    .await;
    wait_until("the broker sees the consumer gone", || async {
        rabbit.consumer_count(&queue).await == 0
    })
    .await;

    proxy.restore();
    worker.wait_ready().await;
    let event = paid_order(&pool, 2).await;
    rabbit.publish_event(&event).await;
    assert_enrolled_once(&pool, &event).await;
    assert_eq!(
        rabbit.consumer_count(&queue).await,
        1,
        "one consumer, not two"
    );
    worker.stop().await.expect("the worker stops cleanly");
}

#[tokio::test]
async fn an_event_published_while_the_worker_is_cut_off_is_enrolled_after_it_reconnects() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let proxy = TcpProxy::start(&TestRabbit::upstream()).await;
    let worker = TestWorker::ready(&settings_for(
        &database.url,
        &rabbit.behind(&proxy).overrides(),
    ))
    .await;

    proxy.cut();
    let event = paid_order(&pool, 1).await;
    rabbit.publish_event(&event).await;
    // it waits in the queue meanwhile
    wait_until("the event waits in the queue", || async {
        rabbit.message_count(&rabbit.names().queue()).await == 1
    })
    .await;
    assert_eq!(order_status(&pool, &event).await, OrderStatus::Paid);

    proxy.restore();
    assert_enrolled_once(&pool, &event).await;
    worker.stop().await.expect("the worker stops cleanly");
}
