//! Accounts: register, log in, log out, and the protections around them.

use crate::helpers::TestApp;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn a_new_student_registers_and_is_signed_in() {
    let app = TestApp::seeded().await;
    let response = app
        .register("Ada@Example.com", "Ada Lovelace", PASSWORD)
        .await;
    assert_eq!(response.status, 303);
    assert_eq!(response.header("location"), "/");
    let home = app.get("/").await;
    assert!(
        home.body
            .contains("Signed in as <strong>Ada Lovelace</strong>"),
        "{}",
        home.body
    );

    let stored: (String, String, String) = sqlx::query_as(
        "SELECT email, role, password_hash FROM users WHERE email = 'ada@example.com'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("user stored");
    assert_eq!(stored.0, "ada@example.com", "emails are stored lower-cased");
    assert_eq!(stored.1, "student");
    assert!(
        stored.2.starts_with("$argon2id$"),
        "argon2id, never the password"
    );
}

#[tokio::test]
async fn registration_explains_each_bad_field_and_keeps_what_was_typed() {
    let app = TestApp::seeded().await;
    let page = app.register("not-an-email", " ", "short").await;
    assert_eq!(page.status, 422);
    assert!(
        page.body
            .contains("enter an email address such as ada@example.com")
    );
    assert!(page.body.contains("enter a name of 1 to 80 characters"));
    assert!(page.body.contains("use at least 10 characters"));
    assert!(
        page.body.contains(r#"value="not-an-email""#),
        "the email is kept"
    );
    assert!(
        !page.body.contains(r#"value="short""#),
        "the password is never sent back"
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'student'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(users, 0);
}

#[tokio::test]
async fn an_email_can_have_only_one_account() {
    let app = TestApp::seeded().await;
    assert_eq!(
        app.register("ada@example.com", "Ada", PASSWORD)
            .await
            .status,
        303
    );
    let other = app.other_browser();
    let token = other.get("/register").await.csrf_token();
    let page = other
        .post_form(
            "/register",
            &[
                ("csrf_token", &token),
                ("email", "ADA@example.com"),
                ("display_name", "Imposter"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(
        page.body
            .contains("an account with this email already exists")
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.log_out().await;
    let wrong_password = app.log_in("ada@example.com", "not the password").await;
    let unknown_email = app.log_in("nobody@example.com", PASSWORD).await;
    let malformed_email = app.log_in("nobody", PASSWORD).await;
    for page in [&wrong_password, &unknown_email, &malformed_email] {
        assert_eq!(page.status, 422);
        assert!(
            page.body
                .contains("That email and password do not match an account.")
        );
    }
    let (a, b) = (
        wrong_password
            .body
            .replace(&wrong_password.csrf_token(), ""),
        unknown_email.body.replace(&unknown_email.csrf_token(), ""),
    );
    assert_eq!(
        a.replace("ada@example.com", "EMAIL"),
        b.replace("nobody@example.com", "EMAIL"),
        "the two pages differ only in the email typed"
    );
}

#[tokio::test]
async fn logging_in_starts_a_new_session_and_logging_out_ends_it() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    app.log_out().await;

    let before = app.get("/login").await;
    let anonymous_cookie = before
        .session_cookie()
        .expect("a session for the form's token");
    let token = before.csrf_token();
    let login = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(login.status, 303);
    let raw = login
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("courseshop_session="))
        .expect("a new session cookie")
        .to_string();
    assert_ne!(
        login.session_cookie(),
        Some(anonymous_cookie),
        "no session fixation"
    );
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Lax"),
        "{raw}"
    );
    assert_ne!(
        app.get("/").await.csrf_token(),
        token,
        "a new CSRF token after login"
    );

    let out = app.log_out().await;
    assert_eq!(out.status, 303);
    let home = app.get("/").await;
    assert!(home.body.contains(r#"<a href="/login">Log in</a>"#));
}

#[tokio::test]
async fn state_changing_requests_without_the_sessions_token_are_refused() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;

    let missing = app.post_form("/logout", &[]).await;
    assert_eq!(missing.status, 403);
    assert!(missing.header("content-type").starts_with("text/html"));
    assert!(missing.body.contains("did not come from this shop"));

    // a real token, but another visitor's
    let foreign = app.other_browser().get("/login").await.csrf_token();
    let forged = app.post_form("/logout", &[("csrf_token", &foreign)]).await;
    assert_eq!(forged.status, 403);
    assert!(
        app.get("/").await.body.contains("Signed in as"),
        "still signed in"
    );

    let login = app
        .other_browser()
        .post_form(
            "/login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(login.status, 403, "login forms need the token too");
}

#[tokio::test]
async fn after_login_only_local_pages_are_followed() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    for (next, expected) in [
        ("/courses?q=rust", "/courses?q=rust"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
    ] {
        app.log_out().await;
        let token = app.get("/login").await.csrf_token();
        let page = app
            .post_form(
                "/login",
                &[
                    ("csrf_token", &token),
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(page.status, 303);
        assert_eq!(page.header("location"), expected, "next={next}");
    }
}

#[tokio::test]
async fn seeded_instructors_cannot_log_in_with_a_password() {
    let app = TestApp::seeded().await;
    let (email, _) = shop::catalog::seed::instructor(1);
    let page = app.log_in(&email, "anything at all").await;
    assert_eq!(page.status, 422);
}

#[tokio::test]
async fn an_oversized_form_is_refused_with_a_page() {
    let app = TestApp::seeded().await;
    let token = app.get("/register").await.csrf_token();
    let huge = "x".repeat(100 * 1024);
    let page = app
        .post_form(
            "/register",
            &[
                ("csrf_token", &token),
                ("email", &huge),
                ("display_name", "A"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 413);
    assert!(page.header("content-type").starts_with("text/html"));
}
