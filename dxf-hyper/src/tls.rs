//! TLS and connection-pool settings: root certificates (Mozilla's webpki roots by default, a
//! CA bundle file, or no verification), the connect timeout, and the hyper-util pooled
//! client the driver sends through (which never follows redirects: dxf-proto decides).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::body::ReqBody;
use crate::error::{Error, Result};

/// How to verify the registry's TLS certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsVerify {
    /// Against Mozilla's root certificates (bundled).
    #[default]
    WebPki,
    /// Against the certificates in this PEM bundle (`DXF_TLSVERIFY`, `REQUESTS_CA_BUNDLE`).
    CaBundle(PathBuf),
    /// Not at all (`DXF_SKIPTLSVERIFY=1`).
    Skip,
}

/// Transport settings (time bounds are [`Config::timeouts`](crate::Config::timeouts)).
#[derive(Clone, Debug, Default)]
pub struct TransportConfig {
    /// Certificate verification.
    pub tls: TlsVerify,
}

/// The pooled client every request goes through.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, ReqBody>;

/// Most idle connections kept per host.
const MAX_IDLE_PER_HOST: usize = 32;

fn load_bundle(path: &Path) -> Result<RootCertStore> {
    let bad = |why: String| Error::Tls(format!("CA bundle {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("bad PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("bad certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificates".into()));
    }
    Ok(roots)
}

/// Accepts any certificate chain (`TlsVerify::Skip`) but still checks handshake signatures.
#[derive(Debug)]
struct NoChainCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoChainCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
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

fn tls_config(verify: &TlsVerify) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let config = match verify {
        TlsVerify::WebPki => builder.with_root_certificates(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        TlsVerify::CaBundle(path) => builder.with_root_certificates(load_bundle(path)?),
        TlsVerify::Skip => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoChainCheck(provider))),
    };
    Ok(config.with_no_client_auth())
}

/// Builds the pooled HTTP/1.1 client (http and https URLs: the token realm may differ in
/// scheme from the registry; dxf-proto decides which are allowed).
pub(crate) fn client(config: &TransportConfig, connect: Option<Duration>) -> Result<HttpClient> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(connect);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(&config.tls)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .build(https))
}
