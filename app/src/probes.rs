//! The stores a readiness check asks, as the topology picked them, checked side by side: for
//! `/readyz` and `/about/architecture`.

use shop::cache::Redis;
use shop::cart::CosmosCartStore;
use shop::events::broker::BrokerProbe;
pub use shop::readiness::StoreStatus;
use shop::readiness::check;
use sqlx::PgPool;

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
