//! Reading URL-encoded text, a query string or a form's body, into a typed value, refusing what
//! cannot be read. The usual decoders quietly turn a percent-encoded byte that is not UTF-8 into
//! `�`, so a search would look for it and a course title would be saved with it; here that is a
//! 400, like any other malformed input.

use serde::de::DeserializeOwned;

use crate::error::AppError;

/// The query string of an address (`request.query_string()`).
pub fn query<T: DeserializeOwned>(query_string: &str) -> Result<T, AppError> {
    parse(query_string)
        .ok_or_else(|| AppError::BadRequest("The address's query string is malformed.".to_string()))
}

/// The body of a form posted as `application/x-www-form-urlencoded`.
pub fn form<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    std::str::from_utf8(body)
        .ok()
        .and_then(parse)
        .ok_or_else(|| AppError::BadRequest("The form could not be read.".to_string()))
}

fn parse<T: DeserializeOwned>(text: &str) -> Option<T> {
    if !decodes_to_utf8(text) {
        return None;
    }
    serde_urlencoded::from_str(text).ok()
}

/// Whether every `%XX` and `+` of `text` decodes, and the bytes they make are UTF-8.
fn decodes_to_utf8(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => decoded.push(byte),
                    None => return false,
                }
                i += 3;
            }
            byte => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::{decodes_to_utf8, form};

    #[test]
    fn accepts_encoded_utf8_and_refuses_broken_encodings() {
        assert!(decodes_to_utf8("q=caf%C3%A9+cr%C3%A8me&page=2"));
        assert!(decodes_to_utf8(""));
        assert!(!decodes_to_utf8("q=%FF%FE"));
        assert!(!decodes_to_utf8("q=%C3"));
        assert!(!decodes_to_utf8("q=%zz"));
        assert!(!decodes_to_utf8("q=%4"));
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Title {
        title: String,
    }

    #[test]
    fn a_form_body_is_refused_rather_than_mended() {
        assert_eq!(
            form::<Title>(b"title=Caf%C3%A9+au+lait").ok(),
            Some(Title {
                title: "Café au lait".to_string()
            })
        );
        assert!(form::<Title>(b"title=%FF%FE").is_err());
        assert!(form::<Title>(b"title=\xff\xfe").is_err());
    }
}
