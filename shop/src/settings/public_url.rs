//! `PUBLIC_URL`: the address people and search engines reach the shop at, for what must be
//! absolute (canonical links, the sitemap, robots.txt's `Sitemap:` line, structured data).

use std::net::IpAddr;

use super::env::{Env, SettingsError};
use super::environment::Environment;
use super::listen;

/// The shop's public origin, such as `https://shop.example`: a scheme, a host and perhaps a port,
/// kept without a trailing slash so that a path is simply appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    origin: String,
}

impl PublicUrl {
    /// Where a shop bound to `host` and `port` is reached on this machine (development's default,
    /// known only once the port is bound: `PORT=0` picks one).
    pub fn listening_at(host: IpAddr, port: u16) -> PublicUrl {
        PublicUrl {
            origin: format!("http://{}", listen::own_address(host, port)),
        }
    }

    /// `https://shop.example`, without a trailing slash.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The absolute address of `path` (which starts with `/`, and may carry a query string).
    pub fn page(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// An absolute http(s) URL with nothing after the host and port but an optional `/`: a path
    /// would be lost from every link the shop makes, since they all start at `/`.
    fn parse(value: &str) -> Result<PublicUrl, &'static str> {
        const EXPECTED: &str = "expected an absolute http:// or https:// URL without a path, \
                                query or fragment, such as https://shop.example";
        let url = url::Url::parse(value.trim()).map_err(|_| EXPECTED)?;
        let plain = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none();
        if plain {
            Ok(PublicUrl {
                // punycode host, default port left out: the form browsers and crawlers compare
                origin: url.origin().ascii_serialization(),
            })
        } else {
            Err(EXPECTED)
        }
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.origin)
    }
}

/// `PUBLIC_URL`: required in production (a canonical link to `127.0.0.1` would tell search engines
/// the shop lives nowhere); unset elsewhere, the address the shop listens on (`None` here, filled
/// in once the port is bound).
pub(super) fn read(
    env: &Env<'_>,
    environment: Environment,
) -> Result<Option<PublicUrl>, SettingsError> {
    match env.optional("PUBLIC_URL") {
        Some(value) => {
            PublicUrl::parse(&value)
                .map(Some)
                .map_err(|reason| SettingsError::Invalid {
                    variable: "PUBLIC_URL",
                    value,
                    reason: reason.to_string(),
                })
        }
        None if environment.is_production() => Err(SettingsError::Missing {
            variable: "PUBLIC_URL",
            hint: "SHOP_ENV=production needs the address people reach the shop at, for canonical \
                   links and the sitemap, such as https://shop.example",
        }),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{PRODUCTION, URL, production, settings};

    #[test]
    fn an_origin_is_kept_without_its_trailing_slash_or_default_port() {
        for (given, origin) in [
            ("https://shop.example", "https://shop.example"),
            ("https://shop.example/", "https://shop.example"),
            (" https://Shop.Example:443 ", "https://shop.example"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
        ] {
            let url = PublicUrl::parse(given).expect(given);
            assert_eq!(url.origin(), origin);
            assert_eq!(url.page("/courses"), format!("{origin}/courses"));
        }
    }

    #[test]
    fn anything_but_a_bare_http_origin_is_refused() {
        for given in [
            "shop.example",
            "/courses",
            "ftp://shop.example",
            "https://shop.example/shop",
            "https://shop.example/?q=1",
            "https://shop.example/#top",
            "https://user:pw@shop.example",
            "mailto:shop@example.com",
            "https://",
        ] {
            assert!(PublicUrl::parse(given).is_err(), "{given}");
        }
    }

    #[test]
    fn development_defaults_to_where_the_shop_listens() {
        assert_eq!(settings(&[URL]).expect("valid").public_url, None);
        assert_eq!(
            PublicUrl::listening_at(IpAddr::from([0, 0, 0, 0]), 8080).origin(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            PublicUrl::listening_at("::1".parse().expect("an address"), 9000).origin(),
            "http://[::1]:9000"
        );
        let set = settings(&[URL, ("PUBLIC_URL", "http://shop.test:8080/")]).expect("valid");
        assert_eq!(
            set.public_url.map(|url| url.to_string()).as_deref(),
            Some("http://shop.test:8080")
        );
    }

    #[test]
    fn production_refuses_a_missing_or_invalid_public_url() {
        let without: Vec<(&str, &str)> = PRODUCTION
            .iter()
            .filter(|(variable, _)| *variable != "PUBLIC_URL")
            .copied()
            .collect();
        let error = settings(&without).expect_err("must fail");
        assert!(
            error
                .to_string()
                .starts_with("PUBLIC_URL is not set: SHOP_ENV=production"),
            "{error}"
        );
        let error = production(&[("PUBLIC_URL", "shop.example/courses")]).expect_err("invalid");
        assert!(
            error
                .to_string()
                .starts_with("PUBLIC_URL=\"shop.example/courses\" is not valid: expected"),
            "{error}"
        );
        let deployed = production(&[]).expect("valid");
        assert_eq!(
            deployed.public_url.map(|url| url.page("/")).as_deref(),
            Some("https://shop.example/")
        );
    }
}
