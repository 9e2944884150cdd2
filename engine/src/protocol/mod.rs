//! Wire protocols: RESP request parsing and RESP2/RESP3 reply encoding; Memcached text and meta parsing.

pub mod memcache;
pub mod reply;
pub mod resp;
