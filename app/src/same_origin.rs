//! Whether a state-changing request came from one of this shop's own pages, from what the browser
//! says about it: `Sec-Fetch-Site` (Fetch Metadata), else `Origin`, else `Referer`.
//!
//! A browser sets these headers itself and a page on another site cannot forge them, so a form
//! posted from elsewhere is told apart without any state on the server. This is what lets an
//! anonymous visitor, who has no session and so no session token, post the shop's forms (add to
//! cart, sign in, register) while a cross-site post of the same forms is refused. OWASP's CSRF
//! cheat sheet accepts Fetch Metadata with the fall-back to `Origin`/`Referer` as a defence of
//! its own; where a session exists its synchronizer token is checked as well (`forms.rs`).

use actix_web::HttpRequest;
use actix_web::http::header::{HOST, ORIGIN, REFERER};

/// What the request's own headers say about where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// A page of this shop (same scheme-less host and port as the request was sent to).
    SameOrigin,
    /// Another site, another origin of this site, or an opaque (`null`) origin.
    Elsewhere,
    /// No header says: a client that is not a browser (curl, a probe), or a browser that strips them.
    Unknown,
}

impl Provenance {
    pub fn of(request: &HttpRequest) -> Provenance {
        let headers = request.headers();
        let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
        if let Some(site) = headers.get("sec-fetch-site") {
            // `same-site` is not enough: a sibling subdomain may belong to someone else
            return if site.as_bytes() == b"same-origin" {
                Provenance::SameOrigin
            } else {
                Provenance::Elsewhere
            };
        }
        let host = text(HOST);
        if let Some(origin) = headers.get(ORIGIN) {
            return match (origin.to_str().ok().and_then(authority), host) {
                (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host) => {
                    Provenance::SameOrigin
                }
                _ => Provenance::Elsewhere,
            };
        }
        match (text(REFERER).and_then(authority), host) {
            (Some(referer), Some(host)) if referer.eq_ignore_ascii_case(host) => {
                Provenance::SameOrigin
            }
            (Some(_), _) => Provenance::Elsewhere,
            (None, _) => Provenance::Unknown,
        }
    }
}

/// The `host[:port]` of an absolute http(s) URL (`Origin` is one without a path); `None` for
/// `null` or anything else.
fn authority(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // userinfo has no place in an Origin and would let `https://shop@evil` pass as `shop`
    (!authority.is_empty() && !authority.contains('@')).then_some(authority)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn provenance(headers: &[(&str, &str)]) -> Provenance {
        let mut request = TestRequest::post().insert_header((HOST, "shop.example:8080"));
        for header in headers {
            request = request.insert_header(*header);
        }
        Provenance::of(&request.to_http_request())
    }

    #[test]
    fn fetch_metadata_decides_when_the_browser_sends_it() {
        assert_eq!(
            provenance(&[("sec-fetch-site", "same-origin")]),
            Provenance::SameOrigin
        );
        for site in ["cross-site", "same-site", "none", "SAME-ORIGIN", ""] {
            assert_eq!(
                provenance(&[("sec-fetch-site", site)]),
                Provenance::Elsewhere,
                "{site}"
            );
        }
        // a matching Origin cannot outvote the browser's own verdict
        assert_eq!(
            provenance(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://shop.example:8080")
            ]),
            Provenance::Elsewhere
        );
    }

    #[test]
    fn origin_then_referer_must_name_the_host_the_request_was_sent_to() {
        assert_eq!(
            provenance(&[("origin", "http://shop.example:8080")]),
            Provenance::SameOrigin
        );
        assert_eq!(
            provenance(&[("origin", "https://shop.example:8080")]),
            Provenance::SameOrigin
        );
        for origin in [
            "http://evil.example",
            "http://shop.example",
            "http://shop.example:8080.evil.example",
            "http://shop.example:8080@evil.example",
            "null",
            "shop.example:8080",
        ] {
            assert_eq!(
                provenance(&[("origin", origin)]),
                Provenance::Elsewhere,
                "{origin}"
            );
        }
        assert_eq!(
            provenance(&[("referer", "http://shop.example:8080/courses?q=rust")]),
            Provenance::SameOrigin
        );
        assert_eq!(
            provenance(&[("referer", "http://evil.example/shop.example:8080")]),
            Provenance::Elsewhere
        );
        assert_eq!(provenance(&[]), Provenance::Unknown);
    }
}
