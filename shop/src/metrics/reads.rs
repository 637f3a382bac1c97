//! Read routing's family (step 5): where reads went, why one that could have gone to the replica
//! did not, and how far the replica is behind.

use prometheus::{Gauge, IntCounterVec, Opts};

use super::MetricsRegistry;

/// Which server answered a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadTarget {
    Primary,
    Replica,
}

impl ReadTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadTarget::Primary => "primary",
            ReadTarget::Replica => "replica",
        }
    }
}

/// Why a read that may go to the replica went to the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The replica has not been checked yet (the instance is starting).
    Unchecked,
    /// The replica does not answer, or is no replica.
    Down,
    /// The replica is further behind than `REPLICA_MAX_LAG_MS`.
    Lagging,
    /// The reader's own write (or the cached catalog's last change) is not replayed there yet.
    WriteNotReplayed,
    /// The read failed on the replica and was done again on the primary.
    Failed,
}

impl Fallback {
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::Unchecked => "unchecked",
            Fallback::Down => "down",
            Fallback::Lagging => "lagging",
            Fallback::WriteNotReplayed => "write_not_replayed",
            Fallback::Failed => "failed",
        }
    }
}

/// `courseshop_database_reads_total{target}`, `courseshop_replica_fallbacks_total{reason}` and
/// `courseshop_replica_lag_seconds`.
#[derive(Clone, Debug)]
pub struct ReadMetrics {
    reads: IntCounterVec,
    fallbacks: IntCounterVec,
    lag: Gauge,
}

impl ReadMetrics {
    pub fn new(registry: &MetricsRegistry) -> ReadMetrics {
        ReadMetrics {
            reads: registry.register(IntCounterVec::new(
                Opts::new(
                    "courseshop_database_reads_total",
                    "Catalog reads that may use the replica, by the server that answered (primary, replica).",
                ),
                &["target"],
            )),
            fallbacks: registry.register(IntCounterVec::new(
                Opts::new(
                    "courseshop_replica_fallbacks_total",
                    "Reads that could have gone to the replica but went to the primary, by reason.",
                ),
                &["reason"],
            )),
            lag: registry.register(Gauge::new(
                "courseshop_replica_lag_seconds",
                "How far the replica replays behind the primary, as last measured.",
            )),
        }
    }

    /// A read was answered by `target`.
    pub fn read(&self, target: ReadTarget) {
        self.reads.with_label_values(&[target.as_str()]).inc();
    }

    /// A read went to the primary instead of the replica, for `reason`.
    pub fn fallback(&self, reason: Fallback) {
        self.fallbacks.with_label_values(&[reason.as_str()]).inc();
    }

    pub fn set_lag(&self, seconds: f64) {
        self.lag.set(seconds);
    }

    /// Reads answered by `target` so far.
    pub fn reads(&self, target: ReadTarget) -> u64 {
        self.reads.with_label_values(&[target.as_str()]).get()
    }

    /// Fallbacks for `reason` so far.
    pub fn fallbacks(&self, reason: Fallback) -> u64 {
        self.fallbacks.with_label_values(&[reason.as_str()]).get()
    }
}
