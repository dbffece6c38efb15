//! What is trusted ([`TlsVerify`]), the CA bundle it names, the certificate verifier that
//! also accepts a pinned certificate, and the rustls client configuration using it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

pub use dxf_proto::client::TlsVerify;

/// A TLS setting that cannot be applied (mostly a CA bundle that cannot be used). Its
/// message is one sentence that says what fixes it, without a `TLS: ` prefix: the adapters'
/// `Error::Tls` carries the message and adds it.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The CA bundle cannot be read.
    Unreadable {
        /// The bundle.
        path: PathBuf,
        /// Why not.
        error: io::Error,
    },
    /// The CA bundle has a malformed PEM section.
    BadPem {
        /// The bundle.
        path: PathBuf,
        /// What is wrong with it, in words.
        reason: &'static str,
    },
    /// The CA bundle holds no certificates.
    NoCertificates {
        /// The bundle.
        path: PathBuf,
    },
    /// None of the CA bundle's certificates can be parsed.
    NoUsableCertificates {
        /// The bundle.
        path: PathBuf,
    },
    /// rustls cannot verify certificates with these roots (its message).
    Verifier(String),
    /// rustls has no TLS version that the crypto provider supports (its message).
    Versions(String),
}

/// What fixes a CA bundle that cannot be used.
const BUNDLE_FIX: &str =
    "set DXF_TLSVERIFY (or REQUESTS_CA_BUNDLE) to a PEM file of CA certificates";

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { path, error } => write!(
                f,
                "cannot read CA bundle {} ({}); {BUNDLE_FIX}",
                path.display(),
                io_words(error)
            ),
            ConfigError::BadPem { path, reason } => write!(
                f,
                "bad PEM in CA bundle {} ({reason}); {BUNDLE_FIX}",
                path.display()
            ),
            ConfigError::NoCertificates { path } => write!(
                f,
                "no certificates in CA bundle {}; {BUNDLE_FIX}",
                path.display()
            ),
            ConfigError::NoUsableCertificates { path } => write!(
                f,
                "no usable certificates in CA bundle {} (none could be parsed); {BUNDLE_FIX}",
                path.display()
            ),
            ConfigError::Verifier(e) => write!(f, "cannot verify certificates ({e}); {BUNDLE_FIX}"),
            ConfigError::Versions(e) => write!(f, "no usable TLS versions ({e})"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Unreadable { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// An IO error's message without its `(os error N)` suffix.
fn io_words(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text.get(..at).unwrap_or(&text).to_owned(),
        None => text,
    }
}

fn pem_words(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line",
        pem::Error::Base64Decode(_) => "bad base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "unreadable PEM",
    }
}

/// The certificates of the PEM bundle at `path` (those that cannot be parsed are left out,
/// as in a system bundle; none at all is an error).
pub(crate) fn load_bundle(
    path: &Path,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), ConfigError> {
    let pem = std::fs::read(path).map_err(|error| ConfigError::Unreadable {
        path: path.to_owned(),
        error,
    })?;
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| ConfigError::BadPem {
            path: path.to_owned(),
            reason: pem_words(&e),
        })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(ConfigError::NoCertificates {
            path: path.to_owned(),
        });
    }
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        return Err(ConfigError::NoUsableCertificates {
            path: path.to_owned(),
        });
    }
    Ok((roots, certs))
}

/// Verifies the server's certificate: against the roots (Mozilla's, or the CA bundle's);
/// or, when it is byte-identical to a certificate of the bundle (a pin), by its host name and
/// dates alone; or (`DXF_SKIPTLSVERIFY`) not at all. The handshake's signatures are always
/// checked.
#[derive(Debug)]
pub(crate) struct Verifier {
    /// Chain verification (`None`: skipped).
    pub(crate) chain: Option<Arc<WebPkiServerVerifier>>,
    /// Server certificates accepted as they are (the CA bundle's).
    pins: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    pub(crate) fn new(
        verify: &TlsVerify,
        provider: Arc<CryptoProvider>,
    ) -> Result<Verifier, ConfigError> {
        let (roots, pins) = match verify {
            TlsVerify::Skip => {
                return Ok(Verifier {
                    chain: None,
                    pins: Vec::new(),
                    provider,
                })
            }
            TlsVerify::WebPki => (
                RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
                Vec::new(),
            ),
            TlsVerify::CaBundle(path) => load_bundle(path)?,
        };
        let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| ConfigError::Verifier(e.to_string()))?;
        Ok(Verifier {
            chain: Some(chain),
            pins,
            provider,
        })
    }
}

/// A pinned certificate must still be for `name` and within its dates.
fn verify_pinned(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
    provider: &CryptoProvider,
) -> Result<(), rustls::Error> {
    let parsed = ParsedCertificate::try_from(cert)?;
    verify_server_name(&parsed, name)?;
    // webpki checks an end-entity certificate's dates before anything else: with the
    // certificate as its own trust anchor, a date error is the only one that counts (a CA
    // certificate then fails as `CaUsedAsEndEntity`, a certificate another CA issued as
    // `UnknownIssuer`: both after their dates passed).
    let bad = |_| rustls::Error::from(CertificateError::BadEncoding);
    let end_entity = webpki::EndEntityCert::try_from(cert).map_err(bad)?;
    let anchors = [webpki::anchor_from_trusted_cert(cert).map_err(bad)?];
    let checked = end_entity.verify_for_usage(
        provider.signature_verification_algorithms.all,
        &anchors,
        &[],
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    match checked.map(|_| ()) {
        Err(webpki::Error::CertExpired { time, not_after }) => {
            Err(CertificateError::ExpiredContext { time, not_after }.into())
        }
        Err(webpki::Error::CertNotValidYet { time, not_before }) => {
            Err(CertificateError::NotValidYetContext { time, not_before }.into())
        }
        Err(webpki::Error::InvalidCertValidity) => Err(CertificateError::Expired.into()),
        _ => Ok(()),
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        if self
            .pins
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            verify_pinned(end_entity, server_name, now, &self.provider)?;
            return Ok(ServerCertVerified::assertion());
        }
        chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls client configuration for `verify`: TLS 1.2 and 1.3 with `ring`, no client
/// certificate, and a verifier that checks the server's certificate as [`TlsVerify`] says
/// (a certificate of the CA bundle presented as it is is accepted as a pin, its host name
/// and dates still checked; the handshake's signatures are always checked).
pub fn client_config(verify: &TlsVerify) -> Result<ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier::new(verify, provider.clone())?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Versions(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}
