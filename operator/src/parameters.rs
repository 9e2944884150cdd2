//! The engine's parameter table, as parameter groups see it: names, value types, ranges, and whether a change
//! applies live (`CONFIG SET`) or needs a restart.
//!
//! This is a copy of the table in `engine/src/config/mod.rs` (the operator shares no code with the engine, only the
//! wire protocol and these names); a change there must be mirrored here. Parameters the operator derives from
//! the spec (`port`, `bind`, `requirepass`, `maxmemory`, `metering`) are refused in groups with the field to use.

use std::collections::BTreeMap;

use crate::api::{ChangeType, InvalidParameter, ParameterStatus};

/// The type and range of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A decimal integer within `min..=max`.
    Integer {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// A memory size with Redis units (`100mb`, `1gb`, `512k`), at least `min` bytes.
    Memory {
        /// Smallest accepted size in bytes.
        min: u64,
    },
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
}

/// One parameter a group may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineParameter {
    /// Name, as in redis.conf.
    pub name: &'static str,
    /// Accepted values.
    pub kind: ValueKind,
    /// How a change reaches running nodes.
    pub change_type: ChangeType,
}

const EVICTION_POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];
const LOG_LEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
const MIB: u64 = 1024 * 1024;

const fn param(name: &'static str, kind: ValueKind, change_type: ChangeType) -> EngineParameter {
    EngineParameter {
        name,
        kind,
        change_type,
    }
}

const fn int(min: u64, max: u64) -> ValueKind {
    ValueKind::Integer { min, max }
}

/// Parameters a group may set.
pub const PARAMETERS: &[EngineParameter] = &[
    param("databases", int(1, 1_000_000), ChangeType::RequiresReboot),
    param("threads", int(1, 1024), ChangeType::RequiresReboot),
    param("shards", int(1, 65536), ChangeType::RequiresReboot),
    param(
        "maxmemory-policy",
        ValueKind::OneOf(EVICTION_POLICIES),
        ChangeType::Immediate,
    ),
    param("maxmemory-samples", int(1, 64), ChangeType::Immediate),
    param(
        "lfu-log-factor",
        int(0, u32::MAX as u64),
        ChangeType::Immediate,
    ),
    param(
        "lfu-decay-time",
        int(0, u32::MAX as u64),
        ChangeType::Immediate,
    ),
    param("timeout", int(0, u32::MAX as u64), ChangeType::Immediate),
    param(
        "loglevel",
        ValueKind::OneOf(LOG_LEVELS),
        ChangeType::Immediate,
    ),
    param("hz", int(1, 500), ChangeType::Immediate),
    param(
        "proto-max-bulk-len",
        ValueKind::Memory { min: MIB },
        ChangeType::Immediate,
    ),
    param(
        "client-query-buffer-limit",
        ValueKind::Memory { min: MIB },
        ChangeType::Immediate,
    ),
    param("maxclients", int(1, 1_000_000), ChangeType::Immediate),
    param(
        "slowlog-max-len",
        int(0, u32::MAX as u64),
        ChangeType::Immediate,
    ),
    param(
        "latency-monitor-threshold",
        int(0, u32::MAX as u64),
        ChangeType::Immediate,
    ),
    param(
        "repl-backlog-size",
        ValueKind::Memory { min: 16 * 1024 },
        ChangeType::Immediate,
    ),
];

/// Engine parameters the operator sets itself, with the spec field that controls each.
pub const MANAGED: &[(&str, &str)] = &[
    ("bind", "the operator binds every pod address"),
    (
        "protected-mode",
        "access is controlled by spec.allowedClients and spec.authTokenSecretRef",
    ),
    ("port", "set spec.port"),
    ("requirepass", "set spec.authTokenSecretRef"),
    ("maxmemory", "follows spec.cacheNodeType or spec.resources"),
    ("metering", "set spec.metering.enabled"),
    ("usage-ledger", "set spec.metering.enabled"),
    ("usage-max-storage", "set spec.usageLimits.dataStorage"),
    (
        "usage-max-ecpu-per-second",
        "set spec.usageLimits.ecpuPerSecond",
    ),
];

/// Looks a parameter up by name (case-insensitive, as the engine does).
pub fn lookup(name: &str) -> Option<&'static EngineParameter> {
    PARAMETERS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

/// A parameter group's parameters split into valid (normalised name, with change type) and invalid ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validated {
    /// Accepted parameters, sorted by name.
    pub valid: Vec<ParameterStatus>,
    /// Refused parameters with the reason.
    pub invalid: Vec<InvalidParameter>,
}

impl Validated {
    /// Accepted parameters split into static (`requires-reboot`) and dynamic (`immediate`) ones.
    pub fn split_by_change_type(&self) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let pick = |t: ChangeType| {
            self.valid
                .iter()
                .filter(|p| p.change_type == t)
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect()
        };
        (
            pick(ChangeType::RequiresReboot),
            pick(ChangeType::Immediate),
        )
    }

    /// Accepted parameters as `name → value`.
    pub fn values(&self) -> BTreeMap<String, String> {
        self.valid
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect()
    }
}

/// Validates every parameter of a group.
pub fn validate(parameters: &BTreeMap<String, String>) -> Validated {
    let mut out = Validated::default();
    for (name, value) in parameters {
        match validate_one(name, value) {
            Ok(p) => out.valid.push(ParameterStatus {
                name: p.name.to_string(),
                value: value.trim().to_string(),
                change_type: p.change_type,
            }),
            Err(message) => out.invalid.push(InvalidParameter {
                name: name.clone(),
                message,
            }),
        }
    }
    out.valid.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn validate_one(name: &str, value: &str) -> Result<&'static EngineParameter, String> {
    if let Some((_, why)) = MANAGED.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Err(format!("managed by the operator: {why}"));
    }
    let p = lookup(name).ok_or_else(|| "unknown parameter".to_string())?;
    check_value(p.kind, value.trim())?;
    Ok(p)
}

fn check_value(kind: ValueKind, value: &str) -> Result<(), String> {
    match kind {
        ValueKind::Integer { min, max } => match value.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(()),
            _ => Err(format!("must be an integer between {min} and {max}")),
        },
        ValueKind::Memory { min } => match parse_memory(value) {
            Some(n) if n >= min => Ok(()),
            Some(_) => Err(format!("must be at least {min} bytes")),
            None => Err("must be a memory size such as 512mb or 1gb".into()),
        },
        ValueKind::OneOf(words) => {
            if words.iter().any(|w| w.eq_ignore_ascii_case(value)) {
                Ok(())
            } else {
                Err(format!("must be one of: {}", words.join(", ")))
            }
        }
    }
}

/// Parses a memory size with Redis units: `k`/`m`/`g` (powers of 1000) and `kb`/`mb`/`gb` (powers of 1024).
pub fn parse_memory(value: &str) -> Option<u64> {
    let value = value.to_ascii_lowercase();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => MIB,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * MIB,
        _ => return None,
    };
    n.checked_mul(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn known_parameters_with_good_values_are_valid_with_their_change_type() {
        let v = validate(&group(&[
            ("maxmemory-policy", "allkeys-lru"),
            ("timeout", "300"),
            ("databases", "32"),
            ("proto-max-bulk-len", "64mb"),
        ]));
        assert!(v.invalid.is_empty(), "{:?}", v.invalid);
        let types: Vec<_> = v
            .valid
            .iter()
            .map(|p| (p.name.as_str(), p.change_type))
            .collect();
        assert_eq!(
            types,
            [
                ("databases", ChangeType::RequiresReboot),
                ("maxmemory-policy", ChangeType::Immediate),
                ("proto-max-bulk-len", ChangeType::Immediate),
                ("timeout", ChangeType::Immediate),
            ]
        );
    }

    #[test]
    fn names_are_case_insensitive_and_normalised() {
        let v = validate(&group(&[("MaxMemory-Policy", "volatile-ttl")]));
        assert_eq!(v.valid[0].name, "maxmemory-policy");
    }

    #[test]
    fn unknown_names_out_of_range_and_bad_words_are_refused_with_reasons() {
        let v = validate(&group(&[
            ("no-such-thing", "1"),
            ("maxmemory-samples", "65"),
            ("maxmemory-policy", "lru"),
            ("hz", "-1"),
            ("client-query-buffer-limit", "1kb"),
            ("proto-max-bulk-len", "lots"),
        ]));
        assert!(v.valid.is_empty());
        let reasons: BTreeMap<_, _> = v
            .invalid
            .iter()
            .map(|p| (p.name.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(reasons["no-such-thing"], "unknown parameter");
        assert_eq!(
            reasons["maxmemory-samples"],
            "must be an integer between 1 and 64"
        );
        assert!(reasons["maxmemory-policy"].starts_with("must be one of: noeviction"));
        assert_eq!(reasons["hz"], "must be an integer between 1 and 500");
        assert_eq!(
            reasons["client-query-buffer-limit"],
            "must be at least 1048576 bytes"
        );
        assert_eq!(
            reasons["proto-max-bulk-len"],
            "must be a memory size such as 512mb or 1gb"
        );
    }

    #[test]
    fn parameters_the_operator_manages_point_to_the_spec_field() {
        let v = validate(&group(&[("requirepass", "x"), ("port", "1")]));
        assert_eq!(v.invalid.len(), 2);
        assert!(v
            .invalid
            .iter()
            .any(|p| p.message.contains("spec.authTokenSecretRef")));
        assert!(v.invalid.iter().any(|p| p.message.contains("spec.port")));
    }

    #[test]
    fn memory_units_follow_redis() {
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("12xb"), None);
    }
}
