//! The operator keeps its own copy of the engine's parameter table (it shares no code with the engine crate).
//! This test reads the engine's source and fails when the copy names a parameter the engine does not know, or
//! marks a parameter as changeable live that the engine only accepts at start.

use ferrocache_operator::api::ChangeType;
use ferrocache_operator::parameters::{MANAGED, PARAMETERS};

/// (name, mutable) for every `Param { name: "...", mutable: ... }` in engine/src/config/mod.rs.
fn engine_params() -> Vec<(String, bool)> {
    let source = include_str!("../../engine/src/config/mod.rs");
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find("name: \"") {
        rest = &rest[i + 7..];
        let Some(end) = rest.find('"') else { break };
        let name = rest[..end].to_string();
        let window = &rest[end..rest.len().min(end + 80)];
        let mutable = window.contains("mutable: true");
        if window.contains("mutable:") {
            out.push((name, mutable));
        }
    }
    out
}

#[test]
fn every_operator_parameter_exists_in_the_engine() {
    let engine = engine_params();
    assert!(
        engine.len() > 20,
        "parsed {} engine parameters",
        engine.len()
    );
    for p in PARAMETERS {
        let found = engine.iter().find(|(n, _)| n == p.name);
        let Some((_, mutable)) = found else {
            panic!("the operator knows '{}' but the engine does not", p.name);
        };
        if p.change_type == ChangeType::Immediate {
            assert!(
                *mutable,
                "'{}' is applied live by the operator but the engine refuses CONFIG SET",
                p.name
            );
        }
    }
    for (name, _) in MANAGED {
        assert!(
            engine.iter().any(|(n, _)| n == name),
            "managed parameter '{name}' unknown to the engine"
        );
    }
}
