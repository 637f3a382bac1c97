//! The cart: view it, add a course, remove one.

use actix_web::HttpResponse;
use actix_web::web::{Data, Path};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use shop::cart::{AddOutcome, CartView};
use shop::catalog::CourseSlug;
use shop::ids::CourseId;

use crate::error::AppError;
use crate::forms::Checked;
use crate::layout::Layout;
use crate::respond::see_other;
use crate::state::AppState;
use crate::visitor::Visitor;

#[derive(Template, WebTemplate)]
#[template(path = "cart/cart.html")]
pub struct CartPage {
    layout: Layout,
    cart: CartView,
}

/// `GET /cart`
#[tracing::instrument(name = "cart page", skip_all)]
pub async fn cart(state: Data<AppState>, visitor: Visitor) -> Result<CartPage, AppError> {
    let carts = &state.carts;
    let cart = match visitor.session.cart_owner(false)? {
        Some(owner) => carts.view(owner, visitor.session.user_id()).await?,
        None => CartView::default(),
    };
    Ok(CartPage {
        layout: visitor.layout("Your cart").noindex().describe(
            "Your Courseshop cart: the courses you have chosen, priced from the catalog, ready \
             for checkout.",
        ),
        cart,
    })
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    course: String,
}

/// `POST /cart/items` with the course's slug; back to the course page with a message.
#[tracing::instrument(name = "add to cart", skip_all)]
pub async fn add(
    state: Data<AppState>,
    visitor: Visitor,
    Checked(form): Checked<AddForm>,
) -> Result<HttpResponse, AppError> {
    let carts = &state.carts;
    let slug = CourseSlug::parse(&form.course)
        .map_err(|_| AppError::BadRequest("That is not a course in this shop.".to_string()))?;
    let owner = visitor.session.cart_owner(true)?.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("a cart owner was asked to be created"))
    })?;
    let message = match carts.add(owner, visitor.session.user_id(), &slug).await? {
        AddOutcome::Added => "Added to your cart.",
        AddOutcome::AlreadyInCart => "This course is already in your cart.",
        AddOutcome::AlreadyOwned => "You already own this course: find it under My courses.",
        AddOutcome::NotForSale => {
            return Err(AppError::NotFound(
                "That course is not for sale any more.".to_string(),
            ));
        }
    };
    visitor.session.flash(message)?;
    Ok(see_other(&format!("/courses/{slug}")))
}

#[derive(Deserialize)]
pub struct RemoveForm {}

/// `POST /cart/items/{course}/delete`
#[tracing::instrument(name = "remove from cart", skip_all)]
pub async fn remove(
    state: Data<AppState>,
    visitor: Visitor,
    course: Path<String>,
    Checked(_): Checked<RemoveForm>,
) -> Result<HttpResponse, AppError> {
    let carts = &state.carts;
    let course = course
        .parse::<i64>()
        .map(CourseId)
        .map_err(|_| AppError::NotFound("That course is not in your cart.".to_string()))?;
    if let Some(owner) = visitor.session.cart_owner(false)? {
        carts.remove(owner, course).await?;
        visitor.session.flash("Removed from your cart.")?;
    }
    Ok(see_other("/cart"))
}
