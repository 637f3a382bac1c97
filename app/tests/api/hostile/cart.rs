//! The cart's two forms, checkout, and the order pages: every field and path segment, and other
//! students' orders and carts.

use shop::accounts::demo::{DEMO_PASSWORD, DEMO_STUDENT};
use shop::catalog::seed;
use shop::ids::OrderId;
use shop::orders::SimulatedPaymentGateway;

use super::corpus::{HUGE, compact, corpus, encode};
use super::probe::{Browser, Findings, Snapshot, demo_accounts, hidden_field, shop_with};
use crate::helpers::TestApp;

async fn course_id(app: &TestApp, n: u32) -> i64 {
    sqlx::query_scalar("SELECT id FROM courses WHERE slug = $1")
        .bind(seed::course(n).slug)
        .fetch_one(&app.pool)
        .await
        .expect("a seeded course")
}

async fn add(browser: &Browser, n: u32) {
    let slug = seed::course(n).slug;
    let token = browser.csrf_token(&format!("/courses/{slug}")).await;
    let added = browser
        .post_form("/cart/items", &[("csrf_token", &token), ("course", &slug)])
        .await;
    assert_eq!(added.status, 303, "{}", added.summary());
}

/// Anyone's cart, a visitor's or a student's, with a hostile course in either form: refused
/// (400 not a course, 404 not for sale, 413 too large) or, for a remove that names no line of
/// theirs, a no-op. No cart anywhere changes. Another student's line cannot be removed either.
#[tokio::test]
async fn cart_forms_change_no_cart_with_a_hostile_course() {
    let app = shop_with(Vec::new()).await;
    let visitor = Browser::new(&app);
    add(&visitor, 4).await;
    let student = Browser::new(&app);
    student.register("ada@example.com", "Ada").await;
    add(&student, 3).await;
    // someone else's line, which neither may remove
    let other = Browser::new(&app);
    other.register("grace@example.com", "Grace").await;
    add(&other, 6).await;
    let others_course = course_id(&app, 6).await;

    let mut findings = Findings::new();
    for (who, browser) in [("visitor", &visitor), ("student", &student)] {
        let token = browser.csrf_token("/cart").await;
        let mut before = Snapshot::of(&app.pool).await;
        // the same rules read both carts' forms: each control character on its own once
        let cases = if who == "visitor" {
            corpus()
        } else {
            compact()
        };
        for case in cases {
            let huge = case.longer_than(HUGE - 1);
            let reply = browser
                .post_encoded(
                    "/cart/items",
                    &[("csrf_token", &token), ("course", &case.encoded)],
                )
                .await;
            let name = format!("{who} POST /cart/items course= {}", case.name);
            let statuses: &[u16] = if huge { &[413] } else { &[400, 404] };
            findings.answered(&name, &reply, statuses);
            let after = Snapshot::of(&app.pool).await;
            findings.unchanged(&name, &before, &after);
            before = after;

            // the course id in the path: not a number is a 404, a number of no line a no-op
            let target = format!("/cart/items/{}/delete", case.encoded);
            let reply = browser
                .raw_post(target.as_bytes(), &format!("csrf_token={token}"))
                .await;
            let name = format!("{who} POST /cart/items/ {} /delete", case.name);
            let statuses: &[u16] = if huge {
                &[400, 404, 414, 431]
            } else {
                &[303, 400, 404]
            };
            findings.answered(&name, &reply, statuses);
            let after = Snapshot::of(&app.pool).await;
            findings.unchanged(&name, &before, &after);
            before = after;
        }
        let reply = browser
            .post_form(
                &format!("/cart/items/{others_course}/delete"),
                &[("csrf_token", &token)],
            )
            .await;
        let name = format!("{who} removes another student's line");
        findings.answered(&name, &reply, &[303, 404]);
        findings.unchanged(&name, &before, &Snapshot::of(&app.pool).await);

        // both values of a repeated field are the shop's to refuse, not to pick from
        let before = Snapshot::of(&app.pool).await;
        let reply = browser
            .post_encoded(
                "/cart/items",
                &[
                    ("csrf_token", &token),
                    ("course", &encode(&seed::course(7).slug)),
                    ("course", &encode("../../etc/passwd")),
                ],
            )
            .await;
        let name = format!("{who} POST /cart/items with course twice");
        findings.answered(&name, &reply, &[400]);
        findings.unchanged(&name, &before, &Snapshot::of(&app.pool).await);
    }
    findings.assert_none("the cart's forms");
}

/// Checkout with a hostile idempotency key or card number, by a student with a course in the
/// cart: the form again (400 or 422), no order, no enrollment, no outbox row, and the cart as it was.
#[tokio::test]
async fn checkout_places_no_order_for_a_hostile_field() {
    let app = shop_with(Vec::new()).await;
    let student = Browser::new(&app);
    student.register("ada@example.com", "Ada").await;
    add(&student, 3).await;
    let form = student.get("/checkout").await;
    assert_eq!(form.status, 200, "{}", form.summary());
    let token = hidden_field(&form.body, "csrf_token").expect("a token");
    let key = hidden_field(&form.body, "idempotency_key").expect("a key");
    let card = encode(SimulatedPaymentGateway::APPROVED_CARD);

    let mut findings = Findings::new();
    for field in ["idempotency_key", "card_number"] {
        // the key is a UUID or nothing: one value per control class will do there
        let cases = if field == "card_number" {
            corpus()
        } else {
            compact()
        };
        for case in cases {
            // `-9223372036854775809` is a card number to the shop (dashes separate digit groups),
            // and one that passes the Luhn check: buying with it is what it should do
            if field == "card_number"
                && case
                    .as_text()
                    .is_some_and(|text| shop::orders::CardNumber::parse(text).is_ok())
            {
                continue;
            }
            let (key, card) = match field {
                "idempotency_key" => (case.encoded.clone(), card.clone()),
                _ => (key.clone(), case.encoded.clone()),
            };
            let before = Snapshot::of(&app.pool).await;
            let reply = student
                .post_encoded(
                    "/checkout",
                    &[
                        ("csrf_token", &token),
                        ("idempotency_key", &key),
                        ("card_number", &card),
                    ],
                )
                .await;
            let name = format!("POST /checkout {field}= {}", case.name);
            let statuses: &[u16] = if case.longer_than(HUGE - 1) {
                &[413]
            } else {
                &[400, 422]
            };
            findings.answered(&name, &reply, statuses);
            findings.unchanged(&name, &before, &Snapshot::of(&app.pool).await);
        }
    }
    for (case, fields) in [
        (
            "a second key after the real one",
            vec![
                ("idempotency_key", key.clone()),
                ("idempotency_key", encode(&uuid::Uuid::new_v4().to_string())),
            ],
        ),
        (
            "a second card after the approved one",
            vec![
                ("card_number", card.clone()),
                ("card_number", encode("4000 0000 0000 0002")),
            ],
        ),
    ] {
        let mut body = vec![("csrf_token", token.clone())];
        for (name, value) in [
            ("idempotency_key", key.clone()),
            ("card_number", card.clone()),
        ] {
            if !fields.iter().any(|(field, _)| *field == name) {
                body.push((name, value));
            }
        }
        body.extend(fields);
        let body: Vec<(&str, &str)> = body.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let before = Snapshot::of(&app.pool).await;
        let reply = student.post_encoded("/checkout", &body).await;
        findings.answered(case, &reply, &[400]);
        findings.unchanged(case, &before, &Snapshot::of(&app.pool).await);
    }
    findings.assert_none("the checkout form");
}

/// Another student's idempotency key names that student's order only: reused by someone else,
/// it buys that someone's own cart, never returns (or shows) the other's order.
#[tokio::test]
async fn another_students_idempotency_key_does_not_reach_their_order() {
    let app = shop_with(Vec::new()).await;
    demo_accounts(&app).await;
    let (demo_order, demo_key): (i64, uuid::Uuid) = sqlx::query_as(
        "SELECT o.id, o.idempotency_key FROM orders o JOIN users u ON u.id = o.user_id
         WHERE u.email = $1 ORDER BY o.id LIMIT 1",
    )
    .bind(DEMO_STUDENT)
    .fetch_one(&app.pool)
    .await
    .expect("a demo order");
    let demo_rows = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM (
                   SELECT o::text FROM orders o JOIN users u ON u.id = o.user_id WHERE u.email = $1
                   UNION ALL
                   SELECT e::text FROM enrollments e JOIN users u ON u.id = e.user_id WHERE u.email = $1
                 ) t",
            )
            .bind(DEMO_STUDENT)
            .fetch_one(&pool)
            .await
            .expect("the demo student's rows")
        }
    };
    let before = demo_rows(&app).await;

    let student = Browser::new(&app);
    student.register("ada@example.com", "Ada").await;
    add(&student, 3).await;
    let token = student.csrf_token("/checkout").await;
    let reply = student
        .post_form(
            "/checkout",
            &[
                ("csrf_token", &token),
                ("idempotency_key", &demo_key.to_string()),
                ("card_number", SimulatedPaymentGateway::APPROVED_CARD),
            ],
        )
        .await;
    let mut findings = Findings::new();
    let case = "checkout with the demo student's key";
    findings.answered(case, &reply, &[303, 400, 422]);
    let demo_page = format!("/orders/{}", OrderId(demo_order).readable());
    findings.expect(reply.location() != Some(demo_page.as_str()), case, || {
        format!("sent to the other student's order {demo_page}")
    });
    if let Some(location) = reply.location() {
        let page = student.get(location).await;
        findings.answered(&format!("{case}, the order page"), &page, &[200]);
        findings.expect(page.body.contains(&seed::course(3).title), case, || {
            "the order shown is not Ada's".to_string()
        });
    }
    findings.expect(demo_rows(&app).await == before, case, || {
        "the demo student's orders or enrollments changed".to_string()
    });
    findings.assert_none("another student's idempotency key");
}

/// `/orders/{id}` and `/orders/{id}/status` with every value as the id, and with another
/// student's real order numbers: a 404 to a student (the same as a missing order), a trip to
/// the login page (on this site) for a visitor, and nothing changes.
#[tokio::test]
async fn order_pages_answer_hostile_ids_and_hide_other_students_orders() {
    let app = shop_with(Vec::new()).await;
    demo_accounts(&app).await;
    let demo_orders: Vec<i64> = sqlx::query_scalar(
        "SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id WHERE u.email = $1",
    )
    .bind(DEMO_STUDENT)
    .fetch_all(&app.pool)
    .await
    .expect("the demo orders");
    assert_eq!(demo_orders.len(), 2);
    let student = Browser::new(&app);
    student.register("ada@example.com", "Ada").await;
    let visitor = Browser::new(&app);
    let before = Snapshot::of(&app.pool).await;

    let mut findings = Findings::new();
    let mut ids: Vec<(String, String)> = corpus()
        .into_iter()
        .map(|case| (case.name, case.encoded))
        .collect();
    for id in &demo_orders {
        let readable = OrderId(*id).readable();
        ids.extend([
            (
                format!("another student's order {readable}"),
                readable.clone(),
            ),
            ("… lower-cased".to_string(), readable.to_lowercase()),
            ("… without dashes".to_string(), readable.replace('-', "")),
            ("… as its database id".to_string(), id.to_string()),
            (
                "… with a NUL after it".to_string(),
                format!("{readable}%00"),
            ),
        ]);
    }
    for (name, id) in &ids {
        let huge = id.len() > 8 * 1024;
        for suffix in ["", "/status"] {
            let target = format!("/orders/{id}{suffix}");
            let reply = student.raw("GET", target.as_bytes(), &[]).await;
            let statuses: &[u16] = if huge { &[400, 404, 414, 431] } else { &[404] };
            findings.answered(
                &format!("student GET /orders/ {name} {suffix}"),
                &reply,
                statuses,
            );

            let reply = visitor.raw("GET", target.as_bytes(), &[]).await;
            let statuses: &[u16] = if huge {
                &[303, 400, 404, 414, 431]
            } else {
                &[303, 404]
            };
            findings.answered(
                &format!("visitor GET /orders/ {name} {suffix}"),
                &reply,
                statuses,
            );
        }
    }
    findings.unchanged("order pages", &before, &Snapshot::of(&app.pool).await);
    // the demo student sees their own: the ids above are real
    let owner = Browser::new(&app);
    owner.log_in(DEMO_STUDENT, DEMO_PASSWORD).await;
    let own = owner
        .get(&format!("/orders/{}", OrderId(demo_orders[0]).readable()))
        .await;
    findings.answered("the owner's own order", &own, &[200]);
    findings.assert_none("/orders/{id}");
}
