//! Failed sign-ins counted in Redis (tutorial step 3 on), shared by every instance of the shop, so
//! guessing passwords stays slow however many instances serve the guesses.
//!
//! Two fixed windows: one per account (the normalised email), so one account cannot be guessed at
//! from many addresses, and one per client address, so one machine cannot try a few passwords on
//! each of many accounts. Once either is used up, attempts are refused *before* the password is
//! checked, so refused guesses cost no argon2 hash either.
//!
//! At steps 0–2 there is no limiter (`LoginLimiter::off`): counters in one process would not be
//! shared by the instances, and argon2's cost is the only brake on guessing there.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::accounts::Email;
use crate::cache::{CacheError, Redis};
use crate::settings::LoginLimits;

/// Who is trying to sign in, as the limiter counts it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The email typed, when it can be an account's at all.
    pub account: Option<&'a Email>,
    /// The client's address, when known.
    pub address: Option<IpAddr>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("too many failed sign-ins; the next is allowed in {retry_after:?}")]
pub struct TooManyAttempts {
    /// Until the fullest window ends.
    pub retry_after: Duration,
}

#[derive(Clone)]
pub struct LoginLimiter {
    counters: Option<Counters>,
}

#[derive(Clone)]
struct Counters {
    redis: Redis,
    limits: LoginLimits,
}

/// One more failure in each key's window, atomically with the window's expiry: a key can never be
/// left without a TTL (a counter that never expires would lock an account out for good).
static RECORD_FAILURE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        for _, key in ipairs(KEYS) do
            redis.call('INCR', key)
            if redis.call('TTL', key) < 0 then
                redis.call('EXPIRE', key, ARGV[1])
            end
        end
        return 0
        ",
    )
});

impl LoginLimiter {
    /// No limit (steps 0–2).
    pub fn off() -> LoginLimiter {
        LoginLimiter { counters: None }
    }

    pub fn new(redis: Redis, limits: LoginLimits) -> LoginLimiter {
        LoginLimiter {
            counters: Some(Counters { redis, limits }),
        }
    }

    /// Refuses the attempt while its account or its address has used up its failures.
    ///
    /// Fails open: when Redis cannot be asked, the attempt is allowed (and logged). Refusing every
    /// sign-in while Redis is down would turn a cache outage into a shop-wide lock-out; a few
    /// minutes without limits is the smaller harm, and argon2 still makes each guess slow.
    pub async fn check(&self, attempt: &Attempt<'_>) -> Result<(), TooManyAttempts> {
        let Some(counters) = &self.counters else {
            return Ok(());
        };
        let keys = counters.keys(attempt);
        let names: Vec<&str> = keys.iter().map(|(key, _)| key.as_str()).collect();
        let readings = counters
            .redis
            .run(|mut redis| async move {
                let mut pipe = redis::pipe();
                for key in &names {
                    pipe.get(key).pttl(key);
                }
                pipe.query_async::<Vec<(Option<u32>, i64)>>(&mut redis)
                    .await
            })
            .await;
        match readings {
            Ok(readings) => {
                let limits = keys.iter().map(|(_, limit)| *limit);
                match retry_after(readings.into_iter().zip(limits), counters.limits.window) {
                    Some(retry_after) => Err(TooManyAttempts { retry_after }),
                    None => Ok(()),
                }
            }
            Err(error) => {
                warn_unlimited(&error, "checking");
                Ok(())
            }
        }
    }

    /// Counts a wrong email or password against the account and the address.
    pub async fn record_failure(&self, attempt: &Attempt<'_>) {
        let Some(counters) = &self.counters else {
            return;
        };
        let keys = counters.keys(attempt);
        let window = counters.limits.window.as_secs().max(1);
        let recorded = counters
            .redis
            .run(|mut redis| async move {
                let mut invocation = RECORD_FAILURE.prepare_invoke();
                for (key, _) in &keys {
                    invocation.key(key);
                }
                invocation.arg(window).invoke_async::<()>(&mut redis).await
            })
            .await;
        if let Err(error) = recorded {
            warn_unlimited(&error, "counting a failure");
        }
    }

    /// A correct password clears the account's count. Not the address's: one account of their own
    /// must not let a guesser reset their address's count and go on guessing at others.
    pub async fn record_success(&self, attempt: &Attempt<'_>) {
        let (Some(counters), Some(account)) = (&self.counters, attempt.account) else {
            return;
        };
        if let Err(error) = counters.redis.delete(&counters.account_key(account)).await {
            warn_unlimited(&error, "clearing an account's failures");
        }
    }
}

impl Counters {
    /// The attempt's counters with their limits.
    fn keys(&self, attempt: &Attempt<'_>) -> Vec<(String, u32)> {
        let account = attempt
            .account
            .map(|account| (self.account_key(account), self.limits.per_account));
        let address = attempt.address.map(|address| {
            (
                self.redis
                    .key(&format!("login-failures:address:{}", address_key(address))),
                self.limits.per_address,
            )
        });
        account.into_iter().chain(address).collect()
    }

    fn account_key(&self, account: &Email) -> String {
        self.redis
            .key(&format!("login-failures:account:{}", account.as_str()))
    }
}

fn warn_unlimited(error: &CacheError, doing: &str) {
    tracing::warn!(%error, cause = ?std::error::Error::source(error), "login limit unavailable while {doing}: sign-ins go unlimited until Redis answers");
}

/// How an address is counted. An IPv6 client usually holds a whole /64 and can pick any address
/// in it, so IPv6 is counted per /64; an IPv4-mapped IPv6 address counts as its IPv4 address.
fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// When the attempt may be made, if a counter is at its limit: the latest end among the full
/// windows, rounded up to a second. `PTTL` says -1 for a key without a TTL (never made by this
/// module) — then a whole window — and -2 for a key that has just expired.
fn retry_after(
    readings: impl Iterator<Item = ((Option<u32>, i64), u32)>,
    window: Duration,
) -> Option<Duration> {
    readings
        .filter(|((failures, _), limit)| failures.is_some_and(|failures| failures >= *limit))
        .map(|((_, ttl_ms), _)| match ttl_ms {
            -1 => window,
            ms => Duration::from_secs(u64::try_from(ms).unwrap_or(0).div_ceil(1000).max(1)),
        })
        .max()
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(address_key(a), "2001:db8:1:2::/64");
        assert_eq!(address_key(a), address_key(b));
        let mapped = IpAddr::V6(Ipv4Addr::new(203, 0, 113, 7).to_ipv6_mapped());
        assert_eq!(address_key(mapped), "203.0.113.7");
        assert_eq!(address_key(IpAddr::V6(Ipv6Addr::LOCALHOST)), "0:0:0:0::/64");
    }

    #[test]
    fn a_counter_at_its_limit_refuses_until_its_window_ends() {
        let window = Duration::from_secs(900);
        assert_eq!(
            retry_after([((Some(4), 5_000), 5)].into_iter(), window),
            None
        );
        assert_eq!(retry_after([((None, -2), 5)].into_iter(), window), None);
        assert_eq!(
            retry_after([((Some(5), 1_001), 5)].into_iter(), window),
            Some(Duration::from_secs(2)),
            "rounded up"
        );
        assert_eq!(
            retry_after(
                [((Some(5), 1_001), 5), ((Some(40), 90_000), 30)].into_iter(),
                window
            ),
            Some(Duration::from_secs(90)),
            "the later of two full windows"
        );
        assert_eq!(
            retry_after([((Some(5), -1), 5)].into_iter(), window),
            Some(window)
        );
    }
}
