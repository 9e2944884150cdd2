//! Integers as Redis stores them in strings and sets: only the canonical decimal form counts as a number.

/// Parses an integer written in canonical form only, as Redis' `string2ll`: no sign on zero, no leading zeros,
/// no `+`, no spaces. Stored strings must be canonical for INCR to treat them as numbers.
pub fn canonical_i64(b: &[u8]) -> Option<i64> {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if digits.first() == Some(&b'0') && (digits.len() > 1 || b.len() > 1) {
        return None;
    }
    crate::protocol::resp::parse_i64(b)
}
