use std::fmt;

/// The name shown on a student's orders and an instructor's courses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("enter a name of 1 to 80 characters")]
pub struct DisplayNameError;

impl DisplayName {
    pub fn parse(input: &str) -> Result<DisplayName, DisplayNameError> {
        // checked before trimming: a trailing line break is a control character, not a space
        let name = input.trim();
        let length = name.chars().count();
        if (1..=80).contains(&length) && crate::text::line(input).is_ok() {
            Ok(DisplayName(name.to_string()))
        } else {
            Err(DisplayNameError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_but_never_holds_a_control_character() {
        assert_eq!(
            DisplayName::parse("  Ada Lovelace ").map(|name| name.to_string()),
            Ok("Ada Lovelace".to_string())
        );
        for hostile in ["Ada\n", "\rAda", "A\0da", "Ada\u{85}", ""] {
            assert_eq!(
                DisplayName::parse(hostile),
                Err(DisplayNameError),
                "{hostile:?}"
            );
        }
    }
}
