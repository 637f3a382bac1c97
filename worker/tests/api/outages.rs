//! Outages: PostgreSQL or RabbitMQ cut away (a TCP proxy in the way) and restored. The worker
//! retries what may pass, dead-letters what ran out of attempts, and reconnects by itself.

use std::time::Duration;

use shop::events::broker::{DEAD_LETTER_REASON_HEADER, LAST_ERROR_HEADER};

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
    let before = Outcomes::now();

    let event = paid_order(&pool, 2).await;
    proxy.cut();
    rabbit.publish_event(&event).await;
    let retry_queue = rabbit.names().retry_queue(Duration::from_secs(1));
    wait_until("the event waits in the first retry queue", || async {
        rabbit.message_count(&retry_queue).await == 1
    })
    .await;
    assert_eq!(order_status(&pool, &event).await, "paid");
    let (status, body) = worker.get("/readyz").await;
    assert_eq!(status, 503, "{body}");

    proxy.restore();
    assert_enrolled_once(&pool, &event).await;
    if alone_in_process() {
        let since = before.since();
        assert!(since.retried >= 1 && since.enrolled == 1, "{since:?}");
        assert_eq!(since.dead_lettered, 0, "{since:?}");
    }
    assert_eq!(
        rabbit
            .message_count(&rabbit.names().dead_letter_queue())
            .await,
        0
    );
    worker.stop().await.expect("the worker stops cleanly");
}

#[tokio::test]
async fn an_event_out_of_attempts_is_dead_lettered_and_redrive_enrolls_it_later() {
    let rabbit = TestRabbit::new(); // 200, 400 and 800 ms: four attempts
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let proxy = TcpProxy::start(&postgres_upstream()).await;
    let mut overrides = rabbit.overrides();
    overrides.push(("DATABASE_ACQUIRE_TIMEOUT_MS", "500".to_string()));
    let settings = settings_for(&url_through(&proxy, &database), &overrides);
    let worker = TestWorker::ready(&settings).await;
    let before = Outcomes::now();

    let event = paid_order(&pool, 2).await;
    proxy.cut();
    rabbit.publish_event(&event).await;
    let names = rabbit.names();
    wait_until("the event is dead-lettered", || async {
        rabbit.message_count(&names.dead_letter_queue()).await == 1
    })
    .await;
    if alone_in_process() {
        wait_until("the dead letter is acked", || async {
            before.since().dead_lettered == 1
        })
        .await;
        let since = before.since();
        assert_eq!((since.retried, since.dead_lettered), (3, 1), "{since:?}");
    }
    let letter = rabbit
        .peek(&names.dead_letter_queue())
        .await
        .expect("the dead letter");
    let reason = letter.header(DEAD_LETTER_REASON_HEADER).unwrap_or_default();
    assert!(
        reason.starts_with("gave up after 4 attempts: the database is unavailable"),
        "{reason}"
    );
    assert_eq!(letter.message_id(), Some(event.event_id.to_string()));
    assert_eq!(letter.attempt(), 4);

    // stopped first, so the redriven message can be looked at before it is enrolled
    worker.stop().await.expect("the worker stops cleanly");
    proxy.restore();
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
    assert_eq!(order_status(&pool, &event).await, "paid");

    proxy.restore();
    assert_enrolled_once(&pool, &event).await;
    worker.stop().await.expect("the worker stops cleanly");
}
