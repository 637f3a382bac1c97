//! What the shop tells crawlers: `/robots.txt` (where not to go, where the sitemap is) and the
//! sitemap, an index (`/sitemap.xml`) of numbered files so that a catalog of any size fits the
//! protocol's 50,000 addresses a file (DESIGN §2b, "Search engines").

use actix_web::HttpResponse;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::web::{Data, Path};
use askama::Template;
use chrono::SecondsFormat;

use shop::catalog::PageNumber;

use crate::error::AppError;
use crate::state::AppState;

/// Crawlers come back when it suits them; an hour old is fresh enough, and spares the database a
/// crawler that asks for every file at once.
const SITEMAP_MAX_AGE_SECS: u32 = 3600;

/// Paths no crawler has business in: one visitor's pages, forms, operations. (A page here carries
/// `noindex` too, for crawlers that skip robots.txt and links from elsewhere.)
const DISALLOWED: [&str; 11] = [
    "/cart",
    "/checkout",
    "/orders",
    "/my/",
    "/teach/",
    "/login",
    "/register",
    "/logout",
    "/metrics",
    "/healthz",
    "/readyz",
];

/// `GET /robots.txt`
pub async fn robots(state: Data<AppState>) -> HttpResponse {
    let mut text = String::from(
        "# Courseshop: the catalog and its courses are for everyone; one visitor's pages are not.\n\
         User-agent: *\n",
    );
    for path in DISALLOWED {
        text.push_str(&format!("Disallow: {path}\n"));
    }
    text.push_str(&format!(
        "\nSitemap: {}\n",
        state.public_url.page("/sitemap.xml")
    ));
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(public_for(86_400))
        .body(text)
}

#[derive(Template)]
#[template(path = "search_engines/sitemap_index.xml")]
struct SitemapIndex {
    sitemaps: Vec<String>,
}

/// `GET /sitemap.xml`: the index of the sitemap files.
#[tracing::instrument(name = "sitemap index", skip_all)]
pub async fn sitemap_index(state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let shop = &state.public_url;
    let mut sitemaps = vec![shop.page("/sitemaps/pages.xml")];
    sitemaps.extend(
        state
            .catalog
            .sitemap_pages()
            .await?
            .into_iter()
            .map(|page| shop.page(&format!("/sitemaps/courses-{}.xml", page.get()))),
    );
    xml(&SitemapIndex { sitemaps })
}

#[derive(Template)]
#[template(path = "search_engines/sitemap.xml")]
struct Sitemap {
    urls: Vec<SitemapUrl>,
}

struct SitemapUrl {
    loc: String,
    /// W3C date and time (`2026-11-22T10:00:00Z`), when known.
    lastmod: Option<String>,
}

/// `GET /sitemaps/pages.xml`: the home page, the catalog and each category's list.
#[tracing::instrument(name = "sitemap of pages", skip_all)]
pub async fn sitemap_of_pages(state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let shop = &state.public_url;
    let mut urls: Vec<SitemapUrl> = ["/", "/courses"]
        .into_iter()
        .map(|path| SitemapUrl {
            loc: shop.page(path),
            lastmod: None,
        })
        .collect();
    // a category's list as its canonical address names it (`CatalogQuery::canonical_query_string`)
    urls.extend(
        state
            .catalog
            .categories()
            .await?
            .into_iter()
            .map(|category| SitemapUrl {
                loc: shop.page(&format!("/courses?category={}", category.slug)),
                lastmod: None,
            }),
    );
    xml(&Sitemap { urls })
}

/// `GET /sitemaps/courses-{n}.xml`: the published courses of file `n`, each with when it last
/// changed. A file the index does not list (past the last, or with no published course) is a 404.
#[tracing::instrument(name = "sitemap of courses", skip_all, fields(page = %page))]
pub async fn sitemap_of_courses(
    state: Data<AppState>,
    page: Path<String>,
) -> Result<HttpResponse, AppError> {
    let not_found = || AppError::NotFound("There is no such sitemap.".to_string());
    // digits only: `courses-+1.xml` or `courses-01.xml` would be the same file at a second address
    let page = Some(page.as_str())
        .filter(|page| !page.starts_with('0') && page.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|page| page.parse::<i64>().ok())
        .and_then(|page| PageNumber::try_from(page).ok())
        .ok_or_else(not_found)?;
    let courses = state.catalog.sitemap_page(page).await?;
    if courses.is_empty() {
        return Err(not_found());
    }
    let shop = &state.public_url;
    let urls = courses
        .into_iter()
        .map(|course| SitemapUrl {
            loc: shop.page(&format!("/courses/{}", course.slug)),
            lastmod: Some(course.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        })
        .collect();
    xml(&Sitemap { urls })
}

/// `document` as an XML response crawlers may keep for `SITEMAP_MAX_AGE_SECS`.
fn xml(document: &impl Template) -> Result<HttpResponse, AppError> {
    let body = document
        .render()
        .map_err(|error| AppError::Internal(error.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header(public_for(SITEMAP_MAX_AGE_SECS))
        .body(body))
}

/// The same for everyone, so any cache may keep it for `seconds`.
fn public_for(seconds: u32) -> CacheControl {
    CacheControl(vec![
        CacheDirective::Public,
        CacheDirective::MaxAge(seconds),
    ])
}
