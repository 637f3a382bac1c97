//! The shop's caches by name, so the stores that count lookups and the pages that show the counts
//! cannot disagree on a spelling.

/// One of the shop's caches in Redis; `as_str` is its `cache` label in the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheName {
    /// A course's page (`shop::catalog::CatalogCache::course`).
    Course,
    /// A catalog list page: a search, filters, sort and page number.
    CatalogPage,
    /// The list of categories.
    Categories,
    /// A cart's lines (`shop::cart::CachedCartStore`).
    Cart,
}

impl CacheName {
    pub const ALL: [CacheName; 4] = [
        CacheName::Course,
        CacheName::CatalogPage,
        CacheName::Categories,
        CacheName::Cart,
    ];

    /// The label value in `courseshop_cache_*` (dashboards and alerts read these: never rename).
    pub fn as_str(self) -> &'static str {
        match self {
            CacheName::Course => "course",
            CacheName::CatalogPage => "catalog_page",
            CacheName::Categories => "categories",
            CacheName::Cart => "cart",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_values_stay_what_dashboards_read() {
        let labels: Vec<&str> = CacheName::ALL.iter().map(|cache| cache.as_str()).collect();
        assert_eq!(labels, ["course", "catalog_page", "categories", "cart"]);
    }
}
