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

/// An order (`orders.id`): 64 bits that sort by time and name the user's logical shard (see the
/// `next_order_id` migration). People see it in a short readable form: `OrderId::readable`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct OrderId(pub i64);

/// Crockford's base 32: no I, L, O or U, so a number read aloud or retyped is not misread.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl OrderId {
    /// `7F3K-2M9Q-XT4B`: the id in Crockford base 32, in groups of four.
    pub fn readable(self) -> String {
        let mut value = self.0 as u64;
        let mut digits = Vec::with_capacity(13);
        while value > 0 || digits.is_empty() {
            digits.push(CROCKFORD[(value % 32) as usize] as char);
            value /= 32;
        }
        let digits: String = digits.iter().rev().collect();
        digits
            .as_bytes()
            .rchunks(4)
            .rev()
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Reads the readable form back: case and hyphens do not matter, and the letters people confuse
    /// with digits (I, L, O) are read as the digits.
    pub fn parse_readable(input: &str) -> Option<OrderId> {
        let mut value: u64 = 0;
        let mut any = false;
        for c in input.chars().filter(|c| *c != '-') {
            let c = match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                c => c,
            };
            let digit = CROCKFORD.iter().position(|d| *d as char == c)? as u64;
            value = value.checked_mul(32)?.checked_add(digit)?;
            any = true;
        }
        (any && value <= i64::MAX as u64).then_some(OrderId(value as i64))
    }

    /// The logical shard of the order's user (0-1023).
    pub fn shard(self) -> i64 {
        (self.0 >> 12) & 0x3FF
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.readable())
    }
}

#[cfg(test)]
mod tests {
    use super::OrderId;

    #[test]
    fn readable_ids_round_trip() {
        for id in [0, 1, 31, 32, 123_456_789, 7_318_349_394_477_056, i64::MAX] {
            let order = OrderId(id);
            assert_eq!(
                OrderId::parse_readable(&order.readable()),
                Some(order),
                "{}",
                order.readable()
            );
            assert_eq!(
                OrderId::parse_readable(&order.readable().to_lowercase()),
                Some(order)
            );
        }
        assert_eq!(OrderId(32).readable(), "10");
        assert_eq!(OrderId(i64::MAX).readable(), "7-ZZZZ-ZZZZ-ZZZZ");
    }

    #[test]
    fn misread_letters_are_forgiven_and_junk_refused() {
        assert_eq!(OrderId::parse_readable("1O"), OrderId::parse_readable("10"));
        assert_eq!(OrderId::parse_readable("iL"), OrderId::parse_readable("11"));
        assert_eq!(OrderId::parse_readable(""), None);
        assert_eq!(OrderId::parse_readable("U"), None);
        assert_eq!(OrderId::parse_readable("ZZZZZZZZZZZZZZ"), None, "too large");
        assert_eq!(OrderId::parse_readable("12/34"), None);
    }

    #[test]
    fn the_shard_is_read_from_the_middle_bits() {
        let id = (5_000_i64 << 22) | (777 << 12) | 42;
        assert_eq!(OrderId(id).shard(), 777);
    }
}
