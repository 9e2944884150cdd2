//! Ferrocache engine: a Redis-protocol, in-memory cache server.
//!
//! Data flows one way: socket ([`server`]) → request parser ([`protocol`]) → command table and handlers
//! ([`command`]) → sharded keyspace ([`keyspace`]) → reply encoder → socket.

#![warn(missing_docs)]

pub mod blocking;
pub mod catalogue;
pub mod clients;
pub mod clock;
pub mod cluster;
pub mod command;
pub mod config;
pub mod keyspace;
pub mod logging;
pub mod memory;
pub mod metering;
pub mod monitor;
pub mod node;
pub mod notify;
pub mod pattern;
pub mod protocol;
pub mod pubsub;
pub mod quoting;
pub mod replication;
pub mod security;
pub mod server;
pub mod slot;
pub mod snapshot;
