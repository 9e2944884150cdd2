//! TLS in transit with rustls: the server side of the TLS port (optionally requiring client certificates),
//! and the client side replicas use to reach a primary over TLS.
//!
//! The certificate and key are re-read when their files change (cert-manager renews them in place), checked
//! once a second: new handshakes get the new certificate, existing connections keep theirs. A renewed pair
//! that does not load is logged and the previous one stays in service.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::Config;

/// TLS configuration problems, with the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file holds no usable certificate or key.
    #[error("{0}: no PEM certificate or private key found")]
    Empty(PathBuf),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("TLS client verification: {0}")]
    Verifier(String),
    /// A required setting is missing.
    #[error("{0}")]
    Missing(&'static str),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.into(),
        source,
    })
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Read {
            path: path.into(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty(path.into()));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|source| TlsError::Read {
            path: path.into(),
            source,
        })?
        .ok_or_else(|| TlsError::Empty(path.into()))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in certs(path)? {
        store.add(c)?;
    }
    Ok(store)
}

/// The certificate being served, swapped when its files change.
#[derive(Debug)]
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    stamp: parking_lot::Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn load_pair(cert: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = certs(cert)?;
    let signing = provider()
        .key_provider
        .load_private_key(key(key_path)?)
        .map_err(TlsError::Rustls)?;
    Ok(CertifiedKey::new(chain, signing))
}

impl ReloadingCert {
    fn load(cert: &Path, key: &Path) -> Result<ReloadingCert, TlsError> {
        let pair = load_pair(cert, key)?;
        Ok(ReloadingCert {
            cert: cert.into(),
            key: key.into(),
            current: ArcSwap::from_pointee(pair),
            stamp: parking_lot::Mutex::new((mtime(cert), mtime(key))),
        })
    }

    /// Reloads the pair if either file changed; returns whether a new certificate is now served.
    fn refresh(&self) -> Result<bool, TlsError> {
        let now = (mtime(&self.cert), mtime(&self.key));
        let mut stamp = self.stamp.lock();
        if *stamp == now {
            return Ok(false);
        }
        *stamp = now;
        let pair = load_pair(&self.cert, &self.key)?;
        self.current.store(Arc::new(pair));
        Ok(true)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn versions(config: &Config) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let wanted = config.tls_protocols.to_ascii_lowercase();
    let mut v = Vec::new();
    if wanted.contains("tlsv1.2") {
        v.push(&rustls::version::TLS12);
    }
    if wanted.contains("tlsv1.3") || v.is_empty() {
        v.push(&rustls::version::TLS13);
    }
    v
}

/// The TLS side of a node.
pub struct Tls {
    /// Accepts TLS connections on the TLS port.
    pub acceptor: TlsAcceptor,
    /// Connects to a primary over TLS (replication).
    pub connector: TlsConnector,
    cert: Arc<ReloadingCert>,
}

impl Tls {
    /// Builds the TLS side from the configuration; None when no TLS port is configured.
    pub fn from_config(config: &Config) -> Result<Option<Tls>, TlsError> {
        if config.tls_port == 0 && config.memcached_tls_port == 0 && !config.tls_replication {
            return Ok(None);
        }
        let cert_file = config
            .tls_cert_file
            .as_deref()
            .ok_or(TlsError::Missing("TLS needs tls-cert-file"))?;
        let key_file = config
            .tls_key_file
            .as_deref()
            .ok_or(TlsError::Missing("TLS needs tls-key-file"))?;
        let cert = Arc::new(ReloadingCert::load(cert_file, key_file)?);
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&versions(config))?;
        let builder = match (
            config.tls_auth_clients.as_str(),
            config.tls_ca_cert_file.as_deref(),
        ) {
            ("no", _) => builder.with_no_client_auth(),
            (mode, Some(ca)) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider());
                let verifier = if mode == "optional" {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(
                    verifier
                        .build()
                        .map_err(|e| TlsError::Verifier(e.to_string()))?,
                )
            }
            (_, None) => return Err(TlsError::Missing("tls-auth-clients needs tls-ca-cert-file")),
        };
        let server = builder.with_cert_resolver(cert.clone());
        let client = client_config(config, cert_file, key_file)?;
        Ok(Some(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            cert,
        }))
    }

    /// Starts the thread that reloads the certificate when its files change.
    pub fn watch_files(self: &Arc<Self>) {
        let tls = Arc::downgrade(self);
        let _ = std::thread::Builder::new().name("tls-reload".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            let Some(tls) = tls.upgrade() else { return };
            match tls.cert.refresh() {
                Ok(true) => tracing::info!(cert = %tls.cert.cert.display(), "TLS certificate reloaded"),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "TLS certificate reload failed; keeping the previous one"),
            }
        });
    }
}

/// The client side for replication: trusts `tls-ca-cert-file` (or, without one, any certificate — the link is
/// still encrypted, and authenticated by `masterauth`), and presents this node's certificate.
fn client_config(config: &Config, cert: &Path, key_path: &Path) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions(config))?;
    let builder = match config.tls_ca_cert_file.as_deref() {
        Some(ca) => builder.with_root_certificates(roots(ca)?),
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider()))),
    };
    Ok(builder.with_client_auth_cert(certs(cert)?, key(key_path)?)?)
}

/// Accepts any server certificate (replication without a CA file configured).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
