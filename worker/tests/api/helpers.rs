//! The test harness: the worker in-process (or as its real binary) against a database and RabbitMQ
//! names of the test's own, paid orders made by SQL, and polling for outcomes.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use shop::events::{OrderPlaced, OrderPlacedItem};
use shop::ids::{CourseId, OrderId, UserId};
use shop::metrics::{self, MessageOutcome};
use shop::money::{CURRENCY, Money};
use shop::settings::WorkerSettings;
use worker::Worker;

pub use testkit::{TcpProxy, TestDatabase, TestRabbit};

/// How long a test waits for an outcome before it fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Settings as the worker would read them from the environment, the test's own first.
pub fn settings_for(database_url: &str, overrides: &[(&str, String)]) -> WorkerSettings {
    let mut env: Vec<(&str, String)> = vec![
        ("DATABASE_URL", database_url.to_string()),
        ("WORKER_PORT", "0".to_string()),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000".to_string()),
        ("DATABASE_MAX_CONNECTIONS", "4".to_string()),
    ];
    env.extend(overrides.iter().cloned());
    WorkerSettings::from_lookup(|name| {
        env.iter()
            .rev()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("valid test settings")
}

/// The test database's URL with `proxy` in the way.
pub fn url_through(proxy: &TcpProxy, database: &TestDatabase) -> String {
    let options = PgConnectOptions::from_str(&database.url).expect("a valid URL");
    format!(
        "postgres://{}@{}/{}",
        options.get_username(),
        proxy.address,
        database.name
    )
}

/// `host:port` of the PostgreSQL server the tests use, for a proxy to forward to.
pub fn postgres_upstream() -> String {
    let options = PgConnectOptions::from_str(&testkit::admin_url()).expect("a valid URL");
    format!("{}:{}", options.get_host(), options.get_port())
}

fn telemetry_for_tests() {
    // logs only when asked for: TEST_LOG=1 cargo nextest run -p worker
    if std::env::var("TEST_LOG").is_ok() {
        worker::telemetry::init(shop::settings::LogFormat::Pretty);
    }
}

/// The worker running in this process until the test stops it (or drops it).
pub struct TestWorker {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestWorker {
    pub async fn start(settings: &WorkerSettings) -> TestWorker {
        telemetry_for_tests();
        let worker = Worker::build(settings).await.expect("the worker builds");
        let port = worker.health_port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run_until(async {
            let _ = stopped.await;
        }));
        TestWorker {
            port,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Started, and consuming (its `/readyz` says 200).
    pub async fn ready(settings: &WorkerSettings) -> TestWorker {
        let worker = TestWorker::start(settings).await;
        worker.wait_ready().await;
        worker
    }

    pub async fn wait_ready(&self) {
        let port = self.port;
        wait_until("the worker is ready", || async move {
            get(port, "/readyz").await.0 == 200
        })
        .await;
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        get(self.port, path).await
    }

    /// Asks it to stop and waits until it has (in-flight messages finished).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("the worker's task");
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the worker stops within 30 s")
            .expect("the worker's task ends normally")
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        // stops it consuming before the test's queues are deleted (so it does not declare them again)
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `GET http://127.0.0.1:{port}{path}`: status and body (599 when nothing answers).
pub async fn get(port: u16, path: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a client");
    match client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(_) => (599, String::new()),
    }
}

/// A value from the Prometheus text of `/metrics` (0 when the series is not there yet).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// Polls `condition` every 50 ms until it holds; fails the test after [`PATIENCE`].
pub async fn wait_until<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, PATIENCE, condition).await;
}

pub async fn wait_for<F, Fut>(what: &str, patience: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < patience,
            "waited {patience:?} for this in vain: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether this test has the process to itself (nextest runs each test in a process of its own),
/// so the process-wide message counters count only its own worker's messages. Under `cargo test`
/// tests share them: exact counts are then checked only where this holds.
pub fn alone_in_process() -> bool {
    std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|mode| mode == "process-per-test")
}

/// The processed-message counters of this process, to compare before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcomes {
    pub enrolled: u64,
    pub duplicate: u64,
    pub retried: u64,
    pub dead_lettered: u64,
}

impl Outcomes {
    pub fn now() -> Outcomes {
        Outcomes {
            enrolled: metrics::messages_processed(MessageOutcome::Enrolled),
            duplicate: metrics::messages_processed(MessageOutcome::Duplicate),
            retried: metrics::messages_processed(MessageOutcome::Retried),
            dead_lettered: metrics::messages_processed(MessageOutcome::DeadLettered),
        }
    }

    /// What happened since `self` was taken, once `enrolled` enrollments are counted: the commit a
    /// test sees comes before the ack, and the count after the ack.
    pub async fn once_enrolled(self, enrolled: u64) -> Outcomes {
        wait_until("the enrollment is counted", || async {
            self.since().enrolled >= enrolled
        })
        .await;
        self.since()
    }

    /// What happened since `self` was taken.
    pub fn since(self) -> Outcomes {
        let now = Outcomes::now();
        Outcomes {
            enrolled: now.enrolled - self.enrolled,
            duplicate: now.duplicate - self.duplicate,
            retried: now.retried - self.retried,
            dead_lettered: now.dead_lettered - self.dead_lettered,
        }
    }
}

/// A student with a paid order of `courses` published courses, written by SQL as checkout writes
/// it, and the `OrderPlaced` event that checkout would have put in the outbox.
pub async fn paid_order(pool: &PgPool, courses: i64) -> OrderPlaced {
    let email = format!("student-{}@courseshop.example", Uuid::new_v4().simple());
    let user: i64 = sqlx::query_scalar(
        "INSERT INTO users (email, display_name, role) VALUES ($1, 'Test Student', 'student')
         RETURNING id",
    )
    .bind(&email)
    .fetch_one(pool)
    .await
    .expect("a student");
    let bought: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, title, price_cents FROM courses WHERE published ORDER BY id LIMIT $1",
    )
    .bind(courses)
    .fetch_all(pool)
    .await
    .expect("courses");
    assert_eq!(
        bought.len() as i64,
        courses,
        "the catalog has enough courses"
    );
    let total: i64 = bought.iter().map(|(_, _, price)| price).sum();
    let mut tx = pool.begin().await.expect("a transaction");
    let order: i64 = sqlx::query_scalar(
        "INSERT INTO orders (id, user_id, status, total_cents, currency, idempotency_key)
         VALUES (next_order_id($1), $1, 'paid', $2, $3, $4) RETURNING id",
    )
    .bind(user)
    .bind(total)
    .bind(CURRENCY)
    .bind(Uuid::new_v4())
    .fetch_one(&mut *tx)
    .await
    .expect("an order");
    let items: Vec<OrderItemRow> = bought
        .iter()
        .map(|(course, title, price)| (user, order, *course, title.clone(), *price))
        .collect();
    insert_order_items(&mut tx, &items).await;
    tx.commit().await.expect("the order commits");
    OrderPlaced::new(
        OrderId(order),
        UserId(user),
        bought
            .iter()
            .map(|(course, _, price)| OrderPlacedItem {
                course_id: CourseId(*course),
                price: Money::from_cents(*price).expect("a price"),
            })
            .collect(),
    )
}

/// An `order_items` row: user, order, course, title, price in cents.
pub type OrderItemRow = (i64, i64, i64, String, i64);

pub async fn insert_order_items(connection: &mut sqlx::PgConnection, items: &[OrderItemRow]) {
    for (user, order, course, title, price) in items {
        sqlx::query(
            "INSERT INTO order_items (user_id, order_id, course_id, title, price_cents)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user)
        .bind(order)
        .bind(course)
        .bind(title)
        .bind(price)
        .execute(&mut *connection)
        .await
        .expect("an order item");
    }
}

pub async fn order_status(pool: &PgPool, event: &OrderPlaced) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE user_id = $1 AND id = $2")
        .bind(event.user_id.0)
        .bind(event.order_id.0)
        .fetch_one(pool)
        .await
        .expect("the order exists")
}

/// The student's enrollments that came from this order.
pub async fn enrollments(pool: &PgPool, event: &OrderPlaced) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM enrollments WHERE user_id = $1 AND order_id = $2")
        .bind(event.user_id.0)
        .bind(event.order_id.0)
        .fetch_one(pool)
        .await
        .expect("enrollments are readable")
}

pub async fn all_enrollments(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM enrollments")
        .fetch_one(pool)
        .await
        .expect("enrollments are readable")
}

/// Waits until the order is enrolled, then checks it has one enrollment per course.
pub async fn assert_enrolled_once(pool: &PgPool, event: &OrderPlaced) {
    wait_until("the order is enrolled", || async {
        order_status(pool, event).await == "enrolled"
    })
    .await;
    assert_eq!(
        enrollments(pool, event).await,
        event.items.len() as i64,
        "one enrollment per course"
    );
}

/// The real `enrollment-worker` binary, with its logs as JSON lines on stdout.
pub struct WorkerProcess {
    pub child: Child,
    pub port: u16,
}

impl WorkerProcess {
    /// Starts the binary with `env` (on top of the test's environment) and waits for the line
    /// that names its health port.
    pub async fn spawn(env: &[(&str, String)]) -> WorkerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_enrollment-worker"));
        command
            .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
            .env("WORKER_PORT", "0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("the worker binary starts");
        let stdout = child.stdout.take().expect("its stdout");
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        // read on a thread of its own to the end, so the worker never blocks on a full pipe
        std::thread::spawn(move || {
            let show = std::env::var("TEST_LOG").is_ok();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if show {
                    eprintln!("[enrollment-worker] {line}");
                }
                let port = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|json| json["health_port"].as_u64());
                if let Some(port) = port {
                    let _ = port_tx.send(port);
                }
            }
        });
        // polled, not blocked on: the test's runtime keeps driving its proxies meanwhile
        let started = Instant::now();
        let port = loop {
            match port_rx.try_recv() {
                Ok(port) => break port,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "the worker did not log its health port within 30 s"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    panic!("the worker exited before it logged its health port")
                }
            }
        };
        WorkerProcess {
            child,
            port: u16::try_from(port).expect("a port"),
        }
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM was sent");
    }

    /// Waits for the process to exit, failing the test after `patience`.
    pub async fn exit_within(&mut self, patience: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return status;
            }
            assert!(
                started.elapsed() < patience,
                "the worker did not exit within {patience:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("the child's status").is_some()
    }

    pub async fn metrics(&self) -> String {
        get(self.port, "/metrics").await.1
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        // never leave a worker behind a failed test
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment the binary reads, for a database URL and the test's broker names.
pub fn process_env(database_url: &str, rabbit: &TestRabbit) -> Vec<(&'static str, String)> {
    let mut env = vec![("DATABASE_URL", database_url.to_string())];
    env.extend(rabbit.overrides());
    env
}

/// The messages consumed so far by a worker, read from its `/metrics`.
pub const CONSUMED: &str = "courseshop_enrollment_messages_consumed_total";
