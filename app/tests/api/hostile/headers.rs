//! The request headers the shop reads: `X-Forwarded-For` (the login limit's address),
//! `Authorization` on /metrics, `Host` and its relatives (redirects), and a form's own headers.

use shop::catalog::seed;

use super::corpus::{HUGE, corpus, encode};
use super::probe::{Browser, Findings, PASSWORD, Snapshot, raw, shop_with};
use crate::helpers::TestRedis;

/// Login attempts with hostile `X-Forwarded-For` values, at step 3 behind a trusted proxy, where
/// the header decides which address is counted: no 5xx, and an entry that is not an address
/// counts against the connection's own address, so junk cannot dodge the per-address limit.
#[tokio::test]
async fn hostile_forwarded_for_headers_neither_fail_nor_dodge_the_login_limit() {
    let redis = TestRedis::new();
    let mut overrides = redis.overrides();
    overrides.extend([
        ("CART_STORE", "postgres".to_string()),
        ("TRUST_FORWARDED_FOR", "true".to_string()),
        ("LOGIN_LIMIT_PER_ADDRESS", "5".to_string()),
        ("LOGIN_LIMIT_PER_ACCOUNT", "1000".to_string()),
    ]);
    let app = shop_with(overrides).await;
    let values: [(&str, &[u8]); 13] = [
        ("a word", b"garbage"),
        ("an address out of range", b"999.999.999.999"),
        ("an empty entry last", b"203.0.113.7, "),
        ("commas only", b",,,"),
        ("an IPv6 port out of range", b"[::1]:99999"),
        ("a SQL quote", b"' OR 1=1 --"),
        ("markup", b"<script>alert(1)</script>"),
        ("a NUL escape", b"%00"),
        ("bytes that are not UTF-8", b"\xff\xfe"),
        ("a raw DEL", b"1.2.3.4\x7f"),
        ("a raw control character", b"1.2.3.4\x01"),
        ("8 KiB of entries", &[b'1'; 8 * 1024]),
        ("an address with a zone", b"fe80::1%eth0"),
    ];
    let before = Snapshot::of(&app.pool).await;
    let mut findings = Findings::new();
    let mut refused = 0;
    for round in 0..2 {
        for (n, (name, value)) in values.iter().enumerate() {
            let browser = Browser::new(&app);
            let token = browser.csrf_token("/login").await;
            let body = format!(
                "csrf_token={token}&email={}&password=wrong+password",
                encode(&format!("nobody{round}x{n}@example.org"))
            );
            let form: &[u8] = b"application/x-www-form-urlencoded";
            let reply = browser
                .raw_with_body(
                    "POST",
                    b"/login",
                    &[("content-type", form), ("x-forwarded-for", value)],
                    body.as_bytes(),
                )
                .await;
            findings.answered(
                &format!("X-Forwarded-For: {name}"),
                &reply,
                &[400, 422, 429, 431],
            );
            if reply.status == 429 {
                refused += 1;
            }
        }
    }
    // twenty-six attempts, none from an address of its own: the peer's limit of 5 was reached
    findings.expect(refused > 0, "junk X-Forwarded-For entries", || {
        "26 failed logins with junk addresses were never limited".to_string()
    });
    findings.unchanged(
        "logins with hostile addresses",
        &before,
        &Snapshot::of(&app.pool).await,
    );
    findings.assert_none("X-Forwarded-For");
}

/// With `METRICS_TOKEN` set, only `Authorization: Bearer <token>` reads /metrics: every other
/// value, however odd its bytes, is a 401 (or a 400 for a header HTTP itself refuses).
#[tokio::test]
async fn metrics_refuse_every_other_authorization() {
    let token = "0123456789abcdef0123456789abcdef";
    let app = shop_with(vec![("METRICS_TOKEN", token.to_string())]).await;
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("no scheme".into(), token.as_bytes().to_vec()),
        (
            "lower-case scheme".into(),
            format!("bearer {token}").into_bytes(),
        ),
        ("Basic".into(), format!("Basic {token}").into_bytes()),
        (
            "all but the last character".into(),
            format!("Bearer {}", &token[..31]).into_bytes(),
        ),
        (
            "the token twice".into(),
            format!("Bearer {token}{token}").into_bytes(),
        ),
        (
            "a NUL after the token".into(),
            [format!("Bearer {token}").as_bytes(), b"\0"].concat(),
        ),
        (
            "a DEL after the token".into(),
            [format!("Bearer {token}").as_bytes(), b"\x7f"].concat(),
        ),
        (
            "bytes that are not UTF-8".into(),
            [b"Bearer ".as_slice(), b"\xff\xfe"].concat(),
        ),
        ("empty".into(), Vec::new()),
        ("Bearer alone".into(), b"Bearer ".to_vec()),
    ];
    cases.extend(
        corpus()
            .into_iter()
            .filter(|case| !case.longer_than(8 * 1024))
            .map(|case| {
                let bytes = case.as_text().map_or_else(
                    || case.encoded.clone().into_bytes(),
                    |t| t.as_bytes().to_vec(),
                );
                (case.name, [b"Bearer ".as_slice(), &bytes].concat())
            }),
    );
    let mut findings = Findings::new();
    for (name, value) in &cases {
        let reply = raw(
            &app.address,
            "GET",
            b"/metrics",
            &[("authorization", value)],
            b"",
        )
        .await;
        findings.answered(&format!("Authorization: {name}"), &reply, &[400, 401]);
    }
    let right = format!("Bearer {token}");
    let reply = raw(
        &app.address,
        "GET",
        b"/metrics",
        &[("authorization", right.as_bytes())],
        b"",
    )
    .await;
    findings.answered("the right token", &reply, &[200]);
    findings.assert_none("Authorization on /metrics");
}

/// The headers around a form and a redirect: a `Host` naming another site (redirects stay
/// relative), bodies that are not a form, a chunked body over the limit, odd encodings asked for.
#[tokio::test]
async fn odd_request_headers_get_no_5xx_and_no_foreign_redirect() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com", "Ada").await;
    let token = browser.csrf_token("/cart").await;
    let cookies = browser.cookie_header();
    let before = Snapshot::of(&app.pool).await;
    let mut findings = Findings::new();

    let visitor = Browser::new(&app);
    for (name, headers) in [
        (
            "Host: evil.example",
            vec![("host", b"evil.example".as_slice())],
        ),
        (
            "X-Forwarded-Host: evil.example",
            vec![("x-forwarded-host", b"evil.example".as_slice())],
        ),
        (
            "Forwarded: host=evil.example",
            vec![("forwarded", b"host=evil.example;proto=https".as_slice())],
        ),
        (
            "X-Forwarded-Proto: javascript",
            vec![("x-forwarded-proto", b"javascript".as_slice())],
        ),
        (
            "a Host with a NUL",
            vec![("host", b"evil.example\0".as_slice())],
        ),
        (
            "Accept-Encoding: junk",
            vec![(
                "accept-encoding",
                b"gzip;q=NaN, br;q=-1, *;q=1e309".as_slice(),
            )],
        ),
        (
            "Accept-Language: bytes",
            vec![("accept-language", b"\xff\xfe".as_slice())],
        ),
        (
            "Referer: another site",
            vec![("referer", b"https://evil.example/".as_slice())],
        ),
        (
            "User-Agent: markup",
            vec![("user-agent", b"<script>alert(1)</script>".as_slice())],
        ),
    ] {
        for path in ["/orders", "/checkout", "/teach/courses"] {
            let reply = visitor.raw("GET", path.as_bytes(), &headers).await;
            findings.answered(&format!("{name} on {path}"), &reply, &[303, 400]);
        }
    }

    let form: &[u8] = b"application/x-www-form-urlencoded";
    // a form that would add a course, sent in ways a browser does not send one: the shop's pages
    // are UTF-8 only, so a body in another charset did not come from them and is not misread
    let add = format!("csrf_token={token}&course={}", seed::course(7).slug);
    let add_in_utf16: Vec<u8> = add.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for (name, content_type, body) in [
        ("no content type", None, add.clone().into_bytes()),
        (
            "text/plain",
            Some(b"text/plain".as_slice()),
            add.clone().into_bytes(),
        ),
        (
            "JSON",
            Some(b"application/json".as_slice()),
            format!(r#"{{"csrf_token":"{token}","course":"x"}}"#).into_bytes(),
        ),
        (
            "multipart without a boundary",
            Some(b"multipart/form-data".as_slice()),
            add.clone().into_bytes(),
        ),
        (
            "a form in UTF-16",
            Some(b"application/x-www-form-urlencoded; charset=utf-16le".as_slice()),
            add_in_utf16,
        ),
        (
            "a content type with a NUL",
            Some(b"application/x-www-form-urlencoded\0".as_slice()),
            add.clone().into_bytes(),
        ),
        ("a form of separators", Some(form), b"&&&=&=".to_vec()),
        (
            "a form with the token only",
            Some(form),
            format!("csrf_token={token}").into_bytes(),
        ),
    ] {
        let mut headers: Vec<(&str, &[u8])> = vec![("cookie", cookies.as_bytes())];
        if let Some(content_type) = content_type {
            headers.push(("content-type", content_type));
        }
        let reply = raw(&app.address, "POST", b"/cart/items", &headers, &body).await;
        findings.answered(
            &format!("POST /cart/items as {name}"),
            &reply,
            &[400, 403, 415],
        );
    }
    // a chunked body says nothing of its size up front: the limit still holds
    let huge = format!("csrf_token={token}&course={}", "a".repeat(HUGE));
    let chunked = format!("{:x}\r\n{huge}\r\n0\r\n\r\n", huge.len());
    let reply = raw(
        &app.address,
        "POST",
        b"/cart/items",
        &[
            ("cookie", cookies.as_bytes()),
            ("content-type", form),
            ("transfer-encoding", b"chunked"),
        ],
        chunked.as_bytes(),
    )
    .await;
    findings.answered("a chunked form over 64 KiB", &reply, &[413]);
    findings.unchanged(
        "odd request headers",
        &before,
        &Snapshot::of(&app.pool).await,
    );

    // signing in with another Host: the redirect is still a path here
    let signing_in = Browser::new(&app);
    let token = signing_in.csrf_token("/login").await;
    let body = format!(
        "csrf_token={token}&email={}&password={}&next=%2Forders",
        encode("ada@example.com"),
        encode(PASSWORD)
    );
    let reply = signing_in
        .raw_with_body(
            "POST",
            b"/login",
            &[("content-type", form), ("host", b"evil.example")],
            body.as_bytes(),
        )
        .await;
    findings.answered("signing in with Host: evil.example", &reply, &[303]);
    findings.expect(
        reply.location() == Some("/orders"),
        "signing in with Host: evil.example",
        || reply.summary(),
    );
    findings.assert_none("odd request headers");
}
