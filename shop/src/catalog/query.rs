//! A catalog search as the shop understands it, parsed once from the URL's query string.

use serde::Deserialize;

use super::{CategorySlug, Level};

/// Courses on one catalog page.
pub const PAGE_SIZE: i64 = 20;
/// Matches are counted exactly up to this many and listed on pages up to it (50 pages); past it a
/// search says "1,000+" and asks to be narrowed. An exact count of a broad search, and the OFFSET of
/// a deep page, both cost a visit to every match; in a catalog of 100 000 courses that is most of the
/// time a list page takes, and no one reads page 600.
pub const LISTED_RESULTS: i64 = 1_000;
/// `LISTED_RESULTS` as people read it.
pub const LISTED_RESULTS_LABEL: &str = "1,000";
/// Longest search text accepted; longer input is a mistake or an attack, not a search.
pub const MAX_SEARCH_LEN: usize = 200;
/// Highest page number parsed at all; pages past the last real one are a 404, not a 400.
const MAX_PAGE: i64 = 1_000_000;

/// The query string exactly as it arrived: every field optional text.
#[derive(Debug, Default, Deserialize)]
pub struct RawCatalogQuery {
    pub q: Option<String>,
    pub category: Option<String>,
    pub level: Option<String>,
    pub sort: Option<String>,
    pub page: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first when searching; newest first otherwise.
    #[default]
    Relevance,
    Newest,
    PriceLowToHigh,
    PriceHighToLow,
}

impl Sort {
    pub const ALL: [Sort; 4] = [
        Sort::Relevance,
        Sort::Newest,
        Sort::PriceLowToHigh,
        Sort::PriceHighToLow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Newest => "newest",
            Sort::PriceLowToHigh => "price_asc",
            Sort::PriceHighToLow => "price_desc",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Relevance => "Best match",
            Sort::Newest => "Newest",
            Sort::PriceLowToHigh => "Price: low to high",
            Sort::PriceHighToLow => "Price: high to low",
        }
    }

    fn parse(input: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|sort| sort.as_str() == input)
    }
}

/// A page number, 1-based and positive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "i64")]
pub struct PageNumber(i64);

impl TryFrom<i64> for PageNumber {
    type Error = &'static str;
    fn try_from(page: i64) -> Result<PageNumber, Self::Error> {
        if page >= 1 {
            Ok(PageNumber(page))
        } else {
            Err("a page number starts at 1")
        }
    }
}

impl PageNumber {
    pub const FIRST: PageNumber = PageNumber(1);

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn offset(self) -> i64 {
        (self.0 - 1) * PAGE_SIZE
    }
}

/// A validated catalog query: filters, sort and page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogQuery {
    pub text: Option<String>,
    pub category: Option<CategorySlug>,
    pub level: Option<Level>,
    pub sort: Sort,
    pub page: Option<PageNumber>,
}

/// Which parameter was wrong and why: shown on the 400 page.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{parameter}: {problem}")]
pub struct CatalogQueryError {
    pub parameter: &'static str,
    pub problem: String,
}

impl CatalogQuery {
    /// Empty parameters (as a GET form sends for untouched fields) mean "not given".
    pub fn parse(raw: RawCatalogQuery) -> Result<CatalogQuery, CatalogQueryError> {
        let given = |value: Option<String>| {
            value
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let error = |parameter, problem: &str| CatalogQueryError {
            parameter,
            problem: problem.to_string(),
        };

        // before trimming: a line break at the end is as much a control character as a NUL inside
        for (parameter, value) in [
            ("q", &raw.q),
            ("category", &raw.category),
            ("level", &raw.level),
            ("sort", &raw.sort),
            ("page", &raw.page),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| crate::text::line(v).is_err())
            {
                return Err(error(
                    parameter,
                    "it holds a control character (such as a NUL or a line break)",
                ));
            }
        }
        let text = match given(raw.q) {
            Some(text) if text.chars().count() > MAX_SEARCH_LEN => {
                return Err(error("q", "the search text is longer than 200 characters"));
            }
            text => text,
        };
        let category = given(raw.category)
            .map(|slug| CategorySlug::parse(&slug))
            .transpose()
            .map_err(|_| error("category", "not a category name"))?;
        let level = given(raw.level)
            .map(|level| Level::parse(&level))
            .map(|level| {
                level.ok_or_else(|| error("level", "choose beginner, intermediate or advanced"))
            })
            .transpose()?;
        let sort = given(raw.sort)
            .map(|sort| Sort::parse(&sort))
            .map(|sort| {
                sort.ok_or_else(|| {
                    error("sort", "choose relevance, newest, price_asc or price_desc")
                })
            })
            .transpose()?
            .unwrap_or_default();
        let page = given(raw.page)
            .map(|page| match page.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(PageNumber(n)),
                _ => Err(error("page", "a page number is a whole number from 1")),
            })
            .transpose()?;
        Ok(CatalogQuery {
            text,
            category,
            level,
            sort,
            page,
        })
    }

    pub fn page_number(&self) -> PageNumber {
        self.page.unwrap_or(PageNumber::FIRST)
    }

    /// Relevance only means something with search text; without it the list is newest first.
    pub fn effective_sort(&self) -> Sort {
        match (self.sort, &self.text) {
            (Sort::Relevance, None) => Sort::Newest,
            (sort, _) => sort,
        }
    }

    /// The query string for another page of the same search (filters kept in the URL).
    pub fn to_query_string(&self, page: Option<PageNumber>) -> String {
        self.query_string(
            Some(self.sort).filter(|sort| *sort != Sort::default()),
            page,
        )
    }

    /// The query string of this page's canonical address (`<link rel="canonical">`): the same
    /// parameters in a fixed order (`q`, `category`, `level`, `sort`, `page`), without what does not
    /// change the list: page 1, and a sort that lists as the default does (without search text
    /// `relevance` and `newest` are the same list). Unknown parameters are gone already.
    pub fn canonical_query_string(&self) -> String {
        let default = if self.text.is_some() {
            Sort::Relevance
        } else {
            Sort::Newest
        };
        let sort = Some(self.effective_sort()).filter(|sort| *sort != default);
        self.query_string(sort, self.page)
    }

    fn query_string(&self, sort: Option<Sort>, page: Option<PageNumber>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(text) = &self.text {
            pairs.push(("q", text.clone()));
        }
        if let Some(category) = &self.category {
            pairs.push(("category", category.to_string()));
        }
        if let Some(level) = self.level {
            pairs.push(("level", level.as_str().to_string()));
        }
        if let Some(sort) = sort {
            pairs.push(("sort", sort.as_str().to_string()));
        }
        if let Some(page) = page.filter(|page| *page != PageNumber::FIRST) {
            pairs.push(("page", page.get().to_string()));
        }
        pairs
            .iter()
            .map(|(key, value)| format!("{key}={}", encode_query_value(value)))
            .collect::<Vec<_>>()
            .join("&")
    }

    pub fn with_page(&self, page: i64) -> PageNumber {
        PageNumber(page.clamp(1, MAX_PAGE))
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay as they are).
fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char);
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawCatalogQuery {
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        };
        RawCatalogQuery {
            q: get("q"),
            category: get("category"),
            level: get("level"),
            sort: get("sort"),
            page: get("page"),
        }
    }

    #[test]
    fn the_listed_results_label_matches_the_number() {
        assert_eq!(
            LISTED_RESULTS_LABEL.replace(',', "").parse::<i64>(),
            Ok(LISTED_RESULTS)
        );
        assert_eq!(
            LISTED_RESULTS % PAGE_SIZE,
            0,
            "the last listed page is a full one"
        );
    }

    #[test]
    fn empty_parameters_mean_not_given() {
        let query = CatalogQuery::parse(raw(&[("q", "  "), ("level", ""), ("page", "")]));
        assert_eq!(query, Ok(CatalogQuery::default()));
    }

    #[test]
    fn bad_parameters_are_named() {
        for (key, value) in [
            ("page", "abc"),
            ("page", "0"),
            ("page", "-2"),
            ("page", "1.5"),
            ("page", "99999999999999999999"),
            ("level", "expert"),
            ("sort", "price"),
            ("category", "Not A Slug"),
            ("q", "\0"),
            ("q", "rust\0course"),
            ("q", "rust\n"),
            ("q", "\u{7f}"),
            ("category", "web\0"),
            ("level", "beginner\0"),
            ("page", "2\n"),
            ("sort", "newest\r\n"),
        ] {
            let error = CatalogQuery::parse(raw(&[(key, value)])).expect_err(value);
            assert_eq!(error.parameter, key);
        }
        let long = "x".repeat(201);
        assert!(CatalogQuery::parse(raw(&[("q", &long)])).is_err());
    }

    #[test]
    fn relevance_without_text_lists_newest_first() {
        let query = CatalogQuery::parse(raw(&[])).expect("valid");
        assert_eq!(query.effective_sort(), Sort::Newest);
        let query = CatalogQuery::parse(raw(&[("q", "rust")])).expect("valid");
        assert_eq!(query.effective_sort(), Sort::Relevance);
    }

    #[test]
    fn the_query_string_keeps_filters_and_encodes_text() {
        let query = CatalogQuery::parse(raw(&[
            ("q", "c++ & rust"),
            ("level", "beginner"),
            ("sort", "newest"),
            ("page", "3"),
        ]))
        .expect("valid");
        assert_eq!(
            query.to_query_string(Some(query.with_page(4))),
            "q=c%2B%2B+%26+rust&level=beginner&sort=newest&page=4"
        );
        assert_eq!(
            query.to_query_string(Some(PageNumber::FIRST)),
            "q=c%2B%2B+%26+rust&level=beginner&sort=newest"
        );
    }

    #[test]
    fn the_canonical_query_string_is_in_a_fixed_order_without_defaults() {
        let canonical = |pairs: &[(&str, &str)]| {
            CatalogQuery::parse(raw(pairs))
                .expect("valid")
                .canonical_query_string()
        };
        assert_eq!(canonical(&[]), "");
        assert_eq!(canonical(&[("page", "1"), ("sort", "relevance")]), "");
        // without search text the default list is newest first: naming it changes nothing
        assert_eq!(canonical(&[("sort", "newest"), ("page", "01")]), "");
        assert_eq!(
            canonical(&[
                ("page", "3"),
                ("sort", "price_desc"),
                ("level", "advanced"),
                ("category", "databases"),
                ("q", " SQL  tuning "),
            ]),
            "q=SQL++tuning&category=databases&level=advanced&sort=price_desc&page=3"
        );
        assert_eq!(
            canonical(&[("q", "rust"), ("sort", "newest")]),
            "q=rust&sort=newest"
        );
        assert_eq!(canonical(&[("q", "rust"), ("sort", "relevance")]), "q=rust");
        assert_eq!(
            canonical(&[("category", "databases"), ("sort", "newest"), ("page", "2")]),
            "category=databases&page=2"
        );
    }
}
