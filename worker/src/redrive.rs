//! `enrollment-worker redrive`: dead letters back to the main queue, once their cause is fixed
//! (an order restored, a bug deployed away, PostgreSQL back after the attempts ran out).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection};

use shop::events::BrokerNames;
use shop::events::broker::{
    self, ATTEMPT_HEADER, DEAD_LETTER_REASON_HEADER, LAST_ERROR_HEADER, with_attempt,
};
use shop::settings::BrokerSettings;

use crate::handling::publish_confirmed;

/// Connecting and declaring; beyond this the broker counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Moves up to `limit` messages (all those present when it starts, if `None`) from the
/// dead-letter queue to the main queue, each as a first attempt, and says how many moved. Each
/// copy is confirmed by the broker before its dead letter is acked, so a failure half-way
/// duplicates at most one message (which enrollment absorbs) and loses none.
pub async fn redrive(settings: &BrokerSettings, limit: Option<u64>) -> anyhow::Result<u64> {
    let names = BrokerNames::new(&settings.name_prefix);
    let (connection, channel) = tokio::time::timeout(CONNECT_TIMEOUT, open(settings))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "cannot reach RabbitMQ (RABBITMQ_URL): no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )
        })?
        // lapin's message already ends with its cause's: `{error}` rather than a context chain
        .map_err(|error| anyhow::anyhow!("cannot reach RabbitMQ (RABBITMQ_URL): {error}"))?;
    let moved = move_dead_letters(&channel, &names, limit).await;
    // a stalled broker must not hold the command after its work is done or failed
    let close = async {
        let _ = channel.close(200, "redrive done".into()).await;
        let _ = connection.close(200, "redrive done".into()).await;
    };
    let _ = tokio::time::timeout(CONNECT_TIMEOUT, close).await;
    let moved = moved?;
    tracing::info!(
        moved,
        from = %names.dead_letter_queue(),
        to = %names.queue(),
        "dead letters sent back"
    );
    Ok(moved)
}

async fn open(settings: &BrokerSettings) -> Result<(Connection, Channel), lapin::Error> {
    let connection = broker::connect(settings, "enrollment-worker redrive").await?;
    let channel = broker::confirmed_channel(&connection).await?;
    // the queues exist even where no worker has run yet
    broker::declare_topology(&channel, settings).await?;
    Ok((connection, channel))
}

async fn move_dead_letters(
    channel: &Channel,
    names: &BrokerNames,
    limit: Option<u64>,
) -> anyhow::Result<u64> {
    let dead = names.dead_letter_queue();
    // counted first: a worker running meanwhile may dead-letter a redriven message again, and
    // "until the queue is empty" would then never end
    let present = channel
        .queue_declare(
            dead.clone().into(),
            QueueDeclareOptions::default().passive(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("cannot read the length of {dead}"))?
        .message_count();
    let wanted = limit.map_or(u64::from(present), |limit| limit.min(u64::from(present)));
    let mut moved = 0;
    while moved < wanted {
        let Some(message) = channel
            .basic_get(dead.clone().into(), BasicGetOptions { no_ack: false })
            .await
            .with_context(|| format!("cannot take a message from {dead}"))?
        else {
            break;
        };
        let headers = first_attempt(message.properties.headers().as_ref());
        publish_confirmed(channel, &names.queue(), &message.delivery, headers)
            .await
            .context("the broker did not take the message back")?;
        if !message
            .ack(BasicAckOptions::default())
            .await
            .context("cannot remove the dead letter that was sent back")?
        {
            anyhow::bail!("the channel closed before the dead letter was removed");
        }
        moved += 1;
    }
    Ok(moved)
}

/// The headers without the dead letter's reason and last error, at attempt 1.
fn first_attempt(headers: Option<&FieldTable>) -> FieldTable {
    let kept: BTreeMap<ShortString, _> = headers
        .map(|headers| headers.inner().clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|(name, _)| {
            ![DEAD_LETTER_REASON_HEADER, LAST_ERROR_HEADER, ATTEMPT_HEADER].contains(&name.as_str())
        })
        .collect();
    with_attempt(Some(&FieldTable::from(kept)), 1)
}

#[cfg(test)]
mod tests {
    use shop::events::broker::{attempt_of, text_header, with_text_header};

    use super::*;

    #[test]
    fn a_redriven_message_starts_again_without_its_reason() {
        let headers = with_attempt(None, 4);
        let headers = with_text_header(Some(&headers), LAST_ERROR_HEADER, "down");
        let headers = with_text_header(Some(&headers), DEAD_LETTER_REASON_HEADER, "gave up");
        let headers = with_text_header(Some(&headers), "x-trace", "kept");
        let fresh = first_attempt(Some(&headers));
        assert_eq!(attempt_of(Some(&fresh)), 1);
        assert_eq!(text_header(Some(&fresh), DEAD_LETTER_REASON_HEADER), None);
        assert_eq!(text_header(Some(&fresh), LAST_ERROR_HEADER), None);
        assert_eq!(
            text_header(Some(&fresh), "x-trace").as_deref(),
            Some("kept")
        );
    }
}
