//! Reading a URL's query string into a typed value, refusing what cannot be read.

use actix_web::web::Query;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Deserializes `query_string`, answering 400 for malformed percent-encoding or text that is not
/// UTF-8 (which the usual decoder would quietly turn into `�` and search for).
pub fn parse<T: DeserializeOwned>(query_string: &str) -> Result<T, AppError> {
    let malformed = || AppError::BadRequest("The address's query string is malformed.".to_string());
    if !decodes_to_utf8(query_string) {
        return Err(malformed());
    }
    Query::<T>::from_query(query_string)
        .map(Query::into_inner)
        .map_err(|_| malformed())
}

fn decodes_to_utf8(query_string: &str) -> bool {
    let bytes = query_string.as_bytes();
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
    use super::decodes_to_utf8;

    #[test]
    fn accepts_encoded_utf8_and_refuses_broken_encodings() {
        assert!(decodes_to_utf8("q=caf%C3%A9+cr%C3%A8me&page=2"));
        assert!(decodes_to_utf8(""));
        assert!(!decodes_to_utf8("q=%FF%FE"));
        assert!(!decodes_to_utf8("q=%C3"));
        assert!(!decodes_to_utf8("q=%zz"));
        assert!(!decodes_to_utf8("q=%4"));
    }
}
