//! Node type presets: what `cacheNodeType` means in CPU, memory and the engine's `maxmemory`.
//!
//! `maxmemory` is 75% of the container's memory, leaving room for connection buffers, replication backlog and
//! the allocator's fragmentation, as ElastiCache reserves memory for the same reasons.

use crate::api::CacheNodeType;

/// Resources of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSize {
    /// CPU in millicores (request and limit).
    pub cpu_millis: u32,
    /// Memory in MiB (request and limit).
    pub memory_mib: u64,
}

/// Share of the container memory the dataset may use, in percent.
pub const MAXMEMORY_PERCENT: u64 = 75;

/// The preset table.
pub fn node_size(node_type: CacheNodeType) -> NodeSize {
    let (cpu_millis, memory_mib) = match node_type {
        CacheNodeType::Small => (500, 1024),
        CacheNodeType::Medium => (1000, 2048),
        CacheNodeType::Large => (2000, 4096),
        CacheNodeType::Xlarge => (4000, 8192),
    };
    NodeSize {
        cpu_millis,
        memory_mib,
    }
}

/// `maxmemory` in bytes for a container memory limit in bytes.
pub fn maxmemory_for(memory_bytes: u64) -> u64 {
    (u128::from(memory_bytes) * u128::from(MAXMEMORY_PERCENT) / 100) as u64
}

/// Engine worker threads for a CPU allowance: one per whole core, at least one.
pub fn threads_for(cpu_millis: u32) -> u32 {
    (cpu_millis / 1000).max(1)
}

/// Parses a Kubernetes memory quantity (`512Mi`, `2Gi`, `1G`, `1500000`) into bytes. `None` when it is not a
/// plain memory quantity (e.g. `1.5Gi` or `100m`), in which case the caller leaves `maxmemory` unset.
pub fn parse_memory_quantity(quantity: &str) -> Option<u64> {
    let split = quantity
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(quantity.len());
    let (digits, suffix) = quantity.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let multiplier: u64 = match suffix {
        "" => 1,
        "k" => 1000,
        "M" => 1000_u64.pow(2),
        "G" => 1000_u64.pow(3),
        "T" => 1000_u64.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(multiplier)
}

/// Parses a Kubernetes CPU quantity (`500m`, `2`) into millicores.
pub fn parse_cpu_quantity(quantity: &str) -> Option<u32> {
    match quantity.strip_suffix('m') {
        Some(millis) => millis.parse().ok(),
        None => quantity.parse::<u32>().ok()?.checked_mul(1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_double_at_each_step() {
        let sizes: Vec<_> = [
            CacheNodeType::Small,
            CacheNodeType::Medium,
            CacheNodeType::Large,
            CacheNodeType::Xlarge,
        ]
        .into_iter()
        .map(node_size)
        .collect();
        for pair in sizes.windows(2) {
            assert_eq!(pair[1].cpu_millis, pair[0].cpu_millis * 2);
            assert_eq!(pair[1].memory_mib, pair[0].memory_mib * 2);
        }
        assert_eq!(sizes[0].memory_mib, 1024);
    }

    #[test]
    fn maxmemory_is_three_quarters_of_the_container_memory() {
        assert_eq!(maxmemory_for(1 << 30), 805_306_368);
        assert_eq!(maxmemory_for(u64::MAX), u64::MAX / 4 * 3 + 2);
    }

    #[test]
    fn threads_follow_whole_cores() {
        assert_eq!(threads_for(500), 1);
        assert_eq!(threads_for(2000), 2);
        assert_eq!(threads_for(4500), 4);
    }

    #[test]
    fn memory_quantities_parse_with_binary_and_decimal_suffixes() {
        assert_eq!(parse_memory_quantity("512Mi"), Some(512 << 20));
        assert_eq!(parse_memory_quantity("2Gi"), Some(2 << 30));
        assert_eq!(parse_memory_quantity("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory_quantity("1500"), Some(1500));
        assert_eq!(parse_memory_quantity("1.5Gi"), None);
        assert_eq!(parse_memory_quantity("Gi"), None);
    }

    #[test]
    fn cpu_quantities_parse_as_millicores() {
        assert_eq!(parse_cpu_quantity("500m"), Some(500));
        assert_eq!(parse_cpu_quantity("2"), Some(2000));
        assert_eq!(parse_cpu_quantity("0.5"), None);
    }
}
