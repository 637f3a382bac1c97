//! Slugs: the lower-case, hyphenated names that courses and categories have in URLs.

use std::fmt;

/// Longest slug the schema accepts (`courses.slug` CHECK).
pub const MAX_SLUG_LEN: usize = 120;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("use lower-case letters, digits and single hyphens (at most {MAX_SLUG_LEN} characters)")]
pub struct SlugError;

/// The rule both slug kinds share; it matches the CHECK constraints in the migrations.
fn is_slug(input: &str) -> bool {
    !input.is_empty()
        && input.len() <= MAX_SLUG_LEN
        && input.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Turns a title into the start of a slug: `"Rust: Zero to Production!"` → `"rust-zero-to-production"`.
pub fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len());
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    // leave room for a numeric suffix that makes it unique
    let mut cut = slug.len().min(MAX_SLUG_LEN - 12);
    while !slug.is_char_boundary(cut) {
        cut -= 1;
    }
    slug[..cut].trim_end_matches('-').to_string()
}

macro_rules! slug_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        // read back from the cache through `parse`, so a cached value is as valid as a parsed one
        #[derive(Debug, Clone, PartialEq, Eq, Hash, sqlx::Type, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String")]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = SlugError;
            fn try_from(input: String) -> Result<Self, SlugError> {
                Self::parse(&input)
            }
        }

        impl $name {
            pub fn parse(input: &str) -> Result<Self, SlugError> {
                if is_slug(input) { Ok(Self(input.to_string())) } else { Err(SlugError) }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_type!(
    /// A course's URL name: `/courses/{slug}`.
    CourseSlug
);
slug_type!(
    /// A category's URL name: `/courses?category={slug}`.
    CategorySlug
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lower_case_hyphenated_names() {
        assert!(CourseSlug::parse("rust-for-beginners-2").is_ok());
        assert!(CategorySlug::parse("data").is_ok());
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "Rust",
            "rust--x",
            "-rust",
            "rust-",
            "rust_x",
            "ünï",
            "a/b",
            &"a".repeat(121),
        ] {
            assert_eq!(CourseSlug::parse(bad), Err(SlugError), "{bad:?}");
        }
    }

    #[test]
    fn slugify_makes_a_valid_slug_start() {
        assert_eq!(
            slugify("Rust: Zero to Production!"),
            "rust-zero-to-production"
        );
        assert_eq!(slugify("  C++ & Ünïcode  "), "c-n-code");
        let long = slugify(&"word ".repeat(100));
        assert!(CourseSlug::parse(&format!("{long}-123456")).is_ok());
    }
}
