//! Which store serves what: the tutorial step and its per-store switches (DESIGN §3).
//!
//! `SHOP_STEP` picks a preset; `CART_STORE`, `CACHE` and `ENROLLMENT` override single pieces of it
//! (read in `settings/topology.rs`). A value outside these is refused at start, naming the
//! variable, never quietly swapped for another.

use std::fmt;

/// A step of the tutorial in `docs/tutorial/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Monolith = 0,
    AzureSetup = 1,
    CartsInCosmos = 2,
    Redis = 3,
    AsyncMessaging = 4,
    /// Step 4's stores, run by several instances behind a load balancer with a read replica and a
    /// connection pooler (`./scripts/run` starts those; the preset's switches are step 4's).
    ScaleOut = 5,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Monolith,
        Step::AzureSetup,
        Step::CartsInCosmos,
        Step::Redis,
        Step::AsyncMessaging,
        Step::ScaleOut,
    ];

    /// The step a shop starts in when `SHOP_STEP` is not set: the newest, step 5. Its switches are
    /// step 4's, so a shop started without the settings of step 5's stack (no replica URL) serves as
    /// step 4 does, reading everything on the primary.
    pub const DEFAULT: Step = Step::ScaleOut;

    /// The highest step `SHOP_STEP` accepts.
    pub const LAST: Step = Step::ScaleOut;

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(number: u8) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.number() == number)
    }

    pub fn title(self) -> &'static str {
        match self {
            Step::Monolith => "monolith",
            Step::AzureSetup => "Azure setup",
            Step::CartsInCosmos => "carts in Cosmos DB",
            Step::Redis => "Redis cache",
            Step::AsyncMessaging => "async messaging",
            Step::ScaleOut => "scale out",
        }
    }

    /// The stores this step uses unless a switch overrides one of them.
    pub fn preset(self) -> Topology {
        let (cart_store, cache, enrollment) = match self {
            Step::Monolith | Step::AzureSetup => (
                CartStoreKind::Postgres,
                CacheMode::Off,
                EnrollmentMode::Sync,
            ),
            Step::CartsInCosmos => (CartStoreKind::Cosmos, CacheMode::Off, EnrollmentMode::Sync),
            Step::Redis => (
                CartStoreKind::Cosmos,
                CacheMode::Redis,
                EnrollmentMode::Sync,
            ),
            // scaling out changes how many processes serve, not which store serves what
            Step::AsyncMessaging | Step::ScaleOut => (
                CartStoreKind::Cosmos,
                CacheMode::Redis,
                EnrollmentMode::Async,
            ),
        };
        Topology {
            step: self,
            cart_store,
            cache,
            enrollment,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} ({})", self.number(), self.title())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartStoreKind {
    Postgres,
    Cosmos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    Off,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentMode {
    Sync,
    Async,
}

/// One of the settings switches: its environment name, its accepted values and what each value means.
pub trait Switch: Sized + Copy + PartialEq + 'static {
    const VARIABLE: &'static str;
    const VALUES: &'static [(&'static str, Self)];

    fn parse(value: &str) -> Option<Self> {
        let value = value.trim().to_ascii_lowercase();
        Self::VALUES
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, switch)| *switch)
    }

    fn accepted() -> String {
        let names: Vec<&str> = Self::VALUES.iter().map(|(name, _)| *name).collect();
        names.join(", ")
    }
}

impl Switch for CartStoreKind {
    const VARIABLE: &'static str = "CART_STORE";
    const VALUES: &'static [(&'static str, Self)] = &[
        ("postgres", CartStoreKind::Postgres),
        ("cosmos", CartStoreKind::Cosmos),
    ];
}

impl Switch for CacheMode {
    const VARIABLE: &'static str = "CACHE";
    const VALUES: &'static [(&'static str, Self)] =
        &[("off", CacheMode::Off), ("redis", CacheMode::Redis)];
}

impl Switch for EnrollmentMode {
    const VARIABLE: &'static str = "ENROLLMENT";
    const VALUES: &'static [(&'static str, Self)] = &[
        ("sync", EnrollmentMode::Sync),
        ("async", EnrollmentMode::Async),
    ];
}

/// The stores the running shop uses: the step's preset with any switches applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    pub step: Step,
    pub cart_store: CartStoreKind,
    pub cache: CacheMode,
    pub enrollment: EnrollmentMode,
}

impl Topology {
    /// The services this topology needs running, by the names `./scripts/run` knows them.
    pub fn services(&self) -> Vec<&'static str> {
        let mut services = vec!["postgres"];
        if self.cart_store == CartStoreKind::Cosmos {
            services.push("cosmos");
        }
        if self.cache == CacheMode::Redis {
            services.push("redis");
        }
        if self.enrollment == EnrollmentMode::Async {
            services.push("rabbitmq");
        }
        if self.step == Step::ScaleOut {
            // the streaming replica, PgBouncer in front of the primary, HAProxy in front of the
            // instances: what step 5 adds around the same stores
            services.extend(["replica", "pgbouncer", "haproxy"]);
        }
        services
    }

    /// True when a switch changed the step's preset (shown in the footer, so a class knows).
    pub fn is_customised(&self) -> bool {
        *self != self.step.preset()
    }

    pub fn cart_store_label(&self) -> &'static str {
        match self.cart_store {
            CartStoreKind::Postgres => "PostgreSQL",
            CartStoreKind::Cosmos => "Azure Cosmos DB",
        }
    }

    /// True when pages are cached (step 3 on): then Redis also holds the sessions.
    pub fn has_cache(&self) -> bool {
        self.cache == CacheMode::Redis
    }

    pub fn cache_label(&self) -> &'static str {
        match self.cache {
            CacheMode::Off => "none",
            CacheMode::Redis => "Redis",
        }
    }

    pub fn enrollment_label(&self) -> &'static str {
        match self.enrollment {
            EnrollmentMode::Sync => "synchronous, in the checkout transaction",
            EnrollmentMode::Async => "outbox → RabbitMQ → enrollment worker",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_number_round_trips() {
        for step in Step::ALL {
            assert_eq!(Step::from_number(step.number()), Some(step));
        }
        assert_eq!(Step::from_number(6), None);
        assert_eq!(Step::ALL.last(), Some(&Step::LAST));
    }

    #[test]
    fn the_default_is_the_target() {
        // its services are checked below, with what step 5 adds to step 4
        assert_eq!(Step::DEFAULT, Step::ScaleOut);
    }

    #[test]
    fn scaling_out_keeps_step_4s_stores_and_adds_the_stack_around_them() {
        let scale_out = Step::ScaleOut.preset();
        assert_eq!(
            Topology {
                step: Step::AsyncMessaging,
                ..scale_out
            },
            Step::AsyncMessaging.preset()
        );
        assert_eq!(
            scale_out.services(),
            [
                "postgres",
                "cosmos",
                "redis",
                "rabbitmq",
                "replica",
                "pgbouncer",
                "haproxy"
            ]
        );
        let sync = Topology {
            enrollment: EnrollmentMode::Sync,
            ..scale_out
        };
        assert_eq!(
            sync.services(),
            [
                "postgres",
                "cosmos",
                "redis",
                "replica",
                "pgbouncer",
                "haproxy"
            ]
        );
        assert_eq!(Step::ScaleOut.to_string(), "step 5 (scale out)");
    }

    #[test]
    fn switches_parse_case_insensitively_and_reject_unknown_values() {
        assert_eq!(CacheMode::parse(" Redis "), Some(CacheMode::Redis));
        assert_eq!(EnrollmentMode::parse("async"), Some(EnrollmentMode::Async));
        assert_eq!(CartStoreKind::parse("mongo"), None);
        assert_eq!(CartStoreKind::accepted(), "postgres, cosmos");
    }
}
