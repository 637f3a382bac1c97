//! Every page type, as the shop serves it, checked by the Nu Html Checker (vnu.jar, pinned in
//! `tools/html-check`) in one run, and for what Lighthouse's SEO audit and a screen reader need:
//! exactly one non-empty meta description, one h1, and headings that never skip a level.

use std::path::{Path, PathBuf};
use std::process::Command;

use shop::accounts::demo::{self, DEMO_INSTRUCTOR, DEMO_PASSWORD};
use shop::catalog::seed;
use shop::orders::SimulatedPaymentGateway;
use uuid::Uuid;

use crate::helpers::{Page, TestApp, TestRabbit};

const PASSWORD: &str = "correct horse battery";
const JAR_IN_WORKSPACE: &str = "tools/html-check/node_modules/vnu-jar/build/dist/vnu.jar";

/// The pages fetched so far, each under the file name it is checked as.
#[derive(Default)]
struct Pages(Vec<(String, Page)>);

impl Pages {
    /// Keeps `page` as `name`, after checking it answered `status`.
    fn keep(&mut self, name: &str, status: u16, page: Page) -> &Page {
        assert_eq!(page.status, status, "{name}: {}", page.body);
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{name} is an HTML page"
        );
        self.0.push((format!("{name}.html"), page));
        &self.0[self.0.len() - 1].1
    }
}

#[tokio::test]
async fn every_page_is_valid_html_with_a_description_and_headings_in_order() {
    let jar = vnu_jar();
    let mut pages = Pages::default();
    // what the pages should say, collected to be reported with everything else
    let mut problems = Vec::new();
    let course = seed::course(3);

    // a visitor
    let app = TestApp::seeded().await;
    demo::seed_demo_accounts(&app.pool)
        .await
        .expect("demo accounts");
    pages.keep("home", 200, app.get("/").await);
    pages.keep("catalog", 200, app.get("/courses").await);
    let word = course
        .title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .max_by_key(|word| word.len())
        .expect("a word in the title")
        .to_lowercase();
    let search = pages.keep(
        "catalog-search",
        200,
        app.get(&format!("/courses?q={word}")).await,
    );
    if !description(search).to_lowercase().contains(&word) {
        problems.push(format!(
            "catalog-search.html: the description does not name the search: {:?}",
            description(search)
        ));
    }
    let category = pages.keep(
        "catalog-category",
        200,
        app.get("/courses?category=databases&level=beginner&sort=newest")
            .await,
    );
    if !description(category).contains("Databases") {
        problems.push(format!(
            "catalog-category.html: the description does not name the category: {:?}",
            description(category)
        ));
    }
    pages.keep(
        "catalog-empty",
        200,
        app.get("/courses?q=zzyzxquuxnothing").await,
    );
    pages.keep("catalog-page-2", 200, app.get("/courses?page=2").await);
    let course_page = pages.keep(
        "course",
        200,
        app.get(&format!("/courses/{}", course.slug)).await,
    );
    if description(course_page) != course.summary {
        problems.push(format!(
            "course.html: the description is not the course's summary: {:?}",
            description(course_page)
        ));
    }
    pages.keep("cart-empty", 200, app.get("/cart").await);
    assert_eq!(app.add_to_cart(3).await.status, 303);
    pages.keep("cart", 200, app.get("/cart").await);
    pages.keep("login", 200, app.get("/login?next=/checkout").await);
    pages.keep("register", 200, app.get("/register").await);
    let token = app.get("/login").await.csrf_token();
    let wrong = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "nobody@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    pages.keep("login-error", 422, wrong);
    let token = app.get("/register").await.csrf_token();
    let invalid = app
        .post_form(
            "/register",
            &[
                ("csrf_token", &token),
                ("email", "not an email"),
                ("display_name", ""),
                ("password", "short"),
            ],
        )
        .await;
    pages.keep("register-errors", 422, invalid);
    pages.keep(
        "about-architecture",
        200,
        app.get("/about/architecture").await,
    );
    pages.keep("error-404", 404, app.get("/no/such/page").await);
    pages.keep(
        "error-404-course",
        404,
        app.get("/courses/no-such-course").await,
    );
    pages.keep("error-400", 400, app.get("/courses?page=abc").await);

    // a student (the visitor's cart comes along at registration)
    app.register("html@example.com", "Ada <Lovelace> & \"Co\"", PASSWORD)
        .await;
    pages.keep("orders-empty", 200, app.get("/orders").await);
    pages.keep("my-courses-empty", 200, app.get("/my/courses").await);
    pages.keep("checkout", 200, app.get("/checkout").await);
    let declined = app.check_out(SimulatedPaymentGateway::DECLINED_CARD).await;
    pages.keep("checkout-declined", 422, declined);
    let form = app.get("/checkout").await;
    let mistyped = app
        .post_form(
            "/checkout",
            &[
                ("csrf_token", &form.csrf_token()),
                ("idempotency_key", &form.idempotency_key()),
                ("card_number", "4242"),
            ],
        )
        .await;
    pages.keep("checkout-card-error", 422, mistyped);
    let placed = app.check_out(SimulatedPaymentGateway::APPROVED_CARD).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let order = placed.header("location").to_string();
    pages.keep("order", 200, app.get(&order).await);
    pages.keep("orders", 200, app.get("/orders").await);
    pages.keep("my-courses", 200, app.get("/my/courses").await);
    pages.keep("checkout-empty", 200, app.get("/checkout").await);
    pages.keep("error-403", 403, app.get("/teach/courses").await);

    // an instructor, in another browser
    let instructor = app.other_browser_app();
    assert_eq!(
        instructor
            .log_in(DEMO_INSTRUCTOR, DEMO_PASSWORD)
            .await
            .status,
        303
    );
    pages.keep("error-404-order", 404, instructor.get(&order).await);
    let list = pages.keep("teach-list", 200, instructor.get("/teach/courses").await);
    let edit = list
        .body
        .split(r#"<a href="/teach/courses/"#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|rest| format!("/teach/courses/{rest}"))
        .expect("the demo instructor's courses are listed");
    pages.keep("teach-new", 200, instructor.get("/teach/courses/new").await);
    pages.keep("teach-edit", 200, instructor.get(&edit).await);
    let token = instructor.get("/teach/courses/new").await.csrf_token();
    let invalid = instructor
        .post_form(
            "/teach/courses",
            &[
                ("csrf_token", &token),
                ("title", ""),
                ("summary", ""),
                ("description", ""),
                ("category", ""),
                ("level", ""),
                ("duration_minutes", "many"),
                ("price", "free"),
            ],
        )
        .await;
    pages.keep("teach-new-errors", 422, invalid);

    // step 4: what only asynchronous enrollment shows (no worker runs, so the order stays pending)
    let rabbit = TestRabbit::new();
    let step_4 = TestApp::with_async_enrollment(&rabbit).await;
    step_4
        .register("pending@example.com", "Grace", PASSWORD)
        .await;
    assert_eq!(step_4.add_to_cart(3).await.status, 303);
    let placed = step_4
        .check_out(SimulatedPaymentGateway::APPROVED_CARD)
        .await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let pending = step_4.get(placed.header("location")).await;
    assert!(
        pending.body.contains("Enrollment pending"),
        "{}",
        pending.body
    );
    pages.keep("order-pending", 200, pending);
    pages.keep("my-courses-pending", 200, step_4.get("/my/courses").await);
    pages.keep(
        "about-architecture-step-4",
        200,
        step_4.get("/about/architecture").await,
    );

    let directory = std::env::temp_dir().join(format!("courseshop-html-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&directory).expect("a directory for the pages");
    let mut files = Vec::new();
    for (name, page) in &pages.0 {
        let file = directory.join(name);
        std::fs::write(&file, &page.body).expect("the page is written");
        files.push(file);
        problems.extend(
            page_problems(&page.body)
                .into_iter()
                .map(|problem| format!("{name}: {problem}")),
        );
    }
    problems.extend(vnu_errors(&jar, &files).await);

    assert!(
        problems.is_empty(),
        "{} problems in the shop's pages (kept in {}):\n{}",
        problems.len(),
        directory.display(),
        problems.join("\n")
    );
    std::fs::remove_dir_all(&directory).expect("the pages are removed");
}

/// The Nu Html Checker's jar: `VNU_JAR` (scripts/test sets it), else where `npm ci` in
/// `tools/html-check` puts it. Missing, the test fails: an unchecked page must not pass unnoticed.
fn vnu_jar() -> PathBuf {
    let in_workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(JAR_IN_WORKSPACE);
    let from_env = std::env::var_os("VNU_JAR").map(PathBuf::from);
    match from_env {
        Some(jar) if jar.is_file() => jar,
        _ if in_workspace.is_file() => in_workspace,
        _ => panic!(
            "the Nu Html Checker is not installed: run `cd tools/html-check && npm ci` (it puts \
             vnu.jar at {JAR_IN_WORKSPACE}), or set VNU_JAR to a vnu.jar{}",
            match std::env::var("VNU_JAR") {
                Ok(jar) => format!(" (VNU_JAR={jar} is not a file)"),
                Err(_) => String::new(),
            }
        ),
    }
}

/// Runs vnu once over every file (the JVM is slow to start) and lists its errors.
async fn vnu_errors(jar: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut command = Command::new("java");
    command
        .arg("-jar")
        .arg(jar)
        .args(["--errors-only", "--format", "json"])
        .args(files);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("vnu's thread")
        .unwrap_or_else(|error| panic!("java could not be started ({error}): install a JRE"));
    // vnu writes its report to stderr; it exits 1 when it found errors
    let report = String::from_utf8_lossy(&output.stderr);
    let json: serde_json::Value = serde_json::from_str(&report).unwrap_or_else(|error| {
        panic!(
            "vnu's report is not JSON ({error}), exit {:?}:\n{report}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let messages = json["messages"].as_array().cloned().unwrap_or_default();
    let errors: Vec<String> = messages
        .iter()
        .filter(|message| message["type"] != "info")
        .map(|message| {
            let file = message["url"]
                .as_str()
                .and_then(|url| url.rsplit('/').next())
                .unwrap_or("?");
            format!(
                "{file}:{}: vnu {}: {}\n    {}",
                message["lastLine"],
                message["type"].as_str().unwrap_or("?"),
                message["message"].as_str().unwrap_or("?"),
                message["extract"].as_str().unwrap_or("").replace('\n', " ")
            )
        })
        .collect();
    assert!(
        !errors.is_empty() || output.status.success(),
        "vnu failed without saying why, exit {:?}:\n{report}",
        output.status.code()
    );
    errors
}

/// What Lighthouse's SEO audit and the heading outline need of one page.
fn page_problems(html: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let descriptions = descriptions(html);
    match descriptions.as_slice() {
        [one] if !one.trim().is_empty() => {}
        [_] => problems.push("its meta description is empty".to_string()),
        other => problems.push(format!("{} meta descriptions instead of one", other.len())),
    }
    let levels = heading_levels(html);
    if levels.iter().filter(|level| **level == 1).count() != 1 {
        problems.push(format!("not exactly one h1 (headings {levels:?})"));
    }
    let mut previous = 0;
    for level in &levels {
        if *level > previous + 1 {
            problems.push(format!(
                "h{level} follows {} (headings {levels:?})",
                if previous == 0 {
                    "no heading".to_string()
                } else {
                    format!("h{previous}")
                }
            ));
        }
        previous = *level;
    }
    problems
}

/// The `content` of each `<meta name="description">`, unescaped.
fn descriptions(html: &str) -> Vec<String> {
    html.split(r#"<meta name="description""#)
        .skip(1)
        .map(|rest| {
            let tag = rest.split('>').next().unwrap_or_default();
            let content = tag
                .split(r#"content=""#)
                .nth(1)
                .and_then(|value| value.split('"').next())
                .unwrap_or_default();
            unescape(content)
        })
        .collect()
}

/// The only description of a page (checked in full by `page_problems`).
fn description(page: &Page) -> String {
    descriptions(&page.body)
        .into_iter()
        .next()
        .unwrap_or_default()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The levels of the page's headings, in document order (`<h1`…`<h6`).
fn heading_levels(html: &str) -> Vec<u8> {
    let bytes = html.as_bytes();
    bytes
        .windows(4)
        .filter(|window| {
            window[0] == b'<'
                && window[1].eq_ignore_ascii_case(&b'h')
                && (b'1'..=b'6').contains(&window[2])
                && (window[3] == b'>' || window[3].is_ascii_whitespace())
        })
        .map(|window| window[2] - b'0')
        .collect()
}

#[test]
fn the_outline_check_catches_a_skipped_level_and_a_missing_description() {
    let skipped =
        r#"<head><meta name="description" content="x"></head><h1>a</h1><h3 class="c">b</h3>"#;
    assert_eq!(heading_levels(skipped), [1, 3]);
    assert_eq!(
        page_problems(skipped).len(),
        1,
        "{:?}",
        page_problems(skipped)
    );
    let fine = r#"<meta name="description" content="A &amp; B"><header><h1>a</h1><h2>b</h2><h3>c</h3><h2>d</h2>"#;
    assert!(page_problems(fine).is_empty(), "{:?}", page_problems(fine));
    assert_eq!(descriptions(fine), ["A & B"]);
    assert_eq!(page_problems("<h1>a</h1>").len(), 1);
    assert_eq!(
        page_problems(r#"<meta name="description" content=" "><h1>a</h1>"#).len(),
        1
    );
}
