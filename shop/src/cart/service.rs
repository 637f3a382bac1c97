//! The cart's rules, the same whichever store keeps the lines.

use std::sync::Arc;

use chrono::Utc;

use super::{CartError, CartId, CartLine, CartOwner, CartStore};
use crate::catalog::{Catalog, CourseCard, CourseSlug};
use crate::database::StoreError;
use crate::enrollment::Enrollments;
use crate::ids::{CourseId, UserId};
use crate::money::Money;

#[derive(Debug, thiserror::Error)]
pub enum CartServiceError {
    #[error(transparent)]
    Cart(#[from] CartError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    AlreadyInCart,
    /// The student is enrolled already: nothing to buy.
    AlreadyOwned,
    /// No such course, or it is unpublished.
    NotForSale,
}

/// A cart line priced from the catalog now (the price seen when adding is only shown for comparison).
#[derive(Debug, Clone)]
pub struct PricedLine {
    pub course: CourseCard,
    pub price_seen: Money,
}

impl PricedLine {
    pub fn price_changed(&self) -> bool {
        self.course.price != self.price_seen
    }
}

/// A cart as its page shows it.
#[derive(Debug, Default)]
pub struct CartView {
    /// Lines that checkout would charge for, priced from the catalog.
    pub lines: Vec<PricedLine>,
    /// Lines for courses the student owns by now: checkout drops them.
    pub owned: Vec<CourseCard>,
    /// Lines whose course was unpublished since: they cannot be bought (and can be removed).
    pub unavailable: Vec<CourseId>,
}

impl CartView {
    /// The same cart with `owned` courses set apart (checkout drops them).
    pub fn setting_apart(mut self, owned: &[CourseId]) -> CartView {
        let (now_owned, lines): (Vec<PricedLine>, Vec<PricedLine>) = self
            .lines
            .into_iter()
            .partition(|line| owned.contains(&line.course.id));
        self.owned
            .extend(now_owned.into_iter().map(|line| line.course));
        self.lines = lines;
        self
    }

    pub fn total(&self) -> Money {
        self.lines.iter().fold(Money::ZERO, |total, line| {
            total.checked_add(line.course.price).unwrap_or(total)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.owned.is_empty() && self.unavailable.is_empty()
    }
}

#[derive(Clone)]
pub struct CartService {
    store: Arc<dyn CartStore>,
    catalog: Catalog,
    enrollments: Enrollments,
}

impl CartService {
    pub fn new(
        store: Arc<dyn CartStore>,
        catalog: Catalog,
        enrollments: Enrollments,
    ) -> CartService {
        CartService {
            store,
            catalog,
            enrollments,
        }
    }

    /// How many lines the cart has (the header's badge).
    pub async fn count(&self, owner: CartOwner) -> Result<usize, CartServiceError> {
        Ok(self.store.lines(owner).await?.len())
    }

    pub async fn add(
        &self,
        owner: CartOwner,
        user: Option<UserId>,
        slug: &CourseSlug,
    ) -> Result<AddOutcome, CartServiceError> {
        let Some(course) = self.catalog.course(slug).await? else {
            return Ok(AddOutcome::NotForSale);
        };
        if let Some(user) = user
            && !self
                .enrollments
                .owned_among(user, &[course.id])
                .await?
                .is_empty()
        {
            return Ok(AddOutcome::AlreadyOwned);
        }
        if self
            .store
            .lines(owner)
            .await?
            .iter()
            .any(|line| line.course == course.id)
        {
            return Ok(AddOutcome::AlreadyInCart);
        }
        self.store
            .add(
                owner,
                CartLine {
                    course: course.id,
                    price_seen: course.price,
                    added_at: Utc::now(),
                },
            )
            .await?;
        Ok(AddOutcome::Added)
    }

    pub async fn remove(&self, owner: CartOwner, course: CourseId) -> Result<(), CartServiceError> {
        Ok(self.store.remove(owner, course).await?)
    }

    pub async fn clear(&self, owner: CartOwner) -> Result<(), CartServiceError> {
        Ok(self.store.clear(owner).await?)
    }

    pub async fn merge(&self, visitor: CartId, user: UserId) -> Result<(), CartServiceError> {
        Ok(self.store.merge(visitor, user).await?)
    }

    /// The cart priced from the catalog as it is now, with owned and unpublished courses set apart.
    pub async fn view(
        &self,
        owner: CartOwner,
        user: Option<UserId>,
    ) -> Result<CartView, CartServiceError> {
        let lines = self.store.lines(owner).await?;
        if lines.is_empty() {
            return Ok(CartView::default());
        }
        let ids: Vec<CourseId> = lines.iter().map(|line| line.course).collect();
        let cards = self.catalog.cards(&ids).await?;
        let owned = match user {
            Some(user) => self.enrollments.owned_among(user, &ids).await?,
            None => Vec::new(),
        };
        let mut view = CartView::default();
        for line in lines {
            match cards.iter().find(|card| card.id == line.course) {
                None => view.unavailable.push(line.course),
                Some(card) if owned.contains(&card.id) => view.owned.push(card.clone()),
                Some(card) => view.lines.push(PricedLine {
                    course: card.clone(),
                    price_seen: line.price_seen,
                }),
            }
        }
        Ok(view)
    }
}
