//! The cert-manager Certificate requested when TLS comes from `tls.issuerRef`.
//!
//! cert-manager writes the key pair into the Secret `<name>-tls`, which the pods mount; renewals reach the engine
//! through its certificate file reload. The certificate names every endpoint Service and every node (through the
//! headless Services), so clients can verify whichever they connect to.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::ResourceExt;
use serde_json::json;

use super::{
    common_labels, configuration_service_name, node_group_name, owned_meta, primary_service_name,
    reader_service_name,
};
use crate::api::{CacheCluster, Engine};
use crate::Result;

/// The cert-manager Certificate API resource.
pub fn certificate_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"),
        "certificates",
    )
}

/// Name of the Secret holding the cluster's TLS key pair when cert-manager issues it.
pub fn issued_secret_name(cluster: &CacheCluster) -> String {
    format!("{}-tls", cluster.name_any())
}

/// The Certificate, or `None` unless transit encryption uses an issuer.
pub(super) fn certificate(cluster: &CacheCluster) -> Result<Option<DynamicObject>> {
    let Some(issuer) = cluster
        .spec
        .tls
        .as_ref()
        .filter(|_| cluster.spec.transit_encryption_enabled)
        .and_then(|tls| tls.issuer_ref.as_ref())
    else {
        return Ok(None);
    };
    let namespace = super::namespace(cluster)?;
    let mut services = match cluster.spec.engine {
        Engine::Redis => vec![primary_service_name(cluster), reader_service_name(cluster)],
        Engine::Memcached => vec![configuration_service_name(cluster)],
    };
    services.extend((0..cluster.spec.node_groups()).map(|g| node_group_name(cluster, g)));
    let mut dns_names = Vec::new();
    for service in &services {
        dns_names.push(format!("{service}.{namespace}.svc"));
        dns_names.push(format!("{service}.{namespace}.svc.cluster.local"));
    }
    for group in 0..cluster.spec.node_groups() {
        dns_names.push(format!(
            "*.{}.{namespace}.svc",
            node_group_name(cluster, group)
        ));
    }
    let resource = certificate_resource();
    let mut object = DynamicObject::new(&issued_secret_name(cluster), &resource);
    object.metadata = owned_meta(cluster, issued_secret_name(cluster), common_labels(cluster))?;
    object.data = json!({
        "spec": {
            "secretName": issued_secret_name(cluster),
            "issuerRef": { "name": issuer.name, "kind": issuer.kind, "group": issuer.group },
            "dnsNames": dns_names,
            "privateKey": { "algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always" },
        }
    });
    Ok(Some(object))
}
