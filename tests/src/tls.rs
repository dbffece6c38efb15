//! Test PKI: a throw-away certificate authority and a loopback server certificate signed by
//! it, written as PEM files for the registry and kept as DER for the in-process servers and
//! clients (rustls, `ring` provider).
//!
//! The server certificate names `localhost` and `127.0.0.1`, so clients may connect by either.
//! Clients trust only the test CA: point them at [`TestPki::ca_pem_path`] (`curl --cacert`,
//! `DXF_TLSVERIFY`).

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A generated CA plus a server certificate (SAN `localhost`, IP `127.0.0.1`) signed by it.
pub struct TestPki {
    ca_pem_path: PathBuf,
    server_cert_pem_path: PathBuf,
    server_key_pem_path: PathBuf,
    ca_der: CertificateDer<'static>,
    server_cert_der: CertificateDer<'static>,
    server_key_pkcs8: Vec<u8>,
}

impl TestPki {
    /// Generates a fresh CA and server certificate and writes `ca.pem`, `server.pem` and
    /// `server-key.pem` into `dir`.
    pub fn generate(dir: &Path) -> TestPki {
        let ca_key = KeyPair::generate().expect("generate CA key");
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "dxf test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");

        let server_key = KeyPair::generate().expect("generate server key");
        let mut server_params = CertificateParams::default();
        server_params.distinguished_name = rcgen::DistinguishedName::new();
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server_params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().expect("DNS name")),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server_params.use_authority_key_identifier_extension = true;
        let server_cert = server_params
            .signed_by(&server_key, &ca_cert, &ca_key)
            .expect("sign server certificate");

        let ca_pem_path = dir.join("ca.pem");
        let server_cert_pem_path = dir.join("server.pem");
        let server_key_pem_path = dir.join("server-key.pem");
        fs::write(&ca_pem_path, ca_cert.pem()).expect("write ca.pem");
        fs::write(&server_cert_pem_path, server_cert.pem()).expect("write server.pem");
        fs::write(&server_key_pem_path, server_key.serialize_pem()).expect("write server-key.pem");

        TestPki {
            ca_pem_path,
            server_cert_pem_path,
            server_key_pem_path,
            ca_der: ca_cert.der().clone(),
            server_cert_der: server_cert.der().clone(),
            server_key_pkcs8: server_key.serialize_der(),
        }
    }

    /// PEM file of the test CA (what clients must trust).
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    /// PEM file of the server certificate.
    pub fn server_cert_pem_path(&self) -> &Path {
        &self.server_cert_pem_path
    }

    /// PEM file (PKCS#8) of the server certificate's private key.
    pub fn server_key_pem_path(&self) -> &Path {
        &self.server_key_pem_path
    }

    /// DER of the test CA certificate.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// A rustls server configuration presenting the server certificate (HTTP/1.1 only).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_pkcs8.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.server_cert_der.clone()], key)
            .expect("server certificate and key");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// A rustls client configuration trusting only the test CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("add test CA");
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("TLS protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// The `ring` crypto provider, named explicitly so that another crate enabling a second
/// provider in the same build cannot make rustls' default ambiguous.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
