//! The outbox relay (step 4): publishes the `OrderPlaced` rows checkout wrote, in the background of
//! every app instance.
//!
//! Safe with many instances: each claims a batch with `FOR UPDATE SKIP LOCKED`, so no row is sent
//! by two relays at once. Woken by `LISTEN outbox_pending` the moment a checkout commits, and polls
//! anyway (a notification sent while its connection is down is lost, and PgBouncer in transaction
//! mode passes none). A row is marked published only after the broker's confirm; a broker that is
//! down leaves the rows pending, and they go out oldest first once it is back, with no restart.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel, Connection};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use shop::database::{self, StoreError};
use shop::events::broker::{self, BrokerNames};
use shop::events::{Outbox, PendingEvent, outbox};
use shop::metrics;
use shop::orders::Orders;
use shop::settings::{DatabaseSettings, EventSettings};

/// How long the broker may take to confirm a batch before the relay gives up on the connection.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting and declaring the topology may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Published rows are kept this long for ops to look into, then deleted.
const KEEP_PUBLISHED: Duration = Duration::from_secs(7 * 24 * 3600);
/// Reconnection waits: short first (a broker restart takes seconds), never long.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const LONGEST_BACKOFF: Duration = Duration::from_secs(5);

/// The running relay; `stop` lets it finish the batch in hand.
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RelayHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the outbox relay ended abnormally");
        }
    }
}

/// Starts the relay on a small pool of its own: a batch holds its connection until the broker
/// confirms, and `LISTEN` holds one for good, so neither may take connections from the pages.
pub fn spawn(database: &DatabaseSettings, settings: EventSettings) -> RelayHandle {
    let pool = database::connect_lazily(&DatabaseSettings {
        max_connections: 2,
        ..database.clone()
    });
    let (stop, stopped) = watch::channel(false);
    let relay = Relay {
        outbox: Outbox::new(pool.clone()),
        orders: Orders::new(pool.clone()),
        pool,
        names: BrokerNames::new(&settings.broker.name_prefix),
        settings,
        stopped,
    };
    RelayHandle {
        stop,
        task: tokio::spawn(relay.run()),
    }
}

struct Relay {
    outbox: Outbox,
    orders: Orders,
    pool: PgPool,
    names: BrokerNames,
    settings: EventSettings,
    stopped: watch::Receiver<bool>,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("RabbitMQ failed")]
    Broker(#[from] lapin::Error),
    #[error("the broker did not confirm within {0:?}")]
    ConfirmTimeout(Duration),
    #[error("no connection to the broker within {0:?}")]
    ConnectTimeout(Duration),
    #[error("the outbox could not be read or updated")]
    Store(#[from] StoreError),
}

/// The broker connection, kept while it works.
struct Link {
    connection: Connection,
    channel: Channel,
}

impl Relay {
    async fn run(mut self) {
        let mut link: Option<Link> = None;
        let mut listener: Option<PgListener> = None;
        let mut backoff = FIRST_BACKOFF;
        let mut purged_at: Option<tokio::time::Instant> = None;
        tracing::info!(exchange = %self.names.exchange(), "outbox relay started");
        while !*self.stopped.borrow() {
            let outcome = match &link {
                Some(open) => self.publish_pending(&open.channel).await,
                None => match self.connect().await {
                    Ok(open) => {
                        tracing::info!("outbox relay connected to RabbitMQ");
                        link = Some(open);
                        continue;
                    }
                    Err(error) => Err(error),
                },
            };
            self.observe_backlog().await;
            match outcome {
                Ok(()) => backoff = FIRST_BACKOFF,
                Err(error) => {
                    if matches!(
                        error,
                        RelayError::Broker(_)
                            | RelayError::ConfirmTimeout(_)
                            | RelayError::ConnectTimeout(_)
                    ) {
                        if link.is_some() {
                            tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "outbox relay lost RabbitMQ; pending events wait in the outbox");
                        }
                        metrics::outbox_publish_failure(match error {
                            RelayError::ConfirmTimeout(_) => "timeout",
                            _ => "unavailable",
                        });
                        if let Some(lost) = link.take() {
                            // best effort: the connection may be half-open rather than closed
                            let _ = lost.connection.close(200, "reconnecting".into()).await;
                        }
                    } else {
                        tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "outbox relay cannot reach PostgreSQL");
                    }
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(LONGEST_BACKOFF);
                    continue;
                }
            }
            if purged_at.is_none_or(|at| at.elapsed() > Duration::from_secs(3600)) {
                purged_at = Some(tokio::time::Instant::now());
                match self.outbox.purge_published(KEEP_PUBLISHED, 10_000).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "old published outbox rows deleted"),
                    Err(error) => tracing::warn!(%error, "old outbox rows could not be deleted"),
                }
            }
            self.wait_for_work(&mut listener).await;
        }
        if let Some(open) = link {
            let _ = open.connection.close(200, "shutting down".into()).await;
        }
        tracing::info!("outbox relay stopped");
    }

    async fn connect(&self) -> Result<Link, RelayError> {
        // lapin's connect has no time limit of its own: through a silent network it would hang
        let setup = async {
            let connection =
                broker::connect(&self.settings.broker, "courseshop outbox relay").await?;
            let channel = broker::confirmed_channel(&connection).await?;
            broker::declare_topology(&channel, &self.settings.broker).await?;
            Ok::<_, lapin::Error>(Link {
                connection,
                channel,
            })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, setup)
            .await
            .map_err(|_| RelayError::ConnectTimeout(CONNECT_TIMEOUT))?
            .map_err(RelayError::from)
    }

    /// Publishes batches until nothing is pending (or a batch fails).
    async fn publish_pending(&self, channel: &Channel) -> Result<(), RelayError> {
        loop {
            let claimed = self.publish_batch(channel).await?;
            if claimed < usize::from(self.settings.batch_size) || *self.stopped.borrow() {
                return Ok(());
            }
        }
    }

    /// One batch: claim, publish all, wait for the confirms, mark the confirmed rows. Returns how
    /// many rows were claimed.
    #[tracing::instrument(name = "relay outbox batch", skip_all, fields(events))]
    async fn publish_batch(&self, channel: &Channel) -> Result<usize, RelayError> {
        let batch = self
            .outbox
            .claim(i64::from(self.settings.batch_size))
            .await?;
        let claimed = batch.events.len();
        tracing::Span::current().record("events", claimed);
        if claimed == 0 {
            batch.finish(&[]).await?;
            return Ok(0);
        }
        // every publish first, then the confirms: one round trip for the batch, not one per row
        let mut confirms = Vec::with_capacity(claimed);
        for event in &batch.events {
            let confirm = channel
                .basic_publish(
                    self.names.exchange().into(),
                    event.routing_key.as_str().into(),
                    // mandatory: a message no queue would take comes back instead of vanishing
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    event.payload.as_bytes(),
                    properties(event),
                )
                .await?;
            confirms.push((event.id, event.event_id, confirm));
        }
        let mut published = Vec::with_capacity(claimed);
        for (id, event_id, confirm) in confirms {
            let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
                .await
                .map_err(|_| RelayError::ConfirmTimeout(CONFIRM_TIMEOUT))??;
            if confirmation.is_nack() {
                tracing::warn!(%event_id, "the broker refused an event; it stays pending");
                metrics::outbox_publish_failure("nack");
            } else if confirmation.take_message().is_some() {
                tracing::error!(%event_id, queue = %self.names.queue(), "an event reached no queue; it stays pending (was the queue deleted?)");
                metrics::outbox_publish_failure("unroutable");
            } else {
                published.push(id);
            }
        }
        // if this fails the rows stay pending and are sent again: consumers are idempotent
        batch.finish(&published).await?;
        metrics::outbox_published(published.len() as u64);
        tracing::debug!(published = published.len(), "outbox batch published");
        Ok(claimed)
    }

    async fn observe_backlog(&self) {
        match self.outbox.backlog().await {
            Ok(backlog) => metrics::outbox_backlog(backlog.pending, backlog.oldest),
            Err(error) => tracing::debug!(%error, "the outbox backlog could not be counted"),
        }
        match self.orders.awaiting_enrollment().await {
            Ok(waiting) => metrics::orders_awaiting_enrollment(waiting.orders, waiting.oldest),
            Err(error) => {
                tracing::debug!(%error, "orders awaiting enrollment could not be counted")
            }
        }
    }

    /// Until a checkout commits an event, the poll interval passes, or the relay is stopped.
    async fn wait_for_work(&mut self, listener: &mut Option<PgListener>) {
        if listener.is_none() {
            *listener = self.listen().await;
        }
        let poll = self.settings.poll_interval;
        let mut stopped = self.stopped.clone();
        match listener {
            Some(open) => {
                tokio::select! {
                    received = open.try_recv() => match received {
                        Ok(Some(_)) => {}
                        // the connection dropped: notifications may have been missed, so poll now
                        Ok(None) | Err(_) => *listener = None,
                    },
                    _ = tokio::time::sleep(poll) => {}
                    _ = stopped.changed() => {}
                }
            }
            None => {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let attempt = async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(outbox::WAKE_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match attempt.await {
            Ok(listener) => Some(listener),
            Err(error) => {
                tracing::debug!(%error, "LISTEN failed; the relay polls instead");
                None
            }
        }
    }

    async fn pause(&self, wait: Duration) {
        let mut stopped = self.stopped.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Persistent JSON, with the event's id as `message_id` so consumers can recognise a re-send.
fn properties(event: &PendingEvent) -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(event.event_id.to_string().into())
        .with_type(event.event_type.as_str().into())
        .with_timestamp(u64::try_from(event.created_at.timestamp()).unwrap_or_default())
        .with_app_id("courseshop".into())
}
