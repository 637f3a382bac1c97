//! Passwords: checked once at the edge, hashed with argon2id, never logged.

use std::fmt;
use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// A password someone typed, long enough to be worth hashing. Its `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("use at least {min} characters", min = Password::MIN_LEN)]
    TooShort,
    #[error("use at most {max} characters", max = Password::MAX_LEN)]
    TooLong,
    /// No keyboard types one, and a password manager that pasted one would not paste it again.
    #[error("use letters, digits, spaces and symbols only (no control characters)")]
    ControlCharacter,
}

impl Password {
    /// NIST SP 800-63B asks for at least 8; a shop that holds payment history asks for a little more.
    pub const MIN_LEN: usize = 10;
    /// Bounds the work one login attempt can cause.
    pub const MAX_LEN: usize = 128;

    pub fn parse(input: &str) -> Result<Password, PasswordError> {
        crate::text::line(input).map_err(|_| PasswordError::ControlCharacter)?;
        match input.chars().count() {
            n if n < Password::MIN_LEN => Err(PasswordError::TooShort),
            n if n > Password::MAX_LEN => Err(PasswordError::TooLong),
            _ => Ok(Password(input.to_string())),
        }
    }

    /// For a login form: any length is compared, so a too-short guess is simply wrong, and the
    /// answer does not reveal the rules of the account it was meant for.
    pub fn for_login(input: &str) -> Password {
        Password(input.chars().take(Password::MAX_LEN).collect())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

/// An argon2id hash in PHC string form (`$argon2id$v=19$m=…`), as stored in `users.password_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashingError(String);

/// Hashes on a blocking thread: argon2 is meant to be slow (tens of milliseconds), and the web
/// server's async threads must not wait for it.
pub async fn hash(password: Password) -> Result<PasswordHash, HashingError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.0.as_bytes())
            .map(|hash| PasswordHash(hash.to_string()))
            .map_err(|error| HashingError(error.to_string()))
    })
    .await
    .map_err(|error| HashingError(error.to_string()))?
}

/// A hash of nothing anyone knows, verified against when an email has no account (or no password),
/// so that answering "wrong email or password" takes as long either way.
static DECOY: LazyLock<Option<String>> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"decoy password for unknown accounts")
        .map(|hash| hash.to_string())
        .ok()
});

/// Whether `password` matches `stored`. Always does the full work, even when there is no hash.
pub async fn verify(password: Password, stored: Option<PasswordHash>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = match stored {
            Some(hash) => hash.0,
            None => DECOY.clone().unwrap_or_default(),
        };
        let matches = Argon2::default()
            .verify_password(password.0.as_bytes(), hash.as_str())
            .is_ok();
        known && matches
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert_eq!(
            Password::parse("short").err(),
            Some(PasswordError::TooShort)
        );
        assert!(Password::parse("long enough!").is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(129)).err(),
            Some(PasswordError::TooLong)
        );
    }

    #[test]
    fn control_characters_are_refused() {
        for hostile in ["long enough\0!", "long enough\n!", "\u{7f}long enough"] {
            assert_eq!(
                Password::parse(hostile).err(),
                Some(PasswordError::ControlCharacter)
            );
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let password = Password::for_login("hunter2hunter2");
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_only() {
        let password = Password::parse("correct horse battery").expect("valid");
        let stored = hash(password.clone()).await.expect("hashes");
        assert!(stored.0.starts_with("$argon2id$"));
        assert!(verify(password, Some(stored.clone())).await);
        assert!(!verify(Password::for_login("wrong horse battery"), Some(stored)).await);
        assert!(!verify(Password::for_login("correct horse battery"), None).await);
    }
}
