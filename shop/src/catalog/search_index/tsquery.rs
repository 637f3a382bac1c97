//! A search as PostgreSQL understood it: the text form of `websearch_to_tsquery('english', …)`,
//! read back into a tree the in-memory index can answer.
//!
//! PostgreSQL stays the one that turns words into lexemes (its parser, stop words and stemmer), so
//! both ways of searching agree on what a word is; this reads only its output, e.g.
//! `'rust' & !'beginn' | 'kafka'`. Phrases (`<->`, from quoted words) need word positions, which the
//! index does not keep: such a search is answered by PostgreSQL.

/// A tsquery the index can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Courses holding this lexeme.
    Lexeme(String),
    And(Box<Match>, Box<Match>),
    Or(Box<Match>, Box<Match>),
    Not(Box<Match>),
}

/// Why a tsquery is left to PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unanswerable {
    /// Quoted words: a phrase needs positions (or weights and prefixes, which the shop's searches
    /// do not produce).
    #[error("the search needs word positions or weights")]
    NeedsPositions,
    /// Only stop words ("the", "and"): PostgreSQL matches nothing for it and says so.
    #[error("the search holds no word")]
    Empty,
    /// Text this reader does not know: PostgreSQL answers it rather than this guessing.
    #[error("unexpected tsquery text at byte {0}")]
    Unreadable(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lexeme(String),
    And,
    Or,
    Not,
    Open,
    Close,
    Phrase,
}

/// Reads tsquery text in PostgreSQL's output form. Precedence as PostgreSQL's: `!`, then the phrase
/// operators, then `&`, then `|`.
pub fn parse(text: &str) -> Result<Match, Unanswerable> {
    let tokens = tokens(text)?;
    if tokens.is_empty() {
        return Err(Unanswerable::Empty);
    }
    if tokens.contains(&Token::Phrase) {
        return Err(Unanswerable::NeedsPositions);
    }
    let mut reader = Reader {
        tokens: &tokens,
        at: 0,
    };
    let tree = reader.or()?;
    if reader.at != tokens.len() {
        return Err(Unanswerable::Unreadable(reader.at));
    }
    Ok(tree)
}

fn tokens(text: &str) -> Result<Vec<Token>, Unanswerable> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b' ' => at += 1,
            b'&' => {
                tokens.push(Token::And);
                at += 1;
            }
            b'|' => {
                tokens.push(Token::Or);
                at += 1;
            }
            b'!' => {
                tokens.push(Token::Not);
                at += 1;
            }
            b'(' => {
                tokens.push(Token::Open);
                at += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                at += 1;
            }
            // `<->` or `<N>`
            b'<' => {
                let end = text[at..].find('>').ok_or(Unanswerable::Unreadable(at))?;
                tokens.push(Token::Phrase);
                at += end + 1;
            }
            b'\'' => {
                let (lexeme, next) = quoted(text, at)?;
                // `:*` (prefix) or `:AB` (weights) after a lexeme: not what the index holds
                if bytes.get(next) == Some(&b':') {
                    return Err(Unanswerable::NeedsPositions);
                }
                tokens.push(Token::Lexeme(lexeme));
                at = next;
            }
            _ => return Err(Unanswerable::Unreadable(at)),
        }
    }
    Ok(tokens)
}

/// The lexeme quoted at `start` (a quote written `''`, a backslash `\\`) and where it ends.
fn quoted(text: &str, start: usize) -> Result<(String, usize), Unanswerable> {
    let mut lexeme = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((offset, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => lexeme.push(escaped),
                None => return Err(Unanswerable::Unreadable(start + 1 + offset)),
            },
            '\'' => {
                let after = start + 1 + offset + 1;
                if text[after..].starts_with('\'') {
                    lexeme.push('\'');
                    chars.next();
                } else {
                    return Ok((lexeme, after));
                }
            }
            c => lexeme.push(c),
        }
    }
    Err(Unanswerable::Unreadable(start))
}

struct Reader<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Reader<'_> {
    fn next_is(&mut self, token: &Token) -> bool {
        if self.tokens.get(self.at) == Some(token) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Match, Unanswerable> {
        let mut tree = self.and()?;
        while self.next_is(&Token::Or) {
            tree = Match::Or(Box::new(tree), Box::new(self.and()?));
        }
        Ok(tree)
    }

    fn and(&mut self) -> Result<Match, Unanswerable> {
        let mut tree = self.unary()?;
        while self.next_is(&Token::And) {
            tree = Match::And(Box::new(tree), Box::new(self.unary()?));
        }
        Ok(tree)
    }

    fn unary(&mut self) -> Result<Match, Unanswerable> {
        if self.next_is(&Token::Not) {
            return Ok(Match::Not(Box::new(self.unary()?)));
        }
        if self.next_is(&Token::Open) {
            let tree = self.or()?;
            return if self.next_is(&Token::Close) {
                Ok(tree)
            } else {
                Err(Unanswerable::Unreadable(self.at))
            };
        }
        match self.tokens.get(self.at) {
            Some(Token::Lexeme(lexeme)) => {
                self.at += 1;
                Ok(Match::Lexeme(lexeme.clone()))
            }
            _ => Err(Unanswerable::Unreadable(self.at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(lexeme: &str) -> Box<Match> {
        Box::new(Match::Lexeme(lexeme.to_string()))
    }

    #[test]
    fn reads_words_and_operators_with_postgres_precedence() {
        assert_eq!(
            parse("'rust' & !'beginn' | 'kafka'"),
            Ok(Match::Or(
                Box::new(Match::And(
                    word("rust"),
                    Box::new(Match::Not(word("beginn")))
                )),
                word("kafka"),
            ))
        );
        assert_eq!(
            parse("( 'a' | 'b' ) & 'c'"),
            Ok(Match::And(
                Box::new(Match::Or(word("a"), word("b"))),
                word("c")
            ))
        );
    }

    #[test]
    fn reads_quotes_and_backslashes_inside_a_lexeme() {
        assert_eq!(parse(r"'o''neil'"), Ok(Match::Lexeme("o'neil".into())));
        assert_eq!(parse(r"'a\\b'"), Ok(Match::Lexeme(r"a\b".into())));
        assert_eq!(parse("'naïve'"), Ok(Match::Lexeme("naïve".into())));
    }

    #[test]
    fn leaves_phrases_prefixes_and_empty_searches_to_postgres() {
        assert_eq!(
            parse("'machin' <-> 'learn'"),
            Err(Unanswerable::NeedsPositions)
        );
        assert_eq!(parse("'a' <2> 'b'"), Err(Unanswerable::NeedsPositions));
        assert_eq!(parse("'rust':*"), Err(Unanswerable::NeedsPositions));
        assert_eq!(parse(""), Err(Unanswerable::Empty));
    }

    #[test]
    fn refuses_what_it_cannot_read_without_panicking() {
        for text in [
            "'open", "&", "'a' &", "( 'a'", "'a' )", "!!", "<", "'a' 'b'", "'\\", "x", "'a' & (",
        ] {
            assert!(parse(text).is_err(), "{text:?} was read");
        }
        // every prefix of a valid query, cut anywhere (also inside a multi-byte character)
        let valid = "( 'ü''x' | !'b' ) & 'c\\\\d'";
        for end in 0..=valid.len() {
            if let Some(prefix) = valid.get(..end) {
                let _ = parse(prefix);
            }
        }
    }
}
