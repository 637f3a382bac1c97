//! Where a visitor goes after signing in or registering: `next`, which arrives in a query string
//! or a hidden form field and so is whatever anyone put in a link. It becomes a `Location` header,
//! so it must be a path on this site as a *browser* reads it, not only as a URL parser does.

use crate::error::AppError;

/// The longest `next` kept: longer is not a path this shop makes.
const MAX_LEN: usize = 2_048;

/// A path on this site: starts with one `/`, holds no control character and no backslash, and is
/// plain ASCII (other characters percent-encoded), so it is always a valid `Location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPath(String);

impl NextPath {
    /// The home page, where a visitor goes when no `next` was given.
    pub fn home() -> NextPath {
        NextPath("/".to_string())
    }

    /// `next` as given (missing or empty: the home page), or a 400 page for a value that is not a
    /// same-site path. Refused rather than replaced: a link that carries one was made to mislead.
    pub fn parse(next: Option<&str>) -> Result<NextPath, AppError> {
        match next {
            None | Some("") => Ok(NextPath::home()),
            Some(next) => NextPath::same_site(next).ok_or_else(|| {
                AppError::BadRequest(
                    "The address to return to after signing in is not a page of this shop."
                        .to_string(),
                )
            }),
        }
    }

    fn same_site(next: &str) -> Option<NextPath> {
        // Browsers drop tabs and line breaks from URLs and read `\` as `/`, so `/\t/evil.example`
        // and `/\evil.example` both mean `//evil.example`: another origin. Refusing every control
        // character and backslash leaves nothing a browser reads differently from us.
        let refused = next.len() > MAX_LEN
            || !next.starts_with('/')
            || next.starts_with("//")
            || next.chars().any(|c| c.is_control() || c == '\\');
        if refused {
            return None;
        }
        let mut path = String::with_capacity(next.len());
        for c in next.chars() {
            if c.is_ascii_graphic() {
                path.push(c);
            } else {
                // a space or a letter outside ASCII, as the browser would have sent it
                let mut utf8 = [0u8; 4];
                for byte in c.encode_utf8(&mut utf8).bytes() {
                    path.push_str(&format!("%{byte:02X}"));
                }
            }
        }
        Some(NextPath(path))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NextPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::NextPath;

    fn parsed(next: &str) -> Option<String> {
        NextPath::parse(Some(next))
            .ok()
            .map(|path| path.as_str().to_string())
    }

    #[test]
    fn paths_on_this_site_are_followed() {
        assert_eq!(parsed("/checkout").as_deref(), Some("/checkout"));
        assert_eq!(
            parsed("/courses?q=rust&page=2").as_deref(),
            Some("/courses?q=rust&page=2")
        );
        assert_eq!(parsed("/orders/é").as_deref(), Some("/orders/%C3%A9"));
        assert_eq!(parsed("/a b").as_deref(), Some("/a%20b"));
        assert_eq!(
            NextPath::parse(None).map(|path| path.to_string()).ok(),
            Some("/".to_string())
        );
        assert_eq!(parsed("").as_deref(), Some("/"));
    }

    #[test]
    fn anything_a_browser_reads_as_another_origin_is_refused() {
        for next in [
            "//evil.example",
            "https://evil.example",
            "evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/\t/evil.example/",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\0",
            "/\u{7f}",
            "/\u{85}/evil.example",
            "/\u{1b}[31m",
            &format!("/{}", "a".repeat(2_048)),
        ] {
            assert_eq!(parsed(next), None, "{next:?}");
        }
    }
}
