//! Wire protocols: RESP request parsing and RESP2/RESP3 reply encoding.

pub mod reply;
pub mod resp;
