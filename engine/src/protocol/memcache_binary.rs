//! The memcached binary protocol: 24-byte headers, then extras, key and value (all big-endian). A connection
//! speaks it when its first byte is the request magic 0x80, as memcached decides on the same port.
//!
//! The parser checks the lengths a header announces before anything waits for the body: a key over 250 bytes
//! or extras and key longer than the body are refused and the connection closes (the stream cannot be trusted
//! after them); a body larger than any item could be is refused too. A storage request that is merely too
//! large has its body discarded as it arrives, and the connection goes on. Nothing is allocated for a body
//! that is not there.

/// Magic byte of a request.
pub const REQUEST_MAGIC: u8 = 0x80;
/// Magic byte of a response.
pub const RESPONSE_MAGIC: u8 = 0x81;
/// Header size.
pub const HEADER: usize = 24;
/// Longest key.
pub const KEY_MAX: usize = 250;

/// Opcodes, named as the protocol names them (`Q`: quiet, `K`: the key comes back).
#[allow(missing_docs)]
pub mod op {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const VERBOSITY: u8 = 0x1b;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST_MECHS: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const SASL_STEP: u8 = 0x22;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

/// Response status codes, named as the protocol names them.
#[allow(missing_docs)]
pub mod status {
    pub const OK: u16 = 0x0000;
    pub const KEY_NOT_FOUND: u16 = 0x0001;
    pub const KEY_EXISTS: u16 = 0x0002;
    pub const TOO_LARGE: u16 = 0x0003;
    pub const INVALID_ARGUMENTS: u16 = 0x0004;
    pub const NOT_STORED: u16 = 0x0005;
    pub const NON_NUMERIC: u16 = 0x0006;
    pub const AUTH_ERROR: u16 = 0x0020;
    pub const UNKNOWN_COMMAND: u16 = 0x0081;
    pub const OUT_OF_MEMORY: u16 = 0x0082;
    /// Temporary failure: the request-unit rate limit refused the request.
    pub const TEMPORARY_FAILURE: u16 = 0x0086;

    /// The message memcached puts in the body of an error response.
    pub fn message(status: u16) -> &'static [u8] {
        match status {
            KEY_NOT_FOUND => b"Not found",
            KEY_EXISTS => b"Data exists for key.",
            TOO_LARGE => b"Too large.",
            INVALID_ARGUMENTS => b"Invalid arguments",
            NOT_STORED => b"Not stored.",
            NON_NUMERIC => b"Non-numeric server-side value for incr or decr",
            AUTH_ERROR => b"Auth failure.",
            UNKNOWN_COMMAND => b"Unknown command",
            OUT_OF_MEMORY => b"Out of memory",
            TEMPORARY_FAILURE => b"Temporary failure",
            _ => b"",
        }
    }
}

/// A request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Opcode.
    pub opcode: u8,
    /// Key length.
    pub key_len: usize,
    /// Extras length.
    pub extras_len: usize,
    /// Body length: extras, key and value.
    pub body_len: usize,
    /// Echoed in the response.
    pub opaque: u32,
    /// Compare-and-swap value (0: none).
    pub cas: u64,
}

impl Header {
    /// Reads a header from 24 bytes.
    pub fn read(b: &[u8; HEADER]) -> Header {
        Header {
            opcode: b[1],
            key_len: usize::from(u16::from_be_bytes([b[2], b[3]])),
            extras_len: usize::from(b[4]),
            body_len: u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize,
            opaque: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            cas: u64::from_be_bytes([b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23]]),
        }
    }
}

/// A complete request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Its header.
    pub header: Header,
    /// Extras.
    pub extras: &'a [u8],
    /// Key.
    pub key: &'a [u8],
    /// Value.
    pub value: &'a [u8],
}

/// Result of parsing the start of a buffer.
#[derive(Debug)]
pub enum Parsed<'a> {
    /// A whole request of `len` bytes.
    Request {
        /// The request.
        req: Request<'a>,
        /// Bytes it took.
        len: usize,
    },
    /// A request refused from its header: answer `status`, then discard `swallow` body bytes (a storage
    /// request too large to keep) or close the connection (`close`).
    Refused {
        /// The header.
        header: Header,
        /// Status to answer.
        status: u16,
        /// Body bytes still to discard after the header.
        swallow: usize,
        /// The stream cannot go on.
        close: bool,
    },
    /// More bytes are needed; `need` is the whole request's length when known.
    Incomplete {
        /// Bytes the request needs.
        need: usize,
    },
}

/// Storage requests (set, add, replace, append, prepend and their quiet forms): the ones that carry a value.
pub fn is_storage(opcode: u8) -> bool {
    use op::*;
    matches!(
        opcode,
        SET | ADD | REPLACE | APPEND | PREPEND | SETQ | ADDQ | REPLACEQ | APPENDQ | PREPENDQ
    )
}

/// Parses one request at the start of `buf` (whose first byte is [`REQUEST_MAGIC`]); `max_item` bounds an
/// item's key and value.
pub fn parse(buf: &[u8], max_item: usize) -> Parsed<'_> {
    let Some(head) = buf.first_chunk::<HEADER>() else {
        return Parsed::Incomplete { need: HEADER };
    };
    let header = Header::read(head);
    let refuse = |status, swallow, close| Parsed::Refused {
        header,
        status,
        swallow,
        close,
    };
    if header.key_len > KEY_MAX || header.extras_len + header.key_len > header.body_len {
        return refuse(status::INVALID_ARGUMENTS, 0, true);
    }
    // The largest body an item can have: extras, key and value at the item size limit.
    let largest = max_item + KEY_MAX + 32;
    if header.body_len > largest {
        return if is_storage(header.opcode) && header.body_len <= i32::MAX as usize {
            refuse(status::TOO_LARGE, header.body_len, false)
        } else {
            refuse(status::TOO_LARGE, 0, true)
        };
    }
    let len = HEADER + header.body_len;
    if buf.len() < len {
        return Parsed::Incomplete { need: len };
    }
    let body = &buf[HEADER..len];
    let (extras, rest) = body.split_at(header.extras_len);
    let (key, value) = rest.split_at(header.key_len);
    Parsed::Request {
        req: Request {
            header,
            extras,
            key,
            value,
        },
        len,
    }
}

/// Appends a response.
#[allow(clippy::too_many_arguments)]
pub fn respond(
    out: &mut Vec<u8>,
    opcode: u8,
    status: u16,
    opaque: u32,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    let body = extras.len() + key.len() + value.len();
    out.reserve(HEADER + body);
    out.push(RESPONSE_MAGIC);
    out.push(opcode);
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.push(extras.len() as u8);
    out.push(0);
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&(body as u32).to_be_bytes());
    out.extend_from_slice(&opaque.to_be_bytes());
    out.extend_from_slice(&cas.to_be_bytes());
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// Appends a success response carrying only `value` (no extras, key or CAS).
pub fn respond_ok(out: &mut Vec<u8>, opcode: u8, opaque: u32, value: &[u8]) {
    respond(out, opcode, status::OK, opaque, 0, &[], &[], value);
}

/// Appends an error response with memcached's message for `status`.
pub fn respond_error(out: &mut Vec<u8>, opcode: u8, status: u16, opaque: u32) {
    respond(
        out,
        opcode,
        status,
        opaque,
        0,
        &[],
        &[],
        status::message(status),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        opcode: u8,
        extras: &[u8],
        key: &[u8],
        value: &[u8],
        body_len: Option<u32>,
    ) -> Vec<u8> {
        let body = (extras.len() + key.len() + value.len()) as u32;
        let mut b = vec![REQUEST_MAGIC, opcode];
        b.extend_from_slice(&(key.len() as u16).to_be_bytes());
        b.push(extras.len() as u8);
        b.extend_from_slice(&[0, 0, 0]);
        b.extend_from_slice(&body_len.unwrap_or(body).to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&9u64.to_be_bytes());
        b.extend_from_slice(extras);
        b.extend_from_slice(key);
        b.extend_from_slice(value);
        b
    }

    #[test]
    fn a_request_splits_into_extras_key_and_value() {
        let b = request(op::SET, &[0; 8], b"k", b"value", None);
        let Parsed::Request { req, len } = parse(&b, 1024) else {
            panic!("a request");
        };
        assert_eq!(len, b.len());
        assert_eq!(
            (req.extras.len(), req.key, req.value),
            (8, &b"k"[..], &b"value"[..])
        );
        assert_eq!((req.header.opaque, req.header.cas), (7, 9));
        assert!(matches!(parse(&b[..30], 1024), Parsed::Incomplete { need } if need == b.len()));
        assert!(matches!(
            parse(&b[..10], 1024),
            Parsed::Incomplete { need: HEADER }
        ));
    }

    #[test]
    fn impossible_lengths_are_refused_before_any_body_is_awaited() {
        // A 4 GB body: refused at once, and the connection closes (a GET has no body to discard).
        let huge = request(op::GET, &[], b"k", b"", Some(u32::MAX));
        assert!(matches!(
            parse(&huge[..HEADER], 1024),
            Parsed::Refused {
                status: status::TOO_LARGE,
                close: true,
                ..
            }
        ));
        // A storage request merely too large: its body is discarded and the stream goes on.
        let big = request(op::SET, &[0; 8], b"k", b"", Some(1 << 20));
        assert!(matches!(
            parse(&big[..HEADER], 1024),
            Parsed::Refused {
                status: status::TOO_LARGE,
                swallow: 1_048_576,
                close: false,
                ..
            }
        ));
        // Extras and key longer than the body.
        let bad = request(op::GET, &[], b"key", b"", Some(2));
        assert!(matches!(
            parse(&bad, 1024),
            Parsed::Refused {
                status: status::INVALID_ARGUMENTS,
                close: true,
                ..
            }
        ));
    }
}
