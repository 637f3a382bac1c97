//! Any instance serves any request (tutorial step 5): one student's journey spread request by
//! request over three instances that share the stores, as HAProxy spreads it, with nothing lost;
//! and one instance killed under load behind a real HAProxy, with the journey going on.

use std::cell::Cell;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shop::catalog::seed;
use shop::orders::SimulatedPaymentGateway;

use testkit::TestHaproxy;

use crate::helpers::{TestApp, TestRabbit, TestWorker, eventually};

#[tokio::test]
async fn one_students_journey_spread_over_three_instances_loses_nothing() {
    let rabbit = TestRabbit::new();
    // instances behind one address share the key that signs the session cookie (`scripts/run` makes
    // one for all of step 5's instances; Azure's come from Key Vault)
    let stores = TestApp::at_step_4_with(&rabbit, &[("SESSION_KEY", &"k".repeat(64))]).await;
    let mut instances = Vec::new();
    for name in ["shop-1", "shop-2", "shop-3"] {
        instances.push(stores.another_instance_named(name).await);
    }
    // each instance names itself where tools can read it
    for (instance, name) in instances.iter().zip(["shop-1", "shop-2", "shop-3"]) {
        let page = instance.get("/about/architecture").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.count(&format!(r#"data-instance="{name}""#)), 1);
    }

    // one browser (one cookie jar); every request goes to the next instance, so each form is read
    // on one instance and posted to another
    let browser = instances[0].other_browser_app();
    let turn = Cell::new(0);
    let next = || {
        turn.set(turn.get() + 1);
        browser.continue_on(&instances[turn.get() % instances.len()])
    };
    assert_eq!(
        next()
            .register("spread@example.com", "Spread", "correct horse battery")
            .await
            .status,
        303
    );
    for course in [3, 4] {
        let slug = seed::course(course).slug;
        let token = next().get(&format!("/courses/{slug}")).await.csrf_token();
        let added = next()
            .post_form("/cart/items", &[("csrf_token", &token), ("course", &slug)])
            .await;
        assert_eq!(added.status, 303, "{}", added.body);
    }
    let mut in_cart = next().cart_slugs().await;
    in_cart.sort();
    let mut expected = vec![seed::course(3).slug, seed::course(4).slug];
    expected.sort();
    assert_eq!(
        in_cart, expected,
        "the cart holds both lines on any instance"
    );

    let form = next().get("/checkout").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let placed = next()
        .post_form(
            "/checkout",
            &[
                ("csrf_token", &form.csrf_token()),
                ("idempotency_key", &form.idempotency_key()),
                ("card_number", SimulatedPaymentGateway::APPROVED_CARD),
            ],
        )
        .await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let order = placed.header("location").to_string();
    assert_eq!(next().get(&order).await.status, 200);

    let worker = TestWorker::start(&stores, &rabbit).await;
    eventually("the order is enrolled", Duration::from_secs(15), || async {
        next_status(&browser, &instances, &order).await == "enrolled"
    })
    .await;
    for instance in &instances {
        let mine = browser.continue_on(instance).get("/my/courses").await;
        assert!(
            mine.body.contains(&seed::course(3).title)
                && mine.body.contains(&seed::course(4).title),
            "My courses on every instance"
        );
        assert!(browser.continue_on(instance).cart_slugs().await.is_empty());
    }
    assert_eq!(stores.scalar("SELECT count(*) FROM orders").await, 1);
    assert_eq!(stores.scalar("SELECT count(*) FROM enrollments").await, 2);
    worker.stop().await;
}

/// The order's status asked of each instance in turn, until one says `enrolled`.
async fn next_status(browser: &TestApp, instances: &[TestApp], order: &str) -> String {
    for instance in instances {
        let status = browser.continue_on(instance).order_status(order).await;
        if status == "enrolled" {
            return status;
        }
    }
    "paid".to_string()
}

/// A shop instance as a process of its own (`courseshop serve` at step 0, on the test's database),
/// so the test can kill it as a crash or the kernel's OOM killer does: SIGKILL, no shutdown.
struct InstanceProcess {
    name: &'static str,
    port: u16,
    child: Child,
}

impl InstanceProcess {
    fn start(name: &'static str, database_url: &str) -> InstanceProcess {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_courseshop"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("SHOP_STEP", "0")
            .env("PORT", port.to_string())
            .env("SHOP_INSTANCE", name)
            // one key for every instance, or a cookie signed by one is refused by the next
            .env("SESSION_KEY", "k".repeat(64))
            .env("RUST_LOG", "warn")
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the instance starts");
        InstanceProcess { name, port, child }
    }

    fn kill(&mut self) {
        // `Child::kill` is SIGKILL on Unix
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for InstanceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// HAProxy's word on one server: `UP`, `DOWN`, `UP 1/2` (going down), …
async fn haproxy_status(haproxy: &TestHaproxy, server: &str) -> String {
    let csv = reqwest::get(haproxy.stats_csv_url())
        .await
        .expect("HAProxy's statistics answer")
        .text()
        .await
        .expect("a CSV body");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let column = |name: &str| header.iter().position(|field| *field == name);
    let (Some(proxy), Some(name), Some(status)) =
        (column("pxname"), column("svname"), column("status"))
    else {
        panic!("HAProxy's CSV has no pxname, svname and status columns: {csv}");
    };
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .find(|fields| fields.get(proxy) == Some(&"shop") && fields.get(name) == Some(&server))
        .and_then(|fields| fields.get(status).map(|status| status.to_string()))
        .unwrap_or_else(|| panic!("HAProxy does not list {server}: {csv}"))
}

/// Step 5's promise that one instance dying is ridden out: three instances as real processes
/// behind HAProxy configured as `scripts/run` configures it, an anonymous browsing load running
/// throughout, and one instance SIGKILLed between a student's steps. The student's journey goes on
/// to an order, HAProxy takes the dead instance out within its check budget, and no request of the
/// load fails (a refused connection is retried on another instance).
#[tokio::test]
async fn an_instance_killed_under_load_is_taken_out_and_the_journey_goes_on() {
    // the in-process app only lends the test its database and browser helpers
    let stores = TestApp::seeded().await;
    let mut instances: Vec<InstanceProcess> = ["shop-1", "shop-2", "shop-3"]
        .into_iter()
        .map(|name| InstanceProcess::start(name, &stores.database.url))
        .collect();
    for instance in &instances {
        let ready = format!("http://127.0.0.1:{}/readyz", instance.port);
        eventually(
            &format!("{} is ready", instance.name),
            Duration::from_secs(30),
            || async {
                reqwest::get(&ready)
                    .await
                    .is_ok_and(|answer| answer.status() == 200)
            },
        )
        .await;
    }
    let servers: Vec<(&str, u16)> = instances
        .iter()
        .map(|instance| (instance.name, instance.port))
        .collect();
    let haproxy = TestHaproxy::start(&servers);
    for instance in &instances {
        eventually(
            &format!("HAProxy has {} up", instance.name),
            Duration::from_secs(10),
            || async { haproxy_status(&haproxy, instance.name).await == "UP" },
        )
        .await;
    }

    let mut browser = stores.other_browser_app();
    browser.address = haproxy.url();
    assert_eq!(
        browser
            .register("survivor@example.com", "Survivor", "correct horse battery")
            .await
            .status,
        303
    );
    let add = |course: u32| {
        let browser = &browser;
        async move {
            let slug = seed::course(course).slug;
            let token = browser.get(&format!("/courses/{slug}")).await.csrf_token();
            browser
                .post_form("/cart/items", &[("csrf_token", &token), ("course", &slug)])
                .await
        }
    };
    assert_eq!(add(3).await.status, 303);

    // anonymous browsing through the front door, a request every 10 ms, until told to stop
    let running = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicU32::new(0));
    let load = tokio::spawn({
        let (running, sent, front) = (running.clone(), sent.clone(), haproxy.url());
        async move {
            let client = reqwest::Client::new();
            let mut failed = Vec::new();
            while running.load(Ordering::Relaxed) {
                sent.fetch_add(1, Ordering::Relaxed);
                match client.get(format!("{front}/courses")).send().await {
                    Ok(answer) if answer.status() == 200 => {}
                    Ok(answer) => failed.push(answer.status().to_string()),
                    Err(error) => failed.push(error.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            failed
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sent_before_kill = sent.load(Ordering::Relaxed);
    let killed_at = Instant::now();
    instances[1].kill();
    // the journey goes on at once: the next requests are due to reach the dead instance in turn
    assert_eq!(add(4).await.status, 303, "a form posted after the kill");
    let mut in_cart = browser.cart_slugs().await;
    in_cart.sort();
    let mut expected = vec![seed::course(3).slug, seed::course(4).slug];
    expected.sort();
    assert_eq!(in_cart, expected, "nothing the student did is lost");
    let placed = browser
        .check_out(SimulatedPaymentGateway::APPROVED_CARD)
        .await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    assert_eq!(browser.get(placed.header("location")).await.status, 200);

    // two failed checks a second apart (half a second once one failed): out within ~1.5 s
    eventually(
        "HAProxy takes the killed instance out",
        Duration::from_secs(5),
        || async { haproxy_status(&haproxy, "shop-2").await.starts_with("DOWN") },
    )
    .await;
    let out_after = killed_at.elapsed();
    let sent_before_out = sent.load(Ordering::Relaxed);
    assert!(
        out_after < Duration::from_secs(4),
        "taken out {out_after:?} after the kill; HAProxy: {}",
        haproxy.log()
    );
    for _ in 0..6 {
        let page = browser.get("/about/architecture").await;
        assert_eq!(page.status, 200);
        assert_eq!(
            page.count(r#"data-instance="shop-2""#),
            0,
            "no request reaches the dead instance"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.store(false, Ordering::Relaxed);
    let failed = load.await.expect("the load ran");
    let sent = sent.load(Ordering::Relaxed);
    // requests before the kill, while the dead instance was still in HAProxy, and after
    assert!(
        0 < sent_before_kill && sent_before_kill < sent_before_out && sent_before_out < sent,
        "the load ran throughout: {sent_before_kill}, {sent_before_out}, {sent} requests"
    );
    assert!(
        failed.is_empty(),
        "{} of {sent} requests failed around the kill: {failed:?}",
        failed.len()
    );
    assert_eq!(stores.scalar("SELECT count(*) FROM orders").await, 1);
    assert_eq!(stores.scalar("SELECT count(*) FROM order_items").await, 2);
    // HAProxy says so in its own log too, as an operator would read it
    assert!(
        haproxy.log().contains("shop-2 is DOWN"),
        "{}",
        haproxy.log()
    );
    drop(instances);
}
