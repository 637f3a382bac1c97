//! The outbox relay (step 4): publishes the `OrderPlaced` rows checkout wrote to the outbox
//! (`super::outbox`), in the background of every app instance (the app starts it in
//! `app/src/startup.rs` when `ENROLLMENT=async`).
//!
//! Safe with many instances: each claims a batch with `FOR UPDATE SKIP LOCKED`, so no row is sent
//! by two relays at once. Woken by `LISTEN outbox_pending` the moment a checkout commits, and polls
//! anyway (a notification sent while its connection is down is lost, and PgBouncer in transaction
//! mode passes none). A row is marked published only after the broker's confirm; a broker that is
//! down leaves the rows pending, and once it is back each relay sends them oldest first (across
//! several instances, batches interleave: enrollment needs no global order), with no restart.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::database::{self, StoreError};
use crate::events::broker::{self, BrokerNames};
use crate::events::{Outbox, PendingEvent, outbox};
use crate::metrics::{OutboxMetrics, PostgresMetrics, PublishFailure};
use crate::orders::Orders;
use crate::settings::{DatabaseSettings, EventSettings};

/// How long the broker may take to take and confirm a whole batch before the relay gives up on the
/// connection.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting and declaring the topology may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Published rows are kept this long for ops to look into, then deleted, a slice at a time, hourly.
const KEEP_PUBLISHED: Duration = Duration::from_secs(7 * 24 * 3600);
const PURGE_SLICE: i64 = 10_000;
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How often the relay counts the backlog for `/metrics` (two small queries on partial indexes).
const OBSERVE_EVERY: Duration = Duration::from_secs(1);
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
        // the batch in hand gets its confirm timeout; a row left unmarked is sent again next start
        match tokio::time::timeout(CONFIRM_TIMEOUT + Duration::from_secs(2), self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the outbox relay ended abnormally"),
            Err(_) => {
                tracing::warn!("the outbox relay did not stop in time; pending rows stay pending")
            }
        }
    }
}

/// Starts the relay on a small pool of its own: a batch holds its connection until the broker
/// confirms, and `LISTEN` holds one for good, so neither may take connections from the pages.
/// `LISTEN` goes straight to the server (`DATABASE_DIRECT_URL`) when it can: a notification never
/// reaches a client of a transaction pooler such as PgBouncer, and then only the poll wakes the relay.
/// What it counts goes to `metrics`, its statements to `statements`.
pub fn spawn(
    database: &DatabaseSettings,
    settings: EventSettings,
    metrics: OutboxMetrics,
    statements: &PostgresMetrics,
) -> RelayHandle {
    let pool = database::connect_lazily(&DatabaseSettings {
        max_connections: 2,
        ..database.clone()
    });
    let listen_pool = database::connect_lazily(&DatabaseSettings {
        max_connections: 1,
        ..database.direct()
    });
    let (stop, stopped) = watch::channel(false);
    let relay = Relay {
        outbox: Outbox::new(pool.clone()),
        orders: Orders::new(pool.clone()),
        listen_pool,
        names: BrokerNames::new(&settings.broker.name_prefix),
        settings,
        stopped,
        metrics,
    };
    RelayHandle {
        stop,
        task: tokio::spawn(statements.counting_statements(relay.run())),
    }
}

struct Relay {
    outbox: Outbox,
    orders: Orders,
    /// `PgListener` takes its one connection and holds it for as long as it listens.
    listen_pool: PgPool,
    names: BrokerNames,
    settings: EventSettings,
    stopped: watch::Receiver<bool>,
    metrics: OutboxMetrics,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("RabbitMQ failed")]
    Broker(#[from] lapin::Error),
    #[error("the broker did not confirm the batch within {0:?}")]
    ConfirmTimeout(Duration),
    #[error("no connection to the broker within {0:?}")]
    ConnectTimeout(Duration),
    /// Some events of a batch were refused or reached no queue: they stay pending, and the relay
    /// reconnects (declaring the topology again repairs a deleted queue) after a pause, rather
    /// than claiming the same rows again at once.
    #[error("{0} events of the batch were not taken by the broker")]
    NotTaken(usize),
    #[error("the outbox could not be read or updated")]
    Store(#[from] StoreError),
}

impl RelayError {
    /// Whether the broker connection is to be dropped and opened anew.
    fn is_broker_trouble(&self) -> bool {
        !matches!(self, RelayError::Store(_))
    }

    /// The `reason` label of `courseshop_outbox_publish_failures_total`.
    fn reason(&self) -> PublishFailure {
        match self {
            RelayError::ConfirmTimeout(_) => PublishFailure::Timeout,
            RelayError::NotTaken(_) => PublishFailure::NotTaken,
            _ => PublishFailure::Unavailable,
        }
    }
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
        let mut observed_at: Option<Instant> = None;
        let mut purged_at: Option<Instant> = None;
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
            // the gauges at most once a second, not after every checkout's notification
            if observed_at.is_none_or(|at| at.elapsed() >= OBSERVE_EVERY) {
                observed_at = Some(Instant::now());
                self.observe_backlog().await;
            }
            if let Err(error) = outcome {
                self.metrics.publish_failed(error.reason());
                if error.is_broker_trouble() {
                    if link.is_some() {
                        tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "outbox relay lost RabbitMQ; pending events wait in the outbox");
                    }
                    if let Some(lost) = link.take() {
                        // best effort, and bounded: the connection may be half-open
                        let close = lost.connection.close(200, "reconnecting".into());
                        let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
                    }
                } else {
                    tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "outbox relay cannot reach PostgreSQL");
                }
                self.pause(backoff).await;
                backoff = (backoff * 2).min(LONGEST_BACKOFF);
                continue;
            }
            backoff = FIRST_BACKOFF;
            if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                purged_at = Some(Instant::now());
                self.purge().await;
            }
            self.wait_for_work(&mut listener).await;
        }
        if let Some(open) = link {
            let close = open.connection.close(200, "shutting down".into());
            let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
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
    /// many rows were claimed, when the broker took every one of them.
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
        // one deadline for the whole batch: a broker that stops answering mid-batch must not hold
        // the rows (and their locks) for a timeout per event
        let sent = tokio::time::timeout(CONFIRM_TIMEOUT, self.send(channel, &batch.events))
            .await
            .map_err(|_| RelayError::ConfirmTimeout(CONFIRM_TIMEOUT))??;
        // if this fails the rows stay pending and are sent again: consumers are idempotent
        batch.finish(&sent).await?;
        self.metrics.published(sent.len() as u64);
        tracing::debug!(published = sent.len(), "outbox batch published");
        match claimed - sent.len() {
            0 => Ok(claimed),
            refused => Err(RelayError::NotTaken(refused)),
        }
    }

    /// Publishes every event, then waits for the confirms (one round trip for the batch, not one
    /// per event). Returns the outbox ids of the events the broker stored.
    async fn send(
        &self,
        channel: &Channel,
        events: &[PendingEvent],
    ) -> Result<Vec<i64>, RelayError> {
        let mut confirms = Vec::with_capacity(events.len());
        for event in events {
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
            confirms.push((event, confirm));
        }
        let mut stored = Vec::with_capacity(events.len());
        for (event, confirm) in confirms {
            let confirmation = confirm.await?;
            let event_id = event.event_id;
            match confirmation {
                // only a plain ack means stored: an ack carrying a returned message reached no queue
                Confirmation::Ack(None) => {
                    tracing::trace!(%event_id, outbox_id = event.id, "event published");
                    stored.push(event.id);
                }
                Confirmation::Ack(Some(_)) => tracing::error!(
                    %event_id, queue = %self.names.queue(),
                    "an event reached no queue; it stays pending (was the queue deleted?)"
                ),
                Confirmation::Nack(_) => {
                    tracing::warn!(%event_id, "the broker refused an event; it stays pending")
                }
                Confirmation::NotRequested => tracing::error!(
                    %event_id,
                    "publisher confirms are off on this channel; the event stays pending"
                ),
            }
        }
        Ok(stored)
    }

    async fn purge(&self) {
        // in slices, until a slice comes back short: a busy shop publishes more than one slice an hour
        loop {
            match self
                .outbox
                .purge_published(KEEP_PUBLISHED, PURGE_SLICE)
                .await
            {
                Ok(deleted) => {
                    if deleted > 0 {
                        tracing::info!(deleted, "old published outbox rows deleted");
                    }
                    if deleted < PURGE_SLICE as u64 || *self.stopped.borrow() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "old outbox rows could not be deleted");
                    return;
                }
            }
        }
    }

    async fn observe_backlog(&self) {
        match self.outbox.backlog().await {
            Ok(backlog) => self.metrics.backlog(backlog.pending, backlog.oldest),
            Err(error) => tracing::debug!(%error, "the outbox backlog could not be counted"),
        }
        match self.orders.awaiting_enrollment().await {
            Ok(waiting) => self
                .metrics
                .awaiting_enrollment(waiting.orders, waiting.oldest),
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
            let mut listener = PgListener::connect_with(&self.listen_pool).await?;
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
