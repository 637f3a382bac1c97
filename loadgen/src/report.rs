//! What a run found: a summary (also the `--json` output) and the table printed for people.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::record::{StatusClasses, Tally};

/// The generator kept up when its own lateness stayed under this at the 99th percentile.
pub const KEPT_UP_LAG: Duration = Duration::from_millis(1);

/// A run's raw results.
#[derive(Debug)]
pub struct Report {
    pub rate: f64,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub timeout: Duration,
    pub threads: usize,
    pub cores: usize,
    pub groups: Vec<GroupReport>,
    /// How late the pacer released each request (µs).
    pub pacer_lateness: Histogram<u64>,
    /// The wall time the CPU figures cover (the recorded time, as measured).
    pub wall: Duration,
    /// This process's CPU time over `wall`, when `/proc` could be read.
    pub generator_cpu: Option<Duration>,
    /// The machine's CPU pressure stall time over `wall` (`/proc/pressure/cpu`), when readable.
    pub cpu_pressure: Option<Duration>,
    pub watched: Vec<Watched>,
}

#[derive(Debug)]
pub struct GroupReport {
    pub name: String,
    pub address: SocketAddr,
    pub paths: usize,
    /// Requests due in the recorded time.
    pub scheduled: u64,
    /// Of those, the ones a connection started on.
    pub sent: u64,
    pub tally: Tally,
}

/// Another process whose CPU time was measured over the recorded time.
#[derive(Debug)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
    pub cpu: Option<Duration>,
}

/// The machine-readable summary (`--json`). Times in milliseconds; CPU shares as a fraction of one
/// core (1.0 = one core busy all the time).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub rate_per_target: f64,
    pub connections_per_target: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub timeout_s: f64,
    pub generator: Generator,
    pub targets: Vec<Target>,
}

#[derive(Debug, Serialize)]
pub struct Generator {
    pub threads: usize,
    pub cores: usize,
    /// The generator's CPU time over the recorded wall time.
    pub cpu_share: Option<f64>,
    /// Its lateness stayed under 1 ms at p99 (the pacer's and the sends' that found a connection
    /// free), and every request due was sent.
    pub kept_up: bool,
    /// How late the pacer released requests.
    pub pacer_lateness_ms: Lag,
    pub watched: Vec<WatchedShare>,
    /// The share of the recorded time in which some runnable task of the machine waited for a
    /// CPU (`/proc/pressure/cpu`): how crowded the machine was, whoever crowded it.
    pub machine_cpu_pressure: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct WatchedShare {
    pub name: String,
    pub pid: u32,
    pub cpu_share: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub address: String,
    pub paths: usize,
    /// Requests due in the recorded time.
    pub scheduled: u64,
    pub sent: u64,
    /// Due but never sent before the run ended (the generator or the connections fell behind).
    pub unsent: u64,
    /// Sent and answered, timed out or failed.
    pub finished: u64,
    /// Requests sent a second over the recorded time.
    pub achieved_rate: f64,
    pub responses: StatusClasses,
    pub errors: u64,
    pub timeouts: u64,
    pub first_error: Option<String>,
    pub reconnects: u64,
    /// Requests that came due while every connection was busy (their wait is in the latency).
    pub waited_for_connection: u64,
    /// From when each request was due to its whole response.
    pub latency_ms: Percentiles,
    /// From when each request left (what a closed-loop tool would report).
    pub uncorrected_ms: Percentiles,
    /// How late the requests that found a connection free left: the generator's own lag.
    pub behind_schedule_ms: Lag,
}

#[derive(Debug, Serialize, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Serialize, Clone, Copy, PartialEq)]
pub struct Lag {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn percentiles(histogram: &Histogram<u64>) -> Percentiles {
    if histogram.is_empty() {
        return Percentiles {
            count: 0,
            p50: 0.0,
            p90: 0.0,
            p99: 0.0,
            p99_9: 0.0,
            max: 0.0,
            mean: 0.0,
        };
    }
    Percentiles {
        count: histogram.len(),
        p50: ms(histogram.value_at_quantile(0.5)),
        p90: ms(histogram.value_at_quantile(0.9)),
        p99: ms(histogram.value_at_quantile(0.99)),
        p99_9: ms(histogram.value_at_quantile(0.999)),
        max: ms(histogram.max()),
        mean: histogram.mean().round() / 1000.0,
    }
}

fn lag(histogram: &Histogram<u64>) -> Lag {
    if histogram.is_empty() {
        return Lag {
            p50: 0.0,
            p99: 0.0,
            max: 0.0,
        };
    }
    Lag {
        p50: ms(histogram.value_at_quantile(0.5)),
        p99: ms(histogram.value_at_quantile(0.99)),
        max: ms(histogram.max()),
    }
}

fn share(cpu: Option<Duration>, wall: Duration) -> Option<f64> {
    let wall = wall.as_secs_f64();
    cpu.filter(|_| wall > 0.0)
        .map(|cpu| (cpu.as_secs_f64() / wall * 1000.0).round() / 1000.0)
}

impl Report {
    pub fn summary(&self) -> Summary {
        let duration_s = self.duration.as_secs_f64();
        let kept_up_ms = KEPT_UP_LAG.as_secs_f64() * 1000.0;
        let pacer = lag(&self.pacer_lateness);
        let targets: Vec<Target> = self
            .groups
            .iter()
            .map(|group| {
                let tally = &group.tally;
                Target {
                    name: group.name.clone(),
                    address: group.address.to_string(),
                    paths: group.paths,
                    scheduled: group.scheduled,
                    sent: group.sent,
                    unsent: group.scheduled.saturating_sub(group.sent),
                    finished: tally.finished,
                    achieved_rate: if duration_s > 0.0 {
                        (group.sent as f64 / duration_s * 10.0).round() / 10.0
                    } else {
                        0.0
                    },
                    responses: tally.status,
                    errors: tally.errors,
                    timeouts: tally.timeouts,
                    first_error: tally.first_error.clone(),
                    reconnects: tally.reconnects,
                    waited_for_connection: tally.waited,
                    latency_ms: percentiles(&tally.latency),
                    uncorrected_ms: percentiles(&tally.service),
                    behind_schedule_ms: lag(&tally.send_lag),
                }
            })
            .collect();
        let kept_up = pacer.p99 <= kept_up_ms
            && targets
                .iter()
                .all(|target| target.unsent == 0 && target.behind_schedule_ms.p99 <= kept_up_ms);
        Summary {
            rate_per_target: self.rate,
            connections_per_target: self.connections,
            warmup_s: self.warmup.as_secs_f64(),
            duration_s,
            timeout_s: self.timeout.as_secs_f64(),
            generator: Generator {
                threads: self.threads,
                cores: self.cores,
                cpu_share: share(self.generator_cpu, self.wall),
                kept_up,
                pacer_lateness_ms: pacer,
                watched: self
                    .watched
                    .iter()
                    .map(|watched| WatchedShare {
                        name: watched.name.clone(),
                        pid: watched.pid,
                        cpu_share: share(watched.cpu, self.wall),
                    })
                    .collect(),
                machine_cpu_pressure: share(self.cpu_pressure, self.wall),
            },
            targets,
        }
    }
}

impl Summary {
    /// The table for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} requests/s a target for {} s after {} s of warm-up, {} connections a target (timeout {} s)",
            self.rate_per_target,
            self.duration_s,
            self.warmup_s,
            self.connections_per_target,
            self.timeout_s
        );
        let _ = writeln!(
            out,
            "latency from when each request was due (ms):\n{:<10} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "target",
            "sent",
            "rate/s",
            "2xx",
            "3xx",
            "4xx",
            "5xx",
            "errors",
            "t/outs",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max"
        );
        for target in &self.targets {
            let l = target.latency_ms;
            let r = target.responses;
            let _ = writeln!(
                out,
                "{:<10} {:>8} {:>8.1} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                target.name,
                target.sent,
                target.achieved_rate,
                r.success,
                r.redirection,
                r.client_error,
                r.server_error + r.informational,
                target.errors,
                target.timeouts,
                l.p50,
                l.p90,
                l.p99,
                l.p99_9,
                l.max
            );
        }
        for target in &self.targets {
            let u = target.uncorrected_ms;
            let b = target.behind_schedule_ms;
            let _ = writeln!(
                out,
                "{}: from the actual send (as a closed-loop tool counts) p50 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2} ms; \
                 {} came due with every connection busy; on-time sends late by p50 {:.3}, p99 {:.3}, max {:.2} ms{}{}",
                target.name,
                u.p50,
                u.p99,
                u.p99_9,
                u.max,
                target.waited_for_connection,
                b.p50,
                b.p99,
                b.max,
                if target.unsent > 0 {
                    format!("; {} due but never sent", target.unsent)
                } else {
                    String::new()
                },
                match &target.first_error {
                    Some(error) => format!("; first error: {error}"),
                    None => String::new(),
                }
            );
        }
        let g = &self.generator;
        let cpu = match g.cpu_share {
            Some(share) => format!(
                "{:.1}% of one core ({:.1}% of the machine's {})",
                share * 100.0,
                share * 100.0 / g.cores.max(1) as f64,
                g.cores
            ),
            None => "unknown (no /proc)".to_string(),
        };
        let _ = writeln!(
            out,
            "generator: CPU {cpu}, {} runtime thread{}; pacer late by p50 {:.3}, p99 {:.3}, max {:.2} ms; kept up with the schedule: {}",
            g.threads,
            if g.threads == 1 { "" } else { "s" },
            g.pacer_lateness_ms.p50,
            g.pacer_lateness_ms.p99,
            g.pacer_lateness_ms.max,
            if g.kept_up {
                "yes"
            } else {
                "NO (figures include the generator's own lateness)"
            }
        );
        if let Some(pressure) = g.machine_cpu_pressure {
            let _ = writeln!(
                out,
                "machine: some task waited for a CPU {:.0}% of the time (CPU pressure; other work on the machine counts too)",
                pressure * 100.0
            );
        }
        for watched in &g.watched {
            let _ = writeln!(
                out,
                "watched: {} (pid {}) CPU {}",
                watched.name,
                watched.pid,
                match watched.cpu_share {
                    Some(share) => format!("{:.1}% of one core", share * 100.0),
                    None => "unknown (it exited?)".to_string(),
                }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, Sample};
    use std::time::Instant;

    #[test]
    fn the_summary_gives_percentiles_in_milliseconds_and_the_shortfall() {
        let zero = Instant::now();
        let mut tally = Tally::default();
        for i in 0..1000u64 {
            tally.record(Sample {
                due: zero,
                sent: zero,
                // 1 ms each, and the slowest 2 at 40 ms
                done: zero + Duration::from_micros(if i >= 998 { 40_000 } else { 1_000 }),
                outcome: Outcome::Status(200),
                waited: false,
                reconnected: false,
            });
        }
        let report = Report {
            rate: 100.0,
            connections: 4,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            threads: 1,
            cores: 2,
            groups: vec![GroupReport {
                name: "courses".into(),
                address: "127.0.0.1:8080".parse().expect("address"),
                paths: 1,
                scheduled: 1001,
                sent: 1000,
                tally,
            }],
            pacer_lateness: crate::record::histogram(),
            wall: Duration::from_secs(10),
            generator_cpu: Some(Duration::from_millis(1_500)),
            cpu_pressure: Some(Duration::from_secs(4)),
            watched: vec![Watched {
                name: "shop".into(),
                pid: 1,
                cpu: None,
            }],
        };
        let summary = report.summary();
        let target = &summary.targets[0];
        assert_eq!((target.latency_ms.p50, target.latency_ms.p99), (1.0, 1.0));
        // a histogram keeps 3 significant figures: 40 ms is told apart to 32 µs
        assert!(
            (40.0..40.04).contains(&target.latency_ms.p99_9),
            "{target:?}"
        );
        assert_eq!((target.unsent, target.achieved_rate), (1, 100.0));
        assert_eq!(summary.generator.cpu_share, Some(0.15));
        // one request due was never sent: the generator did not keep up
        assert!(!summary.generator.kept_up);
        let json = serde_json::to_value(&summary).expect("serializes");
        assert_eq!(
            json["targets"][0]["latency_ms"]["p99.9"],
            target.latency_ms.p99_9
        );
        assert_eq!(json["targets"][0]["responses"]["2xx"], 1000);
        let table = summary.table();
        assert!(table.contains("courses"), "{table}");
        assert!(table.contains("1 due but never sent"), "{table}");
        assert!(
            table.contains("CPU 15.0% of one core (7.5% of the machine's 2)"),
            "{table}"
        );
        assert!(
            table.contains("waited for a CPU 40% of the time"),
            "{table}"
        );
    }
}
