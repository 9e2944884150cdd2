//! `ferrocache-operator local`: a CacheCluster from YAML files run as engine processes on 127.0.0.1, with the
//! same types, validation and failover decisions as in Kubernetes.
//!
//! [`manifest`] reads the files, [`validation`] checks them, [`cluster`] runs the nodes through the local
//! platform and reacts to failures, [`status_line`] formats what the user watches.

pub mod cluster;
pub mod manifest;
pub mod status_line;
pub mod validation;

pub use cluster::{
    pending_summary, read_all_reports, read_reports, read_status, EndpointSummary, Event,
    FailoverRecord, LocalCluster, LocalSettings, Report, SwitchoverRecord, STATUS_FILE, USAGE_DIR,
};
pub use manifest::{load, parse, Manifests};
