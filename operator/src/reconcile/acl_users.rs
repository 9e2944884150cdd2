//! ACL users of a Redis cluster (`spec.users`), each with a password from a Secret, created on every node with
//! `ACL SETUSER` and kept in step live: a changed password or access string, an added or a removed user reaches
//! the running nodes without a restart. Each pod's annotation records the hash of the user set its node has
//! (and the names, so users removed from the spec are deleted); a recreated pod, whose engine starts with the
//! default user only, gets the users again.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{Api, ResourceExt};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::live_parameters::stale_pods;
use super::replication::Reach;
use super::Context;
use crate::api::CacheCluster;
use crate::engine_client::NodeClient;
use crate::Result;

/// Pod annotation: `<hash>:<name>,<name>` of the users its node was given.
pub const ACL_USERS: &str = "ferrocache.io/acl-users";

/// One user as the nodes must know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredUser {
    /// User name.
    pub name: String,
    /// ACL rules, in order (the access string's words).
    pub rules: Vec<String>,
    /// Its password.
    pub password: String,
}

/// The annotation value for a user set: a hash (of names, rules and password digests) and the names.
pub fn users_annotation(users: &[DesiredUser]) -> String {
    let mut hasher = Sha256::new();
    for u in users {
        hasher.update(u.name.as_bytes());
        hasher.update([0]);
        for r in &u.rules {
            hasher.update(r.as_bytes());
            hasher.update([0]);
        }
        hasher.update(Sha256::digest(u.password.as_bytes()));
    }
    let digest = hasher.finalize();
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    format!("{hash}:{}", names.join(","))
}

/// Names recorded in a pod's annotation (the users its node was given).
pub fn recorded_names(pod: &Pod) -> Vec<String> {
    pod.annotations()
        .get(ACL_USERS)
        .and_then(|v| v.split_once(':'))
        .map(|(_, names)| {
            names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `ACL SETUSER name reset <rules> >password`: the user exactly as desired, whatever it was before.
pub async fn set_user(client: &NodeClient, user: &DesiredUser) -> Result<()> {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(&user.name).arg("reset");
    for r in &user.rules {
        cmd.arg(r);
    }
    cmd.arg(format!(">{}", user.password));
    client.command(&cmd).await
}

/// `ACL DELUSER name`.
pub async fn delete_user(client: &NodeClient, name: &str) -> Result<()> {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("DELUSER").arg(name);
    client.query_int(&cmd).await.map(drop)
}

async fn desired_users(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
) -> Result<std::result::Result<Vec<DesiredUser>, String>> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut cache: BTreeMap<String, Option<Secret>> = BTreeMap::new();
    let mut users = Vec::new();
    for u in &cluster.spec.users {
        let r = &u.password_secret_ref;
        if !cache.contains_key(&r.name) {
            cache.insert(r.name.clone(), secrets.get_opt(&r.name).await?);
        }
        let password = cache[&r.name]
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get(&r.key))
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_string());
        let Some(password) = password.filter(|p| !p.is_empty()) else {
            return Ok(Err(format!(
                "user {}: Secret {} has no key {}",
                u.name, r.name, r.key
            )));
        };
        users.push(DesiredUser {
            name: u.name.clone(),
            rules: u
                .access_string
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            password,
        });
    }
    Ok(Ok(users))
}

/// Brings every running Redis node's ACL users in step with `spec.users`; returns what went wrong, if anything.
pub async fn apply(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    pods: &mut [Pod],
    reach: &Reach<'_>,
) -> Result<Option<String>> {
    let managed_before = pods.iter().any(|p| p.annotations().contains_key(ACL_USERS));
    if cluster.spec.users.is_empty() && !managed_before {
        return Ok(None);
    }
    let access = match reach {
        None => return Ok(None),
        Some(Err(problem)) => return Ok(Some(problem.clone())),
        Some(Ok(access)) => access,
    };
    let users = match desired_users(cluster, ctx, namespace).await? {
        Ok(users) => users,
        Err(problem) => return Ok(Some(problem)),
    };
    let annotation = users_annotation(&users);
    let stale: Vec<String> = stale_pods(pods, ACL_USERS, &annotation)
        .into_iter()
        .map(|p| p.name_any())
        .collect();
    if stale.is_empty() {
        return Ok(None);
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let mut problem = None;
    'pods: for name in stale {
        let Some(pod) = pods.iter().find(|p| p.name_any() == name) else {
            continue;
        };
        let Some((client, _)) = access.client(pod) else {
            continue;
        };
        for user in &users {
            if let Err(e) = set_user(&client, user).await {
                warn!(cluster = %cluster.name_any(), %namespace, node = %name, user = %user.name, error = %e, "ACL SETUSER failed");
                problem.get_or_insert_with(|| format!("user {} on {name}: {e}", user.name));
                continue 'pods;
            }
        }
        for old in recorded_names(pod) {
            if !users.iter().any(|u| u.name == old) {
                delete_user(&client, &old).await?;
            }
        }
        let record = serde_json::json!({ "annotations": { ACL_USERS: annotation } });
        super::patch_pod(&api, pods, &name, record).await?;
        info!(cluster = %cluster.name_any(), %namespace, node = %name, users = users.len(), "ACL users applied");
    }
    Ok(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, rules: &str, password: &str) -> DesiredUser {
        DesiredUser {
            name: name.into(),
            rules: rules.split_whitespace().map(str::to_string).collect(),
            password: password.into(),
        }
    }

    #[test]
    fn the_annotation_changes_with_any_user_detail_and_lists_the_names() {
        let a = users_annotation(&[user("app", "on ~app:* +@all", "pw1")]);
        assert!(a.ends_with(":app"), "{a}");
        assert_ne!(
            a,
            users_annotation(&[user("app", "on ~app:* +@all", "pw2")])
        );
        assert_ne!(a, users_annotation(&[user("app", "on ~* +@read", "pw1")]));
        assert!(!a.contains("pw1"), "no password in an annotation");
        let mut pod = crate::fixtures::pod("c-0001-0", None, true);
        pod.annotations_mut().insert(
            ACL_USERS.into(),
            users_annotation(&[user("app", "on", "x"), user("ops", "on", "y")]),
        );
        assert_eq!(recorded_names(&pod), ["app", "ops"]);
    }
}
