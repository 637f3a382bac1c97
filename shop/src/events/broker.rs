//! RabbitMQ: the connection and the topology that app and worker both declare (DESIGN §5).
//!
//! ```text
//! shop.events (topic) ──order.placed──▶ enrollment.order-placed ──▶ worker
//!                                          ▲            │ transient failure, attempt n
//!                 TTL expires, dead-lettered│            ▼
//!                 back to the main queue    └── enrollment.order-placed.retry.<delay>  (1 s, 10 s, 60 s)
//!                                                        │ malformed, or attempts used up
//!                                                        ▼
//!                                          enrollment.order-placed.dead   (reason in a header)
//! ```
//!
//! Declaring is idempotent: whoever starts first creates the exchange and queues, the others find
//! them. A retry queue's name carries its delay, because RabbitMQ refuses to redeclare a queue with
//! other arguments: changing the delays makes new queues instead of failing every start.

use std::time::Duration;

use lapin::options::{
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::events::OrderPlaced;
use crate::settings::BrokerSettings;

/// Header with the delivery's attempt number (1 for the first delivery, absent means 1).
pub const ATTEMPT_HEADER: &str = "x-attempt";
/// Header on a dead-lettered message: why it was given up.
pub const DEAD_LETTER_REASON_HEADER: &str = "x-dead-letter-reason";
/// Header on a retried message: what failed last time (for whoever looks into the retry queue).
pub const LAST_ERROR_HEADER: &str = "x-last-error";

/// The names of everything the shop declares, with the settings' prefix (empty in production; a
/// test uses a prefix of its own so tests run side by side on one broker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNames {
    prefix: String,
}

impl BrokerNames {
    pub fn new(prefix: &str) -> BrokerNames {
        BrokerNames {
            prefix: prefix.to_string(),
        }
    }

    /// The topic exchange every shop event is published to.
    pub fn exchange(&self) -> String {
        format!("{}shop.events", self.prefix)
    }

    /// The enrollment worker's queue of `OrderPlaced` events.
    pub fn queue(&self) -> String {
        format!("{}enrollment.order-placed", self.prefix)
    }

    /// Where a message waits `delay` before it goes back to `queue()`.
    pub fn retry_queue(&self, delay: Duration) -> String {
        format!(
            "{}enrollment.order-placed.retry.{}",
            self.prefix,
            delay_name(delay)
        )
    }

    /// Messages given up on, each with its reason; `enrollment-worker redrive` sends them back.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}enrollment.order-placed.dead", self.prefix)
    }

    /// Every queue the topology has with these delays (for tests that clean up after themselves).
    pub fn queues(&self, retry_delays: &[Duration]) -> Vec<String> {
        let mut queues = vec![self.queue(), self.dead_letter_queue()];
        queues.extend(retry_delays.iter().map(|delay| self.retry_queue(*delay)));
        queues
    }
}

/// `1s`, `10s`, `60s`; `250ms` for delays that are not whole seconds.
fn delay_name(delay: Duration) -> String {
    let millis = delay.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

/// Opens a connection named `who` (it shows under that name in the management UI and `rabbitmqctl
/// list_connections`). A cut connection is not recovered here: the relay and the worker each open
/// a new one, declare again and carry on, which is simpler to reason about than a replayed channel.
pub async fn connect(settings: &BrokerSettings, who: &str) -> Result<Connection, lapin::Error> {
    Connection::connect(
        settings.url.expose(),
        ConnectionProperties::default().with_connection_name(LongString::from(who)),
    )
    .await
}

/// A channel on which every publish is confirmed by the broker.
pub async fn confirmed_channel(connection: &Connection) -> Result<Channel, lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// Declares the exchange, the queue and its binding, the retry queues and the dead-letter queue.
pub async fn declare_topology(
    channel: &Channel,
    settings: &BrokerSettings,
) -> Result<(), lapin::Error> {
    let names = BrokerNames::new(&settings.name_prefix);
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .exchange_declare(
            names.exchange().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(names.queue().into(), durable, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            names.queue().into(),
            names.exchange().into(),
            OrderPlaced::ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            names.dead_letter_queue().into(),
            durable,
            FieldTable::default(),
        )
        .await?;
    for delay in &settings.retry_delays {
        // nobody consumes a retry queue: a message waits out its TTL, then RabbitMQ dead-letters it
        // through the default exchange straight back to the main queue
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        );
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(names.queue().into()),
        );
        channel
            .queue_declare(names.retry_queue(*delay).into(), durable, arguments)
            .await?;
    }
    Ok(())
}

/// Answers "can RabbitMQ be reached now?" for `/readyz`, on one connection kept between probes
/// (opening a connection per probe would flood the broker's log with connection lines).
pub struct BrokerProbe {
    settings: BrokerSettings,
    who: &'static str,
    connection: tokio::sync::Mutex<Option<Connection>>,
}

impl BrokerProbe {
    pub fn new(settings: BrokerSettings, who: &'static str) -> BrokerProbe {
        BrokerProbe {
            settings,
            who,
            connection: tokio::sync::Mutex::new(None),
        }
    }

    /// Opens and closes a channel: that needs a round trip to a broker that is really serving.
    pub async fn ping(&self) -> Result<(), lapin::Error> {
        let mut connection = self.connection.lock().await;
        let open = match connection.take() {
            Some(existing) if existing.status().connected() => existing,
            _ => connect(&self.settings, self.who).await?,
        };
        let channel = open.create_channel().await?;
        channel.close(200, "probe done".into()).await?;
        *connection = Some(open);
        Ok(())
    }
}

/// The attempt number a delivery carries (1 when the header is missing, as on a first delivery).
pub fn attempt_of(headers: Option<&FieldTable>) -> u32 {
    let value = headers.and_then(|headers| headers.inner().get(ATTEMPT_HEADER));
    let attempt = match value {
        Some(AMQPValue::LongUInt(n)) => i64::from(*n),
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::ShortUInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortShortUInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortShortInt(n)) => i64::from(*n),
        _ => 1,
    };
    u32::try_from(attempt).unwrap_or(1).max(1)
}

/// A header value as text (a reason or an error, for people).
pub fn text_header(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    match headers?.inner().get(name)? {
        AMQPValue::LongString(text) => Some(text.to_string()),
        AMQPValue::ShortString(text) => Some(text.as_str().to_string()),
        _ => None,
    }
}

/// `headers` with `name` set to `text`.
pub fn with_text_header(headers: Option<&FieldTable>, name: &str, text: &str) -> FieldTable {
    let mut headers = headers.cloned().unwrap_or_default();
    headers.insert(ShortString::from(name), AMQPValue::LongString(text.into()));
    headers
}

/// `headers` with the attempt number set to `attempt`.
pub fn with_attempt(headers: Option<&FieldTable>, attempt: u32) -> FieldTable {
    let mut headers = headers.cloned().unwrap_or_default();
    headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(attempt));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix_and_the_delay() {
        let names = BrokerNames::new("t1.");
        assert_eq!(names.exchange(), "t1.shop.events");
        assert_eq!(names.queue(), "t1.enrollment.order-placed");
        assert_eq!(names.dead_letter_queue(), "t1.enrollment.order-placed.dead");
        assert_eq!(
            names.retry_queue(Duration::from_secs(10)),
            "t1.enrollment.order-placed.retry.10s"
        );
        assert_eq!(
            names.retry_queue(Duration::from_millis(250)),
            "t1.enrollment.order-placed.retry.250ms"
        );
        assert_eq!(
            BrokerNames::new("").queues(&[Duration::from_secs(1)]),
            [
                "enrollment.order-placed",
                "enrollment.order-placed.dead",
                "enrollment.order-placed.retry.1s"
            ]
        );
    }

    #[test]
    fn attempts_are_read_back_from_the_header() {
        assert_eq!(attempt_of(None), 1);
        let headers = with_attempt(None, 3);
        assert_eq!(attempt_of(Some(&headers)), 3);
        let headers = with_text_header(Some(&headers), DEAD_LETTER_REASON_HEADER, "bad");
        assert_eq!(attempt_of(Some(&headers)), 3);
        assert_eq!(
            text_header(Some(&headers), DEAD_LETTER_REASON_HEADER).as_deref(),
            Some("bad")
        );
    }
}
