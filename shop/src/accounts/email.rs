use std::fmt;

/// An email address as accounts use it: trimmed and lower-cased, so `Ada@Example.com` and
/// `ada@example.com` are one account. Deliberately not an RFC 5322 parser: the shop only needs an
/// address a person could have typed, and the sign-up itself is the real test.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("enter an email address such as ada@example.com")]
pub struct EmailError;

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(input: &str) -> Result<Email, EmailError> {
        // before trimming: a line break typed around an address is still a control character
        crate::text::line(input).map_err(|_| EmailError)?;
        let email = input.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(EmailError)?;
        let valid = email.len() <= Email::MAX_LEN
            && !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !email.contains(|c: char| {
                c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';')
            })
            && !domain.contains('@');
        if valid {
            Ok(Email(email))
        } else {
            Err(EmailError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_character_anywhere_is_refused_even_where_trimming_would_hide_it() {
        for hostile in [
            "ada@example.com\n",
            "\tada@example.com",
            "ada\0@example.com",
        ] {
            assert_eq!(Email::parse(hostile), Err(EmailError), "{hostile:?}");
        }
    }

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.to_string()),
            Ok("ada@example.com".into())
        );
    }

    #[test]
    fn refuses_what_cannot_be_an_address() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@.example.com",
            "ada@example..com",
            "<ada@example.com>",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
