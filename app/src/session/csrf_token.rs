//! The session's CSRF token: made once per session, sent with every form, compared in constant time.

use subtle::ConstantTimeEq;

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl CsrfToken {
    pub fn generate() -> Result<CsrfToken, AppError> {
        shop::token::random_token().map(CsrfToken).map_err(|error| {
            AppError::Internal(anyhow::anyhow!("no randomness for a CSRF token: {error}"))
        })
    }

    pub(crate) fn from_session(token: String) -> CsrfToken {
        CsrfToken(token)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the first difference is.
    pub(crate) fn matches(&self, sent: &str) -> bool {
        self.0.as_bytes().ct_eq(sent.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::CsrfToken;

    #[test]
    fn tokens_are_long_random_and_compared_exactly() {
        let (a, b) = (
            CsrfToken::generate().expect("random"),
            CsrfToken::generate().expect("random"),
        );
        assert_eq!(a.as_str().len(), 64);
        assert_ne!(a, b);
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(b.as_str()));
        assert!(!a.matches(""));
        assert!(!a.matches(&a.as_str()[..63]));
    }
}
