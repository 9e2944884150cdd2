//! Reading the manifests given to `ferrocache-operator local -f …`: YAML files holding one or more documents,
//! exactly one `CacheCluster` and the `CacheParameterGroup` it names, parsed into the CRD types.

use std::path::Path;

use kube::ResourceExt;
use serde::Deserialize;

use crate::api::{CacheCluster, CacheParameterGroup};
use crate::{Error, Result};

/// The resources found in the files.
#[derive(Debug, Clone)]
pub struct Manifests {
    /// The cluster to run.
    pub cluster: CacheCluster,
    /// Its parameter group, when it names one.
    pub parameter_group: Option<CacheParameterGroup>,
}

/// Parses every document of every file; `path` labels errors.
pub fn parse(files: &[(String, String)]) -> Result<Manifests> {
    let mut clusters = Vec::new();
    let mut groups = Vec::new();
    for (path, text) in files {
        let error = |message: String| Error::Manifest {
            path: path.clone(),
            message,
        };
        for document in serde_yaml::Deserializer::from_str(text) {
            let value = serde_yaml::Value::deserialize(document)
                .map_err(|e| error(format!("not YAML: {e}")))?;
            if value.is_null() {
                continue;
            }
            let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
            match kind {
                "CacheCluster" => clusters.push(
                    serde_yaml::from_value::<CacheCluster>(value)
                        .map_err(|e| error(format!("invalid CacheCluster: {e}")))?,
                ),
                "CacheParameterGroup" => groups.push(
                    serde_yaml::from_value::<CacheParameterGroup>(value)
                        .map_err(|e| error(format!("invalid CacheParameterGroup: {e}")))?,
                ),
                other => {
                    return Err(error(format!(
                        "kind {other:?} is not run locally; expected CacheCluster or CacheParameterGroup"
                    )))
                }
            }
        }
    }
    let all = files
        .iter()
        .map(|(p, _)| p.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut cluster = match clusters.len() {
        1 => clusters.remove(0),
        n => {
            return Err(Error::Manifest {
                path: all,
                message: format!("expected exactly one CacheCluster, found {n}"),
            })
        }
    };
    if cluster.metadata.namespace.is_none() {
        cluster.metadata.namespace = Some("default".into());
    }
    let parameter_group = match &cluster.spec.cache_parameter_group_name {
        None => None,
        Some(name) => Some(
            groups
                .into_iter()
                .find(|g| &g.name_any() == name)
                .ok_or_else(|| Error::Manifest {
                    path: all,
                    message: format!(
                        "cacheParameterGroupName {name:?}: no CacheParameterGroup of that name; add its file with another -f (e.g. -f examples/parameter-group.yaml)"
                    ),
                })?,
        ),
    };
    Ok(Manifests {
        cluster,
        parameter_group,
    })
}

/// Reads the files and parses them.
pub fn load(paths: &[impl AsRef<Path>]) -> Result<Manifests> {
    let files = paths
        .iter()
        .map(|p| {
            let p = p.as_ref();
            std::fs::read_to_string(p)
                .map(|text| (p.display().to_string(), text))
                .map_err(|source| Error::Io {
                    what: format!("read {}", p.display()),
                    source,
                })
        })
        .collect::<Result<Vec<_>>>()?;
    parse(&files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{MEMCACHED, PARAMETER_GROUP, REDIS_HA};

    fn file(name: &str, text: &str) -> (String, String) {
        (name.to_string(), text.to_string())
    }

    #[test]
    fn a_cluster_and_the_group_it_names_are_found_across_files() {
        let m = parse(&[file("ha.yaml", REDIS_HA), file("pg.yaml", PARAMETER_GROUP)]).unwrap();
        assert_eq!(m.cluster.name_any(), "orders-cache");
        assert_eq!(
            m.parameter_group.map(|g| g.name_any()).as_deref(),
            Some("lru-cache")
        );
    }

    #[test]
    fn a_missing_parameter_group_says_which_file_to_add() {
        let e = parse(&[file("ha.yaml", REDIS_HA)]).unwrap_err().to_string();
        assert!(e.contains("lru-cache") && e.contains("-f"), "{e}");
    }

    #[test]
    fn documents_of_one_file_are_read_in_turn() {
        let both = format!("{PARAMETER_GROUP}\n---\n{MEMCACHED}");
        let m = parse(&[file("all.yaml", &both)]).unwrap();
        assert_eq!(m.cluster.name_any(), "page-cache");
        assert!(m.parameter_group.is_none());
    }

    #[test]
    fn two_clusters_are_refused() {
        let two = format!("{MEMCACHED}\n---\n{MEMCACHED}");
        let e = parse(&[file("two.yaml", &two)]).unwrap_err().to_string();
        assert!(e.contains("exactly one CacheCluster"), "{e}");
    }
}
