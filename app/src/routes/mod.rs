//! HTTP in, a domain call, a page out. One file per page group.

pub mod accounts;
mod architecture;
mod assets;
mod cart;
mod catalog;
pub mod health;
mod home;
mod metrics;
mod orders;
mod search_engines;
mod teach;

use actix_web::{Route, guard, web};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", read().to(home::home))
        .route("/courses", read().to(catalog::courses))
        .route("/courses/{slug}", read().to(catalog::course))
        .route("/cart", read().to(cart::cart))
        .route("/cart/items", web::post().to(cart::add))
        .route("/cart/items/{course}/delete", web::post().to(cart::remove))
        .route("/checkout", read().to(orders::checkout_form))
        .route("/checkout", web::post().to(orders::checkout))
        .route("/orders", read().to(orders::history))
        .route("/orders/{id}", read().to(orders::order))
        .route("/orders/{id}/status", read().to(orders::order_status))
        .route("/my/courses", read().to(orders::my_courses))
        .route("/teach/courses", read().to(teach::courses))
        .route("/teach/courses", web::post().to(teach::create))
        .route("/teach/courses/new", read().to(teach::new_course))
        .route("/teach/courses/{slug}/edit", read().to(teach::edit))
        .route("/teach/courses/{slug}", web::post().to(teach::update))
        .route(
            "/teach/courses/{slug}/{action}",
            web::post().to(teach::publish),
        )
        .route("/register", read().to(accounts::register_form))
        .route("/register", web::post().to(accounts::register))
        .route("/login", read().to(accounts::login_form))
        .route("/login", web::post().to(accounts::login))
        .route("/logout", web::post().to(accounts::logout))
        .route("/about/architecture", read().to(architecture::architecture))
        .route("/healthz", read().to(health::healthz))
        .route("/readyz", read().to(health::readyz))
        .route("/metrics", read().to(metrics::metrics))
        .route("/robots.txt", read().to(search_engines::robots))
        .route("/sitemap.xml", read().to(search_engines::sitemap_index))
        .route(
            "/sitemaps/pages.xml",
            read().to(search_engines::sitemap_of_pages),
        )
        .route(
            "/sitemaps/courses-{page}.xml",
            read().to(search_engines::sitemap_of_courses),
        )
        .route("/static/{file}", read().to(assets::asset));
}

/// GET, and HEAD for probes and link checkers (actix-web sends the headers without the body).
fn read() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}
