//! RESP reply encoding, RESP2 and RESP3.
//!
//! Replies are written straight into the connection's output buffer, so a pipelined batch is answered with one
//! `write`. The writer knows the protocol version negotiated with `HELLO`: RESP3 types (maps, sets, doubles,
//! booleans, null, push) degrade to their RESP2 equivalents (flat arrays, bulk strings, integers, `$-1`/`*-1`)
//! exactly as Redis does.

/// The reply buffer of one connection.
#[derive(Debug, Default)]
pub struct Reply {
    /// Encoded bytes waiting to be written to the socket.
    pub buf: Vec<u8>,
    /// True once the client switched to RESP3 with `HELLO 3`.
    pub resp3: bool,
}

impl Reply {
    /// Appends `+OK\r\n`.
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// Appends a simple string `+s\r\n` (`s` must not contain CR or LF).
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Appends an error reply; `msg` starts with its code (`ERR`, `WRONGTYPE`, …). CR/LF are replaced by spaces
    /// so that a message built from user input cannot break the protocol.
    pub fn error(&mut self, msg: &str) {
        self.buf.push(b'-');
        self.buf.extend(
            msg.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Appends an integer `:n\r\n`.
    pub fn int(&mut self, n: i64) {
        self.buf.push(b':');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Appends a bulk string `$len\r\nbytes\r\n`.
    pub fn bulk(&mut self, b: &[u8]) {
        self.buf.reserve(b.len() + 16);
        self.buf.push(b'$');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(b.len()).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Appends an integer encoded as a bulk string (used by commands that reply with numbers as strings).
    pub fn bulk_int(&mut self, n: i64) {
        self.bulk(itoa::Buffer::new().format(n).as_bytes());
    }

    /// Appends a verbatim string (RESP3 `=`, RESP2 bulk) such as `INFO` output.
    pub fn verbatim(&mut self, text: &str) {
        if self.resp3 {
            self.buf.push(b'=');
            self.buf
                .extend_from_slice(itoa::Buffer::new().format(text.len() + 4).as_bytes());
            self.buf.extend_from_slice(b"\r\ntxt:");
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// Appends the null bulk string: RESP3 `_`, RESP2 `$-1`.
    pub fn null(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// Appends the null array: RESP3 `_`, RESP2 `*-1`.
    pub fn null_array(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }

    /// Appends an array header for `n` elements.
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }

    /// Appends a map header for `n` key/value pairs (RESP2: an array of `2n` elements).
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n);
        } else {
            self.header(b'*', n * 2);
        }
    }

    /// Appends a set header (RESP2: an array).
    pub fn set(&mut self, n: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, n);
    }

    /// Appends a push header (RESP3 out-of-band data; RESP2: an array).
    pub fn push(&mut self, n: usize) {
        self.header(if self.resp3 { b'>' } else { b'*' }, n);
    }

    /// Appends a double (RESP3 `,`; RESP2 a bulk string), in Redis 7.0's `%.17g` form.
    pub fn double(&mut self, d: f64) {
        let text = format_g17(d);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// Appends a boolean (RESP3 `#t`/`#f`; RESP2 the integer 1/0).
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// Appends a HELP reply: an array of simple strings.
    pub fn help(&mut self, lines: &[&str]) {
        self.array(lines.len());
        lines.iter().for_each(|l| self.simple(l));
    }

    /// Appends an array of bulk strings.
    pub fn bulks<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a [u8]>) {
        self.array(items.len());
        for item in items {
            self.bulk(item);
        }
    }

    fn header(&mut self, kind: u8, n: usize) {
        self.buf.push(kind);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }
}

/// Formats a double the way Redis replies with one: `inf`/`-inf`/`nan`, integers without a fraction, otherwise
/// the shortest representation that reads back to the same value (never in exponent form).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == d.trunc() && d.abs() < 1e17 {
        return format!("{}", d as i64);
    }
    let shortest = format!("{d}");
    let exp = format!("{d:e}");
    // `{}` never uses an exponent, which makes 1e300 three hundred digits long: use the exponent form when
    // it is shorter, like `%.17g` does for very large or very small magnitudes.
    if exp.len() + 4 < shortest.len() {
        exp.replace('e', "e+").replace("e+-", "e-")
    } else {
        shortest
    }
}

/// Formats a double like C's `printf("%.17g")`, which Redis 7.0 uses for double replies (sorted-set scores):
/// 17 significant digits, trailing zeros dropped, exponent form below 1e-4 or from 1e17 on; `inf`/`-inf`.
pub fn format_g17(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{d:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{d:.*}", (16 - exp) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_degrades_resp3_types() {
        let mut r = Reply::default();
        r.map(2);
        r.null();
        r.boolean(true);
        r.double(1.5);
        assert_eq!(r.buf, b"*4\r\n$-1\r\n:1\r\n$3\r\n1.5\r\n");
    }

    #[test]
    fn resp3_uses_native_types() {
        let mut r = Reply {
            resp3: true,
            ..Default::default()
        };
        r.map(2);
        r.null();
        r.boolean(false);
        r.double(-0.25);
        r.set(1);
        assert_eq!(r.buf, b"%2\r\n_\r\n#f\r\n,-0.25\r\n~1\r\n");
    }

    #[test]
    fn errors_cannot_inject_protocol_lines() {
        let mut r = Reply::default();
        r.error("ERR bad\r\n+OK");
        assert_eq!(r.buf, b"-ERR bad  +OK\r\n");
    }

    #[test]
    fn g17_matches_printf() {
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e300), "1.0000000000000001e+300");
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(-2.0), "-2");
        assert_eq!(format_g17(1e17), "1e+17");
        assert_eq!(format_g17(12345678901234567.0), "12345678901234568");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(0.00001), "1.0000000000000001e-05");
        assert_eq!(format_g17(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_g17(3.0e-300), "3.0000000000000002e-300");
    }

    #[test]
    fn doubles_format_like_redis() {
        assert_eq!(format_double(5200.0), "5200");
        assert_eq!(format_double(10.6), "10.6");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(-3.0e-5), "-0.00003");
        assert_eq!(format_double(1e300), "1e+300");
    }
}
