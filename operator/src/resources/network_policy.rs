//! NetworkPolicy from `allowedClients`, the security-group equivalent.
//!
//! Admitted on the client port: the listed peers, the cluster's own nodes (replication) and the operator's pods
//! (health checks, failover, CONFIG SET). The metrics port stays open to every source so Prometheus can scrape.

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{cluster_selector, common_labels, owned_meta, OPERATOR_POD_LABEL};
use crate::api::{AllowedClient, CacheCluster, METRICS_PORT};
use crate::Result;

/// The policy, or `None` when the spec has no allowedClients (every pod may connect).
pub(super) fn network_policy(cluster: &CacheCluster) -> Result<Option<NetworkPolicy>> {
    let Some(allowed) = &cluster.spec.allowed_clients else {
        return Ok(None);
    };
    let selector = |labels| LabelSelector {
        match_labels: Some(labels),
        ..LabelSelector::default()
    };
    let mut peers: Vec<NetworkPolicyPeer> = allowed.iter().map(peer).collect();
    peers.push(NetworkPolicyPeer {
        pod_selector: Some(selector(cluster_selector(cluster))),
        ..NetworkPolicyPeer::default()
    });
    peers.push(NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector::default()),
        pod_selector: Some(selector(
            [(
                OPERATOR_POD_LABEL.0.to_string(),
                OPERATOR_POD_LABEL.1.to_string(),
            )]
            .into(),
        )),
        ..NetworkPolicyPeer::default()
    });
    let port = |p: i32| NetworkPolicyPort {
        port: Some(IntOrString::Int(p)),
        protocol: Some("TCP".into()),
        end_port: None,
    };
    Ok(Some(NetworkPolicy {
        metadata: owned_meta(cluster, cluster.name_any(), common_labels(cluster))?,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(cluster_selector(cluster))),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: Some(peers),
                    ports: Some(vec![port(cluster.spec.client_port())]),
                },
                NetworkPolicyIngressRule {
                    from: None,
                    ports: Some(vec![port(METRICS_PORT)]),
                },
            ]),
            ..NetworkPolicySpec::default()
        }),
    }))
}

fn peer(client: &AllowedClient) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: client.namespace_selector.clone(),
        pod_selector: client.pod_selector.clone(),
        ip_block: client.ip_block.as_ref().map(|cidr| IPBlock {
            cidr: cidr.clone(),
            except: None,
        }),
    }
}
