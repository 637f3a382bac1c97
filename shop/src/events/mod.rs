//! Events between the shop's processes (tutorial step 4): the `OrderPlaced` contract, the outbox
//! that checkout writes it to, the relay that publishes the outbox to RabbitMQ (run by the app),
//! the RabbitMQ topology both the relay and the enrollment worker declare, and the rule by which
//! the worker retries a message or dead-letters it.

pub mod broker;
mod order_placed;
pub mod outbox;
pub mod relay;
mod retry;

pub use broker::BrokerNames;
pub use order_placed::{MalformedEvent, OrderPlaced, OrderPlacedItem};
pub use outbox::{Backlog, ClaimedBatch, Outbox, PendingEvent};
pub use relay::RelayHandle;
pub use retry::RetryPolicy;
