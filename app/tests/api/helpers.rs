//! The test harness: a fresh database per test, the app in-process on a free port, a browser-like client.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use app::metrics::AppMetrics;
use app::startup::Application;
use shop::catalog::seed;
use shop::settings::Settings;
use testkit::InProcess;
use worker::metrics::WorkerMetrics;

// the databases, the proxy, settings and polling live in the workspace's testkit crate, shared with
// the worker's tests
pub use testkit::{TcpProxy, TestDatabase, TestPgBouncer, TestRabbit, eventually, settings_for};

/// The shop, running in this process on a free port against a database of the test's own.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    /// Held for its `Drop`, which removes the database when the test ends (shared by instances).
    pub database: Arc<TestDatabase>,
    /// What this instance was started with, so a second instance can share its stores.
    pub settings: Settings,
    /// What this instance counts (its `/metrics`), read directly.
    pub metrics: AppMetrics,
}

impl TestApp {
    pub fn database_name(&self) -> &str {
        &self.database.name
    }
}

impl TestApp {
    /// The app over a copy of the seeded catalog.
    pub async fn seeded() -> TestApp {
        TestApp::start(TestDatabase::seeded().await, None, Vec::new()).await
    }

    /// The app at tutorial step 2: carts in a Cosmos DB database of the test's own.
    pub async fn with_cosmos_carts() -> TestApp {
        let cosmos = TestCosmos::new();
        TestApp::start(TestDatabase::seeded().await, None, cosmos.overrides())
            .await
            .once_cosmos_answers()
            .await
    }

    /// The app at step 2 reaching Cosmos DB through `proxy`, so a test can cut Cosmos away.
    pub async fn with_cosmos_carts_behind(proxy: &TcpProxy) -> TestApp {
        let cosmos = TestCosmos::behind(proxy);
        TestApp::start(TestDatabase::seeded().await, None, cosmos.overrides()).await
    }

    /// The app at step 3: carts in Cosmos DB, catalog and carts cached in Redis under a key prefix
    /// of the test's own, sessions and login limits in Redis.
    pub async fn with_redis() -> TestApp {
        TestApp::with_redis_from(TestRedis::new(), &[]).await
    }

    /// Step 3 reaching Redis through `proxy`, so a test can cut Redis away.
    pub async fn with_redis_behind(proxy: &TcpProxy) -> TestApp {
        TestApp::with_redis_from(TestRedis::behind(proxy), &[]).await
    }

    /// Step 3 with more settings, e.g. `[("LOGIN_LIMIT_WINDOW_SECS", "2")]`.
    pub async fn with_redis_and(settings: &[(&'static str, &str)]) -> TestApp {
        TestApp::with_redis_from(TestRedis::new(), settings).await
    }

    async fn with_redis_from(redis: TestRedis, settings: &[(&'static str, &str)]) -> TestApp {
        let mut overrides = TestCosmos::new().overrides();
        overrides.extend(redis.overrides());
        overrides.extend(
            settings
                .iter()
                .map(|(name, value)| (*name, value.to_string())),
        );
        TestApp::start(TestDatabase::seeded().await, None, overrides)
            .await
            .once_cosmos_answers()
            .await
    }

    /// Once the test's Cosmos DB database answers the app (its `/readyz` says `up`). Databases
    /// are made on first use, and with many tests starting at once in one process the first
    /// calls can outlast the tests' short Cosmos timeout: a test starts from a working store.
    async fn once_cosmos_answers(self) -> TestApp {
        eventually(
            "the app's Cosmos DB answers",
            Duration::from_secs(20),
            || async {
                let ready: serde_json::Value =
                    serde_json::from_str(&self.get("/readyz").await.body).unwrap_or_default();
                ready["stores"].as_array().is_some_and(|stores| {
                    stores
                        .iter()
                        .any(|store| store["name"] == "cosmos" && store["status"] == "up")
                })
            },
        )
        .await;
        self
    }

    /// Checkout at step 4's asynchronous enrollment: an outbox row instead of enrollments, sent by
    /// the relay to the test's own exchange on `rabbit` (carts stay in PostgreSQL, so only the
    /// broker is added to the monolith). No worker runs until a test starts one: `TestWorker`.
    pub async fn with_async_enrollment(rabbit: &TestRabbit) -> TestApp {
        let mut overrides = vec![
            ("ENROLLMENT", "async".to_string()),
            // a missed notification costs a test at most this long
            ("OUTBOX_POLL_INTERVAL_MS", "200".to_string()),
        ];
        overrides.extend(rabbit.overrides());
        TestApp::start(TestDatabase::seeded().await, None, overrides).await
    }

    /// Step 4 as `./scripts/run` starts it: carts in Cosmos DB, Redis, and the outbox to RabbitMQ.
    pub async fn at_step_4(rabbit: &TestRabbit) -> TestApp {
        TestApp::at_step_4_with(rabbit, &[]).await
    }

    /// `at_step_4` with some settings of the test's own.
    pub async fn at_step_4_with(rabbit: &TestRabbit, settings: &[(&'static str, &str)]) -> TestApp {
        let mut overrides = TestCosmos::new().overrides();
        overrides.extend(TestRedis::new().overrides());
        overrides.extend(rabbit.overrides());
        // last, so it wins over the step the Cosmos and Redis overrides name
        overrides.push(("SHOP_STEP", "4".to_string()));
        overrides.push(("OUTBOX_POLL_INTERVAL_MS", "200".to_string()));
        overrides.extend(
            settings
                .iter()
                .map(|(key, value)| (*key, value.to_string())),
        );
        TestApp::start(TestDatabase::seeded().await, None, overrides).await
    }

    /// A second instance of the shop on its own port, sharing this one's database, Cosmos DB and
    /// Redis (as two replicas behind a load balancer do), with a browser of its own.
    pub async fn another_instance(&self) -> TestApp {
        self.another_instance_with(self.settings.clone()).await
    }

    /// `another_instance`, named `name` (`SHOP_INSTANCE`), as each instance behind HAProxy is.
    pub async fn another_instance_named(&self, name: &str) -> TestApp {
        let mut settings = self.settings.clone();
        settings.instance = name.parse().expect("a valid instance name");
        self.another_instance_with(settings).await
    }

    async fn another_instance_with(&self, settings: Settings) -> TestApp {
        let application = Application::build(&settings)
            .await
            .expect("the second instance starts");
        let address = format!("http://127.0.0.1:{}", application.port());
        let metrics = application.metrics();
        tokio::spawn(application.run_until_stopped());
        let instance = TestApp {
            address,
            client: client(),
            pool: self.pool.clone(),
            database: self.database.clone(),
            settings,
            metrics,
        };
        if instance.settings.cosmos.is_some() {
            instance.once_cosmos_answers().await
        } else {
            instance
        }
    }

    /// This shop switched to step 2 on the same database, its carts in Cosmos DB as `cosmos` says
    /// (as an operator switches, with `CART_MIGRATION=read-through` or after `carts migrate`).
    pub async fn at_step_2_on(&self, cosmos: shop::settings::CosmosSettings) -> TestApp {
        let mut settings = self.settings.clone();
        settings.topology = shop::topology::Step::CartsInCosmos.preset();
        settings.cosmos = Some(cosmos);
        self.another_instance_with(settings).await
    }

    /// Another browser (cookies of its own) on this same instance, with every `TestApp` helper.
    pub fn other_browser_app(&self) -> TestApp {
        TestApp {
            address: self.address.clone(),
            client: client(),
            pool: self.pool.clone(),
            database: self.database.clone(),
            settings: self.settings.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Moves this browser's cookies to `other` (the same person, now served by another instance).
    pub fn continue_on(&self, other: &TestApp) -> TestApp {
        TestApp {
            address: other.address.clone(),
            client: self.client.clone(),
            pool: other.pool.clone(),
            database: other.database.clone(),
            settings: other.settings.clone(),
            metrics: other.metrics.clone(),
        }
    }

    /// The app over a catalog of `courses` seeded courses of its own (slower than `seeded`).
    pub async fn with_catalog(courses: u32) -> TestApp {
        let database = TestDatabase::migrated().await;
        let pool = database.pool().await;
        seed::seed_catalog(&pool, courses).await.expect("seed");
        pool.close().await;
        TestApp::start(database, None, Vec::new()).await
    }

    /// The app over an empty, migrated database.
    pub async fn empty() -> TestApp {
        TestApp::start(TestDatabase::migrated().await, None, Vec::new()).await
    }

    /// The app reaching its database through `proxy`, so a test can cut PostgreSQL away.
    pub async fn seeded_behind(proxy: &TcpProxy) -> TestApp {
        TestApp::start(TestDatabase::seeded().await, Some(proxy), Vec::new()).await
    }

    /// Step 4's checkout (asynchronous enrollment; carts in PostgreSQL) as on Azure: every pooled
    /// connection through `pgbouncer` in transaction mode, and what needs a session of its own
    /// (the relay's LISTEN) straight to the server through `DATABASE_DIRECT_URL`.
    pub async fn through_pgbouncer(
        database: TestDatabase,
        pgbouncer: &TestPgBouncer,
        rabbit: &TestRabbit,
    ) -> TestApp {
        let mut overrides = vec![
            ("ENROLLMENT", "async".to_string()),
            ("OUTBOX_POLL_INTERVAL_MS", "200".to_string()),
            ("DATABASE_DIRECT_URL", database.url.clone()),
        ];
        overrides.extend(rabbit.overrides());
        let url = pgbouncer.url.clone();
        TestApp::start_at(database, url, overrides).await
    }

    /// The app with its database on the tests' own primary, reading the catalog from `replica_url`
    /// (the replica itself, or a proxy in front of it), then `overrides`; started once the replica
    /// is measured and in use.
    pub async fn with_replica(
        database: TestDatabase,
        replica_url: String,
        overrides: Vec<(&'static str, String)>,
    ) -> TestApp {
        let mut settings = vec![("DATABASE_REPLICA_URL", replica_url)];
        settings.extend(overrides);
        let url = database.url.clone();
        TestApp::start_at(database, url, settings).await
    }

    /// The app at the monolith step with more settings, e.g. another `DATABASE_URL` query.
    pub async fn seeded_with(overrides: Vec<(&'static str, String)>) -> TestApp {
        TestApp::start(TestDatabase::seeded().await, None, overrides).await
    }

    async fn start(
        database: TestDatabase,
        proxy: Option<&TcpProxy>,
        overrides: Vec<(&'static str, String)>,
    ) -> TestApp {
        let url = match proxy {
            Some(proxy) => testkit::url_through(proxy, &database),
            None => database.url.clone(),
        };
        TestApp::start_at(database, url, overrides).await
    }

    /// The app reaching `database` at `url` (directly, through a proxy or through a pooler).
    pub async fn start_at(
        database: TestDatabase,
        url: String,
        overrides: Vec<(&'static str, String)>,
    ) -> TestApp {
        testkit::telemetry_for_tests(app::telemetry::init);
        let overrides: Vec<(&str, &str)> = overrides
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let settings = settings_for(&url, &overrides);
        let application = Application::build(&settings)
            .await
            .expect("the app binds a port");
        let address = format!("http://127.0.0.1:{}", application.port());
        let metrics = application.metrics();
        tokio::spawn(application.run_until_stopped());
        TestApp {
            address,
            client: client(),
            pool: database.pool().await,
            database: Arc::new(database),
            settings,
            metrics,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Page::from(
            self.client
                .get(format!("{}{path}", self.address))
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// Whether `path` answers 200 again within five seconds (after a store came back).
    pub async fn recovers(&self, path: &str) -> bool {
        for _ in 0..50 {
            if self.get(path).await.status == 200 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Registers a student with this client and stays signed in.
    pub async fn register(&self, email: &str, name: &str, password: &str) -> Page {
        let token = self.get("/register").await.csrf_token();
        self.post_form(
            "/register",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("display_name", name),
                ("password", password),
            ],
        )
        .await
    }

    /// Logs in with this client.
    pub async fn log_in(&self, email: &str, password: &str) -> Page {
        let token = self.get("/login").await.csrf_token();
        self.post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Logs out with this client.
    pub async fn log_out(&self) -> Page {
        let token = self.get("/").await.csrf_token();
        self.post_form("/logout", &[("csrf_token", &token)]).await
    }

    /// The same running shop seen from another browser (its own cookie jar).
    pub fn other_browser(&self) -> Browser<'_> {
        Browser {
            app: self,
            client: client(),
        }
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Page::from(
            self.client
                .post(format!("{}{path}", self.address))
                .form(form)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }
}

/// A client that behaves like a browser: keeps cookies, does not follow redirects (tests check them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

/// A response, read whole.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub async fn from(response: reqwest::Response) -> Page {
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body read"),
        }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token of the first form on the page.
    pub fn csrf_token(&self) -> String {
        self.hidden_field("csrf_token")
    }

    /// The checkout form's key, which makes a resubmitted form one order.
    pub fn idempotency_key(&self) -> String {
        self.hidden_field("idempotency_key")
    }

    fn hidden_field(&self, name: &str) -> String {
        self.body
            .split(&format!(r#"name="{name}" value=""#))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("the page has a form with a {name} field"))
            .to_string()
    }

    /// The session cookie this response set, if any (`name=value` only).
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|cookie| cookie.starts_with("courseshop_session="))
            .map(|cookie| cookie.split(';').next().unwrap_or_default().to_string())
    }

    /// How many times `needle` occurs in the body.
    pub fn count(&self, needle: &str) -> usize {
        self.body.matches(needle).count()
    }

    /// The course links on a list page, in order.
    pub fn course_links(&self) -> Vec<String> {
        self.body
            .split(r#"<h3 class="card__title"><a href="/courses/"#)
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect()
    }
}

/// The local Cosmos DB server `scripts/test` starts (or an account named by `COSMOS_TEST_ENDPOINT`).
pub fn cosmos_endpoint() -> String {
    std::env::var("COSMOS_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "COSMOS_TEST_ENDPOINT is not set: run the suite with ./scripts/test, which starts the \
             local Cosmos DB server, or start one (node tools/cosmos-local/server.js) and set it"
        )
    })
}

/// A Cosmos DB database of the test's own, in the suite's Cosmos server. (The local server keeps
/// everything in memory and is stopped with the suite, which is when its databases go.)
pub struct TestCosmos {
    pub endpoint: String,
    pub database: String,
}

impl TestCosmos {
    pub fn new() -> TestCosmos {
        TestCosmos {
            endpoint: cosmos_endpoint(),
            database: format!("courseshop_test_{}", Uuid::new_v4().simple()),
        }
    }

    /// The same server reached through `proxy`.
    pub fn behind(proxy: &TcpProxy) -> TestCosmos {
        TestCosmos {
            endpoint: format!("http://{}/", proxy.address),
            ..TestCosmos::new()
        }
    }

    /// The address of the real server, for a proxy to forward to.
    pub fn upstream() -> String {
        let endpoint = cosmos_endpoint();
        endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }

    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SHOP_STEP", "2".to_string()),
            ("COSMOS_ENDPOINT", self.endpoint.clone()),
            (
                "COSMOS_KEY",
                std::env::var("COSMOS_TEST_KEY").unwrap_or_else(|_| EMULATOR_KEY.to_string()),
            ),
            ("COSMOS_DATABASE", self.database.clone()),
            // short, so outage tests are quick; still far above a local round trip
            ("COSMOS_TIMEOUT_MS", "1000".to_string()),
        ]
    }

    pub fn settings(&self) -> shop::settings::CosmosSettings {
        let overrides: Vec<(&str, String)> = self.overrides();
        let overrides: Vec<(&str, &str)> = overrides
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        settings_for("postgres://postgres@127.0.0.1/unused", &overrides)
            .cosmos
            .expect("step 2 has Cosmos settings")
    }
}

/// Keys of the test's own in the suite's Redis (`TEST_REDIS_URL`, default the machine's server).
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    pub fn new() -> TestRedis {
        TestRedis {
            url: redis_url(),
            prefix: format!("courseshop_test_{}:", Uuid::new_v4().simple()),
        }
    }

    /// The same server reached through `proxy`.
    pub fn behind(proxy: &TcpProxy) -> TestRedis {
        TestRedis {
            url: format!("redis://{}", proxy.address),
            ..TestRedis::new()
        }
    }

    /// The address of the real server, for a proxy to forward to.
    pub fn upstream() -> String {
        redis_url()
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_string()
    }

    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SHOP_STEP", "3".to_string()),
            ("REDIS_URL", self.url.clone()),
            ("REDIS_KEY_PREFIX", self.prefix.clone()),
            // Six test processes share two cores: a scheduling pause can outlast the default
            // 250 ms, and a cut connection fails at once whatever the timeout.
            ("REDIS_TIMEOUT_MS", "1000".to_string()),
        ]
    }
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// The Cosmos DB emulator's published key: the local server checks no key, but the SDK signs with one.
pub const EMULATOR_KEY: &str =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

/// A second browser on the same shop: another visitor, with cookies of its own.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
}

impl Browser<'_> {
    pub async fn get(&self, path: &str) -> Page {
        Page::from(
            self.client
                .get(format!("{}{path}", self.app.address))
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Page::from(
            self.client
                .post(format!("{}{path}", self.app.address))
                .form(form)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }
}

/// The enrollment worker, in this process, consuming from `rabbit` for `app`'s database. (The
/// worker's own tests have a `TestWorker` of their own, over the same `testkit::InProcess`.)
pub struct TestWorker {
    pub health: String,
    /// What it counts, read directly.
    pub metrics: WorkerMetrics,
    running: InProcess<anyhow::Result<()>>,
}

impl TestWorker {
    pub async fn start(app: &TestApp, rabbit: &TestRabbit) -> TestWorker {
        TestWorker::start_at(&app.database.url, rabbit).await
    }

    /// A worker reaching the database at `database_url` (e.g. through PgBouncer).
    pub async fn start_at(database_url: &str, rabbit: &TestRabbit) -> TestWorker {
        let settings = testkit::worker_settings_for(database_url, &rabbit.overrides());
        let worker = worker::Worker::build(&settings)
            .await
            .expect("the worker binds its port");
        let health = format!("http://127.0.0.1:{}", worker.health_port());
        let metrics = worker.metrics();
        let running = InProcess::spawn(|stop| worker.run_until(stop));
        TestWorker {
            health,
            metrics,
            running,
        }
    }

    /// Stops it as SIGTERM would: in-flight messages are finished first.
    pub async fn stop(self) {
        self.running.stop().await.expect("the worker stops cleanly");
    }
}

/// The keys of `app`'s Redis that match `pattern` under its key prefix, by `SCAN`: `KEYS` walks the
/// whole keyspace in one command, and with millions of keys left by a load test it holds Redis
/// for seconds, stalling every other test's shop.
pub async fn redis_keys(app: &TestApp, pattern: &str) -> Vec<String> {
    let redis = app.settings.redis.as_ref().expect("step 3");
    let mut connection = redis::Client::open(redis.url.expose())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is reachable");
    let pattern = format!("{}{pattern}", redis.key_prefix);
    let (mut keys, mut cursor) = (Vec::new(), 0_u64);
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}
