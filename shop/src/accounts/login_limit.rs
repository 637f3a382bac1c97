//! Sign-in attempts counted in Redis (tutorial step 3 on), shared by every instance of the shop,
//! so guessing passwords stays slow however many instances serve the guesses.
//!
//! Two fixed windows: one per account (the normalised email), so one account cannot be guessed at
//! from many addresses, and one per client address, so one machine cannot try a few passwords on
//! each of many accounts. Each attempt is counted *before* its password is checked, in one atomic
//! script that also says whether a window is now used up: reading the counts and adding a failure
//! only after argon2 had answered let any number of guesses sent at once all pass the check. An
//! attempt over a limit is refused without hashing, so refused guesses cost no argon2 hash either.
//!
//! A correct password then takes its attempt back: the account's count is cleared, and the
//! address's count goes down by one (not cleared: one account of their own must not let a guesser
//! reset their address and go on guessing at others), so honest sign-ins from one office address
//! do not use up its budget.
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

/// One more attempt in each key's window, atomically with the window's expiry (a key can never be
/// left without a TTL: a counter that never expires would lock an account out for good) and with
/// the verdict, so concurrent attempts cannot all read a count below the limit. `TTL` then
/// `EXPIRE` rather than `EXPIRE … NX`, which needs Redis 7. `ARGV[1]` is the window in seconds,
/// `ARGV[1 + i]` the limit of `KEYS[i]`. Returns whether a count is now over its limit, and the
/// longest time left, in milliseconds, among the windows that are.
static COUNT_ATTEMPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local over = 0
        local wait_ms = 0
        for i, key in ipairs(KEYS) do
            local count = redis.call('INCR', key)
            if redis.call('TTL', key) < 0 then
                redis.call('EXPIRE', key, ARGV[1])
            end
            if count > tonumber(ARGV[i + 1]) then
                over = 1
                local ttl = redis.call('PTTL', key)
                if ttl > wait_ms then
                    wait_ms = ttl
                end
            end
        end
        return {over, wait_ms}
        ",
    )
});

/// A correct password takes its attempt back: clears the account's count (`KEYS[1]`, when there is
/// one) and takes one off the address's (`KEYS[2]`, or `KEYS[1]` when `ARGV[1]` is `address`).
/// `DECR` keeps the key's TTL; a count that would reach 0 is deleted instead, so a key is never
/// below 0, and `DECR` never meets a missing key (which it would create at -1, without a TTL).
static TAKE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local address = KEYS[1]
        if ARGV[1] == 'account' then
            redis.call('DEL', KEYS[1])
            address = KEYS[2]
        end
        if address then
            local count = tonumber(redis.call('GET', address))
            if count and count > 1 then
                redis.call('DECR', address)
            elseif count then
                redis.call('DEL', address)
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

    /// Counts the attempt against its account and its address, and refuses it when either has
    /// now used up its window. Call it before the password is checked, for every attempt.
    ///
    /// Fails open: when Redis cannot be asked, the attempt is allowed (and logged). Refusing every
    /// sign-in while Redis is down would turn a cache outage into a shop-wide lock-out; a few
    /// minutes without limits is the smaller harm, and argon2 still makes each guess slow.
    pub async fn count_attempt(&self, attempt: &Attempt<'_>) -> Result<(), TooManyAttempts> {
        let Some(counters) = &self.counters else {
            return Ok(());
        };
        let keys = counters.keys(attempt);
        if keys.is_empty() {
            return Ok(());
        }
        let window = counters.limits.window;
        let verdict = counters
            .redis
            .run(|mut redis| async move {
                let mut invocation = COUNT_ATTEMPT.prepare_invoke();
                invocation.arg(window.as_secs().max(1));
                for (key, limit) in &keys {
                    invocation.key(key).arg(*limit);
                }
                invocation.invoke_async::<(i64, i64)>(&mut redis).await
            })
            .await;
        match verdict {
            Ok((over, wait_ms)) => match retry_after(over != 0, wait_ms, window) {
                Some(retry_after) => Err(TooManyAttempts { retry_after }),
                None => Ok(()),
            },
            Err(error) => {
                warn_unlimited(&error, "counting an attempt");
                Ok(())
            }
        }
    }

    /// A correct password: clears the account's count, and takes this attempt back off the
    /// address's (see the module's documentation for why not more).
    pub async fn record_success(&self, attempt: &Attempt<'_>) {
        let Some(counters) = &self.counters else {
            return;
        };
        let account = attempt.account.map(|account| counters.account_key(account));
        let address = attempt.address.map(|address| counters.address_key(address));
        if account.is_none() && address.is_none() {
            return;
        }
        let taken_back = counters
            .redis
            .run(|mut redis| async move {
                let mut invocation = TAKE_BACK.prepare_invoke();
                invocation.arg(if account.is_some() {
                    "account"
                } else {
                    "address"
                });
                for key in account.iter().chain(address.iter()) {
                    invocation.key(key);
                }
                invocation.invoke_async::<()>(&mut redis).await
            })
            .await;
        if let Err(error) = taken_back {
            warn_unlimited(&error, "taking back a sign-in's attempt");
        }
    }
}

impl Counters {
    /// The attempt's counters with their limits.
    fn keys(&self, attempt: &Attempt<'_>) -> Vec<(String, u32)> {
        let account = attempt
            .account
            .map(|account| (self.account_key(account), self.limits.per_account));
        let address = attempt
            .address
            .map(|address| (self.address_key(address), self.limits.per_address));
        account.into_iter().chain(address).collect()
    }

    fn address_key(&self, address: IpAddr) -> String {
        self.redis
            .key(&format!("login-failures:address:{}", address_key(address)))
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

/// When the attempt may be made again, if it went over a limit: the latest end among the used-up
/// windows, rounded up to a second. A window without a time left (it ended as it was read) counts
/// as a whole window, to be safe.
fn retry_after(over: bool, wait_ms: i64, window: Duration) -> Option<Duration> {
    if !over {
        return None;
    }
    match u64::try_from(wait_ms) {
        Ok(ms) if ms > 0 => Some(Duration::from_secs(ms.div_ceil(1000))),
        _ => Some(window),
    }
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
    fn an_attempt_over_a_limit_waits_until_its_window_ends() {
        let window = Duration::from_secs(900);
        assert_eq!(retry_after(false, 5_000, window), None);
        assert_eq!(
            retry_after(true, 1_001, window),
            Some(Duration::from_secs(2)),
            "rounded up"
        );
        assert_eq!(
            retry_after(true, 90_000, window),
            Some(Duration::from_secs(90))
        );
        assert_eq!(retry_after(true, 0, window), Some(window));
        assert_eq!(retry_after(true, -2, window), Some(window));
    }
}
