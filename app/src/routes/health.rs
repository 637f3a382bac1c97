//! Probes for the platform (Azure Container Apps, docker-compose, a load balancer).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use shop::cache::Redis;
use shop::cart::CosmosCartStore;
use shop::events::broker::BrokerProbe;
pub use shop::readiness::StoreStatus;
use shop::readiness::{Readiness, check};
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
    let body = Readiness::of(check_stores(&pool, &probes).await);
    let status =
        StatusCode::from_u16(body.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    HttpResponse::build(status).json(body)
}
