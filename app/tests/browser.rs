//! The student journey in a real browser: headless Chromium, driven through chromedriver (WebDriver),
//! clicks links and fills in forms as a person would, against the shop running in this process over a
//! fresh copy of the seeded catalog.
//!
//! Needs Debian's Chromium and its driver at /usr/bin/chromium and /usr/bin/chromedriver, which
//! `./scripts/test` installs. A failing step leaves a screenshot and the page's HTML, named after the
//! step, in target/test-output/browser/.

#[path = "api/helpers.rs"]
#[allow(dead_code)] // the HTTP tests' harness: this test uses only part of it
mod helpers;

use std::cell::Cell;
use std::fs::{self, File};
use std::future::Future;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use uuid::Uuid;

use helpers::{TestApp, TestRabbit, TestWorker, eventually};
use shop::topology::EnrollmentMode;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The longest any single wait (an element, a page, chromedriver answering) may take.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
/// The longest one step of the journey may take, all its waits included.
const STEP_LIMIT: Duration = Duration::from_secs(30);
/// The longest the whole journey may take.
const JOURNEY_LIMIT: Duration = Duration::from_secs(120);

const SEARCH: &str = "postgresql";
const EMAIL: &str = "ada@example.com";
const NAME: &str = "Ada Lovelace";
const PASSWORD: &str = "correct horse battery";
const CARD: &str = "4242 4242 4242 4242";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_finds_buys_and_keeps_two_courses_in_a_real_browser() {
    let app = TestApp::seeded().await;
    journey_in_a_real_browser(&app, "step0").await;
}

/// Tutorial step 2: the same journey with carts in Cosmos DB, and PostgreSQL's cart tables untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_works_with_carts_in_cosmos_db_in_a_real_browser() {
    let app = TestApp::with_cosmos_carts().await;
    journey_in_a_real_browser(&app, "step2").await;
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM carts) + (SELECT count(*) FROM cart_items)",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(rows, 0, "at step 2 no cart may be kept in PostgreSQL");
}

/// Tutorial step 3: Cosmos DB carts behind Redis, the catalog cached, sessions in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_works_with_redis_in_a_real_browser() {
    let app = TestApp::with_redis().await;
    journey_in_a_real_browser(&app, "step3").await;
}

/// Tutorial step 4: checkout leaves the order paid, the relay publishes its event, and the worker
/// enrolls it. The worker starts only once the order waits, so the order page must first say
/// "enrollment pending" and then update itself (its script polls) to "Enrolled".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_works_at_step_4_with_the_enrollment_worker_in_a_real_browser() {
    let rabbit = TestRabbit::new();
    let app = TestApp::at_step_4(&rabbit).await;
    let late_worker = {
        let app = app.other_browser_app();
        tokio::spawn(async move {
            eventually("an order waits for enrollment", JOURNEY_LIMIT, || async {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM orders WHERE status = 'paid'")
                    .fetch_one(&app.pool)
                    .await
                    .is_ok_and(|paid| paid > 0)
            })
            .await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let worker = TestWorker::start(&app, &rabbit).await;
            (worker, rabbit)
        })
    };
    journey_in_a_real_browser(&app, "step4").await;
    let (worker, _rabbit) = late_worker.await.expect("the worker started");
    worker.stop().await;
}

async fn journey_in_a_real_browser(app: &TestApp, label: &str) {
    for (binary, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(binary).is_file(),
            "{binary} is missing: the browser test drives Debian's Chromium through chromedriver. \
             Run ./scripts/test, which installs them (apt-get install chromium chromium-driver; \
             {package} is the package)."
        );
    }
    let driver = ChromeDriver::start()
        .await
        .unwrap_or_else(|error| panic!("chromedriver did not start: {error:#}"));
    let browser = driver
        .new_session()
        .await
        .unwrap_or_else(|error| panic!("Chromium did not start: {error:#}"));

    let mut journey = Journey::new(browser.clone(), &app.address, label);
    journey.enrollment_is_asynchronous = app.settings.topology.enrollment == EnrollmentMode::Async;
    let outcome = match tokio::time::timeout(JOURNEY_LIMIT, journey.run()).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("the journey took longer than {JOURNEY_LIMIT:?}")),
    };

    // the session is ended (Chromium quits) and chromedriver killed whether the journey passed or not
    let _ = tokio::time::timeout(WAIT, browser.close()).await;
    drop(driver);
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// A course as the search results showed it.
#[derive(Debug, Clone)]
struct Listed {
    title: String,
    /// `/courses/{slug}`, as in the page
    href: String,
}

/// Runs the journey's steps in order; a failing step saves what the browser showed.
struct Journey {
    browser: Client,
    base: String,
    /// Names the evidence files, so two journeys never overwrite each other's.
    label: String,
    steps: Cell<usize>,
    /// Step 4: the order page shows "enrollment pending" before "Enrolled".
    enrollment_is_asynchronous: bool,
}

impl Journey {
    fn new(browser: Client, base: &str, label: &str) -> Journey {
        Journey {
            browser,
            base: base.to_string(),
            label: label.to_string(),
            steps: Cell::new(0),
            enrollment_is_asynchronous: false,
        }
    }

    async fn run(&self) -> Result<(), String> {
        let b = &self.browser;

        self.step("open the home page", async {
            b.goto(&format!("{}/", self.base)).await?;
            wait_for_text(b, "h1", "Learn something real").await?;
            Ok(())
        })
        .await?;

        let results = self
            .step("search the catalog from the header", search(b))
            .await?;
        let first = results[0].clone();
        // two different titles, so "both are listed" cannot be satisfied by one of them twice
        let second = results
            .iter()
            .find(|course| course.title != first.title)
            .or_else(|| results.get(1))
            .cloned()
            .ok_or("the search found only one course")?;

        self.step("open the first course from the results", async {
            open_from_results(b, &first).await
        })
        .await?;
        self.step("add the first course to the cart", async {
            add_to_cart(b, 1).await
        })
        .await?;

        self.step("search again and open a second course", async {
            search(b).await?;
            open_from_results(b, &second).await
        })
        .await?;
        self.step("add the second course to the cart", async {
            add_to_cart(b, 2).await
        })
        .await?;

        self.step("open the cart from the header", async {
            click(b, r#".site-nav a[href="/cart"]"#).await?;
            wait_for_text(b, "h1", "Your cart").await?;
            expect_listed(b, "li.cart__line", &[&first, &second]).await
        })
        .await?;

        self.step("checkout asks a visitor to log in", async {
            click(b, r#".cart__actions a[href="/checkout"]"#).await?;
            wait_for_path(b, "/login").await?;
            wait_for_text(b, "h1", "Log in").await?;
            let next = find(b, r#"form[action="/login"] input[name="next"]"#)
                .await?
                .attr("value")
                .await?;
            ensure!(
                next.as_deref() == Some("/checkout"),
                "the login form returns to {next:?}"
            );
            Ok(())
        })
        .await?;

        self.step("register from the login page", async {
            b.find(Locator::LinkText("Create an account"))
                .await
                .context("the login page links to registration")?
                .click()
                .await?;
            wait_for_text(b, "h1", "Create your account").await?;
            type_into(b, r#"form[action="/register"] input[name="email"]"#, EMAIL).await?;
            type_into(
                b,
                r#"form[action="/register"] input[name="display_name"]"#,
                NAME,
            )
            .await?;
            type_into(
                b,
                r#"form[action="/register"] input[name="password"]"#,
                PASSWORD,
            )
            .await?;
            click(b, r#"form[action="/register"] button[type="submit"]"#).await?;
            // the hidden `next` field brings the new student back to the checkout
            wait_for_path(b, "/checkout").await?;
            wait_for_text(b, "h1", "Checkout").await?;
            wait_for_text(b, ".site-nav__user", NAME).await?;
            Ok(())
        })
        .await?;

        self.step("the cart kept both courses through registering", async {
            wait_for_text(b, r#".site-nav a[href="/cart"] .badge"#, "2").await?;
            click(b, r#".site-nav a[href="/cart"]"#).await?;
            wait_for_text(b, "h1", "Your cart").await?;
            expect_listed(b, "li.cart__line", &[&first, &second]).await?;
            click(b, r#".cart__actions a[href="/checkout"]"#).await?;
            wait_for_path(b, "/checkout").await?;
            wait_for_text(b, "h1", "Checkout").await?;
            Ok(())
        })
        .await?;

        self.step("pay with the test card", async {
            type_into(
                b,
                r#"form[action="/checkout"] input[name="card_number"]"#,
                CARD,
            )
            .await?;
            let pay = find(b, r#"form[action="/checkout"] button[type="submit"]"#).await?;
            let label = pay.text().await?;
            ensure!(
                label.starts_with("Pay"),
                "the checkout button says {label:?}"
            );
            pay.click().await?;
            wait_for_path(b, "/orders/").await?;
            if self.enrollment_is_asynchronous {
                wait_for_text(b, r#"[data-testid="order-status"]"#, "enrollment pending").await?;
            }
            wait_for_text(b, r#"[data-testid="order-status"]"#, "Enrolled").await?;
            expect_listed(b, "li.cart__line", &[&first, &second]).await
        })
        .await?;

        self.step("My courses lists both", my_courses(b, &first, &second))
            .await?;

        self.step("log out from the header", async {
            click(b, r#"form[action="/logout"] button"#).await?;
            wait_for_text(b, ".site-nav a", "Log in").await?;
            ensure!(
                b.find_all(Locator::Css(".site-nav__user"))
                    .await?
                    .is_empty(),
                "still signed in after logging out"
            );
            Ok(())
        })
        .await?;

        self.step("log in again", async {
            click(b, r#".site-nav a[href="/login"]"#).await?;
            wait_for_text(b, "h1", "Log in").await?;
            type_into(b, r#"form[action="/login"] input[name="email"]"#, EMAIL).await?;
            type_into(
                b,
                r#"form[action="/login"] input[name="password"]"#,
                PASSWORD,
            )
            .await?;
            click(b, r#"form[action="/login"] button[type="submit"]"#).await?;
            wait_for_text(b, ".site-nav__user", NAME).await?;
            Ok(())
        })
        .await?;

        self.step(
            "My courses still lists both after logging in",
            my_courses(b, &first, &second),
        )
        .await?;
        Ok(())
    }

    /// Runs one step within `STEP_LIMIT`. On failure the screenshot and the page's HTML are saved
    /// under the step's name, and the error says where.
    async fn step<T>(
        &self,
        name: &str,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T, String> {
        let number = self.steps.get() + 1;
        self.steps.set(number);
        let started = Instant::now();
        let outcome = match tokio::time::timeout(STEP_LIMIT, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(anyhow!("the step took longer than {STEP_LIMIT:?}")),
        };
        match outcome {
            Ok(value) => {
                eprintln!("ok   {number:02} {name} ({:.1?})", started.elapsed());
                Ok(value)
            }
            Err(error) => {
                eprintln!("FAIL {number:02} {name} ({:.1?})", started.elapsed());
                let evidence = self
                    .save_evidence(&format!("{}-{number:02}-{}", self.label, slug(name)))
                    .await;
                Err(format!(
                    "browser journey ({}) failed at step {number} \"{name}\": {error:#}\n{evidence}",
                    self.label
                ))
            }
        }
    }

    /// Saves a PNG screenshot and the page's HTML; says where, or why not.
    async fn save_evidence(&self, file_stem: &str) -> String {
        let directory = output_directory();
        if let Err(error) = fs::create_dir_all(&directory) {
            return format!("  (could not create {}: {error})", directory.display());
        }
        let mut report = Vec::new();
        if let Ok(Ok(url)) = tokio::time::timeout(WAIT, self.browser.current_url()).await {
            report.push(format!("  page:       {url}"));
        }
        let screenshot = directory.join(format!("{file_stem}.png"));
        report.push(
            match tokio::time::timeout(WAIT, self.browser.screenshot()).await {
                Ok(Ok(png)) => match fs::write(&screenshot, png) {
                    Ok(()) => format!("  screenshot: {}", screenshot.display()),
                    Err(error) => format!("  screenshot not saved: {error}"),
                },
                Ok(Err(error)) => format!("  screenshot not taken: {error}"),
                Err(_) => "  screenshot not taken: the browser did not answer".to_string(),
            },
        );
        let html = directory.join(format!("{file_stem}.html"));
        report.push(
            match tokio::time::timeout(WAIT, self.browser.source()).await {
                Ok(Ok(source)) => match fs::write(&html, source) {
                    Ok(()) => format!("  html:       {}", html.display()),
                    Err(error) => format!("  html not saved: {error}"),
                },
                Ok(Err(error)) => format!("  html not read: {error}"),
                Err(_) => "  html not read: the browser did not answer".to_string(),
            },
        );
        let report = report.join("\n");
        eprintln!("{report}");
        report
    }
}

/// target/test-output/browser/ in the workspace.
fn output_directory() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")));
    workspace.join("target").join("test-output").join("browser")
}

fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

// ---- what a person does on the shop's pages ----

/// Types the search word into the header's search box and submits it; the courses found, in order.
async fn search(b: &Client) -> Result<Vec<Listed>> {
    type_into(b, "form.site-search input[name=\"q\"]", SEARCH).await?;
    click(b, "form.site-search button[type=\"submit\"]").await?;
    wait_for_path(b, "/courses").await?;
    wait_for_text(b, ".result-count", "Showing").await?;
    let mut listed = Vec::new();
    for link in b
        .find_all(Locator::Css(".card-grid .card__title a"))
        .await?
    {
        listed.push(Listed {
            title: link.text().await?,
            href: link.attr("href").await?.unwrap_or_default(),
        });
    }
    ensure!(
        listed.len() >= 2,
        "searching {SEARCH:?} found {} courses, the journey needs two",
        listed.len()
    );
    Ok(listed)
}

async fn open_from_results(b: &Client, course: &Listed) -> Result<()> {
    click(b, &format!(".card-grid a[href=\"{}\"]", course.href)).await?;
    wait_for_path(b, &course.href).await?;
    wait_for_text(b, "h1", &course.title).await?;
    Ok(())
}

/// Clicks "Add to cart" on a course's page; the header then counts `in_cart` courses.
async fn add_to_cart(b: &Client, in_cart: usize) -> Result<()> {
    let button = find(b, "form[action=\"/cart/items\"] button[type=\"submit\"]").await?;
    let label = button.text().await?;
    ensure!(label == "Add to cart", "the button says {label:?}");
    button.click().await?;
    wait_for_text(b, ".flash", "Added to your cart.").await?;
    wait_for_text(
        b,
        ".site-nav a[href=\"/cart\"] .badge",
        &in_cart.to_string(),
    )
    .await?;
    Ok(())
}

async fn my_courses(b: &Client, first: &Listed, second: &Listed) -> Result<()> {
    click(b, ".site-nav a[href=\"/my/courses\"]").await?;
    wait_for_path(b, "/my/courses").await?;
    wait_for_text(b, "h1", "My courses").await?;
    expect_listed(b, ".my-courses .card__title", &[first, second]).await
}

/// Each course is linked, under its title, from an element matching `container`.
async fn expect_listed(b: &Client, container: &str, courses: &[&Listed]) -> Result<()> {
    for course in courses {
        let css = format!("{container} a[href=\"{}\"]", course.href);
        let text = find(b, &css).await?.text().await?;
        ensure!(
            text.trim() == course.title,
            "{css} says {text:?}, not {:?}",
            course.title
        );
    }
    Ok(())
}

// ---- bounded waits ----

async fn find(b: &Client, css: &str) -> Result<Element> {
    b.wait()
        .at_most(WAIT)
        .every(POLL)
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("no element matches {css} within {WAIT:?}"))
}

async fn click(b: &Client, css: &str) -> Result<()> {
    find(b, css)
        .await?
        .click()
        .await
        .with_context(|| format!("clicking {css}"))
}

/// Clears a field and types `text` into it, key by key.
async fn type_into(b: &Client, css: &str, text: &str) -> Result<()> {
    let field = find(b, css).await?;
    field.clear().await?;
    field
        .send_keys(text)
        .await
        .with_context(|| format!("typing into {css}"))
}

/// Waits until an element matching `css` shows `needle` (the page may still be changing: elements of
/// the page being left are retried, not failed on).
async fn wait_for_text(b: &Client, css: &str, needle: &str) -> Result<Element> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut seen = Vec::new();
        if let Ok(elements) = b.find_all(Locator::Css(css)).await {
            for element in elements {
                if let Ok(text) = element.text().await {
                    if text.contains(needle) {
                        return Ok(element);
                    }
                    seen.push(text);
                }
            }
        }
        if Instant::now() >= deadline {
            bail!("no {css} showing {needle:?} within {WAIT:?} (there is {seen:?})");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the browser is at a path starting with `prefix` (the query is not compared).
async fn wait_for_path(b: &Client, prefix: &str) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let url = b.current_url().await?;
        if url.path().starts_with(prefix) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("still at {url} after {WAIT:?}, expected {prefix}");
        }
        tokio::time::sleep(POLL).await;
    }
}

// ---- chromedriver and Chromium ----

/// chromedriver on a free loopback port, leading a process group of its own (the Chromium it starts
/// joins it). Dropping it kills the group, so nothing outlives the test, even when it fails.
struct ChromeDriver {
    child: Child,
    url: String,
    /// Chromium's profile and chromedriver's output, removed at the end.
    scratch: PathBuf,
}

impl ChromeDriver {
    async fn start() -> Result<ChromeDriver> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .context("no free loopback port")?
            .port();
        let scratch = std::env::temp_dir().join(format!(
            "courseshop-browser-test-{}",
            Uuid::new_v4().simple()
        ));
        fs::create_dir_all(scratch.join("profile"))
            .with_context(|| format!("creating {}", scratch.display()))?;
        let log = File::create(scratch.join("chromedriver.log"))?;
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("running {CHROMEDRIVER}"))?;
        let mut driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            scratch,
        };
        driver.wait_until_ready().await?;
        Ok(driver)
    }

    /// Polls `/status` until chromedriver says it is ready.
    async fn wait_until_ready(&mut self) -> Result<()> {
        let client = reqwest::Client::builder().timeout(WAIT).build()?;
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{CHROMEDRIVER} exited ({status}): {}", self.output().trim());
            }
            if let Ok(response) = client.get(format!("{}/status", self.url)).send().await
                && let Ok(status) = response.json::<serde_json::Value>().await
                && status["value"]["ready"] == json!(true)
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{CHROMEDRIVER} did not answer on {} within {WAIT:?}: {}",
                    self.url,
                    self.output().trim()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A WebDriver session on a headless Chromium with a fresh profile.
    async fn new_session(&self) -> Result<Client> {
        let profile = self.scratch.join("profile");
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "pageLoad": WAIT.as_millis() as u64, "script": WAIT.as_millis() as u64 },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1024",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            bail!("capabilities are a JSON object");
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let session = builder.connect(&self.url);
        match tokio::time::timeout(3 * WAIT, session).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(error)) => Err(anyhow!("{error}: {}", self.output().trim())),
            Err(_) => bail!("no session within {:?}: {}", 3 * WAIT, self.output().trim()),
        }
    }

    /// What chromedriver printed (kept short).
    fn output(&self) -> String {
        let output = fs::read_to_string(self.scratch.join("chromedriver.log")).unwrap_or_default();
        let start = output.len().saturating_sub(2000);
        output.get(start..).unwrap_or(output.as_str()).to_string()
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // the whole group: chromedriver and any Chromium a failed run left behind
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.scratch);
    }
}
