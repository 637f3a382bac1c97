//! The published catalog as an inverted index in memory: for each lexeme, the courses holding it
//! (in the whole course and in its title), and for each course what filters and sorts read.
//!
//! Courses live in slots numbered in the order they were indexed. A changed course gets a new slot
//! and its old one is marked gone, so every lexeme's slot list only ever grows at its end and stays
//! sorted; the whole index is built again once gone slots are a quarter of it.

use std::collections::HashMap;

use super::tsquery::Match;
use crate::catalog::Level;
use crate::catalog::query::Sort;
use crate::ids::CourseId;

/// What the index keeps of one published course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedCourse {
    pub id: CourseId,
    /// Microseconds since the epoch: newest first.
    pub created_at: i64,
    pub price_cents: i64,
    pub level: Level,
    pub category_id: i64,
    /// `tsvector_to_array(search)`: the course's lexemes (title, summary, description).
    pub lexemes: Vec<String>,
    /// `tsvector_to_array(title_search)`.
    pub title_lexemes: Vec<String>,
}

/// Filters of a search, resolved to what the index holds.
#[derive(Debug, Clone, Copy)]
pub struct Filters {
    pub category_id: Option<i64>,
    pub level: Option<Level>,
}

/// One page of matches and how many there are.
#[derive(Debug, PartialEq, Eq)]
pub struct Hits {
    pub page: Vec<CourseId>,
    pub total: usize,
}

struct Slot {
    id: CourseId,
    created_at: i64,
    price_cents: i64,
    level: Level,
    category_id: i64,
}

#[derive(Default)]
pub struct Postings {
    slots: Vec<Slot>,
    /// One bit a slot: the slot is the course's current version.
    live: Bits,
    current: HashMap<CourseId, u32>,
    lexemes: HashMap<Box<str>, u32>,
    /// By lexeme number: the slots whose course holds it, ascending.
    in_course: Vec<Vec<u32>>,
    in_title: Vec<Vec<u32>>,
}

impl Postings {
    /// Adds or replaces a published course.
    pub fn upsert(&mut self, course: IndexedCourse) {
        self.remove(course.id);
        let Ok(slot) = u32::try_from(self.slots.len()) else {
            return;
        };
        for lexeme in &course.lexemes {
            let number = self.lexeme_number(lexeme);
            self.in_course[number].push(slot);
        }
        for lexeme in &course.title_lexemes {
            let number = self.lexeme_number(lexeme);
            self.in_title[number].push(slot);
        }
        self.slots.push(Slot {
            id: course.id,
            created_at: course.created_at,
            price_cents: course.price_cents,
            level: course.level,
            category_id: course.category_id,
        });
        self.live.grow(self.slots.len());
        self.live.set(slot as usize);
        self.current.insert(course.id, slot);
    }

    /// Takes a course out (unpublished, or about to be indexed again).
    pub fn remove(&mut self, id: CourseId) {
        if let Some(slot) = self.current.remove(&id) {
            self.live.clear(slot as usize);
        }
    }

    pub fn courses(&self) -> usize {
        self.current.len()
    }

    /// Whether gone slots are a quarter of all: time to build the index again.
    pub fn worn(&self) -> bool {
        self.slots.len() > 1000 && self.slots.len() - self.current.len() > self.slots.len() / 4
    }

    fn lexeme_number(&mut self, lexeme: &str) -> usize {
        if let Some(&number) = self.lexemes.get(lexeme) {
            return number as usize;
        }
        let number = self.in_course.len();
        self.lexemes
            .insert(lexeme.into(), u32::try_from(number).unwrap_or(u32::MAX));
        self.in_course.push(Vec::new());
        self.in_title.push(Vec::new());
        number
    }

    /// The courses matching `query` in the whole course (or only in the title).
    fn matching(&self, query: &Match, title: bool) -> Bits {
        match query {
            Match::Lexeme(lexeme) => {
                let mut bits = Bits::with_len(self.slots.len());
                if let Some(&number) = self.lexemes.get(lexeme.as_str()) {
                    let lists = if title {
                        &self.in_title
                    } else {
                        &self.in_course
                    };
                    for &slot in &lists[number as usize] {
                        bits.set(slot as usize);
                    }
                }
                bits
            }
            Match::And(left, right) => {
                let mut bits = self.matching(left, title);
                bits.and(&self.matching(right, title));
                bits
            }
            Match::Or(left, right) => {
                let mut bits = self.matching(left, title);
                bits.or(&self.matching(right, title));
                bits
            }
            Match::Not(inner) => {
                let mut bits = self.matching(inner, title);
                bits.not_within(&self.live);
                bits
            }
        }
    }

    /// The page of `query`'s matches at `offset` in `sort` order, and how many match: the order and
    /// tie-breaks of the PostgreSQL queries (best match: every word in the title first, then newest).
    pub fn search(
        &self,
        query: &Match,
        filters: Filters,
        sort: Sort,
        offset: usize,
        limit: usize,
    ) -> Hits {
        let mut matches = self.matching(query, false);
        matches.and(&self.live);
        let in_title = match sort {
            Sort::Relevance => Some(self.matching(query, true)),
            _ => None,
        };
        let mut hits: Vec<(bool, &Slot)> = matches
            .ones()
            .map(|slot| {
                let title = in_title.as_ref().is_some_and(|bits| bits.get(slot));
                (title, &self.slots[slot])
            })
            .filter(|(_, course)| {
                filters
                    .category_id
                    .is_none_or(|id| course.category_id == id)
                    && filters.level.is_none_or(|level| course.level == level)
            })
            .collect();
        let total = hits.len();
        let order = |a: &(bool, &Slot), b: &(bool, &Slot)| {
            let ((a_title, a), (b_title, b)) = (a, b);
            match sort {
                Sort::Relevance => b_title
                    .cmp(a_title)
                    .then(b.created_at.cmp(&a.created_at))
                    .then(b.id.0.cmp(&a.id.0)),
                Sort::Newest => b.created_at.cmp(&a.created_at).then(b.id.0.cmp(&a.id.0)),
                Sort::PriceLowToHigh => a.price_cents.cmp(&b.price_cents).then(a.id.0.cmp(&b.id.0)),
                Sort::PriceHighToLow => b.price_cents.cmp(&a.price_cents).then(b.id.0.cmp(&a.id.0)),
            }
        };
        // only the first `offset + limit` need their order: select them, then sort those
        let wanted = (offset + limit).min(total);
        if wanted < total && wanted > 0 {
            hits.select_nth_unstable_by(wanted - 1, order);
        }
        hits.truncate(wanted);
        hits.sort_unstable_by(order);
        Hits {
            page: hits
                .into_iter()
                .skip(offset)
                .map(|(_, course)| course.id)
                .collect(),
            total,
        }
    }
}

/// A set of slots, one bit each.
#[derive(Default, Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn with_len(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)])
    }

    fn grow(&mut self, len: usize) {
        self.0.resize(len.div_ceil(64), 0);
    }

    fn set(&mut self, at: usize) {
        self.0[at / 64] |= 1 << (at % 64);
    }

    fn clear(&mut self, at: usize) {
        self.0[at / 64] &= !(1 << (at % 64));
    }

    fn get(&self, at: usize) -> bool {
        self.0
            .get(at / 64)
            .is_some_and(|word| word & (1 << (at % 64)) != 0)
    }

    fn and(&mut self, other: &Bits) {
        for (word, other) in self.0.iter_mut().zip(&other.0) {
            *word &= other;
        }
    }

    fn or(&mut self, other: &Bits) {
        for (word, other) in self.0.iter_mut().zip(&other.0) {
            *word |= other;
        }
    }

    /// The slots of `within` not in this set.
    fn not_within(&mut self, within: &Bits) {
        for (word, within) in self.0.iter_mut().zip(&within.0) {
            *word = !*word & within;
        }
    }

    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(index, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(index * 64 + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::search_index::tsquery::parse;

    fn course(
        id: i64,
        created_at: i64,
        price: i64,
        title: &[&str],
        rest: &[&str],
    ) -> IndexedCourse {
        IndexedCourse {
            id: CourseId(id),
            created_at,
            price_cents: price,
            level: if id % 2 == 0 {
                Level::Beginner
            } else {
                Level::Advanced
            },
            category_id: id % 3,
            lexemes: title
                .iter()
                .chain(rest)
                .map(|word| word.to_string())
                .collect(),
            title_lexemes: title.iter().map(|word| word.to_string()).collect(),
        }
    }

    fn ids(hits: &Hits) -> Vec<i64> {
        hits.page.iter().map(|id| id.0).collect()
    }

    const ALL: Filters = Filters {
        category_id: None,
        level: None,
    };

    fn catalog() -> Postings {
        let mut postings = Postings::default();
        postings.upsert(course(1, 10, 500, &["rust"], &["web"]));
        postings.upsert(course(2, 20, 300, &["web"], &["rust"]));
        postings.upsert(course(3, 30, 900, &["rust", "web"], &[]));
        postings.upsert(course(4, 40, 300, &["kafka"], &["beginn"]));
        postings
    }

    #[test]
    fn best_match_puts_title_matches_first_then_newest() {
        let query = parse("'rust' & 'web'").expect("a query");
        let hits = catalog().search(&query, ALL, Sort::Relevance, 0, 10);
        assert_eq!(ids(&hits), [3, 2, 1]);
        assert_eq!(hits.total, 3);
    }

    #[test]
    fn sorts_and_pages_with_the_database_tie_breaks() {
        let query = parse("'rust' | 'kafka'").expect("a query");
        let postings = catalog();
        assert_eq!(
            ids(&postings.search(&query, ALL, Sort::PriceLowToHigh, 0, 10)),
            [2, 4, 1, 3]
        );
        assert_eq!(
            ids(&postings.search(&query, ALL, Sort::PriceHighToLow, 1, 2)),
            [1, 4]
        );
        assert_eq!(ids(&postings.search(&query, ALL, Sort::Newest, 3, 2)), [1]);
    }

    #[test]
    fn negation_filters_and_changes() {
        let mut postings = catalog();
        let query = parse("!'kafka'").expect("a query");
        let beginners = Filters {
            category_id: None,
            level: Some(Level::Beginner),
        };
        assert_eq!(
            ids(&postings.search(&query, beginners, Sort::Newest, 0, 10)),
            [2]
        );
        // course 2 edited: no longer about rust; course 1 unpublished
        postings.upsert(course(2, 20, 300, &["web"], &[]));
        postings.remove(CourseId(1));
        let rust = parse("'rust'").expect("a query");
        assert_eq!(ids(&postings.search(&rust, ALL, Sort::Newest, 0, 10)), [3]);
        assert_eq!(postings.search(&query, ALL, Sort::Newest, 0, 10).total, 2);
        assert_eq!(postings.courses(), 3);
    }
}
