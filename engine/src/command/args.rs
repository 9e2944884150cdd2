//! Argument parsing shared by every command: a typed cursor over a call's arguments ([`Args`]) and the
//! parsers it uses (integers, floats, keywords), with Redis' error replies.

use super::error::CmdError;
pub use crate::keyspace::integer::canonical_i64;
use crate::protocol::resp::parse_i64;

/// A cursor over a command's arguments, as handlers read them: one argument at a time, typed, with Redis'
/// error replies. Running out of arguments is the command's arity error; [`Args::finish`] gives the same error
/// for arguments left over.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    all: &'a [&'a [u8]],
    /// Arguments before this index name the command (1, or 2 for a subcommand).
    first: usize,
    pos: usize,
}

impl<'a> Args<'a> {
    /// A cursor after the first `first` arguments (the command name, and the subcommand's for a subcommand).
    pub fn new(all: &'a [&'a [u8]], first: usize) -> Args<'a> {
        let first = first.min(all.len());
        Args {
            all,
            first,
            pos: first,
        }
    }

    /// Every argument, the command name first (for replication rewrites and messages).
    pub fn all(&self) -> &'a [&'a [u8]] {
        self.all
    }

    /// The command name as the client sent it.
    pub fn name(&self) -> &'a [u8] {
        self.all.first().copied().unwrap_or_default()
    }

    /// True when the command was called by `word` (ignoring case): handlers shared by several names.
    pub fn called(&self, word: &str) -> bool {
        is(self.name(), word)
    }

    /// The subcommand name as the client sent it (empty for a plain command).
    pub fn subcommand(&self) -> &'a [u8] {
        match self.first {
            2 => self.all[1],
            _ => &[],
        }
    }

    /// How many arguments are left.
    pub fn len(&self) -> usize {
        self.all.len() - self.pos
    }

    /// True when every argument was read.
    pub fn is_empty(&self) -> bool {
        self.pos == self.all.len()
    }

    /// How many arguments, after the command (and subcommand) name, were given in all.
    pub fn given(&self) -> usize {
        self.all.len() - self.first
    }

    /// The next argument, left unread.
    pub fn peek(&self) -> Option<&'a [u8]> {
        self.all.get(self.pos).copied()
    }

    /// The next argument, or None at the end.
    pub fn optional(&mut self) -> Option<&'a [u8]> {
        let a = self.peek()?;
        self.pos += 1;
        Some(a)
    }

    /// The next argument; the arity error at the end.
    pub fn bytes(&mut self) -> Result<&'a [u8], CmdError> {
        self.optional().ok_or_else(|| self.arity_error())
    }

    /// The next argument, a key (the same as [`Args::bytes`], named for the reader).
    pub fn key(&mut self) -> Result<&'a [u8], CmdError> {
        self.bytes()
    }

    /// The next argument as a 64-bit integer.
    pub fn int(&mut self) -> Result<i64, CmdError> {
        int(self.bytes()?)
    }

    /// The next argument as a non-negative integer.
    pub fn uint(&mut self) -> Result<usize, CmdError> {
        uint(self.bytes()?)
    }

    /// The next argument as a float.
    pub fn float(&mut self) -> Result<f64, CmdError> {
        float(self.bytes()?)
    }

    /// Reads the next argument when it is `word` (ignoring case); otherwise reads nothing.
    pub fn keyword(&mut self, word: &str) -> bool {
        let found = self.peek().is_some_and(|a| is(a, word));
        self.pos += found as usize;
        found
    }

    /// Reads the next argument when it is one of `words` (ignoring case), giving its index in `words`.
    pub fn one_of(&mut self, words: &[&str]) -> Option<usize> {
        let a = self.peek()?;
        let i = words.iter().position(|w| is(a, w))?;
        self.pos += 1;
        Some(i)
    }

    /// The next `n` arguments; the arity error when fewer are left.
    pub fn take(&mut self, n: usize) -> Result<&'a [&'a [u8]], CmdError> {
        if self.len() < n {
            return Err(self.arity_error());
        }
        let taken = &self.all[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }

    /// Every argument left (possibly none).
    pub fn rest(&mut self) -> &'a [&'a [u8]] {
        let rest = &self.all[self.pos..];
        self.pos = self.all.len();
        rest
    }

    /// Every argument left, at least one; the arity error when none is.
    pub fn rest_nonempty(&mut self) -> Result<&'a [&'a [u8]], CmdError> {
        if self.is_empty() {
            return Err(self.arity_error());
        }
        Ok(self.rest())
    }

    /// Steps back one argument (after a read that turned out to be the start of something else).
    pub fn back(&mut self) {
        if self.pos > self.first {
            self.pos -= 1;
        }
    }

    /// Ok when every argument was read; the arity error otherwise.
    pub fn finish(&self) -> Result<(), CmdError> {
        match self.is_empty() {
            true => Ok(()),
            false => Err(self.arity_error()),
        }
    }

    /// Ok when every argument was read; `err` otherwise.
    pub fn finish_or(&self, err: CmdError) -> Result<(), CmdError> {
        match self.is_empty() {
            true => Ok(()),
            false => Err(err),
        }
    }

    /// Redis' reply when a subcommand's arguments do not fit it (a count its row allows but the subcommand does
    /// not): `ERR unknown subcommand or wrong number of arguments for 'get'. Try CONFIG HELP.`
    pub fn subcommand_error(&self) -> CmdError {
        CmdError::err(format_args!(
            "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            text(self.subcommand()),
            text(self.name()).to_ascii_uppercase()
        ))
    }

    /// The cursor, when `count_ok` accepts the number of arguments given after the names; else
    /// [`Args::subcommand_error`].
    pub fn checked(self, count_ok: impl Fn(usize) -> bool) -> Result<Args<'a>, CmdError> {
        match count_ok(self.given()) {
            true => Ok(self),
            false => Err(self.subcommand_error()),
        }
    }

    /// `ERR wrong number of arguments for 'name' command`, with `name|sub` for a subcommand, as Redis 7.
    pub fn arity_error(&self) -> CmdError {
        let mut name = text(self.name()).to_ascii_lowercase();
        if self.first == 2 {
            name.push('|');
            name.push_str(&text(self.subcommand()).to_ascii_lowercase());
        }
        CmdError::err(format_args!(
            "wrong number of arguments for '{name}' command"
        ))
    }
}

/// Parses a 64-bit signed integer argument (`ERR value is not an integer or out of range`).
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    canonical_i64(arg).ok_or(CmdError::NotInteger)
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
    fn the_cursor_reads_typed_arguments_and_reports_arity() {
        let argv: [&[u8]; 6] = [b"ZADD", b"k", b"NX", b"1.5", b"m", b"7"];
        let mut a = Args::new(&argv, 1);
        assert_eq!(a.key(), Ok(&b"k"[..]));
        assert!(!a.keyword("xx"));
        assert!(a.keyword("nx"));
        assert_eq!(a.float(), Ok(1.5));
        assert_eq!(a.len(), 2);
        assert_eq!(a.finish(), Err(a.arity_error()));
        assert_eq!(a.bytes(), Ok(&b"m"[..]));
        assert_eq!(a.int(), Ok(7));
        assert_eq!(a.finish(), Ok(()));
        assert_eq!(
            a.bytes(),
            Err(CmdError::err(
                "wrong number of arguments for 'zadd' command"
            ))
        );
        let argv: [&[u8]; 3] = [b"xgroup", b"CREATE", b"k"];
        let mut a = Args::new(&argv, 2);
        assert_eq!(a.rest(), &argv[2..]);
        assert_eq!(
            a.take(1),
            Err(CmdError::err(
                "wrong number of arguments for 'xgroup|create' command"
            ))
        );
    }

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
