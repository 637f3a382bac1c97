//! The transactional outbox: events written in the same PostgreSQL transaction as the change they
//! announce, and handed to the broker afterwards by the relay.
//!
//! Publishing straight after `COMMIT` can lose an event (the process dies between the two, or the
//! broker is down); publishing before it can announce an order that then rolls back. Writing the
//! event as a row of the order's own transaction makes "the order exists" and "its event will be
//! sent" one fact. The price is at-least-once delivery: a relay that dies after the broker's confirm
//! and before marking the row sends it again, so consumers must be idempotent (the worker is).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::database::StoreError;
use crate::events::OrderPlaced;

/// The channel the outbox's insert trigger notifies (see the outbox migration).
pub const WAKE_CHANNEL: &str = "outbox_pending";

/// Writes `event` as a pending row, inside the caller's transaction.
pub async fn record(tx: &mut PgConnection, event: &OrderPlaced) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO outbox (event_id, event_type, routing_key, payload) VALUES ($1, $2, $3, $4)",
        event.event_id,
        OrderPlaced::TYPE,
        OrderPlaced::ROUTING_KEY,
        event.to_json()
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// A row waiting to be published.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub routing_key: String,
    /// The event's JSON, as sent.
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

/// Pending rows this relay has locked: other relays skip them until `finish` commits or the batch is
/// dropped (which rolls back, leaving every row pending).
pub struct ClaimedBatch {
    tx: Transaction<'static, Postgres>,
    pub events: Vec<PendingEvent>,
}

impl ClaimedBatch {
    /// Marks the rows `published` (those the broker confirmed) and lets the others go.
    pub async fn finish(mut self, published: &[i64]) -> Result<(), StoreError> {
        if !published.is_empty() {
            sqlx::query!(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL",
                published
            )
            .execute(&mut *self.tx)
            .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

/// How far behind publishing is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    pub pending: i64,
    /// Age of the oldest pending row; `None` when nothing is pending.
    pub oldest: Option<Duration>,
}

#[derive(Clone)]
pub struct Outbox {
    pool: PgPool,
}

impl Outbox {
    pub fn new(pool: PgPool) -> Outbox {
        Outbox { pool }
    }

    /// Locks up to `limit` pending rows, oldest first, skipping rows another relay holds: many app
    /// instances can relay at once and no row is sent by two of them at the same time.
    pub async fn claim(&self, limit: i64) -> Result<ClaimedBatch, StoreError> {
        let mut tx = self.pool.begin().await?;
        let events = sqlx::query_as!(
            PendingEvent,
            r#"SELECT id, event_id, event_type, routing_key, payload::text AS "payload!", created_at
               FROM outbox WHERE published_at IS NULL
               ORDER BY id LIMIT $1
               FOR UPDATE SKIP LOCKED"#,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        Ok(ClaimedBatch { tx, events })
    }

    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        let row = sqlx::query!(
            r#"SELECT count(*) AS "pending!",
                      extract(epoch FROM now() - min(created_at))::float8 AS oldest_seconds
               FROM outbox WHERE published_at IS NULL"#
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Backlog {
            pending: row.pending,
            oldest: row
                .oldest_seconds
                .map(|seconds| Duration::from_secs_f64(seconds.max(0.0))),
        })
    }

    /// Deletes up to `limit` rows published more than `age` ago; returns how many went. Published rows
    /// are kept a while for ops to look into ("was the event for order X sent, and when?").
    pub async fn purge_published(&self, age: Duration, limit: i64) -> Result<u64, StoreError> {
        let seconds = age.as_secs_f64();
        let deleted = sqlx::query!(
            "DELETE FROM outbox WHERE id IN (
                 SELECT id FROM outbox
                 WHERE published_at < now() - make_interval(secs => $1)
                 ORDER BY published_at LIMIT $2)",
            seconds,
            limit
        )
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }
}
