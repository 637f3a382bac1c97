use super::CategorySlug;
use crate::ids::CategoryId;

/// A catalog category, with how many published courses it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    pub slug: CategorySlug,
    pub name: String,
    pub description: String,
    pub course_count: i64,
}
