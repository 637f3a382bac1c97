//! Exchange and queues of each test's own on the machine's RabbitMQ (`TEST_RABBITMQ_URL`).

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicNackOptions, BasicPublishOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use tokio::sync::Mutex;
use uuid::Uuid;

use shop::events::broker::{self, attempt_of, text_header};
use shop::events::{BrokerNames, OrderPlaced};
use shop::settings::{BrokerSettings, WorkerSettings};

use crate::TcpProxy;
use crate::cleanup::run_to_completion;

/// The broker the tests use. `TEST_RABBITMQ_URL` points elsewhere if needed.
pub fn rabbitmq_url() -> String {
    std::env::var("TEST_RABBITMQ_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

/// Names of the test's own on the suite's RabbitMQ (a prefix `courseshop_test_<uuid>.` before the
/// exchange and every queue), so tests run side by side; they are deleted when the test ends.
///
/// The helpers (`publish`, `get`, …) always talk to the broker directly, even on a `behind`
/// copy: only `url`, `overrides` and `settings` describe the way the code under test goes.
pub struct TestRabbit {
    prefix: String,
    /// The URL the code under test is given (through a proxy for `behind`).
    url: String,
    retry_delays_ms: Vec<u64>,
    /// Only the original deletes the names; a `behind` copy shares them.
    owner: bool,
    channel: Mutex<Option<(Connection, Channel)>>,
}

impl TestRabbit {
    /// Retries every 200, 400 and 800 ms, so a test sees the attempts run out in under 2 s.
    pub fn new() -> TestRabbit {
        TestRabbit {
            prefix: format!("courseshop_test_{}.", Uuid::new_v4().simple()),
            url: rabbitmq_url(),
            retry_delays_ms: vec![200, 400, 800],
            owner: true,
            channel: Mutex::new(None),
        }
    }

    /// Other retry delays (milliseconds, 10 or more each).
    pub fn with_retry_delays(mut self, delays_ms: &[u64]) -> TestRabbit {
        self.retry_delays_ms = delays_ms.to_vec();
        self
    }

    /// The same names, reached through `proxy` (which forwards to [`TestRabbit::upstream`]).
    pub fn behind(&self, proxy: &TcpProxy) -> TestRabbit {
        let url = url::Url::parse(&self.url)
            .ok()
            .and_then(|mut url| {
                url.set_ip_host(proxy.address.ip()).ok()?;
                url.set_port(Some(proxy.address.port())).ok()?;
                Some(url.to_string())
            })
            .unwrap_or_else(|| panic!("TEST_RABBITMQ_URL is not a URL a proxy can stand in for"));
        TestRabbit {
            prefix: self.prefix.clone(),
            url,
            retry_delays_ms: self.retry_delays_ms.clone(),
            owner: false,
            channel: Mutex::new(None),
        }
    }

    /// `host:port` of the real broker, for a proxy to forward to.
    pub fn upstream() -> String {
        let url = url::Url::parse(&rabbitmq_url()).expect("TEST_RABBITMQ_URL is a URL");
        format!(
            "{}:{}",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(5672)
        )
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn names(&self) -> BrokerNames {
        BrokerNames::new(&self.prefix)
    }

    pub fn retry_delays(&self) -> Vec<Duration> {
        self.retry_delays_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect()
    }

    /// Settings for the worker or the app's relay, as the environment would give them.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        self.overrides_for(&self.url)
    }

    fn overrides_for(&self, url: &str) -> Vec<(&'static str, String)> {
        vec![
            ("RABBITMQ_URL", url.to_string()),
            ("RABBITMQ_NAME_PREFIX", self.prefix.clone()),
            (
                "ENROLLMENT_RETRY_DELAYS_MS",
                self.retry_delays_ms
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ]
    }

    /// The broker settings the code under test reads from [`TestRabbit::overrides`].
    pub fn settings(&self) -> BrokerSettings {
        self.settings_for(&self.url)
    }

    /// The settings with the broker's real address, whatever the code under test goes through.
    fn direct_settings(&self) -> BrokerSettings {
        self.settings_for(&rabbitmq_url())
    }

    fn settings_for(&self, url: &str) -> BrokerSettings {
        let overrides = self.overrides_for(url);
        WorkerSettings::from_lookup(|name| {
            if name == "DATABASE_URL" {
                return Some("postgres://postgres@127.0.0.1/unused".to_string());
            }
            overrides
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        })
        .expect("valid test broker settings")
        .broker
    }

    /// Declares the exchange and queues (the helpers do it before their first use).
    pub async fn declare(&self) {
        self.channel().await;
    }

    /// Publishes `event` to the exchange as the outbox relay does: JSON, persistent, message id =
    /// event id, routing key `order.placed`.
    pub async fn publish_event(&self, event: &OrderPlaced) {
        let body = serde_json::to_vec(&event.to_json()).expect("an event is JSON");
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(event.event_id.to_string().into());
        self.publish(&body, properties).await;
    }

    /// Publishes any body to the exchange with routing key `order.placed`, confirmed.
    pub async fn publish(&self, body: &[u8], properties: BasicProperties) {
        let exchange = self.names().exchange();
        self.publish_to(&exchange, OrderPlaced::ROUTING_KEY, body, properties)
            .await;
    }

    /// Publishes any body straight into `queue` (through the default exchange), confirmed.
    pub async fn publish_to_queue(&self, queue: &str, body: &[u8], properties: BasicProperties) {
        self.publish_to("", queue, body, properties).await;
    }

    async fn publish_to(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) {
        let channel = self.channel().await;
        let confirmation = channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await
            .expect("the test publishes")
            .await
            .expect("the broker confirms");
        assert!(
            matches!(confirmation, Confirmation::Ack(None)),
            "the broker did not take the message: {confirmation:?}"
        );
    }

    /// Takes the next message from `queue` (acked: it is gone from the queue), if there is one.
    pub async fn get(&self, queue: &str) -> Option<TestMessage> {
        let channel = self.channel().await;
        let message = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")?;
        Some(TestMessage::from(message.delivery))
    }

    /// Reads the next message of `queue` and puts it back (it stays in the queue).
    pub async fn peek(&self, queue: &str) -> Option<TestMessage> {
        let channel = self.channel().await;
        let message = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await
            .expect("basic.get")?;
        message
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await
            .expect("the message goes back");
        Some(TestMessage::from(message.delivery))
    }

    /// Messages ready in `queue` (not those delivered and not yet acked).
    pub async fn message_count(&self, queue: &str) -> u32 {
        self.inspect(queue).await.message_count()
    }

    /// Consumers on `queue` now (the worker's, while it is connected).
    pub async fn consumer_count(&self, queue: &str) -> u32 {
        self.inspect(queue).await.consumer_count()
    }

    /// What the broker says of `queue` now (a passive declare, which changes nothing).
    async fn inspect(&self, queue: &str) -> lapin::Queue {
        let channel = self.channel().await;
        channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions::default().passive(),
                FieldTable::default(),
            )
            .await
            .expect("the queue exists")
    }

    /// The test's channel to the real broker, opened (and the topology declared) on first use and
    /// again after anything closed it.
    /// Deletes `queue` with whatever it holds, as an operator's slip would.
    pub async fn delete_queue(&self, queue: &str) {
        let channel = self.channel().await;
        channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await
            .expect("the queue is deleted");
    }

    async fn channel(&self) -> Channel {
        let mut cached = self.channel.lock().await;
        if let Some((connection, channel)) = cached.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return channel.clone();
        }
        let settings = self.direct_settings();
        let connection = broker::connect(&settings, "courseshop test")
            .await
            .expect("RabbitMQ is reachable (rabbitmq-server -detached starts it)");
        let channel = broker::confirmed_channel(&connection)
            .await
            .expect("a channel");
        broker::declare_topology(&channel, &settings)
            .await
            .expect("the topology declares");
        *cached = Some((connection, channel.clone()));
        channel
    }
}

impl Default for TestRabbit {
    fn default() -> TestRabbit {
        TestRabbit::new()
    }
}

impl Drop for TestRabbit {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        let names = self.names();
        let queues = names.queues(&self.retry_delays());
        let exchange = names.exchange();
        let settings = self.direct_settings();
        run_to_completion(move || async move {
            let connection = broker::connect(&settings, "courseshop test cleanup")
                .await
                .ok()?;
            let channel = connection.create_channel().await.ok()?;
            for queue in queues {
                let _ = channel
                    .queue_delete(queue.into(), QueueDeleteOptions::default())
                    .await;
            }
            let _ = channel
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await;
            let _ = connection.close(200, "test done".into()).await;
            Some(())
        });
    }
}

/// A message read from a queue.
#[derive(Debug)]
pub struct TestMessage {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    pub redelivered: bool,
}

impl TestMessage {
    /// A text header (`x-dead-letter-reason`, `x-last-error`).
    pub fn header(&self, name: &str) -> Option<String> {
        text_header(self.properties.headers().as_ref(), name)
    }

    /// The attempt number the message carries (1 without the header).
    pub fn attempt(&self) -> u32 {
        attempt_of(self.properties.headers().as_ref())
    }

    pub fn message_id(&self) -> Option<String> {
        self.properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_string())
    }

    pub fn is_persistent(&self) -> bool {
        *self.properties.delivery_mode() == Some(2)
    }
}

impl From<lapin::message::Delivery> for TestMessage {
    fn from(delivery: lapin::message::Delivery) -> TestMessage {
        TestMessage {
            body: delivery.data,
            properties: delivery.properties,
            redelivered: delivery.redelivered,
        }
    }
}
