//! Command execution. Each command family lives in its own file (`string.rs`, `keys.rs`, `server.rs`, …) as
//! plain functions of a [`Call`] that read their arguments through the cursor in `args.rs`; `table.rs` registers
//! them against the catalogue's rows; `dispatch.rs` checks, locks, runs and accounts for every command.

pub mod acl;
pub mod args;
pub mod call;
pub mod cluster;
pub mod collection;
pub mod connection;
pub mod debug;
pub mod diagnostics;
pub mod dispatch;
pub mod error;
pub mod function;
pub mod hash;
pub mod keys;
pub mod list;
pub mod memcache;
pub mod memcache_binary;
pub mod memcache_info;
pub mod memcache_item;
pub mod memcache_meta;
pub mod pubsub;
pub mod replication;
pub mod server;
pub mod session;
pub mod set;
pub mod slots;
pub mod sort;
pub mod stream;
pub mod stream_group;
pub mod stream_info;
pub mod string;
pub mod table;
pub mod tracking;
pub mod transaction;
pub mod zset;

pub use call::Call;
pub use dispatch::{
    ensure_memory, execute, lock_set, record_latency, run, times_each_command, unknown_command,
};
pub use error::{CmdError, CmdResult};
pub use session::Session;
