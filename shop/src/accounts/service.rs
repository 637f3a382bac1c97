//! Accounts in PostgreSQL: registering, logging in, and the sign-ins that find a user again.

use sqlx::PgPool;

use super::password::{self, HashingError, Password, PasswordHash};
use super::{DisplayName, Email, Role, SIGN_IN_LIFETIME_HOURS, SignInId, User};
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

    /// Records a sign-in of `user` and returns its key, for the session to keep. Clears the
    /// user's expired sign-ins in the same statement, so the table holds only live ones and a few.
    pub async fn sign_in(&self, user: UserId) -> Result<SignInId, StoreError> {
        let id = SignInId::generate().map_err(|error| {
            StoreError::Corrupt(format!("no randomness for a sign-in: {error}"))
        })?;
        sqlx::query!(
            "WITH expired AS (DELETE FROM user_sessions WHERE user_id = $2 AND expires_at <= now())
             INSERT INTO user_sessions (id, user_id, expires_at)
             VALUES ($1, $2, now() + make_interval(hours => $3))",
            id.as_str(),
            user.0,
            SIGN_IN_LIFETIME_HOURS
        )
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The user of a live sign-in: none if it was signed out, has expired, or the account is gone.
    pub async fn signed_in(&self, user: UserId, id: &SignInId) -> Result<Option<User>, StoreError> {
        sqlx::query_as!(
            UserRow,
            r#"SELECT u.id AS "id: _", u.email, u.display_name, u.role AS "role: _"
               FROM user_sessions s JOIN users u ON u.id = s.user_id
               WHERE s.id = $1 AND s.user_id = $2 AND s.expires_at > now()"#,
            id.as_str(),
            user.0
        )
        .fetch_optional(&self.pool)
        .await?
        .map(UserRow::into_user)
        .transpose()
    }

    /// Ends a sign-in on the server: a copy of its session signs in no more.
    pub async fn sign_out(&self, id: &SignInId) -> Result<(), StoreError> {
        sqlx::query!("DELETE FROM user_sessions WHERE id = $1", id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
