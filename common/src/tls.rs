//! The cluster CA and the certificates it issues, and rustls configs for
//! mutual TLS: every peer proves it holds a certificate from the cluster CA.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}. Create certificates with `spindle certs init --dir DIR`")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path} holds no usable PEM data ({reason}). Create certificates with `spindle certs init --dir DIR`")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS configuration rejected: {0}")]
    Config(String),
}

/// Where a daemon or client finds its certificate, key and the cluster CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    pub fn new(ca: &Path, cert: &Path, key: &Path) -> Self {
        Self {
            ca: ca.to_path_buf(),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }
    }

    /// The files named `<name>.pem` / `<name>.key` in a certificates directory.
    pub fn in_dir(dir: &Path, name: &str) -> Self {
        Self {
            ca: dir.join(CA_CERT),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        }
    }
}

/// A loaded identity, ready to make rustls configs.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    roots: Arc<rustls::RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

/// The cluster's TLS crypto (QUIC and HTTPS): aws-lc-rs, rustls' default provider,
/// with AES-128-GCM first.
///
/// aws-lc's AES-GCM uses the CPU's AVX-512 (VAES) where ring's uses AVX2, and AES-GCM
/// is a fifth of a shuffle fetch's CPU: in the `shuffle_fetch` bench the switch took
/// the service from 0.55–0.75 to 0.71–0.79 of a plain TCP copy, and its CPU per GB
/// from 1.8–2.4 to 1.7–1.9 times TCP's. Every peer is ours, so our suite order is
/// the one used, and 128-bit AES (10 rounds against 14) seals and opens bulk data for
/// less CPU, at a strength TLS 1.3 offers as standard.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    let first = rustls::CipherSuite::TLS13_AES_128_GCM_SHA256;
    p.cipher_suites.sort_by_key(|s| s.suite() != first);
    Arc::new(p)
}

impl TlsIdentity {
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let ca = read_certs("CA certificate", &files.ca)?;
        let chain = read_certs("certificate", &files.cert)?;
        let key_pem = read("private key", &files.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
            what: "private key",
            path: files.key.clone(),
            reason: e.to_string(),
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for c in ca {
            roots.add(c).map_err(|e| TlsError::Pem {
                what: "CA certificate",
                path: files.ca.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(Self {
            roots: Arc::new(roots),
            chain,
            key: Arc::new(key),
        })
    }

    /// The role this identity's certificate names (what servers will take it for).
    pub fn role(&self) -> crate::identity::Role {
        self.chain.first().map_or_else(
            || crate::identity::Role::Unknown(String::new()),
            |c| crate::identity::Role::of_certificate(c),
        )
    }

    /// A secret derived from this identity's private key and `label`: the same
    /// after a restart, known to no one without the key.
    pub fn derived_secret(&self, label: &[u8]) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(label);
        ctx.update(self.key.secret_der());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// Server side: requires a client certificate signed by the cluster CA.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, TlsError> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            self.roots.clone(),
            provider(),
        )
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        cfg.max_early_data_size = 0;
        Ok(cfg)
    }

    /// Client side: presents our certificate, trusts only the cluster CA.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<rustls::ClientConfig, TlsError> {
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Ok(cfg)
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    let certs = certs.map_err(|e| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            path: path.to_path_buf(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// The CA's parameters. Rebuilt identically whenever we sign, so the issuer
/// name in every leaf matches the CA certificate's subject.
fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Spindle");
    dn.push(DnType::CommonName, "Spindle cluster CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2099, 1, 1);
    Ok(p)
}

/// The cluster CA: its key signs every certificate of the cluster.
pub struct ClusterCa {
    key: KeyPair,
}

impl ClusterCa {
    /// Creates a new CA and writes `ca.pem` and `ca.key` (mode 0600) into `dir`.
    pub fn create(dir: &Path) -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        write(&dir.join(CA_CERT), cert.pem().as_bytes(), false)?;
        write(&dir.join(CA_KEY), key.serialize_pem().as_bytes(), true)?;
        Ok(Self { key })
    }

    /// Loads the CA key from `dir/ca.key`.
    pub fn load(dir: &Path) -> Result<Self, TlsError> {
        let path = dir.join(CA_KEY);
        let pem = String::from_utf8_lossy(&read("CA key", &path)?).into_owned();
        let key = KeyPair::from_pem(&pem).map_err(|e| TlsError::Pem {
            what: "CA key",
            path,
            reason: e.to_string(),
        })?;
        Ok(Self { key })
    }

    /// Issues `<name>.pem`/`<name>.key` into `dir`, with `common_name` as the
    /// subject and `sans` (DNS names or IP addresses) as subject alt names.
    /// Every certificate may act as both server and client.
    pub fn issue(
        &self,
        dir: &Path,
        name: &str,
        common_name: &str,
        sans: &[String],
    ) -> Result<TlsFiles, TlsError> {
        let params = ca_params()?;
        let issuer = Issuer::from_params(&params, &self.key);
        let mut p = CertificateParams::new(sans.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Spindle");
        dn.push(DnType::CommonName, common_name);
        p.distinguished_name = dn;
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &issuer)?;
        let files = TlsFiles::in_dir(dir, name);
        write(&files.cert, cert.pem().as_bytes(), false)?;
        write(&files.key, key.serialize_pem().as_bytes(), true)?;
        Ok(files)
    }
}

fn write(path: &Path, data: &[u8], secret: bool) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    opts.mode(if secret { 0o600 } else { 0o644 });
    let mut f = opts.open(&tmp).map_err(err)?;
    std::io::Write::write_all(&mut f, data).map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

/// Names a local-cluster node certificate answers to.
pub fn local_sans() -> Vec<String> {
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let host = crate::hostname::this_host();
    if host != "localhost" {
        sans.push(host);
    }
    sans
}

/// The subject common name of node `node_id`'s certificate (`node:HOST:PORT`).
pub fn node_common_name(node_id: &str) -> String {
    format!("node:{node_id}")
}

/// The node id a default `node.pem` names: this host's name, the NM's default port.
pub fn default_node_id() -> String {
    format!("{}:8041", crate::hostname::this_host())
}

/// What `spindle certs init` creates: a CA; the RM's server certificate (`rm`); a node
/// certificate for `node_id` (`node:HOST:PORT`); a user certificate (`user:NAME`); and
/// the certificate NMs hand to containers (`container`, which carries no rights).
pub fn init_cluster_certs(
    dir: &Path,
    user: &str,
    node_id: &str,
    extra_sans: &[String],
) -> Result<(), TlsError> {
    let ca = ClusterCa::create(dir)?;
    let mut sans = local_sans();
    sans.extend(extra_sans.iter().cloned());
    ca.issue(dir, "rm", crate::identity::RM_COMMON_NAME, &sans)?;
    ca.issue(dir, "node", &node_common_name(node_id), &sans)?;
    ca.issue(dir, "user", &format!("user:{user}"), &[])?;
    // Containers (AMs, executors) get a low-privilege identity of their own;
    // what they may do is decided by the tokens they carry.
    ca.issue(
        dir,
        "container",
        crate::identity::CONTAINER_COMMON_NAME,
        &sans,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_loadable_identities() {
        let d = tempfile::tempdir().unwrap();
        init_cluster_certs(d.path(), "alice", "h:8041", &[]).unwrap();
        for name in ["rm", "node", "user", "container"] {
            let id = TlsIdentity::load(&TlsFiles::in_dir(d.path(), name)).unwrap();
            id.server_config(&[b"x"]).unwrap();
            id.client_config(&[b"x"]).unwrap();
        }
        let mode = std::fs::metadata(d.path().join("ca.key"))
            .unwrap()
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }

    #[test]
    fn missing_files_say_how_to_create_them() {
        let d = tempfile::tempdir().unwrap();
        let err = TlsIdentity::load(&TlsFiles::in_dir(d.path(), "node")).unwrap_err();
        assert!(err.to_string().contains("spindle certs init"), "{err}");
    }

    #[test]
    fn peers_agree_on_aes_128_gcm() {
        let d = tempfile::tempdir().unwrap();
        init_cluster_certs(d.path(), "alice", "h:8041", &[]).unwrap();
        let load = |n| TlsIdentity::load(&TlsFiles::in_dir(d.path(), n)).unwrap();
        let server = load("node").server_config(&[b"x"]).unwrap();
        let client = load("user").client_config(&[b"x"]).unwrap();
        let name = "localhost".try_into().unwrap();
        let mut c = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
        let mut s = rustls::ServerConnection::new(Arc::new(server)).unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets().unwrap();
            buf.clear();
            s.write_tls(&mut buf).unwrap();
            c.read_tls(&mut &buf[..]).unwrap();
            c.process_new_packets().unwrap();
        }
        assert!(!c.is_handshaking() && !s.is_handshaking());
        let suite = c.negotiated_cipher_suite().unwrap().suite();
        assert_eq!(suite, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    }
}
