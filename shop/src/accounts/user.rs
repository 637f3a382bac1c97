use super::{DisplayName, Email};
use crate::ids::UserId;

/// What a person may do in the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, serde::Deserialize)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Student,
    Instructor,
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub role: Role,
}

impl User {
    pub fn is_instructor(&self) -> bool {
        self.role == Role::Instructor
    }
}
