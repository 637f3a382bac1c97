//! Accounts in PostgreSQL: registering, logging in, finding a signed-in user again.

use sqlx::PgPool;

use super::password::{self, HashingError, Password, PasswordHash};
use super::{DisplayName, Email, Role, User};
use crate::database::StoreError;
use crate::ids::UserId;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// One answer for an unknown email and a wrong password, so the form does not reveal who has
    /// an account.
    #[error("the email or password is not right")]
    InvalidCredentials,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct NewAccount {
    pub email: Email,
    pub display_name: DisplayName,
    pub password: Password,
    pub role: Role,
}

struct UserRow {
    id: UserId,
    email: String,
    display_name: String,
    role: Role,
}

impl UserRow {
    fn into_user(self) -> Result<User, StoreError> {
        // rows were written through the same types; a row that does not parse is a broken invariant
        let corrupt = |what: &str| StoreError::Corrupt(format!("user {}: {what}", self.id));
        Ok(User {
            email: Email::parse(&self.email).map_err(|_| corrupt("email"))?,
            display_name: DisplayName::parse(&self.display_name)
                .map_err(|_| corrupt("display name"))?,
            id: self.id,
            role: self.role,
        })
    }
}

#[derive(Clone)]
pub struct Accounts {
    pool: PgPool,
}

impl Accounts {
    pub fn new(pool: PgPool) -> Accounts {
        Accounts { pool }
    }

    pub async fn register(&self, account: NewAccount) -> Result<User, RegisterError> {
        let hash = password::hash(account.password).await?;
        let row = sqlx::query_as!(
            UserRow,
            r#"INSERT INTO users (email, display_name, password_hash, role)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (email) DO NOTHING
               RETURNING id AS "id: _", email, display_name, role AS "role: _""#,
            account.email.as_str(),
            account.display_name.as_str(),
            hash.0,
            account.role as Role,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)?;
        row.ok_or(RegisterError::EmailTaken)?
            .into_user()
            .map_err(RegisterError::Store)
    }

    pub async fn log_in(&self, email: &Email, password: Password) -> Result<User, LoginError> {
        let row = sqlx::query!(
            r#"SELECT id AS "id: UserId", email, display_name, role AS "role: Role", password_hash
               FROM users WHERE email = $1"#,
            email.as_str()
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from)?;
        let stored = row
            .as_ref()
            .and_then(|row| row.password_hash.clone())
            .map(PasswordHash);
        if !password::verify(password, stored).await {
            return Err(LoginError::InvalidCredentials);
        }
        let row = row.ok_or(LoginError::InvalidCredentials)?;
        Ok(UserRow {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            role: row.role,
        }
        .into_user()?)
    }

    /// The user a session points at, if the account still exists.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query_as!(
            UserRow,
            r#"SELECT id AS "id: _", email, display_name, role AS "role: _" FROM users WHERE id = $1"#,
            id as UserId
        )
        .fetch_optional(&self.pool)
        .await?
        .map(UserRow::into_user)
        .transpose()
    }
}
