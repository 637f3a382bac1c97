//! What search engines are told: each page's canonical address and whether it may be indexed,
//! the course pages' schema.org data, `/robots.txt` and the sitemap (DESIGN §2b, "Search engines").

use shop::accounts::demo::{self, DEMO_INSTRUCTOR, DEMO_PASSWORD};
use shop::catalog::seed;

use crate::helpers::{Page, TestApp};

const LD_JSON_OPEN: &str = r#"<script type="application/ld+json">"#;

/// The page's one `<link rel="canonical">` address, if it has one (two is a failure).
fn canonical(page: &Page) -> Option<String> {
    let links: Vec<String> = page
        .body
        .split(r#"<link rel="canonical" href=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&").replace("&#38;", "&"))
        .collect();
    assert!(links.len() <= 1, "more than one canonical link: {links:?}");
    links.into_iter().next()
}

fn noindex(page: &Page) -> bool {
    page.body
        .contains(r#"<meta name="robots" content="noindex">"#)
}

#[tokio::test]
async fn every_page_type_names_its_canonical_address_and_private_ones_are_not_indexed() {
    let app = TestApp::seeded().await;
    demo::seed_demo_accounts(&app.pool)
        .await
        .expect("demo accounts");
    let shop = &app.address;
    let slug = seed::course(3).slug;
    // (request, status, canonical path or none, indexed)
    let visitor: Vec<(String, u16, Option<String>, bool)> = vec![
        ("/".into(), 200, Some("/".into()), true),
        (
            "/?utm_source=newsletter".into(),
            200,
            Some("/".into()),
            true,
        ),
        ("/courses".into(), 200, Some("/courses".into()), true),
        (
            "/courses?category=databases".into(),
            200,
            Some("/courses?category=databases".into()),
            true,
        ),
        (
            format!("/courses/{slug}"),
            200,
            Some(format!("/courses/{slug}")),
            true,
        ),
        (
            format!("/courses/{slug}?ref=x"),
            200,
            Some(format!("/courses/{slug}")),
            true,
        ),
        // the shop's own search results, and a list with nothing on it
        (
            "/courses?q=sql".into(),
            200,
            Some("/courses?q=sql".into()),
            false,
        ),
        (
            "/courses?q=zzyzxquuxnothing".into(),
            200,
            Some("/courses?q=zzyzxquuxnothing".into()),
            false,
        ),
        ("/cart".into(), 200, Some("/cart".into()), false),
        (
            "/login?next=/checkout".into(),
            200,
            Some("/login".into()),
            false,
        ),
        ("/register".into(), 200, Some("/register".into()), false),
        (
            "/about/architecture".into(),
            200,
            Some("/about/architecture".into()),
            false,
        ),
        // error pages have no address of their own to be counted under
        ("/no/such/page".into(), 404, None, false),
        ("/courses/no-such-course".into(), 404, None, false),
        ("/courses?page=abc".into(), 400, None, false),
    ];
    for (path, status, expected, indexed) in visitor {
        let page = app.get(&path).await;
        assert_eq!(page.status, status, "{path}");
        assert_eq!(
            canonical(&page),
            expected.map(|expected| format!("{shop}{expected}")),
            "{path}"
        );
        assert_eq!(!noindex(&page), indexed, "{path} indexed");
    }

    app.register("seo@example.com", "Ada", "correct horse battery")
        .await;
    for path in ["/orders", "/my/courses", "/checkout"] {
        let page = app.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(canonical(&page), Some(format!("{shop}{path}")));
        assert!(noindex(&page), "{path} is one student's");
    }
    let instructor = app.other_browser_app();
    assert_eq!(
        instructor
            .log_in(DEMO_INSTRUCTOR, DEMO_PASSWORD)
            .await
            .status,
        303
    );
    for path in ["/teach/courses", "/teach/courses/new"] {
        let page = instructor.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(canonical(&page), Some(format!("{shop}{path}")));
        assert!(noindex(&page), "{path} is one instructor's");
    }
}

#[tokio::test]
async fn filtered_sorted_and_paged_catalog_addresses_point_at_their_canonical_form() {
    let app = TestApp::seeded().await;
    for (path, expected) in [
        ("/courses?page=1", "/courses"),
        ("/courses?sort=newest", "/courses"),
        (
            "/courses?sort=relevance&page=1&category=&level=",
            "/courses",
        ),
        (
            "/courses?page=2&sort=price_asc&utm_source=mail",
            "/courses?sort=price_asc&page=2",
        ),
        (
            "/courses?sort=newest&level=beginner&category=databases",
            "/courses?category=databases&level=beginner",
        ),
        ("/courses?q=SQL&sort=relevance", "/courses?q=SQL"),
        (
            "/courses?sort=newest&q=data+model&page=1",
            "/courses?q=data+model&sort=newest",
        ),
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        let url = canonical(&page).unwrap_or_else(|| panic!("{path} has no canonical link"));
        assert_eq!(url, format!("{}{expected}", app.address), "{path}");
        // the canonical address is a page of its own, and names itself
        let canonical_page = app.get(expected).await;
        assert_eq!(canonical_page.status, 200, "{expected}");
        assert_eq!(canonical(&canonical_page).as_deref(), Some(url.as_str()));
    }
}

/// The course page's JSON-LD data blocks, parsed.
fn structured_data(page: &Page) -> Vec<serde_json::Value> {
    page.body
        .split(LD_JSON_OPEN)
        .skip(1)
        .map(|rest| {
            let json = rest.split("</script>").next().unwrap_or_default();
            serde_json::from_str(json).unwrap_or_else(|error| panic!("not JSON ({error}): {json}"))
        })
        .collect()
}

#[tokio::test]
async fn a_course_page_carries_its_schema_org_course_and_no_title_can_break_out_of_it() {
    let app = TestApp::seeded().await;
    let seeded = seed::course(3);
    let title = r#"</script><script>alert("owned")</script> <!-- SQL & "tuning" </SCRIPT >"#;
    sqlx::query("UPDATE courses SET title = $2, price_cents = 1250 WHERE slug = $1")
        .bind(&seeded.slug)
        .bind(title)
        .execute(&app.pool)
        .await
        .expect("update");

    let page = app.get(&format!("/courses/{}", seeded.slug)).await;
    assert_eq!(page.status, 200);
    // one element, the data block, however the title tries to open or close another
    assert_eq!(page.body.to_lowercase().matches("<script").count(), 1);
    assert_eq!(page.body.to_lowercase().matches("</script").count(), 1);
    let blocks = structured_data(&page);
    assert_eq!(blocks.len(), 1);
    let course = &blocks[0];
    let url = format!("{}/courses/{}", app.address, seeded.slug);
    assert_eq!(course["@context"], "https://schema.org");
    assert_eq!(course["@type"], "Course");
    assert_eq!(course["name"], title, "the title reads back exactly");
    assert_eq!(course["description"], seeded.summary);
    assert_eq!(course["url"], url.as_str());
    assert_eq!(course["educationalLevel"], seeded.level.label());
    assert_eq!(course["provider"]["@type"], "Organization");
    assert_eq!(course["provider"]["name"], "Courseshop");
    assert_eq!(
        course["provider"]["url"],
        format!("{}/", app.address).as_str()
    );
    let offer = &course["offers"];
    assert_eq!(offer["@type"], "Offer");
    assert_eq!(offer["price"], "12.50", "currency units, two decimals");
    assert_eq!(offer["priceCurrency"], "USD");
    assert_eq!(offer["category"], "Paid");
    let instance = &course["hasCourseInstance"];
    assert_eq!(instance["@type"], "CourseInstance");
    assert_eq!(instance["courseMode"], "Online");
    assert!(
        instance["courseWorkload"]
            .as_str()
            .is_some_and(|workload| workload.starts_with("PT")),
        "{instance}"
    );
    assert_eq!(instance["instructor"]["@type"], "Person");
    assert!(
        instance["instructor"]["name"]
            .as_str()
            .is_some_and(|name| !name.is_empty() && page.body.contains(name)),
        "the instructor the page names: {instance}"
    );

    // a free course says so
    sqlx::query("UPDATE courses SET price_cents = 0 WHERE slug = $1")
        .bind(&seeded.slug)
        .execute(&app.pool)
        .await
        .expect("update");
    let page = app.get(&format!("/courses/{}", seeded.slug)).await;
    let offer = &structured_data(&page)[0]["offers"];
    assert_eq!(offer["price"], "0.00");
    assert_eq!(offer["category"], "Free");
    // the data block is not script: the policy that allows no inline script stays as it is
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // only course pages describe a course
    assert!(structured_data(&app.get("/courses").await).is_empty());
}

#[tokio::test]
async fn robots_txt_keeps_crawlers_to_the_catalog_and_names_the_sitemap() {
    let app = TestApp::seeded().await;
    let robots = app.get("/robots.txt").await;
    assert_eq!(robots.status, 200);
    assert!(robots.header("content-type").starts_with("text/plain"));
    assert!(robots.header("cache-control").contains("max-age="));
    let lines: Vec<&str> = robots.body.lines().collect();
    // every line a comment, blank, or a directive crawlers know
    for line in &lines {
        let known = line.is_empty()
            || line.starts_with('#')
            || ["User-agent: ", "Disallow: ", "Allow: ", "Sitemap: "]
                .iter()
                .any(|directive| line.starts_with(directive));
        assert!(known, "{line:?}");
    }
    assert!(lines.contains(&"User-agent: *"));
    for path in [
        "/cart",
        "/checkout",
        "/orders",
        "/my/",
        "/teach/",
        "/login",
        "/register",
        "/metrics",
    ] {
        assert!(
            lines.contains(&format!("Disallow: {path}").as_str()),
            "{path}"
        );
    }
    // nothing public is shut off: no rule is a prefix of the catalog's or a course's address
    let slug = seed::course(3).slug;
    for public in [
        "/",
        "/courses",
        "/courses?category=databases",
        &format!("/courses/{slug}"),
    ] {
        for line in &lines {
            if let Some(rule) = line.strip_prefix("Disallow: ") {
                assert!(!public.starts_with(rule), "{rule} shuts off {public}");
            }
        }
    }
    assert!(lines.contains(&format!("Sitemap: {}/sitemap.xml", app.address).as_str()));
}

/// The text of every `<tag>…</tag>` in `xml`, in order.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    xml.split(&format!("<{tag}>"))
        .skip(1)
        .filter_map(|rest| rest.split(&format!("</{tag}>")).next())
        .collect()
}

/// A small well-formedness check, enough for the sitemap's flat documents: the XML declaration,
/// tags that nest and close, and no `<` or bare `&` in text.
fn assert_well_formed(xml: &str, root: &str) {
    let body = xml
        .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
        .unwrap_or_else(|| panic!("no XML declaration first: {xml:.80}"));
    let mut open: Vec<&str> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        let text = &rest[..start];
        assert!(
            text.split('&').skip(1).all(|entity| {
                ["amp;", "lt;", "gt;", "quot;", "apos;", "#"]
                    .iter()
                    .any(|known| entity.starts_with(known))
            }),
            "a bare & in {text:?}"
        );
        let end = rest[start..].find('>').expect("a tag ends") + start;
        let tag = &rest[start + 1..end];
        let name = tag.split_whitespace().next().unwrap_or_default();
        if let Some(closing) = name.strip_prefix('/') {
            assert_eq!(open.pop(), Some(closing), "mismatched </{closing}>");
        } else {
            assert!(!tag.ends_with('/'), "no empty elements expected: <{tag}>");
            if open.is_empty() {
                assert_eq!(name, root, "the root element");
                assert!(tag.contains(r#"xmlns="http://www.sitemaps.org/schemas/sitemap/0.9""#));
            }
            open.push(name);
        }
        rest = &rest[end + 1..];
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
}

async fn published_slugs(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT slug FROM courses WHERE published ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .expect("slugs")
}

#[tokio::test]
async fn the_sitemap_lists_the_home_page_the_catalog_and_every_published_course_only() {
    let app = TestApp::seeded().await;
    let shop = &app.address;
    let index = app.get("/sitemap.xml").await;
    assert_eq!(index.status, 200);
    assert!(index.header("content-type").starts_with("application/xml"));
    assert!(index.header("cache-control").contains("public"));
    assert_well_formed(&index.body, "sitemapindex");
    assert_eq!(
        elements(&index.body, "loc"),
        [
            format!("{shop}/sitemaps/pages.xml"),
            format!("{shop}/sitemaps/courses-1.xml"),
        ]
    );

    let pages = app.get("/sitemaps/pages.xml").await;
    assert_eq!(pages.status, 200);
    assert_well_formed(&pages.body, "urlset");
    let locs = elements(&pages.body, "loc");
    assert_eq!(locs[..2], [format!("{shop}/"), format!("{shop}/courses")]);
    assert!(locs.contains(&format!("{shop}/courses?category=databases").as_str()));

    // course 53 is seeded unpublished; unpublish another to see it go
    let unpublished = seed::course(53).slug;
    let withdrawn = seed::course(7).slug;
    sqlx::query("UPDATE courses SET published = false WHERE slug = $1")
        .bind(&withdrawn)
        .execute(&app.pool)
        .await
        .expect("unpublish");
    let courses = app.get("/sitemaps/courses-1.xml").await;
    assert_eq!(courses.status, 200);
    assert_well_formed(&courses.body, "urlset");
    let listed: Vec<String> = elements(&courses.body, "loc")
        .into_iter()
        .map(|loc| {
            loc.strip_prefix(&format!("{shop}/courses/"))
                .unwrap_or_else(|| panic!("a course address: {loc}"))
                .to_string()
        })
        .collect();
    assert_eq!(listed, published_slugs(&app).await);
    assert!(!listed.contains(&unpublished) && !listed.contains(&withdrawn));
    assert_eq!(
        elements(&courses.body, "lastmod").len(),
        listed.len(),
        "every course says when it changed"
    );
    let updated: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT updated_at FROM courses WHERE slug = $1")
            .bind(seed::course(3).slug)
            .fetch_one(&app.pool)
            .await
            .expect("updated_at");
    let entry = format!(
        "<loc>{shop}/courses/{}</loc><lastmod>{}</lastmod>",
        seed::course(3).slug,
        updated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert!(courses.body.contains(&entry), "{entry}");
}

#[tokio::test]
async fn sitemap_files_are_ranges_of_course_ids_and_only_listed_files_exist() {
    let app = TestApp::seeded().await;
    // a course far past the seeded ids, in the third file of 10,000 ids; the second has none
    let far = "sitemap-range-course";
    sqlx::query(
        "INSERT INTO courses (id, slug, title, summary, description, category_id, instructor_id,
                              level, duration_minutes, price_cents, published)
         OVERRIDING SYSTEM VALUE
         SELECT 25001, $1, title, summary, description, category_id, instructor_id, level,
                duration_minutes, price_cents, true
         FROM courses WHERE slug = $2",
    )
    .bind(far)
    .bind(seed::course(3).slug)
    .execute(&app.pool)
    .await
    .expect("insert");
    assert_eq!(shop::catalog::SITEMAP_PAGE_SIZE, 10_000);

    let index = app.get("/sitemap.xml").await;
    let shop = &app.address;
    assert_eq!(
        elements(&index.body, "loc"),
        [
            format!("{shop}/sitemaps/pages.xml"),
            format!("{shop}/sitemaps/courses-1.xml"),
            format!("{shop}/sitemaps/courses-3.xml"),
        ]
    );
    let third = app.get("/sitemaps/courses-3.xml").await;
    assert_eq!(third.status, 200);
    assert_eq!(
        elements(&third.body, "loc"),
        [format!("{shop}/courses/{far}")]
    );
    assert!(!app.get("/sitemaps/courses-1.xml").await.body.contains(far));
    for missing in [
        "/sitemaps/courses-2.xml",
        "/sitemaps/courses-4.xml",
        "/sitemaps/courses-0.xml",
        "/sitemaps/courses-01.xml",
        "/sitemaps/courses-+1.xml",
        "/sitemaps/courses-x.xml",
        "/sitemaps/courses-99999999999999999999.xml",
        "/sitemaps/courses-1.txt",
    ] {
        assert_eq!(app.get(missing).await.status, 404, "{missing}");
    }
}
