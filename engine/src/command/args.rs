//! Argument parsing shared by every command: integers, floats, options, with Redis' error replies.

use super::CmdError;
use crate::protocol::resp::parse_i64;

/// Parses a 64-bit signed integer argument (`ERR value is not an integer or out of range`).
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    canonical_i64(arg).ok_or(CmdError::NotInteger)
}

/// Parses an integer written in canonical form only, as Redis' `string2ll`: no sign on zero, no leading zeros,
/// no `+`, no spaces. Stored strings must be canonical for INCR to treat them as numbers.
pub fn canonical_i64(b: &[u8]) -> Option<i64> {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if digits.first() == Some(&b'0') && (digits.len() > 1 || b.len() > 1) {
        return None;
    }
    parse_i64(b)
}

/// Parses a non-negative integer argument that must fit `usize`.
pub fn uint(arg: &[u8]) -> Result<usize, CmdError> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(CmdError::NotInteger),
    }
}

/// Parses a float argument like Redis' `strtold` use: decimal or exponent notation, `inf`/`-inf`; NaN and
/// trailing garbage are refused (`ERR value is not a valid float`).
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    let s = std::str::from_utf8(arg).map_err(|_| CmdError::NotFloat)?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Err(CmdError::NotFloat);
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        lower if lower.contains("nan") || lower.contains("inf") => return Err(CmdError::NotFloat),
        _ => s.parse().map_err(|_| CmdError::NotFloat)?,
    };
    Ok(v)
}

/// True when `arg` equals `word` ignoring ASCII case.
#[inline]
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// `ON` or `OFF` (any case) as a flag; anything else is a syntax error.
pub fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Lossy text of an argument, for error messages.
pub fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_must_be_canonical() {
        assert_eq!(int(b"0"), Ok(0));
        assert_eq!(int(b"-12"), Ok(-12));
        assert_eq!(int(b"012"), Err(CmdError::NotInteger));
        assert_eq!(int(b"-0"), Err(CmdError::NotInteger));
        assert_eq!(int(b"+1"), Err(CmdError::NotInteger));
    }

    #[test]
    fn floats_accept_redis_forms_and_reject_nan() {
        assert_eq!(float(b"1.5"), Ok(1.5));
        assert_eq!(float(b"-inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(float(b"5.0e3"), Ok(5000.0));
        assert_eq!(float(b"nan"), Err(CmdError::NotFloat));
        assert_eq!(float(b"1.5x"), Err(CmdError::NotFloat));
        assert_eq!(float(b" 1"), Err(CmdError::NotFloat));
    }
}
