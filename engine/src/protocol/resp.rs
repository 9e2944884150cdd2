//! RESP request parsing.
//!
//! A client sends either a multibulk request (`*<n>\r\n` followed by `n` bulk strings `$<len>\r\n<bytes>\r\n`)
//! or an inline command (a line of space-separated words, with `"…"`/`'…'` quoting, as typed into `telnet`).
//! The parser is zero-copy: it returns the byte ranges of each argument inside the connection's read buffer, so
//! a pipelined batch is executed straight out of the buffer it arrived in. Limits follow Redis: a bulk may not
//! exceed `proto-max-bulk-len`, a multibulk may not announce more than `i32::MAX` elements, and an inline request
//! (or an unterminated length line) may not exceed 64 KiB.

use std::ops::Range;

/// Longest inline request, and longest `*<n>`/`$<n>` header line, accepted before the client is told off.
pub const INLINE_MAX: usize = 64 * 1024;

/// A protocol violation: the reply is sent and the connection is closed, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `*<n>` with a non-numeric or out-of-range `n`.
    #[error("Protocol error: invalid multibulk length")]
    MultibulkLength,
    /// `$<n>` with a non-numeric, negative or too large `n`.
    #[error("Protocol error: invalid bulk length")]
    BulkLength,
    /// A multibulk element that does not start with `$`.
    #[error("Protocol error: expected '$', got '{0}'")]
    ExpectedBulk(char),
    /// An inline request with an unterminated quote.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// An inline request longer than [`INLINE_MAX`].
    #[error("Protocol error: too big inline request")]
    InlineTooBig,
    /// A `*<n>` line longer than [`INLINE_MAX`].
    #[error("Protocol error: too big mbulk count string")]
    MbulkCountTooBig,
    /// A `$<n>` line longer than [`INLINE_MAX`].
    #[error("Protocol error: too big bulk count string")]
    BulkCountTooBig,
}

/// What the parser found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete multibulk request of `len` bytes; its arguments were pushed as ranges.
    Multibulk {
        /// Bytes consumed.
        len: usize,
    },
    /// A complete inline request of `len` bytes; its arguments (unquoted) were pushed as owned strings.
    Inline {
        /// Bytes consumed.
        len: usize,
    },
    /// An empty line or `*0`/`*-1`: consumed, nothing to execute.
    Empty {
        /// Bytes consumed.
        len: usize,
    },
    /// More bytes are needed; `hint` is the total frame size when already known (for buffer reservation).
    Incomplete {
        /// Total frame size when known, else 0.
        hint: usize,
    },
}

/// Parses one request at the start of `buf`.
///
/// Multibulk arguments are appended to `ranges` (offsets relative to `buf`), inline arguments to `inline`.
pub fn parse(
    buf: &[u8],
    max_bulk: usize,
    ranges: &mut Vec<Range<usize>>,
    inline: &mut Vec<Vec<u8>>,
) -> Result<Parsed, ProtocolError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete { hint: 0 }),
        Some(b'*') => parse_multibulk(buf, max_bulk, ranges),
        Some(_) => parse_inline(buf, inline),
    }
}

fn parse_multibulk(
    buf: &[u8],
    max_bulk: usize,
    ranges: &mut Vec<Range<usize>>,
) -> Result<Parsed, ProtocolError> {
    let start_len = ranges.len();
    let Some((count, mut pos)) = read_length_line(buf, 1, ProtocolError::MbulkCountTooBig)? else {
        return Ok(Parsed::Incomplete { hint: 0 });
    };
    let count = count.ok_or(ProtocolError::MultibulkLength)?;
    if count > i32::MAX as i64 {
        return Err(ProtocolError::MultibulkLength);
    }
    if count <= 0 {
        return Ok(Parsed::Empty { len: pos });
    }
    for _ in 0..count {
        match buf.get(pos) {
            None => {
                ranges.truncate(start_len);
                return Ok(Parsed::Incomplete { hint: 0 });
            }
            Some(b'$') => {}
            Some(&other) => return Err(ProtocolError::ExpectedBulk(other as char)),
        }
        let Some((len, after)) = read_length_line(buf, pos + 1, ProtocolError::BulkCountTooBig)?
        else {
            ranges.truncate(start_len);
            return Ok(Parsed::Incomplete { hint: 0 });
        };
        let len = match len {
            Some(n) if n >= 0 && (n as u64) <= max_bulk as u64 => n as usize,
            _ => return Err(ProtocolError::BulkLength),
        };
        let end = after + len;
        if buf.len() < end + 2 {
            ranges.truncate(start_len);
            return Ok(Parsed::Incomplete { hint: end + 2 });
        }
        ranges.push(after..end);
        pos = end + 2;
    }
    Ok(Parsed::Multibulk { len: pos })
}

/// Reads `<digits>\r\n` starting at `from`; returns the parsed number (None if malformed) and the offset after
/// the line, or `Ok(None)` when the line is not complete yet.
#[allow(clippy::type_complexity)]
fn read_length_line(
    buf: &[u8],
    from: usize,
    too_big: ProtocolError,
) -> Result<Option<(Option<i64>, usize)>, ProtocolError> {
    let rest = &buf[from.min(buf.len())..];
    let Some(cr) = memchr::memchr(b'\r', rest) else {
        if rest.len() > INLINE_MAX {
            return Err(too_big);
        }
        return Ok(None);
    };
    if cr + 1 >= rest.len() {
        return Ok(None);
    }
    Ok(Some((parse_i64(&rest[..cr]), from + cr + 2)))
}

/// Parses a decimal `i64` strictly (optional `-`, digits only, no overflow).
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub((d - b'0') as i64)?
        } else {
            v.checked_add((d - b'0') as i64)?
        };
    }
    Some(v)
}

fn parse_inline(buf: &[u8], inline: &mut Vec<Vec<u8>>) -> Result<Parsed, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::InlineTooBig);
        }
        return Ok(Parsed::Incomplete { hint: 0 });
    };
    if nl > INLINE_MAX {
        return Err(ProtocolError::InlineTooBig);
    }
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    crate::quoting::split_args(line, inline).map_err(|_| ProtocolError::UnbalancedQuotes)?;
    if inline.is_empty() {
        Ok(Parsed::Empty { len: nl + 1 })
    } else {
        Ok(Parsed::Inline { len: nl + 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(buf: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
        let mut ranges = Vec::new();
        let mut inline = Vec::new();
        let parsed = parse(buf, 512 << 20, &mut ranges, &mut inline).expect("valid");
        let mut out: Vec<Vec<u8>> = ranges.iter().map(|r| buf[r.clone()].to_vec()).collect();
        out.extend(inline);
        (parsed, out)
    }

    #[test]
    fn multibulk_request_yields_each_argument() {
        let (p, a) = args(b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n");
        assert_eq!(p, Parsed::Multibulk { len: 22 });
        assert_eq!(a, vec![b"GET".to_vec(), b"key".to_vec()]);
    }

    #[test]
    fn partial_multibulk_asks_for_more_and_keeps_nothing() {
        for cut in 1..22 {
            let buf = &b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..cut];
            let (p, a) = args(buf);
            assert!(matches!(p, Parsed::Incomplete { .. }), "cut {cut}: {p:?}");
            assert!(a.is_empty());
        }
    }

    #[test]
    fn binary_bulk_may_contain_crlf() {
        let (_, a) = args(b"*1\r\n$4\r\n\r\n\r\n\r\n");
        assert_eq!(a, vec![b"\r\n\r\n".to_vec()]);
    }

    #[test]
    fn inline_command_splits_on_spaces_and_quotes() {
        let (p, a) = args(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n");
        assert!(matches!(p, Parsed::Inline { .. }));
        assert_eq!(
            a,
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec()
            ]
        );
    }

    #[test]
    fn malformed_requests_are_rejected_with_redis_messages() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"*x\r\n", ProtocolError::MultibulkLength),
            (b"*1\r\n$-3\r\n", ProtocolError::BulkLength),
            (b"*1\r\n$abc\r\n", ProtocolError::BulkLength),
            (b"*1\r\n:1\r\n", ProtocolError::ExpectedBulk(':')),
            (b"set \"abc\r\n", ProtocolError::UnbalancedQuotes),
            (b"set \"abc\"x\r\n", ProtocolError::UnbalancedQuotes),
            (b"*99999999999\r\n", ProtocolError::MultibulkLength),
        ];
        for (buf, want) in cases {
            let mut r = Vec::new();
            let mut i = Vec::new();
            assert_eq!(
                parse(buf, 512 << 20, &mut r, &mut i),
                Err(want.clone()),
                "{buf:?}"
            );
        }
    }

    #[test]
    fn bulk_longer_than_the_limit_is_refused() {
        let mut r = Vec::new();
        let mut i = Vec::new();
        assert_eq!(
            parse(b"*1\r\n$2000\r\n", 1000, &mut r, &mut i),
            Err(ProtocolError::BulkLength)
        );
    }

    #[test]
    fn endless_inline_line_is_refused() {
        let buf = vec![b'a'; INLINE_MAX + 10];
        let mut r = Vec::new();
        let mut i = Vec::new();
        assert_eq!(
            parse(&buf, 1 << 20, &mut r, &mut i),
            Err(ProtocolError::InlineTooBig)
        );
    }

    #[test]
    fn integers_parse_strictly() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"12a"), None);
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_i64(b"-"), None);
    }
}
