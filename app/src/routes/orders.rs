//! Checkout, order history, one order, and My courses.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::web::{Data, Path};
use askama::Template;
use askama_web::WebTemplate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use shop::cart::{CartOwner, CartView};
use shop::enrollment::EnrolledCourse;
use shop::ids::{OrderId, UserId};
use shop::orders::payment::PaymentError;
use shop::orders::{
    CardNumber, CheckoutError, Order, OrderStatus, OrderSummary, Orders, SimulatedPaymentGateway,
};

use crate::error::AppError;
use crate::forms::Checked;
use crate::layout::Layout;
use crate::respond::{render, see_other};
use crate::session::ShopSession;
use crate::state::AppState;
use crate::visitor::Visitor;

#[derive(Template, WebTemplate)]
#[template(path = "orders/checkout.html")]
pub struct CheckoutPage {
    layout: Layout,
    cart: CartView,
    idempotency_key: Uuid,
    error: Option<String>,
    card_error: Option<String>,
    test_card: &'static str,
    declined_card: &'static str,
}

impl CheckoutPage {
    fn new(visitor: &Visitor, cart: CartView, key: Uuid) -> CheckoutPage {
        CheckoutPage {
            layout: visitor.layout("Checkout").noindex().describe(
                "Pay for the courses in your Courseshop cart. Payments are simulated: no money \
                 moves.",
            ),
            cart,
            idempotency_key: key,
            error: None,
            card_error: None,
            test_card: SimulatedPaymentGateway::APPROVED_CARD,
            declined_card: SimulatedPaymentGateway::DECLINED_CARD,
        }
    }
}

/// `GET /checkout`: the cart priced once more, and the payment form with a fresh idempotency key.
pub async fn checkout_form(
    state: Data<AppState>,
    visitor: Visitor,
) -> Result<CheckoutPage, AppError> {
    let carts = &state.carts;
    let user = visitor.signed_in("/checkout")?;
    let cart = carts.view(CartOwner::User(user.id), Some(user.id)).await?;
    Ok(CheckoutPage::new(&visitor, cart, Uuid::new_v4()))
}

#[derive(Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    card_number: String,
}

/// `POST /checkout`: place the order, then show it (post/redirect/get).
pub async fn checkout(
    state: Data<AppState>,
    visitor: Visitor,
    Checked(form): Checked<CheckoutForm>,
) -> Result<HttpResponse, AppError> {
    let carts = &state.carts;
    let checkout = &state.checkout;
    let user = visitor.signed_in("/checkout")?;
    let key = Uuid::parse_str(&form.idempotency_key).map_err(|_| {
        AppError::BadRequest("The checkout form is incomplete: reload the page.".to_string())
    })?;
    let again = |error: Option<&str>, card_error: Option<String>| Retry {
        error: error.map(str::to_string),
        card_error,
        key,
    };
    let retry = match CardNumber::parse(&form.card_number) {
        Err(error) => again(None, Some(error.to_string())),
        Ok(card) => match checkout.place_order(user.id, key, &card).await {
            Ok(order) => {
                // the student's own pages read the primary anyway; remembered so that any read
                // of theirs that may go to the replica waits for it to have the order too
                visitor
                    .session
                    .remember_write(state.reads.position_after_write().await)?;
                return Ok(see_other(&format!("/orders/{}", order.id.readable())));
            }
            Err(CheckoutError::EmptyCart) => again(Some("Your cart has nothing to buy."), None),
            Err(CheckoutError::Payment(PaymentError::Declined)) => again(
                Some("Your card was declined. Nothing was charged and your cart is as it was."),
                None,
            ),
            Err(CheckoutError::Payment(PaymentError::Unavailable)) => again(
                Some("Payments cannot be taken right now. Nothing was charged; please try again."),
                None,
            ),
            Err(CheckoutError::Cart(error)) => return Err(error.into()),
            Err(CheckoutError::Store(error)) => return Err(error.into()),
        },
    };
    // the form again, with its message and the same key (so a retry is still one order)
    let cart = carts.view(CartOwner::User(user.id), Some(user.id)).await?;
    let mut page = CheckoutPage::new(&visitor, cart, retry.key);
    page.error = retry.error;
    page.card_error = retry.card_error;
    render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// Why the checkout form is shown again.
struct Retry {
    error: Option<String>,
    card_error: Option<String>,
    key: Uuid,
}

#[derive(Template, WebTemplate)]
#[template(path = "orders/history.html")]
pub struct HistoryPage {
    layout: Layout,
    orders: Vec<OrderSummary>,
}

/// `GET /orders`
pub async fn history(state: Data<AppState>, visitor: Visitor) -> Result<HistoryPage, AppError> {
    let orders = &state.orders;
    let user = visitor.signed_in("/orders")?;
    Ok(HistoryPage {
        orders: orders.history(user.id).await?,
        layout: visitor.layout("Your orders").noindex().describe(
            "Your Courseshop orders, newest first, with their courses, totals and status.",
        ),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "orders/order.html")]
pub struct OrderPage {
    layout: Layout,
    order: Order,
    /// Paid but not yet enrolled (step 4's worker has not got to it): the page refreshes itself.
    pending: bool,
}

/// How long a pending page keeps reloading itself without JavaScript (the script gives up at the
/// same age): an order still waiting by then is stuck, and a tab left open must not reload forever.
const REFRESH_FOR: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

fn still_refreshing(placed: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::Utc::now() - placed < REFRESH_FOR
}

impl OrderPage {
    fn refreshes(&self) -> bool {
        self.pending && still_refreshing(self.order.created_at)
    }
}

impl MyCoursesPage {
    /// The newest pending order is young enough for the page to keep reloading.
    fn refreshes(&self) -> bool {
        self.pending
            .first()
            .is_some_and(|order| still_refreshing(order.created_at))
    }
}

/// `GET /orders/{id}`: someone else's order is a 404, like one that does not exist.
pub async fn order(
    state: Data<AppState>,
    visitor: Visitor,
    id: Path<String>,
) -> Result<OrderPage, AppError> {
    let orders = &state.orders;
    let order = students_order(&visitor, orders, &id).await?;
    Ok(OrderPage {
        layout: visitor
            .layout(format!("Order {}", order.id))
            .noindex()
            .describe(format!(
                "Order {} at Courseshop: its courses, its total and whether you are enrolled yet.",
                order.id
            )),
        pending: order.status == OrderStatus::Paid,
        order,
    })
}

/// What `order-status.js` polls while an order waits for enrollment.
#[derive(Serialize)]
struct StatusBody {
    status: &'static str,
    label: &'static str,
}

/// `GET /orders/{id}/status`: the order page's status as JSON, never cached (it is polled for a
/// change). Polled every second by an open order page, so it reads the session alone: no cart badge
/// (a Cosmos DB read) and no flash message taken from another tab's next page.
pub async fn order_status(
    state: Data<AppState>,
    session: ShopSession,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    let accounts = &state.accounts;
    let orders = &state.orders;
    let sign_in_required = || {
        if session.unavailable() {
            AppError::SessionUnavailable
        } else {
            // signing in brings the student back to the page, not to this JSON
            AppError::SignInRequired(format!("/orders/{id}"))
        }
    };
    let (user, sign_in) = session.sign_in().ok_or_else(sign_in_required)?;
    // a signed-out copy of the session reads no order
    if accounts.signed_in(user, &sign_in).await?.is_none() {
        return Err(sign_in_required());
    }
    let order = order_of(user, orders, &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(StatusBody {
            status: order.status.as_str(),
            label: order.status.label(),
        }))
}

/// The signed-in student's order `id` (its readable form).
async fn students_order(visitor: &Visitor, orders: &Orders, id: &str) -> Result<Order, AppError> {
    let user = visitor.signed_in(&format!("/orders/{id}"))?;
    order_of(user.id, orders, id).await
}

/// Order `id` of `user`. Someone else's order and a malformed id are the same 404 as a missing one:
/// whether an order exists is none of anyone else's business.
async fn order_of(user: UserId, orders: &Orders, id: &str) -> Result<Order, AppError> {
    let not_found =
        || AppError::NotFound("There is no order with that number in your account.".to_string());
    let id = OrderId::parse_readable(id).ok_or_else(not_found)?;
    orders.order(user, id).await?.ok_or_else(not_found)
}

#[derive(Template, WebTemplate)]
#[template(path = "orders/my_courses.html")]
pub struct MyCoursesPage {
    layout: Layout,
    courses: Vec<EnrolledCourse>,
    /// Orders paid but not yet enrolled, newest first: their courses are on their way.
    pending: Vec<OrderSummary>,
}

/// `GET /my/courses`
pub async fn my_courses(
    state: Data<AppState>,
    visitor: Visitor,
) -> Result<MyCoursesPage, AppError> {
    let enrollments = &state.enrollments;
    let orders = &state.orders;
    let user = visitor.signed_in("/my/courses")?;
    // orders before courses: if the worker enrolls in between, the page shows a course twice over
    // (pending and listed) rather than neither
    let mut pending = orders.history(user.id).await?;
    pending.retain(|order| order.status == OrderStatus::Paid);
    Ok(MyCoursesPage {
        courses: enrollments.courses(user.id).await?,
        pending,
        layout: visitor
            .layout("My courses")
            .noindex()
            .describe("The Courseshop courses you are enrolled in, and those on their way."),
    })
}
