//! The pages anyone may read: the catalog's query parameters, a course's slug, static files, and
//! query strings on every other read-only page.

use super::corpus::{Decoded, Hostile, compact, corpus};
use super::probe::{Browser, Findings, Reply, Snapshot, shop_with};

/// What `/courses?{parameter}={case}` must answer. Malformed escapes and text that is not UTF-8
/// are refused before anything is parsed; a URL too long for the server gets its own 4xx; a blank
/// value means "not given". `q` refuses control characters (a NUL reaches PostgreSQL otherwise)
/// and more than 200 characters, and searches for anything else. The other parameters take a few
/// known values: a slug-shaped category that does not exist is a 404, a page past the end too.
fn expected(parameter: &str, case: &Hostile) -> &'static [u16] {
    match &case.decoded {
        Decoded::NotUtf8 | Decoded::BadEscape => return &[400],
        Decoded::Text(_) if case.longer_than(8 * 1024) => return &[400, 414, 431],
        Decoded::Text(_) => {}
    }
    match parameter {
        "q" if case.has_control() || case.longer_than(200) => &[400],
        "q" => &[200],
        _ if case.is_blank() => &[200],
        "category" => &[400, 404],
        // `+1` is the number 1
        "page" => &[200, 400, 404],
        _ => &[400],
    }
}

#[tokio::test]
async fn every_catalog_parameter_answers_the_corpus_without_a_5xx_or_a_change() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    let before = Snapshot::of(&app.pool).await;
    let mut findings = Findings::new();
    for parameter in ["q", "category", "level", "sort", "page"] {
        // every control character on its own in the free text; grouped in the closed lists
        let cases = if parameter == "q" {
            corpus()
        } else {
            compact()
        };
        for case in cases {
            let reply = browser
                .get(&format!("/courses?{parameter}={}", case.encoded))
                .await;
            let name = format!("/courses?{parameter}= {}", case.name);
            findings.answered(&name, &reply, expected(parameter, &case));
        }
    }
    findings.unchanged(
        "the catalog's GETs",
        &before,
        &Snapshot::of(&app.pool).await,
    );
    findings.assert_none("/courses?q=&category=&level=&sort=&page=");
}

/// The named cases of issue 13: a NUL in the search text reached PostgreSQL, which refuses it in
/// `text` with an error, and the visitor got a 500.
#[tokio::test]
async fn a_nul_or_line_break_in_the_search_is_a_400_page_not_a_500() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    let mut findings = Findings::new();
    for (case, query) in [
        ("a NUL alone", "q=%00"),
        ("a NUL inside a word", "q=rust%00course"),
        ("a NUL with a category", "q=rust%00&category=databases"),
        ("a CR LF at the end", "q=rust%0D%0A"),
        ("a DEL", "q=%7F"),
        ("a C1 control (U+0085)", "q=rust%C2%85"),
    ] {
        let reply = browser.get(&format!("/courses?{query}")).await;
        findings.answered(case, &reply, &[400]);
        findings.expect(
            reply
                .header("content-type")
                .is_some_and(|value| value.starts_with("text/html")),
            case,
            || "the shop's HTML error page".to_string(),
        );
    }
    findings.assert_none("NUL in the search");
}

/// `%` and `_` are LIKE's wildcards and `:*` a prefix search: as search text they are characters,
/// not a way to list (or scan) the whole catalog.
#[tokio::test]
async fn wildcards_in_the_search_match_nothing_special() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    let everything = browser.get("/courses").await;
    assert_eq!(everything.status, 200);
    let mut findings = Findings::new();
    for (case, query) in [
        ("LIKE percent", "%25"),
        ("LIKE underscore", "_"),
        ("LIKE pattern", "%25_%25"),
        ("prefix operator", "%3A*"),
        ("negation only", "!"),
    ] {
        let reply = browser.get(&format!("/courses?q={query}")).await;
        findings.answered(case, &reply, &[200]);
        let listed = reply.body.matches(r#"<h3 class="card__title">"#).count();
        findings.expect(listed == 0, case, || {
            format!("{listed} courses listed for a search of wildcards alone")
        });
    }
    findings.assert_none("wildcards in the search");
}

/// A repeated or unknown parameter, or a parameter without a name or value: the shop may refuse
/// it (400) or take one value, but never fails.
#[tokio::test]
async fn duplicated_and_odd_parameters_are_refused_or_read_never_a_5xx() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    let mut findings = Findings::new();
    for (case, query) in [
        ("duplicated q", "q=rust&q=go"),
        ("duplicated q, one with a NUL", "q=rust&q=%00"),
        ("duplicated page", "page=1&page=2"),
        ("duplicated sort", "sort=newest&sort=price_asc"),
        ("duplicated category", "category=databases&category=web"),
        ("duplicated level", "level=beginner&level=advanced"),
        ("a parameter without a value", "q"),
        ("a value without a name", "=rust"),
        ("only separators", "&&&;;"),
        ("an array-style name", "q[]=rust"),
        ("a NUL as the name", "%00=1"),
        ("a name that is not UTF-8", "%ff=1"),
        ("an equals sign in the value", "q=a=b"),
        ("an unknown parameter with a NUL", "utm_source=%00"),
        ("a fragment-looking value", "q=%23top"),
    ] {
        let reply = browser.get(&format!("/courses?{query}")).await;
        findings.answered(case, &reply, &[200, 400]);
    }
    findings.assert_none("odd query strings on /courses");
}

/// `/courses/{slug}` with every value as the slug, sent byte for byte (a client library would
/// resolve `..` before the shop saw it), and bytes no client should put in a request line.
#[tokio::test]
async fn a_course_address_with_a_hostile_slug_is_a_4xx() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    let before = Snapshot::of(&app.pool).await;
    let mut findings = Findings::new();
    for case in corpus() {
        let target = format!("/courses/{}", case.encoded);
        let reply = browser.raw("GET", target.as_bytes(), &[]).await;
        let allowed: &[u16] = if case.longer_than(8 * 1024) {
            &[400, 404, 414, 431]
        } else {
            &[400, 404]
        };
        findings.answered(&format!("/courses/ {}", case.name), &reply, allowed);
    }
    for (case, target) in RAW_TARGETS {
        let target = [b"/courses/".as_slice(), target].concat();
        let reply = browser.raw("GET", &target, &[]).await;
        findings.answered(case, &reply, &[400, 404]);
    }
    findings.unchanged("course pages", &before, &Snapshot::of(&app.pool).await);
    findings.assert_none("/courses/{slug}");
}

/// Request-line tails that are not a percent-encoded path: traversal as written, and raw bytes.
const RAW_TARGETS: [(&str, &[u8]); 9] = [
    ("traversal as written", b"../../etc/passwd"),
    ("traversal with an escaped slash", b"..%2f..%2fCargo.toml"),
    (
        "traversal with escaped backslashes",
        b"..%5c..%5cCargo.toml",
    ),
    ("a raw NUL in the request line", b"rust\0course"),
    ("a raw DEL in the request line", b"rust\x7fcourse"),
    ("raw bytes that are not UTF-8", b"\xff\xfe"),
    ("a raw tab in the request line", b"rust\tcourse"),
    (
        "a raw CR LF in the request line",
        b"x\r\nX-Injected: 1\r\nfoo: bar",
    ),
    ("a NUL before a file suffix", b"rust%00.html"),
];

/// The one directory of files the shop serves is compiled in: nothing else on disk is reachable,
/// however the name is spelled.
#[tokio::test]
async fn static_files_cannot_be_escaped_from() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    let mut findings = Findings::new();
    for case in corpus() {
        let target = format!("/static/{}", case.encoded);
        let reply = browser.raw("GET", target.as_bytes(), &[]).await;
        // a 100 KiB name may be refused by the HTTP layer before routing
        let allowed: &[u16] = if case.longer_than(8 * 1024) {
            &[400, 404, 414, 431]
        } else {
            &[400, 404]
        };
        no_file_served(
            &mut findings,
            &format!("/static/ {}", case.name),
            &reply,
            allowed,
        );
    }
    for (case, target) in [
        ("up to the crate", b"/static/../Cargo.toml".as_slice()),
        ("up to the workspace", b"/static/../../Cargo.toml"),
        ("an escaped slash", b"/static/..%2f..%2fCargo.toml"),
        ("escaped dots", b"/static/%2e%2e/%2e%2e/Cargo.toml"),
        ("escaped backslashes", b"/static/..%5c..%5cCargo.toml"),
        ("an absolute path", b"/static//etc/passwd"),
        ("a NUL before a suffix", b"/static/shop.css%00.txt"),
        ("a trailing slash", b"/static/shop.css/"),
        ("a known file in a subdirectory", b"/static/css/shop.css"),
        ("a raw NUL", b"/static/shop.css\0"),
    ] {
        let reply = browser.raw("GET", target, &[]).await;
        no_file_served(&mut findings, case, &reply, &[400, 404]);
    }
    findings.assert_none("/static/{file}");
}

fn no_file_served(findings: &mut Findings, case: &str, reply: &Reply, allowed: &[u16]) {
    findings.answered(case, reply, allowed);
    findings.expect(
        !reply.body.contains("[workspace]")
            && !reply.body.contains("[package]")
            && !reply.body.contains("root:"),
        case,
        || "a file outside /static was served".to_string(),
    );
}

/// Every other page reads no parameter: junk in its query string (as a value, or as a name) is
/// ignored or refused, never a 5xx. Signed-in pages send a visitor to log in, on this site.
#[tokio::test]
async fn read_only_pages_ignore_or_refuse_a_hostile_query_string() {
    let app = shop_with(Vec::new()).await;
    let browser = Browser::new(&app);
    let before = Snapshot::of(&app.pool).await;
    let mut findings = Findings::new();
    let pages = [
        "/",
        "/cart",
        "/checkout",
        "/orders",
        "/my/courses",
        "/teach/courses",
        "/teach/courses/new",
        "/about/architecture",
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/shop.css",
    ];
    for page in pages {
        for case in compact()
            .into_iter()
            .filter(|case| !case.longer_than(8 * 1024))
        {
            for (shape, query) in [
                ("as a value", format!("x={}", case.encoded)),
                ("as a name", format!("{}=1", case.encoded)),
            ] {
                let methods: &[&str] = if shape == "as a value" {
                    &["GET", "HEAD"]
                } else {
                    &["GET"]
                };
                for method in methods {
                    let target = format!("{page}?{query}");
                    let reply = browser.raw(method, target.as_bytes(), &[]).await;
                    let name = format!("{method} {page}?… {} {shape}", case.name);
                    findings.answered(&name, &reply, &[200, 303, 400]);
                }
            }
        }
    }
    findings.unchanged("read-only pages", &before, &Snapshot::of(&app.pool).await);
    findings.assert_none("query strings on read-only pages");
}
