//! Wire protocols: RESP request parsing and RESP2/RESP3 reply encoding; Memcached text, meta and binary parsing.

pub mod memcache;
pub mod memcache_binary;
pub mod reply;
pub mod resp;
