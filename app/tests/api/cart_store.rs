//! The cart-store contract: what every `CartStore` must do, run against each store the shop has
//! (PostgreSQL for steps 0-1, Cosmos DB from step 2), and what only the Cosmos store must do:
//! keep concurrent changes (etag retries) and answer cleanly when Cosmos throttles or fails.

use std::sync::Arc;
use std::time::Instant;

use azure_data_cosmos::CosmosClientBuilder;
use azure_data_cosmos::fault_injection::{
    FaultInjectionConditionBuilder, FaultInjectionErrorType, FaultInjectionResultBuilder,
    FaultInjectionRule, FaultInjectionRuleBuilder, FaultOperationType,
};
use chrono::{Duration, Utc};

use shop::cart::{
    CachedCartStore, CartError, CartId, CartLine, CartOwner, CartStore, CosmosCartStore,
    PostgresCartStore,
};
use shop::ids::{CourseId, UserId};
use shop::metrics::{CacheMetrics, MetricsRegistry};
use shop::money::Money;

use crate::helpers::{TestCosmos, TestDatabase, TestRedis};

fn line(course: i64, cents: i64, minutes_ago: i64) -> CartLine {
    CartLine {
        course: CourseId(course),
        price_seen: Money::from_cents(cents).expect("price"),
        added_at: Utc::now() - Duration::minutes(minutes_ago),
    }
}

async fn courses(store: &dyn CartStore, owner: CartOwner) -> Vec<i64> {
    store
        .lines(owner)
        .await
        .expect("lines")
        .iter()
        .map(|l| l.course.0)
        .collect()
}

/// Every rule of the contract, in order, against one store.
async fn contract(
    store: &dyn CartStore,
    student: UserId,
    other_student: UserId,
    [a, b, c]: [i64; 3],
) {
    let visitor = CartOwner::Visitor(CartId::new());
    assert!(
        courses(store, visitor).await.is_empty(),
        "a new visitor has an empty cart"
    );

    store.add(visitor, line(a, 4999, 10)).await.expect("add");
    store.add(visitor, line(b, 1999, 5)).await.expect("add");
    store
        .add(visitor, line(a, 1, 1))
        .await
        .expect("adding again is harmless");
    let lines = store.lines(visitor).await.expect("lines");
    assert_eq!(
        lines.iter().map(|l| l.course.0).collect::<Vec<_>>(),
        vec![a, b],
        "oldest first, no duplicate"
    );
    assert_eq!(
        lines[0].price_seen.cents(),
        4999,
        "the first line stays as it was"
    );

    store.remove(visitor, CourseId(a)).await.expect("remove");
    store
        .remove(visitor, CourseId(a))
        .await
        .expect("removing again is harmless");
    assert_eq!(courses(store, visitor).await, vec![b]);

    // a user's cart is separate, and one visitor id never reaches it
    let user = CartOwner::User(student);
    store.add(user, line(b, 1999, 30)).await.expect("add");
    store.add(user, line(c, 2999, 20)).await.expect("add");
    assert_eq!(
        courses(store, CartOwner::User(other_student)).await,
        Vec::<i64>::new()
    );

    // login: the visitor's lines join the user's cart without duplicates; the visitor's cart is gone
    let CartOwner::Visitor(visitor_id) = visitor else {
        unreachable!()
    };
    store.add(visitor, line(a, 4999, 2)).await.expect("add");
    store.merge(visitor_id, student).await.expect("merge");
    let mut merged = courses(store, user).await;
    merged.sort_unstable();
    let mut expected = vec![a, b, c];
    expected.sort_unstable();
    assert_eq!(merged, expected);
    assert!(courses(store, visitor).await.is_empty());
    store
        .merge(visitor_id, student)
        .await
        .expect("merging again is harmless");
    assert_eq!(courses(store, user).await.len(), 3);

    store.clear(user).await.expect("clear");
    assert!(courses(store, user).await.is_empty());
    store
        .clear(user)
        .await
        .expect("clearing an empty cart is harmless");
}

#[tokio::test]
async fn the_postgres_cart_store_keeps_the_contract() {
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let mut users = Vec::new();
    for email in ["one@example.com", "two@example.com"] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, display_name, role) VALUES ($1, 'Student', 'student') RETURNING id",
        )
        .bind(email)
        .fetch_one(&pool)
        .await
        .expect("user");
        users.push(UserId(id));
    }
    let course_ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM courses ORDER BY id LIMIT 3")
        .fetch_all(&pool)
        .await
        .expect("courses");
    let store = PostgresCartStore::new(pool.clone());
    contract(
        &store,
        users[0],
        users[1],
        [course_ids[0], course_ids[1], course_ids[2]],
    )
    .await;
}

#[tokio::test]
async fn the_cosmos_cart_store_keeps_the_contract() {
    let store = CosmosCartStore::new(TestCosmos::new().settings());
    // Cosmos knows nothing of users or courses: any ids do
    contract(&store, UserId(1), UserId(2), [11, 12, 13]).await;
}

#[tokio::test]
async fn concurrent_adds_to_one_cosmos_cart_all_survive() {
    let cosmos = TestCosmos::new();
    // two stores with clients of their own, as two app instances would have
    let stores = [
        CosmosCartStore::new(cosmos.settings()),
        CosmosCartStore::new(cosmos.settings()),
    ];
    let owner = CartOwner::User(UserId(7));
    stores[0]
        .add(owner, line(1, 100, 60))
        .await
        .expect("first add");
    let adds = (2..=13).map(|course| {
        let store = stores[(course % 2) as usize].clone();
        tokio::spawn(async move { store.add(owner, line(course, 100, 30)).await })
    });
    for add in futures::future::join_all(adds).await {
        add.expect("task")
            .expect("every add succeeds, retrying on 412");
    }
    let mut kept = courses(&stores[0], owner).await;
    kept.sort_unstable();
    assert_eq!(kept, (1..=13).collect::<Vec<i64>>(), "no add may be lost");
}

/// A store whose SDK client answers `fault` to every item operation while the returned rule is on.
fn faulty_store(
    cosmos: &TestCosmos,
    fault: FaultInjectionErrorType,
    hit_limit: Option<u32>,
) -> (CosmosCartStore, Arc<FaultInjectionRule>) {
    let mut rule = FaultInjectionRuleBuilder::new(
        "cart-fault",
        FaultInjectionResultBuilder::new().with_error(fault).build(),
    )
    .with_condition(
        FaultInjectionConditionBuilder::new()
            .with_operation_type(FaultOperationType::ReadItem)
            .build(),
    );
    if let Some(limit) = hit_limit {
        rule = rule.with_hit_limit(limit);
    }
    let rule = Arc::new(rule.build());
    rule.disable();
    let rules = vec![rule.clone()];
    let store = CosmosCartStore::with_client_builder(
        cosmos.settings(),
        Arc::new(move || {
            CosmosClientBuilder::new()
                .with_fault_injection_rules(rules.clone())
                .expect("fault rules are accepted")
        }),
    );
    (store, rule)
}

#[tokio::test]
async fn throttling_from_cosmos_is_retried_by_the_sdk() {
    let cosmos = TestCosmos::new();
    let (store, rule) = faulty_store(&cosmos, FaultInjectionErrorType::TooManyRequests, Some(3));
    let owner = CartOwner::Visitor(CartId::new());
    store.add(owner, line(5, 100, 1)).await.expect("add");
    rule.enable();
    assert_eq!(
        courses(&store, owner).await,
        vec![5],
        "three 429s in a row are waited out and retried"
    );
    assert_eq!(
        rule.hit_count(),
        3,
        "the read really was throttled three times"
    );
}

#[tokio::test]
async fn a_cosmos_outage_is_reported_unavailable_within_the_budget_and_then_passes() {
    let cosmos = TestCosmos::new();
    let budget = cosmos.settings().timeout;
    let (store, rule) = faulty_store(&cosmos, FaultInjectionErrorType::ServiceUnavailable, None);
    let owner = CartOwner::Visitor(CartId::new());
    store.add(owner, line(5, 100, 1)).await.expect("add");

    rule.enable();
    let started = Instant::now();
    let outcome = store.lines(owner).await;
    assert!(
        matches!(outcome, Err(CartError::Unavailable(_))),
        "a 503 that persists is 'unavailable', not a failure: {outcome:?}"
    );
    assert!(
        started.elapsed() < budget + std::time::Duration::from_millis(500),
        "answered in {:?}, over the {budget:?} budget",
        started.elapsed()
    );
    // while it cools down, the next request does not wait at all
    let started = Instant::now();
    assert!(matches!(
        store.lines(owner).await,
        Err(CartError::Unavailable(_))
    ));
    assert!(started.elapsed() < std::time::Duration::from_millis(50));

    rule.disable();
    let mut recovered = false;
    for _ in 0..50 {
        if let Ok(lines) = store.lines(owner).await {
            assert_eq!(lines.len(), 1, "the cart is intact after the outage");
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the store works again once Cosmos does, without a restart"
    );
}

/// A real store whose next read, once armed, holds its answer until released: the slow reader of
/// a cache-fill race, made to happen on purpose.
struct HeldRead {
    store: Arc<dyn CartStore>,
    armed: std::sync::atomic::AtomicBool,
    reached: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl CartStore for HeldRead {
    async fn lines(&self, owner: CartOwner) -> Result<Vec<CartLine>, CartError> {
        let lines = self.store.lines(owner).await?;
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.reached.notify_one();
            self.release.notified().await;
        }
        Ok(lines)
    }
    async fn add(&self, owner: CartOwner, line: CartLine) -> Result<(), CartError> {
        self.store.add(owner, line).await
    }
    async fn remove(&self, owner: CartOwner, course: CourseId) -> Result<(), CartError> {
        self.store.remove(owner, course).await
    }
    async fn clear(&self, owner: CartOwner) -> Result<(), CartError> {
        self.store.clear(owner).await
    }
    async fn merge(&self, visitor: CartId, user: UserId) -> Result<(), CartError> {
        self.store.merge(visitor, user).await
    }
}

#[tokio::test]
async fn a_slow_reader_cannot_put_a_stale_cart_back_in_the_cache() {
    let cosmos = TestCosmos::new();
    let mut overrides = cosmos.overrides();
    overrides.extend(TestRedis::new().overrides());
    let overrides: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let settings = crate::helpers::settings_for("postgres://postgres@127.0.0.1/unused", &overrides);
    let redis = shop::cache::Redis::new(settings.redis.expect("redis settings")).expect("redis");
    let held = Arc::new(HeldRead {
        store: Arc::new(CosmosCartStore::new(cosmos.settings())),
        armed: false.into(),
        reached: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
    });
    let metrics = CacheMetrics::new(&MetricsRegistry::new());
    let cached = Arc::new(CachedCartStore::new(held.clone(), redis, metrics));
    let owner = CartOwner::User(UserId(5));
    cached.add(owner, line(1, 100, 10)).await.expect("add");
    cached.add(owner, line(2, 100, 5)).await.expect("add");

    // a reader misses, reads [1, 2] from the store, and is held before it fills the cache
    held.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let reader = {
        let cached = cached.clone();
        tokio::spawn(async move { cached.lines(owner).await })
    };
    held.reached.notified().await;
    // meanwhile a writer removes course 2
    cached.remove(owner, CourseId(2)).await.expect("remove");
    held.release.notify_one();
    let stale = reader.await.expect("task").expect("lines");
    assert_eq!(
        stale.len(),
        2,
        "the held reader saw the cart before the removal"
    );

    assert_eq!(
        courses(cached.as_ref(), owner).await,
        vec![1],
        "its stale copy must not have been cached"
    );
}
