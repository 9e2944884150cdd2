//! What a command handler is given: the [`Call`] — node, session, locked shards, reply buffer, arguments.

use std::sync::Arc;

use super::args::Args;
use super::session::Session;
use crate::config::Config;
use crate::keyspace::{Clock, Held, Shard};
use crate::node::Node;
use crate::protocol::reply::Reply;

/// Everything a command handler may use.
pub struct Call<'a, 'k> {
    /// The node.
    pub node: &'a Arc<Node>,
    /// The configuration snapshot of this batch.
    pub cfg: &'a Config,
    /// Time and access-clock settings of this batch.
    pub clock: Clock,
    /// The client's session.
    pub session: &'a mut Session,
    /// The reply buffer.
    pub out: &'a mut Reply,
    /// The shards this command locked.
    pub held: &'a mut Held<'k>,
    /// The arguments, the command name first.
    pub args: &'a [&'a [u8]],
    /// How many arguments name the command: 1, or 2 for a subcommand.
    pub(super) first: usize,
}

impl<'a> Call<'a, '_> {
    /// A cursor over the arguments after the command (and subcommand) name.
    #[inline]
    pub fn args(&self) -> Args<'a> {
        Args::new(self.args, self.first)
    }

    /// A shared handle on the node, for work that outlives the command (replication links).
    pub fn node_arc(&self) -> Arc<Node> {
        self.node.clone()
    }

    /// The locked shard of `key` in the selected database, and the key's hash.
    #[inline]
    pub fn shard(&mut self, key: &[u8]) -> (&mut Shard, u64) {
        self.held.shard(self.session.db, key)
    }

    /// Replaces what the replication stream receives for this command (one entry per command to write;
    /// none propagates nothing).
    pub fn replicate_as(&mut self, commands: &[&[&[u8]]]) {
        self.session.rewrite = Some(
            commands
                .iter()
                .map(|c| c.iter().map(|a| a.to_vec()).collect())
                .collect(),
        );
    }

    /// Records that the command touched `n` elements (charged by commands of the `Elements` cost class).
    #[inline]
    pub fn touched(&mut self, n: usize) {
        self.session.elements += n as u64;
    }

    /// True when a blocking command that found nothing may block (not inside EXEC, not after its timeout).
    pub fn may_block(&self) -> bool {
        self.session.blocking.may_block()
    }

    /// Blocks the client on `keys` (in the selected database) for up to `timeout_ms` (None: forever): the
    /// command writes no reply and runs again when one of the keys is written or the timeout passes.
    pub fn block(&mut self, keys: &[&[u8]], timeout_ms: Option<u64>) {
        let id = self.session.info.id;
        let db = self.session.db;
        self.session
            .blocking
            .block(self.node.blocking(), id, db, keys, timeout_ms);
    }

    /// Counts a keyspace read hit or miss.
    #[inline]
    pub fn count_lookup(&self, hit: bool) {
        let c = &self.session.counters;
        if hit {
            c.hits.add(1);
        } else {
            c.misses.add(1);
        }
    }
}
