//! Step 2's cart store: one Azure Cosmos DB document per cart (`document.rs`), through the official
//! SDK `azure_data_cosmos`, with optimistic concurrency on the document's `_etag`.
//!
//! Each change reads the cart, edits it and writes it back only if nobody wrote in between
//! (`If-Match`); a 412 means someone did, so the change is made again on the new version, a few
//! times at most. Two tabs adding courses at once therefore both keep their course.

mod connection;
mod document;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use azure_data_cosmos::options::{ItemWriteOptions, Precondition};
use azure_data_cosmos::{ContainerClient, CosmosClientBuilder, CosmosError};
use tokio::sync::OnceCell;

use super::{CartError, CartId, CartLine, CartOwner, CartStore};
use crate::ids::{CourseId, UserId};
use crate::outage::{Away, StoreError, StoreGuard, Verdict};
use crate::settings::CosmosSettings;
pub use connection::{ClientBuilderFactory, ConnectError, cart_container_properties};
pub use document::{CartDocument, USER_CART_TTL_SECONDS, VISITOR_CART_TTL_SECONDS, document_id};

/// Attempts at one change before giving up on a cart that others keep changing under it (the
/// time budget of the request ends it sooner if Cosmos is slow).
const MAX_ATTEMPTS: u32 = 10;

#[derive(Clone)]
pub struct CosmosCartStore {
    inner: Arc<Inner>,
}

struct Inner {
    settings: CosmosSettings,
    builder: ClientBuilderFactory,
    /// Opened on first use, so the shop starts (and browsing works) while Cosmos is unreachable;
    /// a failed opening is tried again by the next request.
    container: OnceCell<ContainerClient>,
    guard: StoreGuard,
}

/// Why a cart change gave up although Cosmos answered.
#[derive(Debug, thiserror::Error)]
#[error("cart {id} kept changing under {attempts} attempts to update it")]
pub struct Contention {
    pub id: String,
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("Cosmos DB did not answer within {0:?}")]
pub struct TimedOut(Duration);

#[derive(Debug, thiserror::Error)]
#[error("Cosmos DB failed moments ago; not asking again until it has had a moment")]
pub struct CoolingDown;

/// What absorbing a cart from elsewhere found (`CosmosCartStore::absorb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absorbed {
    /// The owner had no cart here: it is made with the lines.
    Created,
    /// The owner's cart lacked some of the lines: they are added, the others kept.
    Merged,
    /// Every line is here already: nothing written.
    AlreadyThere,
}

/// What a read of one cart found.
enum Found {
    Missing,
    Cart(Box<CartDocument>),
}

impl CosmosCartStore {
    pub fn new(settings: CosmosSettings) -> CosmosCartStore {
        CosmosCartStore::with_client_builder(settings, Arc::new(CosmosClientBuilder::new))
    }

    /// A store whose SDK client starts from `builder` (tests add fault-injection rules there).
    pub fn with_client_builder(
        settings: CosmosSettings,
        builder: ClientBuilderFactory,
    ) -> CosmosCartStore {
        CosmosCartStore {
            inner: Arc::new(Inner {
                settings,
                builder,
                container: OnceCell::new(),
                guard: StoreGuard::default(),
            }),
        }
    }

    /// Opens the container (creating it when the settings say so). The app calls this at start to
    /// report a problem early; it is not required, every operation opens it when needed.
    pub async fn open(&self) -> Result<(), CartError> {
        self.guarded(async { self.container().await.map(|_| ()) })
            .await
    }

    /// For `/readyz`: reads the cart container's properties. It asks Cosmos even while the store
    /// cools down after a failure, so the probe tells the truth, and a success ends the outage.
    pub async fn ping(&self) -> Result<(), CartError> {
        self.timed(async {
            let container = self.container().await?;
            container.read(None).await.map_err(classify)?;
            Ok(())
        })
        .await
    }

    /// Adds `lines` to the owner's cart, each course once (the union of both, through the same etag
    /// check as every change), and says what it found; with `write` false it only says. For the
    /// cart migration (`migration.rs`): running it twice changes nothing the second time.
    pub async fn absorb(
        &self,
        owner: CartOwner,
        lines: &[CartLine],
        write: bool,
    ) -> Result<Absorbed, CartError> {
        self.guarded(async {
            let found = self.read(&document_id(owner)).await?;
            let absorbed = match &found {
                Found::Missing => Absorbed::Created,
                Found::Cart(cart) if lines.iter().all(|line| cart.has(line.course)) => {
                    Absorbed::AlreadyThere
                }
                Found::Cart(_) => Absorbed::Merged,
            };
            if write && absorbed != Absorbed::AlreadyThere {
                // the read above is the change's first read: two requests for a new cart, not three
                self.change(owner, Some(found), |cart| cart.add_all(lines))
                    .await?;
            }
            Ok(absorbed)
        })
        .await
    }

    /// The settings this store was made from (the endpoint is shown on `/readyz`).
    pub fn settings(&self) -> &CosmosSettings {
        &self.inner.settings
    }

    async fn container(&self) -> Result<&ContainerClient, CartError> {
        self.inner
            .container
            .get_or_try_init(|| async {
                connection::open_cart_container(&self.inner.settings, (self.inner.builder)())
                    .await
                    .map_err(|error| {
                        // whatever the cause, students see "cart unavailable"; a cause that
                        // will not pass by itself (a bad key, a missing container) is for ops
                        if !error.cosmos_error().is_some_and(is_transient) {
                            tracing::error!(%error, cause = ?std::error::Error::source(&error), "cannot open the Cosmos DB cart container");
                        }
                        CartError::Unavailable(Box::new(error))
                    })
            })
            .await
    }

    /// Runs one cart operation within the time budget, skipping Cosmos while it is known down.
    async fn guarded<T>(
        &self,
        operation: impl Future<Output = Result<T, CartError>>,
    ) -> Result<T, CartError> {
        let budget = self.inner.settings.timeout;
        let outcome = self.inner.guard.run(budget, operation).await;
        outcome.map_err(unavailable)
    }

    /// Runs one operation within the time budget even while Cosmos cools down (for the probe).
    async fn timed<T>(
        &self,
        operation: impl Future<Output = Result<T, CartError>>,
    ) -> Result<T, CartError> {
        let budget = self.inner.settings.timeout;
        let outcome = self.inner.guard.probe(budget, operation).await;
        outcome.map_err(unavailable)
    }

    async fn read(&self, id: &str) -> Result<Found, CartError> {
        let container = self.container().await?;
        match container.read_item(id.to_string(), id, None).await {
            Ok(response) => {
                charged("read", id, response.headers().request_charge());
                let cart: CartDocument = response
                    .into_model()
                    .map_err(|error| CartError::Failed(Box::new(error)))?;
                Ok(Found::Cart(Box::new(cart)))
            }
            Err(error) if error.status().is_not_found() => Ok(Found::Missing),
            Err(error) => Err(classify(error)),
        }
    }

    /// Applies `edit` to the owner's cart and writes it back unless someone changed it meanwhile,
    /// in which case the edit is made again on their version. `edit` says whether it changed anything.
    /// `known` is the cart as just read, if the caller has read it: the first attempt starts there.
    async fn change(
        &self,
        owner: CartOwner,
        mut known: Option<Found>,
        edit: impl Fn(&mut CartDocument) -> bool,
    ) -> Result<(), CartError> {
        let container = self.container().await?;
        let id = document_id(owner);
        for attempt in 1..=MAX_ATTEMPTS {
            let found = match known.take() {
                Some(found) => found,
                None => self.read(&id).await?,
            };
            let (mut cart, etag) = match found {
                Found::Cart(cart) => {
                    let etag = cart.etag.clone();
                    (*cart, etag)
                }
                Found::Missing => (CartDocument::empty(owner), None),
            };
            if !edit(&mut cart) {
                return Ok(());
            }
            cart.touch();
            let written = match etag {
                Some(etag) => {
                    let options =
                        ItemWriteOptions::default().with_precondition(Precondition::if_match(etag));
                    container
                        .replace_item(id.clone(), &id, &cart, Some(options))
                        .await
                }
                None => container.create_item(id.clone(), &id, &cart, None).await,
            };
            match written {
                Ok(response) => {
                    charged("write", &id, response.headers().request_charge());
                    return Ok(());
                }
                // 412: written by someone else since our read; 409: created by someone else;
                // 404: deleted (a checkout emptied it) since our read
                Err(error)
                    if error.status().is_precondition_failed()
                        || error.status().is_conflict()
                        || error.status().is_not_found() =>
                {
                    tracing::debug!(cart = %id, attempt, status = %error.status(), "cart changed meanwhile; trying again");
                    tokio::time::sleep(contention_pause(attempt)).await;
                }
                Err(error) => return Err(classify(error)),
            }
        }
        Err(CartError::Unavailable(Box::new(Contention {
            id,
            attempts: MAX_ATTEMPTS,
        })))
    }

    async fn delete(&self, id: &str) -> Result<(), CartError> {
        let container = self.container().await?;
        match container.delete_item(id.to_string(), id, None).await {
            Ok(_) => Ok(()),
            Err(error) if error.status().is_not_found() => Ok(()),
            Err(error) => Err(classify(error)),
        }
    }
}

/// Request units are what Cosmos DB bills; `RUST_LOG=shop::cart::cosmos=debug` shows each one's
/// cost (the local server charges a flat 1).
fn charged(operation: &str, cart: &str, charge: Option<&impl std::fmt::Display>) {
    if let Some(charge) = charge {
        tracing::debug!(cart, operation, request_units = %charge, "cart {operation}");
    }
}

/// A random pause of up to 4, 8, 16 … 100 ms: writers that collided spread out instead of
/// colliding again in step ("full jitter" backoff).
fn contention_pause(attempt: u32) -> Duration {
    let ceiling = (2u64 << attempt.min(6)).min(100);
    let random = u64::from(getrandom::u32().unwrap_or(0));
    Duration::from_millis(random % ceiling + 1)
}

/// 408, 429, 449 and 503 (including the SDK's own for a failed connection) are Cosmos being
/// unreachable or busy for now; anything else is a fault to look at.
fn is_transient(error: &CosmosError) -> bool {
    let status = error.status();
    status.is_transient() || status.is_gone() || u16::from(status.status_code()) >= 500
}

impl StoreError for CartError {
    fn verdict(&self) -> Verdict {
        match self {
            // one cart that others keep changing is that cart's problem, not Cosmos being down
            CartError::Unavailable(error) if error.is::<Contention>() => Verdict::Neither,
            CartError::Unavailable(_) => Verdict::Away,
            // Cosmos answered (a 404 or 412 is handled where it is asked, and is no error here)
            CartError::Failed(_) => Verdict::Answered,
        }
    }
}

/// The one place the guard's outcome becomes the cart's error.
fn unavailable(away: Away<CartError>) -> CartError {
    match away {
        Away::CoolingDown => CartError::Unavailable(Box::new(CoolingDown)),
        Away::TimedOut(budget) => CartError::Unavailable(Box::new(TimedOut(budget))),
        Away::Failed(error) => error,
    }
}

/// The pause Cosmos DB asked for (`x-ms-retry-after-ms`) when `error` is its answer to a throttled
/// request.
pub(crate) fn retry_after(error: &CartError) -> Option<Duration> {
    let CartError::Unavailable(source) = error else {
        return None;
    };
    let answer = source.downcast_ref::<CosmosError>()?.response()?;
    answer
        .headers()
        .retry_after_ms
        .filter(|_| answer.status().is_throttled())
        .map(Duration::from_millis)
}

fn classify(error: CosmosError) -> CartError {
    let status = error.status();
    if status.is_unauthorized() || status.is_forbidden() {
        // a rotated key or a missing role: the students see "cart unavailable", ops see this
        tracing::error!(%status, "Cosmos DB refused the shop's credentials: check COSMOS_KEY or the identity's data-plane role");
        return CartError::Unavailable(Box::new(error));
    }
    if is_transient(&error) {
        CartError::Unavailable(Box::new(error))
    } else {
        CartError::Failed(Box::new(error))
    }
}

#[async_trait::async_trait]
impl CartStore for CosmosCartStore {
    async fn lines(&self, owner: CartOwner) -> Result<Vec<CartLine>, CartError> {
        self.guarded(async {
            match self.read(&document_id(owner)).await? {
                Found::Missing => Ok(Vec::new()),
                Found::Cart(cart) => cart
                    .cart_lines()
                    .map_err(|error| CartError::Failed(Box::new(error))),
            }
        })
        .await
    }

    async fn add(&self, owner: CartOwner, line: CartLine) -> Result<(), CartError> {
        self.guarded(self.change(owner, None, |cart| cart.add(&line)))
            .await
    }

    async fn remove(&self, owner: CartOwner, course: CourseId) -> Result<(), CartError> {
        self.guarded(self.change(owner, None, |cart| cart.remove(course)))
            .await
    }

    async fn clear(&self, owner: CartOwner) -> Result<(), CartError> {
        self.guarded(self.delete(&document_id(owner))).await
    }

    async fn merge(&self, visitor: CartId, user: UserId) -> Result<(), CartError> {
        let visitor = CartOwner::Visitor(visitor);
        self.guarded(async {
            let visitor_id = document_id(visitor);
            for attempt in 1..=MAX_ATTEMPTS {
                let Found::Cart(visitor_cart) = self.read(&visitor_id).await? else {
                    return Ok(());
                };
                let lines = visitor_cart
                    .cart_lines()
                    .map_err(|error| CartError::Failed(Box::new(error)))?;
                // The user's cart is written first: if the delete below fails, the visitor's cart
                // is merged again at the next login (adding is idempotent), so nothing is lost.
                self.change(CartOwner::User(user), None, |cart| cart.add_all(&lines))
                    .await?;
                // Only the version that was merged is deleted: a line another tab added in
                // between makes this a 412, and the merge runs again with it.
                let container = self.container().await?;
                let options = visitor_cart.etag.clone().map(|etag| {
                    ItemWriteOptions::default().with_precondition(Precondition::if_match(etag))
                });
                match container
                    .delete_item(visitor_id.clone(), &visitor_id, options)
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(error) if error.status().is_not_found() => return Ok(()),
                    Err(error) if error.status().is_precondition_failed() => {
                        tokio::time::sleep(contention_pause(attempt)).await;
                    }
                    Err(error) => return Err(classify(error)),
                }
            }
            Err(CartError::Unavailable(Box::new(Contention {
                id: visitor_id,
                attempts: MAX_ATTEMPTS,
            })))
        })
        .await
    }
}
