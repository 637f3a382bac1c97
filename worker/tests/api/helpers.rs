//! The test harness: the worker in-process (or as its real binary) against a database and RabbitMQ
//! names of the test's own, paid orders made by SQL, and polling for outcomes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use testkit::InProcess;
use uuid::Uuid;

use shop::events::{OrderPlaced, OrderPlacedItem};
use shop::ids::{CourseId, UserId};
use shop::metrics::MessageOutcome;
use shop::money::Money;
use shop::orders::{NewOrderItem, OrderStatus, insert_order};
use shop::settings::WorkerSettings;
use worker::Worker;
use worker::metrics::WorkerMetrics;

// the databases, the proxy, the broker names and polling live in the workspace's testkit crate,
// shared with the app's tests (`wait_for` is testkit's `eventually`)
pub use testkit::{
    TcpProxy, TestDatabase, TestRabbit, eventually as wait_for, url_through, wait_until,
};

/// Settings as the worker would read them from the environment (`testkit::worker_settings_for`),
/// with a pool of 4, then the test's own.
pub fn settings_for(database_url: &str, overrides: &[(&str, String)]) -> WorkerSettings {
    let mut env: Vec<(&str, String)> = vec![("DATABASE_MAX_CONNECTIONS", "4".to_string())];
    env.extend(overrides.iter().cloned());
    testkit::worker_settings_for(database_url, &env)
}

/// `host:port` of the PostgreSQL server the tests use, for a proxy to forward to.
pub fn postgres_upstream() -> String {
    let options = PgConnectOptions::from_str(&testkit::admin_url()).expect("a valid URL");
    format!("{}:{}", options.get_host(), options.get_port())
}

/// The worker running in this process until the test stops it (or drops it: `InProcess` stops it
/// consuming before the test's queues are deleted, so it does not declare them again). (The app's
/// tests have a `TestWorker` of their own, over the same `testkit::InProcess`.)
pub struct TestWorker {
    pub port: u16,
    /// What it counts, read directly (its `/metrics` shows the same).
    pub metrics: WorkerMetrics,
    running: InProcess<anyhow::Result<()>>,
}

impl TestWorker {
    pub async fn start(settings: &WorkerSettings) -> TestWorker {
        // logs only when asked for: TEST_LOG=1 cargo nextest run -p worker
        testkit::telemetry_for_tests(worker::telemetry::init);
        let worker = Worker::build(settings).await.expect("the worker builds");
        let port = worker.health_port();
        let metrics = worker.metrics();
        let running = InProcess::spawn(|stop| worker.run_until(stop));
        TestWorker {
            port,
            metrics,
            running,
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

    /// Asks it to stop and waits until it has (in-flight messages finished; at most 30 s).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.stop().await
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

/// A worker's processed-message counters when taken, to compare with later. Each worker counts
/// in a registry of its own, so a test sees only its own worker's messages.
pub struct Outcomes {
    metrics: WorkerMetrics,
    at: Counts,
}

/// Messages finished, by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub enrolled: u64,
    pub duplicate: u64,
    pub retried: u64,
    pub dead_lettered: u64,
}

impl Counts {
    fn of(metrics: &WorkerMetrics) -> Counts {
        let processed = |outcome| metrics.enrollment.messages_processed(outcome);
        Counts {
            enrolled: processed(MessageOutcome::Enrolled),
            duplicate: processed(MessageOutcome::Duplicate),
            retried: processed(MessageOutcome::Retried),
            dead_lettered: processed(MessageOutcome::DeadLettered),
        }
    }
}

impl Outcomes {
    pub fn of(worker: &TestWorker) -> Outcomes {
        Outcomes {
            at: Counts::of(&worker.metrics),
            metrics: worker.metrics.clone(),
        }
    }

    /// What happened since `self` was taken, once `enrolled` enrollments are counted: the commit a
    /// test sees comes before the ack, and the count after the ack.
    pub async fn once_enrolled(&self, enrolled: u64) -> Counts {
        wait_until("the enrollment is counted", || async {
            self.since().enrolled >= enrolled
        })
        .await;
        self.since()
    }

    /// What happened since `self` was taken.
    pub fn since(&self) -> Counts {
        let now = Counts::of(&self.metrics);
        Counts {
            enrolled: now.enrolled - self.at.enrolled,
            duplicate: now.duplicate - self.at.duplicate,
            retried: now.retried - self.at.retried,
            dead_lettered: now.dead_lettered - self.at.dead_lettered,
        }
    }
}

/// A student with a paid order of `courses` published courses, written by `insert_order` as
/// checkout writes it, and the `OrderPlaced` event that checkout would have put in the outbox.
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
    let items: Vec<NewOrderItem> = bought
        .into_iter()
        .map(|(course, title, price)| NewOrderItem {
            course: CourseId(course),
            title,
            price: Money::from_cents(price).expect("a price"),
        })
        .collect();
    let mut tx = pool.begin().await.expect("a transaction");
    let order = insert_order(
        &mut tx,
        UserId(user),
        OrderStatus::Paid,
        Uuid::new_v4(),
        &items,
        None,
    )
    .await
    .expect("an order")
    .expect("a new idempotency key");
    tx.commit().await.expect("the order commits");
    OrderPlaced::new(
        order,
        UserId(user),
        items
            .iter()
            .map(|item| OrderPlacedItem {
                course_id: item.course,
                price: item.price,
            })
            .collect(),
    )
}

pub async fn order_status(pool: &PgPool, event: &OrderPlaced) -> OrderStatus {
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
        order_status(pool, event).await == OrderStatus::Enrolled
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
