use actix_web::web::Data;
use askama::Template;
use askama_web::WebTemplate;

use shop::catalog::{Catalog, Category, CourseCard};

use crate::error::AppError;
use crate::layout::{Layout, Visitor};

const FEATURED: i64 = 8;

#[derive(Template, WebTemplate)]
#[template(path = "catalog/home.html")]
pub struct HomePage {
    layout: Layout,
    categories: Vec<Category>,
    featured: Vec<CourseCard>,
}

#[tracing::instrument(name = "home page", skip_all)]
pub async fn home(catalog: Data<Catalog>, visitor: Visitor) -> Result<HomePage, AppError> {
    Ok(HomePage {
        layout: visitor.layout("Learn something real"),
        categories: catalog.categories().await?,
        featured: catalog.featured(FEATURED).await?,
    })
}
