//! The catalog's text search: `CATALOG_SEARCH`, `CATALOG_INDEX_REFRESH_MS`.

use std::time::Duration;

use super::env::{Env, SettingsError};
use crate::topology::Switch;

/// What answers a search with words in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogSearch {
    /// An inverted index in the shop's memory, loaded from PostgreSQL (the default at every step:
    /// PostgreSQL's GIN index cannot answer broad searches at 100,000 courses fast enough).
    Index,
    /// PostgreSQL's full-text index for every search (to measure against, or to save the memory).
    Postgres,
}

impl Switch for CatalogSearch {
    const VARIABLE: &'static str = "CATALOG_SEARCH";
    const VALUES: &'static [(&'static str, Self)] = &[
        ("index", CatalogSearch::Index),
        ("postgres", CatalogSearch::Postgres),
    ];
}

#[derive(Debug, Clone, Copy)]
pub struct CatalogSettings {
    /// `CATALOG_SEARCH` (`index`, the default, or `postgres`).
    pub search: CatalogSearch,
    /// `CATALOG_INDEX_REFRESH_MS` (default 1000): how often the index reads the catalog's changes
    /// (those made through another instance: this instance's own are read at once).
    pub index_refresh: Duration,
}

pub(super) fn read(env: &Env<'_>) -> Result<CatalogSettings, SettingsError> {
    Ok(CatalogSettings {
        search: env.switch()?.unwrap_or(CatalogSearch::Index),
        index_refresh: Duration::from_millis(env.parsed_in(
            "CATALOG_INDEX_REFRESH_MS",
            1000,
            50..=600_000,
            "milliseconds from 50 to 600000",
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, settings};

    #[test]
    fn the_index_answers_searches_unless_postgres_is_asked_for() {
        let catalog = settings(&[URL]).expect("valid").catalog;
        assert_eq!(catalog.search, CatalogSearch::Index);
        assert_eq!(catalog.index_refresh, Duration::from_secs(1));
        let catalog = settings(&[URL, ("CATALOG_SEARCH", "postgres")])
            .expect("valid")
            .catalog;
        assert_eq!(catalog.search, CatalogSearch::Postgres);
        let error = settings(&[URL, ("CATALOG_SEARCH", "elastic")]).expect_err("must fail");
        assert!(error.to_string().starts_with("CATALOG_SEARCH=\"elastic\""));
    }
}
