//! TLS for the platform and its clients: rustls with the `ring` provider.
//!
//! - The server ([`server_config`]) takes a certificate chain and a private key from PEM
//!   files (the key file must be readable by its owner only).
//! - A client ([`client_config`]) trusts the CA certificates of a PEM file it is given
//!   (`--ca-file`); without one, an `https://` URL is checked against the public roots that
//!   ureq ships (webpki-roots). [`agent`] builds the ureq agent every client here uses.
//! - Plain `http://` is refused by the programs unless `--insecure-http` is given
//!   ([`check_url`]): for a loopback test, never for a platform on a network.
//! - [`DevCa`]: a throw-away CA and a server certificate signed by it (rcgen), for tests,
//!   benchmarks and `provincial tls dev-ca`.

use std::fs::File;
use std::io::{BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The crypto provider of every TLS configuration here: ring (small, builds from the crates
/// registry alone). rustls 0.23.48 marks it deprecated because it has no post-quantum key
/// exchange (X25519MLKEM768 needs the aws-lc-rs provider); classical ECDHE is what it offers.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// The server's TLS configuration from a PEM certificate chain (server certificate first)
/// and a PEM private key (PKCS#8, PKCS#1 or SEC1) in a file of mode 0600 or stricter.
/// HTTP/1.1 only (ALPN `http/1.1`); TLS 1.2 and 1.3 with rustls' safe defaults.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs = read_certs(cert)?;
    let meta = std::fs::metadata(key).map_err(|e| format!("{}: {e}", key.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{}: the private key is readable by others (mode {:o}): chmod 600 it",
            key.display(),
            meta.permissions().mode() & 0o777
        ));
    }
    let f = File::open(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let k: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut BufReader::new(f))
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?
        .ok_or_else(|| format!("{}: no PEM private key in it", key.display()))?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, k)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A client's TLS configuration trusting exactly the CA certificates of `ca` (PEM).
pub fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for c in read_certs(ca)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", ca.display()))?;
    }
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// A client's TLS configuration from an optional `--ca-file`.
pub fn client_config_opt(ca: Option<&Path>) -> Result<Option<Arc<ClientConfig>>, String> {
    ca.map(client_config).transpose()
}

/// A ureq agent with these timeouts that trusts `tls`'s CAs for `https://` URLs (without
/// one: the public roots ureq ships).
pub fn agent(tls: Option<&Arc<ClientConfig>>, connect: Duration, total: Duration) -> ureq::Agent {
    let mut b = ureq::AgentBuilder::new()
        .timeout_connect(connect)
        .timeout(total);
    if let Some(t) = tls {
        b = b.tls_config(t.clone());
    }
    b.build()
}

/// Refuses a URL that is neither `https://` nor, with `insecure_http`, `http://`.
pub fn check_url(what: &str, url: &str, insecure_http: bool) -> Result<(), String> {
    if url.starts_with("https://") || (insecure_http && url.starts_with("http://")) {
        Ok(())
    } else if url.starts_with("http://") {
        Err(format!(
            "{what} {url}: plain HTTP sends tokens and data in clear text; use https:// \
             (with --ca-file for a private CA), or --insecure-http for a local test"
        ))
    } else {
        Err(format!("{what} {url}: not an https:// URL"))
    }
}

/// A throw-away certificate authority and a server certificate it signed, in PEM.
#[derive(Debug, Clone)]
pub struct DevCa {
    /// The CA's certificate (what clients trust: `--ca-file`).
    pub ca_pem: String,
    /// The server's certificate.
    pub cert_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
}

impl DevCa {
    /// A new CA (ECDSA P-256) and a server certificate for `names` (DNS names or IP
    /// addresses), valid from now for about a year.
    pub fn generate(names: &[String]) -> Result<DevCa, String> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let e = |e: rcgen::Error| e.to_string();
        let ca_key = KeyPair::generate().map_err(e)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        ca.distinguished_name
            .push(DnType::CommonName, "MeterDB development CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
        let key = KeyPair::generate().map_err(e)?;
        let mut p = CertificateParams::new(names.to_vec()).map_err(e)?;
        p.distinguished_name.push(
            DnType::CommonName,
            names.first().map_or("localhost", String::as_str),
        );
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = p.signed_by(&key, &ca_cert, &ca_key).map_err(e)?;
        Ok(DevCa {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes `ca.pem`, `server.pem` and `server.key` (0600) into `dir` (created 0700).
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        for (name, text, mode) in [
            ("ca.pem", &self.ca_pem, 0o644),
            ("server.pem", &self.cert_pem, 0o644),
            ("server.key", &self.key_pem, 0o600),
        ] {
            let p = dir.join(name);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&p)
                .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|_| f.sync_all()))
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_ca_makes_configs_and_keys_others_can_read_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::generate(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        ca.write(&dir.path().join("tls")).unwrap();
        let d = dir.path().join("tls");
        server_config(&d.join("server.pem"), &d.join("server.key")).unwrap();
        client_config(&d.join("ca.pem")).unwrap();
        std::fs::set_permissions(d.join("server.key"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let e = server_config(&d.join("server.pem"), &d.join("server.key")).unwrap_err();
        assert!(e.contains("readable by others"), "{e}");
        assert!(client_config(&d.join("server.key")).is_err());
        assert!(check_url("platform", "http://x", false).is_err());
        assert!(check_url("platform", "http://x", true).is_ok());
        assert!(check_url("platform", "https://x", false).is_ok());
        assert!(check_url("platform", "ftp://x", true).is_err());
    }
}
