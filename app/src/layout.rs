//! What every page's shared layout needs: the page title, the header (search box, who is signed
//! in, the CSRF token for its log-out form) and the footer's "which step, which stores" line.
//! Who is asking is read by `visitor::Visitor`, which fills in the header's part. What the head
//! tells search engines (canonical address, `noindex`) is here too; DESIGN §2b says which pages
//! get which.

use actix_web::HttpRequest;
use actix_web::web::Data;

use shop::catalog::Source;
use shop::topology::Topology;

use crate::state::AppState;

/// What a page says about itself when it says nothing more fitting (search results, Lighthouse).
pub const DEFAULT_DESCRIPTION: &str = "Courseshop: practical online courses in programming, \
     data, cloud, design and more, from people who do the work.";

pub struct Layout {
    pub title: String,
    /// The page's `<meta name="description">`: `DEFAULT_DESCRIPTION` unless `describe`d.
    pub description: String,
    /// The page's absolute canonical address (`<link rel="canonical">`): the one search engines
    /// should count it under. Its own path by default (`Visitor::layout`); `None` on error pages.
    pub canonical: Option<String>,
    /// Asks search engines to leave the page out of their index (`<meta name="robots">`): pages
    /// for one visitor, forms, searches, error pages.
    pub noindex: bool,
    /// The search text to keep in the header's search box.
    pub search: String,
    pub user_name: Option<String>,
    pub is_instructor: bool,
    pub csrf_token: String,
    /// Lines in the visitor's cart (the header's badge).
    pub cart_count: usize,
    /// A message left by the previous request ("Added to your cart").
    pub flash: Option<String>,
    pub step: String,
    pub customised: bool,
    pub catalog_store: &'static str,
    pub cart_store: &'static str,
    pub cache: &'static str,
    pub enrollment: &'static str,
    /// Whether pages are cached at this step (only then is `served_from` worth showing).
    cached: bool,
    /// Where this page's catalog data came from, when the catalog is cached (step 3).
    pub served_from: Option<&'static str>,
}

impl Layout {
    pub(crate) fn new(topology: &Topology, title: String) -> Layout {
        Layout {
            title,
            description: DEFAULT_DESCRIPTION.to_string(),
            canonical: None,
            noindex: false,
            search: String::new(),
            user_name: None,
            is_instructor: false,
            csrf_token: String::new(),
            cart_count: 0,
            flash: None,
            step: topology.step.to_string(),
            customised: topology.is_customised(),
            catalog_store: "PostgreSQL",
            cart_store: topology.cart_store_label(),
            cache: topology.cache_label(),
            enrollment: topology.enrollment_label(),
            cached: topology.has_cache(),
            served_from: None,
        }
    }

    /// Notes where the page's catalog data came from; shown only when there is a cache to tell
    /// apart from the database.
    pub fn served(mut self, source: Source) -> Layout {
        if self.cached {
            self.served_from = Some(source.label());
        }
        self
    }

    /// For pages rendered outside a handler (the error pages): no user, no forms. An error page
    /// must render even where the application state is out of reach (an error raised before the
    /// app's own services): then its footer names the default step.
    pub fn for_request(request: &HttpRequest, title: &str) -> Layout {
        let topology = request
            .app_data::<Data<AppState>>()
            .map(|state| state.topology)
            .unwrap_or_else(|| shop::topology::Step::DEFAULT.preset());
        Layout::new(&topology, title.to_string())
    }

    /// The page's canonical address, absolute (`PublicUrl::page`).
    pub fn canonical(mut self, url: String) -> Layout {
        self.canonical = Some(url);
        self
    }

    /// Keeps the page out of search engines' indexes; its links are still followed.
    pub fn noindex(mut self) -> Layout {
        self.noindex = true;
        self
    }

    pub fn with_search(mut self, search: &str) -> Layout {
        self.search = search.to_string();
        self
    }

    /// The URL of the static file `name`, fingerprinted (`crate::assets`), for templates.
    pub fn asset(&self, name: &str) -> String {
        crate::assets::url(name)
    }

    /// The page's own description, on one line; a blank one keeps the shop's.
    pub fn describe(mut self, description: impl AsRef<str>) -> Layout {
        let description = description
            .as_ref()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !description.is_empty() {
            self.description = description;
        }
        self
    }
}
