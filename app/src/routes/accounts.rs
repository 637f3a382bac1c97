//! Register, log in, log out.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use shop::accounts::{DisplayName, Email, LoginError, NewAccount, Password, RegisterError, Role};

use shop::cart::CartService;
use shop::ids::UserId;

use crate::error::AppError;
use crate::forms::Checked;
use crate::layout::Layout;
use crate::next_path::NextPath;
use crate::respond::{render, see_other};
use crate::state::AppState;
use crate::url_encoded;
use crate::visitor::Visitor;

/// The query string of the login and registration pages.
#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `?next=` of `request`, parsed (a 400 page for a malformed query or a `next` off this site).
fn next_of(request: &HttpRequest) -> Result<NextPath, AppError> {
    let query: NextQuery = url_encoded::query(request.query_string())?;
    NextPath::parse(query.next.as_deref())
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/register.html")]
pub struct RegisterPage {
    layout: Layout,
    email: String,
    display_name: String,
    errors: RegisterErrors,
    next: NextPath,
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

pub async fn register_form(
    visitor: Visitor,
    request: HttpRequest,
) -> Result<RegisterPage, AppError> {
    Ok(RegisterPage {
        layout: visitor
            .layout("Create your account")
            .noindex()
            .describe("Create a Courseshop account to buy courses and find them under My courses."),
        email: String::new(),
        display_name: String::new(),
        errors: RegisterErrors::default(),
        next: next_of(&request)?,
    })
}

#[tracing::instrument(name = "register", skip_all)]
pub async fn register(
    state: Data<AppState>,
    visitor: Visitor,
    Checked(form): Checked<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    let accounts = &state.accounts;
    let carts = &state.carts;
    // before anything is done: a sign-in that then fails to go where it was sent is half done
    let next = NextPath::parse(form.next.as_deref())?;
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
                let sign_in = accounts.sign_in(user.id).await?;
                visitor.session.log_in(user.id, &sign_in)?;
                adopt_visitor_cart(&visitor, carts, user.id).await;
                tracing::info!(user = %user.id, "registered");
                return Ok(see_other(next.as_str()));
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
            layout: visitor.layout("Create your account").noindex().describe(
                "Create a Courseshop account to buy courses and find them under My courses.",
            ),
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
    next: NextPath,
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

pub async fn login_form(visitor: Visitor, request: HttpRequest) -> Result<LoginPage, AppError> {
    Ok(LoginPage {
        layout: visitor
            .layout("Log in")
            .noindex()
            .describe("Log in to Courseshop to check out and find the courses you have bought."),
        email: String::new(),
        error: None,
        next: next_of(&request)?,
    })
}

#[tracing::instrument(name = "log in", skip_all)]
pub async fn login(
    state: Data<AppState>,
    visitor: Visitor,
    request: HttpRequest,
    Checked(form): Checked<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let accounts = &state.accounts;
    let carts = &state.carts;
    let throttle = &state.login_throttle;
    // before anything is done: a sign-in that then fails to go where it was sent is half done
    let next = NextPath::parse(form.next.as_deref())?;
    let email = Email::parse(&form.email).ok();
    let attempt = throttle.attempt(&request, email.as_ref());
    // counted before the password is checked, atomically with the verdict: guesses sent at once
    // cannot all pass, and a refused guess costs no hashing either
    throttle.limiter.count_attempt(&attempt).await?;
    // an address that cannot be valid gets the same answer as a wrong password
    let outcome = match &email {
        Some(email) => {
            accounts
                .log_in(email, Password::for_login(&form.password))
                .await
        }
        None => Err(LoginError::InvalidCredentials),
    };
    match outcome {
        Ok(user) => {
            throttle.limiter.record_success(&attempt).await;
            let sign_in = accounts.sign_in(user.id).await?;
            visitor.session.log_in(user.id, &sign_in)?;
            adopt_visitor_cart(&visitor, carts, user.id).await;
            tracing::info!(user = %user.id, "logged in");
            Ok(see_other(next.as_str()))
        }
        // already counted
        Err(LoginError::InvalidCredentials) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &LoginPage {
                layout: visitor.layout("Log in").noindex().describe(
                    "Log in to Courseshop to check out and find the courses you have bought.",
                ),
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

/// Signs out here and on the server. With PostgreSQL unreachable the `Visitor` check already
/// answers the 503 page and nothing changes; should it fail in between, the browser's copy is gone
/// first and the 503 page says to try again.
pub async fn logout(
    state: Data<AppState>,
    visitor: Visitor,
    Checked(_): Checked<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    let accounts = &state.accounts;
    let sign_in = visitor.session.sign_in();
    visitor.session.log_out();
    if let Some((_, sign_in)) = sign_in {
        accounts.sign_out(&sign_in).await?;
    }
    Ok(see_other("/"))
}
