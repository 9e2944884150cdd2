//! Memcached request parsing: the text protocol (`get`, `set`, `incr`, …) and the meta protocol (`mg`, `ms`,
//! `md`, `ma`, `mn`, `me`), zero-copy.
//!
//! A request is one line ending in `\n` (a `\r` before it is dropped), split on spaces; storage commands (`set`,
//! `cas`, `ms`, …) are followed by a data block of the announced length and `\r\n`. A [`Request`] borrows its key,
//! keys and data from the read buffer; nothing is copied.
//!
//! Errors follow memcached 1.6 byte for byte, including what happens to the stream after them:
//! * an unknown command or a wrong number of tokens answers `ERROR`;
//! * a malformed storage line answers `CLIENT_ERROR bad command line format` and consumes only the line, so
//!   the data block that follows is then read as a command (answering `ERROR`), as memcached does;
//! * a data block not followed by `\r\n` answers `CLIENT_ERROR bad data chunk` after consuming the announced
//!   length plus two bytes;
//! * an item over the size limit answers `SERVER_ERROR object too large for cache` and the connection swallows
//!   the data block as it arrives, without buffering it, so the stream stays in sync;
//! * a line longer than [`LINE_MAX`] (retrieval lines: [`RETRIEVAL_LINE_MAX`]) or a binary-protocol request
//!   (first byte 0x80) closes the connection.

use memchr::memchr;

/// Longest key, in bytes.
pub const KEY_MAX: usize = 250;
/// Longest request line, except retrieval lines.
pub const LINE_MAX: usize = 2048;
/// Longest retrieval line (`get k1 k2 …`): room for thousands of keys.
pub const RETRIEVAL_LINE_MAX: usize = 4 << 20;
/// Longest meta opaque token.
pub const OPAQUE_MAX: usize = 32;
/// First byte of a binary-protocol request, which this server does not speak.
const BINARY_MAGIC: u8 = 0x80;
/// First byte of a TLS record carrying a handshake (a ClientHello sent to the plain port).
const TLS_HANDSHAKE: u8 = 0x16;

/// Canned error replies.
pub mod reply {
    /// Unknown command or wrong token count.
    pub const ERROR: &[u8] = b"ERROR\r\n";
    /// Malformed line.
    pub const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
    /// Data block not terminated by `\r\n`.
    pub const BAD_CHUNK: &[u8] = b"CLIENT_ERROR bad data chunk\r\n";
    /// Item over `max-item-size`.
    pub const TOO_LARGE: &[u8] = b"SERVER_ERROR object too large for cache\r\n";
    /// Bad exptime token.
    pub const BAD_EXPTIME: &[u8] = b"CLIENT_ERROR invalid exptime argument\r\n";
    /// Bad incr/decr delta.
    pub const BAD_DELTA: &[u8] = b"CLIENT_ERROR invalid numeric delta argument\r\n";
    /// delete with an extra argument.
    pub const DELETE_USAGE: &[u8] =
        b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
    /// Meta flag not valid for the command.
    pub const INVALID_FLAG: &[u8] = b"CLIENT_ERROR invalid flag\r\n";
    /// Meta flag given twice.
    pub const DUPLICATE_FLAG: &[u8] = b"CLIENT_ERROR duplicate flag\r\n";
    /// Meta flag token not a valid number.
    pub const BAD_TOKEN: &[u8] = b"CLIENT_ERROR bad token in command line format\r\n";
    /// Meta opaque over 32 bytes.
    pub const OPAQUE_TOO_LONG: &[u8] = b"CLIENT_ERROR opaque token too long\r\n";
    /// Line too long: the connection closes after it.
    pub const LINE_TOO_LONG: &[u8] = b"CLIENT_ERROR line too long\r\n";
}

/// Retrieval commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetOp {
    /// `get`
    Get,
    /// `gets`: with CAS uniques.
    Gets,
    /// `gat`: get and touch.
    Gat,
    /// `gats`: get and touch, with CAS uniques.
    Gats,
}

/// Storage commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// Store unconditionally.
    Set,
    /// Store only if missing.
    Add,
    /// Store only if present.
    Replace,
    /// Add data after the existing value.
    Append,
    /// Add data before the existing value.
    Prepend,
    /// Store only if the CAS unique still matches.
    Cas,
}

/// Meta commands that take a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaOp {
    /// `mg`
    Get,
    /// `ms`
    Set,
    /// `md`
    Delete,
    /// `ma`
    Arith,
    /// `me`
    Debug,
}

impl MetaOp {
    /// The flags the command accepts.
    fn allowed(self) -> &'static [u8] {
        match self {
            MetaOp::Get => b"bcfhklOqstuvENRT",
            MetaOp::Set => b"bcCEFIkOqsSTMN",
            // `c` is accepted and answers nothing, as in memcached.
            MetaOp::Delete => b"bcCEIkOqTx",
            MetaOp::Arith => b"bCENJDTMqOtcvk",
            MetaOp::Debug => b"b",
        }
    }
}

/// Space-separated tokens of a line, produced lazily (a multi-get line is never split into a vector).
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    rest: &'a [u8],
}

impl<'a> Tokens<'a> {
    /// The tokens of `line`.
    pub fn new(line: &'a [u8]) -> Tokens<'a> {
        Tokens { rest: line }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let rest = &self.rest[start..];
        let end = memchr(b' ', rest).unwrap_or(rest.len());
        self.rest = &rest[end..];
        Some(&rest[..end])
    }
}

/// A meta command's flags: letter and token, in request order.
#[derive(Debug, Clone, Default)]
pub struct MetaFlags<'a> {
    list: smallvec::SmallVec<[(u8, &'a [u8]); 8]>,
    seen: u64,
}

fn flag_bit(letter: u8) -> u64 {
    match letter {
        b'a'..=b'z' => 1 << (letter - b'a'),
        b'A'..=b'Z' => 1 << (26 + letter - b'A'),
        _ => 0,
    }
}

impl<'a> MetaFlags<'a> {
    /// True when the flag was given.
    #[inline]
    pub fn has(&self, letter: u8) -> bool {
        self.seen & flag_bit(letter) != 0
    }

    /// The token of a flag (`T30` → `30`).
    pub fn token(&self, letter: u8) -> Option<&'a [u8]> {
        self.list
            .iter()
            .find(|(l, _)| *l == letter)
            .map(|(_, t)| *t)
    }

    /// Flags and tokens in request order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &'a [u8])> + '_ {
        self.list.iter().copied()
    }
}

/// A meta command.
#[derive(Debug, Clone)]
pub struct Meta<'a> {
    /// Which command.
    pub op: MetaOp,
    /// The key token as sent (base64 when the `b` flag is given).
    pub key: &'a [u8],
    /// Flags.
    pub flags: MetaFlags<'a>,
    /// Data block of `ms` (without its `\r\n`).
    pub data: &'a [u8],
}

/// One parsed request.
#[derive(Debug, Clone)]
pub enum Request<'a> {
    /// get, gets, gat, gats.
    Get {
        /// Which command.
        op: GetOp,
        /// New exptime (gat, gats).
        exptime: i64,
        /// The keys, already checked.
        keys: Tokens<'a>,
    },
    /// set, add, replace, append, prepend, cas.
    Store {
        /// Which command.
        op: StoreOp,
        /// Key.
        key: &'a [u8],
        /// Client flags.
        flags: u32,
        /// Expiry as sent.
        exptime: i64,
        /// CAS unique to compare (cas only).
        cas: u64,
        /// The data block, without its `\r\n`.
        data: &'a [u8],
        /// No reply wanted.
        noreply: bool,
    },
    /// delete.
    Delete {
        /// Key.
        key: &'a [u8],
        /// No reply wanted.
        noreply: bool,
    },
    /// incr, decr.
    Arith {
        /// incr (true) or decr.
        incr: bool,
        /// Key.
        key: &'a [u8],
        /// Amount.
        delta: u64,
        /// No reply wanted.
        noreply: bool,
    },
    /// touch.
    Touch {
        /// Key.
        key: &'a [u8],
        /// New expiry as sent.
        exptime: i64,
        /// No reply wanted.
        noreply: bool,
    },
    /// flush_all [delay].
    FlushAll {
        /// Delay as sent (0: now).
        delay: i64,
        /// No reply wanted.
        noreply: bool,
    },
    /// version.
    Version,
    /// verbosity.
    Verbosity {
        /// No reply wanted.
        noreply: bool,
    },
    /// quit.
    Quit,
    /// `slabs …`: a fixed answer, no effect (see `slabs`).
    Slabs {
        /// The reply (empty under noreply).
        reply: &'static [u8],
    },
    /// stats [group].
    Stats {
        /// Tokens after `stats`.
        args: Tokens<'a>,
    },
    /// `config get cluster` (ElastiCache auto discovery).
    ConfigGetCluster,
    /// mn.
    MetaNoop,
    /// mg, ms, md, ma, me.
    Meta(Meta<'a>),
    /// A request refused while parsing: write `reply`, then discard the next `swallow` bytes of the stream (the
    /// data block of an item too large to buffer). `unlink` names a key to delete (a refused `set` must not
    /// leave the old value visible, as in memcached).
    Reject {
        /// Reply line (empty under noreply).
        reply: &'static [u8],
        /// Bytes to discard after the line.
        swallow: usize,
        /// Key whose old value is removed.
        unlink: Option<&'a [u8]>,
    },
}

/// Result of parsing the start of a buffer.
// A request lives on the stack for one loop iteration; boxing it would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed<'a> {
    /// A request spanning the first `len` bytes.
    Request {
        /// The request.
        req: Request<'a>,
        /// Bytes it occupies, data block included.
        len: usize,
    },
    /// More bytes are needed; `need` is the total length when already known (data blocks), else 0.
    Incomplete {
        /// Bytes the whole request needs.
        need: usize,
    },
    /// A protocol violation: write `reply` (possibly empty) and close the connection.
    Close {
        /// Last words.
        reply: &'static [u8],
    },
}

/// True for a valid key: 1 to 250 bytes, no control characters or spaces.
#[inline]
pub fn valid_key(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= KEY_MAX && key.iter().all(|&b| b > b' ' && b != 0x7f)
}

/// Parses an unsigned decimal number (digits only, as memcached's `strtoull` checks accept).
#[inline]
pub fn parse_u64(t: &[u8]) -> Option<u64> {
    if t.is_empty() || t.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in t {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(n)
}

/// Parses a signed decimal number.
#[inline]
pub fn parse_i64(t: &[u8]) -> Option<i64> {
    match t.split_first() {
        Some((b'-', digits)) => parse_u64(digits).and_then(|n| 0i64.checked_sub_unsigned(n)),
        _ => parse_u64(t).and_then(|n| i64::try_from(n).ok()),
    }
}

fn is_retrieval(line: &[u8]) -> bool {
    let line = &line[line.iter().position(|&b| b != b' ').unwrap_or(line.len())..];
    [&b"get "[..], b"gets ", b"gat ", b"gats "]
        .iter()
        .any(|p| line.starts_with(p))
}

/// Parses the request at the start of `buf`. `max_item` is the largest key + value accepted.
pub fn parse(buf: &[u8], max_item: usize) -> Parsed<'_> {
    if buf.first() == Some(&BINARY_MAGIC) {
        return Parsed::Close { reply: b"" };
    }
    // A TLS handshake on the plain port: no line will ever come.
    if buf.starts_with(&[TLS_HANDSHAKE, 3]) {
        return Parsed::Close {
            reply: reply::ERROR,
        };
    }
    let Some(nl) = memchr(b'\n', buf) else {
        let limit = if is_retrieval(buf) {
            RETRIEVAL_LINE_MAX
        } else {
            LINE_MAX
        };
        if buf.len() > limit {
            return Parsed::Close {
                reply: reply::LINE_TOO_LONG,
            };
        }
        return Parsed::Incomplete { need: 0 };
    };
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    if nl > LINE_MAX && !(is_retrieval(line) && nl <= RETRIEVAL_LINE_MAX) {
        return Parsed::Close {
            reply: reply::LINE_TOO_LONG,
        };
    }
    let line_len = nl + 1;
    // An HTTP request (`GET / HTTP/1.0`): not a memcached client; memcached closes the connection silently.
    if Tokens::new(line)
        .last()
        .is_some_and(|t| t.starts_with(b"HTTP/"))
    {
        return Parsed::Close { reply: b"" };
    }
    let mut tokens = Tokens::new(line);
    let Some(command) = tokens.next() else {
        return reject(reply::ERROR, line_len);
    };
    let done = |req| Parsed::Request { req, len: line_len };
    match command {
        b"get" => retrieval(GetOp::Get, tokens, line_len),
        b"gets" => retrieval(GetOp::Gets, tokens, line_len),
        b"gat" => retrieval(GetOp::Gat, tokens, line_len),
        b"gats" => retrieval(GetOp::Gats, tokens, line_len),
        b"set" => storage(StoreOp::Set, tokens, buf, line_len, max_item),
        b"add" => storage(StoreOp::Add, tokens, buf, line_len, max_item),
        b"replace" => storage(StoreOp::Replace, tokens, buf, line_len, max_item),
        b"append" => storage(StoreOp::Append, tokens, buf, line_len, max_item),
        b"prepend" => storage(StoreOp::Prepend, tokens, buf, line_len, max_item),
        b"cas" => storage(StoreOp::Cas, tokens, buf, line_len, max_item),
        b"delete" => delete(tokens, line_len),
        b"incr" => arith(true, tokens, line_len),
        b"decr" => arith(false, tokens, line_len),
        b"touch" => touch(tokens, line_len),
        b"flush_all" => flush_all(tokens, line_len),
        b"version" => done(Request::Version),
        b"verbosity" => verbosity(tokens, line_len),
        b"quit" => done(Request::Quit),
        b"stats" => done(Request::Stats { args: tokens }),
        b"config" => {
            let rest: smallvec::SmallVec<[&[u8]; 3]> = tokens.take(3).collect();
            if rest.as_slice() == [&b"get"[..], b"cluster"] {
                done(Request::ConfigGetCluster)
            } else {
                reject(reply::ERROR, line_len)
            }
        }
        b"slabs" => slabs(tokens, line_len),
        b"mn" => done(Request::MetaNoop),
        b"mg" => meta(MetaOp::Get, tokens, buf, line_len, max_item),
        b"ms" => meta(MetaOp::Set, tokens, buf, line_len, max_item),
        b"md" => meta(MetaOp::Delete, tokens, buf, line_len, max_item),
        b"ma" => meta(MetaOp::Arith, tokens, buf, line_len, max_item),
        b"me" => meta(MetaOp::Debug, tokens, buf, line_len, max_item),
        _ => reject(reply::ERROR, line_len),
    }
}

fn reject<'a>(reply: &'static [u8], len: usize) -> Parsed<'a> {
    Parsed::Request {
        req: Request::Reject {
            reply,
            swallow: 0,
            unlink: None,
        },
        len,
    }
}

/// Collects up to N tokens; None when there are more.
fn collect<const N: usize>(tokens: Tokens<'_>) -> Option<([&[u8]; N], usize)> {
    let mut out = [&[][..]; N];
    let mut n = 0;
    for t in tokens {
        if n == N {
            return None;
        }
        out[n] = t;
        n += 1;
    }
    Some((out, n))
}

fn retrieval(op: GetOp, mut tokens: Tokens<'_>, len: usize) -> Parsed<'_> {
    let mut exptime = 0;
    if matches!(op, GetOp::Gat | GetOp::Gats) {
        let Some(t) = tokens.next() else {
            return reject(reply::ERROR, len);
        };
        match parse_i64(t) {
            Some(e) => exptime = e,
            None => return reject(reply::BAD_EXPTIME, len),
        }
    } else if tokens.clone().next().is_none() {
        return reject(reply::ERROR, len);
    }
    if !tokens.clone().all(valid_key) {
        return reject(reply::BAD_FORMAT, len);
    }
    Parsed::Request {
        req: Request::Get {
            op,
            exptime,
            keys: tokens,
        },
        len,
    }
}

fn storage<'a>(
    op: StoreOp,
    tokens: Tokens<'a>,
    buf: &'a [u8],
    line_len: usize,
    max_item: usize,
) -> Parsed<'a> {
    let fixed = if op == StoreOp::Cas { 5 } else { 4 };
    let Some((t, n)) = collect::<6>(tokens) else {
        return reject(reply::ERROR, line_len);
    };
    if n != fixed && n != fixed + 1 {
        return reject(reply::ERROR, line_len);
    }
    let noreply = n == fixed + 1 && t[fixed] == b"noreply";
    let quiet = |r: &'static [u8]| if noreply { &b""[..] } else { r };
    let key = t[0];
    let (Some(flags), Some(exptime), Some(bytes)) = (
        parse_u64(t[1]).and_then(|f| u32::try_from(f).ok()),
        parse_i64(t[2]),
        parse_i64(t[3]),
    ) else {
        return reject(quiet(reply::BAD_FORMAT), line_len);
    };
    let cas = if op == StoreOp::Cas {
        match parse_u64(t[4]) {
            Some(c) => c,
            None => return reject(quiet(reply::BAD_FORMAT), line_len),
        }
    } else {
        0
    };
    // memcached adds the 2 bytes of "\r\n" in a 32-bit int: a length that overflows it is malformed.
    if !valid_key(key) || bytes < 0 || bytes > i32::MAX as i64 - 2 {
        return reject(quiet(reply::BAD_FORMAT), line_len);
    }
    let bytes = bytes as usize;
    if key.len() + bytes > max_item {
        return Parsed::Request {
            req: Request::Reject {
                reply: quiet(reply::TOO_LARGE),
                swallow: bytes + 2,
                unlink: (op == StoreOp::Set).then_some(key),
            },
            len: line_len,
        };
    }
    let total = line_len + bytes + 2;
    if buf.len() < total {
        return Parsed::Incomplete { need: total };
    }
    if &buf[line_len + bytes..total] != b"\r\n" {
        return reject(quiet(reply::BAD_CHUNK), total);
    }
    Parsed::Request {
        req: Request::Store {
            op,
            key,
            flags,
            exptime,
            cas,
            data: &buf[line_len..line_len + bytes],
            noreply,
        },
        len: total,
    }
}

fn delete(tokens: Tokens<'_>, len: usize) -> Parsed<'_> {
    let Some((t, n)) = collect::<4>(tokens) else {
        return reject(reply::DELETE_USAGE, len);
    };
    let noreply = n > 1 && t[n - 1] == b"noreply";
    let valid = match n {
        1 => true,
        2 => t[1] == b"0" || noreply,
        3 => t[1] == b"0" && noreply,
        _ => false,
    };
    if n == 0 {
        return reject(reply::ERROR, len);
    }
    if !valid {
        // memcached sets noreply before it checks the arguments, so even its usage error stays silent.
        return reject(if noreply { b"" } else { reply::DELETE_USAGE }, len);
    }
    if !valid_key(t[0]) {
        return reject(if noreply { b"" } else { reply::BAD_FORMAT }, len);
    }
    Parsed::Request {
        req: Request::Delete { key: t[0], noreply },
        len,
    }
}

fn arith(incr: bool, tokens: Tokens<'_>, len: usize) -> Parsed<'_> {
    let Some((t, n)) = collect::<3>(tokens) else {
        return reject(reply::ERROR, len);
    };
    if n < 2 {
        return reject(reply::ERROR, len);
    }
    let noreply = n == 3 && t[2] == b"noreply";
    let quiet = |r: &'static [u8]| if noreply { &b""[..] } else { r };
    if !valid_key(t[0]) {
        return reject(quiet(reply::BAD_FORMAT), len);
    }
    let Some(delta) = parse_u64(t[1]) else {
        return reject(quiet(reply::BAD_DELTA), len);
    };
    Parsed::Request {
        req: Request::Arith {
            incr,
            key: t[0],
            delta,
            noreply,
        },
        len,
    }
}

fn touch(tokens: Tokens<'_>, len: usize) -> Parsed<'_> {
    let Some((t, n)) = collect::<3>(tokens) else {
        return reject(reply::ERROR, len);
    };
    if n < 2 {
        return reject(reply::ERROR, len);
    }
    let noreply = n == 3 && t[2] == b"noreply";
    let quiet = |r: &'static [u8]| if noreply { &b""[..] } else { r };
    if !valid_key(t[0]) {
        return reject(quiet(reply::BAD_FORMAT), len);
    }
    let Some(exptime) = parse_i64(t[1]) else {
        return reject(quiet(reply::BAD_EXPTIME), len);
    };
    Parsed::Request {
        req: Request::Touch {
            key: t[0],
            exptime,
            noreply,
        },
        len,
    }
}

fn flush_all(tokens: Tokens<'_>, len: usize) -> Parsed<'_> {
    let Some((t, n)) = collect::<2>(tokens) else {
        return reject(reply::ERROR, len);
    };
    let noreply = n > 0 && t[n - 1] == b"noreply";
    let delay_token = if noreply { n - 1 } else { n };
    let delay = match delay_token {
        0 => 0,
        1 => match parse_i64(t[0]) {
            Some(d) => d,
            None => {
                return reject(if noreply { b"" } else { reply::BAD_EXPTIME }, len);
            }
        },
        _ => return reject(reply::ERROR, len),
    };
    Parsed::Request {
        req: Request::FlushAll { delay, noreply },
        len,
    }
}

/// `slabs reassign <src> <dst>` and `slabs automove <0|1|2>|ratio <r>`, as memcached answers them. Items are
/// not kept in slab classes here, so there is nothing to reassign (`BADCLASS`) and automove settings are
/// accepted without effect.
fn slabs(tokens: Tokens<'_>, len: usize) -> Parsed<'_> {
    let Some((t, n)) = collect::<4>(tokens) else {
        return reject(reply::ERROR, len);
    };
    let noreply = n > 1 && t[n - 1] == b"noreply";
    let answer = |r: &'static [u8]| Parsed::Request {
        req: Request::Slabs {
            reply: if noreply { b"" } else { r },
        },
        len,
    };
    match (t[0], n) {
        (b"reassign", 3..) => {
            if parse_i64(t[1]).is_some() && parse_i64(t[2]).is_some() {
                answer(b"BADCLASS invalid src or dst class id\r\n")
            } else {
                answer(reply::BAD_FORMAT)
            }
        }
        (b"automove", 2..) if t[1] == b"ratio" => match t
            .get(2)
            .and_then(|r| std::str::from_utf8(r).ok()?.parse::<f64>().ok())
        {
            Some(_) => answer(b"OK\r\n"),
            None => answer(reply::ERROR),
        },
        (b"automove", 2..) => match parse_u64(t[1]) {
            Some(0..=2) => answer(b"OK\r\n"),
            Some(_) => answer(reply::ERROR),
            None => answer(reply::BAD_FORMAT),
        },
        _ => reject(reply::ERROR, len),
    }
}

fn verbosity(tokens: Tokens<'_>, len: usize) -> Parsed<'_> {
    let Some((t, n)) = collect::<2>(tokens) else {
        return reject(reply::ERROR, len);
    };
    if n == 0 {
        return reject(reply::ERROR, len);
    }
    let noreply = t[n - 1] == b"noreply";
    if parse_u64(t[0]).is_none() {
        return reject(if noreply { b"" } else { reply::BAD_FORMAT }, len);
    }
    Parsed::Request {
        req: Request::Verbosity { noreply },
        len,
    }
}

fn meta<'a>(
    op: MetaOp,
    mut tokens: Tokens<'a>,
    buf: &'a [u8],
    line_len: usize,
    max_item: usize,
) -> Parsed<'a> {
    let Some(key) = tokens.next() else {
        let r = if op == MetaOp::Debug {
            reply::BAD_FORMAT
        } else {
            reply::ERROR
        };
        return reject(r, line_len);
    };
    // Base64 keys may be a third longer than the key they encode.
    if key.len() > KEY_MAX * 4 / 3 + 4 {
        return reject(reply::BAD_FORMAT, line_len);
    }
    let mut data_len = None;
    if op == MetaOp::Set {
        match tokens.next().and_then(parse_u64) {
            Some(n) if n <= i32::MAX as u64 => data_len = Some(n as usize),
            _ => return reject(reply::BAD_FORMAT, line_len),
        }
    }
    // Once the data length is known, every refusal also swallows the data block.
    let refuse = |r: &'static [u8]| Parsed::Request {
        req: Request::Reject {
            reply: r,
            swallow: data_len.map_or(0, |n| n + 2),
            unlink: None,
        },
        len: line_len,
    };
    let mut flags = MetaFlags::default();
    for t in tokens {
        let letter = t[0];
        if !op.allowed().contains(&letter) {
            return refuse(reply::INVALID_FLAG);
        }
        let bit = flag_bit(letter);
        if flags.seen & bit != 0 {
            return refuse(reply::DUPLICATE_FLAG);
        }
        if letter == b'O' && t.len() - 1 > OPAQUE_MAX {
            return refuse(reply::OPAQUE_TOO_LONG);
        }
        flags.seen |= bit;
        flags.list.push((letter, &t[1..]));
    }
    if !flags.has(b'b') && !valid_key(key) {
        return refuse(reply::BAD_FORMAT);
    }
    let mut data: &[u8] = &[];
    let mut len = line_len;
    if let Some(n) = data_len {
        if key.len() + n > max_item {
            return refuse(reply::TOO_LARGE);
        }
        let total = line_len + n + 2;
        if buf.len() < total {
            return Parsed::Incomplete { need: total };
        }
        if &buf[line_len + n..total] != b"\r\n" {
            return reject(reply::BAD_CHUNK, total);
        }
        data = &buf[line_len..line_len + n];
        len = total;
    }
    Parsed::Request {
        req: Request::Meta(Meta {
            op,
            key,
            flags,
            data,
        }),
        len,
    }
}

/// Decodes standard base64 (with or without padding); None when invalid.
pub fn base64_decode(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = match text {
        [rest @ .., b'=', b'='] => rest,
        [rest @ .., b'='] => rest,
        t => t,
    };
    if text.len() % 4 == 1 {
        return None;
    }
    for chunk in text.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | value(c)?;
        }
        acc <<= 6 * (4 - chunk.len() as u32);
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(buf: &[u8]) -> (Request<'_>, usize) {
        match parse(buf, 1 << 20) {
            Parsed::Request { req, len } => (req, len),
            other => panic!("{other:?}"),
        }
    }

    fn rejected(buf: &[u8]) -> (&'static [u8], usize, usize) {
        match request(buf) {
            (Request::Reject { reply, swallow, .. }, len) => (reply, swallow, len),
            (other, _) => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_set_borrows_its_key_and_data_from_the_buffer() {
        let buf = b"set k 5 100 3 noreply\r\nabc\r\nget k\r\n";
        let (req, len) = request(buf);
        assert_eq!(len, 28);
        match req {
            Request::Store {
                op,
                key,
                flags,
                exptime,
                data,
                noreply,
                ..
            } => {
                assert_eq!(
                    (op, key, flags, exptime, data, noreply),
                    (StoreOp::Set, &b"k"[..], 5, 100, &b"abc"[..], true)
                );
                assert_eq!(key.as_ptr(), buf[4..].as_ptr());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn partial_requests_ask_for_the_announced_length() {
        assert!(matches!(
            parse(b"set k 0 0 10\r\nabc", 100),
            Parsed::Incomplete { need: 26 }
        ));
        assert!(matches!(
            parse(b"get k", 100),
            Parsed::Incomplete { need: 0 }
        ));
    }

    #[test]
    fn errors_match_memcached() {
        assert_eq!(rejected(b"bogus\r\n").0, reply::ERROR);
        assert_eq!(rejected(b"set a 0 0\r\n").0, reply::ERROR);
        assert_eq!(
            rejected(b"set a x 0 1\r\nx\r\n"),
            (reply::BAD_FORMAT, 0, 13)
        );
        assert_eq!(
            rejected(b"set a 0 0 1\r\nxyz\r\n"),
            (reply::BAD_CHUNK, 0, 16)
        );
        assert_eq!(rejected(b"get\r\n").0, reply::ERROR);
        let long = [b"get ".to_vec(), vec![b'k'; 251], b"\r\n".to_vec()].concat();
        assert_eq!(rejected(&long).0, reply::BAD_FORMAT);
        assert_eq!(rejected(b"incr a x\r\n").0, reply::BAD_DELTA);
        assert_eq!(rejected(b"delete a 5\r\n").0, reply::DELETE_USAGE);
        assert_eq!(rejected(b"mg a zz\r\n").0, reply::INVALID_FLAG);
        assert_eq!(rejected(b"mg a v v\r\n").0, reply::DUPLICATE_FLAG);
        assert_eq!(rejected(b"ms a x\r\n").0, reply::BAD_FORMAT);
        assert_eq!(
            rejected(b"ms a 2 MX Z\r\nab\r\n"),
            (reply::INVALID_FLAG, 4, 13)
        );
    }

    #[test]
    fn oversized_items_are_refused_and_their_data_swallowed() {
        match parse(b"set big 0 0 2000\r\n", 1000) {
            Parsed::Request {
                req:
                    Request::Reject {
                        reply,
                        swallow,
                        unlink,
                    },
                len,
            } => assert_eq!(
                (reply, swallow, unlink, len),
                (reply::TOO_LARGE, 2002, Some(&b"big"[..]), 18)
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn binary_protocol_and_endless_lines_close_the_connection() {
        assert!(matches!(parse(b"\x80\x00", 100), Parsed::Close { .. }));
        let endless = vec![b'x'; LINE_MAX + 1];
        assert!(matches!(
            parse(&endless, 100),
            Parsed::Close {
                reply: reply::LINE_TOO_LONG
            }
        ));
        let mut many_keys = b"get".to_vec();
        for _ in 0..1000 {
            many_keys.extend_from_slice(b" key");
        }
        assert!(matches!(
            parse(&many_keys, 100),
            Parsed::Incomplete { need: 0 }
        ));
    }

    #[test]
    fn meta_flags_keep_their_order_and_tokens() {
        match request(b"mg key v c T30 Oabc\r\n").0 {
            Request::Meta(m) => {
                assert_eq!(m.op, MetaOp::Get);
                assert_eq!(m.key, b"key");
                assert!(m.flags.has(b'v') && m.flags.has(b'T') && !m.flags.has(b'k'));
                assert_eq!(m.flags.token(b'T'), Some(&b"30"[..]));
                let order: Vec<u8> = m.flags.iter().map(|(l, _)| l).collect();
                assert_eq!(order, b"vcTO");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_and_base64_decode_strictly() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_i64(b"-1"), Some(-1));
        let mut out = Vec::new();
        assert!(base64_decode(b"Zm9vYmFy", &mut out).is_some());
        assert_eq!(out, b"foobar");
        out.clear();
        assert!(base64_decode(b"bQ==", &mut out).is_some());
        assert_eq!(out, b"m");
        assert!(base64_decode(b"b!==", &mut out).is_none());
    }
}
