//! Register, log in, log out.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Query};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use shop::accounts::{
    Accounts, DisplayName, Email, LoginError, NewAccount, Password, RegisterError, Role,
};

use shop::cart::CartService;
use shop::ids::UserId;

use crate::csrf::Checked;
use crate::error::AppError;
use crate::layout::{Layout, Visitor, render, safe_next, see_other};

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/register.html")]
pub struct RegisterPage {
    layout: Layout,
    email: String,
    display_name: String,
    errors: RegisterErrors,
    next: String,
}

#[derive(Default)]
pub struct RegisterErrors {
    email: Option<String>,
    display_name: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn register_form(visitor: Visitor, next: Query<Next>) -> RegisterPage {
    RegisterPage {
        layout: visitor.layout("Create your account"),
        email: String::new(),
        display_name: String::new(),
        errors: RegisterErrors::default(),
        next: safe_next(next.next.as_deref()),
    }
}

#[tracing::instrument(name = "register", skip_all)]
pub async fn register(
    visitor: Visitor,
    accounts: Data<Accounts>,
    carts: Data<CartService>,
    Checked(form): Checked<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(form.next.as_deref());
    let email = Email::parse(&form.email);
    let display_name = DisplayName::parse(&form.display_name);
    let password = Password::parse(&form.password);
    let mut errors = RegisterErrors {
        email: email.as_ref().err().map(ToString::to_string),
        display_name: display_name.as_ref().err().map(ToString::to_string),
        password: password.as_ref().err().map(ToString::to_string),
    };
    if let (Ok(email), Ok(display_name), Ok(password)) = (email, display_name, password) {
        let account = NewAccount {
            email,
            display_name,
            password,
            role: Role::Student,
        };
        match accounts.register(account).await {
            Ok(user) => {
                visitor.session.log_in(user.id)?;
                adopt_visitor_cart(&visitor, &carts, user.id).await;
                tracing::info!(user = %user.id, "registered");
                return Ok(see_other(&next));
            }
            Err(RegisterError::EmailTaken) => {
                errors.email =
                    Some("an account with this email already exists: log in instead".to_string());
            }
            Err(RegisterError::Hashing(error)) => return Err(AppError::Internal(error.into())),
            Err(RegisterError::Store(error)) => return Err(error.into()),
        }
    }
    render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &RegisterPage {
            layout: visitor.layout("Create your account"),
            email: form.email,
            display_name: form.display_name,
            errors,
            next,
        },
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/login.html")]
pub struct LoginPage {
    layout: Layout,
    email: String,
    error: Option<String>,
    next: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login_form(visitor: Visitor, next: Query<Next>) -> LoginPage {
    LoginPage {
        layout: visitor.layout("Log in"),
        email: String::new(),
        error: None,
        next: safe_next(next.next.as_deref()),
    }
}

#[tracing::instrument(name = "log in", skip_all)]
pub async fn login(
    visitor: Visitor,
    accounts: Data<Accounts>,
    carts: Data<CartService>,
    Checked(form): Checked<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(form.next.as_deref());
    // an address that cannot be valid gets the same answer as a wrong password
    let outcome = match Email::parse(&form.email) {
        Ok(email) => {
            accounts
                .log_in(&email, Password::for_login(&form.password))
                .await
        }
        Err(_) => Err(LoginError::InvalidCredentials),
    };
    match outcome {
        Ok(user) => {
            visitor.session.log_in(user.id)?;
            adopt_visitor_cart(&visitor, &carts, user.id).await;
            tracing::info!(user = %user.id, "logged in");
            Ok(see_other(&next))
        }
        Err(LoginError::InvalidCredentials) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &LoginPage {
                layout: visitor.layout("Log in"),
                email: form.email,
                error: Some("That email and password do not match an account.".to_string()),
                next,
            },
        ),
        Err(LoginError::Store(error)) => Err(error.into()),
    }
}

/// What a visitor put in the cart before signing in joins the account's cart. A failure here must
/// not fail the login: the visitor's cart stays in the session and is merged at the next login.
async fn adopt_visitor_cart(visitor: &Visitor, carts: &CartService, user: UserId) {
    if let Some(cart) = visitor.session.visitor_cart() {
        match carts.merge(cart, user).await {
            Ok(()) => visitor.session.forget_visitor_cart(),
            Err(error) => tracing::warn!(%error, "the visitor's cart could not be merged yet"),
        }
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {}

pub async fn logout(visitor: Visitor, Checked(_): Checked<LogoutForm>) -> HttpResponse {
    visitor.session.log_out();
    see_other("/")
}
