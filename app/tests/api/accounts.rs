//! Accounts: register, log in, log out, and the protections around them.

use crate::helpers::{TestApp, client};

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

    // browsing starts no session; the first change does (here, a course in the cart)
    assert_eq!(app.get("/login").await.session_cookie(), None);
    let anonymous_cookie = app
        .add_to_cart(3)
        .await
        .session_cookie()
        .expect("the session begins with the first change");
    let token = app.get("/login").await.csrf_token();
    assert_ne!(token, "", "and has its token");
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

/// A copy of the session cookie taken while signed in (a shared computer, a stolen cookie) must
/// not sign in after logout: the session ends on the server (OWASP ASVS 3.3.1), also at steps 0–2,
/// where the session itself travels in the cookie.
async fn a_copied_session_cookie_is_signed_out_by_logout(app: TestApp) {
    let registered = app.register("ada@example.com", "Ada", PASSWORD).await;
    let copied = registered
        .session_cookie()
        .expect("registering sets the signed-in session");
    let replay = |path: &'static str| {
        let cookie = copied.clone();
        let address = app.address.clone();
        async move {
            let response = client()
                .get(format!("{address}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .expect("request sent");
            (
                response.status().as_u16(),
                response.headers().clone(),
                response.text().await.unwrap_or_default(),
            )
        }
    };
    let (status, _, body) = replay("/orders").await;
    assert_eq!(status, 200, "the copy works while signed in");
    assert!(body.contains("Signed in as"));

    assert_eq!(app.log_out().await.status, 303);

    let (status, headers, _) = replay("/orders").await;
    assert_eq!(status, 303, "the copy is signed out");
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some("/login?next=/orders")
    );
    let (_, _, home) = replay("/").await;
    assert!(!home.contains("Signed in as"), "signed out on every page");
    let sign_ins: i64 = sqlx::query_scalar("SELECT count(*) FROM user_sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(sign_ins, 0, "the sign-in's row is gone");
}

#[tokio::test]
async fn logout_ends_a_cookie_session_on_the_server() {
    a_copied_session_cookie_is_signed_out_by_logout(TestApp::seeded().await).await;
}

#[tokio::test]
async fn logout_ends_a_redis_session_on_the_server() {
    a_copied_session_cookie_is_signed_out_by_logout(TestApp::with_redis().await).await;
}

#[tokio::test]
async fn state_changing_requests_without_the_sessions_token_are_refused() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;

    let missing = app.post_form("/logout", &[]).await;
    assert_eq!(missing.status, 403);
    assert!(missing.header("content-type").starts_with("text/html"));
    assert!(missing.body.contains("did not come from this shop"));

    // a real token, but another visitor's (one whose session has begun)
    let other = app.other_browser_app();
    other.add_to_cart(3).await;
    let foreign = other.get("/login").await.csrf_token();
    assert_ne!(foreign, "");
    let forged = app.post_form("/logout", &[("csrf_token", &foreign)]).await;
    assert_eq!(forged.status, 403);
    assert!(
        app.get("/").await.body.contains("Signed in as"),
        "still signed in"
    );

    // login CSRF: a sign-in posted by another site is refused, though no session exists yet
    let login = app
        .other_browser_app()
        .client
        .post(format!("{}/login", app.address))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request sent");
    assert_eq!(login.status(), 403, "login forms are protected too");
}

#[tokio::test]
async fn after_login_only_local_pages_are_followed() {
    let app = TestApp::seeded().await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    // `None`: refused with the 400 page before anything is done, so the visitor is not signed in
    for (next, expected) in [
        ("/courses?q=rust", Some("/courses?q=rust")),
        ("", Some("/")),
        ("//evil.example/", None),
        ("https://evil.example/", None),
        ("/\\evil.example/", None),
        // a browser strips the tab and reads `//evil.example/`
        ("/\t/evil.example/", None),
        ("/\r\nSet-Cookie: x=y", None),
    ] {
        if app.get("/").await.body.contains("Signed in as") {
            app.log_out().await;
        }
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
        match expected {
            Some(location) => {
                assert_eq!(page.status, 303, "next={next:?}");
                assert_eq!(page.header("location"), location, "next={next:?}");
            }
            None => {
                assert_eq!(page.status, 400, "next={next:?}");
                assert!(page.header("location").is_empty(), "next={next:?}");
                assert!(
                    !app.get("/").await.body.contains("Signed in as"),
                    "next={next:?}: refused before signing in"
                );
            }
        }
    }
    let link = app.get("/login?next=/%09/evil.example/").await;
    assert_eq!(link.status, 400, "a link that carries one is refused too");
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

/// Logging out needs PostgreSQL, where the sign-in is recorded: while it is unreachable the answer
/// is the 503 page (never a 500, never a half sign-out), and once it is back logout works.
#[tokio::test]
async fn logout_while_postgres_is_down_is_a_503_and_works_once_it_is_back() {
    let proxy = crate::helpers::TcpProxy::start("127.0.0.1:5432").await;
    let app = TestApp::seeded_behind(&proxy).await;
    app.register("ada@example.com", "Ada", PASSWORD).await;
    let token = app.get("/").await.csrf_token();

    proxy.cut();
    let refused = app.post_form("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.header("content-type").starts_with("text/html"));

    proxy.restore();
    assert!(app.recovers("/").await, "the shop recovers by itself");
    assert!(app.get("/").await.body.contains("Signed in as"));
    assert_eq!(app.log_out().await.status, 303);
    assert!(!app.get("/").await.body.contains("Signed in as"));
    let sign_ins: i64 = sqlx::query_scalar("SELECT count(*) FROM user_sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(sign_ins, 0);
}
