//! Accounts: students and instructors, their sign-up and login.

pub mod demo;
mod display_name;
mod email;
mod login_limit;
pub mod password;
mod service;
mod sign_in;
mod user;

pub use display_name::{DisplayName, DisplayNameError};
pub use email::{Email, EmailError};
pub use login_limit::{Attempt, LoginLimiter, TooManyAttempts};
pub use password::{Password, PasswordError};
pub use service::{Accounts, LoginError, NewAccount, RegisterError};
pub use sign_in::{SIGN_IN_LIFETIME_HOURS, SignInId};
pub use user::{Role, User};
