//! What the hostile tests share: a browser whose cookies can be read and forged (and which can
//! send raw requests with them), a snapshot of every table the shop writes, and the checks every
//! answer must pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::raw::no_answer;
pub use super::raw::raw;
use crate::helpers::TestApp;
use reqwest::cookie::{CookieStore, Jar};
use sqlx::{AssertSqlSafe, PgPool};

/// An answer, whichever client got it. Header values are read leniently (a byte that is not
/// UTF-8 becomes `�`), so a broken `Location` is seen, not skipped.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// What the page says, for a failure report: the `<main>` element's text, or the body's start.
    pub fn excerpt(&self) -> String {
        let main = self
            .body
            .split_once(r#"<main id="main""#)
            .and_then(|(_, rest)| rest.split_once("</main>"))
            .map_or(self.body.as_str(), |(main, _)| main);
        let mut text = String::new();
        let mut in_tag = false;
        for c in main.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => {
                    in_tag = false;
                    text.push(' ');
                }
                _ if !in_tag => text.push(c),
                _ => {}
            }
        }
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = text.chars().take(180).collect();
        format!("{cut:?}")
    }

    /// "303 → /x" or "400 \"That request …\"": enough to see what happened.
    pub fn summary(&self) -> String {
        match self.location() {
            Some(location) => format!("{} → {location:?}", self.status),
            None => format!("{} {}", self.status, self.excerpt()),
        }
    }

    async fn from_response(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let bytes = response.bytes().await.unwrap_or_default();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

/// A browser on the shop: keeps cookies, follows no redirect (the checks read them), and lets
/// the test read the cookies it holds, for the raw client or to forge them.
pub struct Browser {
    pub address: String,
    client: reqwest::Client,
    jar: Arc<Jar>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser::at(&app.address)
    }

    pub fn at(address: &str) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client builds");
        Browser {
            address: address.to_string(),
            client,
            jar,
        }
    }

    fn url(&self) -> reqwest::Url {
        reqwest::Url::parse(&self.address).expect("the shop's address is a URL")
    }

    /// The `Cookie` header this browser sends.
    pub fn cookie_header(&self) -> String {
        self.jar
            .cookies(&self.url())
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .unwrap_or_default()
    }

    /// The value of cookie `name`, if this browser holds one.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookie_header()
            .split("; ")
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    }

    /// Replaces (or sets) cookie `name`, as a forger would.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/"), &self.url());
    }

    /// GET with the query string (or path) exactly as given: `reqwest` keeps escapes as they are,
    /// but resolves `..` segments, so paths that probe those go through `raw` instead.
    pub async fn get(&self, path: &str) -> Reply {
        // the HTTP client refuses a URL over 64 KiB; the shop must still answer one
        if path.len() > 8 * 1024 {
            return self.raw("GET", path.as_bytes(), &[]).await;
        }
        self.send(self.client.get(format!("{}{path}", self.address)))
            .await
    }

    /// POSTs `fields`, each already percent-encoded (so bytes that are not UTF-8 can be sent).
    pub async fn post_encoded(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = fields
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        self.post_body(path, body).await
    }

    /// POSTs `fields` as plain text, encoded here.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let encoded: Vec<(&str, String)> = fields
            .iter()
            .map(|(name, value)| (*name, super::corpus::encode(value)))
            .collect();
        let borrowed: Vec<(&str, &str)> = encoded
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        self.post_encoded(path, &borrowed).await
    }

    pub async fn post_body(&self, path: &str, body: String) -> Reply {
        self.send(
            self.client
                .post(format!("{}{path}", self.address))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        match request.send().await {
            Ok(response) => Reply::from_response(response).await,
            Err(error) => no_answer(&error.to_string()),
        }
    }

    /// A request written byte for byte, with this browser's cookies; cookies it sets are kept.
    pub async fn raw(&self, method: &str, target: &[u8], headers: &[(&str, &[u8])]) -> Reply {
        self.raw_with_body(method, target, headers, b"").await
    }

    /// A form posted to a target written byte for byte.
    pub async fn raw_post(&self, target: &[u8], body: &str) -> Reply {
        let form: &[u8] = b"application/x-www-form-urlencoded";
        self.raw_with_body("POST", target, &[("content-type", form)], body.as_bytes())
            .await
    }

    pub async fn raw_with_body(
        &self,
        method: &str,
        target: &[u8],
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Reply {
        let cookies = self.cookie_header();
        let mut all: Vec<(&str, &[u8])> = headers.to_vec();
        if !cookies.is_empty()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        {
            all.push(("cookie", cookies.as_bytes()));
        }
        let reply = raw(&self.address, method, target, &all, body).await;
        for (name, value) in &reply.headers {
            if name.eq_ignore_ascii_case("set-cookie") {
                self.jar.add_cookie_str(value, &self.url());
            }
        }
        reply
    }

    /// The CSRF token of the first form on `path`.
    pub async fn csrf_token(&self, path: &str) -> String {
        let page = self.get(path).await;
        hidden_field(&page.body, "csrf_token")
            .unwrap_or_else(|| panic!("{path} has a form with a CSRF token: {}", page.summary()))
    }

    /// Logs in through the form; panics unless it works.
    pub async fn log_in(&self, email: &str, password: &str) {
        let token = self.csrf_token("/login").await;
        let reply = self
            .post_form(
                "/login",
                &[
                    ("csrf_token", &token),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "log in as {email}: {}", reply.summary());
    }

    /// Registers a student through the form; panics unless it works.
    pub async fn register(&self, email: &str, name: &str) {
        let token = self.csrf_token("/register").await;
        let reply = self
            .post_form(
                "/register",
                &[
                    ("csrf_token", &token),
                    ("email", email),
                    ("display_name", name),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "register {email}: {}", reply.summary());
    }
}

/// The password of the students the tests register.
pub const PASSWORD: &str = "correct horse battery";

pub fn hidden_field(body: &str, name: &str) -> Option<String> {
    body.split(&format!(r#"name="{name}" value=""#))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
}

/// A `Location` a browser keeps on this site: one leading `/`, and nothing a browser reads
/// differently from the server. Browsers drop tabs and line breaks from a URL and read `\` as `/`,
/// so `/\t/evil.example` and `/\evil.example` are both `//evil.example`: another origin.
pub fn same_site(location: &str) -> bool {
    let as_browser_reads: String = location
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    location.starts_with('/')
        && !as_browser_reads.starts_with("//")
        && !location.chars().any(|c| c.is_control() || c == '\\')
}

/// Failures, collected so that one run lists every case that failed rather than the first.
#[derive(Default)]
pub struct Findings {
    failures: Vec<String>,
    cases: usize,
}

impl Findings {
    pub fn new() -> Findings {
        Findings::default()
    }

    /// Records a check of `case`; `why` is only built when it failed.
    pub fn expect(&mut self, holds: bool, case: &str, why: impl FnOnce() -> String) {
        if !holds {
            self.failures.push(format!("{case}: {}", why()));
        }
    }

    /// What every answer must be, whatever was sent: an answer (not a dropped connection), no
    /// 5xx, no redirect off the site, no header the request smuggled in, no markup echoed raw.
    pub fn answered_safely(&mut self, case: &str, reply: &Reply) {
        self.cases += 1;
        self.expect(reply.status != 0, case, || reply.body.clone());
        self.expect(reply.status < 500, case, || {
            format!("a server error: {}", reply.summary())
        });
        if (300..400).contains(&reply.status) {
            let location = reply.location().unwrap_or_default();
            self.expect(same_site(location), case, || {
                format!("redirects off the site: Location {location:?}")
            });
        }
        self.expect(
            !reply.headers.iter().any(|(name, value)| {
                name.eq_ignore_ascii_case("x-injected") || value.contains("injected=1")
            }),
            case,
            || format!("a header was injected: {:?}", reply.headers),
        );
        self.expect(
            !reply.body.contains("<script>alert(") && !reply.body.contains("<img src=x onerror"),
            case,
            || "markup from the request is echoed unescaped".to_string(),
        );
    }

    /// `answered_safely`, and a status among `statuses`.
    pub fn answered(&mut self, case: &str, reply: &Reply, statuses: &[u16]) {
        self.answered_safely(case, reply);
        // a dropped connection or a 5xx is already reported
        if reply.status != 0 && reply.status < 500 {
            self.expect(statuses.contains(&reply.status), case, || {
                format!("expected {statuses:?}, got {}", reply.summary())
            });
        }
    }

    /// Nothing changed in the database between `before` and `after`.
    pub fn unchanged(&mut self, case: &str, before: &Snapshot, after: &Snapshot) {
        let changed = after.changed_since(before);
        self.expect(changed.is_empty(), case, || {
            format!("the request changed {changed:?}")
        });
    }

    /// Panics with every failure, if there was any.
    pub fn assert_none(self, what: &str) {
        assert!(
            self.failures.is_empty(),
            "{what}: {} failed checks over {} answers:\n  {}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n  ")
        );
    }
}

/// Every table the shop writes: users, sign-ins, the catalog, carts, orders, enrollments, the outbox.
const TABLES: [&str; 10] = [
    "users",
    "user_sessions",
    "categories",
    "courses",
    "carts",
    "cart_items",
    "orders",
    "order_items",
    "enrollments",
    "outbox",
];

/// Each table's row count and the newest transaction that wrote one of its rows (`xmin`): an
/// insert or update writes a row version with a newer one, a delete lowers the count. Cheap enough
/// to take around every request (a digest of every row costs PostgreSQL ten times as much).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<String, (i64, i64)>);

impl Snapshot {
    pub async fn of(pool: &PgPool) -> Snapshot {
        let existing: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_name = ANY($1)",
        )
        .bind(TABLES.map(str::to_string).to_vec())
        .fetch_all(pool)
        .await
        .expect("the tables are listed");
        let sql = existing
            .iter()
            .map(|table| {
                format!(
                    "SELECT '{table}'::text, count(*), coalesce(max(xmin::text::bigint), 0) FROM \"{table}\""
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .expect("the snapshot is read");
        Snapshot(
            rows.into_iter()
                .map(|(table, count, newest)| (table, (count, newest)))
                .collect(),
        )
    }

    /// The tables whose rows differ.
    pub fn changed_since(&self, before: &Snapshot) -> Vec<String> {
        self.0
            .iter()
            .filter(|(table, now)| before.0.get(*table) != Some(now))
            .map(|(table, _)| table.clone())
            .collect()
    }

    pub fn count(&self, table: &str) -> i64 {
        self.0.get(table).map_or(0, |(count, _)| *count)
    }
}

/// The shop at step 0 over a copy of the seeded catalog, with `overrides`. A request waits up to
/// 5 s for a database connection rather than the suite's 1 s: these tests send thousands of
/// requests while other tests load the machine's two cores, and a 503 for a slow pool is not what
/// they probe (the outage tests do). Searches are answered by the in-memory index, as in the shop
/// people use (PostgreSQL answers the first few, until it has loaded).
pub async fn shop_with(overrides: Vec<(&'static str, String)>) -> TestApp {
    let mut settings = vec![
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "5000".to_string()),
        ("CATALOG_SEARCH", "index".to_string()),
    ];
    settings.extend(overrides);
    TestApp::seeded_with(settings).await
}

/// Gives the seeded demo accounts their password (the instructor owns a share of the catalog,
/// the student has two orders).
pub async fn demo_accounts(app: &TestApp) {
    shop::accounts::demo::seed_demo_accounts(&app.pool)
        .await
        .expect("demo accounts");
}
