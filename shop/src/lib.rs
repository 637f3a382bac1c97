//! Courseshop's domain and its stores, shared by the web app (and, from tutorial step 4, the
//! enrollment worker). One folder per area of the shop; see DESIGN.md §2.

pub mod accounts;
pub mod cache;
pub mod cart;
pub mod catalog;
pub mod command;
pub mod database;
pub mod enrollment;
pub mod events;
pub mod healthcheck;
pub mod ids;
pub mod metrics;
pub mod money;
pub mod orders;
pub mod outage;
pub mod readiness;
pub mod settings;
pub mod telemetry;
pub mod text;
pub mod token;
pub mod topology;
