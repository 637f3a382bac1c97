//! Where a process listens: `HOST`, read here once for the shop, the worker and their `healthcheck`
//! commands, and the port variable of each (`PORT`, `WORKER_PORT`).

use std::net::{IpAddr, SocketAddr};

use super::env::{Env, SettingsError};

/// `HOST` (default 127.0.0.1; containers set 0.0.0.0): the address a server binds.
pub(super) fn host(env: &Env<'_>) -> Result<IpAddr, SettingsError> {
    env.parsed(
        "HOST",
        "127.0.0.1".parse().ok(),
        "an IP address such as 0.0.0.0",
    )
}

/// `variable` (`PORT` or `WORKER_PORT`), `default` when unset; 0 picks a free port.
pub(super) fn port(
    env: &Env<'_>,
    variable: &'static str,
    default: u16,
) -> Result<u16, SettingsError> {
    env.parsed(variable, Some(default), "a port number from 0 to 65535")
}

/// `HTTP_WORKERS`: the web server's worker threads, each serving its own connections. Unset: one a
/// CPU the process may use (actix-web's default).
pub(super) fn http_workers(env: &Env<'_>) -> Result<Option<usize>, SettingsError> {
    if env.optional("HTTP_WORKERS").is_none() {
        return Ok(None);
    }
    env.parsed_in(
        "HTTP_WORKERS",
        1,
        1..=64,
        "a number of threads from 1 to 64",
    )
    .map(Some)
}

/// Where a server bound to `host` and `port` is reached from this machine: an unspecified address
/// such as 0.0.0.0 on loopback.
pub(super) fn own_address(host: IpAddr, port: u16) -> SocketAddr {
    let host = if host.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host
    };
    SocketAddr::new(host, port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::env;

    #[test]
    fn host_and_port_have_defaults_and_name_a_bad_value() {
        let unset = env(&[]);
        assert_eq!(host(&unset), Ok(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(port(&unset, "WORKER_PORT", 8090), Ok(8090));
        let wrong = env(&[("HOST", "localhost"), ("PORT", "65536")]);
        assert_eq!(
            host(&wrong).expect_err("not an address").to_string(),
            "HOST=\"localhost\" is not valid: expected an IP address such as 0.0.0.0"
        );
        assert_eq!(
            port(&wrong, "PORT", 8080).expect_err("too big").to_string(),
            "PORT=\"65536\" is not valid: expected a port number from 0 to 65535"
        );
    }

    #[test]
    fn http_workers_default_to_the_web_servers_own_choice() {
        assert_eq!(http_workers(&env(&[])), Ok(None));
        assert_eq!(http_workers(&env(&[("HTTP_WORKERS", "1")])), Ok(Some(1)));
        for wrong in ["0", "65", "two"] {
            assert_eq!(
                http_workers(&env(&[("HTTP_WORKERS", wrong)]))
                    .expect_err("refused")
                    .to_string(),
                format!(
                    "HTTP_WORKERS={wrong:?} is not valid: expected a number of threads from 1 to 64"
                )
            );
        }
    }

    #[test]
    fn an_unspecified_host_is_reached_on_loopback() {
        assert_eq!(
            own_address(IpAddr::from([0, 0, 0, 0]), 8080),
            SocketAddr::from(([127, 0, 0, 1], 8080))
        );
        assert_eq!(
            own_address(IpAddr::from([10, 0, 0, 5]), 8090),
            SocketAddr::from(([10, 0, 0, 5], 8090))
        );
    }
}
