//! Auth token rotation without restarts, like ElastiCache's `authTokenUpdateStrategy` ROTATE then SET.
//!
//! The token nodes accept is recorded in a Secret the cluster owns, `<name>-auth-applied`. When the token in the
//! user's Secret differs from it, every Redis node is first told to accept the new token alongside the old one
//! (`ACL SETUSER default >new`, authenticated with the old token); only once every node accepts the new token is
//! the old one removed (`ACL SETUSER default resetpass >new`) and the record updated. Clients can therefore
//! switch tokens at any moment of the rotation. A node that restarted meanwhile already has only the new token
//! (its container reads the Secret at start) and counts as done. Until the record is updated, the operator
//! itself reaches nodes with the recorded token, trying the new one second.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::ByteString;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use tracing::info;

use super::replication::Reach;
use super::Context;
use crate::api::CacheCluster;
use crate::engine_client::NodeClient;
use crate::resources::{common_labels, owned_meta};
use crate::{Result, FIELD_MANAGER};

/// Key of the token in the record Secret.
const TOKEN_KEY: &str = "token";

/// Name of the Secret recording the token the nodes accept.
pub fn applied_secret_name(cluster: &CacheCluster) -> String {
    format!("{}-auth-applied", cluster.name_any())
}

/// The tokens of a cluster: the one in the user's Secret and the one nodes were last set to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    /// From `spec.authTokenSecretRef`.
    pub desired: Option<String>,
    /// From the record Secret.
    pub applied: Option<String>,
}

impl Tokens {
    /// Reads both Secrets.
    pub async fn load(cluster: &CacheCluster, ctx: &Context, namespace: &str) -> Result<Tokens> {
        let Some(r) = &cluster.spec.auth_token_secret_ref else {
            return Ok(Tokens::default());
        };
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
        let read = |s: Option<Secret>, key: &str| {
            s.and_then(|s| s.data).and_then(|d| {
                d.get(key)
                    .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
            })
        };
        let desired = read(secrets.get_opt(&r.name).await?, &r.key);
        let applied = read(
            secrets.get_opt(&applied_secret_name(cluster)).await?,
            TOKEN_KEY,
        );
        Ok(Tokens { desired, applied })
    }

    /// Passwords to try when connecting to a node, in order.
    pub fn passwords(&self) -> Vec<Option<String>> {
        let mut out = Vec::new();
        for t in [&self.applied, &self.desired] {
            if !out.contains(&Some(t.clone()).flatten()) {
                out.push(t.clone());
            }
        }
        if out.is_empty() {
            out.push(None);
        }
        out
    }
}

async fn record(cluster: &CacheCluster, ctx: &Context, namespace: &str, token: &str) -> Result<()> {
    let secret = Secret {
        metadata: owned_meta(
            cluster,
            applied_secret_name(cluster),
            common_labels(cluster),
        )?,
        data: Some(BTreeMap::from([(
            TOKEN_KEY.to_string(),
            ByteString(token.as_bytes().to_vec()),
        )])),
        type_: Some("Opaque".into()),
        ..Secret::default()
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    api.patch(
        &applied_secret_name(cluster),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await?;
    Ok(())
}

/// One node's step of a rotation, from what it accepts. Pure, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStep {
    /// It accepts the new token already.
    Done,
    /// It accepts only the old token: add the new one.
    AddNew,
    /// It accepts neither (unreachable, or a token nobody recorded): the rotation waits.
    Wait,
}

/// What to do with a node that answered (or not) with each token.
pub fn node_step(accepts_new: bool, accepts_old: bool) -> NodeStep {
    match (accepts_new, accepts_old) {
        (true, _) => NodeStep::Done,
        (false, true) => NodeStep::AddNew,
        (false, false) => NodeStep::Wait,
    }
}

/// `ACL SETUSER default >token`: the node accepts `token` besides what it accepted.
pub async fn add_token(client: &NodeClient, token: &str) -> Result<()> {
    client
        .command(
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg("default")
                .arg(format!(">{token}")),
        )
        .await
}

/// `ACL SETUSER default resetpass >token`: the node accepts only `token`.
pub async fn only_token(client: &NodeClient, token: &str) -> Result<()> {
    client
        .command(
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg("default")
                .arg("resetpass")
                .arg(format!(">{token}")),
        )
        .await
}

/// Advances a rotation; returns why it is not finished, if it is not. A finished rotation updates `reach`,
/// so the steps after it reach the nodes with the new token.
pub async fn rotate(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    pods: &[Pod],
    reach: &mut Reach<'_>,
) -> Result<Option<String>> {
    let access = match reach {
        // No node running yet: nothing to rotate.
        None => return Ok(None),
        Some(Err(problem)) => return Ok(Some(problem.clone())),
        Some(Ok(access)) => access,
    };
    let (Some(new), applied) = (access.tokens.desired.clone(), access.tokens.applied.clone())
    else {
        // No token: nothing to rotate.
        return Ok(None);
    };
    let Some(old) = applied else {
        // First reconcile with auth: the nodes start with the Secret's token.
        record(cluster, ctx, namespace, &new).await?;
        access.rotated(&new);
        return Ok(None);
    };
    if old == new {
        return Ok(None);
    }
    let (new, old) = (new.as_str(), old.as_str());
    let mut clients = Vec::new();
    for pod in pods {
        let with = |token: &str| {
            access
                .client_with(pod, Some(token.to_string()))
                .map(|c| c.0)
        };
        let (Some(new_client), Some(old_client)) = (with(new), with(old)) else {
            return Ok(Some(format!(
                "rotating the auth token: waiting for {}",
                pod.name_any()
            )));
        };
        let step = node_step(
            new_client.authenticates().await.is_ok(),
            old_client.authenticates().await.is_ok(),
        );
        match step {
            NodeStep::Done => {}
            NodeStep::AddNew => add_token(&old_client, new).await?,
            NodeStep::Wait => {
                return Ok(Some(format!(
                    "rotating the auth token: {} accepts neither token yet",
                    pod.name_any()
                )))
            }
        }
        clients.push(new_client);
    }
    // Every node accepts the new token: replicas give it to their primary from now on, the old one is dropped
    // everywhere, then the new one is recorded.
    for client in &clients {
        client.config_set("masterauth", new).await?;
    }
    for client in &clients {
        only_token(client, new).await?;
    }
    record(cluster, ctx, namespace, new).await?;
    access.rotated(new);
    info!(cluster = %cluster.name_any(), %namespace, nodes = clients.len(), "auth token rotated");
    let secret = cluster
        .spec
        .auth_token_secret_ref
        .as_ref()
        .map_or("", |r| r.name.as_str());
    super::publish_event(
        ctx,
        cluster,
        false,
        "AuthTokenRotated",
        "RotateAuthToken",
        format!("every node now accepts only the token of Secret {secret}"),
    )
    .await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_step_by_what_they_accept() {
        assert_eq!(node_step(true, true), NodeStep::Done);
        assert_eq!(
            node_step(true, false),
            NodeStep::Done,
            "restarted with the new token"
        );
        assert_eq!(node_step(false, true), NodeStep::AddNew);
        assert_eq!(node_step(false, false), NodeStep::Wait);
    }

    #[test]
    fn the_recorded_token_is_tried_first() {
        let t = Tokens {
            desired: Some("new".into()),
            applied: Some("old".into()),
        };
        assert_eq!(
            t.passwords(),
            [Some("old".to_string()), Some("new".to_string())]
        );
        let same = Tokens {
            desired: Some("x".into()),
            applied: Some("x".into()),
        };
        assert_eq!(same.passwords(), [Some("x".to_string())]);
        assert_eq!(Tokens::default().passwords(), [None]);
    }
}
