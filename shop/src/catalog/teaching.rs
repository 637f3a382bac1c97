//! Instructors' side of the catalog: their own courses, created, edited, published, unpublished.
//! Every query names the instructor, so another instructor's course is simply not found.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    CatalogCache, CatalogIndex, CategorySlug, CourseSlug, Level, slug_candidates, slugify,
};
use crate::database::{Reads, StoreError, WalPosition};
use crate::ids::UserId;
use crate::money::Money;

/// The course form as submitted: every field text, parsed by `CourseDraft::parse`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CourseForm {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub duration_minutes: String,
    #[serde(default)]
    pub price: String,
}

/// A course's editable content, every field valid.
#[derive(Debug, Clone)]
pub struct CourseDraft {
    pub title: String,
    pub summary: String,
    pub description: String,
    pub category: CategorySlug,
    pub level: Level,
    pub duration_minutes: i32,
    pub price: Money,
}

/// What is wrong with a course form, field by field (shown beside each field).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CourseFormErrors {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub level: Option<String>,
    pub duration_minutes: Option<String>,
    pub price: Option<String>,
}

impl CourseFormErrors {
    pub fn is_empty(&self) -> bool {
        *self == CourseFormErrors::default()
    }
}

/// The most a course may cost: a guard against a slipped decimal point.
const MAX_PRICE_CENTS: i64 = 1_000_000;

/// How a field may span lines: a title or summary is one line, a description paragraphs.
#[derive(Clone, Copy)]
enum Lines {
    One,
    Many,
}

fn text(input: &str, lines: Lines, min: usize, max: usize, what: &str) -> Result<String, String> {
    let value = match lines {
        Lines::One => crate::text::line(input).map(str::to_string),
        Lines::Many => crate::text::paragraphs(input),
    }
    .map_err(|refused| format!("{refused} ({what})"))?;
    let value = value.trim().to_string();
    let length = value.chars().count();
    if length < min {
        Err(format!("write at least {min} characters of {what}"))
    } else if length > max {
        Err(format!("keep {what} to {max} characters"))
    } else {
        Ok(value)
    }
}

impl CourseDraft {
    pub fn parse(form: &CourseForm) -> Result<CourseDraft, Box<CourseFormErrors>> {
        let title = text(&form.title, Lines::One, 3, 160, "title");
        let summary = text(&form.summary, Lines::One, 10, 400, "summary");
        let description = text(&form.description, Lines::Many, 20, 20_000, "description");
        // a choice or a number with a control character is no choice or number at all
        fn plain(field: &str) -> Option<&str> {
            crate::text::line(field).ok().map(str::trim)
        }
        let category = plain(&form.category)
            .and_then(|slug| CategorySlug::parse(slug).ok())
            .ok_or_else(|| "choose a category".to_string());
        let level = plain(&form.level)
            .and_then(Level::parse)
            .ok_or_else(|| "choose a level".to_string());
        let duration = plain(&form.duration_minutes)
            .and_then(|minutes| minutes.parse::<i32>().ok())
            .filter(|minutes| (1..=100_000).contains(minutes))
            .ok_or_else(|| "enter the length in whole minutes, e.g. 90".to_string());
        let price = crate::text::line(&form.price)
            .map_err(|refused| refused.to_string())
            .and_then(|price| Money::parse_decimal(price).map_err(|error| error.to_string()))
            .and_then(|price| {
                if price.cents() > MAX_PRICE_CENTS {
                    Err("a course costs at most $10,000.00".to_string())
                } else {
                    Ok(price)
                }
            });
        match (
            title,
            summary,
            description,
            category,
            level,
            duration,
            price,
        ) {
            (
                Ok(title),
                Ok(summary),
                Ok(description),
                Ok(category),
                Ok(level),
                Ok(duration_minutes),
                Ok(price),
            ) => Ok(CourseDraft {
                title,
                summary,
                description,
                category,
                level,
                duration_minutes,
                price,
            }),
            (title, summary, description, category, level, duration, price) => {
                Err(Box::new(CourseFormErrors {
                    title: title.err(),
                    summary: summary.err(),
                    description: description.err(),
                    category: category.err(),
                    level: level.err(),
                    duration_minutes: duration.err(),
                    price: price.err(),
                }))
            }
        }
    }
}

/// A row of the instructor's course list.
#[derive(Debug, Clone)]
pub struct TaughtCourse {
    pub slug: CourseSlug,
    pub title: String,
    pub price: Money,
    pub published: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum TeachError {
    /// Not a course of this instructor (or no course at all): a 404 either way.
    #[error("no such course of yours")]
    NotFound,
    #[error("there is no category {0}")]
    UnknownCategory(CategorySlug),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TeachError {
    fn from(error: sqlx::Error) -> TeachError {
        TeachError::Store(error.into())
    }
}

/// An UPDATE that matched no row of this instructor's: not their course.
fn found(rows: u64) -> Result<(), TeachError> {
    if rows == 0 {
        Err(TeachError::NotFound)
    } else {
        Ok(())
    }
}

/// A change an instructor made, and where the primary's log was after it (step 5: the replica
/// has the change once it has replayed that; `None` without a replica).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed<T> {
    pub value: T,
    pub position: Option<WalPosition>,
}

#[derive(Clone)]
pub struct Teaching {
    /// Every read and write on the primary: an instructor's own pages show their change at once.
    /// The replica only matters for where the change was made (`Reads::position_after_write`).
    reads: Reads,
    /// From step 3: told of every change, so no instance serves the old page.
    cache: Option<CatalogCache>,
    /// Told of every change, so this instance's searches show it when the instructor looks.
    index: Option<CatalogIndex>,
}

impl Teaching {
    pub fn new(reads: Reads) -> Teaching {
        Teaching {
            reads,
            cache: None,
            index: None,
        }
    }

    /// Teaching that invalidates the cached catalog on every change it makes.
    pub fn with_cache(reads: Reads, cache: CatalogCache) -> Teaching {
        Teaching {
            reads,
            cache: Some(cache),
            index: None,
        }
    }

    /// The same, also reading every change into this instance's search index at once.
    pub fn with_index(self, index: CatalogIndex) -> Teaching {
        Teaching {
            index: Some(index),
            ..self
        }
    }

    fn pool(&self) -> &PgPool {
        self.reads.primary()
    }

    /// After a change to `slug` is committed: where the primary's log is now, told to the cache
    /// with the new version (so no entry of it is filled from a replica without the change).
    async fn changed<T>(&self, slug: &CourseSlug, value: T) -> Changed<T> {
        let position = self.reads.position_after_write().await;
        if let Some(cache) = &self.cache {
            cache.course_changed(slug, position).await;
        }
        if let Some(index) = &self.index
            && let Err(error) = index.refresh().await
        {
            // saved all the same: the index reads it at its next refresh
            tracing::warn!(error = %error, "could not read a course change into the search index");
        }
        Changed { value, position }
    }

    /// The instructor's courses, most recently changed first.
    pub async fn courses(&self, instructor: UserId) -> Result<Vec<TaughtCourse>, StoreError> {
        Ok(sqlx::query_as!(
            TaughtCourse,
            r#"SELECT slug AS "slug: _", title, price_cents AS "price: _", published, updated_at
               FROM courses WHERE instructor_id = $1
               ORDER BY updated_at DESC, id DESC"#,
            instructor.0
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The course's current content as a form, for editing.
    pub async fn form(
        &self,
        instructor: UserId,
        slug: &CourseSlug,
    ) -> Result<(CourseForm, bool), TeachError> {
        let row = sqlx::query!(
            r#"SELECT c.title, c.summary, c.description, cat.slug AS category, c.level,
                      c.duration_minutes, c.price_cents AS "price: Money", c.published
               FROM courses c JOIN categories cat ON cat.id = c.category_id
               WHERE c.slug = $1 AND c.instructor_id = $2"#,
            slug.as_str(),
            instructor.0
        )
        .fetch_optional(self.pool())
        .await?
        .ok_or(TeachError::NotFound)?;
        let price = row.price.to_string();
        Ok((
            CourseForm {
                title: row.title,
                summary: row.summary,
                description: row.description,
                category: row.category,
                level: row.level,
                duration_minutes: row.duration_minutes.to_string(),
                price: price.trim_start_matches('$').replace(',', ""),
            },
            row.published,
        ))
    }

    /// Creates an unpublished course with a slug made from its title (numbered, then given a random
    /// suffix, while taken).
    pub async fn create(
        &self,
        instructor: UserId,
        draft: &CourseDraft,
    ) -> Result<Changed<CourseSlug>, TeachError> {
        let base = slugify(&draft.title);
        for candidate in slug_candidates(&base) {
            let inserted = sqlx::query_scalar!(
                r#"INSERT INTO courses (slug, title, summary, description, category_id, instructor_id, level,
                                        duration_minutes, price_cents, published)
                   SELECT $1, $2, $3, $4, cat.id, $5, $6, $7, $8, false
                   FROM categories cat WHERE cat.slug = $9
                   ON CONFLICT (slug) DO NOTHING
                   RETURNING slug AS "slug: CourseSlug""#,
                candidate,
                draft.title,
                draft.summary,
                draft.description,
                instructor.0,
                draft.level.as_str(),
                draft.duration_minutes,
                draft.price.cents(),
                draft.category.as_str()
            )
            .fetch_optional(self.pool())
            .await?;
            if let Some(slug) = inserted {
                // unpublished, so in no page yet; its position still tells the instructor's
                // session where their write is
                let position = self.reads.position_after_write().await;
                return Ok(Changed {
                    value: slug,
                    position,
                });
            }
            if !self.category_exists(&draft.category).await? {
                return Err(TeachError::UnknownCategory(draft.category.clone()));
            }
        }
        Err(TeachError::Store(StoreError::Corrupt(format!(
            "no free slug for {base}"
        ))))
    }

    /// Saves new content; the slug stays, so links to the course keep working.
    pub async fn update(
        &self,
        instructor: UserId,
        slug: &CourseSlug,
        draft: &CourseDraft,
    ) -> Result<Changed<()>, TeachError> {
        if !self.category_exists(&draft.category).await? {
            return Err(TeachError::UnknownCategory(draft.category.clone()));
        }
        let updated = sqlx::query!(
            "UPDATE courses c SET title = $3, summary = $4, description = $5, level = $6, duration_minutes = $7,
                    price_cents = $8, updated_at = now(),
                    category_id = (SELECT id FROM categories WHERE slug = $9)
             WHERE c.slug = $1 AND c.instructor_id = $2",
            slug.as_str(),
            instructor.0,
            draft.title,
            draft.summary,
            draft.description,
            draft.level.as_str(),
            draft.duration_minutes,
            draft.price.cents(),
            draft.category.as_str()
        )
        .execute(self.pool())
        .await?
        .rows_affected();
        found(updated)?;
        Ok(self.changed(slug, ()).await)
    }

    /// Publishing puts the course in the catalog; unpublishing takes it out (past orders keep it).
    pub async fn set_published(
        &self,
        instructor: UserId,
        slug: &CourseSlug,
        published: bool,
    ) -> Result<Changed<()>, TeachError> {
        let updated = sqlx::query!(
            "UPDATE courses SET published = $3, updated_at = now() WHERE slug = $1 AND instructor_id = $2",
            slug.as_str(),
            instructor.0,
            published
        )
        .execute(self.pool())
        .await?
        .rows_affected();
        found(updated)?;
        Ok(self.changed(slug, ()).await)
    }

    async fn category_exists(&self, slug: &CategorySlug) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM categories WHERE slug = $1) AS "exists!""#,
            slug.as_str()
        )
        .fetch_one(self.pool())
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> CourseForm {
        CourseForm {
            title: "Practical Query Plans".into(),
            summary: "Read EXPLAIN output with confidence.".into(),
            description: "Six modules on how PostgreSQL chooses a plan, and how to help it.".into(),
            category: "databases".into(),
            level: "intermediate".into(),
            duration_minutes: "240".into(),
            price: "49.99".into(),
        }
    }

    #[test]
    fn a_complete_form_parses() {
        let draft = CourseDraft::parse(&form()).expect("valid");
        assert_eq!(draft.price.cents(), 4999);
        assert_eq!(draft.level, Level::Intermediate);
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let errors = CourseDraft::parse(&CourseForm {
            title: "x".into(),
            summary: "".into(),
            description: "short".into(),
            category: "Not a slug".into(),
            level: "expert".into(),
            duration_minutes: "-5".into(),
            price: "ten dollars".into(),
        })
        .expect_err("invalid");
        for field in [
            &errors.title,
            &errors.summary,
            &errors.description,
            &errors.category,
            &errors.level,
            &errors.duration_minutes,
            &errors.price,
        ] {
            assert!(field.is_some());
        }
        for (field, value) in [
            ("title", "Practical\0Query Plans"),
            ("title", "Practical\nQuery Plans"),
            ("summary", "Read EXPLAIN output\u{1b}[31m with confidence."),
            (
                "description",
                "Six modules on query plans\0 and how to help them.",
            ),
        ] {
            let mut hostile = form();
            match field {
                "title" => hostile.title = value.into(),
                "summary" => hostile.summary = value.into(),
                _ => hostile.description = value.into(),
            }
            let errors = CourseDraft::parse(&hostile).expect_err(value);
            let message = match field {
                "title" => errors.title,
                "summary" => errors.summary,
                _ => errors.description,
            };
            assert!(message.is_some_and(|m| m.contains("control")), "{value:?}");
        }
        let mut multi_line = form();
        multi_line.description = "Line one of the plan.\r\n\tLine two, indented.".into();
        assert_eq!(
            CourseDraft::parse(&multi_line).expect("valid").description,
            "Line one of the plan.\n\tLine two, indented."
        );
        let mut expensive = form();
        expensive.price = "10000.01".into();
        assert!(
            CourseDraft::parse(&expensive)
                .expect_err("too dear")
                .price
                .is_some()
        );
    }
}
