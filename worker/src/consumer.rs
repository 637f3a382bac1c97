//! The connection loop: connect, declare, consume with manual acks, and on a lost connection back
//! off, reconnect and carry on; on shutdown stop consuming, let the messages in hand finish, close.
//!
//! A lost connection is never patched up in place: a new connection declares the topology again and
//! starts a new consumer. Whatever was delivered and not acked on the old one the broker hands out
//! again, and enrollment is idempotent, so nothing is lost or enrolled twice.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use shop::events::BrokerNames;
use shop::events::broker;
use shop::readiness::DownCause;
use shop::settings::WorkerSettings;

use crate::handling::{self, Handler, Unsettled};
use crate::metrics::WorkerMetrics;

/// The name the worker's connections show in RabbitMQ's management UI.
const CONNECTION_NAME: &str = "enrollment-worker";
/// Connecting, declaring and starting the consumer; beyond this the broker counts as unreachable
/// (a stalled network otherwise holds the worker until the kernel gives up, minutes later).
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a shutdown waits for messages in hand. Below the 30 s most platforms (Container Apps,
/// Kubernetes) allow between SIGTERM and SIGKILL; what is unfinished then is redelivered anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);
/// Cancelling the consumer, closing the channel or the connection: each waits for the broker's
/// answer, which a stalled network would hold back until the heartbeat gives up.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// A connection that consumed this long before it was lost starts the backoff afresh; one lost
/// sooner (a broker refusing every republish, say) keeps doubling it, so a fault that ends each
/// connection quickly does not make the worker reconnect twice a second.
const STEADY_SESSION: Duration = Duration::from_secs(30);
const LONGEST_BACKOFF: Duration = Duration::from_secs(10);

/// Whether the worker is consuming now, for `/readyz`.
#[derive(Debug, Default)]
pub(crate) struct BrokerStatus {
    state: Mutex<BrokerState>,
}

#[derive(Debug, Clone, Default)]
pub(crate) enum BrokerState {
    /// Before the first connection.
    #[default]
    Connecting,
    Consuming,
    Down(DownCause),
}

impl BrokerStatus {
    pub(crate) fn now(&self) -> BrokerState {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set(&self, state: BrokerState) {
        *self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
    }
}

/// Why a connection to the broker ended.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error("RabbitMQ did not answer within {} s", SETUP_TIMEOUT.as_secs())]
    SetupTimedOut,
    #[error(transparent)]
    Broker(#[from] lapin::Error),
    #[error("the broker cancelled the consumer (was the queue deleted?)")]
    Cancelled,
    #[error(transparent)]
    Unsettled(#[from] Unsettled),
    #[error("a message's task failed: {0}")]
    Task(String),
}

/// Consumes until `stop` turns true, reconnecting whenever the connection is lost.
pub(crate) async fn consume_until(
    settings: &WorkerSettings,
    pool: PgPool,
    metrics: WorkerMetrics,
    status: Arc<BrokerStatus>,
    mut stop: watch::Receiver<bool>,
) {
    let handler = Arc::new(Handler::new(pool, settings, metrics));
    let mut backoff = Backoff::default();
    while !*stop.borrow() {
        match session(settings, &handler, &status, &mut backoff, &mut stop).await {
            Ok(()) => break,
            Err(lost) => {
                status.set(BrokerState::Down(DownCause::of(&lost)));
                let delay = backoff.next_delay();
                tracing::warn!(
                    error = %crate::handling::describe(&lost),
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "no connection to RabbitMQ; reconnecting"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(&mut stop) => break,
                }
            }
        }
    }
    status.set(BrokerState::Down(DownCause::Stopping));
}

/// One connection, from connecting to its end: `Ok` when asked to stop, `Err` when it was lost.
async fn session(
    settings: &WorkerSettings,
    handler: &Arc<Handler>,
    status: &BrokerStatus,
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Lost> {
    let setup = tokio::select! {
        setup = tokio::time::timeout(SETUP_TIMEOUT, start_consuming(settings)) => setup,
        () = stopped(stop) => return Ok(()),
    };
    let (connection, channel, consumer) = setup.map_err(|_| Lost::SetupTimedOut)??;
    status.set(BrokerState::Consuming);
    let consuming_since = Instant::now();
    tracing::info!(
        queue = %consumer.queue(),
        prefetch = settings.prefetch,
        "consuming OrderPlaced events"
    );

    let mut in_flight = JoinSet::new();
    let ended = consume(
        &channel,
        consumer.clone(),
        handler,
        usize::from(settings.prefetch),
        &mut in_flight,
        stop,
    )
    .await;
    match ended {
        Ok(()) => {
            status.set(BrokerState::Down(DownCause::Stopping));
            finish(&connection, &channel, &consumer, in_flight).await;
            Ok(())
        }
        Err(lost) => {
            // nothing on a dead channel can be acked: whatever is in hand is redelivered
            if !in_flight.is_empty() {
                tracing::warn!(
                    messages = in_flight.len(),
                    "abandoning messages in hand; the broker delivers them again"
                );
            }
            in_flight.shutdown().await;
            if consuming_since.elapsed() >= STEADY_SESSION {
                backoff.reset();
            }
            // a connection still open (the consumer was cancelled) is closed, so the broker
            // requeues its unacked messages now rather than when the heartbeat times out
            let _ =
                tokio::time::timeout(CLOSE_TIMEOUT, connection.close(200, "reconnecting".into()))
                    .await;
            Err(lost)
        }
    }
}

async fn start_consuming(
    settings: &WorkerSettings,
) -> Result<(Connection, Channel, Consumer), lapin::Error> {
    let connection = broker::connect(&settings.broker, CONNECTION_NAME).await?;
    // one channel consumes and republishes: a confirmed publish is followed by the ack on the
    // same channel, so an ack can never get ahead of the copy it depends on
    let channel = broker::confirmed_channel(&connection).await?;
    broker::declare_topology(&channel, &settings.broker).await?;
    channel
        .basic_qos(settings.prefetch, BasicQosOptions::default())
        .await?;
    let queue = BrokerNames::new(&settings.broker.name_prefix).queue();
    let consumer = channel
        .basic_consume(
            queue.into(),
            // the broker makes a unique tag
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((connection, channel, consumer))
}

/// Hands each delivery to a task of its own, at most `prefetch` at once, until asked to stop
/// (`Ok`) or the connection is lost (`Err`).
async fn consume(
    channel: &Channel,
    mut consumer: Consumer,
    handler: &Arc<Handler>,
    prefetch: usize,
    in_flight: &mut JoinSet<Result<(), Unsettled>>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Lost> {
    loop {
        tokio::select! {
            () = stopped(stop) => return Ok(()),
            Some(joined) = in_flight.join_next() => settled(joined)?,
            delivery = consumer.next(), if in_flight.len() < prefetch => match delivery {
                Some(Ok(delivery)) => {
                    let span = handling::span(&delivery);
                    let (channel, handler) = (channel.clone(), handler.clone());
                    in_flight.spawn(
                        async move { handling::handle(delivery, &channel, &handler).await.map(drop) }
                            .instrument(span),
                    );
                }
                Some(Err(error)) => return Err(error.into()),
                None => return Err(Lost::Cancelled),
            },
        }
    }
}

/// A message's task ended: settled, or it could not be, which means the channel is gone.
fn settled(joined: Result<Result<(), Unsettled>, tokio::task::JoinError>) -> Result<(), Lost> {
    match joined {
        Ok(result) => Ok(result?),
        // its message stays unacked: only a new channel gets it delivered again
        Err(error) => Err(Lost::Task(error.to_string())),
    }
}

/// The orderly end: no new deliveries, the ones in hand finished (acked), then channel and
/// connection closed.
async fn finish(
    connection: &Connection,
    channel: &Channel,
    consumer: &Consumer,
    mut in_flight: JoinSet<Result<(), Unsettled>>,
) {
    let cancel = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default());
    match tokio::time::timeout(CLOSE_TIMEOUT, cancel).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(
            %error,
            "could not cancel the consumer; closing the channel stops it too"
        ),
        Err(_) => {
            tracing::warn!("the broker did not answer the cancel; closing the channel stops it too")
        }
    }
    if !in_flight.is_empty() {
        tracing::info!(
            messages = in_flight.len(),
            "stopping: finishing the messages in hand"
        );
    }
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(joined) = in_flight.join_next().await {
            if let Err(lost) = settled(joined) {
                tracing::warn!(error = %lost, "a message was left unacked; the broker delivers it again");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            messages = in_flight.len(),
            "gave up waiting for messages in hand; the broker delivers them again"
        );
        in_flight.shutdown().await;
    }
    // closed without waiting long: whatever the broker still holds for us it requeues anyway
    let channel_closed = tokio::time::timeout(
        CLOSE_TIMEOUT,
        channel.close(200, "the worker is stopping".into()),
    );
    if let Ok(Err(error)) = channel_closed.await {
        tracing::debug!(%error, "closing the channel");
    }
    let connection_closed = tokio::time::timeout(
        CLOSE_TIMEOUT,
        connection.close(200, "the worker is stopping".into()),
    );
    if let Ok(Err(error)) = connection_closed.await {
        tracing::debug!(%error, "closing the connection");
    }
}

/// Completes when the stop flag turns true (or its sender is gone, which only happens at the end).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// 0.5 s doubling to 10 s between reconnections, each wait drawn from its upper half so that many
/// workers cut off together do not all come back in the same instant.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            next: FIRST_BACKOFF,
        }
    }
}

impl Backoff {
    fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(LONGEST_BACKOFF);
        let fraction = getrandom::u64().unwrap_or(0) as f64 / u64::MAX as f64;
        ceiling.mul_f64(0.5 + fraction / 2.0)
    }

    fn reset(&mut self) {
        self.next = FIRST_BACKOFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_its_ceiling_with_jitter_and_resets() {
        let mut backoff = Backoff::default();
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let ceiling = backoff.next;
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} of {ceiling:?}"
            );
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
        backoff.reset();
        assert_eq!(backoff.next, FIRST_BACKOFF);
    }
}
