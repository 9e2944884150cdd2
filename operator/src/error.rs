//! The operator's error type: one enum for everything the library can fail at, with messages a user can act on.

/// Errors of the operator library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    /// An object could not be serialized (a bug: every built object is serializable).
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What was being serialized.
        what: &'static str,
        /// Underlying error.
        source: serde_json::Error,
    },
    /// The resource lacks something the API server always sets (namespace, uid).
    #[error("{kind} has no {field}; was it read from the API server?")]
    MissingObjectKey {
        /// Kind of the object.
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A cluster asks for a cert-manager certificate but the Certificate API does not exist.
    #[error("tls.issuerRef needs cert-manager (certificates.cert-manager.io) installed in the cluster; install it or use tls.secretName")]
    CertManagerMissing,
    /// Leader election could not talk to its Lease.
    #[error("leader election on Lease {lease}: {message}")]
    LeaderElection {
        /// Lease name.
        lease: String,
        /// What went wrong.
        message: String,
    },
    /// The health and metrics HTTP server failed.
    #[error("HTTP server on {addr}: {source}")]
    Http {
        /// Listen address.
        addr: std::net::SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// A short, stable label for metrics (`error` label of the failure counter).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Serialize { .. } => "serialize",
            Error::MissingObjectKey { .. } => "missing_object_key",
            Error::CertManagerMissing => "cert_manager_missing",
            Error::LeaderElection { .. } => "leader_election",
            Error::Http { .. } => "http",
        }
    }
}

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
