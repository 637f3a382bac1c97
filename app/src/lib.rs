//! Courseshop's web shop: routes, pages and the server around them.

pub mod csrf;
pub mod error;
pub mod layout;
pub mod metrics;
pub mod next_path;
pub mod outbox_relay;
pub mod routes;
pub mod security_headers;
pub mod session;
pub mod session_store;
pub mod startup;
pub mod telemetry;
pub mod url_encoded;
pub mod visitor_cart;
