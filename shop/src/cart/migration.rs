//! Step 2's cart migration (`courseshop carts migrate`): every cart steps 0–1 kept in PostgreSQL,
//! students' and visitors', copied into Cosmos DB without losing a line.
//!
//! Each cart is *absorbed* into its Cosmos document: the union of both stores' lines, each course
//! once, written with the same etag check as the shop's own changes, so a cart the shop already
//! serves at step 2 is merged, never overwritten. Absorbing a cart twice changes nothing the second
//! time, so the migration keeps no checkpoint: a run that was killed is simply run again, and the
//! carts it had finished count as already there. PostgreSQL is only read until `finish`, which
//! empties its cart tables once a verification has found every line in Cosmos DB.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use sqlx::PgPool;
use uuid::Uuid;

use super::cosmos::{Absorbed, CosmosCartStore, document_id};
use super::{CartError, CartId, CartLine, CartOwner, CartStore};
use crate::database::StoreError;
use crate::ids::{CourseId, UserId};
use crate::money::Money;
use crate::settings::CosmosSettings;

/// Attempts at one cart while Cosmos DB is throttling (429) or away, before it counts as failed.
const ATTEMPTS: u32 = 6;

/// The longest one Cosmos DB operation of the migration may take. The SDK waits out a throttled
/// request itself, for as long as each 429's `x-ms-retry-after-ms` says and up to 30 s in all; the
/// shop's own budget (`COSMOS_TIMEOUT_MS`, 2 s) is for a page, and would cut that wait short and
/// make the store cool down, so that every cart after it failed at once.
pub const OPERATION_BUDGET: Duration = Duration::from_secs(40);

#[derive(Debug, Clone, Copy)]
pub struct MigrationOptions {
    /// Carts read from PostgreSQL at a time.
    pub batch: u32,
    /// Carts written to Cosmos DB at once.
    pub concurrency: usize,
    /// Count what would be done; write nothing.
    pub dry_run: bool,
}

impl Default for MigrationOptions {
    fn default() -> MigrationOptions {
        MigrationOptions {
            batch: 500,
            concurrency: 16,
            dry_run: false,
        }
    }
}

/// What a run did, cart by cart.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    /// Carts in PostgreSQL when the run started.
    pub total: u64,
    /// Copied to Cosmos DB, which had no cart for their owner.
    pub migrated: u64,
    /// Merged into a cart Cosmos DB already had (lines it lacked were added).
    pub merged: u64,
    /// Nothing to do: every line already in Cosmos DB, or an empty cart.
    pub skipped: u64,
    /// Not written (Cosmos DB away or throttling through every attempt): run again.
    pub failed: u64,
    /// Carts (of any of the above) that took more than one attempt: Cosmos DB was away, or
    /// throttled for longer than the SDK waits by itself.
    pub retried: u64,
}

impl MigrationReport {
    pub fn done(&self) -> u64 {
        self.migrated + self.merged + self.skipped + self.failed
    }
}

/// A cart whose PostgreSQL lines are not all in its Cosmos DB document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The Cosmos document id (`user-42`, `visitor-…`).
    pub cart: String,
    pub missing: Vec<CourseId>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("reading the carts from PostgreSQL failed")]
    Postgres(#[from] StoreError),
    #[error("Cosmos DB could not be read for cart {cart}")]
    Cosmos {
        cart: String,
        #[source]
        source: CartError,
    },
    #[error(
        "{0} carts in PostgreSQL are not all in Cosmos DB: run `courseshop carts migrate` again"
    )]
    Differs(usize),
}

/// One cart as PostgreSQL holds it.
struct SourceCart {
    owner: CartOwner,
    lines: Vec<CartLine>,
}

pub struct CartMigration {
    pool: PgPool,
    cosmos: CosmosCartStore,
    options: MigrationOptions,
}

impl CartMigration {
    /// A migration from `pool` into the carts container `cosmos` names, whose operations may take
    /// up to `OPERATION_BUDGET` (the shop's own timeout stays for its pages).
    pub fn new(pool: PgPool, cosmos: CosmosSettings, options: MigrationOptions) -> CartMigration {
        let cosmos = CosmosSettings {
            timeout: cosmos.timeout.max(OPERATION_BUDGET),
            ..cosmos
        };
        CartMigration {
            pool,
            cosmos: CosmosCartStore::new(cosmos),
            options,
        }
    }

    /// Copies every cart; `progress` sees the report after each batch.
    pub async fn run(
        &self,
        mut progress: impl FnMut(&MigrationReport),
    ) -> Result<MigrationReport, MigrationError> {
        let mut report = MigrationReport {
            total: self.count().await?,
            ..MigrationReport::default()
        };
        let mut after = None;
        loop {
            let carts = self.batch(after).await?;
            let Some(last) = carts.last() else {
                return Ok(report);
            };
            after = Some(last.0);
            let outcomes: Vec<(Result<Absorbed, CartError>, u32)> = stream::iter(carts)
                .map(|(_, cart)| self.absorb(cart))
                .buffer_unordered(self.options.concurrency.max(1))
                .collect()
                .await;
            for (outcome, attempts) in outcomes {
                if attempts > 1 {
                    report.retried += 1;
                }
                match outcome {
                    Ok(Absorbed::Created) => report.migrated += 1,
                    Ok(Absorbed::Merged) => report.merged += 1,
                    Ok(Absorbed::AlreadyThere) => report.skipped += 1,
                    Err(error) => {
                        tracing::warn!(error = %error, "a cart was not migrated; run again to finish it");
                        report.failed += 1;
                    }
                }
            }
            progress(&report);
        }
    }

    /// Every cart whose PostgreSQL lines are not all in Cosmos DB. Lines only Cosmos DB has are
    /// no difference: they were added there at step 2.
    pub async fn verify(&self) -> Result<Vec<Difference>, MigrationError> {
        let mut differences = Vec::new();
        let mut after = None;
        loop {
            let carts = self.batch(after).await?;
            let Some(last) = carts.last() else {
                return Ok(differences);
            };
            after = Some(last.0);
            let found: Vec<Result<Option<Difference>, MigrationError>> = stream::iter(carts)
                .map(|(_, cart)| self.compare(cart))
                .buffer_unordered(self.options.concurrency.max(1))
                .collect()
                .await;
            for difference in found {
                differences.extend(difference?);
            }
        }
    }

    /// Verifies, then empties PostgreSQL's cart tables of every cart that has not changed since the
    /// verification began (one changed meanwhile stays, for the next run). Refused on any difference.
    pub async fn finish(&self) -> Result<u64, MigrationError> {
        let started: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let differences = self.verify().await?;
        if !differences.is_empty() {
            return Err(MigrationError::Differs(differences.len()));
        }
        // cart_items go with their cart (ON DELETE CASCADE)
        let deleted = sqlx::query("DELETE FROM carts WHERE updated_at < $1")
            .bind(started)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(deleted.rows_affected())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM carts")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// The next carts after `after` in id order, with their lines.
    async fn batch(&self, after: Option<Uuid>) -> Result<Vec<(Uuid, SourceCart)>, StoreError> {
        type Row = (
            Uuid,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<DateTime<Utc>>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT c.id, c.user_id, i.course_id, i.price_cents_seen, i.added_at
             FROM (SELECT id, user_id FROM carts
                   WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2) c
             LEFT JOIN cart_items i ON i.cart_id = c.id
             ORDER BY c.id, i.added_at, i.course_id",
        )
        .bind(after)
        .bind(i64::from(self.options.batch.max(1)))
        .fetch_all(&self.pool)
        .await?;
        let mut carts: Vec<(Uuid, SourceCart)> = Vec::new();
        for (id, user, course, cents, added_at) in rows {
            if carts.last().is_none_or(|(last, _)| *last != id) {
                let owner = match user {
                    Some(user) => CartOwner::User(UserId(user)),
                    None => CartOwner::Visitor(CartId(id)),
                };
                carts.push((
                    id,
                    SourceCart {
                        owner,
                        lines: Vec::new(),
                    },
                ));
            }
            if let (Some(course), Some(cents), Some(added_at), Some((_, cart))) =
                (course, cents, added_at, carts.last_mut())
            {
                let price_seen = Money::from_cents(cents).map_err(|error| {
                    StoreError::Corrupt(format!("cart {id}: course {course}: {error}"))
                })?;
                cart.lines.push(CartLine {
                    course: CourseId(course),
                    price_seen,
                    added_at,
                });
            }
        }
        Ok(carts)
    }

    /// One cart into Cosmos DB, with the attempts it took.
    async fn absorb(&self, cart: SourceCart) -> (Result<Absorbed, CartError>, u32) {
        if cart.lines.is_empty() {
            return (Ok(Absorbed::AlreadyThere), 1);
        }
        let write = !self.options.dry_run;
        patiently(&cart, || self.cosmos.absorb(cart.owner, &cart.lines, write)).await
    }

    async fn compare(&self, cart: SourceCart) -> Result<Option<Difference>, MigrationError> {
        if cart.lines.is_empty() {
            return Ok(None);
        }
        let label = document_id(cart.owner);
        let (in_cosmos, _) = patiently(&cart, || self.cosmos.lines(cart.owner)).await;
        let in_cosmos = in_cosmos.map_err(|source| MigrationError::Cosmos {
            cart: label.clone(),
            source,
        })?;
        let there: HashSet<CourseId> = in_cosmos.iter().map(|line| line.course).collect();
        let missing: Vec<CourseId> = cart
            .lines
            .iter()
            .map(|line| line.course)
            .filter(|course| !there.contains(course))
            .collect();
        Ok((!missing.is_empty()).then_some(Difference {
            cart: label,
            missing,
        }))
    }
}

/// `call` for one cart, again after a pause while Cosmos DB throttles (429) or is away, up to
/// `ATTEMPTS` times; with the number of attempts it took.
async fn patiently<T, F, Fut>(cart: &SourceCart, call: F) -> (Result<T, CartError>, u32)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, CartError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error @ CartError::Unavailable(_)) if attempt < ATTEMPTS => {
                // after a 429 the SDK gave up on, the wait its last answer asked for
                let pause = super::cosmos::retry_after(&error).unwrap_or_else(|| pause(attempt));
                tracing::debug!(cart = %document_id(cart.owner), attempt, ?pause, %error, "Cosmos DB is busy or away; trying again");
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            outcome => return (outcome, attempt),
        }
    }
}

/// 0.4 s, 0.8 s, 1.6 s, then 3.2 s while Cosmos DB is away: longer than the store's `COOL_DOWN` by the
/// last attempts, and short enough that a store coming back is noticed.
fn pause(attempt: u32) -> Duration {
    Duration::from_millis(200 << attempt.min(4))
}
