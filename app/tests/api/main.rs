//! Integration tests: the real app over HTTP, against a real PostgreSQL.

mod accounts;
mod cart;
mod cart_store;
mod catalog;
mod checkout;
mod commands;
mod errors;
mod helpers;
mod operations;
mod seed;
mod teach;
