//! Scaling a node group's replicas (Redis) or a memcached cluster's nodes: which node positions to add and which
//! nodes to remove.
//!
//! A node's position (`index`) fixes its name and, locally, its port; new replicas take the lowest free
//! positions. Scale-in removes the replicas with the highest positions and never the primary, whatever its
//! position. Whether a removed replica is still needed (has writes no other node has) is the executor's check,
//! done before each removal; new replicas count as ready only after their full sync.

/// Node positions a Redis node group has room for: a primary and up to five replicas.
pub const MAX_NODES_PER_GROUP: i32 = 6;
/// Nodes a memcached cluster may have (`numCacheNodes`).
pub const MAX_MEMCACHED_NODES: i32 = 60;

/// One node of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Node name.
    pub name: String,
    /// Position in the group.
    pub index: i32,
}

/// The change that brings a group to the wanted number of replicas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScalePlan {
    /// Positions of replicas to create.
    pub add: Vec<i32>,
    /// Replicas to remove, in removal order.
    pub remove: Vec<String>,
}

impl ScalePlan {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Plans the change from `members` (with `primary` among them) to `replicas` replicas.
pub fn plan(members: &[Member], primary: Option<&str>, replicas: i32) -> ScalePlan {
    plan_within(members, primary, replicas, MAX_NODES_PER_GROUP)
}

/// Plans the change of a memcached cluster to `nodes` nodes (at least one stays: the lowest in name order).
pub fn plan_memcached(members: &[Member], nodes: i32) -> ScalePlan {
    plan_within(members, None, nodes.max(1) - 1, MAX_MEMCACHED_NODES)
}

fn plan_within(
    members: &[Member],
    primary: Option<&str>,
    replicas: i32,
    positions: i32,
) -> ScalePlan {
    let wanted = usize::try_from(replicas.clamp(0, positions - 1)).unwrap_or(0);
    let mut current: Vec<&Member> = members
        .iter()
        .filter(|m| Some(m.name.as_str()) != primary)
        .collect();
    // Without a primary (never wired) one member is kept as if it were.
    if primary.is_none() && !current.is_empty() {
        current.remove(0);
    }
    let mut plan = ScalePlan::default();
    if current.len() > wanted {
        current.sort_by_key(|m| std::cmp::Reverse(m.index));
        plan.remove = current[..current.len() - wanted]
            .iter()
            .map(|m| m.name.clone())
            .collect();
    } else {
        let taken: Vec<i32> = members.iter().map(|m| m.index).collect();
        plan.add = (0..positions)
            .filter(|i| !taken.contains(i))
            .take(wanted - current.len())
            .collect();
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(indexes: &[i32]) -> Vec<Member> {
        indexes
            .iter()
            .map(|i| Member {
                name: format!("n-{i}"),
                index: *i,
            })
            .collect()
    }

    #[test]
    fn scale_out_takes_the_lowest_free_positions() {
        let p = plan(&members(&[0, 2]), Some("n-0"), 3);
        assert_eq!(p.add, vec![1, 3]);
        assert!(p.remove.is_empty());
    }

    #[test]
    fn scale_in_removes_the_highest_replicas_and_never_the_primary() {
        // n-3 became the primary through a failover.
        let p = plan(&members(&[0, 1, 2, 3]), Some("n-3"), 1);
        assert_eq!(p.remove, vec!["n-2".to_string(), "n-1".to_string()]);
        let p = plan(&members(&[0, 1, 2, 3]), Some("n-3"), 0);
        assert_eq!(p.remove.len(), 3);
        assert!(!p.remove.contains(&"n-3".to_string()));
    }

    #[test]
    fn the_same_count_changes_nothing() {
        assert!(plan(&members(&[0, 1]), Some("n-0"), 1).is_empty());
    }

    #[test]
    fn memcached_keeps_at_least_one_node_and_removes_the_highest() {
        let p = plan_memcached(&members(&[0, 1, 2]), 1);
        assert_eq!(p.remove, vec!["n-2".to_string(), "n-1".to_string()]);
        let p = plan_memcached(&members(&[0, 1]), 0);
        assert_eq!(p.remove, vec!["n-1".to_string()]);
        let p = plan_memcached(&members(&[0]), 8);
        assert_eq!(p.add, (1..8).collect::<Vec<_>>());
    }

    #[test]
    fn more_than_five_replicas_is_capped() {
        let p = plan(&members(&[0]), Some("n-0"), 9);
        assert_eq!(p.add, vec![1, 2, 3, 4, 5]);
    }
}
