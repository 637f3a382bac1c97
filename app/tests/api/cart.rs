//! The cart as a visitor uses it (step 0: PostgreSQL).

use shop::catalog::seed;
use shop::enrollment::insert_enrollments;
use shop::ids::{CourseId, UserId};
use shop::money::Money;
use shop::orders::{NewOrderItem, OrderStatus, insert_order};
use uuid::Uuid;

use crate::helpers::{Page, TestApp};

const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// Adds the seeded course `n` to this client's cart from its page.
    pub async fn add_to_cart(&self, n: u32) -> Page {
        let slug = seed::course(n).slug;
        let token = self.get(&format!("/courses/{slug}")).await.csrf_token();
        self.post_form("/cart/items", &[("csrf_token", &token), ("course", &slug)])
            .await
    }

    /// Removes the seeded course `n` from this client's cart with the cart page's form.
    pub async fn remove_from_cart(&self, n: u32) -> Page {
        let id: i64 = sqlx::query_scalar("SELECT id FROM courses WHERE slug = $1")
            .bind(seed::course(n).slug)
            .fetch_one(&self.pool)
            .await
            .expect("id");
        let token = self.get("/cart").await.csrf_token();
        self.post_form(
            &format!("/cart/items/{id}/delete"),
            &[("csrf_token", &token)],
        )
        .await
    }

    pub async fn cart_slugs(&self) -> Vec<String> {
        let page = self.get("/cart").await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.body
            .split(r#"<li class="cart__line">"#)
            .skip(1)
            .filter_map(|line| line.split(r#"<a href="/courses/"#).nth(1))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect()
    }
}

#[tokio::test]
async fn a_visitor_adds_courses_and_sees_them_priced_from_the_catalog() {
    let app = TestApp::seeded().await;
    let added = app.add_to_cart(3).await;
    assert_eq!(added.status, 303);
    assert_eq!(
        added.header("location"),
        format!("/courses/{}", seed::course(3).slug)
    );
    let back = app.get(added.header("location")).await;
    assert!(back.body.contains("Added to your cart."));
    assert!(
        back.body.contains(r#"aria-label="1 in your cart""#),
        "the badge counts"
    );
    assert!(
        !app.get("/").await.body.contains("Added to your cart."),
        "a message shows once"
    );

    app.add_to_cart(4).await;
    assert_eq!(
        app.cart_slugs().await,
        vec![seed::course(3).slug, seed::course(4).slug]
    );
    let total = seed::course(3).price_cents + seed::course(4).price_cents;
    let total = shop::money::Money::from_cents(total)
        .expect("money")
        .to_string();
    assert!(
        app.get("/cart").await.body.contains(&total),
        "total {total}"
    );
}

#[tokio::test]
async fn a_course_is_in_a_cart_once() {
    let app = TestApp::seeded().await;
    app.add_to_cart(3).await;
    let again = app.add_to_cart(3).await;
    assert!(
        app.get(again.header("location"))
            .await
            .body
            .contains("already in your cart")
    );
    assert_eq!(app.cart_slugs().await.len(), 1);
}

#[tokio::test]
async fn a_line_can_be_removed() {
    let app = TestApp::seeded().await;
    app.add_to_cart(3).await;
    app.add_to_cart(4).await;
    let removed = app.remove_from_cart(3).await;
    assert_eq!(removed.status, 303);
    let token = app.get("/cart").await.csrf_token();
    assert_eq!(app.cart_slugs().await, vec![seed::course(4).slug]);
    let bad = app
        .post_form("/cart/items/not-a-number/delete", &[("csrf_token", &token)])
        .await;
    assert_eq!(bad.status, 404);
}

#[tokio::test]
async fn a_price_sent_with_the_form_changes_nothing() {
    let app = TestApp::seeded().await;
    let course = seed::course(3);
    let token = app
        .get(&format!("/courses/{}", course.slug))
        .await
        .csrf_token();
    app.post_form(
        "/cart/items",
        &[
            ("csrf_token", &token),
            ("course", &course.slug),
            ("price", "1"),
            ("price_cents", "1"),
        ],
    )
    .await;
    let seen: i64 = sqlx::query_scalar("SELECT price_cents_seen FROM cart_items")
        .fetch_one(&app.pool)
        .await
        .expect("line");
    assert_eq!(seen, course.price_cents);
}

#[tokio::test]
async fn a_catalog_price_change_shows_in_the_cart() {
    let app = TestApp::seeded().await;
    app.add_to_cart(3).await;
    sqlx::query("UPDATE courses SET price_cents = 123456 WHERE slug = $1")
        .bind(seed::course(3).slug)
        .execute(&app.pool)
        .await
        .expect("reprice");
    let page = app.get("/cart").await;
    assert!(
        page.body.contains("$1,234.56"),
        "priced from the catalog now"
    );
    assert!(page.body.contains("The price changed since you added it"));
}

#[tokio::test]
async fn unpublished_courses_cannot_be_added_and_leave_the_total() {
    let app = TestApp::seeded().await;
    app.add_to_cart(3).await;
    sqlx::query("UPDATE courses SET published = false WHERE slug = ANY($1)")
        .bind(vec![seed::course(3).slug, seed::course(4).slug])
        .execute(&app.pool)
        .await
        .expect("unpublish");
    let page = app.get("/cart").await;
    assert!(
        page.body
            .contains("A course in your cart is no longer for sale")
    );
    assert!(page.body.contains("$0.00"));
    let token = page.csrf_token();
    let refused = app
        .post_form(
            "/cart/items",
            &[("csrf_token", &token), ("course", &seed::course(4).slug)],
        )
        .await;
    assert_eq!(refused.status, 404);

    // the line that can no longer be bought can still be removed
    app.remove_from_cart(3).await;
    assert!(app.get("/cart").await.body.contains("Your cart is empty"));
}

#[tokio::test]
async fn an_owned_course_is_refused_with_a_message() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    // Ada owns the catalog's first course: an order of it, enrolled
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'ada@example.com'")
        .fetch_one(&app.pool)
        .await
        .expect("Ada");
    let (course, title, price): (i64, String, i64) = sqlx::query_as(
        "SELECT id, title, price_cents FROM courses WHERE id = (SELECT min(id) FROM courses)",
    )
    .fetch_one(&app.pool)
    .await
    .expect("the first course");
    let (user, course) = (UserId(user), CourseId(course));
    let item = NewOrderItem {
        course,
        title,
        price: Money::from_cents(price).expect("a price"),
    };
    let mut tx = app.pool.begin().await.expect("a transaction");
    let order = insert_order(
        &mut tx,
        user,
        OrderStatus::Enrolled,
        Uuid::new_v4(),
        &[item],
        None,
    )
    .await
    .expect("an order")
    .expect("a new idempotency key");
    insert_enrollments(&mut tx, user, order, &[course])
        .await
        .expect("enroll");
    tx.commit().await.expect("the order commits");
    let slug: String =
        sqlx::query_scalar("SELECT slug FROM courses WHERE id = (SELECT min(id) FROM courses)")
            .fetch_one(&app.pool)
            .await
            .expect("slug");
    let token = app.get(&format!("/courses/{slug}")).await.csrf_token();
    let added = app
        .post_form("/cart/items", &[("csrf_token", &token), ("course", &slug)])
        .await;
    assert_eq!(added.status, 303, "a message, not an error page");
    assert!(
        app.get(added.header("location"))
            .await
            .body
            .contains("You already own this course")
    );
    assert!(app.cart_slugs().await.is_empty());
}

#[tokio::test]
async fn an_anonymous_cart_survives_login_without_duplicates() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.add_to_cart(3).await;
    app.log_out().await;
    assert!(
        app.cart_slugs().await.is_empty(),
        "signed out: the account's cart is not shown"
    );

    app.add_to_cart(3).await;
    app.add_to_cart(5).await;
    assert_eq!(app.log_in("ada@example.com", PASSWORD).await.status, 303);
    let mut slugs = app.cart_slugs().await;
    slugs.sort();
    let mut expected = vec![seed::course(3).slug, seed::course(5).slug];
    expected.sort();
    assert_eq!(slugs, expected);
    let anonymous_carts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM carts WHERE user_id IS NULL")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(
        anonymous_carts, 0,
        "the visitor's cart was merged and removed"
    );
}

#[tokio::test]
async fn cart_changes_from_another_site_are_refused() {
    let app = TestApp::seeded().await;
    let refused = app
        .client
        .post(format!("{}/cart/items", app.address))
        .header("origin", "http://evil.example")
        .form(&[("course", seed::course(3).slug.as_str())])
        .send()
        .await
        .expect("request sent");
    assert_eq!(refused.status(), 403);
    let browsing_only: i64 = sqlx::query_scalar("SELECT count(*) FROM carts")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(browsing_only, 0, "browsing alone creates no cart");
}

#[tokio::test]
async fn a_cart_id_in_a_forged_cookie_opens_no_cart() {
    let app = TestApp::seeded().await;
    app.add_to_cart(3).await;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM carts")
        .fetch_one(&app.pool)
        .await
        .expect("the visitor's cart");
    // someone who learned the id writes the cookie by hand, without the shop's signature
    for forged in [
        id.simple().to_string(),
        format!("{}={}", "x".repeat(44), id.simple()),
        "garbage".to_string(),
    ] {
        let page = reqwest::Client::new()
            .get(format!("{}/cart", app.address))
            .header("cookie", format!("courseshop_cart={forged}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(
            page.status().as_u16(),
            200,
            "a bad cookie is ignored, not an error"
        );
        let body = page.text().await.expect("body");
        assert!(body.contains("Your cart is empty"), "{forged}: {body}");
    }
    assert_eq!(
        app.cart_slugs().await,
        vec![seed::course(3).slug],
        "the real visitor keeps it"
    );
}
