//! What a readiness probe may say about a store that is down. Probes are public (a load balancer
//! or platform reads them, and so can anyone), so they give a short cause category; the store's
//! own error text, which can name hosts, users and versions, goes to the logs only.

use std::error::Error;
use std::io::ErrorKind;

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

    #[test]
    fn the_category_never_carries_the_error_text() {
        let serialized = serde_json::to_string(&DownCause::Refused).expect("serializes");
        assert_eq!(serialized, "\"refused\"");
    }
}
