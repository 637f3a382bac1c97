//! The course catalog: what is for sale, found by search, filters and pages.

mod cached;
mod category;
mod course;
mod level;
pub mod query;
pub mod search_index;
pub mod seed;
mod seed_data;
// its `course_cards!` serves `text_search` too
#[macro_use]
mod service;
mod sitemap;
mod slug;
pub mod teaching;
mod text_search;

pub use cached::{CatalogCache, Fetched, Source};
pub use category::Category;
pub use course::{Course, CourseCard, Duration};
pub use level::Level;
pub use query::{
    CatalogQuery, CatalogQueryError, LISTED_RESULTS, LISTED_RESULTS_LABEL, PAGE_SIZE, PageNumber,
    RawCatalogQuery, Sort,
};
pub use search_index::CatalogIndex;
pub use service::{Catalog, CatalogError, MatchCount, SearchResults};
pub use sitemap::{SITEMAP_PAGE_SIZE, SitemapCourse};
pub use slug::{CategorySlug, CourseSlug, SlugError, slug_candidates, slugify};
pub use teaching::{
    Changed, CourseDraft, CourseForm, CourseFormErrors, TaughtCourse, TeachError, Teaching,
};
