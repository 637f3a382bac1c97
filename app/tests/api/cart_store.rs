//! The cart-store contract: what every `CartStore` must do, run against each store the shop has.
//! (Steps 0-1: PostgreSQL. Step 2 adds Cosmos DB and runs the same checks.)

use chrono::{Duration, Utc};

use shop::cart::{CartId, CartLine, CartOwner, CartStore, PostgresCartStore};
use shop::ids::{CourseId, UserId};
use shop::money::Money;

use crate::helpers::TestDatabase;

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
