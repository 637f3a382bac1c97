//! Text as people type it. Whatever crosses the edge as free text (a search, a course's title, a
//! name) passes through here once, and is refused when it holds what no keyboard types: control
//! characters (C0, DEL and C1). PostgreSQL refuses a NUL in `text` with an error, a log line or a
//! header would carry a line break further than it should, and none of them belongs in a page.

/// A control character in text that may not hold one.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("remove the control characters (such as a NUL or a line break) from it")]
pub struct ControlCharacter;

/// One line of text: no control character at all, not even a tab or a line break.
pub fn line(input: &str) -> Result<&str, ControlCharacter> {
    if input.chars().any(char::is_control) {
        Err(ControlCharacter)
    } else {
        Ok(input)
    }
}

/// Paragraphs, as a `<textarea>` sends them: line breaks (CR LF or LF, kept as LF) and tabs are
/// text here; every other control character is refused.
pub fn paragraphs(input: &str) -> Result<String, ControlCharacter> {
    let text = input.replace("\r\n", "\n");
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        Err(ControlCharacter)
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_refuses_every_control_character() {
        assert_eq!(line("Rust für alle — 入門"), Ok("Rust für alle — 入門"));
        for control in [
            '\0', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}',
        ] {
            assert_eq!(line(&format!("rust{control}course")), Err(ControlCharacter));
        }
    }

    #[test]
    fn paragraphs_keep_line_breaks_and_tabs_only() {
        assert_eq!(
            paragraphs("one\r\ntwo\n\tthree"),
            Ok("one\ntwo\n\tthree".to_string())
        );
        assert_eq!(paragraphs("a lone\rreturn"), Err(ControlCharacter));
        assert_eq!(paragraphs("nul\0byte"), Err(ControlCharacter));
        assert_eq!(paragraphs("escape\u{1b}[31m"), Err(ControlCharacter));
    }
}
