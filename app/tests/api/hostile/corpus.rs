//! The hostile values, as one table. Each case is named for what it probes; each is kept both as
//! the text a field would hold (when it is text at all) and percent-encoded, ready for a query
//! string, a form body or a path segment.

/// What a percent-encoded value decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Well-formed escapes of valid UTF-8.
    Text(String),
    /// Well-formed escapes of bytes that are not UTF-8 (`%ff%fe`, a lone surrogate): a decoder
    /// that "repairs" them stores `�`, which is not what was sent.
    NotUtf8,
    /// Not even well-formed (`%`, `%zz`): no browser sends this.
    BadEscape,
}

#[derive(Debug, Clone)]
pub struct Hostile {
    pub name: String,
    pub decoded: Decoded,
    /// Every byte outside `A-Za-z0-9-._~` escaped (or the raw escapes of a malformed case).
    pub encoded: String,
}

/// Percent-encodes every byte but the unreserved ones: valid in a path segment, a query value and
/// a form body alike (a space is `%20`, never `+`, so it means the same in all three).
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode(encoded: &str) -> Decoded {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match byte {
                Some(byte) => out.push(byte),
                None => return Decoded::BadEscape,
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_or(Decoded::NotUtf8, Decoded::Text)
}

impl Hostile {
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> Hostile {
        let text = text.into();
        Hostile {
            name: name.into(),
            encoded: encode(&text),
            decoded: Decoded::Text(text),
        }
    }

    /// A case written as the escapes a client sends, e.g. bytes that are not UTF-8.
    pub fn escaped(name: impl Into<String>, encoded: &str) -> Hostile {
        Hostile {
            name: name.into(),
            decoded: decode(encoded),
            encoded: encoded.to_string(),
        }
    }

    /// The text, when it is text.
    pub fn as_text(&self) -> Option<&str> {
        match &self.decoded {
            Decoded::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Holds a control character (C0, DEL or C1), which no keyboard types into a one-line field.
    pub fn has_control(&self) -> bool {
        self.as_text()
            .is_some_and(|text| text.chars().any(char::is_control))
    }

    /// Holds a control character other than the tab and line breaks a `<textarea>` may send.
    pub fn has_control_beyond_paragraphs(&self) -> bool {
        self.as_text().is_some_and(|text| {
            text.replace("\r\n", "\n")
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        })
    }

    /// Decodes to something other than UTF-8 text.
    pub fn not_text(&self) -> bool {
        self.decoded == Decoded::NotUtf8
    }

    /// Empty or whitespace only: a field left blank.
    pub fn is_blank(&self) -> bool {
        self.as_text().is_some_and(|text| text.trim().is_empty())
    }

    /// Longer than `chars` characters.
    pub fn longer_than(&self, chars: usize) -> bool {
        self.as_text()
            .is_some_and(|text| text.chars().count() > chars)
    }

    /// The same attack inside an otherwise valid value (a title long enough, an email's shape),
    /// so a length or shape rule cannot hide what the value itself does.
    pub fn inside(&self, before: &str, after: &str) -> Hostile {
        Hostile {
            name: self.name.clone(),
            decoded: match &self.decoded {
                Decoded::Text(text) => Decoded::Text(format!("{before}{text}{after}")),
                other => other.clone(),
            },
            encoded: format!("{}{}{}", encode(before), self.encoded, encode(after)),
        }
    }
}

/// Over the shop's 64 KiB form limit on its own.
pub const HUGE: usize = 100 * 1024;

/// Every hostile value. Control characters sit inside a word, so a rule that only trims the ends
/// does not pass for one that refuses them.
pub fn corpus() -> Vec<Hostile> {
    let mut cases = vec![
        Hostile::text("NUL alone", "\0"),
        Hostile::text("NUL inside a word", "rust\0course"),
    ];
    for c in (0x01..=0x1f_u32).chain([0x7f]).chain(0x80..=0x9f) {
        let kind = match c {
            0x7f => "DEL",
            0x80.. => "C1 control",
            _ => "C0 control",
        };
        let c = char::from_u32(c).expect("a control character is a char");
        cases.push(Hostile::text(
            format!("{kind} U+{:04X} inside a word", c as u32),
            format!("rust{c}course"),
        ));
    }
    cases.extend([
        Hostile::text(
            "CR LF header injection",
            "x\r\nSet-Cookie: injected=1\r\nX-Injected: 1",
        ),
        Hostile::text("LF header injection", "x\nX-Injected: 1"),
        Hostile::text("trailing line break", "rust\n"),
        Hostile::text("100 KiB value", "a".repeat(HUGE)),
        Hostile::text("10 KiB value", "a".repeat(10 * 1024)),
        Hostile::escaped("invalid UTF-8 %ff%fe", "%ff%fe"),
        Hostile::escaped("encoded lone surrogate %ed%a0%80", "%ed%a0%80"),
        Hostile::escaped("overlong NUL %c0%80", "%c0%80"),
        Hostile::escaped("truncated UTF-8 %e3%81", "%e3%81"),
        Hostile::escaped("bare percent sign", "%"),
        Hostile::escaped("bad escape %zz", "%zz"),
        Hostile::text("right-to-left override", "\u{202E}gnp.exe\u{202C}"),
        Hostile::text("bidi isolate", "\u{2066}rust\u{2069}"),
        Hostile::text(
            "zero-width characters",
            "ru\u{200B}st\u{200C}\u{200D}\u{FEFF}",
        ),
        Hostile::text("SQL quote", "' OR 1=1 --"),
        Hostile::text("SQL statement", "'; DROP TABLE users; --"),
        Hostile::text("SQL double quote", "\" OR \"\"=\""),
        Hostile::text("LIKE percent", "%"),
        Hostile::text("LIKE underscore", "_"),
        Hostile::text("LIKE pattern", "%_%"),
        Hostile::text("full-text operators", "rust & !(go | :*)"),
        Hostile::text("script tag", "<script>alert(1)</script>"),
        Hostile::text("attribute breakout", "\"><img src=x onerror=alert(1)>"),
        Hostile::text("path traversal", "../../etc/passwd"),
        Hostile::text("backslash traversal", "..\\..\\windows\\win.ini"),
        Hostile::escaped("encoded traversal", "%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
        Hostile::escaped("double-encoded traversal", "%252e%252e%252f"),
        Hostile::text("negative number", "-1"),
        Hostile::text("zero", "0"),
        Hostile::text("i64 overflow", "9223372036854775808"),
        Hostile::text("i64 underflow", "-9223372036854775809"),
        Hostile::text("float overflow", "1e309"),
        Hostile::text("hex number", "0x10"),
        Hostile::text("not a number", "NaN"),
        Hostile::text("fraction", "1.5"),
        Hostile::text("plus sign", "+1"),
        Hostile::text("empty", ""),
        Hostile::text("spaces only", "   "),
        Hostile::text("ideographic space only", "\u{3000}"),
        Hostile::text("non-ASCII letters", "データベース入門"),
        Hostile::text("emoji", "🦀"),
        Hostile::text("replacement character", "\u{FFFD}"),
        Hostile::text("noncharacter U+FFFF", "\u{FFFF}"),
        Hostile::text("private use U+E000", "\u{E000}"),
    ]);
    cases
}

/// The corpus without one case per control character: the C0 and C1 controls as two values. Each
/// control character is tried on its own where free text is read (the search, a course's title,
/// summary and description, a display name, a slug, the cart's course, paths); fields with a closed
/// set of values, secrets and tokens, and forms read by the same rules a second time, get this, so
/// the suite stays fast (a password field costs a hash per accepted value).
pub fn compact() -> Vec<Hostile> {
    let c0: String = (0x01..=0x1f_u8).map(char::from).collect();
    let c1: String = (0x80..=0x9f_u32).filter_map(char::from_u32).collect();
    let mut cases = vec![
        Hostile::text("every C0 control", format!("rust{c0}course")),
        Hostile::text("every C1 control", format!("rust{c1}course")),
    ];
    cases.extend(
        corpus()
            .into_iter()
            .filter(|case| !case.name.contains(" U+00")),
    );
    cases
}

#[test]
fn the_corpus_holds_what_issue_13_lists() {
    let cases = corpus();
    let controls = cases.iter().filter(|case| case.has_control()).count();
    // NUL twice, 31 C0, DEL, 32 C1, and the three line-break cases
    assert_eq!(controls, 2 + 31 + 1 + 32 + 3);
    assert!(cases.iter().any(|case| case.not_text()));
    let names: std::collections::HashSet<&str> =
        cases.iter().map(|case| case.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "each case has a name of its own");
    assert_eq!(
        decode("%2e%2e%2f"),
        Decoded::Text("../".to_string()),
        "escapes decode"
    );
    assert_eq!(encode("a b/\0"), "a%20b%2F%00");
}
