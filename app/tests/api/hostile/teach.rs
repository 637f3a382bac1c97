//! Instructors' pages: every field of the course form (creating and editing), the slug and action
//! in the paths, other instructors' courses, and titles with no ASCII letter at all.

use shop::accounts::demo::{DEMO_INSTRUCTOR, DEMO_PASSWORD};
use shop::catalog::CourseSlug;

use super::corpus::{Decoded, HUGE, Hostile, compact, corpus, encode};
use super::probe::{Browser, Findings, Reply, Snapshot, demo_accounts, shop_with};
use crate::helpers::TestApp;

/// A valid course form, field by field, as plain text.
const VALID: [(&str, &str); 7] = [
    ("title", "Hostile Input Course"),
    ("summary", "Read query plans with confidence."),
    (
        "description",
        "First paragraph about plans.\n\nSecond paragraph about indexes.",
    ),
    ("category", "databases"),
    ("level", "intermediate"),
    ("duration_minutes", "240"),
    ("price", "49.99"),
];

/// The form's fields, percent-encoded, with `field` replaced by `value` (already encoded).
fn form_with(token: &str, field: &str, value: &str) -> Vec<(String, String)> {
    let mut fields = vec![("csrf_token".to_string(), token.to_string())];
    fields.extend(VALID.iter().map(|(name, text)| {
        let encoded = if *name == field {
            value.to_string()
        } else {
            encode(text)
        };
        (name.to_string(), encoded)
    }));
    fields
}

async fn post(browser: &Browser, path: &str, fields: &[(String, String)]) -> Reply {
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    browser.post_encoded(path, &fields).await
}

/// The text fields carry the value inside enough valid text that the length rules pass, so what
/// is judged is the value itself.
fn value_for(field: &str, case: &Hostile) -> Hostile {
    match field {
        "title" => case.inside("Hostile ", " course"),
        "summary" => case.inside("A summary long enough: ", " (end)"),
        "description" => case.inside("A description long enough to pass: ", " (end)"),
        _ => case.clone(),
    }
}

enum Outcome {
    Refused,
    Either,
}

/// Refused: a value that is not text, a control character in a one-line field (and in the
/// description, any but the tab and line breaks a textarea sends), a title or summary too long.
/// Anything else is the field's rules to judge, but if it is saved it is saved as sent.
fn outcome(field: &str, value: &Hostile) -> Outcome {
    let refused = match &value.decoded {
        Decoded::NotUtf8 => true,
        Decoded::BadEscape => false,
        Decoded::Text(_) => match field {
            "description" => value.has_control_beyond_paragraphs(),
            "title" => value.has_control() || value.longer_than(160),
            "summary" => value.has_control() || value.longer_than(400),
            "category" | "level" => true,
            _ => value.has_control(),
        },
    };
    if refused {
        Outcome::Refused
    } else {
        Outcome::Either
    }
}

/// The text a saved field must hold: what was sent, trimmed (a description's CR LF as LF).
fn saved_as(field: &str, value: &Hostile) -> Option<String> {
    let text = value.as_text()?;
    match field {
        "title" | "summary" => Some(text.trim().to_string()),
        "description" => Some(text.replace("\r\n", "\n").trim().to_string()),
        _ => None,
    }
}

async fn stored(app: &TestApp, slug: Option<&str>, field: &str) -> String {
    let sql = match field {
        "title" => {
            "SELECT title FROM courses WHERE slug = $1 OR ($1 IS NULL AND id = (SELECT max(id) FROM courses))"
        }
        "summary" => {
            "SELECT summary FROM courses WHERE slug = $1 OR ($1 IS NULL AND id = (SELECT max(id) FROM courses))"
        }
        _ => {
            "SELECT description FROM courses WHERE slug = $1 OR ($1 IS NULL AND id = (SELECT max(id) FROM courses))"
        }
    };
    sqlx::query_scalar(sql)
        .bind(slug)
        .fetch_one(&app.pool)
        .await
        .expect("the course")
}

async fn instructor(app: &TestApp) -> (Browser, String) {
    demo_accounts(app).await;
    let browser = Browser::new(app);
    browser.log_in(DEMO_INSTRUCTOR, DEMO_PASSWORD).await;
    let own: String = sqlx::query_scalar(
        "SELECT c.slug FROM courses c JOIN users u ON u.id = c.instructor_id
         WHERE u.email = $1 ORDER BY c.id LIMIT 1",
    )
    .bind(DEMO_INSTRUCTOR)
    .fetch_one(&app.pool)
    .await
    .expect("a course of the demo instructor");
    (browser, own)
}

/// Every field of the course form, creating (`/teach/courses`) or editing (`/teach/courses/{slug}`).
async fn course_form_answers_the_corpus(editing: bool) {
    let app = shop_with(Vec::new()).await;
    let (browser, own) = instructor(&app).await;
    let path = if editing {
        format!("/teach/courses/{own}")
    } else {
        "/teach/courses".to_string()
    };
    let token = browser.csrf_token("/teach/courses/new").await;
    let mut findings = Findings::new();
    let mut before = Snapshot::of(&app.pool).await;
    for (field, _) in VALID {
        // every control character on its own in the free text of a new course; grouped in the
        // closed fields and when editing, which reads the form with the same rules
        let free_text = matches!(field, "title" | "summary" | "description");
        let cases = if free_text && !editing {
            corpus()
        } else {
            compact()
        };
        for case in cases {
            let value = value_for(field, &case);
            let reply = post(&browser, &path, &form_with(&token, field, &value.encoded)).await;
            let after = Snapshot::of(&app.pool).await;
            let name = format!("POST {path} {field}= {}", case.name);
            if case.longer_than(HUGE - 1) {
                // the whole form is over 64 KiB
                findings.answered(&name, &reply, &[413]);
                findings.unchanged(&name, &before, &after);
            } else {
                match outcome(field, &value) {
                    Outcome::Refused => {
                        findings.answered(&name, &reply, &[400, 422]);
                        findings.unchanged(&name, &before, &after);
                    }
                    Outcome::Either => {
                        findings.answered(&name, &reply, &[303, 400, 422]);
                        if reply.status == 303 {
                            saved_only_the_course(&mut findings, &name, &before, &after, editing);
                            if let Some(expected) = saved_as(field, &value) {
                                let slug = editing.then_some(own.as_str());
                                let stored = stored(&app, slug, field).await;
                                findings.expect(stored == expected, &name, || {
                                    format!("saved {stored:?}, sent {expected:?}")
                                });
                            }
                        } else {
                            findings.unchanged(&name, &before, &after);
                        }
                    }
                }
            }
            before = after;
        }
    }
    findings.assert_none(&format!("the course form at {path}"));
}

fn saved_only_the_course(
    findings: &mut Findings,
    case: &str,
    before: &Snapshot,
    after: &Snapshot,
    editing: bool,
) {
    let changed = after.changed_since(before);
    let added = after.count("courses") - before.count("courses");
    findings.expect(
        changed.iter().all(|table| table == "courses") && added == i64::from(!editing),
        case,
        || format!("saving changed {changed:?}, {added} courses added"),
    );
}

#[tokio::test]
async fn creating_a_course_refuses_or_saves_exactly_each_hostile_field() {
    course_form_answers_the_corpus(false).await;
}

#[tokio::test]
async fn editing_a_course_refuses_or_saves_exactly_each_hostile_field() {
    course_form_answers_the_corpus(true).await;
}

/// Issue 13's named case: a NUL in a title, summary or description reached PostgreSQL (which
/// refuses it in `text`) and the instructor got a 500. It is a message beside the field, on the
/// form shown again with what was typed, and nothing is saved.
#[tokio::test]
async fn a_nul_in_a_title_summary_or_description_is_a_form_message_and_nothing_is_saved() {
    let app = shop_with(Vec::new()).await;
    let (browser, own) = instructor(&app).await;
    let token = browser.csrf_token("/teach/courses/new").await;
    let mut findings = Findings::new();
    for path in [
        "/teach/courses".to_string(),
        format!("/teach/courses/{own}"),
    ] {
        for (field, text) in [
            ("title", "Rust\0 for databases"),
            ("summary", "Read query plans\0 with confidence."),
            (
                "description",
                "First paragraph about plans.\0\n\nSecond paragraph.",
            ),
            ("title", "\0"),
        ] {
            let before = Snapshot::of(&app.pool).await;
            let reply = post(&browser, &path, &form_with(&token, field, &encode(text))).await;
            let name = format!("POST {path} with a NUL in the {field} {text:?}");
            findings.answered(&name, &reply, &[400, 422]);
            findings.expect(
                reply.body.contains(r#"name="title""#)
                    && reply.body.contains("aria-invalid=\"true\""),
                &name,
                || format!("not the form with a message: {}", reply.summary()),
            );
            findings.unchanged(&name, &before, &Snapshot::of(&app.pool).await);
        }
    }
    findings.assert_none("a NUL in the course form");
}

/// Issue 13's named case: the 21st course whose title has no ASCII letter or digit failed (every
/// such title made the same slug, and the slugs ran out). Each of 24, in several scripts and
/// several times the same title, is created with a slug of its own.
#[tokio::test]
async fn courses_titled_without_ascii_letters_are_all_created() {
    let app = shop_with(Vec::new()).await;
    let (browser, _) = instructor(&app).await;
    let token = browser.csrf_token("/teach/courses/new").await;
    let titles = [
        "データベース入門",
        "Βάσεις δεδομένων",
        "Базы данных",
        "数据库",
        "قواعد البيانات",
        "데이터베이스",
        "🦀🦀🦀",
        "!!! ???",
    ];
    let before = Snapshot::of(&app.pool).await;
    let mut findings = Findings::new();
    let mut slugs = std::collections::HashSet::new();
    for n in 0..24 {
        let title = titles[n % titles.len()];
        let reply = post(
            &browser,
            "/teach/courses",
            &form_with(&token, "title", &encode(title)),
        )
        .await;
        let name = format!("course {} titled {title:?}", n + 1);
        findings.answered(&name, &reply, &[303]);
        let slug = reply
            .location()
            .and_then(|location| location.strip_prefix("/teach/courses/"))
            .and_then(|rest| rest.strip_suffix("/edit"))
            .unwrap_or_default()
            .to_string();
        findings.expect(CourseSlug::parse(&slug).is_ok(), &name, || {
            format!(
                "not sent to the new course's edit page: {}",
                reply.summary()
            )
        });
        findings.expect(slug.is_empty() || slugs.insert(slug.clone()), &name, || {
            format!("the slug {slug} again")
        });
        if reply.status == 303 {
            let edit = browser.get(&format!("/teach/courses/{slug}/edit")).await;
            findings.answered(&format!("{name}, its edit page"), &edit, &[200]);
            findings.expect(
                edit.body.contains(title.split(' ').next().unwrap_or(title)),
                &name,
                || "its edit page does not show its title".to_string(),
            );
        }
    }
    let after = Snapshot::of(&app.pool).await;
    findings.expect(
        after.count("courses") == before.count("courses") + 24,
        "24 courses",
        || {
            format!(
                "{} created",
                after.count("courses") - before.count("courses")
            )
        },
    );
    findings.assert_none("titles without ASCII letters");
}

/// The slug and the action in the teach paths, with every value; another instructor's course;
/// a student and a visitor. Nothing changes: a 404 for what is not the instructor's own, a 403
/// for a student, the login page (on this site) for a visitor.
#[tokio::test]
async fn teach_paths_answer_hostile_slugs_and_keep_other_instructors_courses_theirs() {
    let app = shop_with(Vec::new()).await;
    let (browser, own) = instructor(&app).await;
    let token = browser.csrf_token("/teach/courses/new").await;
    let foreign: String = sqlx::query_scalar(
        "SELECT c.slug FROM courses c JOIN users u ON u.id = c.instructor_id
         WHERE u.email <> $1 ORDER BY c.id LIMIT 1",
    )
    .bind(DEMO_INSTRUCTOR)
    .fetch_one(&app.pool)
    .await
    .expect("another instructor's course");
    let form = form_with(&token, "title", &encode("Taken over"))
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    let before = Snapshot::of(&app.pool).await;
    let mut findings = Findings::new();
    let mut slugs: Vec<(String, String)> = corpus()
        .into_iter()
        .map(|case| (case.name, case.encoded))
        .collect();
    slugs.push(("another instructor's course".to_string(), foreign.clone()));
    slugs.push((
        "another instructor's course, upper-cased".to_string(),
        foreign.to_uppercase(),
    ));
    for (name, slug) in &slugs {
        let any_4xx: &[u16] = &[400, 404, 414, 431];
        let statuses: &[u16] = if slug.len() > 8 * 1024 {
            any_4xx
        } else {
            &[404]
        };
        let reply = browser
            .raw("GET", format!("/teach/courses/{slug}/edit").as_bytes(), &[])
            .await;
        findings.answered(
            &format!("GET /teach/courses/ {name} /edit"),
            &reply,
            statuses,
        );
        let reply = browser
            .raw_post(format!("/teach/courses/{slug}").as_bytes(), &form)
            .await;
        findings.answered(&format!("POST /teach/courses/ {name}"), &reply, statuses);
        for action in ["publish", "unpublish"] {
            let reply = browser
                .raw_post(
                    format!("/teach/courses/{slug}/{action}").as_bytes(),
                    &format!("csrf_token={token}"),
                )
                .await;
            findings.answered(
                &format!("POST /teach/courses/ {name} /{action}"),
                &reply,
                statuses,
            );
        }
        // the action itself
        let reply = browser
            .raw_post(
                format!("/teach/courses/{own}/{slug}").as_bytes(),
                &format!("csrf_token={token}"),
            )
            .await;
        findings.answered(
            &format!("POST /teach/courses/own/ {name} as the action"),
            &reply,
            statuses,
        );
    }
    findings.unchanged(
        "the instructor's requests",
        &before,
        &Snapshot::of(&app.pool).await,
    );

    // a student is refused, a visitor is sent to log in; neither changes anything
    let student = Browser::new(&app);
    student.register("ada@example.com", "Ada").await;
    let visitor = Browser::new(&app);
    let before = Snapshot::of(&app.pool).await;
    for (who, browser, statuses) in [
        ("student", &student, [403, 403]),
        ("visitor", &visitor, [303, 303]),
    ] {
        // every course page carries the visitor's token (the home page has no form for a visitor)
        let token = browser.csrf_token(&format!("/courses/{own}")).await;
        let form = form_with(&token, "title", &encode("Taken over"));
        for path in [
            "/teach/courses".to_string(),
            format!("/teach/courses/{own}"),
        ] {
            let reply = post(browser, &path, &form).await;
            findings.answered(&format!("{who} POST {path}"), &reply, &statuses[..1]);
        }
        let reply = browser
            .post_form(
                &format!("/teach/courses/{own}/unpublish"),
                &[("csrf_token", &token)],
            )
            .await;
        findings.answered(&format!("{who} unpublishes"), &reply, &statuses[1..]);
        let reply = browser.raw("GET", b"/teach/courses/%00/edit", &[]).await;
        findings.answered(
            &format!("{who} GET a NUL slug's edit page"),
            &reply,
            &statuses[..1],
        );
    }
    findings.unchanged(
        "students and visitors",
        &before,
        &Snapshot::of(&app.pool).await,
    );
    findings.assert_none("the teach paths");
}
