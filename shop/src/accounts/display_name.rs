use std::fmt;

/// The name shown on a student's orders and an instructor's courses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("enter a name of 1 to 80 characters")]
pub struct DisplayNameError;

impl DisplayName {
    pub fn parse(input: &str) -> Result<DisplayName, DisplayNameError> {
        let name = input.trim();
        let length = name.chars().count();
        if (1..=80).contains(&length) && !name.chars().any(char::is_control) {
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
