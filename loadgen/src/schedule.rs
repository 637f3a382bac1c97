//! When each request is due, and the pacer that releases them on time.
//!
//! Request `i` of a target group is due at `start + (i + phase) / rate`, computed from the start each
//! time (never by adding intervals, which would drift). Groups sent in the same run get phases
//! spread over one interval, so their requests interleave instead of leaving together.
//!
//! The pacer is a plain thread that sleeps until the next request is due and then releases it (one
//! permit of its group's semaphore), for whichever connection is free to take. A thread, not a
//! tokio timer: tokio's timers have a granularity of one millisecond, so a request would leave up to
//! a millisecond after it was due, and since latency is counted from when it was due, that
//! millisecond would be added to every figure. A thread's sleep overshoots by tens of microseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

use crate::record::micros;

/// When the requests of one group are due.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    start: Instant,
    interval_ns: f64,
    phase: f64,
}

impl Schedule {
    /// `rate` requests a second from `start`, shifted by `phase` intervals (0 ≤ phase < 1).
    pub fn new(start: Instant, rate: f64, phase: f64) -> Schedule {
        Schedule {
            start,
            interval_ns: 1e9 / rate,
            phase,
        }
    }

    /// How long after the start request `i` is due.
    pub fn offset(&self, i: u64) -> Duration {
        // u64 → f64 is exact below 2^53 requests; the product is rounded to the nanosecond
        Duration::from_nanos(((i as f64 + self.phase) * self.interval_ns).round() as u64)
    }

    /// When request `i` is due.
    pub fn due(&self, i: u64) -> Instant {
        self.start + self.offset(i)
    }

    /// The first request due at or after `offset` from the start: the requests due in
    /// `[a, b)` are `first_at_or_after(a)..first_at_or_after(b)`.
    pub fn first_at_or_after(&self, offset: Duration) -> u64 {
        let estimate = (offset.as_nanos() as f64 / self.interval_ns - self.phase).ceil();
        let mut i = if estimate > 0.0 { estimate as u64 } else { 0 };
        // the estimate may be one off where rounding differs from `offset`'s
        while i > 0 && self.offset(i - 1) >= offset {
            i -= 1;
        }
        while self.offset(i) < offset {
            i += 1;
        }
        i
    }
}

/// One group as the pacer sees it: its schedule, how many requests to release, and where.
pub struct Lane {
    pub schedule: Schedule,
    pub count: u64,
    pub release: Arc<Semaphore>,
}

/// Releases every lane's requests as they come due, in due order across lanes, and returns how
/// late each release was (µs): the generator's own lateness, which no server can cause.
pub fn pace(lanes: &[Lane]) -> Histogram<u64> {
    let mut lateness = crate::record::histogram();
    let mut next = vec![0u64; lanes.len()];
    loop {
        let mut earliest: Option<(usize, Instant)> = None;
        for (k, lane) in lanes.iter().enumerate() {
            if next[k] < lane.count {
                let due = lane.schedule.due(next[k]);
                if earliest.is_none_or(|(_, first)| due < first) {
                    earliest = Some((k, due));
                }
            }
        }
        let Some((k, due)) = earliest else {
            return lateness;
        };
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        lateness.saturating_record(micros(Instant::now().saturating_duration_since(due)));
        lanes[k].release.add_permits(1);
        next[k] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_due_at_fixed_intervals_from_the_start() {
        let start = Instant::now();
        let schedule = Schedule::new(start, 400.0, 0.0);
        assert_eq!(schedule.offset(0), Duration::ZERO);
        assert_eq!(schedule.offset(1), Duration::from_micros(2_500));
        assert_eq!(schedule.offset(400), Duration::from_secs(1));
        // computed from the start, so a million requests later there is no drift
        assert_eq!(schedule.offset(1_000_000), Duration::from_secs(2_500));
        assert_eq!(schedule.due(4), start + Duration::from_millis(10));
    }

    #[test]
    fn groups_interleave_by_their_phase() {
        let start = Instant::now();
        let first = Schedule::new(start, 1000.0, 0.0);
        let second = Schedule::new(start, 1000.0, 0.5);
        assert_eq!(first.offset(3), Duration::from_micros(3_000));
        assert_eq!(second.offset(3), Duration::from_micros(3_500));
    }

    #[test]
    fn the_requests_of_a_window_are_counted_exactly() {
        let schedule = Schedule::new(Instant::now(), 2600.0, 0.0);
        // 5 s of warm-up, then 60 s recorded: 13,000 requests before, 156,000 in the window
        let from = schedule.first_at_or_after(Duration::from_secs(5));
        let to = schedule.first_at_or_after(Duration::from_secs(65));
        assert_eq!((from, to - from), (13_000, 156_000));
        assert!(schedule.offset(from) >= Duration::from_secs(5));
        assert!(schedule.offset(from - 1) < Duration::from_secs(5));

        // an awkward rate and a phase: the boundaries still hold exactly
        let odd = Schedule::new(Instant::now(), 3.0, 0.5);
        for millis in [0, 1, 166, 167, 500, 999, 1000, 1001, 1167] {
            let offset = Duration::from_millis(millis);
            let i = odd.first_at_or_after(offset);
            assert!(odd.offset(i) >= offset, "{millis} ms: {i}");
            assert!(i == 0 || odd.offset(i - 1) < offset, "{millis} ms: {i}");
        }
        assert_eq!(odd.first_at_or_after(Duration::ZERO), 0);
    }

    #[test]
    fn the_pacer_releases_each_request_when_it_is_due_and_no_sooner() {
        let start = Instant::now() + Duration::from_millis(5);
        let lanes = [
            Lane {
                schedule: Schedule::new(start, 200.0, 0.0),
                count: 10,
                release: Arc::new(Semaphore::new(0)),
            },
            Lane {
                schedule: Schedule::new(start, 200.0, 0.5),
                count: 10,
                release: Arc::new(Semaphore::new(0)),
            },
        ];
        let lateness = pace(&lanes);
        // all released, none before its time: the last is due 47.5 ms after the start
        assert!(Instant::now() >= start + Duration::from_micros(47_500));
        assert_eq!(lanes[0].release.available_permits(), 10);
        assert_eq!(lanes[1].release.available_permits(), 10);
        assert_eq!(lateness.len(), 20);
    }
}
