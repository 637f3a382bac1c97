//! Tutorial step 2 over HTTP: carts in Cosmos DB, and what a student sees when Cosmos goes away.

use shop::catalog::seed;
use shop::orders::SimulatedPaymentGateway;

use crate::helpers::{TcpProxy, TestApp, TestCosmos};

const PASSWORD: &str = "correct horse battery";

impl TestApp {
    async fn postgres_cart_rows(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM carts) + (SELECT count(*) FROM cart_items)",
        )
        .fetch_one(&self.pool)
        .await
        .expect("count")
    }
}

#[tokio::test]
async fn at_step_2_carts_live_in_cosmos_and_postgres_keeps_none() {
    let app = TestApp::with_cosmos_carts().await;
    let home = app.get("/").await;
    assert!(
        home.body.contains("carts: Azure Cosmos DB"),
        "the footer names the cart store"
    );

    // a visitor's cart, merged into the account's at registration, then bought
    app.add_to_cart(3).await;
    app.add_to_cart(4).await;
    app.register("cosmo@example.com", "Cosmo", PASSWORD).await;
    assert_eq!(
        app.cart_slugs().await,
        vec![seed::course(3).slug, seed::course(4).slug],
        "the visitor's cart joined the account"
    );
    let removed = {
        let id: i64 = sqlx::query_scalar("SELECT id FROM courses WHERE slug = $1")
            .bind(seed::course(4).slug)
            .fetch_one(&app.pool)
            .await
            .expect("id");
        let token = app.get("/cart").await.csrf_token();
        app.post_form(
            &format!("/cart/items/{id}/delete"),
            &[("csrf_token", &token)],
        )
        .await
    };
    assert_eq!(removed.status, 303);
    assert_eq!(app.cart_slugs().await, vec![seed::course(3).slug]);
    assert_eq!(
        app.postgres_cart_rows().await,
        0,
        "no cart in PostgreSQL at step 2"
    );

    let placed = app.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    assert!(
        app.cart_slugs().await.is_empty(),
        "checkout empties the cart"
    );
    let mine = app.get("/my/courses").await;
    assert!(mine.body.contains(&seed::course(3).title));

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let ready: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["stores"][1]["name"], "cosmos");
    assert_eq!(ready["stores"][1]["status"], "up");
}

#[tokio::test]
async fn a_cosmos_outage_leaves_browsing_and_orders_working_and_loses_no_cart() {
    let proxy = TcpProxy::start(&TestCosmos::upstream()).await;
    let app = TestApp::with_cosmos_carts_behind(&proxy).await;
    app.register("outage@example.com", "Outage", PASSWORD).await;
    app.add_to_cart(5).await;
    assert_eq!(
        app.check_out(SimulatedPaymentGateway::APPROVED_CARD)
            .await
            .status,
        303
    );
    app.add_to_cart(6).await;
    // a checkout form opened before the outage and submitted during it
    let form = app.get("/checkout").await;

    proxy.cut();
    // browsing, search and order history do not need the cart
    for path in [
        "/",
        "/courses?q=rust",
        &format!("/courses/{}", seed::course(7).slug),
        "/orders",
        "/my/courses",
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, 200, "{path} must keep working: {}", page.body);
    }
    let cart = app.get("/cart").await;
    assert_eq!(cart.status, 503);
    assert!(
        cart.body.contains("Your cart is unavailable right now"),
        "{}",
        cart.body
    );
    assert_eq!(cart.header("retry-after"), "5");

    let token = app.get("/").await.csrf_token();
    let slug = seed::course(8).slug;
    let add = app
        .post_form("/cart/items", &[("csrf_token", &token), ("course", &slug)])
        .await;
    assert_eq!(add.status, 503, "adding says the cart is unavailable");
    assert!(add.body.contains("Your cart is unavailable right now"));
    let checkout = app.get("/checkout").await;
    assert_eq!(checkout.status, 503, "checkout refuses clearly");
    assert!(checkout.body.contains("Your cart is unavailable right now"));
    let paid = app
        .post_form(
            "/checkout",
            &[
                ("csrf_token", &form.csrf_token()),
                ("idempotency_key", &form.idempotency_key()),
                ("card_number", SimulatedPaymentGateway::APPROVED_CARD),
            ],
        )
        .await;
    assert_eq!(paid.status, 503, "no order without the cart: {}", paid.body);
    assert!(paid.body.contains("Your cart is unavailable right now"));

    let ready = app.get("/readyz").await;
    assert_eq!(
        ready.status, 200,
        "a cart outage must not take the shop out of the load balancer"
    );
    let ready: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["stores"][1]["status"], "down");
    // a category, never the store's own error text (which names hosts and versions) to anyone
    let why = ready["stores"][1]["cause"].as_str().unwrap_or_default();
    assert!(
        ["timeout", "refused", "unreachable", "error"].contains(&why),
        "{ready}"
    );
    assert!(ready["stores"][1].get("error").is_none(), "{ready}");
    assert!(!ready.to_string().contains("127.0.0.1"), "{ready}");

    proxy.restore();
    assert!(
        app.recovers("/cart").await,
        "the cart comes back without a restart"
    );
    assert_eq!(
        app.cart_slugs().await,
        vec![seed::course(6).slug],
        "what was in the cart is still there, and the refused add did not happen"
    );
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(orders, 1, "no order was made while the cart was away");
}

#[tokio::test]
async fn a_stalled_cosmos_costs_a_page_at_most_the_cart_budget() {
    let proxy = TcpProxy::start(&TestCosmos::upstream()).await;
    let app = TestApp::with_cosmos_carts_behind(&proxy).await;
    app.add_to_cart(5).await;
    proxy.stall();
    let started = std::time::Instant::now();
    let home = app.get("/").await;
    assert_eq!(home.status, 200);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1800),
        "the header's cart badge held the page for {:?}",
        started.elapsed()
    );
    // the next pages do not wait for Cosmos again while it cools down
    let started = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(app.get("/courses").await.status, 200);
    }
    assert!(started.elapsed() < std::time::Duration::from_millis(1500));
    proxy.restore();
    assert!(app.recovers("/cart").await);
    assert_eq!(app.cart_slugs().await, vec![seed::course(5).slug]);
}
