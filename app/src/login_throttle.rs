//! The login limit (step 3 on; none before) and the client address it counts against.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;

use shop::accounts::{Attempt, Email, LoginLimiter};

/// The login limit (step 3 on; none before) and where a client's address comes from.
pub struct LoginThrottle {
    pub limiter: LoginLimiter,
    /// `TRUST_FORWARDED_FOR`: behind a proxy that reports the client in `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
}

impl LoginThrottle {
    pub fn attempt<'a>(&self, request: &HttpRequest, account: Option<&'a Email>) -> Attempt<'a> {
        let forwarded_for = request
            .headers()
            .get_all("x-forwarded-for")
            .last()
            .and_then(|value| value.to_str().ok());
        Attempt {
            account,
            address: client_address(
                request.peer_addr().map(|peer| peer.ip()),
                forwarded_for,
                self.trust_forwarded_for,
            ),
        }
    }
}

/// The address failed sign-ins are counted against: the TCP peer, unless the shop runs behind a
/// proxy it trusts, whose peer address is the proxy's for every client. Then it is the *last*
/// `X-Forwarded-For` entry, the one that proxy added. Not actix's `realip_remote_addr()`: it takes
/// the first entry (or a `Forwarded` header), which the client writes itself, and Azure Container
/// Apps appends to what the client sent rather than replacing it, so a guesser could name a new
/// address on every try and never reach the per-address limit.
fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    let forwarded = forwarded_for
        .filter(|_| trust_forwarded_for)
        .and_then(|header| header.rsplit(',').next())
        .map(str::trim)
        .and_then(|entry| {
            entry
                .parse::<IpAddr>()
                .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
                .ok()
        });
    forwarded.or(peer)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::client_address;

    fn ip(address: &str) -> IpAddr {
        address.parse().expect("an IP address")
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_says_otherwise() {
        let peer = Some(ip("10.0.0.5"));
        assert_eq!(client_address(peer, Some("203.0.113.7"), false), peer);
        assert_eq!(
            client_address(peer, Some("203.0.113.7"), true),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(client_address(peer, None, true), peer);
        assert_eq!(client_address(peer, Some("garbage"), true), peer);
    }

    #[test]
    fn only_the_entry_the_proxy_added_counts() {
        let peer = Some(ip("10.0.0.5"));
        // the client sent "198.51.100.1"; the proxy appended what it saw
        assert_eq!(
            client_address(peer, Some("198.51.100.1, 203.0.113.7"), true),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client_address(peer, Some("198.51.100.1, [2001:db8::1]:4711"), true),
            Some(ip("2001:db8::1"))
        );
    }
}
