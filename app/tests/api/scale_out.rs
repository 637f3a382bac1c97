//! Any instance serves any request (tutorial step 5): one student's journey spread request by
//! request over three instances that share the stores, as HAProxy spreads it, with nothing lost.

use std::cell::Cell;
use std::time::Duration;

use shop::catalog::seed;
use shop::orders::SimulatedPaymentGateway;

use crate::helpers::{TestApp, TestRabbit, TestWorker, eventually};

#[tokio::test]
async fn one_students_journey_spread_over_three_instances_loses_nothing() {
    let rabbit = TestRabbit::new();
    // instances behind one address share the key that signs the session cookie (`scripts/run` makes
    // one for all of step 5's instances; Azure's come from Key Vault)
    let stores = TestApp::at_step_4_with(&rabbit, &[("SESSION_KEY", &"k".repeat(64))]).await;
    let mut instances = Vec::new();
    for name in ["shop-1", "shop-2", "shop-3"] {
        instances.push(stores.another_instance_named(name).await);
    }
    // each instance names itself where tools can read it
    for (instance, name) in instances.iter().zip(["shop-1", "shop-2", "shop-3"]) {
        let page = instance.get("/about/architecture").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.count(&format!(r#"data-instance="{name}""#)), 1);
    }

    // one browser (one cookie jar); every request goes to the next instance, so each form is read
    // on one instance and posted to another
    let browser = instances[0].other_browser_app();
    let turn = Cell::new(0);
    let next = || {
        turn.set(turn.get() + 1);
        browser.continue_on(&instances[turn.get() % instances.len()])
    };
    assert_eq!(
        next()
            .register("spread@example.com", "Spread", "correct horse battery")
            .await
            .status,
        303
    );
    for course in [3, 4] {
        let slug = seed::course(course).slug;
        let token = next().get(&format!("/courses/{slug}")).await.csrf_token();
        let added = next()
            .post_form("/cart/items", &[("csrf_token", &token), ("course", &slug)])
            .await;
        assert_eq!(added.status, 303, "{}", added.body);
    }
    let mut in_cart = next().cart_slugs().await;
    in_cart.sort();
    let mut expected = vec![seed::course(3).slug, seed::course(4).slug];
    expected.sort();
    assert_eq!(
        in_cart, expected,
        "the cart holds both lines on any instance"
    );

    let form = next().get("/checkout").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let placed = next()
        .post_form(
            "/checkout",
            &[
                ("csrf_token", &form.csrf_token()),
                ("idempotency_key", &form.idempotency_key()),
                ("card_number", SimulatedPaymentGateway::APPROVED_CARD),
            ],
        )
        .await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let order = placed.header("location").to_string();
    assert_eq!(next().get(&order).await.status, 200);

    let worker = TestWorker::start(&stores, &rabbit).await;
    eventually("the order is enrolled", Duration::from_secs(15), || async {
        next_status(&browser, &instances, &order).await == "enrolled"
    })
    .await;
    for instance in &instances {
        let mine = browser.continue_on(instance).get("/my/courses").await;
        assert!(
            mine.body.contains(&seed::course(3).title)
                && mine.body.contains(&seed::course(4).title),
            "My courses on every instance"
        );
        assert!(browser.continue_on(instance).cart_slugs().await.is_empty());
    }
    assert_eq!(stores.scalar("SELECT count(*) FROM orders").await, 1);
    assert_eq!(stores.scalar("SELECT count(*) FROM enrollments").await, 2);
    worker.stop().await;
}

/// The order's status asked of each instance in turn, until one says `enrolled`.
async fn next_status(browser: &TestApp, instances: &[TestApp], order: &str) -> String {
    for instance in instances {
        let status = browser.continue_on(instance).order_status(order).await;
        if status == "enrolled" {
            return status;
        }
    }
    "paid".to_string()
}
