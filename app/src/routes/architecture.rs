//! `GET /about/architecture`: what an instructor puts on the projector: the active tutorial step,
//! which store serves what, each store's live status, and the figures that show the step working.

use actix_web::web::Data;
use askama::Template;
use askama_web::WebTemplate;

use shop::cache::CacheName;
use shop::database::ReplicaStatus;
use shop::events::Outbox;
use shop::metrics::CacheOutcome;
use shop::orders::Orders;
use shop::settings::InstanceName;
use shop::topology::{EnrollmentMode, Step, Topology};

use crate::layout::Layout;
use crate::probes::{StoreStatus, check_stores};
use crate::state::AppState;
use crate::visitor::Visitor;

/// The caches whose figures the page shows.
const CACHES: [(CacheName, &str); 4] = [
    (CacheName::Course, "course pages"),
    (CacheName::CatalogPage, "catalog list pages"),
    (CacheName::Categories, "categories"),
    (CacheName::Cart, "carts"),
];

pub struct CacheFigures {
    pub label: &'static str,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub rebuilds: u64,
}

impl CacheFigures {
    /// "87.5 %", or "—" before the first lookup.
    pub fn hit_ratio(&self) -> String {
        let lookups = self.hits + self.misses + self.errors;
        if lookups == 0 {
            "—".to_string()
        } else {
            format!("{:.1} %", self.hits as f64 * 100.0 / lookups as f64)
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "about/architecture.html")]
pub struct ArchitecturePage {
    layout: Layout,
    topology: Topology,
    /// The instance that served this page: behind a load balancer, one of several.
    instance: InstanceName,
    steps: &'static [Step],
    stores: Vec<StoreStatus>,
    caches: Vec<CacheFigures>,
    postgres_queries: u64,
    /// Step 4: the outbox and the orders waiting for the worker (`None` when they cannot be read).
    events: Option<EventFigures>,
    /// Step 5: the replica as its lag monitor last measured it (`None` without one).
    replica: Option<ReplicaStatus>,
}

pub struct EventFigures {
    pub pending: i64,
    pub oldest_pending: String,
    pub awaiting_enrollment: i64,
    pub oldest_awaiting: String,
    pub published: u64,
}

/// "1.4 s", or "—" when nothing waits.
fn age(age: Option<std::time::Duration>) -> String {
    age.map_or_else(
        || "—".to_string(),
        |age| format!("{:.1} s", age.as_secs_f64()),
    )
}

impl ArchitecturePage {
    fn is_active(&self, step: &Step) -> bool {
        *step == self.topology.step
    }

    /// "0.12 s", or "not measured yet".
    fn replica_lag(&self, status: &ReplicaStatus) -> String {
        status.lag.map_or_else(
            || "not measured yet".to_string(),
            |lag| format!("{:.2} s", lag.as_secs_f64()),
        )
    }

    /// The lag in whole milliseconds, for tools (empty before the first measurement).
    fn replica_lag_ms(&self, status: &ReplicaStatus) -> String {
        status
            .lag
            .map(|lag| lag.as_millis().to_string())
            .unwrap_or_default()
    }
}

#[tracing::instrument(name = "architecture page", skip_all)]
pub async fn architecture(state: Data<AppState>, visitor: Visitor) -> ArchitecturePage {
    let pool = &state.pool;
    let probes = &state.probes;
    let stores = check_stores(pool, probes).await;
    let events = match state.topology.enrollment {
        EnrollmentMode::Sync => None,
        EnrollmentMode::Async => {
            let (outbox, orders) = (Outbox::new(pool.clone()), Orders::new(pool.clone()));
            match tokio::try_join!(outbox.backlog(), orders.awaiting_enrollment()) {
                Ok((backlog, waiting)) => Some(EventFigures {
                    pending: backlog.pending,
                    oldest_pending: age(backlog.oldest),
                    awaiting_enrollment: waiting.orders,
                    oldest_awaiting: age(waiting.oldest),
                    published: state.metrics.outbox.published_so_far(),
                }),
                Err(error) => {
                    tracing::warn!(%error, "the outbox figures could not be read");
                    None
                }
            }
        }
    };
    let cache_metrics = &state.metrics.cache;
    let caches = CACHES
        .into_iter()
        .map(|(cache, label)| CacheFigures {
            label,
            hits: cache_metrics.requests(cache, CacheOutcome::Hit),
            misses: cache_metrics.requests(cache, CacheOutcome::Miss),
            errors: cache_metrics.requests(cache, CacheOutcome::Error),
            rebuilds: cache_metrics.rebuilds(cache),
        })
        .collect();
    ArchitecturePage {
        layout: visitor.layout("How this shop is built").noindex().describe(format!(
            "How Courseshop is built: at tutorial {}, which store serves what, each store's live \
             status and latency, and the figures since this instance started.",
            state.topology.step
        )),
        topology: state.topology,
        instance: state.instance.clone(),
        steps: &Step::ALL,
        stores,
        caches,
        postgres_queries: state.metrics.postgres.statements(),
        events,
        replica: state.reads.replica_status(),
    }
}
