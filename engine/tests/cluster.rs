//! Cluster mode end to end: six real engines (three shards of a primary and a replica) given their topology the
//! way a control plane gives it, then driven by real cluster clients (the `redis` crate, `redis-cli`,
//! `redis-benchmark`, redis-py and ioredis), through a failover and through atomic slot migrations.
//!
//! The fixture and the parsers live in `tests/cluster/`, one file per job; so do the client scripts.

mod common;

#[path = "cluster/client_libraries.rs"]
mod client_libraries;
#[path = "cluster/control_plane.rs"]
mod control_plane;
#[path = "cluster/failover.rs"]
mod failover;
#[path = "cluster/fixture.rs"]
mod fixture;
#[path = "cluster/keyslot.rs"]
mod keyslot;
#[path = "cluster/migration.rs"]
mod migration;
#[path = "cluster/observe.rs"]
mod observe;
#[path = "cluster/process.rs"]
mod process;
#[path = "cluster/redirections.rs"]
mod redirections;
#[path = "cluster/redis_crate.rs"]
mod redis_crate;
#[path = "cluster/stock_tools.rs"]
mod stock_tools;
#[path = "cluster/topology.rs"]
mod topology;
