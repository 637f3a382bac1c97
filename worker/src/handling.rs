//! One message, from its delivery to its ack: parse, enroll, and settle it as enrolled, a
//! duplicate, a retry or a dead letter.
//!
//! The ack always comes last: after PostgreSQL committed the enrollment, or after the broker
//! confirmed the copy sent to a retry or dead-letter queue. A message that cannot be settled stays
//! unacked and the broker delivers it again, so a crash at any point loses nothing.

use std::time::{Duration, Instant};

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation};
use sqlx::PgPool;
use tracing::Span;

use shop::database::StoreError;
use shop::enrollment::{EnrollError, Enrolled, enroll_order};
use shop::events::broker::{
    DEAD_LETTER_REASON_HEADER, LAST_ERROR_HEADER, attempt_of, with_attempt, with_text_header,
};
use shop::events::{BrokerNames, OrderPlaced, RetryPolicy};
use shop::metrics::MessageOutcome;
use shop::settings::WorkerSettings;

use crate::metrics::WorkerMetrics;

/// How long a republished copy may wait for the broker's confirm before the channel is given up.
pub(crate) const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// AMQP delivery mode 2: written to disk, so a dead letter or a retry survives a broker restart.
const PERSISTENT: u8 = 2;

/// Beyond waiting for a connection, what the few statements of an enrollment may take. A server
/// that went silent (a network partition, no reset) would otherwise hold the message, and one of
/// the `prefetch` places, for as long as the kernel keeps the dead connection open.
const STATEMENTS_ALLOWANCE: Duration = Duration::from_secs(10);

/// What every message's task shares.
#[derive(Debug)]
pub(crate) struct Handler {
    pool: PgPool,
    retry: RetryPolicy,
    names: BrokerNames,
    /// The longest one enrollment may take before it counts as a passing failure.
    enroll_timeout: Duration,
    metrics: WorkerMetrics,
}

impl Handler {
    pub(crate) fn new(pool: PgPool, settings: &WorkerSettings, metrics: WorkerMetrics) -> Handler {
        Handler {
            metrics,
            names: BrokerNames::new(&settings.broker.name_prefix),
            pool,
            retry: RetryPolicy::new(&settings.broker.retry_delays),
            enroll_timeout: settings.database.acquire_timeout + STATEMENTS_ALLOWANCE,
        }
    }
}

/// A message the worker could not settle: its channel (or the broker) is gone, so it stays unacked
/// and is delivered again on the next connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unsettled {
    #[error("the copy for {queue} was not confirmed: {reason}")]
    Republish { queue: String, reason: String },
    #[error("the ack did not reach the broker: {0}")]
    Ack(String),
}

/// What to do with a message, decided before anything is sent to the broker.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Ack(MessageOutcome),
    Retry { delay: Duration, error: String },
    DeadLetter { reason: String },
}

/// The span every log line about one message carries.
pub(crate) fn span(delivery: &Delivery) -> Span {
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map_or("", |id| id.as_str());
    tracing::info_span!(
        "message",
        message_id,
        attempt = attempt_of(delivery.properties.headers().as_ref()),
        redelivered = delivery.redelivered,
        order = tracing::field::Empty,
    )
}

/// Handles one delivery to its ack.
pub(crate) async fn handle(
    delivery: Delivery,
    channel: &Channel,
    handler: &Handler,
) -> Result<MessageOutcome, Unsettled> {
    let started = Instant::now();
    let metrics = &handler.metrics;
    metrics.enrollment.consumed();
    let attempt = attempt_of(delivery.properties.headers().as_ref());
    let outcome = metrics
        .postgres
        .counting_statements(async {
            let decision = decide(&delivery.data, attempt, handler).await;
            settle(decision, &delivery, channel, handler).await
        })
        .await?;
    metrics.enrollment.processed(outcome, started.elapsed());
    Ok(outcome)
}

async fn decide(body: &[u8], attempt: u32, handler: &Handler) -> Decision {
    let event = match OrderPlaced::from_json(body) {
        Ok(event) => event,
        Err(malformed) => {
            return Decision::DeadLetter {
                reason: malformed.to_string(),
            };
        }
    };
    Span::current().record("order", tracing::field::display(event.order_id));
    let enrolled =
        tokio::time::timeout(handler.enroll_timeout, enroll_order(&handler.pool, &event));
    // cut short, the transaction rolls back, or it committed just now and the retry finds it done
    let Ok(enrolled) = enrolled.await else {
        let error = format!(
            "PostgreSQL did not finish the enrollment within {} s",
            handler.enroll_timeout.as_secs()
        );
        return after_failure(attempt, &handler.retry, error, Cause::Unreachable);
    };
    match enrolled {
        Ok(Enrolled::Now { courses }) => {
            tracing::info!(courses, "enrolled");
            Decision::Ack(MessageOutcome::Enrolled)
        }
        Ok(Enrolled::Already) => {
            tracing::info!("the order was enrolled before: a duplicate or a redelivery");
            Decision::Ack(MessageOutcome::Duplicate)
        }
        Err(error @ (EnrollError::UnknownOrder { .. } | EnrollError::ItemsDiffer(_))) => {
            Decision::DeadLetter {
                reason: error.to_string(),
            }
        }
        // PostgreSQL down, or a query failing for a reason that may pass: try again later
        Err(EnrollError::Store(error)) => {
            let cause = match error {
                StoreError::Unavailable(_) => Cause::Unreachable,
                StoreError::Query(_) | StoreError::Corrupt(_) => Cause::Refused,
            };
            let error = describe(&error);
            after_failure(attempt, &handler.retry, error, cause)
        }
    }
}

/// Why an enrollment failed for a reason that may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// PostgreSQL could not be reached, or did not answer in time: no fault of the message.
    Unreachable,
    /// PostgreSQL answered with an error: perhaps passing (a deadlock), perhaps not (a bug).
    Refused,
}

/// Attempt `attempt` failed for a passing reason: the next delay, or, once the attempts are used
/// up (`retry.max_attempts()` of them), the dead-letter queue. A PostgreSQL that is out of reach
/// uses no attempts up: the message keeps coming back at the last delay until the database does,
/// so a failover or a long outage leaves nothing for ops to redrive by hand.
fn after_failure(attempt: u32, retry: &RetryPolicy, error: String, cause: Cause) -> Decision {
    let delay = match (retry.delay_after(attempt), cause) {
        (Some(delay), _) => Some(delay),
        (None, Cause::Unreachable) => retry.last_delay(),
        (None, Cause::Refused) => None,
    };
    match delay {
        Some(delay) => Decision::Retry { delay, error },
        None => Decision::DeadLetter {
            reason: format!("gave up after {attempt} attempts: {error}"),
        },
    }
}

async fn settle(
    decision: Decision,
    delivery: &Delivery,
    channel: &Channel,
    handler: &Handler,
) -> Result<MessageOutcome, Unsettled> {
    let headers = delivery.properties.headers().as_ref();
    let outcome = match decision {
        Decision::Ack(outcome) => outcome,
        Decision::Retry { delay, error } => {
            let attempt = attempt_of(headers);
            let headers = with_text_header(
                Some(&with_attempt(headers, attempt + 1)),
                LAST_ERROR_HEADER,
                &error,
            );
            let queue = handler.names.retry_queue(delay);
            publish_confirmed(channel, &queue, delivery, headers).await?;
            tracing::warn!(
                %error,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "enrollment failed; retrying later"
            );
            MessageOutcome::Retried
        }
        Decision::DeadLetter { reason } => {
            let headers = with_text_header(headers, DEAD_LETTER_REASON_HEADER, &reason);
            let queue = handler.names.dead_letter_queue();
            publish_confirmed(channel, &queue, delivery, headers).await?;
            tracing::warn!(%reason, queue, "dead-lettered");
            MessageOutcome::DeadLettered
        }
    };
    match delivery.ack(BasicAckOptions::default()).await {
        Ok(true) => Ok(outcome),
        // lapin's answer for an acker whose channel already closed
        Ok(false) => Err(Unsettled::Ack("the channel closed first".to_string())),
        Err(error) => Err(Unsettled::Ack(error.to_string())),
    }
}

/// Sends a copy of `delivery` with `headers` to `queue` (through the default exchange) and waits
/// for the broker to confirm it is stored.
pub(crate) async fn publish_confirmed(
    channel: &Channel,
    queue: &str,
    delivery: &Delivery,
    headers: FieldTable,
) -> Result<(), Unsettled> {
    let properties = copied_properties(&delivery.properties, headers);
    let unconfirmed = |reason: String| Unsettled::Republish {
        queue: queue.to_string(),
        reason,
    };
    let confirm = channel
        .basic_publish(
            "".into(),
            queue.into(),
            // mandatory: a missing queue comes back as a return rather than vanishing silently
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &delivery.data,
            properties,
        )
        .await
        .map_err(|error| unconfirmed(error.to_string()))?;
    match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
        Ok(Ok(Confirmation::Ack(None))) => Ok(()),
        Ok(Ok(Confirmation::Ack(Some(returned)))) => Err(unconfirmed(format!(
            "the broker returned it ({}): the queue does not exist",
            returned.reply_text
        ))),
        Ok(Ok(Confirmation::Nack(_))) => Err(unconfirmed("the broker refused it".to_string())),
        Ok(Ok(Confirmation::NotRequested)) => Err(unconfirmed(
            "publisher confirms are not on for this channel".to_string(),
        )),
        Ok(Err(error)) => Err(unconfirmed(error.to_string())),
        Err(_) => Err(unconfirmed(format!(
            "no confirm within {} s",
            CONFIRM_TIMEOUT.as_secs()
        ))),
    }
}

/// The message's own properties (message id, content type, …) with new headers. Persistent
/// whatever the original said: a retry or a dead letter must survive a broker restart.
pub(crate) fn copied_properties(
    original: &BasicProperties,
    headers: FieldTable,
) -> BasicProperties {
    original
        .clone()
        .with_headers(headers)
        .with_delivery_mode(PERSISTENT)
}

/// "the database is unavailable: pool timed out while waiting for an open connection": an error
/// and what caused it, as one line for a header or `/readyz` (at most three causes, 300
/// characters).
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    const LONGEST: usize = 300;
    let mut text = error.to_string();
    let mut source = error.source();
    for _ in 0..3 {
        let Some(cause) = source else { break };
        let line = cause.to_string();
        let first = line.lines().next().unwrap_or_default();
        // a wrapper that shows its cause's text already needs it only once
        if !text.ends_with(first) {
            text.push_str(": ");
            text.push_str(first);
        }
        source = cause.source();
    }
    if let Some((cut, _)) = text.char_indices().nth(LONGEST) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_query_is_retried_until_the_attempts_are_used_up() {
        let delays = [Duration::from_millis(200), Duration::from_millis(400)];
        let policy = RetryPolicy::new(&delays);
        let refused = |attempt| after_failure(attempt, &policy, "refused".into(), Cause::Refused);
        let retry = |delay| Decision::Retry {
            delay,
            error: "refused".into(),
        };
        assert_eq!(refused(1), retry(delays[0]));
        assert_eq!(refused(2), retry(delays[1]));
        assert_eq!(
            refused(3),
            Decision::DeadLetter {
                reason: "gave up after 3 attempts: refused".into()
            }
        );
    }

    #[test]
    fn an_unreachable_database_keeps_the_message_retrying_at_the_longest_delay() {
        let delays = [Duration::from_millis(200), Duration::from_millis(400)];
        let policy = RetryPolicy::new(&delays);
        for attempt in [3, 4, 40] {
            assert_eq!(
                after_failure(attempt, &policy, "down".into(), Cause::Unreachable),
                Decision::Retry {
                    delay: delays[1],
                    error: "down".into()
                }
            );
        }
    }

    #[test]
    fn a_copy_keeps_the_message_id_and_is_persistent() {
        let original = BasicProperties::default()
            .with_message_id("m-1".into())
            .with_content_type("application/json".into());
        let copy = copied_properties(&original, with_attempt(None, 2));
        assert_eq!(
            copy.message_id().as_ref().map(|id| id.as_str()),
            Some("m-1")
        );
        assert_eq!(*copy.delivery_mode(), Some(PERSISTENT));
        assert_eq!(attempt_of(copy.headers().as_ref()), 2);
    }

    #[test]
    fn an_error_is_described_with_its_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::other("refused\nmore detail"));
        assert_eq!(describe(&error), "outer: refused");
    }
}
