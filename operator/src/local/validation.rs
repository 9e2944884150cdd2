//! Checks a CacheCluster before it runs locally: the CRD's rules that are pure functions (ranges, the CEL
//! rules, the maintenance window, the parameter group's values and family), then what the local platform cannot
//! provide (Kubernetes Secrets for TLS certificates, snapshot keys and passwords).
//!
//! The API server enforces the schema and CEL rules in Kubernetes; here nothing does, so they are repeated.

use crate::api::{CacheClusterSpec, CacheParameterGroup, ClusterMode, Engine};
use crate::maintenance_window::MaintenanceWindow;
use crate::parameters;

/// What the check found: problems refuse the cluster, notes are printed and the cluster runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Reasons the cluster cannot run locally, each saying what to change.
    pub problems: Vec<String>,
    /// Settings that have no local meaning and are ignored.
    pub notes: Vec<String>,
}

/// Checks the spec and its parameter group.
pub fn check(spec: &CacheClusterSpec, group: Option<&CacheParameterGroup>) -> Findings {
    let mut findings = Findings::default();
    crd_rules(spec, &mut findings.problems);
    if let Some(group) = group {
        parameter_group_rules(spec, group, &mut findings.problems);
    }
    local_limits(spec, &mut findings);
    findings
}

fn crd_rules(spec: &CacheClusterSpec, problems: &mut Vec<String>) {
    let mut rule = |ok: bool, message: &str| {
        if !ok {
            problems.push(message.to_string());
        }
    };
    rule(
        (1..=500).contains(&spec.num_node_groups),
        "numNodeGroups must be between 1 and 500",
    );
    rule(
        (0..=5).contains(&spec.replicas_per_node_group),
        "replicasPerNodeGroup must be between 0 and 5",
    );
    rule(
        (1..=60).contains(&spec.num_cache_nodes),
        "numCacheNodes must be between 1 and 60",
    );
    rule(
        spec.port.is_none_or(|p| (1..=65535).contains(&p)),
        "port must be between 1 and 65535",
    );
    let memcached = spec.engine == Engine::Memcached;
    let sharded = spec.cluster_mode == ClusterMode::Enabled;
    rule(
        sharded || spec.num_node_groups == 1,
        "numNodeGroups above 1 needs clusterMode: enabled",
    );
    rule(
        !memcached || !sharded,
        "memcached has no cluster mode: clients shard over the nodes; use clusterMode: disabled",
    );
    rule(
        !memcached || (spec.replicas_per_node_group == 0 && spec.num_node_groups == 1),
        "memcached has no replicas and no node groups: use numCacheNodes, with replicasPerNodeGroup 0 and numNodeGroups 1",
    );
    rule(
        !memcached || (spec.auth_token_secret_ref.is_none() && spec.users.is_empty()),
        "authTokenSecretRef and users are Redis features; memcached has no AUTH",
    );
    rule(
        !spec.transit_encryption_enabled || spec.tls.is_some(),
        "transitEncryptionEnabled needs a certificate source: set tls.secretName or tls.issuerRef",
    );
    rule(
        !spec.at_rest_encryption_enabled || spec.at_rest_encryption_key_secret_ref.is_some(),
        "atRestEncryptionEnabled needs atRestEncryptionKeySecretRef (a Secret holding the snapshot key)",
    );
    rule(
        !spec.automatic_failover_enabled || spec.replicas_per_node_group >= 1,
        "automaticFailoverEnabled needs at least one replica per node group",
    );
    rule(
        !spec.multi_az_enabled || spec.automatic_failover_enabled,
        "multiAZEnabled needs automaticFailoverEnabled",
    );
    if let Err(e) = MaintenanceWindow::parse(&spec.preferred_maintenance_window) {
        problems.push(format!("preferredMaintenanceWindow: {e}"));
    }
}

fn parameter_group_rules(
    spec: &CacheClusterSpec,
    group: &CacheParameterGroup,
    problems: &mut Vec<String>,
) {
    if group.spec.family.engine() != spec.engine {
        problems.push(format!(
            "parameter group family {} does not configure {} clusters",
            group.spec.family.as_str(),
            spec.engine.as_str()
        ));
    }
    for invalid in parameters::validate(&group.spec.parameters).invalid {
        problems.push(format!("parameter {}: {}", invalid.name, invalid.message));
    }
}

fn local_limits(spec: &CacheClusterSpec, findings: &mut Findings) {
    let problems = &mut findings.problems;
    let secrets = "the local platform has no Kubernetes Secrets to read it from; remove it to run locally (see examples/local-redis-ha.yaml)";
    if spec.transit_encryption_enabled {
        problems.push(format!(
            "transitEncryptionEnabled needs a TLS certificate: {secrets}"
        ));
    }
    if spec.at_rest_encryption_enabled {
        problems.push(format!(
            "atRestEncryptionEnabled needs a snapshot key: {secrets}"
        ));
    }
    if spec.auth_token_secret_ref.is_some() {
        problems.push(format!("authTokenSecretRef names a password: {secrets}"));
    }
    if !spec.users.is_empty() {
        problems.push(format!("users have passwords in Secrets: {secrets}"));
    }
    let notes = &mut findings.notes;
    if spec.multi_az_enabled {
        notes.push("multiAZEnabled: every local node runs on this machine".into());
    }
    if spec.allowed_clients.is_some() {
        notes.push("allowedClients: local endpoints listen on 127.0.0.1 only".into());
    }
    if spec.pod_template.is_some() {
        notes.push("podTemplate: there are no pods locally".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{cluster, parameter_group, MEMCACHED, REDIS_HA, REDIS_SINGLE_NODE};

    #[test]
    fn the_plain_examples_run_locally() {
        for manifest in [REDIS_SINGLE_NODE, MEMCACHED] {
            assert_eq!(
                check(&cluster(manifest).spec, None).problems,
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn the_tls_and_auth_example_is_refused_with_what_to_change() {
        let findings = check(&cluster(REDIS_HA).spec, Some(&parameter_group()));
        assert_eq!(findings.problems.len(), 2, "{:?}", findings.problems);
        assert!(findings.problems[0].starts_with("transitEncryptionEnabled"));
        assert!(findings.problems[1].starts_with("authTokenSecretRef"));
        assert!(findings
            .notes
            .iter()
            .any(|n| n.starts_with("multiAZEnabled")));
    }

    #[test]
    fn crd_rules_are_enforced_without_an_api_server() {
        let mut spec = cluster(REDIS_SINGLE_NODE).spec;
        spec.automatic_failover_enabled = true;
        spec.replicas_per_node_group = 0;
        spec.preferred_maintenance_window = "sun:05:00-sun:05:30".into();
        let problems = check(&spec, None).problems;
        assert!(problems
            .iter()
            .any(|p| p.starts_with("automaticFailoverEnabled needs")));
        assert!(problems.iter().any(|p| p.contains("at least 60 minutes")));
    }

    #[test]
    fn a_parameter_group_of_the_other_family_is_refused() {
        let spec = cluster(MEMCACHED).spec;
        let problems = check(&spec, Some(&parameter_group())).problems;
        assert!(
            problems.iter().any(|p| p.contains("family redis7")),
            "{problems:?}"
        );
    }
}
