//! A signed-in session as the server knows it: the key that a session keeps, and the row in
//! `user_sessions` that makes it valid. Signing out deletes the row, so the session ends on the
//! server at every step, also where the session itself lives in the visitor's cookie.

use std::fmt;

/// How long a sign-in lasts at most, however busy the session: a day, as the session store keeps
/// an idle session. After that the student signs in again.
pub const SIGN_IN_LIFETIME_HOURS: i32 = 24;

/// The random key of one sign-in: 32 bytes from the operating system, as 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInId(String);

impl SignInId {
    pub fn generate() -> Result<SignInId, getrandom::Error> {
        crate::token::random_token().map(SignInId)
    }

    /// A key read back from a session; anything else is no sign-in at all.
    pub fn parse(input: &str) -> Option<SignInId> {
        let valid = input.len() == 64
            && input
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| SignInId(input.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hidden: whoever reads a log line must not be able to sign in with it.
impl fmt::Debug for SignInId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignInId(<hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::SignInId;

    #[test]
    fn a_generated_key_parses_and_nothing_else_does() {
        let id = SignInId::generate().expect("randomness");
        assert_eq!(SignInId::parse(id.as_str()), Some(id.clone()));
        assert!(!format!("{id:?}").contains(id.as_str()));
        for bad in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"0".repeat(65)] {
            assert_eq!(SignInId::parse(bad), None, "{bad}");
        }
    }
}
