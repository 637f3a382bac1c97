use super::CategorySlug;
use crate::ids::CategoryId;

/// A catalog category. It carries no course count: counting a large catalog's categories on every
/// home page costs more than the number is worth (each list page counts its own results).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Category {
    pub id: CategoryId,
    pub slug: CategorySlug,
    pub name: String,
    pub description: String,
}
