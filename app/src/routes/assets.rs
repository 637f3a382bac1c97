//! `GET /static/{file}`: the shop's static files (`crate::assets`). A fingerprinted name is cached
//! for a year and never revalidated; the plain name, or the fingerprint of an earlier release (a
//! page cached before a deploy), gets today's file, cacheable for a minute.

use actix_web::HttpResponse;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::web::Path;

use crate::assets;
use crate::error::AppError;

const A_YEAR: u32 = 365 * 24 * 3600;

pub async fn asset(file: Path<String>) -> Result<HttpResponse, AppError> {
    let (asset, current) = assets::find(file.as_str())
        .ok_or_else(|| AppError::NotFound("There is no such file.".to_string()))?;
    let cache = if current {
        vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(A_YEAR),
            CacheDirective::Extension("immutable".to_string(), None),
        ]
    } else {
        vec![CacheDirective::Public, CacheDirective::MaxAge(60)]
    };
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header(CacheControl(cache))
        .body(asset.body))
}
