//! Integration tests: the real app over HTTP, against a real PostgreSQL and Cosmos DB server.

// A test's future nests the whole app's start-up futures (TestApp → Application → AppState →
// stores); computing its layout goes deeper than the default limit of 128 queries.
#![recursion_limit = "256"]

mod accounts;
mod anonymous;
mod async_enrollment;
mod cart;
mod cart_migration;
mod cart_store;
mod catalog;
mod checkout;
mod commands;
mod cosmos_carts;
mod errors;
mod helpers;
mod hostile;
mod html;
mod http_caching;
mod metrics;
mod operations;
mod order_status;
mod production;
mod redis_cache;
mod redis_sessions;
mod replica;
mod scale_out;
mod search_index;
mod seed;
mod seo;
mod teach;
