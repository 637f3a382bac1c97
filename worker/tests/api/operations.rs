//! `/healthz`, `/readyz` and `/metrics`.

use crate::helpers::*;

#[tokio::test]
async fn the_probes_and_the_metrics_answer() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let worker = TestWorker::ready(&settings_for(&database.url, &rabbit.overrides())).await;

    let (status, body) = worker.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"alive"}"#));

    let (status, body) = worker.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let readiness: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(readiness["status"], "ready");
    let stores = readiness["stores"].as_array().expect("a list");
    let names: Vec<&str> = stores
        .iter()
        .filter_map(|store| store["name"].as_str())
        .collect();
    assert_eq!(names, ["postgres", "rabbitmq"]);
    assert!(stores.iter().all(|store| store["status"] == "up"), "{body}");
    assert!(stores[0]["latencyMs"].is_number(), "{body}");

    let event = paid_order(&pool, 1).await;
    rabbit.publish_event(&event).await;
    assert_enrolled_once(&pool, &event).await;
    let port = worker.port;
    wait_until("/metrics counts the enrollment", || async move {
        let text = get(port, "/metrics").await.1;
        metric(
            &text,
            r#"courseshop_enrollment_messages_total{outcome="enrolled"}"#,
        ) >= 1.0
    })
    .await;
    let (status, text) = worker.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metric(&text, CONSUMED) >= 1.0, "{text}");
    assert!(
        text.contains("# TYPE courseshop_enrollment_message_processing_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("courseshop_postgres_pool_connections"),
        "{text}"
    );
    assert_eq!(worker.get("/nowhere").await.0, 404);
    worker.stop().await.expect("the worker stops cleanly");
}

#[tokio::test]
async fn readyz_is_503_while_postgres_is_down_and_recovers_with_it() {
    let rabbit = TestRabbit::new();
    let database = TestDatabase::seeded().await;
    let proxy = TcpProxy::start(&postgres_upstream()).await;
    let worker = TestWorker::ready(&settings_for(
        &url_through(&proxy, &database),
        &rabbit.overrides(),
    ))
    .await;

    proxy.cut();
    let (status, body) = worker.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let readiness: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(readiness["status"], "unavailable");
    assert_eq!(readiness["stores"][0]["name"], "postgres");
    assert_eq!(readiness["stores"][0]["status"], "down");
    let cause = readiness["stores"][0]["cause"].as_str().unwrap_or_default();
    assert!(
        ["timeout", "refused", "unreachable", "error"].contains(&cause),
        "a cause category, not the error's text: {body}"
    );
    assert!(!body.contains("127.0.0.1"), "{body}");
    assert_eq!(readiness["stores"][1]["status"], "up", "{body}");
    assert_eq!(worker.get("/healthz").await.0, 200, "alive all the same");

    proxy.restore();
    worker.wait_ready().await;
    worker.stop().await.expect("the worker stops cleanly");
}
