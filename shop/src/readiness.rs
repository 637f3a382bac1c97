//! The readiness probe (`/readyz`) of the web app and of the enrollment worker: each store checked
//! in time, and the verdict. Probes are public (a load balancer or platform reads them, and so can
//! anyone), so a store that is down gets a short cause category; the store's own error text, which
//! can name hosts, users and versions, goes to the logs only.

use std::error::Error;
use std::future::Future;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// A store slower than this to answer counts as down: probes (Container Apps, Kubernetes) give up
/// after one second, and a probe that times out tells the platform less than a prompt "down".
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Up,
    Down(DownCause),
}

impl Status {
    pub fn is_up(self) -> bool {
        self == Status::Up
    }

    /// Why it is down; `None` when up.
    pub fn cause(self) -> Option<DownCause> {
        match self {
            Status::Up => None,
            Status::Down(cause) => Some(cause),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Down(_) => "down",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One store as `/readyz` shows it:
/// `{"name", "role", "critical", "status": "up"|"down", "latencyMs"?, "cause"?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStatus {
    pub name: &'static str,
    pub role: &'static str,
    /// Whether the process cannot serve without it: only a critical store's outage makes `/readyz`
    /// 503.
    pub critical: bool,
    pub status: Status,
    /// How long the check took, in milliseconds; `None` for a state known without a check (the
    /// worker's RabbitMQ consumer).
    pub latency_ms: Option<f64>,
}

impl StoreStatus {
    /// Why it is down, as a category; `None` when up.
    pub fn cause(&self) -> Option<DownCause> {
        self.status.cause()
    }
}

impl Serialize for StoreStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = 4 + usize::from(self.latency_ms.is_some()) + usize::from(!self.status.is_up());
        let mut store = serializer.serialize_struct("StoreStatus", fields)?;
        store.serialize_field("name", self.name)?;
        store.serialize_field("role", self.role)?;
        store.serialize_field("critical", &self.critical)?;
        store.serialize_field("status", self.status.as_str())?;
        match self.latency_ms {
            Some(latency) => store.serialize_field("latencyMs", &latency)?,
            None => store.skip_field("latencyMs")?,
        }
        match self.status {
            Status::Down(cause) => store.serialize_field("cause", &cause)?,
            Status::Up => store.skip_field("cause")?,
        }
        store.end()
    }
}

/// Runs `probe` for at most [`CHECK_TIMEOUT`] and says what it found, logging why a store is down.
pub async fn check<E: Error + 'static>(
    name: &'static str,
    role: &'static str,
    critical: bool,
    probe: impl Future<Output = Result<(), E>>,
) -> StoreStatus {
    let started = Instant::now();
    // boxed: the stores' futures are deep, and a caller's future holding several of them inline
    // overflows the compiler's layout depth limit
    let status = match tokio::time::timeout(CHECK_TIMEOUT, Box::pin(probe)).await {
        Ok(Ok(())) => Status::Up,
        Ok(Err(error)) => {
            tracing::warn!(store = name, error = %chain_text(&error), "store check failed");
            Status::Down(DownCause::of(&error))
        }
        Err(_) => {
            tracing::warn!(
                store = name,
                timeout_ms = CHECK_TIMEOUT.as_millis(),
                "store check got no answer in time"
            );
            Status::Down(DownCause::Timeout)
        }
    };
    StoreStatus {
        name,
        role,
        critical,
        status,
        latency_ms: Some((started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0),
    }
}

/// The probe's overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every store is up.
    Ready,
    /// A store that is not critical is down: the process serves, with less.
    Degraded,
    /// A critical store is down: take the process out of the load balancer (503).
    Unavailable,
}

/// The body of `/readyz`: `{"status": "ready"|"degraded"|"unavailable", "stores": [...]}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Readiness {
    pub status: Verdict,
    pub stores: Vec<StoreStatus>,
}

impl Readiness {
    /// The verdict on `stores`: unavailable when a critical store is down, degraded when only
    /// others are, ready when all are up.
    pub fn of(stores: Vec<StoreStatus>) -> Readiness {
        let mut down = stores.iter().filter(|store| !store.status.is_up());
        let status = if down.clone().any(|store| store.critical) {
            Verdict::Unavailable
        } else if down.next().is_some() {
            Verdict::Degraded
        } else {
            Verdict::Ready
        };
        Readiness { status, stores }
    }

    /// The HTTP status to answer with: 503 only when a critical store is down, so that an outage
    /// of a store the process can do without does not take every instance out of the load balancer.
    pub fn http_status(&self) -> u16 {
        match self.status {
            Verdict::Ready | Verdict::Degraded => 200,
            Verdict::Unavailable => 503,
        }
    }
}

/// Why a store counts as down, in words an operator can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DownCause {
    /// No answer in time: the store is overloaded, stalled, or the network drops packets.
    Timeout,
    /// Nothing listens at the address: the store is stopped or restarting.
    Refused,
    /// The connection broke or the host cannot be reached.
    Unreachable,
    /// Not connected yet (the worker's consumer, at start and after a loss).
    Connecting,
    /// Shutting down.
    Stopping,
    /// It answered, with an error.
    Error,
    /// A replica further behind its primary than allowed (`REPLICA_MAX_LAG_MS`).
    Lagging,
}

impl DownCause {
    /// The category of `error`, from the first I/O error in its chain or, where a library has
    /// flattened that into text, from the words it uses.
    pub fn of(error: &(dyn Error + 'static)) -> DownCause {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                return DownCause::of_io(io.kind());
            }
            current = error.source();
        }
        let text = chain_text(error).to_lowercase();
        if text.contains("timed out") || text.contains("timeout") {
            DownCause::Timeout
        } else if text.contains("refused") {
            DownCause::Refused
        } else if [
            "reset",
            "broken pipe",
            "unreachable",
            "closed",
            "dns",
            "resolve",
        ]
        .iter()
        .any(|word| text.contains(word))
        {
            DownCause::Unreachable
        } else {
            DownCause::Error
        }
    }

    fn of_io(kind: ErrorKind) -> DownCause {
        match kind {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => DownCause::Timeout,
            ErrorKind::ConnectionRefused => DownCause::Refused,
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::AddrNotAvailable
            | ErrorKind::NotFound => DownCause::Unreachable,
            _ => DownCause::Error,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DownCause::Timeout => "timeout",
            DownCause::Refused => "refused",
            DownCause::Unreachable => "unreachable",
            DownCause::Connecting => "connecting",
            DownCause::Stopping => "stopping",
            DownCause::Error => "error",
            DownCause::Lagging => "lagging",
        }
    }
}

impl std::fmt::Display for DownCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error and its causes on one line, for the log.
pub fn chain_text(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the store failed")]
    struct Wrapped(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Flattened(String);

    #[test]
    fn io_errors_anywhere_in_the_chain_decide() {
        let refused = Wrapped(std::io::Error::from(ErrorKind::ConnectionRefused));
        assert_eq!(DownCause::of(&refused), DownCause::Refused);
        let reset = Wrapped(std::io::Error::from(ErrorKind::ConnectionReset));
        assert_eq!(DownCause::of(&reset), DownCause::Unreachable);
        let timed_out = Wrapped(std::io::Error::from(ErrorKind::TimedOut));
        assert_eq!(DownCause::of(&timed_out), DownCause::Timeout);
    }

    #[test]
    fn flattened_texts_are_read_for_their_words() {
        let cases = [
            (
                "pool timed out while waiting for an open connection",
                DownCause::Timeout,
            ),
            ("Connection refused (os error 111)", DownCause::Refused),
            ("connection reset by peer", DownCause::Unreachable),
            (
                "password authentication failed for user \"shop\"",
                DownCause::Error,
            ),
        ];
        for (text, cause) in cases {
            assert_eq!(DownCause::of(&Flattened(text.to_string())), cause, "{text}");
        }
    }

    fn store(name: &'static str, critical: bool, status: Status) -> StoreStatus {
        StoreStatus {
            name,
            role: "a role",
            critical,
            status,
            latency_ms: Some(1.5),
        }
    }

    #[test]
    fn stores_serialize_as_the_probes_always_have() {
        let up = serde_json::to_string(&store("postgres", true, Status::Up)).expect("serializes");
        assert_eq!(
            up,
            r#"{"name":"postgres","role":"a role","critical":true,"status":"up","latencyMs":1.5}"#
        );
        let down = StoreStatus {
            latency_ms: None,
            ..store("rabbitmq", true, Status::Down(DownCause::Connecting))
        };
        assert_eq!(
            serde_json::to_string(&down).expect("serializes"),
            r#"{"name":"rabbitmq","role":"a role","critical":true,"status":"down","cause":"connecting"}"#
        );
    }

    #[test]
    fn only_a_critical_store_down_makes_the_probe_unavailable() {
        let ready = Readiness::of(vec![store("postgres", true, Status::Up)]);
        assert_eq!((ready.status, ready.http_status()), (Verdict::Ready, 200));
        let degraded = Readiness::of(vec![
            store("postgres", true, Status::Up),
            store("cosmos", false, Status::Down(DownCause::Refused)),
        ]);
        assert_eq!(
            (degraded.status, degraded.http_status()),
            (Verdict::Degraded, 200)
        );
        let unavailable = Readiness::of(vec![
            store("postgres", true, Status::Down(DownCause::Timeout)),
            store("cosmos", false, Status::Up),
        ]);
        assert_eq!(
            (unavailable.status, unavailable.http_status()),
            (Verdict::Unavailable, 503)
        );
        let body = serde_json::to_value(&unavailable).expect("serializes");
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["stores"][0]["cause"], "timeout");
    }

    #[test]
    fn the_category_never_carries_the_error_text() {
        let serialized = serde_json::to_string(&DownCause::Refused).expect("serializes");
        assert_eq!(serialized, "\"refused\"");
    }
}
