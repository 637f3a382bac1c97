//! A realistic, deterministic catalog for demos and load tests (`courseshop seed`).
//!
//! Course number `n` is always the same course, whatever total is asked for, so seeding is
//! idempotent and `--courses 100000` after the default 500 adds courses 501 to 100 000.
//! Existing rows are never overwritten: an instructor's edits survive a re-seed.

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use sqlx::PgPool;

use super::seed_data::{
    CATEGORIES, FIRST_NAMES, LAST_NAMES, PARAGRAPHS, PRICES_CENTS, SUMMARY_PATTERNS, TITLE_PATTERNS,
};
use super::{Level, slugify};
use crate::database::StoreError;

/// Courses seeded when no number is given.
pub const DEFAULT_COURSES: u32 = 500;
/// Rows a single INSERT carries; large enough to be quick, small enough to keep statements modest.
const BATCH: u32 = 2_000;

/// What a seed run changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub categories_added: u64,
    pub instructors_added: u64,
    pub courses_added: u64,
    pub courses_total: i64,
}

/// A generated course, before it has database ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedCourse {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub description: String,
    pub category: usize,
    pub instructor: usize,
    pub level: Level,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub published: bool,
    pub featured: bool,
    pub created_at: DateTime<Utc>,
}

/// SplitMix64: tiny, fast and stable across versions, which a library RNG does not promise.
struct Dice(u64);

impl Dice {
    fn for_course(number: u32) -> Dice {
        Dice(0x5EED_C0DE_u64 ^ u64::from(number).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub fn instructor_count() -> usize {
    FIRST_NAMES.len() * 3
}

/// Seeded instructor 0, who owns every 48th course: the demo instructor (`accounts::demo`).
pub const FIRST_INSTRUCTOR: &str = "instructor@courseshop.example";

/// The seeded instructor `i`: (email, display name). Emails use the reserved `.example` domain.
pub fn instructor(i: usize) -> (String, String) {
    if i == 0 {
        return (FIRST_INSTRUCTOR.to_string(), "Grace Hopper".to_string());
    }
    let first = FIRST_NAMES[i % FIRST_NAMES.len()];
    let last = LAST_NAMES[(i * 7 + i / FIRST_NAMES.len()) % LAST_NAMES.len()];
    let email = format!(
        "{}.{}{}@instructors.courseshop.example",
        first.to_lowercase(),
        last.to_lowercase(),
        i / FIRST_NAMES.len()
    );
    (email, format!("{first} {last}"))
}

/// Course number `number` (from 1) of the seeded catalog.
pub fn course(number: u32) -> SeedCourse {
    let mut dice = Dice::for_course(number);
    let category_index = (number as usize - 1) % CATEGORIES.len();
    let category = &CATEGORIES[category_index];
    let topic = *dice.pick(category.topics);
    let tool = *dice.pick(category.tools);
    let fill = |pattern: &str| pattern.replace("{topic}", topic).replace("{tool}", tool);

    let mut title = fill(dice.pick::<&str>(TITLE_PATTERNS));
    // past the first few hundred, titles repeat; an edition keeps them telling apart
    let edition = number as usize / (CATEGORIES.len() * TITLE_PATTERNS.len() * 4);
    if edition > 0 {
        title = format!("{title} ({} edition)", ordinal(edition + 1));
    }
    let paragraph_count = 3 + dice.below(3);
    let mut paragraphs: Vec<String> = Vec::with_capacity(paragraph_count);
    let start = dice.below(PARAGRAPHS.len());
    for k in 0..paragraph_count {
        paragraphs.push(fill(PARAGRAPHS[(start + k * 3) % PARAGRAPHS.len()]));
    }
    let level = match dice.below(10) {
        0..=4 => Level::Beginner,
        5..=7 => Level::Intermediate,
        _ => Level::Advanced,
    };
    let launch = Utc
        .with_ymd_and_hms(2023, 1, 1, 9, 0, 0)
        .single()
        .unwrap_or_default();
    SeedCourse {
        slug: format!("{}-{number}", slugify(&title)),
        summary: fill(dice.pick::<&str>(SUMMARY_PATTERNS)),
        description: paragraphs.join("\n\n"),
        title,
        category: category_index,
        instructor: dice.below(instructor_count()),
        level,
        duration_minutes: 30 + 15 * dice.below(160) as i32,
        price_cents: *dice.pick(PRICES_CENTS),
        published: !number.is_multiple_of(53),
        featured: number.is_multiple_of(41),
        // spread over three years, in whole minutes, so "newest" has a real order
        created_at: launch + ChronoDuration::minutes(dice.below(3 * 365 * 24 * 60) as i64),
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Loads the catalog's categories, instructors and courses 1..=`courses`, keeping what is there.
pub async fn seed_catalog(pool: &PgPool, courses: u32) -> Result<SeedReport, StoreError> {
    let mut report = SeedReport::default();
    let mut tx = pool.begin().await?;

    let (slugs, names, descriptions, positions) = CATEGORIES.iter().enumerate().fold(
        (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
        |(mut s, mut n, mut d, mut p), (i, category)| {
            s.push(category.slug);
            n.push(category.name);
            d.push(category.description);
            p.push(i as i16);
            (s, n, d, p)
        },
    );
    report.categories_added = sqlx::query!(
        "INSERT INTO categories (slug, name, description, position)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::smallint[])
         ON CONFLICT (slug) DO NOTHING",
        &slugs as &[&str],
        &names as &[&str],
        &descriptions as &[&str],
        &positions
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();

    let (emails, display_names): (Vec<String>, Vec<String>) =
        (0..instructor_count()).map(instructor).unzip();
    report.instructors_added = sqlx::query!(
        "INSERT INTO users (email, display_name, role)
         SELECT email, name, 'instructor' FROM UNNEST($1::text[], $2::text[]) AS t (email, name)
         ON CONFLICT (email) DO NOTHING",
        &emails,
        &display_names
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();

    // ids by position in the seed lists, resolved once
    let category_ids = sqlx::query_scalar!(
        "SELECT c.id FROM UNNEST($1::text[]) WITH ORDINALITY AS t (slug, n)
         JOIN categories c USING (slug) ORDER BY t.n",
        &slugs as &[&str]
    )
    .fetch_all(&mut *tx)
    .await?;
    let instructor_ids = sqlx::query_scalar!(
        "SELECT u.id FROM UNNEST($1::text[]) WITH ORDINALITY AS t (email, n)
         JOIN users u USING (email) ORDER BY t.n",
        &emails
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut first = 1;
    while first <= courses {
        let last = courses.min(first + BATCH - 1);
        let batch: Vec<SeedCourse> = (first..=last).map(course).collect();
        report.courses_added +=
            insert_courses(pool, &batch, &category_ids, &instructor_ids).await?;
        first = last + 1;
    }
    if report.courses_added > 0 {
        // Statistics now, not when autovacuum gets round to it: until then the planner takes the
        // new courses for a handful, estimates a broad search at 7 matches instead of 9,000, and
        // sorts them all where walking the price index would stop after one page (19 ms → 2.5 ms).
        // VACUUM too: it moves the GIN indexes' pending lists (28,510 titles after 100,000 courses)
        // into the indexes proper, which every search would otherwise scan in full until autovacuum
        // runs, and on a server where it is off, never.
        sqlx::query("VACUUM (ANALYZE) courses")
            .execute(pool)
            .await?;
    }
    report.courses_total = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM courses"#)
        .fetch_one(pool)
        .await?;
    Ok(report)
}

async fn insert_courses(
    pool: &PgPool,
    batch: &[SeedCourse],
    category_ids: &[i64],
    instructor_ids: &[i64],
) -> Result<u64, StoreError> {
    let column = |f: fn(&SeedCourse) -> String| batch.iter().map(f).collect::<Vec<String>>();
    let slugs = column(|c| c.slug.clone());
    let titles = column(|c| c.title.clone());
    let summaries = column(|c| c.summary.clone());
    let descriptions = column(|c| c.description.clone());
    let levels = column(|c| c.level.as_str().to_string());
    let categories: Vec<i64> = batch.iter().map(|c| category_ids[c.category]).collect();
    let instructors: Vec<i64> = batch.iter().map(|c| instructor_ids[c.instructor]).collect();
    let durations: Vec<i32> = batch.iter().map(|c| c.duration_minutes).collect();
    let prices: Vec<i64> = batch.iter().map(|c| c.price_cents).collect();
    let published: Vec<bool> = batch.iter().map(|c| c.published).collect();
    let featured: Vec<bool> = batch.iter().map(|c| c.featured).collect();
    let created: Vec<DateTime<Utc>> = batch.iter().map(|c| c.created_at).collect();
    Ok(sqlx::query!(
        "INSERT INTO courses (slug, title, summary, description, category_id, instructor_id, level,
                              duration_minutes, price_cents, published, featured, created_at, updated_at)
         SELECT t.*, t.created_at FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                $6::bigint[], $7::text[], $8::int[], $9::bigint[], $10::bool[], $11::bool[], $12::timestamptz[])
                AS t (slug, title, summary, description, category_id, instructor_id, level,
                      duration_minutes, price_cents, published, featured, created_at)
         ON CONFLICT (slug) DO NOTHING",
        &slugs,
        &titles,
        &summaries,
        &descriptions,
        &categories,
        &instructors,
        &levels,
        &durations,
        &prices,
        &published,
        &featured,
        &created
    )
    .execute(pool)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::catalog::CourseSlug;

    #[test]
    fn a_course_is_the_same_every_time() {
        assert_eq!(course(17), course(17));
        assert_ne!(course(17), course(18));
    }

    #[test]
    fn slugs_are_valid_and_unique_across_a_large_catalog() {
        let mut seen = HashSet::new();
        for n in 1..=20_000 {
            let course = course(n);
            assert!(CourseSlug::parse(&course.slug).is_ok(), "{}", course.slug);
            assert!(seen.insert(course.slug), "duplicate slug at {n}");
        }
    }

    #[test]
    fn the_default_catalog_is_varied() {
        let courses: Vec<SeedCourse> = (1..=DEFAULT_COURSES).map(course).collect();
        let distinct =
            |f: fn(&SeedCourse) -> String| courses.iter().map(f).collect::<HashSet<_>>().len();
        assert_eq!(distinct(|c| c.category.to_string()), CATEGORIES.len());
        assert!(distinct(|c| c.title.clone()) > 400);
        assert!(distinct(|c| c.price_cents.to_string()) >= 10);
        assert_eq!(distinct(|c| c.level.as_str().to_string()), 3);
        assert!(
            courses
                .iter()
                .all(|c| c.description.split("\n\n").count() >= 3)
        );
        assert!(courses.iter().filter(|c| c.featured).count() >= 8);
        assert!(courses.iter().any(|c| !c.published));
    }

    #[test]
    fn instructors_have_distinct_emails() {
        let emails: HashSet<String> = (0..instructor_count()).map(|i| instructor(i).0).collect();
        assert_eq!(emails.len(), instructor_count());
    }
}
