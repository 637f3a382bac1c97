//! Accounts: students and instructors, their sign-up and login.

mod display_name;
mod email;
pub mod password;
mod postgres;
mod user;

pub use display_name::{DisplayName, DisplayNameError};
pub use email::{Email, EmailError};
pub use password::{Password, PasswordError};
pub use postgres::{Accounts, LoginError, NewAccount, RegisterError};
pub use user::{Role, User};
