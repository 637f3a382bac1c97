//! Orders: checkout turns a cart into a paid order (and, at steps 0-3, its enrollments).

mod checkout;
mod insert;
pub mod payment;
mod postgres;

pub use checkout::{Checkout, CheckoutError, PlacedOrder};
pub use insert::{NewOrderItem, insert_order};
pub use payment::{CardNumber, CardNumberError, PaymentGateway, SimulatedPaymentGateway};
pub use postgres::{AwaitingEnrollment, Order, OrderItem, OrderStatus, OrderSummary, Orders};
