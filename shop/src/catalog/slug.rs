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

/// Room left after a slug's start for what makes it unique (`-2`, or `-` and a random suffix).
const SUFFIX_ROOM: usize = 12;
/// Numbered candidates tried before random ones: `rust`, `rust-2` … `rust-5`.
const NUMBERED: usize = 5;
/// Random candidates tried after those; 36⁶ suffixes make a clash of all of them practically impossible.
const RANDOM: usize = 8;
const RANDOM_LEN: usize = 6;

/// Turns a title into the start of a slug: `"Rust: Zero to Production!"` → `"rust-zero-to-production"`.
/// Letters outside ASCII are transliterated first (`"Ünïcode"` → `"unicode"`, `"Ελληνικά"` →
/// `"ellenika"`, kana and kanji to their readings), so titles in any script get a readable slug;
/// one with nothing to transliterate (emoji alone, punctuation) becomes `"course"`.
pub fn slugify(title: &str) -> String {
    let ascii = deunicode::deunicode(title);
    let mut slug = String::with_capacity(ascii.len());
    for c in ascii.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let cut = slug.len().min(MAX_SLUG_LEN - SUFFIX_ROOM);
    // ASCII by now, so any byte index is a character boundary
    match slug[..cut].trim_end_matches('-') {
        "" => "course".to_string(),
        slug => slug.to_string(),
    }
}

/// The slugs to try, in order, for a new course whose title gives `base` (from `slugify`): the
/// base itself, then numbered, then with a short random suffix, so that however many courses share
/// a title (every title in a script with no transliteration gives `course`), one is always free.
pub fn slug_candidates(base: &str) -> impl Iterator<Item = String> + '_ {
    let numbered = (1..=NUMBERED).map(move |n| match n {
        1 => base.to_string(),
        n => format!("{base}-{n}"),
    });
    let random = (0..RANDOM).filter_map(move |_| Some(format!("{base}-{}", random_suffix()?)));
    numbered.chain(random)
}

/// Lower-case letters and digits from the operating system's randomness (none if it has none to
/// give, which leaves only the numbered candidates).
fn random_suffix() -> Option<String> {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; RANDOM_LEN];
    getrandom::fill(&mut bytes).ok()?;
    Some(
        bytes
            .iter()
            .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]))
            .collect(),
    )
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
        assert_eq!(slugify("  C++ & Ünïcode  "), "c-unicode");
        let long = slugify(&"word ".repeat(100));
        assert!(CourseSlug::parse(&format!("{long}-123456")).is_ok());
    }

    #[test]
    fn titles_in_any_script_get_a_readable_slug() {
        for title in [
            "データベース入門",
            "Βάσεις δεδομένων",
            "Базы данных",
            "数据库",
        ] {
            let slug = slugify(title);
            assert!(CourseSlug::parse(&slug).is_ok(), "{title} → {slug}");
            assert_ne!(slug, "course", "{title} was not transliterated");
        }
        assert_eq!(slugify("🦀🦀"), "crab-crab");
        assert_eq!(slugify("!!! ???"), "course");
        assert_eq!(slugify(""), "course");
    }

    #[test]
    fn candidates_never_run_out_and_are_all_valid() {
        let candidates: Vec<String> = slug_candidates("course").collect();
        assert_eq!(candidates[..3], ["course", "course-2", "course-3"]);
        assert_eq!(candidates.len(), NUMBERED + RANDOM);
        let random = &candidates[NUMBERED..];
        for candidate in &candidates {
            assert!(CourseSlug::parse(candidate).is_ok(), "{candidate}");
        }
        let distinct: std::collections::HashSet<_> = random.iter().collect();
        assert_eq!(distinct.len(), RANDOM, "random suffixes repeat: {random:?}");
        let longest = slugify(&"word ".repeat(100));
        assert!(slug_candidates(&longest).all(|slug| CourseSlug::parse(&slug).is_ok()));
    }
}
