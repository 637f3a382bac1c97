use actix_web::web::Data;
use askama::Template;
use askama_web::WebTemplate;

use shop::catalog::{Category, CourseCard};

use crate::error::AppError;
use crate::layout::Layout;
use crate::state::AppState;
use crate::visitor::Visitor;

const FEATURED: i64 = 8;

#[derive(Template, WebTemplate)]
#[template(path = "catalog/home.html")]
pub struct HomePage {
    layout: Layout,
    categories: Vec<Category>,
    featured: Vec<CourseCard>,
}

#[tracing::instrument(name = "home page", skip_all)]
pub async fn home(state: Data<AppState>, visitor: Visitor) -> Result<HomePage, AppError> {
    let catalog = &state.catalog;
    Ok(HomePage {
        layout: visitor.layout("Learn something real").describe(
            "Learn something real at Courseshop: practical online courses in programming, data, \
             cloud, design and more, from people who do the work. Browse by category or search \
             the catalog.",
        ),
        categories: catalog.categories().await?,
        featured: catalog.featured(FEATURED, visitor.read_after()).await?,
    })
}
