//! Integration tests: the enrollment worker against the real PostgreSQL and RabbitMQ, each test
//! with a database and broker names of its own.

mod dead_letters;
mod enrollment;
mod helpers;
mod operations;
mod outages;
mod process;
mod redrive;
