//! The in-memory search index (`CATALOG_SEARCH=index`) against PostgreSQL's own search, on a real
//! database: the same answers, and changes seen at once by the instance that made them and within
//! a refresh by the others.

use std::time::Duration;

use shop::catalog::{
    Catalog, CatalogError, CatalogIndex, CatalogQuery, CourseSlug, MatchCount, RawCatalogQuery,
    SearchResults, Teaching,
};
use shop::database::Reads;
use shop::ids::UserId;
use testkit::TestDatabase;

/// Long enough that no test sees a background refresh: each one reads changes when it says so.
const NEVER: Duration = Duration::from_secs(600);

fn query(
    q: &str,
    level: Option<&str>,
    category: Option<&str>,
    sort: &str,
    page: u32,
) -> CatalogQuery {
    CatalogQuery::parse(RawCatalogQuery {
        q: Some(q.to_string()),
        category: category.map(str::to_string),
        level: level.map(str::to_string),
        sort: Some(sort.to_string()),
        page: Some(page.to_string()),
    })
    .expect("a valid query")
}

/// What a visitor sees of a search: the courses in order and the count, or the 404.
fn seen(result: Result<SearchResults, CatalogError>) -> String {
    match result {
        Ok(results) => format!(
            "{:?} {:?}",
            results.matches,
            results
                .courses
                .iter()
                .map(|course| course.slug.as_str().to_string())
                .collect::<Vec<_>>()
        ),
        Err(error) => format!("{error:?}"),
    }
}

async fn loaded_index(pool: &sqlx::PgPool) -> CatalogIndex {
    let index = CatalogIndex::start(pool.clone(), None, NEVER);
    index.refresh().await.expect("the index loads");
    assert!(index.is_loaded());
    index
}

async fn slugs_found(catalog: &Catalog, text: &str) -> Vec<String> {
    let results = catalog
        .search(&query(text, None, None, "newest", 1))
        .await
        .expect("a search");
    results
        .courses
        .iter()
        .map(|course| course.slug.as_str().to_string())
        .collect()
}

async fn matches(catalog: &Catalog, text: &str) -> MatchCount {
    catalog
        .search(&query(text, None, None, "newest", 1))
        .await
        .expect("a search")
        .matches
}

#[tokio::test]
async fn the_index_answers_every_search_as_postgresql_does() {
    let database = TestDatabase::migrated().await;
    let pool = database.pool().await;
    // enough courses that common words match more than the 1,000 listed
    shop::catalog::seed::seed_catalog(&pool, 2_500)
        .await
        .expect("seed");
    let by_postgres = Catalog::new(pool.clone());
    let index = loaded_index(&pool).await;
    let by_index = Catalog::new(pool.clone()).with_index(index.clone());

    let texts = [
        "project", // in more than half the courses: more than are listed
        "postgresql",
        "data engineering",
        "project design",
        "rust -beginners",
        "kafka or redis",
        "machine learning production",
        "\"machine learning\"", // a phrase: PostgreSQL answers it for the index
        "the and of",           // only stop words
        "zyzzogeton",
        "testing",
    ];
    let mut compared = 0;
    for text in texts {
        for sort in ["relevance", "newest", "price_asc", "price_desc"] {
            for level in [None, Some("beginner")] {
                for category in [None, Some("data-engineering")] {
                    for page in [1, 2, 7] {
                        let query = query(text, level, category, sort, page);
                        let expected = seen(by_postgres.search(&query).await);
                        let actual = seen(by_index.search(&query).await);
                        assert_eq!(
                            actual, expected,
                            "{text:?} {sort} {level:?} {category:?} page {page}"
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    assert_eq!(compared, 11 * 4 * 2 * 2 * 3);
    // and the index answered them (not PostgreSQL behind its back): it holds what it matched
    let words = index
        .understand(&pool, "project")
        .await
        .expect("parsed")
        .expect("words");
    let hits = index
        .search(
            &words,
            shop::catalog::search_index::postings::Filters {
                category_id: None,
                level: None,
            },
            shop::catalog::Sort::Newest,
            0,
            20,
        )
        .expect("loaded");
    assert!(hits.total > 1_000, "{} matches", hits.total);
    pool.close().await;
}

#[tokio::test]
async fn an_instructors_change_is_in_their_instances_searches_at_once_and_in_others_soon() {
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let course = shop::catalog::seed::course(42);
    // a word no other course has, so the course is on the first page of its search
    let word = "zyzzogeton";
    sqlx::query("UPDATE courses SET title = 'Zyzzogeton Patterns' WHERE slug = $1")
        .bind(course.slug.as_str())
        .execute(&pool)
        .await
        .expect("update");
    let instructor: i64 = sqlx::query_scalar("SELECT instructor_id FROM courses WHERE slug = $1")
        .bind(course.slug.as_str())
        .fetch_one(&pool)
        .await
        .expect("the course");

    let index = loaded_index(&pool).await;
    let catalog = Catalog::new(pool.clone()).with_index(index.clone());
    let teaching = Teaching::new(Reads::primary_only(pool.clone())).with_index(index);
    // another instance, reading changes every 100 ms
    let other = CatalogIndex::start(pool.clone(), None, Duration::from_millis(100));
    other.refresh().await.expect("loads");
    let other_catalog = Catalog::new(pool.clone()).with_index(other);
    let slug = course.slug.as_str().to_string();
    let course_slug = CourseSlug::parse(&slug).expect("a slug");
    assert!(slugs_found(&catalog, word).await.contains(&slug));

    teaching
        .set_published(UserId(instructor), &course_slug, false)
        .await
        .expect("unpublished");
    // the count too: a course the index still held would be counted (its card is dropped anyway)
    assert_eq!(
        matches(&catalog, word).await,
        MatchCount::Exactly(0),
        "the instance that made the change searches without the course at once"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while matches(&other_catalog, word).await != MatchCount::Exactly(0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other instance never saw the change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    teaching
        .set_published(UserId(instructor), &course_slug, true)
        .await
        .expect("published");
    let found = slugs_found(&catalog, word).await;
    assert!(found.contains(&slug), "{word}: {slug} not in {found:?}");
    pool.close().await;
}

#[tokio::test]
async fn a_change_made_around_the_shop_reaches_the_index_too() {
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let index = loaded_index(&pool).await;
    let catalog = Catalog::new(pool.clone()).with_index(index.clone());
    // an operator's fix in psql, which says nothing of `updated_at`: the trigger moves it
    sqlx::query("UPDATE courses SET title = 'Quaternions for Game Programmers' WHERE slug = $1")
        .bind(shop::catalog::seed::course(42).slug.as_str())
        .execute(&pool)
        .await
        .expect("update");
    index.refresh().await.expect("refresh");
    assert_eq!(
        slugs_found(&catalog, "quaternions").await,
        [shop::catalog::seed::course(42).slug.as_str()]
    );
    pool.close().await;
}

#[tokio::test]
async fn a_change_committed_after_a_newer_one_was_read_is_not_missed() {
    let database = TestDatabase::seeded().await;
    let pool = database.pool().await;
    let index = loaded_index(&pool).await;
    let catalog = Catalog::new(pool.clone()).with_index(index.clone());
    let (early, late) = (
        shop::catalog::seed::course(7),
        shop::catalog::seed::course(8),
    );

    // `early` is written by a transaction that began first and commits last
    let mut slow = pool.begin().await.expect("begin");
    sqlx::query("UPDATE courses SET title = 'Zyzzogeton Basics' WHERE slug = $1")
        .bind(early.slug.as_str())
        .execute(&mut *slow)
        .await
        .expect("update early");
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query("UPDATE courses SET title = 'Xanthippe Basics' WHERE slug = $1")
        .bind(late.slug.as_str())
        .execute(&pool)
        .await
        .expect("update late");
    index.refresh().await.expect("refresh");
    assert_eq!(
        slugs_found(&catalog, "xanthippe").await,
        [late.slug.as_str()]
    );
    slow.commit().await.expect("commit");

    index.refresh().await.expect("refresh");
    assert_eq!(
        slugs_found(&catalog, "zyzzogeton").await,
        [early.slug.as_str()]
    );
    pool.close().await;
}
