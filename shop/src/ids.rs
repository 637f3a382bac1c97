//! Typed ids, so a course id can never be passed where a user id is meant.

use std::fmt;

macro_rules! database_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

database_id!(
    /// A course (`courses.id`).
    CourseId
);
database_id!(
    /// A catalog category (`categories.id`).
    CategoryId
);
database_id!(
    /// A person with an account (`users.id`), student or instructor.
    UserId
);
