//! Tutorial step 3 over HTTP: Redis as the shop's shared cache.

use crate::helpers::TestApp;

#[tokio::test]
async fn at_step_3_readyz_shows_redis_and_the_footer_names_it() {
    let app = TestApp::with_redis().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let ready: serde_json::Value = serde_json::from_str(&ready.body).expect("json");
    let redis = ready["stores"]
        .as_array()
        .and_then(|stores| stores.iter().find(|store| store["name"] == "redis"))
        .cloned()
        .expect("redis is listed");
    assert_eq!(redis["status"], "up", "{redis}");
    assert!(app.get("/").await.body.contains("cache: Redis"));
}
