//! Probes for the platform (Azure Container Apps, docker-compose, a load balancer).

use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::web::Data;
use serde::Serialize;
use shop::cache::Redis;
use shop::cart::CosmosCartStore;
use shop::events::broker::BrokerProbe;
use shop::readiness::{DownCause, chain_text};
use sqlx::PgPool;

/// `GET /healthz`: the process is alive and serving. It checks no store, so a database outage does
/// not get healthy instances restarted.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "alive" }))
}

/// The stores `/readyz` checks besides PostgreSQL, as the topology picked them.
pub struct Probes {
    pub cosmos: Option<CosmosCartStore>,
    pub redis: Option<Redis>,
    /// Set when enrollment is asynchronous (step 4).
    pub broker: Option<BrokerProbe>,
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    stores: Vec<StoreStatus>,
}

#[derive(Serialize)]
pub struct StoreStatus {
    pub name: &'static str,
    pub role: &'static str,
    /// Whether the shop cannot serve without it: only a critical store's outage makes `/readyz` 503.
    pub critical: bool,
    pub status: &'static str,
    #[serde(rename = "latencyMs")]
    pub latency_ms: f64,
    /// Why it is down, as a category: its error text goes to the log, not to a public probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<DownCause>,
}

/// A store slower than this to answer counts as down: probes (Container Apps, Kubernetes) give up
/// after one second, and a probe that times out tells the platform less than a prompt "down".
const STORE_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

async fn check<E: std::error::Error + 'static>(
    name: &'static str,
    role: &'static str,
    critical: bool,
    probe: impl Future<Output = Result<(), E>>,
) -> StoreStatus {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(STORE_CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::warn!(store = name, error = %chain_text(&error), "store check failed");
            Err(DownCause::of(&error))
        }
        Err(_) => {
            tracing::warn!(
                store = name,
                timeout_ms = STORE_CHECK_TIMEOUT.as_millis(),
                "store check got no answer in time"
            );
            Err(DownCause::Timeout)
        }
    };
    StoreStatus {
        name,
        role,
        critical,
        status: if outcome.is_ok() { "up" } else { "down" },
        latency_ms: (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
        cause: outcome.err(),
    }
}

/// Every store this step uses, checked side by side (also shown on `/about/architecture`).
pub async fn check_stores(pool: &PgPool, probes: &Probes) -> Vec<StoreStatus> {
    let postgres = check(
        "postgres",
        if probes.cosmos.is_some() {
            "catalog, accounts, orders, enrollments"
        } else {
            "catalog, accounts, carts, orders, enrollments"
        },
        true,
        shop::database::ping(pool),
    );
    let cosmos = async {
        match &probes.cosmos {
            Some(store) => Some(check("cosmos", "carts", false, store.ping()).await),
            None => None,
        }
    };
    let redis = async {
        match &probes.redis {
            Some(redis) => Some(
                check(
                    "redis",
                    "cache: catalog and carts; sessions, login limits",
                    false,
                    redis.ping(),
                )
                .await,
            ),
            None => None,
        }
    };
    // not critical: checkout goes on while it is down, and its events wait in the outbox
    let rabbitmq = async {
        match &probes.broker {
            Some(broker) => Some(
                check(
                    "rabbitmq",
                    "events: OrderPlaced to the enrollment worker",
                    false,
                    broker.ping(),
                )
                .await,
            ),
            None => None,
        }
    };
    let (postgres, cosmos, redis, rabbitmq) = tokio::join!(postgres, cosmos, redis, rabbitmq);
    std::iter::once(postgres)
        .chain(cosmos)
        .chain(redis)
        .chain(rabbitmq)
        .collect()
}

/// `GET /readyz`: each store this step uses, checked side by side. 503 when a store the shop
/// cannot serve without (PostgreSQL) is down; 200 "degraded" when only the cart store is, because
/// taking every instance out of the load balancer would turn a cart outage into a shop outage.
#[tracing::instrument(name = "readiness probe", skip_all)]
pub async fn readyz(pool: Data<PgPool>, probes: Data<Probes>) -> HttpResponse {
    let stores = check_stores(&pool, &probes).await;
    let ready = stores
        .iter()
        .all(|store| store.status == "up" || !store.critical);
    let degraded = stores.iter().any(|store| store.status != "up");
    let body = Readiness {
        status: match (ready, degraded) {
            (false, _) => "unavailable",
            (true, true) => "degraded",
            (true, false) => "ready",
        },
        stores,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
