//! The cookies the shop reads: the session (`courseshop_session`) and the visitor's cart
//! (`courseshop_cart`), forged, altered, doubled and oversized.

use actix_web::cookie::{Cookie, CookieJar, Key};
use shop::catalog::seed;

use super::corpus::{HUGE, encode};
use super::probe::{Browser, Findings, Snapshot, raw, shop_with};
use crate::helpers::TestApp;

/// The session cookie's value made with another key than the shop's: what a forger can make.
fn sealed_with_another_key(name: &str, value: &str, private: bool) -> String {
    let key = Key::generate();
    let mut jar = CookieJar::new();
    let cookie = Cookie::new(name.to_string(), value.to_string());
    if private {
        jar.private_mut(&key).add(cookie);
    } else {
        jar.signed_mut(&key).add(cookie);
    }
    jar.get(name)
        .expect("the cookie was added")
        .value()
        .to_string()
}

/// Forged, altered, doubled and oversized session cookies: the visitor is anonymous (a signed-in
/// page sends them to log in), never a 5xx, never someone else.
#[tokio::test]
async fn a_forged_session_cookie_signs_no_one_in() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com", "Ada").await;
    let real = browser
        .cookie("courseshop_session")
        .expect("a session cookie");
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'ada@example.com'")
        .fetch_one(&app.pool)
        .await
        .expect("Ada");
    let sign_in: String = sqlx::query_scalar("SELECT id FROM user_sessions LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap_or_else(|_| "0".repeat(64));
    let state = format!(r#"{{"user_id":"{user}","sign_in":"\"{sign_in}\""}}"#);
    let mut altered = real.clone().into_bytes();
    let middle = altered.len() / 2;
    altered[middle] = if altered[middle] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ASCII");

    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("garbage", b"courseshop_session=abc".to_vec(), &[303]),
        ("empty", b"courseshop_session=".to_vec(), &[303]),
        (
            "one character altered",
            format!("courseshop_session={altered}").into_bytes(),
            &[303],
        ),
        (
            "truncated",
            format!("courseshop_session={}", &real[..real.len() / 2]).into_bytes(),
            &[303],
        ),
        (
            "Ada's session sealed with another key",
            format!(
                "courseshop_session={}",
                sealed_with_another_key("courseshop_session", &state, true)
            )
            .into_bytes(),
            &[303],
        ),
        (
            "Ada's session only signed, with another key",
            format!(
                "courseshop_session={}",
                sealed_with_another_key("courseshop_session", &state, false)
            )
            .into_bytes(),
            &[303],
        ),
        (
            "Ada's session as plain JSON",
            format!("courseshop_session={}", encode(&state)).into_bytes(),
            &[303],
        ),
        ("an escaped NUL", b"courseshop_session=%00".to_vec(), &[303]),
        (
            "a raw DEL",
            b"courseshop_session=\x7f".to_vec(),
            &[303, 400],
        ),
        (
            "raw bytes that are not UTF-8",
            b"courseshop_session=\xff\xfe".to_vec(),
            &[303, 400],
        ),
        (
            "a raw control character",
            b"courseshop_session=a\x01b".to_vec(),
            &[303, 400],
        ),
        (
            "a forged one, then the real one",
            format!("courseshop_session=abc; courseshop_session={real}").into_bytes(),
            &[200, 303, 400],
        ),
        (
            "the real one, then a forged one",
            format!("courseshop_session={real}; courseshop_session=abc").into_bytes(),
            &[200, 303, 400],
        ),
        ("no name", format!("={real}").into_bytes(), &[303, 400]),
        (
            "100 KiB",
            format!("courseshop_session={}", "a".repeat(HUGE)).into_bytes(),
            &[303, 400, 431],
        ),
    ];
    let before = Snapshot::of(&app.pool).await;
    let mut findings = Findings::new();
    for (name, cookie, statuses) in cases {
        let reply = raw(&app.address, "GET", b"/orders", &[("cookie", &cookie)], b"").await;
        findings.answered(&format!("/orders with {name}"), &reply, statuses);
        if reply.status == 303 {
            findings.expect(
                reply.location() == Some("/login?next=/orders"),
                name,
                || format!("not sent to log in: {}", reply.summary()),
            );
        }
        let home = raw(&app.address, "GET", b"/", &[("cookie", &cookie)], b"").await;
        findings.answered(&format!("/ with {name}"), &home, &[200, 400, 431]);
        if !statuses.contains(&200) {
            findings.expect(!home.body.contains("Signed in as"), name, || {
                "signed in by a forged cookie".to_string()
            });
        }
    }
    findings.unchanged(
        "forged session cookies",
        &before,
        &Snapshot::of(&app.pool).await,
    );
    findings.assert_none("forged session cookies");
}

/// The visitor's cart cookie names a cart by id, signed so a visitor cannot name another's. A
/// forged or altered one is ignored: the forger sees an empty cart, adds to a cart of their own,
/// and signing in merges nothing of anyone else's.
#[tokio::test]
async fn a_forged_cart_cookie_reaches_no_one_elses_cart() {
    let app = shop_with(Vec::new()).await;
    let victim = Browser::new(&app);
    let slug = seed::course(4).slug;
    let token = victim.csrf_token(&format!("/courses/{slug}")).await;
    victim
        .post_form("/cart/items", &[("csrf_token", &token), ("course", &slug)])
        .await;
    let victims = victim.cookie("courseshop_cart").expect("a cart cookie");
    // the signed value is the signature (44 characters of base64) and the cart's id
    let (victims_mac, victims_cart) = victims.split_at(victims.len() - 32);
    let cart_id = uuid::Uuid::parse_str(victims_cart).expect("the cart's id");
    let victims_lines = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT course_id FROM cart_items WHERE cart_id = $1 ORDER BY course_id",
            )
            .bind(cart_id)
            .fetch_all(&pool)
            .await
            .expect("the victim's lines")
        }
    };
    let lines = victims_lines(&app).await;
    assert_eq!(lines.len(), 1);

    // the forger's own signature, on the victim's id
    let forger = Browser::new(&app);
    let token = forger
        .csrf_token(&format!("/courses/{}", seed::course(5).slug))
        .await;
    forger
        .post_form(
            "/cart/items",
            &[("csrf_token", &token), ("course", &seed::course(5).slug)],
        )
        .await;
    let forgers = forger.cookie("courseshop_cart").expect("a cart cookie");
    let forgers_mac = &forgers[..forgers.len() - 32];
    let mut altered_mac = victims_mac.to_string().into_bytes();
    altered_mac[3] = if altered_mac[3] == b'A' { b'B' } else { b'A' };
    let altered_mac = String::from_utf8(altered_mac).expect("ASCII");

    let forgeries = [
        ("the id alone, unsigned", victims_cart.to_string()),
        (
            "another visitor's signature on the id",
            format!("{forgers_mac}{victims_cart}"),
        ),
        (
            "the signature altered",
            format!("{altered_mac}{victims_cart}"),
        ),
        (
            "signed with another key",
            sealed_with_another_key("courseshop_cart", victims_cart, false),
        ),
        ("the id hyphenated", cart_id.hyphenated().to_string()),
        ("garbage", "abc".to_string()),
        ("empty", String::new()),
        ("an escaped NUL", "%00".to_string()),
        ("a SQL quote", encode("' OR 1=1 --")),
    ];
    let mut findings = Findings::new();
    for (n, (name, value)) in forgeries.iter().enumerate() {
        let browser = Browser::new(&app);
        browser.set_cookie("courseshop_cart", value);
        let cart = browser.get("/cart").await;
        findings.answered(&format!("{name}: the cart page"), &cart, &[200]);
        findings.expect(!cart.body.contains(&seed::course(4).title), name, || {
            "the forger sees the victim's cart".to_string()
        });
        let token = browser
            .csrf_token(&format!("/courses/{}", seed::course(6).slug))
            .await;
        let added = browser
            .post_form(
                "/cart/items",
                &[("csrf_token", &token), ("course", &seed::course(6).slug)],
            )
            .await;
        findings.answered(&format!("{name}: adding a course"), &added, &[303]);
        // the cookie the forger holds now names their own cart; put the forgery back for login
        browser.set_cookie("courseshop_cart", value);
        browser
            .register(&format!("forger{n}@example.org"), "Forger")
            .await;
        findings.expect(victims_lines(&app).await == lines, name, || {
            "the victim's cart changed".to_string()
        });
    }
    findings.assert_none("forged cart cookies");
}
