//! Messages that can never succeed go straight to the dead-letter queue, with their reason.

use lapin::BasicProperties;
use shop::events::OrderPlaced;
use shop::events::broker::DEAD_LETTER_REASON_HEADER;
use shop::ids::{OrderId, UserId};
use shop::orders::OrderStatus;

use crate::helpers::*;

#[tokio::test]
async fn a_malformed_message_and_an_unknown_type_are_dead_lettered_with_their_reason() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let worker = TestWorker::ready(&settings_for(&database.url, &rabbit.overrides())).await;
    let before = Outcomes::of(&worker);

    let not_json = b"not json".to_vec();
    rabbit
        .publish(
            &not_json,
            BasicProperties::default().with_message_id("not-json".into()),
        )
        .await;
    let mut other = paid_order(&pool, 1).await.to_json();
    other["type"] = "OrderCancelled".into();
    let other = serde_json::to_vec(&other).expect("json");
    rabbit
        .publish(
            &other,
            BasicProperties::default()
                .with_message_id("cancelled".into())
                .with_content_type("application/json".into()),
        )
        .await;

    let dead = rabbit.names().dead_letter_queue();
    wait_until("both are dead-lettered", || async {
        rabbit.message_count(&dead).await == 2
    })
    .await;
    let mut letters = Vec::new();
    while let Some(message) = rabbit.get(&dead).await {
        letters.push(message);
    }
    letters.sort_by_key(|message| message.message_id());
    let [cancelled, broken] = &letters[..] else {
        panic!("two dead letters, not {letters:?}");
    };
    assert_eq!(broken.body, not_json, "the body is kept as it was");
    assert!(
        broken
            .header(DEAD_LETTER_REASON_HEADER)
            .is_some_and(|reason| reason.starts_with("not JSON of the OrderPlaced shape")),
        "{broken:?}"
    );
    assert_eq!(cancelled.body, other);
    assert_eq!(
        cancelled.header(DEAD_LETTER_REASON_HEADER).as_deref(),
        Some(r#"unknown event type "OrderCancelled""#)
    );
    assert_eq!(
        cancelled
            .properties
            .content_type()
            .as_ref()
            .map(|kind| kind.as_str()),
        Some("application/json"),
        "the properties are kept"
    );
    assert!(cancelled.is_persistent());
    // the copy is confirmed before the original is acked, and counted after the ack
    wait_until("both are counted", || async {
        before.since().dead_lettered >= 2
    })
    .await;
    assert_eq!(before.since().dead_lettered, 2);
    assert_eq!(all_enrollments(&pool).await, 0, "nothing is enrolled");
    assert_eq!(rabbit.message_count(&rabbit.names().queue()).await, 0);
    worker.stop().await.expect("the worker stops cleanly");
}

#[tokio::test]
async fn an_event_for_an_order_that_does_not_exist_is_dead_lettered() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let worker = TestWorker::ready(&settings_for(&database.url, &rabbit.overrides())).await;

    let real = paid_order(&pool, 1).await;
    let ghost = OrderPlaced::new(OrderId(real.order_id.0 + 1), UserId(999_999), real.items);
    rabbit.publish_event(&ghost).await;

    let dead = rabbit.names().dead_letter_queue();
    wait_until("it is dead-lettered", || async {
        rabbit.message_count(&dead).await == 1
    })
    .await;
    let letter = rabbit.get(&dead).await.expect("the dead letter");
    assert_eq!(
        letter.header(DEAD_LETTER_REASON_HEADER),
        Some(format!(
            "order {} of user 999999 does not exist",
            ghost.order_id
        ))
    );
    assert_eq!(letter.message_id(), Some(ghost.event_id.to_string()));
    assert_eq!(all_enrollments(&pool).await, 0);
    worker.stop().await.expect("the worker stops cleanly");
}

#[tokio::test]
async fn an_event_whose_courses_are_not_the_orders_is_dead_lettered() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let worker = TestWorker::ready(&settings_for(&database.url, &rabbit.overrides())).await;

    let order = paid_order(&pool, 2).await;
    let forged = OrderPlaced::new(order.order_id, order.user_id, order.items[..1].to_vec());
    rabbit.publish_event(&forged).await;

    let dead = rabbit.names().dead_letter_queue();
    wait_until("it is dead-lettered", || async {
        rabbit.message_count(&dead).await == 1
    })
    .await;
    let letter = rabbit.get(&dead).await.expect("the dead letter");
    assert!(
        letter
            .header(DEAD_LETTER_REASON_HEADER)
            .is_some_and(|reason| reason.contains("are not the courses of order")),
        "{letter:?}"
    );
    assert_eq!(order_status(&pool, &order).await, OrderStatus::Paid);
    assert_eq!(all_enrollments(&pool).await, 0);
    worker.stop().await.expect("the worker stops cleanly");
}
