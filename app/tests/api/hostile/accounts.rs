//! Registering, logging in and out: every field of both forms, `next` in the query string and in
//! the form, and a copied session cookie replayed after logout.

use super::corpus::{Decoded, HUGE, Hostile, compact, corpus, encode};
use super::probe::{
    Browser, Findings, PASSWORD, Reply, Snapshot, hidden_field, same_site, shop_with,
};

const EMAIL: &str = "ada@example.com";

/// What a registration with `case` in one field may do: refuse (nothing stored) or register
/// exactly the account typed (one user and its sign-in, nothing else).
enum Outcome {
    Refused,
    Registered,
    Either,
}

fn registration_outcome(field: &str, case: &Hostile) -> Outcome {
    match &case.decoded {
        _ if case.longer_than(HUGE - 1) => Outcome::Refused,
        // stored as `�` otherwise: not what was sent
        Decoded::NotUtf8 => Outcome::Refused,
        Decoded::BadEscape => Outcome::Either,
        // a name is trimmed first: a line break at its end is gone before it is judged
        Decoded::Text(text) if field == "display_name" && case.has_control() => {
            if text.trim().chars().any(char::is_control) {
                Outcome::Refused
            } else {
                Outcome::Either
            }
        }
        Decoded::Text(_) if case.has_control() => Outcome::Refused,
        Decoded::Text(text) => match field {
            "display_name" if case.is_blank() || text.trim().chars().count() > 80 => {
                Outcome::Refused
            }
            "display_name" => Outcome::Registered,
            "password" if text.chars().count() > 128 => Outcome::Refused,
            "password" => Outcome::Registered,
            // the email's own rules decide; either way nothing else may change
            _ => Outcome::Either,
        },
    }
}

/// One hostile value in one field of the registration form, the others valid. Emails carry the
/// value inside an address's shape and passwords after ten valid characters, so the shape and
/// length rules do not hide what the value itself does.
#[tokio::test]
async fn registration_refuses_or_stores_exactly_what_was_typed() {
    let app = shop_with(Vec::new()).await;
    let mut findings = Findings::new();
    let mut n = 0;
    let mut before = Snapshot::of(&app.pool).await;
    for field in ["email", "display_name", "password"] {
        // every control character on its own in the name, which every page shows; grouped in
        // the email (its shape rule refuses any) and the password (each accepted one costs a hash)
        let cases = if field == "display_name" {
            corpus()
        } else {
            compact()
        };
        for case in cases {
            n += 1;
            let email = format!("student{n}@example.org");
            let value = match field {
                "email" => case.inside(&format!("student{n}"), "@example.org"),
                "password" => case.inside("correct horse ", ""),
                _ => case.clone(),
            };
            let mut fields = vec![
                ("email", encode(&email)),
                ("display_name", encode("Ada")),
                ("password", encode(PASSWORD)),
            ];
            for (name, encoded) in &mut fields {
                if *name == field {
                    *encoded = value.encoded.clone();
                }
            }
            let browser = Browser::new(&app);
            let token = browser.csrf_token("/register").await;
            let mut body: Vec<(&str, &str)> = vec![("csrf_token", &token)];
            body.extend(fields.iter().map(|(name, value)| (*name, value.as_str())));
            let reply = browser.post_encoded("/register", &body).await;
            let after = Snapshot::of(&app.pool).await;
            let name = format!("register {field}= {}", case.name);
            match registration_outcome(field, &value) {
                Outcome::Refused => {
                    // the whole form over 64 KiB is refused before it is read
                    let statuses: &[u16] = if case.longer_than(HUGE - 1) {
                        &[413]
                    } else {
                        &[400, 422]
                    };
                    findings.answered(&name, &reply, statuses);
                    findings.unchanged(&name, &before, &after);
                }
                Outcome::Registered => {
                    findings.answered(&name, &reply, &[303]);
                    registered_only(&mut findings, &name, &before, &after);
                }
                Outcome::Either => {
                    findings.answered(&name, &reply, &[303, 400, 422]);
                    if reply.status == 303 {
                        registered_only(&mut findings, &name, &before, &after);
                    } else {
                        findings.unchanged(&name, &before, &after);
                    }
                }
            }
            if reply.status == 303 {
                let stored: Option<(String, String)> = sqlx::query_as(
                    "SELECT email, display_name FROM users ORDER BY id DESC LIMIT 1",
                )
                .fetch_optional(&app.pool)
                .await
                .expect("the newest user");
                if let (Some((stored_email, stored_name)), Some(text)) = (stored, value.as_text()) {
                    let expected = match field {
                        "email" => (text.trim().to_lowercase(), "Ada".to_string()),
                        "display_name" => (email.clone(), text.trim().to_string()),
                        _ => (email.clone(), "Ada".to_string()),
                    };
                    findings.expect(
                        (stored_email.clone(), stored_name.clone()) == expected,
                        &name,
                        || format!("stored {stored_email:?} / {stored_name:?}, sent {expected:?}"),
                    );
                }
                // the name is shown in every page's header: escaped there
                findings
                    .answered_safely(&format!("{name}, the next page"), &browser.get("/").await);
            }
            before = after;
        }
    }
    findings.assert_none("the registration form");
}

fn registered_only(findings: &mut Findings, case: &str, before: &Snapshot, after: &Snapshot) {
    let changed = after.changed_since(before);
    findings.expect(
        changed
            .iter()
            .all(|table| table == "users" || table == "user_sessions")
            && after.count("users") == before.count("users") + 1,
        case,
        || format!("registering changed {changed:?}"),
    );
}

/// Every value in the login form's fields, for an account that exists: a wrong answer (422), a
/// form too large (413), never a 5xx, and no sign-in.
#[tokio::test]
async fn login_fields_never_sign_in_with_a_hostile_value() {
    let app = shop_with(Vec::new()).await;
    Browser::new(&app).register(EMAIL, "Ada").await;
    let mut findings = Findings::new();
    let mut browser = Browser::new(&app);
    let mut token = browser.csrf_token("/login").await;
    for (field, cases) in [("email", compact()), ("password", compact())] {
        for case in cases {
            let value = match field {
                // inside the real address: a lenient comparison would sign in
                "email" => case.inside("ada", "@example.com"),
                _ => case.clone(),
            };
            let (email, password) = match field {
                "email" => (value.encoded.clone(), encode(PASSWORD)),
                _ => (encode(EMAIL), value.encoded.clone()),
            };
            let before = Snapshot::of(&app.pool).await;
            let reply = browser
                .post_encoded(
                    "/login",
                    &[
                        ("csrf_token", &token),
                        ("email", &email),
                        ("password", &password),
                    ],
                )
                .await;
            let name = format!("login {field}= {}", case.name);
            // an empty fragment leaves the real address: that one signs in, as it should
            let the_real_address = field == "email" && value.as_text() == Some(EMAIL);
            if the_real_address {
                findings.answered(&name, &reply, &[303]);
                // signed in, with a new token: a fresh visitor for the next case
                browser = Browser::new(&app);
                token = browser.csrf_token("/login").await;
                continue;
            }
            let expected: &[u16] = if case.longer_than(HUGE - 1) {
                &[413]
            } else {
                &[400, 422]
            };
            findings.answered(&name, &reply, expected);
            findings.unchanged(&name, &before, &Snapshot::of(&app.pool).await);
        }
    }
    findings.assert_none("the login form");
}

/// `next` values that, if followed, would leave the site or break the `Location` header. The
/// first ones are issue 13's named cases.
fn redirect_attacks() -> Vec<(&'static str, String)> {
    vec![
        (
            "tab open redirect /\\t/evil.example/",
            "/\t/evil.example/".into(),
        ),
        ("CR LF injection", "/\r\nLocation: //evil.example".into()),
        ("CR LF header injection", "/\r\nX-Injected: 1".into()),
        ("NUL after the slash", "/\0".into()),
        ("DEL after the slash", "/\u{7f}".into()),
        ("C1 NEL before another host", "/\u{85}/evil.example".into()),
        ("line feed before another host", "/\n/evil.example".into()),
        ("escape sequence", "/\u{1b}[31m".into()),
        ("protocol-relative", "//evil.example/".into()),
        ("three slashes", "///evil.example/".into()),
        ("backslash after the slash", "/\\evil.example".into()),
        ("backslash first", "\\/evil.example".into()),
        ("absolute URL", "https://evil.example/".into()),
        ("scheme without slashes", "http:evil.example".into()),
        ("javascript URL", "javascript:alert(1)".into()),
        ("leading space", " /\t/evil.example".into()),
        ("escaped tab, left escaped", "/%09/evil.example/".into()),
        ("escaped NUL, left escaped", "/%00".into()),
        ("escaped slash", "/%2f/evil.example".into()),
        ("dot segment", "/.//evil.example".into()),
        ("very long", format!("/{}", "a".repeat(5_000))),
    ]
}

/// The redirect attacks, issue 13's literal form body, then the corpus after a leading slash.
fn next_cases() -> Vec<Hostile> {
    let mut cases: Vec<Hostile> = redirect_attacks()
        .into_iter()
        .map(|(name, next)| Hostile::text(name, next))
        .collect();
    cases.push(Hostile::escaped(
        "issue 13's literal next=/%09/evil.example/",
        "/%09/evil.example/",
    ));
    cases.extend(
        compact()
            .into_iter()
            .filter(|case| !case.longer_than(HUGE - 1))
            .map(|case| {
                let mut case = case.inside("/", "");
                case.name = format!("/ then {}", case.name);
                case
            }),
    );
    cases
}

/// What a sign-in sent to `next` may answer: refuse it (4xx, and then nothing is done, not half
/// a sign-in), or sign in and go to a same-site path.
fn signed_in_or_refused(
    findings: &mut Findings,
    case: &str,
    reply: &Reply,
    before: &Snapshot,
    after: &Snapshot,
    adds_user: bool,
) {
    findings.answered(case, reply, &[303, 400]);
    if reply.status == 303 {
        let changed = after.changed_since(before);
        let expected: &[&str] = if adds_user {
            &["user_sessions", "users"]
        } else {
            &["user_sessions"]
        };
        findings.expect(
            changed
                .iter()
                .all(|table| expected.contains(&table.as_str())),
            case,
            || format!("signing in changed {changed:?}"),
        );
    } else {
        findings.unchanged(case, before, after);
    }
}

/// Issue 13's named cases: after a sign-in or a registration, `next` with control characters or
/// another origin gets no 5xx, and the answer's `Location` is a path on this site as a browser
/// reads it (one `/`, no control character, no backslash), or the form is refused.
#[tokio::test]
async fn next_after_sign_in_or_registration_never_leaves_the_site() {
    let app = shop_with(Vec::new()).await;
    Browser::new(&app).register(EMAIL, "Ada").await;
    let mut findings = Findings::new();
    for (n, case) in next_cases().into_iter().enumerate() {
        let name = &case.name;
        // logging in, with `next` in the form
        let browser = Browser::new(&app);
        let token = browser.csrf_token("/login").await;
        let before = Snapshot::of(&app.pool).await;
        let reply = browser
            .post_encoded(
                "/login",
                &[
                    ("csrf_token", &token),
                    ("email", &encode(EMAIL)),
                    ("password", &encode(PASSWORD)),
                    ("next", &case.encoded),
                ],
            )
            .await;
        let after = Snapshot::of(&app.pool).await;
        signed_in_or_refused(
            &mut findings,
            &format!("login next= {name}"),
            &reply,
            &before,
            &after,
            false,
        );

        // registering, with `next` in the form
        let browser = Browser::new(&app);
        let token = browser.csrf_token("/register").await;
        let before = Snapshot::of(&app.pool).await;
        let reply = browser
            .post_encoded(
                "/register",
                &[
                    ("csrf_token", &token),
                    ("email", &encode(&format!("next{n}@example.org"))),
                    ("display_name", "Ada"),
                    ("password", &encode(PASSWORD)),
                    ("next", &case.encoded),
                ],
            )
            .await;
        let after = Snapshot::of(&app.pool).await;
        signed_in_or_refused(
            &mut findings,
            &format!("register next= {name}"),
            &reply,
            &before,
            &after,
            true,
        );
    }
    findings.assert_none("next in the sign-in forms");
}

/// The open redirect as a visitor meets it: a link to `/login?next=/%09/evil.example/`. The login
/// page may refuse the link (400); if it shows the form, the `next` it carries, posted back with
/// the right password, must not send the browser to another origin. Likewise for registration.
#[tokio::test]
async fn a_link_to_the_login_page_cannot_send_the_browser_elsewhere() {
    let app = shop_with(Vec::new()).await;
    Browser::new(&app).register(EMAIL, "Ada").await;
    let mut findings = Findings::new();
    let mut links: Vec<(String, String)> = redirect_attacks()
        .into_iter()
        .map(|(name, next)| (name.to_string(), encode(&next)))
        .collect();
    links.push((
        "issue 13's literal link".to_string(),
        "/%09/evil.example/".to_string(),
    ));
    for (n, (name, next)) in links.into_iter().enumerate() {
        for page in ["/login", "/register"] {
            let case = format!("{page}?next= {name}");
            let browser = Browser::new(&app);
            let form = browser.get(&format!("{page}?next={next}")).await;
            findings.answered(&case, &form, &[200, 400]);
            if form.status != 200 {
                continue;
            }
            let carried = hidden_field(&form.body, "next").map(|value| unescape(&value));
            let carried = carried.unwrap_or_default();
            findings.expect(carried.is_empty() || same_site(&carried), &case, || {
                format!("the form carries next={carried:?}")
            });
            let token = hidden_field(&form.body, "csrf_token").expect("a token");
            let fields: Vec<(&str, String)> = if page == "/login" {
                vec![
                    ("email", EMAIL.to_string()),
                    ("password", PASSWORD.to_string()),
                ]
            } else {
                vec![
                    ("email", format!("link{n}@example.org")),
                    ("display_name", "Ada".to_string()),
                    ("password", PASSWORD.to_string()),
                ]
            };
            let mut body: Vec<(&str, &str)> = vec![("csrf_token", &token), ("next", &carried)];
            body.extend(fields.iter().map(|(name, value)| (*name, value.as_str())));
            let reply = browser.post_form(page, &body).await;
            findings.answered(&format!("{case}, posted back"), &reply, &[303]);
        }
    }
    findings.assert_none("links to the sign-in pages");
}

/// The characters askama escapes, back to what the browser submits.
fn unescape(value: &str) -> String {
    value
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// A copy of the session cookie taken while signed in (a shared computer, a stolen cookie) is
/// worth nothing after logout. At step 0 the whole session travels in the cookie, so only a
/// sign-in ended on the server can make the copy useless.
#[tokio::test]
async fn logout_ends_the_session_on_the_server_and_a_copied_cookie_is_signed_out() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    browser.register(EMAIL, "Ada").await;
    let copied = browser
        .cookie("courseshop_session")
        .expect("a signed-in session cookie");
    let thief = Browser::new(&app);
    thief.set_cookie("courseshop_session", &copied);
    assert_eq!(
        thief.get("/orders").await.status,
        200,
        "the copy works while its owner is signed in"
    );

    let token = browser.csrf_token("/").await;
    let out = browser
        .post_form("/logout", &[("csrf_token", &token)])
        .await;
    assert_eq!(out.status, 303, "{}", out.summary());

    let thief = Browser::new(&app);
    thief.set_cookie("courseshop_session", &copied);
    let mut findings = Findings::new();
    let orders = thief.get("/orders").await;
    findings.answered("the copy on /orders after logout", &orders, &[303]);
    findings.expect(
        orders.location() == Some("/login?next=/orders"),
        "the copy on /orders after logout",
        || format!("still signed in: {}", orders.summary()),
    );
    let home = thief.get("/").await;
    findings.expect(
        !home.body.contains("Signed in as"),
        "the copy on / after logout",
        || "the header still says signed in".to_string(),
    );
    findings.assert_none("logout");
}
