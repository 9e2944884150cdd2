//! Checks a CacheCluster before it runs locally: the CRD's own rules ([`crate::api::rules`]: schema, defaults
//! and CEL, from the generated CRD, so the local platform and the API server enforce one definition), the
//! parameter group's values and family, then what the local platform cannot provide (Kubernetes Secrets for TLS
//! certificates, snapshot keys and passwords).

use crate::api::{rules, CacheCluster, CacheClusterSpec, CacheParameterGroup};
use crate::parameters;

/// What the check found: problems refuse the cluster, notes are printed and the cluster runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Reasons the cluster cannot run locally, each saying what to change.
    pub problems: Vec<String>,
    /// Settings that have no local meaning and are ignored.
    pub notes: Vec<String>,
}

/// Checks the cluster and its parameter group; `old` is the cluster it replaces (an edit), for the CRD's
/// transition rules.
pub fn check(
    cluster: &CacheCluster,
    old: Option<&CacheCluster>,
    group: Option<&CacheParameterGroup>,
) -> Findings {
    let mut findings = Findings {
        problems: rules::cluster_violations(cluster, old),
        notes: Vec::new(),
    };
    if let Some(group) = group {
        parameter_group_rules(&cluster.spec, group, &mut findings.problems);
    }
    if old.is_none() && cluster.spec.sharded() {
        // The first layout: configured slots must give every slot to exactly one shard (an edit keeps the
        // running layout, as on Kubernetes).
        let ids: Vec<String> = (0..cluster.spec.num_node_groups)
            .map(|g| format!("{g:040x}"))
            .collect();
        if let Err(why) = crate::sharding::configured_map(&cluster.spec, &ids) {
            findings.problems.push(why);
        }
    }
    local_limits(&cluster.spec, &mut findings);
    findings
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
    if spec
        .node_group_configuration
        .iter()
        .any(|g| g.primary_availability_zone.is_some() || !g.replica_availability_zones.is_empty())
    {
        notes.push("nodeGroupConfiguration zones: every local node runs on this machine".into());
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
                check(&cluster(manifest), None, None).problems,
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn the_tls_and_auth_example_is_refused_with_what_to_change() {
        let findings = check(&cluster(REDIS_HA), None, Some(&parameter_group()));
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
        let mut c = cluster(REDIS_SINGLE_NODE);
        c.spec.automatic_failover_enabled = true;
        c.spec.replicas_per_node_group = 0;
        c.spec.preferred_maintenance_window = "sun:05:00-sun:05:30".into();
        c.spec.num_node_groups = 501;
        let problems = check(&c, None, None).problems;
        for wanted in [
            "automaticFailoverEnabled needs at least one replica per node group",
            "preferredMaintenanceWindow must last at least 60 minutes",
            "numNodeGroups above 1 needs clusterMode: enabled",
            "/spec/numNodeGroups",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(wanted)),
                "{wanted}: {problems:?}"
            );
        }
    }

    #[test]
    fn transition_rules_refuse_an_edit_of_an_immutable_field() {
        let old = cluster(REDIS_SINGLE_NODE);
        let mut new = old.clone();
        new.spec.cluster_mode = crate::api::ClusterMode::Enabled;
        let problems = check(&new, Some(&old), None).problems;
        assert!(
            problems
                .iter()
                .any(|p| p.contains("clusterMode cannot change")),
            "{problems:?}"
        );
        assert!(check(&new, None, None).problems.is_empty());
    }

    #[test]
    fn a_parameter_group_of_the_other_family_is_refused() {
        let problems = check(&cluster(MEMCACHED), None, Some(&parameter_group())).problems;
        assert!(
            problems.iter().any(|p| p.contains("family redis7")),
            "{problems:?}"
        );
    }
}
