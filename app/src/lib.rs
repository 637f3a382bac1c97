//! Courseshop's web shop: routes, pages and the server around them.

pub mod assets;
pub mod error;
pub mod error_page;
pub mod forms;
pub mod http_cache;
pub mod layout;
pub mod login_throttle;
pub mod metrics;
pub mod next_path;
pub mod probes;
pub mod request_metrics;
pub mod respond;
pub mod routes;
pub mod same_origin;
pub mod security_headers;
pub mod session;
pub mod startup;
pub mod state;
pub mod structured_data;
pub mod telemetry;
pub mod url_encoded;
pub mod visitor;
