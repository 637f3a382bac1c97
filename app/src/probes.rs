//! The stores a readiness check asks, as the topology picked them, checked side by side: for
//! `/readyz` and `/about/architecture`.

use shop::cache::Redis;
use shop::cart::CosmosCartStore;
use shop::database::{Reads, ReplicaHealth, ReplicaStatus};
use shop::events::broker::BrokerProbe;
pub use shop::readiness::StoreStatus;
use shop::readiness::{DownCause, Status, check};
use sqlx::PgPool;

/// The stores `/readyz` checks besides PostgreSQL, as the topology picked them.
pub struct Probes {
    pub cosmos: Option<CosmosCartStore>,
    pub redis: Option<Redis>,
    /// Set when reads may go to a replica (step 5).
    pub replica: Option<Reads>,
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
    // the replica as its lag monitor last measured it (a fifth of a second ago at most): not
    // critical, the primary serves its reads while it is away or behind
    let replica = probes
        .replica
        .as_ref()
        .and_then(Reads::replica_status)
        .map(replica_store);
    std::iter::once(postgres)
        .chain(replica)
        .chain(cosmos)
        .chain(redis)
        .chain(rabbitmq)
        .collect()
}

/// The replica as `/readyz` shows it: up while reads go there, else down with why (lagging
/// included), never critical.
fn replica_store(status: ReplicaStatus) -> StoreStatus {
    StoreStatus {
        name: "postgres-replica",
        role: "reads: home, catalog, search, course pages",
        critical: false,
        status: match status.health {
            ReplicaHealth::Streaming => Status::Up,
            ReplicaHealth::Lagging => Status::Down(DownCause::Lagging),
            ReplicaHealth::Down(cause) => Status::Down(cause),
            ReplicaHealth::NotStandby => Status::Down(DownCause::Error),
            ReplicaHealth::Unchecked => Status::Down(DownCause::Connecting),
        },
        latency_ms: None,
    }
}
