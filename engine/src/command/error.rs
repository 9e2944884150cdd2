//! The error replies of commands, with the exact texts Redis sends.

/// An error reply. The message text is exactly what Redis sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// The key holds another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// An argument (or stored value) is not a 64-bit integer.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// An argument (or stored value) is not a float.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// Unknown option or bad option combination.
    #[error("ERR syntax error")]
    Syntax,
    /// INCR and friends would overflow.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// The key does not exist (RENAME, …).
    #[error("ERR no such key")]
    NoSuchKey,
    /// Any other error; the text includes its code (`ERR …`, `NOAUTH …`).
    #[error("{0}")]
    Msg(String),
}

impl CmdError {
    /// An `ERR`-prefixed error.
    pub fn err(msg: impl std::fmt::Display) -> CmdError {
        CmdError::Msg(format!("ERR {msg}"))
    }
}

/// What a command handler returns.
pub type CmdResult = Result<(), CmdError>;
