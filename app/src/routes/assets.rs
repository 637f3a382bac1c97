//! The shop's static files, compiled into the binary so a deployment is one file plus config.

use actix_web::HttpResponse;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::web::Path;

use crate::error::AppError;

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "shop.css",
        "text/css; charset=utf-8",
        include_str!("../../../static/css/shop.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../../static/favicon.svg"),
    ),
    (
        "order-status.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/js/order-status.js"),
    ),
];

pub async fn asset(file: Path<String>) -> Result<HttpResponse, AppError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
        .ok_or_else(|| AppError::NotFound("There is no such file.".to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(3600),
        ]))
        .body(*body))
}
