//! Orders: checkout turns a cart into a paid order (and, at steps 0-3, its enrollments).

mod checkout;
mod insert;
mod order;
pub mod payment;

pub use checkout::{Checkout, CheckoutError, PlacedOrder};
pub use insert::{NewOrderItem, insert_order};
pub use order::{AwaitingEnrollment, Order, OrderItem, OrderStatus, OrderSummary, Orders};
pub use payment::{CardNumber, CardNumberError, PaymentGateway, SimulatedPaymentGateway};
