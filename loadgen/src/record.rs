//! What one target group's recorded requests came to: counts by outcome, and three histograms in
//! microseconds.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The longest time a histogram tells apart (1 hour, in µs); longer ones count as this.
const HIGHEST_MICROS: u64 = 3_600_000_000;

/// A histogram of microseconds, from 1 µs to an hour, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, HIGHEST_MICROS, 3) {
        Ok(histogram) => histogram,
        // the bounds are constants the library accepts; reaching this is a bug here
        Err(error) => unreachable!("histogram bounds refused: {error:?}"),
    }
}

/// A duration in whole microseconds (saturating).
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A whole response was read, with this status.
    Status(u16),
    /// No whole response within the timeout; the connection was closed.
    Timeout,
    /// The connection failed (refused, reset, closed early, a malformed response).
    Error(String),
}

/// One request, as its connection saw it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When it was due (the schedule's time).
    pub due: Instant,
    /// When its connection started on it.
    pub sent: Instant,
    /// When its response (or failure) was complete.
    pub done: Instant,
    pub outcome: Outcome,
    /// It came due while every connection of its group was busy, and waited for one.
    pub waited: bool,
    /// Its connection had to be opened again first (closed by the server, or after a failure).
    pub reconnected: bool,
}

/// Responses by status class.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StatusClasses {
    #[serde(rename = "1xx")]
    pub informational: u64,
    #[serde(rename = "2xx")]
    pub success: u64,
    #[serde(rename = "3xx")]
    pub redirection: u64,
    #[serde(rename = "4xx")]
    pub client_error: u64,
    #[serde(rename = "5xx")]
    pub server_error: u64,
}

/// The recorded requests of one group.
#[derive(Debug, Clone)]
pub struct Tally {
    /// From when each request was due to its whole response (µs): the latency a user sees, with
    /// the time it waited for a free connection. Timeouts are in it too, at their time.
    pub latency: Histogram<u64>,
    /// From when the request left to its whole response (µs): what a closed-loop tool reports,
    /// kept to show the difference.
    pub service: Histogram<u64>,
    /// How late the requests that found a connection free left (µs): the generator's own lag.
    pub send_lag: Histogram<u64>,
    /// Requests finished (answered, timed out or failed).
    pub finished: u64,
    pub status: StatusClasses,
    pub timeouts: u64,
    pub errors: u64,
    /// The first error's description, to say what went wrong.
    pub first_error: Option<String>,
    /// Requests that came due while every connection was busy.
    pub waited: u64,
    pub reconnects: u64,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            latency: histogram(),
            service: histogram(),
            send_lag: histogram(),
            finished: 0,
            status: StatusClasses::default(),
            timeouts: 0,
            errors: 0,
            first_error: None,
            waited: 0,
            reconnects: 0,
        }
    }
}

impl Tally {
    pub fn record(&mut self, sample: Sample) {
        self.finished += 1;
        if sample.waited {
            self.waited += 1;
        } else {
            self.send_lag
                .saturating_record(micros(sample.sent.saturating_duration_since(sample.due)));
        }
        if sample.reconnected {
            self.reconnects += 1;
        }
        match sample.outcome {
            Outcome::Status(status) => {
                match status {
                    100..=199 => self.status.informational += 1,
                    200..=299 => self.status.success += 1,
                    300..=399 => self.status.redirection += 1,
                    400..=499 => self.status.client_error += 1,
                    _ => self.status.server_error += 1,
                }
                self.record_times(&sample.due, &sample.sent, &sample.done);
            }
            Outcome::Timeout => {
                self.timeouts += 1;
                self.record_times(&sample.due, &sample.sent, &sample.done);
            }
            Outcome::Error(error) => {
                self.errors += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }

    fn record_times(&mut self, due: &Instant, sent: &Instant, done: &Instant) {
        self.latency
            .saturating_record(micros(done.saturating_duration_since(*due)));
        self.service
            .saturating_record(micros(done.saturating_duration_since(*sent)));
    }

    /// Responses read, whatever their status.
    pub fn responses(&self) -> u64 {
        let s = self.status;
        s.informational + s.success + s.redirection + s.client_error + s.server_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(due_ms: u64, sent_ms: u64, done_ms: u64, outcome: Outcome, waited: bool) -> Sample {
        let zero = Instant::now();
        Sample {
            due: zero + Duration::from_millis(due_ms),
            sent: zero + Duration::from_millis(sent_ms),
            done: zero + Duration::from_millis(done_ms),
            outcome,
            waited,
            reconnected: false,
        }
    }

    #[test]
    fn latency_counts_from_when_the_request_was_due() {
        let mut tally = Tally::default();
        // due at 0, a connection free only at 150 ms, answered at 152 ms
        tally.record(sample(0, 150, 152, Outcome::Status(200), true));
        assert_eq!(
            tally.latency.max(),
            tally.latency.highest_equivalent(152_000)
        );
        assert_eq!(tally.service.max(), 2_000);
        // it waited for a connection: not the generator's lag
        assert_eq!((tally.waited, tally.send_lag.len()), (1, 0));
        tally.record(sample(10, 11, 13, Outcome::Status(200), false));
        assert_eq!(tally.send_lag.max(), 1_000);
    }

    #[test]
    fn outcomes_are_counted_by_kind() {
        let mut tally = Tally::default();
        for status in [200, 204, 301, 404, 503, 101] {
            tally.record(sample(0, 0, 1, Outcome::Status(status), false));
        }
        tally.record(sample(0, 0, 2_000, Outcome::Timeout, false));
        tally.record(sample(0, 0, 1, Outcome::Error("refused".into()), false));
        tally.record(sample(0, 0, 1, Outcome::Error("reset".into()), false));
        let classes = tally.status;
        assert_eq!(
            (
                classes.informational,
                classes.success,
                classes.redirection,
                classes.client_error,
                classes.server_error
            ),
            (1, 2, 1, 1, 1)
        );
        assert_eq!((tally.timeouts, tally.errors, tally.finished), (1, 2, 9));
        assert_eq!(tally.first_error.as_deref(), Some("refused"));
        // the timeout is in the latency at its time; the failures are not
        assert_eq!(tally.latency.len(), 7);
        assert_eq!(tally.responses(), 6);
    }
}
