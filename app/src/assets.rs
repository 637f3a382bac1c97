//! The shop's static files, compiled into the binary so a deployment is one file plus config, and
//! fingerprinted: each is served under a name with a hash of its content (`shop.3f2a9c1e.css`),
//! which never changes meaning, so browsers and CDNs may keep it for a year (`immutable`), and a
//! release with a new stylesheet is a new URL that no cache has seen.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One static file.
pub struct Asset {
    /// Its plain name, as templates ask for it (`shop.css`).
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    /// The name it is served under, with the first 16 hex digits of its SHA-256.
    pub fingerprinted: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        (
            "shop.css",
            "text/css; charset=utf-8",
            include_str!("../../static/css/shop.css"),
        ),
        (
            "favicon.svg",
            "image/svg+xml",
            include_str!("../../static/favicon.svg"),
        ),
        (
            "order-status.js",
            "text/javascript; charset=utf-8",
            include_str!("../../static/js/order-status.js"),
        ),
    ]
    .into_iter()
    .map(|(name, content_type, body)| Asset {
        name,
        content_type,
        body,
        fingerprinted: fingerprint(name, body),
    })
    .collect()
});

fn fingerprint(name: &str, body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let hash: String = digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    match name.rsplit_once('.') {
        Some((stem, extension)) => format!("{stem}.{hash}.{extension}"),
        None => format!("{name}.{hash}"),
    }
}

/// The URL of `name` (`/static/shop.3f2a….css`), for templates. A name that is not an asset is a
/// bug in a template, which the page tests catch as a 404 link; it gets the plain path.
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => format!("/static/{}", asset.fingerprinted),
        None => format!("/static/{name}"),
    }
}

/// What a request for `/static/{file}` gets: the asset and whether `file` named its current
/// fingerprint (only then may it be cached for good).
pub fn find(file: &str) -> Option<(&'static Asset, bool)> {
    ASSETS.iter().find_map(|asset| {
        if asset.fingerprinted == file {
            Some((asset, true))
        } else if asset.name == file || is_other_fingerprint(asset, file) {
            Some((asset, false))
        } else {
            None
        }
    })
}

/// `shop.<16 hex>.css` of an earlier release: answered with today's file, briefly cacheable,
/// so a page cached before a release still gets a stylesheet.
fn is_other_fingerprint(asset: &Asset, file: &str) -> bool {
    let Some((stem, extension)) = asset.name.rsplit_once('.') else {
        return false;
    };
    file.strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(extension))
        .and_then(|hash| hash.strip_suffix('.'))
        .is_some_and(|hash| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_served_under_their_content_hash() {
        let css = url("shop.css");
        let file = css.strip_prefix("/static/").expect("under /static/");
        assert!(
            file.starts_with("shop.")
                && file.ends_with(".css")
                && file.len() == "shop..css".len() + 16,
            "{file}"
        );
        assert!(matches!(find(file), Some((asset, true)) if asset.name == "shop.css"));
        assert!(matches!(find("shop.css"), Some((_, false))));
        assert!(matches!(
            find("shop.0123456789abcdef.css"),
            Some((_, false))
        ));
        assert!(find("shop.0123.css").is_none());
        assert!(find("secrets.txt").is_none());
        assert_ne!(fingerprint("a.css", "x"), fingerprint("a.css", "y"));
    }
}
