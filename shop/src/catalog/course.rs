//! What the catalog shows of a course: a card in lists, the full page on its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CategorySlug, CourseSlug, Level};
use crate::ids::CourseId;
use crate::money::Money;

/// A course as it appears in a list: enough to choose, not to decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseCard {
    pub id: CourseId,
    pub slug: CourseSlug,
    pub title: String,
    pub summary: String,
    pub level: Level,
    pub duration: Duration,
    pub price: Money,
    pub category_name: String,
    pub instructor_name: String,
}

/// A course's own page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Course {
    pub id: CourseId,
    pub slug: CourseSlug,
    pub title: String,
    pub summary: String,
    pub description: String,
    pub level: Level,
    pub duration: Duration,
    pub price: Money,
    pub category_name: String,
    pub category_slug: CategorySlug,
    pub instructor_name: String,
    pub published: bool,
    pub updated_at: DateTime<Utc>,
}

impl Course {
    /// The description split at blank lines, for rendering as paragraphs without trusting any markup.
    pub fn paragraphs(&self) -> impl Iterator<Item = &str> {
        self.description
            .split("\n\n")
            .map(str::trim)
            .filter(|paragraph| !paragraph.is_empty())
    }
}

/// How long a course's videos and exercises take, in whole minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Serialize, Deserialize)]
#[serde(try_from = "i32")]
#[sqlx(transparent)]
pub struct Duration(i32);

impl TryFrom<i32> for Duration {
    type Error = &'static str;
    fn try_from(minutes: i32) -> Result<Duration, Self::Error> {
        Duration::from_minutes(minutes).ok_or("a duration is a positive number of minutes")
    }
}

impl Duration {
    pub fn from_minutes(minutes: i32) -> Option<Duration> {
        (minutes > 0).then_some(Duration(minutes))
    }

    pub fn minutes(self) -> i32 {
        self.0
    }
}

impl std::fmt::Display for Duration {
    /// `45 min`, `3 h`, `12 h 30 min`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0 / 60, self.0 % 60) {
            (0, minutes) => write!(f, "{minutes} min"),
            (hours, 0) => write!(f, "{hours} h"),
            (hours, minutes) => write!(f, "{hours} h {minutes} min"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let show = |m| Duration::from_minutes(m).map(|d| d.to_string());
        assert_eq!(show(45).as_deref(), Some("45 min"));
        assert_eq!(show(180).as_deref(), Some("3 h"));
        assert_eq!(show(750).as_deref(), Some("12 h 30 min"));
        assert_eq!(show(0), None);
    }
}
