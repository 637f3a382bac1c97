//! Events between the shop's processes (tutorial step 4): the `OrderPlaced` contract, the outbox
//! that checkout writes it to, and the RabbitMQ topology both the app's relay and the enrollment
//! worker declare.

pub mod broker;
mod order_placed;
pub mod outbox;

pub use broker::BrokerNames;
pub use order_placed::{MalformedEvent, OrderPlaced, OrderPlacedItem};
pub use outbox::{Backlog, ClaimedBatch, Outbox, PendingEvent};
