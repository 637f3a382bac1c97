//! HTTP caching: the pages every anonymous visitor sees alike (home, catalog, course) may be kept
//! by browsers and shared caches (a CDN such as Azure Front Door) for a minute, and revalidated
//! with a validator; everything else (a student's pages, forms, errors) is `private, no-store`.
//!
//! A page is public only when the request carries none of the shop's cookies (no session, no
//! visitor cart) and the answer sets none: then it cannot hold anything of one person's. `Vary:
//! Cookie` keeps a shared cache from giving that copy to a browser that has cookies.

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    CACHE_CONTROL, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH, SET_COOKIE, VARY,
};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use sha2::{Digest, Sha256};

use crate::session;

/// The route patterns of the pages that are the same for every anonymous visitor.
const PUBLIC_PAGES: [&str; 3] = ["/", "/courses", "/courses/{slug}"];

/// A minute fresh: an instructor's edit reaches anonymous visitors within it (the instructor's
/// own pages are private, so they see it at once). Five more minutes in which a cache may answer
/// with its copy while it revalidates in the background, so no visitor waits for that.
pub const PUBLIC: &str = "public, max-age=60, stale-while-revalidate=300";
pub const PRIVATE: &str = "private, no-store";

/// Middleware (`from_fn`), outside the session and the error pages, inside compression (the
/// validator is of the page itself, whatever encoding carries it).
pub async fn http_caching(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let public = matches!(*request.method(), Method::GET | Method::HEAD)
        && request
            .match_pattern()
            .is_some_and(|pattern| PUBLIC_PAGES.contains(&pattern.as_str()))
        && !session::carries_state(request.request());
    let if_none_match = request.headers().get(IF_NONE_MATCH).cloned();
    let mut response = next.call(request).await?;
    if !public || response.status() != StatusCode::OK || response.headers().contains_key(SET_COOKIE)
    {
        if !response.headers().contains_key(CACHE_CONTROL) {
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(PRIVATE));
        }
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (mut head, page) = response.into_parts();
    let page = body::to_bytes(page)
        .await
        .map_err(|error| actix_web::error::ErrorInternalServerError(error.into()))?;
    let etag = etag_of(&page);
    if if_none_match.is_some_and(|sent| matches(&sent, &etag)) {
        let mut not_modified = HttpResponse::NotModified();
        let not_modified = public_headers(&mut not_modified, &etag).finish();
        return Ok(ServiceResponse::new(request, not_modified));
    }
    mark_public(head.headers_mut(), &etag);
    let response = head.set_body(page).map_into_boxed_body();
    Ok(ServiceResponse::new(request, response))
}

fn public_headers<'a>(
    response: &'a mut actix_web::HttpResponseBuilder,
    etag: &str,
) -> &'a mut actix_web::HttpResponseBuilder {
    response
        .insert_header((CACHE_CONTROL, PUBLIC))
        .insert_header((ETAG, etag))
        .insert_header((VARY, "Cookie"))
}

fn mark_public(headers: &mut HeaderMap, etag: &str) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(PUBLIC));
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, etag);
    }
    headers.append(VARY, HeaderValue::from_static("Cookie"));
}

/// A weak validator (`W/"…"`: the same page, whatever encoding carries it) from the page's bytes,
/// so every instance gives one page the same one.
fn etag_of(page: &[u8]) -> String {
    let digest = Sha256::digest(page);
    let hex: String = digest[..12]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("W/\"{hex}\"")
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for it), or is `*`.
fn matches(sent: &HeaderValue, etag: &str) -> bool {
    let Ok(sent) = sent.to_str() else {
        return false;
    };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let ours = opaque(etag);
    sent.split(',')
        .any(|tag| tag.trim() == "*" || opaque(tag) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validator_names_the_bytes_and_compares_weakly() {
        let etag = etag_of(b"<p>page</p>");
        assert_eq!(etag, etag_of(b"<p>page</p>"));
        assert_ne!(etag, etag_of(b"<p>page!</p>"));
        assert!(etag.starts_with("W/\"") && etag.ends_with('"'));
        let strong = etag.trim_start_matches("W/").to_string();
        for sent in [
            etag.clone(),
            strong,
            format!("\"x\", {etag}"),
            "*".to_string(),
        ] {
            assert!(
                matches(&HeaderValue::from_str(&sent).expect("header"), &etag),
                "{sent}"
            );
        }
        for sent in ["\"x\"", "W/\"x\"", ""] {
            assert!(!matches(&HeaderValue::from_static(sent), &etag), "{sent}");
        }
    }
}
