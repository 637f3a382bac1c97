//! The enrollment worker (tutorial step 4, DESIGN §5): consumes the `OrderPlaced` events the web
//! app's outbox relay publishes, enrolls each order's student in one PostgreSQL transaction, and
//! acks only after that commit. A failure that may pass (PostgreSQL down) goes round the retry
//! queues; a message that can never succeed goes to the dead-letter queue with its reason, and
//! `redrive` brings dead letters back once the cause is fixed.
//!
//! It serves `/healthz`, `/readyz` and `/metrics` on a port of its own and reconnects by itself
//! when RabbitMQ or PostgreSQL come back.

mod consumer;
mod handling;
mod health;
pub mod metrics;
mod redrive;
pub mod telemetry;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;
use tokio::sync::watch;

use shop::settings::WorkerSettings;

pub use redrive::redrive;

use crate::consumer::BrokerStatus;
use crate::metrics::WorkerMetrics;

/// One enrollment worker: its health server's port and its PostgreSQL pool, ready to consume.
pub struct Worker {
    settings: WorkerSettings,
    listener: TcpListener,
    port: u16,
    pool: PgPool,
    metrics: WorkerMetrics,
}

impl Worker {
    /// Binds the health port and prepares the pool; connects to RabbitMQ when run.
    pub async fn build(settings: &WorkerSettings) -> anyhow::Result<Worker> {
        let listener = TcpListener::bind((settings.host, settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        // lazy: the worker starts (and says it is not ready) while PostgreSQL is down
        let pool = shop::database::connect_lazily(&settings.database);
        Ok(Worker {
            settings: settings.clone(),
            listener,
            port,
            pool,
            metrics: WorkerMetrics::new(),
        })
    }

    pub fn health_port(&self) -> u16 {
        self.port
    }

    /// What this worker counts, as its `/metrics` shows it (the tests read it directly).
    pub fn metrics(&self) -> WorkerMetrics {
        self.metrics.clone()
    }

    /// Runs until `shutdown` completes, then drains in-flight messages and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Worker {
            settings,
            listener,
            port: _,
            pool,
            metrics,
        } = self;
        let broker = Arc::new(BrokerStatus::default());
        let server = health::serve(listener, pool.clone(), broker.clone(), metrics.clone())
            .context("the health server cannot start")?;
        let server_handle = server.handle();
        let server_task = tokio::spawn(server);

        // a flag every stage of the consumer can watch, whichever it is in when the signal comes
        let (stop, stopped) = watch::channel(false);
        let signal = tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });

        consumer::consume_until(&settings, pool.clone(), metrics, broker, stopped).await;

        signal.abort();
        server_handle.stop(true).await;
        let served = server_task.await;
        pool.close().await;
        tracing::info!("the enrollment worker stopped");
        match served {
            Ok(result) => result.context("the health server failed"),
            Err(error) => Err(error).context("the health server's task failed"),
        }
    }
}
