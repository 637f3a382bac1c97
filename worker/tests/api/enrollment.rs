//! The happy path: an `OrderPlaced` event enrolls its order, once however often it arrives.

use shop::orders::OrderStatus;

use crate::helpers::*;

#[tokio::test]
async fn an_event_enrolls_its_order_with_one_enrollment_per_course() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let worker = TestWorker::ready(&settings_for(&database.url, &rabbit.overrides())).await;
    let before = Outcomes::of(&worker);

    let event = paid_order(&pool, 3).await;
    assert_eq!(order_status(&pool, &event).await, OrderStatus::Paid);
    rabbit.publish_event(&event).await;

    assert_enrolled_once(&pool, &event).await;
    let names = rabbit.names();
    worker.stop().await.expect("the worker stops cleanly");
    // stopped, anything unacked would be back in the queue
    assert_eq!(rabbit.message_count(&names.queue()).await, 0, "acked");
    assert_eq!(rabbit.message_count(&names.dead_letter_queue()).await, 0);
    assert_eq!(before.since().enrolled, 1);
}

#[tokio::test]
async fn the_same_event_delivered_twice_enrolls_once() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let worker = TestWorker::ready(&settings_for(&database.url, &rabbit.overrides())).await;
    let before = Outcomes::of(&worker);

    let event = paid_order(&pool, 2).await;
    rabbit.publish_event(&event).await;
    rabbit.publish_event(&event).await;

    assert_enrolled_once(&pool, &event).await;
    wait_until("both deliveries are handled", || async {
        let since = before.since();
        since.enrolled + since.duplicate == 2
    })
    .await;
    let since = before.since();
    assert_eq!((since.enrolled, since.duplicate), (1, 1), "{since:?}");
    worker.stop().await.expect("the worker stops cleanly");
    let names = rabbit.names();
    assert_eq!(rabbit.message_count(&names.queue()).await, 0, "both acked");
    assert_eq!(rabbit.message_count(&names.dead_letter_queue()).await, 0);
    assert_enrolled_once(&pool, &event).await;
}

#[tokio::test]
async fn several_orders_are_enrolled_side_by_side() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let mut overrides = rabbit.overrides();
    overrides.push(("WORKER_PREFETCH", "4".to_string()));
    let worker = TestWorker::ready(&settings_for(&database.url, &overrides)).await;

    let mut events = Vec::new();
    for courses in 1..=6 {
        events.push(paid_order(&pool, courses).await);
    }
    for event in &events {
        rabbit.publish_event(event).await;
    }
    for event in &events {
        assert_enrolled_once(&pool, event).await;
    }
    worker.stop().await.expect("the worker stops cleanly");
}
