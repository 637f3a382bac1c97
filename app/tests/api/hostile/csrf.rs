//! The CSRF token: every state-changing form, with every way of getting the token wrong.

use shop::accounts::demo::{DEMO_INSTRUCTOR, DEMO_PASSWORD};
use shop::catalog::seed;
use shop::orders::SimulatedPaymentGateway;

use super::corpus::{HUGE, compact, encode};
use super::probe::{Browser, Findings, PASSWORD, Snapshot, demo_accounts, shop_with};

/// Every state-changing form, each with fields that would work with the right token, so only the
/// token stops them. The instructor has courses 3 and 4 in the cart and teaches `own`.
fn forms(own: &str, course_3: i64) -> Vec<(String, Vec<(&'static str, String)>)> {
    let course = |title: &str| {
        vec![
            ("title", title.to_string()),
            ("summary", "Read query plans with confidence.".to_string()),
            (
                "description",
                "First paragraph about plans.\n\nSecond paragraph.".to_string(),
            ),
            ("category", "databases".to_string()),
            ("level", "intermediate".to_string()),
            ("duration_minutes", "240".to_string()),
            ("price", "49.99".to_string()),
        ]
    };
    vec![
        ("/cart/items".into(), vec![("course", seed::course(7).slug)]),
        (format!("/cart/items/{course_3}/delete"), vec![]),
        (
            "/checkout".into(),
            vec![
                ("idempotency_key", uuid::Uuid::new_v4().to_string()),
                (
                    "card_number",
                    SimulatedPaymentGateway::APPROVED_CARD.to_string(),
                ),
            ],
        ),
        ("/teach/courses".into(), course("Forged Course")),
        (format!("/teach/courses/{own}"), course("Forged Title")),
        (format!("/teach/courses/{own}/unpublish"), vec![]),
        (
            "/register".into(),
            vec![
                ("email", "forged@example.org".to_string()),
                ("display_name", "Forged".to_string()),
                ("password", PASSWORD.to_string()),
            ],
        ),
        (
            "/login".into(),
            vec![
                ("email", DEMO_INSTRUCTOR.to_string()),
                ("password", DEMO_PASSWORD.to_string()),
            ],
        ),
        ("/logout".into(), vec![]),
    ]
}

/// A missing, foreign, altered or hostile CSRF token gets the 403 page on every form, and the form
/// does nothing: no course added, removed, bought, created, edited or unpublished, no account, no
/// sign-in, no sign-out.
#[tokio::test]
async fn every_form_refuses_a_forged_csrf_token_and_does_nothing() {
    let app = shop_with(Vec::new()).await;
    demo_accounts(&app).await;
    let browser = Browser::new(&app);
    browser.log_in(DEMO_INSTRUCTOR, DEMO_PASSWORD).await;
    for n in [3, 4] {
        let slug = seed::course(n).slug;
        let token = browser.csrf_token(&format!("/courses/{slug}")).await;
        let added = browser
            .post_form("/cart/items", &[("csrf_token", &token), ("course", &slug)])
            .await;
        assert_eq!(added.status, 303, "{}", added.summary());
    }
    let own: String = sqlx::query_scalar(
        "SELECT c.slug FROM courses c JOIN users u ON u.id = c.instructor_id
         WHERE u.email = $1 AND c.published ORDER BY c.id LIMIT 1",
    )
    .bind(DEMO_INSTRUCTOR)
    .fetch_one(&app.pool)
    .await
    .expect("a published course of the demo instructor");
    let course_3: i64 = sqlx::query_scalar("SELECT id FROM courses WHERE slug = $1")
        .bind(seed::course(3).slug)
        .fetch_one(&app.pool)
        .await
        .expect("course 3");
    let real = browser.csrf_token("/cart").await;
    let foreign = Browser::new(&app).csrf_token("/login").await;

    let mut tokens: Vec<(String, Option<String>)> = vec![
        ("no token".into(), None),
        (
            "another visitor's real token".into(),
            Some(encode(&foreign)),
        ),
        (
            "the token less its last digit".into(),
            Some(real[..real.len() - 1].to_string()),
        ),
        ("the token upper-cased".into(), Some(real.to_uppercase())),
        (
            "the token with a NUL after it".into(),
            Some(format!("{real}%00")),
        ),
        (
            "the token with a space after it".into(),
            Some(format!("{real}%20")),
        ),
        ("the token twice over".into(), Some(format!("{real}{real}"))),
        (
            "the token, then a forged one".into(),
            Some(format!("{real}&csrf_token={}", encode(&foreign))),
        ),
        (
            "a forged token, then the real one".into(),
            Some(format!("{}&csrf_token={real}", encode(&foreign))),
        ),
    ];
    // the token is compared whole: one value per control class will do
    tokens.extend(
        compact()
            .into_iter()
            .map(|case| (case.name, Some(case.encoded))),
    );
    let mut findings = Findings::new();
    for (path, fields) in forms(&own, course_3) {
        let before = Snapshot::of(&app.pool).await;
        for (name, token) in &tokens {
            let mut body: Vec<String> = fields
                .iter()
                .map(|(field, value)| format!("{field}={}", encode(value)))
                .collect();
            if let Some(token) = token {
                body.push(format!("csrf_token={token}"));
            }
            let reply = browser.post_body(&path, body.join("&")).await;
            let statuses: &[u16] = if token.as_ref().is_some_and(|t| t.len() >= HUGE) {
                &[413]
            } else {
                // a repeated field may be refused as unreadable (400) rather than as forged
                &[400, 403]
            };
            findings.answered(&format!("POST {path} with {name}"), &reply, statuses);
        }
        findings.unchanged(
            &format!("POST {path} with forged tokens"),
            &before,
            &Snapshot::of(&app.pool).await,
        );
    }
    let orders = browser.get("/orders").await;
    findings.answered("still signed in after the forged logouts", &orders, &[200]);
    findings.assert_none("forged CSRF tokens");
}
