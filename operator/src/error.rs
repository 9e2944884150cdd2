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
    /// A manifest file could not be read or parsed.
    #[error("{path}: {message}")]
    Manifest {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A CacheCluster asks for something the chosen platform cannot run; each line says what to change.
    #[error("the cluster cannot run here:\n  - {}", .problems.join("\n  - "))]
    Unsupported {
        /// One line per problem.
        problems: Vec<String>,
    },
    /// The `ferrocache-engine` binary was not found.
    #[error("cannot find the ferrocache-engine binary (looked in: {searched}); build it with `cargo build --release --bin ferrocache-engine` or point FERROCACHE_ENGINE at it")]
    EngineBinaryMissing {
        /// Places looked at.
        searched: String,
    },
    /// A local file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// An engine node did not answer or refused a command.
    #[error("engine node {node}: {message}")]
    Node {
        /// Node name.
        node: String,
        /// What went wrong.
        message: String,
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
            Error::Manifest { .. } => "manifest",
            Error::Unsupported { .. } => "unsupported",
            Error::EngineBinaryMissing { .. } => "engine_binary_missing",
            Error::Io { .. } => "io",
            Error::Node { .. } => "node",
        }
    }
}

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
