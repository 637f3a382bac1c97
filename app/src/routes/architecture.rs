//! `GET /about/architecture`: what an instructor puts on the projector: the active tutorial step,
//! which store serves what, each store's live status, and the figures that show the step working.

use actix_web::web::Data;
use askama::Template;
use askama_web::WebTemplate;
use sqlx::PgPool;

use shop::metrics::{self, CacheOutcome};
use shop::topology::{Step, Topology};

use super::health::{Probes, StoreStatus, check_stores};
use crate::layout::{Layout, ShopInfo, Visitor};

/// The caches whose figures the page shows (the names `shop::metrics` counts them under).
const CACHES: [(&str, &str); 4] = [
    ("course", "course pages"),
    ("catalog_page", "catalog list pages"),
    ("categories", "categories"),
    ("cart", "carts"),
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
    steps: [Step; 5],
    stores: Vec<StoreStatus>,
    caches: Vec<CacheFigures>,
    postgres_queries: u64,
}

impl ArchitecturePage {
    fn is_active(&self, step: &Step) -> bool {
        *step == self.topology.step
    }
}

#[tracing::instrument(name = "architecture page", skip_all)]
pub async fn architecture(
    visitor: Visitor,
    info: Data<ShopInfo>,
    pool: Data<PgPool>,
    probes: Data<Probes>,
) -> ArchitecturePage {
    let stores = check_stores(&pool, &probes).await;
    let caches = CACHES
        .into_iter()
        .map(|(cache, label)| CacheFigures {
            label,
            hits: metrics::cache_requests(cache, CacheOutcome::Hit),
            misses: metrics::cache_requests(cache, CacheOutcome::Miss),
            errors: metrics::cache_requests(cache, CacheOutcome::Error),
            rebuilds: metrics::cache_rebuilds(cache),
        })
        .collect();
    ArchitecturePage {
        layout: visitor.layout("How this shop is built"),
        topology: info.topology,
        steps: Step::ALL,
        stores,
        caches,
        postgres_queries: metrics::postgres_queries(),
    }
}
