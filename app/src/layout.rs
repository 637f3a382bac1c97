//! What every page's shared layout needs: the page title, the header search box and the footer's
//! "which step, which stores" line.

use actix_web::HttpRequest;
use actix_web::web::Data;

use shop::topology::Topology;

/// The running shop's topology, shared by every request.
#[derive(Clone)]
pub struct ShopInfo {
    pub topology: Topology,
}

pub struct Layout {
    pub title: String,
    /// The search text to keep in the header's search box.
    pub search: String,
    pub step: String,
    pub customised: bool,
    pub catalog_store: &'static str,
    pub cart_store: &'static str,
    pub cache: &'static str,
    pub enrollment: &'static str,
}

impl Layout {
    pub fn new(topology: &Topology, title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            search: String::new(),
            step: topology.step.to_string(),
            customised: topology.is_customised(),
            catalog_store: "PostgreSQL",
            cart_store: topology.cart_store_label(),
            cache: topology.cache_label(),
            enrollment: topology.enrollment_label(),
        }
    }

    /// For pages rendered outside a handler (the error pages), from the app's shared data.
    pub fn for_request(request: &HttpRequest, title: &str) -> Layout {
        let topology = request
            .app_data::<Data<ShopInfo>>()
            .map(|info| info.topology)
            .unwrap_or_else(|| shop::topology::Step::DEFAULT.preset());
        Layout::new(&topology, title)
    }

    pub fn with_search(mut self, search: &str) -> Layout {
        self.search = search.to_string();
        self
    }
}
