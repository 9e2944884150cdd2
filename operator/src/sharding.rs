//! Sharded (cluster mode) Redis clusters: the slot map, the topology document every node is given, and the
//! plan that balances slots over the wanted shards.
//!
//! The operator is the authority over the layout. It hands every node the whole topology with `CLUSTER
//! SETTOPOLOGY` (an epoch and, per shard, its slot ranges and nodes) and moves slots with `CLUSTER
//! MIGRATESLOTS`, which the engine runs atomically and follows by publishing the next epoch itself. These are
//! pure functions shared by both platforms: which slots a new cluster's shards own, the document for a set of
//! nodes, and which moves bring the slot map to the wanted shard count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most shards a cluster may have (`numNodeGroups`).
pub const MAX_SHARDS: i32 = 500;

/// Hash slots of a Redis cluster.
pub const SLOTS: u32 = 16384;

/// An inclusive range of slots.
pub type SlotRange = (u16, u16);

/// A node's role in the topology document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopologyRole {
    /// Serves its shard's slots.
    Primary,
    /// Replicates its shard's primary.
    Replica,
}

/// One node in the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologyNode {
    /// The node's 40-hex id (`CLUSTER MYID`).
    pub id: String,
    /// Address clients and other nodes use.
    pub ip: String,
    /// Plain-text port (0 when the node serves TLS only).
    pub port: u16,
    /// TLS port, when the node serves TLS.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_port: u16,
    /// Stable DNS name (announced per `cluster-preferred-endpoint-type`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Primary or replica.
    pub role: TopologyRole,
}

fn is_zero(port: &u16) -> bool {
    *port == 0
}

/// One shard (node group) in the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologyShard {
    /// The shard's 40-hex id ([`shard_id`]).
    pub id: String,
    /// Slot ranges the shard owns, inclusive.
    #[serde(default)]
    pub slots: Vec<[u16; 2]>,
    /// The shard's nodes: exactly one primary.
    pub nodes: Vec<TopologyNode>,
}

/// The document `CLUSTER SETTOPOLOGY` takes and `CLUSTER GETTOPOLOGY` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// Grows with every change; nodes refuse an older one.
    pub epoch: u64,
    /// Every shard.
    pub shards: Vec<TopologyShard>,
}

impl Topology {
    /// The document as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a document (as `CLUSTER GETTOPOLOGY` returns it).
    pub fn parse(json: &str) -> Result<Topology, String> {
        serde_json::from_str(json).map_err(|e| format!("invalid topology document: {e}"))
    }

    /// The slot map of this document.
    pub fn slot_map(&self) -> SlotMap {
        let mut map = SlotMap::default();
        for shard in &self.shards {
            map.owners.insert(
                shard.id.clone(),
                shard.slots.iter().map(|r| (r[0], r[1])).collect(),
            );
        }
        map
    }
}

/// The id of node group `group` of a cluster: 40 hex characters, the same every time for the same cluster.
pub fn shard_id(namespace: &str, cluster: &str, group: i32) -> String {
    let digest = Sha256::digest(format!("{namespace}/{cluster}/{group}").as_bytes());
    digest[..20].iter().map(|b| format!("{b:02x}")).collect()
}

/// Which shard owns which slots, by shard id. A shard may own nothing (new, or drained before removal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotMap {
    /// Slot ranges of each shard.
    pub owners: BTreeMap<String, Vec<SlotRange>>,
}

impl SlotMap {
    /// Slots spread evenly over `shards` in order, as ElastiCache does at creation: every shard gets
    /// `16384 / n` consecutive slots, the first `16384 % n` one more.
    pub fn even(shards: &[String]) -> SlotMap {
        let n = u32::try_from(shards.len()).unwrap_or(u32::MAX).max(1);
        let mut owners = BTreeMap::new();
        let mut next = 0u32;
        for (i, id) in shards.iter().enumerate() {
            let count = SLOTS / n + u32::from((i as u32) < SLOTS % n);
            let ranges = if count == 0 {
                Vec::new()
            } else {
                vec![(slot(next), slot(next + count - 1))]
            };
            owners.insert(id.clone(), ranges);
            next += count;
        }
        SlotMap { owners }
    }

    /// Slots a shard owns.
    pub fn count(&self, shard: &str) -> u32 {
        self.owners.get(shard).map_or(0, |r| count(r))
    }

    /// Whether every slot has exactly one owner.
    pub fn is_complete(&self) -> bool {
        let mut seen = vec![false; SLOTS as usize];
        for ranges in self.owners.values() {
            for &(a, b) in ranges {
                for s in a..=b {
                    if std::mem::replace(&mut seen[usize::from(s)], true) {
                        return false;
                    }
                }
            }
        }
        seen.iter().all(|s| *s)
    }
}

fn slot(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Number of slots in `ranges`.
pub fn count(ranges: &[SlotRange]) -> u32 {
    ranges
        .iter()
        .map(|&(a, b)| u32::from(b) - u32::from(a) + 1)
        .sum()
}

/// One migration: slots that move from one shard to another, in one `CLUSTER MIGRATESLOTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Source shard id.
    pub from: String,
    /// Target shard id.
    pub to: String,
    /// The slots, as inclusive ranges in ascending order.
    pub slots: Vec<SlotRange>,
}

impl Move {
    /// Number of slots moved.
    pub fn count(&self) -> u32 {
        count(&self.slots)
    }
}

/// The moves that bring `map` to `wanted` shards (in order), each owning an even share: shards not wanted give
/// all their slots, shards above their share give their highest slots, shards below take them in ascending
/// order. Only what must move moves. Moves are listed in the order they should run; each is one migration.
pub fn rebalance(map: &SlotMap, wanted: &[String]) -> Vec<Move> {
    if wanted.is_empty() {
        return Vec::new();
    }
    let n = u32::try_from(wanted.len()).unwrap_or(u32::MAX);
    let share = |i: usize| SLOTS / n + u32::from((i as u32) < SLOTS % n);
    // Slots given up, with their source, in ascending slot order.
    let mut given: Vec<(u16, &str)> = Vec::new();
    for (id, ranges) in &map.owners {
        let keep = wanted
            .iter()
            .position(|w| w == id)
            .map_or(0, |i| share(i).min(count(ranges)));
        let mut slots: Vec<u16> = ranges.iter().flat_map(|&(a, b)| a..=b).collect();
        slots.sort_unstable();
        for s in &slots[keep as usize..] {
            given.push((*s, id.as_str()));
        }
    }
    given.sort_unstable();
    // Slots owned by nobody (a map that is not complete) are not moved: they have no source.
    let mut takers: Vec<(&str, u32)> = wanted
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), share(i).saturating_sub(map.count(id))))
        .filter(|(_, need)| *need > 0)
        .collect();
    let mut moves: BTreeMap<(String, String), Vec<u16>> = BTreeMap::new();
    let mut taker = 0;
    for (s, from) in given {
        while taker < takers.len() && takers[taker].1 == 0 {
            taker += 1;
        }
        let Some((to, need)) = takers.get_mut(taker) else {
            break;
        };
        *need -= 1;
        moves
            .entry((from.to_string(), to.to_string()))
            .or_default()
            .push(s);
    }
    let mut list: Vec<Move> = moves
        .into_iter()
        .map(|((from, to), slots)| Move {
            from,
            to,
            slots: ranges_of(&slots),
        })
        .collect();
    // Shards that leave are drained first, so a scale-in frees nodes as early as it can.
    list.sort_by_key(|m| (wanted.contains(&m.from), m.slots.first().copied()));
    list
}

/// What resharding does next. Both platforms take their steps from [`next_step`], one at a time, so no two
/// migrations ever run at once and a scale-in never removes a shard that still owns a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReshardStep {
    /// The spec asks for shards that do not run yet: start them (they own nothing until slots move).
    AddShards,
    /// Run this migration.
    Move(Move),
    /// The shards from the wanted count on own nothing any more: publish the topology without them, then stop
    /// their nodes.
    RemoveShards,
    /// The slots are balanced over the wanted shards.
    Balanced,
}

/// The next step from `map` towards `wanted` shards, given the shards that run now (ids in node group order).
pub fn next_step(map: &SlotMap, running: &[String], wanted: usize) -> ReshardStep {
    if running.len() < wanted {
        return ReshardStep::AddShards;
    }
    let keep = &running[..wanted];
    if let Some(step) = rebalance(map, keep).into_iter().next() {
        return ReshardStep::Move(step);
    }
    if running.len() > wanted {
        ReshardStep::RemoveShards
    } else {
        ReshardStep::Balanced
    }
}

/// Share of the remaining shards' `maxmemory` the data may fill after a scale-in: the rest is headroom for
/// writes while slots move and for the copy a migration holds until it flips.
pub const SCALE_IN_FILL: f64 = 0.9;

/// Why a scale-in to `wanted` shards is refused: the data (`dataset_bytes`, all primaries together) would fill
/// more than [`SCALE_IN_FILL`] of their `maxmemory` (bytes per node). `None` when it fits or nothing shrinks.
pub fn scale_in_refusal(
    dataset_bytes: u64,
    current: usize,
    wanted: usize,
    maxmemory: Option<u64>,
) -> Option<String> {
    let maxmemory = maxmemory?;
    if wanted >= current || wanted == 0 {
        return None;
    }
    let room = (wanted as f64) * (maxmemory as f64) * SCALE_IN_FILL;
    ((dataset_bytes as f64) > room).then(|| {
        format!(
            "scale-in from {current} to {wanted} shards refused: the data ({}) would not fit {wanted} shards of {} maxmemory each (at most {:.0}% full); keep numNodeGroups at {current} or choose a larger cacheNodeType first",
            human_bytes(dataset_bytes),
            human_bytes(maxmemory),
            SCALE_IN_FILL * 100.0
        )
    })
}

fn human_bytes(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= 1024.0 * MIB {
        format!("{:.2} GiB", bytes as f64 / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB)
    }
}

/// Sorted slots as inclusive ranges.
pub fn ranges_of(slots: &[u16]) -> Vec<SlotRange> {
    let mut ranges: Vec<SlotRange> = Vec::new();
    for &s in slots {
        match ranges.last_mut() {
            Some((_, end)) if u32::from(*end) + 1 == u32::from(s) => *end = s,
            _ => ranges.push((s, s)),
        }
    }
    ranges
}

/// Applies a finished move to the map.
pub fn apply(map: &mut SlotMap, step: &Move) {
    let moved: std::collections::BTreeSet<u16> =
        step.slots.iter().flat_map(|&(a, b)| a..=b).collect();
    if let Some(ranges) = map.owners.get_mut(&step.from) {
        let left: Vec<u16> = ranges
            .iter()
            .flat_map(|&(a, b)| a..=b)
            .filter(|s| !moved.contains(s))
            .collect();
        *ranges = ranges_of(&left);
    }
    let to = map.owners.entry(step.to.clone()).or_default();
    let mut all: Vec<u16> = to.iter().flat_map(|&(a, b)| a..=b).collect();
    all.extend(moved.iter().copied());
    all.sort_unstable();
    all.dedup();
    *to = ranges_of(&all);
}

/// The `SLOTSRANGE` arguments of `CLUSTER MIGRATESLOTS` for a move.
pub fn migrate_args(step: &Move, target_node: &str) -> Vec<String> {
    let mut args = vec!["MIGRATESLOTS".to_string(), "SLOTSRANGE".to_string()];
    for &(a, b) in &step.slots {
        args.push(a.to_string());
        args.push(b.to_string());
    }
    args.push("NODE".into());
    args.push(target_node.to_string());
    args
}

/// The slot ranges as the engine prints them in `CLUSTER GETSLOTMIGRATIONS` (`0-99 200`).
pub fn ranges_text(ranges: &[SlotRange]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads slot ranges as [`ranges_text`] writes them; `None` for anything else.
pub fn parse_ranges(text: &str) -> Option<Vec<SlotRange>> {
    text.split_whitespace()
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
            (a <= b && u32::from(b) < SLOTS).then_some((a, b))
        })
        .collect()
}

/// The slots of a new cluster's shards (`ids`, in node group order): the ranges `configured` for each shard
/// (`nodeGroupConfiguration[].slots`, ElastiCache's `0-100,200-5460`) when given, else an even spread. Given for
/// one shard, they must be given for all, and cover every slot exactly once.
pub fn initial_map(configured: &[Option<&str>], ids: &[String]) -> Result<SlotMap, String> {
    let given: Vec<(usize, &str)> = configured
        .iter()
        .take(ids.len())
        .enumerate()
        .filter_map(|(g, s)| s.map(|s| (g, s)))
        .collect();
    if given.is_empty() {
        return Ok(SlotMap::even(ids));
    }
    if given.len() != ids.len() {
        return Err(format!(
            "nodeGroupConfiguration gives slots for {} of the {} shards: give them for every shard or for none",
            given.len(),
            ids.len()
        ));
    }
    let mut owner: Vec<Option<usize>> = vec![None; SLOTS as usize];
    let mut map = SlotMap::default();
    for (g, text) in given {
        let ranges = parse_ranges(&text.replace(',', " "))
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                format!(
                    "shard {} slots {text:?}: want ranges like 0-5460 or 0-100,200-300 within 0-16383",
                    g + 1
                )
            })?;
        for &(a, b) in &ranges {
            for slot in a..=b {
                if let Some(other) = owner[usize::from(slot)].replace(g) {
                    return Err(format!(
                        "slot {slot} is given to shard {} and to shard {}",
                        other + 1,
                        g + 1
                    ));
                }
            }
        }
        let mut slots: Vec<u16> = ranges.iter().flat_map(|&(a, b)| a..=b).collect();
        slots.sort_unstable();
        map.owners.insert(ids[g].clone(), ranges_of(&slots));
    }
    let missing: Vec<u16> = (0..SLOTS)
        .filter(|&s| owner[s as usize].is_none())
        .map(slot)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "nodeGroupConfiguration slots leave {} slots to no shard ({})",
            missing.len(),
            ranges_text(&ranges_of(&missing))
        ));
    }
    Ok(map)
}

/// The slots of a new cluster's first `ids.len()` shards as its spec configures them ([`initial_map`]).
pub fn configured_map(
    spec: &crate::api::CacheClusterSpec,
    ids: &[String],
) -> Result<SlotMap, String> {
    let configured: Vec<Option<&str>> = (0..ids.len())
        .map(|g| {
            spec.group_configuration(i32::try_from(g).unwrap_or(i32::MAX))
                .and_then(|c| c.slots.as_deref())
        })
        .collect();
    initial_map(&configured, ids)
}

/// Whether slots should move: the running shards are not the wanted count, or the map is not balanced and is not
/// the layout the spec configured (`nodeGroupConfiguration` slots stay as given until the shard count changes;
/// after that, resharding spreads slots evenly).
pub fn reshard_wanted(
    spec: &crate::api::CacheClusterSpec,
    map: &SlotMap,
    running: &[String],
    wanted: usize,
) -> bool {
    if running.len() != wanted {
        return true;
    }
    if rebalance(map, running).is_empty() {
        return false;
    }
    let owned = |m: &SlotMap| -> BTreeMap<String, Vec<SlotRange>> {
        m.owners
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect()
    };
    configured_map(spec, running).map_or(true, |configured| owned(&configured) != owned(map))
}

/// Whether two documents describe the same layout (shards, slots, nodes and roles), whatever their epochs and
/// the order they list shards and nodes in.
pub fn same_layout(a: &Topology, b: &Topology) -> bool {
    let normal = |t: &Topology| {
        let mut shards = t.shards.clone();
        for shard in &mut shards {
            shard.nodes.sort_by(|x, y| x.id.cmp(&y.id));
            shard.slots.sort_unstable();
        }
        shards.sort_by(|x, y| x.id.cmp(&y.id));
        shards
    };
    normal(a) == normal(b)
}

/// What a node contributes to the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    /// Node group index.
    pub group: i32,
    /// The node itself (role included).
    pub node: TopologyNode,
}

/// The document for `nodes` with the slots of `map`: one shard per node group that has a primary, in group
/// order. Groups without a primary are left out (their slots then show as not served until one is promoted).
pub fn document(
    epoch: u64,
    shard_ids: &BTreeMap<i32, String>,
    map: &SlotMap,
    nodes: &[NodeEntry],
) -> Topology {
    let mut shards = Vec::new();
    for (group, id) in shard_ids {
        let mut members: Vec<TopologyNode> = nodes
            .iter()
            .filter(|n| n.group == *group)
            .map(|n| n.node.clone())
            .collect();
        if !members.iter().any(|n| n.role == TopologyRole::Primary) {
            continue;
        }
        // The primary first, as Redis lists a shard.
        members.sort_by_key(|n| n.role != TopologyRole::Primary);
        shards.push(TopologyShard {
            id: id.clone(),
            slots: map
                .owners
                .get(id)
                .map(|r| r.iter().map(|&(a, b)| [a, b]).collect())
                .unwrap_or_default(),
            nodes: members,
        });
    }
    Topology { epoch, shards }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:040x}")).collect()
    }

    fn after(map: &SlotMap, moves: &[Move]) -> SlotMap {
        let mut map = map.clone();
        for m in moves {
            apply(&mut map, m);
        }
        map
    }

    #[test]
    fn creation_spreads_slots_evenly_as_elasticache_does() {
        let map = SlotMap::even(&ids(3));
        let counts: Vec<u32> = ids(3).iter().map(|i| map.count(i)).collect();
        assert_eq!(counts, vec![5462, 5461, 5461]);
        assert_eq!(map.owners[&ids(3)[0]], vec![(0, 5461)]);
        assert_eq!(map.owners[&ids(3)[2]], vec![(10923, 16383)]);
        assert!(map.is_complete());
        assert!(SlotMap::even(&ids(500)).is_complete());
    }

    #[test]
    fn scale_out_moves_only_each_shards_excess_to_the_new_shards() {
        let map = SlotMap::even(&ids(3));
        let moves = rebalance(&map, &ids(5));
        let done = after(&map, &moves);
        assert!(done.is_complete());
        let counts: Vec<u32> = ids(5).iter().map(|i| done.count(i)).collect();
        assert_eq!(counts, vec![3277, 3277, 3277, 3277, 3276]);
        // Exactly the new shards' share moves: nothing between the old shards.
        let moved: u32 = moves.iter().map(Move::count).sum();
        assert_eq!(moved, 3277 + 3276);
        assert!(moves.iter().all(|m| m.to == ids(5)[3] || m.to == ids(5)[4]));
        assert_eq!(rebalance(&done, &ids(5)), Vec::new());
    }

    #[test]
    fn scale_in_drains_the_leaving_shards_first_and_only_them() {
        let map = after(
            &SlotMap::even(&ids(3)),
            &rebalance(&SlotMap::even(&ids(3)), &ids(5)),
        );
        let moves = rebalance(&map, &ids(2));
        assert!(moves.iter().take(3).all(|m| !ids(2).contains(&m.from)));
        let done = after(&map, &moves);
        assert!(done.is_complete());
        for leaving in &ids(5)[2..] {
            assert_eq!(done.count(leaving), 0);
        }
        assert_eq!(done.count(&ids(2)[0]), 8192);
        assert_eq!(done.count(&ids(2)[1]), 8192);
    }

    #[test]
    fn a_balanced_map_needs_no_move_and_odd_maps_converge() {
        let map = SlotMap::even(&ids(4));
        assert!(rebalance(&map, &ids(4)).is_empty());
        // Fragmented ownership (every other slot) still converges in one plan.
        let mut frag = SlotMap::default();
        let (a, b): (Vec<u16>, Vec<u16>) = (0..16384u16).partition(|s| s % 2 == 0);
        frag.owners.insert(ids(2)[0].clone(), ranges_of(&a));
        frag.owners.insert(ids(2)[1].clone(), ranges_of(&b));
        let done = after(&frag, &rebalance(&frag, &ids(3)));
        assert!(done.is_complete());
        assert!(rebalance(&done, &ids(3)).is_empty());
    }

    #[test]
    fn the_document_reads_back_and_lists_the_primary_first() {
        let shard_ids: BTreeMap<i32, String> = [(0, ids(1)[0].clone())].into();
        let node = |id: &str, port, role| NodeEntry {
            group: 0,
            node: TopologyNode {
                id: id.into(),
                ip: "127.0.0.1".into(),
                port,
                tls_port: 0,
                hostname: String::new(),
                role,
            },
        };
        let nodes = [
            node(&"b".repeat(40), 7002, TopologyRole::Replica),
            node(&"a".repeat(40), 7001, TopologyRole::Primary),
        ];
        let doc = document(3, &shard_ids, &SlotMap::even(&ids(1)), &nodes);
        assert_eq!(doc.shards[0].nodes[0].port, 7001);
        assert_eq!(doc.shards[0].slots, vec![[0, 16383]]);
        let json = doc.to_json();
        assert!(json.contains(r#""role":"primary""#) && !json.contains("tls_port"));
        assert_eq!(Topology::parse(&json).unwrap(), doc);
        assert_eq!(shard_id("ns", "c", 0).len(), 40);
        assert_ne!(shard_id("ns", "c", 0), shard_id("ns", "c", 1));
    }

    #[test]
    fn migrate_arguments_and_progress_text_match_the_engine() {
        let step = Move {
            from: "x".into(),
            to: "y".into(),
            slots: vec![(0, 99), (200, 200)],
        };
        assert_eq!(
            migrate_args(&step, "n").join(" "),
            "MIGRATESLOTS SLOTSRANGE 0 99 200 200 NODE n"
        );
        assert_eq!(ranges_text(&step.slots), "0-99 200");
    }

    #[test]
    fn steps_add_shards_then_move_one_migration_at_a_time_then_remove_drained_shards() {
        let three = ids(3);
        let five = ids(5);
        let map = SlotMap::even(&three);
        assert_eq!(next_step(&map, &three, 5), ReshardStep::AddShards);
        let mut map = map;
        let mut moves = 0;
        while let ReshardStep::Move(step) = next_step(&map, &five, 5) {
            apply(&mut map, &step);
            moves += 1;
        }
        assert!(moves > 0);
        assert_eq!(next_step(&map, &five, 5), ReshardStep::Balanced);
        // Down to 2: the leaving shards are drained first and only then removed.
        let mut first = None;
        while let ReshardStep::Move(step) = next_step(&map, &five, 2) {
            first.get_or_insert(step.from.clone());
            apply(&mut map, &step);
        }
        assert!(
            !five[..2].contains(&first.unwrap()),
            "a leaving shard is drained first"
        );
        assert_eq!(next_step(&map, &five, 2), ReshardStep::RemoveShards);
        assert!(five[2..].iter().all(|id| map.count(id) == 0));
        assert_eq!(map.count(&five[0]) + map.count(&five[1]), SLOTS);
    }

    #[test]
    fn a_scale_in_whose_data_would_not_fit_is_refused_with_the_numbers() {
        let gib = 1u64 << 30;
        assert_eq!(scale_in_refusal(3 * gib, 3, 2, Some(2 * gib)), None);
        let refusal = scale_in_refusal(4 * gib, 3, 2, Some(2 * gib)).unwrap();
        assert!(refusal.contains("from 3 to 2 shards"), "{refusal}");
        assert!(refusal.contains("4.00 GiB"), "{refusal}");
        assert_eq!(
            scale_in_refusal(40 * gib, 3, 4, Some(gib)),
            None,
            "scale-out"
        );
        assert_eq!(scale_in_refusal(40 * gib, 3, 2, None), None, "no maxmemory");
    }

    #[test]
    fn slot_ranges_read_back_what_they_print_and_layouts_compare_without_epochs() {
        let ranges = vec![(0, 99), (200, 200), (16000, 16383)];
        assert_eq!(parse_ranges(&ranges_text(&ranges)), Some(ranges));
        assert_eq!(parse_ranges(""), Some(vec![]));
        assert_eq!(parse_ranges("5-3"), None);
        assert_eq!(parse_ranges("0-16384"), None);
        let node = |id: &str, role| TopologyNode {
            id: id.into(),
            ip: "10.0.0.1".into(),
            port: 6379,
            tls_port: 0,
            hostname: String::new(),
            role,
        };
        let shard = |id: &str, nodes: Vec<TopologyNode>| TopologyShard {
            id: id.into(),
            slots: vec![[0, 10]],
            nodes,
        };
        let a = Topology {
            epoch: 3,
            shards: vec![
                shard(
                    "a",
                    vec![
                        node("1", TopologyRole::Primary),
                        node("2", TopologyRole::Replica),
                    ],
                ),
                shard("b", vec![node("3", TopologyRole::Primary)]),
            ],
        };
        let mut b = a.clone();
        b.epoch = 9;
        b.shards.reverse();
        b.shards[1].nodes.reverse();
        assert!(same_layout(&a, &b));
        b.shards[1].nodes[0].role = TopologyRole::Primary;
        b.shards[1].nodes[1].role = TopologyRole::Replica;
        assert!(!same_layout(&a, &b), "a switched role is another layout");
    }

    #[test]
    fn configured_slots_are_taken_when_given_for_every_shard_and_covering_all() {
        let ids = ids(2);
        assert_eq!(initial_map(&[None, None], &ids), Ok(SlotMap::even(&ids)));
        let map = initial_map(&[Some("0-99,8000-16383"), Some("100-7999")], &ids).unwrap();
        assert_eq!(map.count(&ids[0]), 100 + 8384);
        assert_eq!(map.owners[&ids[1]], vec![(100, 7999)]);
        assert!(map.is_complete());
        let partial = initial_map(&[Some("0-16383"), None], &ids).unwrap_err();
        assert!(partial.contains("1 of the 2 shards"), "{partial}");
        let overlap = initial_map(&[Some("0-9000"), Some("9000-16383")], &ids).unwrap_err();
        assert!(overlap.contains("slot 9000"), "{overlap}");
        let gap = initial_map(&[Some("0-100"), Some("200-16383")], &ids).unwrap_err();
        assert!(gap.contains("101-199"), "{gap}");
        let bad = initial_map(&[Some("0-16384"), Some("1")], &ids).unwrap_err();
        assert!(bad.contains("within 0-16383"), "{bad}");
    }

    #[test]
    fn a_configured_layout_stays_until_the_shard_count_changes() {
        let mut spec = crate::fixtures::cluster(crate::fixtures::REDIS_SINGLE_NODE).spec;
        spec.cluster_mode = crate::api::ClusterMode::Enabled;
        spec.num_node_groups = 2;
        let two = ids(2);
        let uneven = initial_map(&[Some("0-99"), Some("100-16383")], &two).unwrap();
        assert!(
            reshard_wanted(&spec, &uneven, &two, 2),
            "not configured: evened out"
        );
        spec.node_group_configuration = ["0-99", "100-16383"]
            .map(|s| crate::api::NodeGroupConfiguration {
                slots: Some(s.into()),
                ..Default::default()
            })
            .to_vec();
        assert!(!reshard_wanted(&spec, &uneven, &two, 2), "configured: kept");
        assert!(reshard_wanted(&spec, &uneven, &ids(3), 2), "a shard leaves");
        assert!(reshard_wanted(&spec, &uneven, &two, 3), "a shard comes");
        let mut moved = uneven.clone();
        apply(&mut moved, &rebalance(&uneven, &two)[0]);
        assert!(!reshard_wanted(&spec, &moved, &two, 2), "balanced");
        assert!(!reshard_wanted(&spec, &SlotMap::even(&two), &two, 2));
    }
}
