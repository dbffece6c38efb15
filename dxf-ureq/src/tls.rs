//! TLS and agent settings: root certificates (Mozilla's webpki roots by default, a CA bundle
//! file, or no verification), proxies from the environment, the interruptible TCP transport
//! ([`crate::transport`]) with dxf's own TLS stage over it ([`TlsConnector`]) — and the
//! transport rules the driver relies on (no automatic redirects, statuses returned as
//! responses). Timeouts are set per request by the driver, from dxf-proto's
//! [`Timeouts`](dxf_proto::Timeouts).
//!
//! A certificate in the CA bundle is also accepted as the server's own certificate when the
//! server presents exactly it (a pin: a self-signed `openssl req -x509` certificate, which is
//! marked as a CA, given as `DXF_TLSVERIFY`, as python-dxf, curl and docker accept it); its
//! host name and dates and the handshake's signatures are still checked. Every TLS failure
//! is a [`TlsFailure`]: one sentence naming the host and the setting that fixes it.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct,
    RootCertStore, SignatureScheme, StreamOwned,
};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::time::{Duration as UreqDuration, Instant as UreqInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    Transport, TransportAdapter,
};

use crate::error::{Error, Result};
use crate::transport::SlicedTcpConnector;

/// How to verify the registry's TLS certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsVerify {
    /// Against Mozilla's root certificates (bundled).
    #[default]
    WebPki,
    /// Against the certificates in this PEM bundle (`DXF_TLSVERIFY`, `REQUESTS_CA_BUNDLE`):
    /// as roots, and each as a server certificate accepted as it is (a pin).
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

// ---- Verification and wording (the same in dxf-ureq and dxf-hyper) ----

/// What fixes a CA bundle that cannot be used.
const BUNDLE_FIX: &str =
    "set DXF_TLSVERIFY (or REQUESTS_CA_BUNDLE) to a PEM file of CA certificates";

/// What fixes an untrusted certificate.
const TRUST_FIX: &str = "give its CA (or the certificate itself) with \
     DXF_TLSVERIFY=/path/ca.pem (or REQUESTS_CA_BUNDLE), or DXF_SKIPTLSVERIFY=1 to skip \
     verification";

/// The end of every sentence a verification setting could fix.
const SKIP_FIX: &str = "or DXF_SKIPTLSVERIFY=1 to skip verification";

/// The certificates of the PEM bundle at `path` (those that cannot be parsed are left out,
/// as in a system bundle; none at all is an error).
fn load_bundle(path: &Path) -> Result<(RootCertStore, Vec<CertificateDer<'static>>)> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| {
        Error::Tls(format!(
            "cannot read CA bundle {shown} ({}); {BUNDLE_FIX}",
            io_words(&e)
        ))
    })?;
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| {
            Error::Tls(format!(
                "bad PEM in CA bundle {shown} ({}); {BUNDLE_FIX}",
                pem_words(&e)
            ))
        })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "no certificates in CA bundle {shown}; {BUNDLE_FIX}"
        )));
    }
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        return Err(Error::Tls(format!(
            "no usable certificates in CA bundle {shown} (none could be parsed); {BUNDLE_FIX}"
        )));
    }
    Ok((roots, certs))
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

/// Verifies the server's certificate: against the roots (Mozilla's, or the CA bundle's);
/// or, when it is byte-identical to a certificate of the bundle (a pin), by its host name and
/// dates alone; or (`DXF_SKIPTLSVERIFY`) not at all. The handshake's signatures are always
/// checked.
#[derive(Debug)]
struct Verifier {
    /// Chain verification (`None`: skipped).
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// Server certificates accepted as they are (the CA bundle's).
    pins: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    fn new(verify: &TlsVerify, provider: Arc<CryptoProvider>) -> Result<Verifier> {
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
            .map_err(|e| Error::Tls(format!("cannot verify certificates ({e}); {BUNDLE_FIX}")))?;
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
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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

/// The rustls client configuration for `verify` (TLS 1.2 and 1.3, `ring`).
fn tls_config(verify: &TlsVerify) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier::new(verify, provider.clone())?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("no usable TLS versions ({e})")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// A failed TLS connection to `host`, as one sentence that names the host and the setting
/// that fixes it (never a Debug dump).
#[derive(Debug)]
pub(crate) struct TlsFailure {
    /// `host[:port]`.
    host: String,
    why: Why,
}

#[derive(Debug, PartialEq, Eq)]
enum Why {
    /// The certificate chain leads to no trusted certificate (the reason, in words).
    Untrusted(&'static str),
    /// The certificate is not for the name connected to.
    WrongName {
        expected: String,
        presented: Vec<String>,
    },
    /// The certificate expired (its `notAfter`, seconds since the epoch).
    Expired(Option<u64>),
    /// The certificate is not valid yet (its `notBefore`).
    NotYetValid(Option<u64>),
    /// The server answered something other than TLS.
    NotTls,
    /// The server closed the connection during the handshake.
    Closed,
    /// The server sent a fatal alert (its name, as the TLS specification spells it).
    Alert(String),
    /// No TLS version or cipher suite in common.
    Incompatible,
    /// The server broke the TLS protocol (how).
    Broken(&'static str),
    /// The host is not a name a certificate can be for.
    BadName,
    /// Anything else (what, when it can be said without a Debug dump).
    Failed(Option<String>),
}

impl TlsFailure {
    /// `e` from a connection to `host`; `handshaking`: before the handshake completed.
    fn new(host: &str, e: &rustls::Error, handshaking: bool) -> TlsFailure {
        TlsFailure {
            host: host.to_owned(),
            why: why(e, handshaking),
        }
    }

    /// What a failed handshake with `host` is, if it is a TLS failure: a rustls error, or
    /// the server ending the connection (a plain http server does); else (a timeout, an
    /// interrupt, a refused connection) `None`.
    fn of_handshake(host: &str, e: &io::Error) -> Option<TlsFailure> {
        if let Some(r) = rustls_error_in(e) {
            return Some(TlsFailure::new(host, r, true));
        }
        matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
        )
        .then(|| TlsFailure {
            host: host.to_owned(),
            why: Why::Closed,
        })
    }
}

/// The rustls error an IO error carries.
fn rustls_error_in(e: &io::Error) -> Option<&rustls::Error> {
    let inner = e.get_ref()?;
    match inner.downcast_ref::<rustls::Error>() {
        Some(r) => Some(r),
        None => rustls_error_in(inner.downcast_ref::<io::Error>()?),
    }
}

/// The [`TlsFailure`] somewhere in `e` (its sources, and the errors IO errors carry).
pub(crate) fn tls_failure_in<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a TlsFailure> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(f) = e.downcast_ref::<TlsFailure>() {
            return Some(f);
        }
        next = match e.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

fn why(e: &rustls::Error, handshaking: bool) -> Why {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => certificate_why(c),
        E::NoCertificatesPresented => Why::Untrusted("no certificate was sent"),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } if handshaking => Why::NotTls,
        E::InvalidMessage(_) => Why::Broken("a malformed message"),
        E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            Why::Broken("an unexpected message")
        }
        E::AlertReceived(alert) => Why::Alert(alert_name(*alert)),
        E::PeerIncompatible(_) | E::NoApplicationProtocol => Why::Incompatible,
        E::PeerMisbehaved(_) => Why::Broken("a message the protocol forbids"),
        E::DecryptError => Why::Broken("a message that cannot be decrypted"),
        E::PeerSentOversizedRecord => Why::Broken("an oversized record"),
        E::UnsupportedNameType => Why::BadName,
        E::General(text) => Why::Failed(Some(text.clone())),
        _ => Why::Failed(None),
    }
}

#[allow(deprecated)] // CertificateError::UnsupportedSignatureAlgorithm, still produced
fn certificate_why(e: &CertificateError) -> Why {
    use CertificateError as C;
    match e {
        C::NotValidForName => Why::WrongName {
            expected: String::new(),
            presented: Vec::new(),
        },
        C::NotValidForNameContext {
            expected,
            presented,
        } => Why::WrongName {
            expected: expected.to_str().into_owned(),
            presented: presented
                .iter()
                .filter_map(|n| presented_name(n))
                .map(str::to_owned)
                .collect(),
        },
        C::Expired => Why::Expired(None),
        C::ExpiredContext { not_after, .. } => Why::Expired(Some(not_after.as_secs())),
        C::NotValidYet => Why::NotYetValid(None),
        C::NotValidYetContext { not_before, .. } => Why::NotYetValid(Some(not_before.as_secs())),
        C::UnknownIssuer => Why::Untrusted("unknown issuer"),
        C::BadSignature => Why::Untrusted("bad signature"),
        C::BadEncoding => Why::Untrusted("malformed certificate"),
        C::Revoked => Why::Untrusted("revoked"),
        C::UnhandledCriticalExtension => Why::Untrusted("unhandled critical extension"),
        C::UnsupportedSignatureAlgorithm
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            Why::Untrusted("unsupported signature algorithm")
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            Why::Untrusted("not a certificate for servers")
        }
        C::UnknownRevocationStatus
        | C::ExpiredRevocationList
        | C::ExpiredRevocationListContext { .. } => Why::Untrusted("revocation status unknown"),
        C::Other(other) => Why::Untrusted(match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => "a CA certificate used as a server's",
            Some(webpki::Error::EndEntityUsedAsCa) => "a server certificate used as a CA",
            Some(webpki::Error::NameConstraintViolation) => "outside its CA's name constraints",
            Some(webpki::Error::PathLenConstraintViolated) => "too many intermediate CAs",
            Some(webpki::Error::UnsupportedCertVersion) => "unsupported certificate version",
            _ => "invalid certificate chain",
        }),
        _ => Why::Untrusted("invalid certificate"),
    }
}

/// A name as webpki reports it (`DnsName("localhost")`, `IpAddress(127.0.0.1)`), bare.
fn presented_name(reported: &str) -> Option<&str> {
    let quoted = |prefix: &str| {
        reported
            .strip_prefix(prefix)
            .and_then(|n| n.strip_suffix("\")"))
    };
    quoted("DnsName(\"")
        .or_else(|| quoted("UniformResourceIdentifier(\""))
        .or_else(|| {
            reported
                .strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .or_else(|| {
            (reported != "DirectoryName" && !reported.contains(['(', '"', ' '])).then_some(reported)
        })
}

/// An alert's name as the TLS specification spells it (`handshake_failure`).
fn alert_name(alert: AlertDescription) -> String {
    let Some(camel) = alert.as_str() else {
        return format!("number {}", u8::from(alert));
    };
    let chars: Vec<char> = camel.chars().collect();
    let mut name = String::new();
    for (i, c) in chars.iter().enumerate() {
        let previous = i.checked_sub(1).and_then(|p| chars.get(p));
        let following = chars.get(i + 1);
        let starts_word = c.is_uppercase()
            && (previous.is_some_and(|p| p.is_lowercase())
                || (previous.is_some_and(|p| p.is_uppercase())
                    && following.is_some_and(|f| f.is_lowercase())));
        if starts_word {
            name.push('_');
        }
        name.extend(c.to_lowercase());
    }
    name
}

/// `secs` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let time = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3_600,
        time % 3_600 / 60,
        time % 60
    )
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = &self.host;
        match &self.why {
            Why::Untrusted(reason) => write!(
                f,
                "TLS: the certificate of {host} is not trusted ({reason}); {TRUST_FIX}"
            ),
            Why::WrongName {
                expected,
                presented,
            } => {
                write!(f, "TLS: the certificate of {host} is not valid for ")?;
                match (expected.as_str(), presented.as_slice()) {
                    // Not said (rustls's error without its context).
                    ("", []) => f.write_str("that name")?,
                    (expected, []) => write!(f, "{expected} (it names no host)")?,
                    (expected, names) => write!(f, "{expected} (it is for {})", names.join(", "))?,
                }
                write!(f, "; set DXF_HOST to a name it is for, {SKIP_FIX}")
            }
            Why::Expired(at) => {
                write!(f, "TLS: the certificate of {host} ")?;
                match at {
                    Some(at) => write!(f, "expired at {}", utc(*at))?,
                    None => f.write_str("has expired")?,
                }
                write!(f, "; renew it on the server, {SKIP_FIX}")
            }
            Why::NotYetValid(from) => {
                write!(f, "TLS: the certificate of {host} is not valid ")?;
                match from {
                    Some(from) => write!(f, "before {}", utc(*from))?,
                    None => f.write_str("yet")?,
                }
                write!(f, "; check the clock of this machine, {SKIP_FIX}")
            }
            Why::NotTls => write!(
                f,
                "TLS: {host} did not answer in TLS; if it serves plain http, set DXF_INSECURE=1"
            ),
            Why::Closed => write!(
                f,
                "TLS: {host} closed the connection during the TLS handshake; if it serves plain \
                 http, set DXF_INSECURE=1"
            ),
            Why::Alert(name) => write!(f, "TLS: {host} refused the TLS handshake (alert {name})"),
            Why::Incompatible => write!(
                f,
                "TLS: {host} offers no TLS version or cipher suite in common with dxf (TLS 1.2 \
                 and 1.3)"
            ),
            Why::Broken(what) => write!(f, "TLS: {host} broke the TLS protocol ({what})"),
            Why::BadName => write!(
                f,
                "TLS: {host} is not a host name a certificate can be for; set DXF_HOST to its \
                 name, {SKIP_FIX}"
            ),
            Why::Failed(None) => write!(f, "TLS: the TLS connection to {host} failed"),
            Why::Failed(Some(what)) => {
                write!(f, "TLS: the TLS connection to {host} failed ({what})")
            }
        }
    }
}

impl std::error::Error for TlsFailure {}

// ---- The ureq agent and its TLS stage ----

/// Builds the ureq agent. Redirects are never followed by ureq (dxf-proto decides, and
/// drops credentials across hosts) and non-2xx statuses come back as responses.
pub(crate) fn agent(config: &TransportConfig) -> Result<ureq::Agent> {
    let tls = TlsConnector {
        config: Arc::new(tls_config(&config.tls)?),
    };
    let settings = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .proxy(ureq::Proxy::try_from_env())
        .max_idle_connections_per_host(16)
        .build();
    let connector = ().chain(ConnectProxyConnector::default()).chain(SlicedTcpConnector).chain(tls);
    Ok(ureq::Agent::with_parts(
        settings,
        connector,
        DefaultResolver::default(),
    ))
}

/// The [`TlsFailure`] in a ureq error (which has no `source`).
pub(crate) fn ureq_tls_failure(e: &ureq::Error) -> Option<&TlsFailure> {
    match e {
        ureq::Error::Io(io) => tls_failure_in(io),
        _ => None,
    }
}

/// The TLS stage of the connector chain: rustls over the transport below it, verified by
/// [`Verifier`]; its failures are [`TlsFailure`]s (in an [`io::Error`]).
#[derive(Debug)]
pub(crate) struct TlsConnector {
    config: Arc<ClientConfig>,
}

/// What is left of the connect timeout that started at `details.now`.
fn remaining(details: &ConnectionDetails) -> NextTimeout {
    let mut timeout = details.timeout;
    if let (UreqDuration::Exact(limit), UreqInstant::Exact(start), UreqInstant::Exact(now)) =
        (timeout.after, details.now, (details.current_time)())
    {
        timeout.after =
            UreqDuration::Exact(limit.saturating_sub(now.saturating_duration_since(start)));
    }
    timeout
}

/// An IO error of the TLS stream to `host`: a rustls error becomes a [`TlsFailure`];
/// anything else (timeouts, interrupts) stays what it is.
fn stream_error(host: &str, e: io::Error, handshaking: bool) -> ureq::Error {
    let failure = if handshaking {
        TlsFailure::of_handshake(host, &e)
    } else {
        rustls_error_in(&e).map(|r| TlsFailure::new(host, r, false))
    };
    match failure {
        Some(failure) => ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidData, failure)),
        None => ureq::Error::from(e),
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .authority()
            .map(|a| a.as_str())
            .unwrap_or_default()
            .to_owned();
        let bare = details.uri.host().unwrap_or_default();
        let bare = bare
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(bare);
        let failed = |why| {
            ureq::Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                TlsFailure {
                    host: host.clone(),
                    why,
                },
            ))
        };
        let name = ServerName::try_from(bare.to_owned()).map_err(|_| failed(Why::BadName))?;
        let mut conn =
            ClientConnection::new(self.config.clone(), name).map_err(|e| failed(why(&e, true)))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(remaining(details));
        conn.complete_io(&mut sock)
            .map_err(|e| stream_error(&host, e, true))?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned::new(conn, sock),
            host,
        })))
    }
}

/// A TLS connection made by [`TlsConnector`].
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
    /// `host[:port]`, for errors.
    host: String,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("host", &self.host)
            .field("chained", &self.stream.sock.inner())
            .finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = self.buffers.output().get(..amount).unwrap_or_default();
        self.stream
            .write_all(output)
            .map_err(|e| stream_error(&self.host, e, false))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self
            .stream
            .read(input)
            .map_err(|e| stream_error(&self.host, e, false))?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// As `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 36500` makes it: self-signed, `CA:TRUE`; valid from 2026-12-01T17:01:56Z to 2126-11-07T17:01:56Z.
    const PINNED: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIDJzCCAg+gAwIBAgIUOJPkk4Va56yMZWPAuDwjG9L35MgwDQYJKoZIhvcNAQEL\n\
BQAwFDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMTE3MDE1NloYDzIxMjYx\n\
MTA3MTcwMTU2WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwggEiMA0GCSqGSIb3DQEB\n\
AQUAA4IBDwAwggEKAoIBAQDNEIL7GJX6oJ7LyC5haNZwLc2tc1KK6q6SkNrwgefQ\n\
u+ckm70WypeiCduDWWdOujmjjpSBJ3R//jje9sILfiJX9CLWnfMsewN64th927iM\n\
rpMe8higPYGFIyTT4T2GfBV+o4JZokX87PXzwPph1ASNuh5ug6hqQCXWKawxdSGx\n\
GtayJ9B1cSsXJ5zbgvJjrJIw1zZKWdv9kXDIvMlfCtb5fXYqh+LKUA0J3VHZROQW\n\
ju+OfV2lp5jHAlSpusO1LsoPuVajq5EbOUTwOPgF29kLDrSZDHb0Wovry3i539RV\n\
It4SBUREnyyBdZUnmpMT0JfvQpI8HYMKljf8zEEQvDApAgMBAAGjbzBtMB0GA1Ud\n\
DgQWBBQ/kHzaADGTi03uDJ9cSJaj+VT64jAfBgNVHSMEGDAWgBQ/kHzaADGTi03u\n\
DJ9cSJaj+VT64jAPBgNVHRMBAf8EBTADAQH/MBoGA1UdEQQTMBGCCWxvY2FsaG9z\n\
dIcEfwAAATANBgkqhkiG9w0BAQsFAAOCAQEAP7q9mpoM1Mc9857Uyd64WYf4Snv1\n\
K6dg4DgjOh5Tc7wTyzUASEb6/62WO/ZgbXRKC1y05TnLG5CDUqMIZYnHvwEPdcGP\n\
Yr6z6/h6U+0u23+Dbu0EhqaT5W83+MJudRU2VIR//6a+rfPfhJV7EW1/7gykjYS6\n\
kxIjqfDRwGRyJWyw9qARRztjzcpKQ2WFSlKS3H8Svouu1C64YdDn0uGaZy6i3MXw\n\
DzZuyJZLZIw422e5E7nJbxyXGSssF/YZKZKrOGgWRVskPi0dmj8xUvL6i5TyItmw\n\
neVFss6qn+PK1U/7JPVZvQlJOYLvWodFpgMq8oGGLE+LwVs5hHAmi8ONmg==\n\
-----END CERTIFICATE-----\n\
";
    /// Another such certificate (P-256), in no bundle.
    const OTHER: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBnDCCAUGgAwIBAgIUKkVpKB/r24yAkv1HJZiP6oolTncwCgYIKoZIzj0EAwIw\n\
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMTE3MDIwMFoYDzIxMjYxMTA3\n\
MTcwMjAwWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n\
PQMBBwNCAATJQeof9qiD9hIWajDt8HjMaUIh0zVGbT2RfSYgcOTvg+c9tKSoWzCe\n\
NxcZnO4Yq/NeHGFghPwAPMdoKxSdt9Dvo28wbTAdBgNVHQ4EFgQU5zTqdu4T+klr\n\
fCbjGPtKRqomdl4wHwYDVR0jBBgwFoAU5zTqdu4T+klrfCbjGPtKRqomdl4wDwYD\n\
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI\n\
zj0EAwIDSQAwRgIhAP+kq25fleAGEtFoT21VOq9JH+UXo0TY0b7cUySWAZusAiEA\n\
yPDT0NceM0p2XPo0bofFJZRAn06xWUvVMvCAGNm23Q0=\n\
-----END CERTIFICATE-----\n\
";
    /// A CA (P-256, `CN=dxf unit CA`)…
    const CA: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBgjCCASmgAwIBAgIUF76seJBinQcyeTRH35YvbI2ttnAwCgYIKoZIzj0EAwIw\n\
FjEUMBIGA1UEAwwLZHhmIHVuaXQgQ0EwIBcNMjYxMjAxMTcwMjAwWhgPMjEyNjEx\n\
MDcxNzAyMDBaMBYxFDASBgNVBAMMC2R4ZiB1bml0IENBMFkwEwYHKoZIzj0CAQYI\n\
KoZIzj0DAQcDQgAE3EPXS3x1EKd9O8w79Q/PEB+7qSUIzd2+fRDV3cb3xyX0UquV\n\
lPGCI3VQCLmNUcJWa6Ym1R9ecNKw7nhp3OBfS6NTMFEwHQYDVR0OBBYEFLFk4w69\n\
M9shnMfo2E+9j9a3nkncMB8GA1UdIwQYMBaAFLFk4w69M9shnMfo2E+9j9a3nknc\n\
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgFaJtjVX892FNHbZN\n\
ZGgTOy22hzpz5zp7bcxu5oO57coCIHXXINXz326IrMocFFDTHBES1uUPQxUwMyWR\n\
ws/d4RTN\n\
-----END CERTIFICATE-----\n\
";
    /// …and a server certificate it issued (`CA:FALSE`, `serverAuth`, `localhost`, `127.0.0.1`).
    const LEAF: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBrDCCAVKgAwIBAgIUNi9G5OKKDdIQtJ4i9+p/hVQ65AIwCgYIKoZIzj0EAwIw\n\
FjEUMBIGA1UEAwwLZHhmIHVuaXQgQ0EwIBcNMjYxMjAxMTcwMjAwWhgPMjEyNjEx\n\
MDcxNzAyMDBaMBQxEjAQBgNVBAMMCWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqG\n\
SM49AwEHA0IABJoXsnCMH4fVmKEu6cPlGsA0lCaV22JhY9P2qjSChxE8drmFp+7M\n\
wDxoKaQ8rTtjLK2wSpHxgJfPpNoZ564RoV+jfjB8MBoGA1UdEQQTMBGCCWxvY2Fs\n\
aG9zdIcEfwAAATAJBgNVHRMEAjAAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1Ud\n\
DgQWBBT6vDPxaEDogv8MY7CqlXt6sfQz9DAfBgNVHSMEGDAWgBSxZOMOvTPbIZzH\n\
6NhPvY/Wt55J3DAKBggqhkjOPQQDAgNIADBFAiAJVX60+Z4ESVj4cOVvw7eBjv7y\n\
NF8efsIk+mHmnQKqngIhAOoycqV8jWyYh7YHM7mY2/6bKxsYeH3YLr+fbYyFWsJI\n\
-----END CERTIFICATE-----\n\
";

    /// 2050-01-01T00:00:00Z: every certificate above is valid.
    const VALID: u64 = 2_524_608_000;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    /// A file holding `text`, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(text: &str) -> TempFile {
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "dxf-tls-{}-{}.pem",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn verifier(verify: &TlsVerify) -> Verifier {
        Verifier::new(verify, Arc::new(rustls::crypto::ring::default_provider())).unwrap()
    }

    fn bundle(pems: &[&str]) -> (TempFile, Verifier) {
        let file = TempFile::new(&pems.concat());
        let v = verifier(&TlsVerify::CaBundle(file.0.clone()));
        (file, v)
    }

    fn check(v: &Verifier, cert: &str, name: &str, at: u64) -> Result<(), rustls::Error> {
        v.verify_server_cert(
            &der(cert),
            &[],
            &ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(at)),
        )
        .map(|_| ())
    }

    /// The sentence for `e` with `host`, checked to be one line and free of Debug text.
    fn sentence(host: &str, e: &rustls::Error) -> String {
        let text = TlsFailure::new(host, e, true).to_string();
        assert!(!text.contains('\n'), "{text}");
        for debug in [
            "Other(",
            "OtherError",
            "Context",
            "DnsName",
            "IpAddress",
            "{",
        ] {
            assert!(!text.contains(debug), "{text}");
        }
        text
    }

    #[test]
    fn a_pinned_self_signed_ca_certificate_is_accepted_for_its_names() {
        // What made it fail before: webpki refuses a CA certificate as a server's.
        let (_f, v) = bundle(&[PINNED]);
        let chain = v.chain.as_ref().unwrap();
        let e = chain
            .verify_server_cert(
                &der(PINNED),
                &[],
                &ServerName::try_from("localhost").unwrap(),
                &[],
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(VALID)),
            )
            .unwrap_err();
        assert_eq!(
            sentence("localhost:5000", &e),
            "TLS: the certificate of localhost:5000 is not trusted (a CA certificate used as a \
             server's); give its CA (or the certificate itself) with DXF_TLSVERIFY=/path/ca.pem \
             (or REQUESTS_CA_BUNDLE), or DXF_SKIPTLSVERIFY=1 to skip verification"
        );
        // As a pin it is accepted, by either of its names, also among other certificates.
        check(&v, PINNED, "localhost", VALID).unwrap();
        check(&v, PINNED, "127.0.0.1", VALID).unwrap();
        let (_f, v) = bundle(&[CA, PINNED]);
        check(&v, PINNED, "localhost", VALID).unwrap();
    }

    #[test]
    fn a_pin_is_still_checked_for_its_name() {
        let (_f, v) = bundle(&[PINNED]);
        let e = check(&v, PINNED, "registry.example", VALID).unwrap_err();
        assert_eq!(
            sentence("registry.example:5000", &e),
            "TLS: the certificate of registry.example:5000 is not valid for registry.example \
             (it is for localhost, 127.0.0.1); set DXF_HOST to a name it is for, or \
             DXF_SKIPTLSVERIFY=1 to skip verification"
        );
        let e = check(&v, PINNED, "127.0.0.2", VALID).unwrap_err();
        assert!(
            sentence("127.0.0.2:5000", &e).contains("is not valid for 127.0.0.2 (it is for"),
            "{e}"
        );
    }

    #[test]
    fn a_pin_is_still_checked_for_its_dates() {
        let (_f, v) = bundle(&[PINNED]);
        // 2200-01-01 and 2020-01-01.
        let e = check(&v, PINNED, "localhost", 7_258_118_400).unwrap_err();
        assert_eq!(
            sentence("localhost:5000", &e),
            "TLS: the certificate of localhost:5000 expired at 2126-11-07T17:01:56Z; renew it \
             on the server, or DXF_SKIPTLSVERIFY=1 to skip verification"
        );
        let e = check(&v, PINNED, "localhost", 1_577_836_800).unwrap_err();
        assert_eq!(
            sentence("localhost:5000", &e),
            "TLS: the certificate of localhost:5000 is not valid before 2026-12-01T17:01:56Z; \
             check the clock of this machine, or DXF_SKIPTLSVERIFY=1 to skip verification"
        );
    }

    #[test]
    fn a_certificate_not_in_the_bundle_is_not_pinned() {
        let (_f, v) = bundle(&[PINNED]);
        let e = check(&v, OTHER, "localhost", VALID).unwrap_err();
        assert!(
            sentence("localhost:5000", &e).starts_with(
                "TLS: the certificate of localhost:5000 is not trusted (a CA certificate used as \
                 a server's); give its CA"
            ),
            "{e}"
        );
        // The server certificate of a CA that is not in the bundle.
        let e = check(&v, LEAF, "localhost", VALID).unwrap_err();
        assert!(
            sentence("localhost:5000", &e).starts_with(
                "TLS: the certificate of localhost:5000 is not trusted (unknown issuer)"
            ),
            "{e}"
        );
        // Mozilla's roots trust none of them.
        let v = verifier(&TlsVerify::WebPki);
        assert!(check(&v, PINNED, "localhost", VALID).is_err());
        assert!(check(&v, LEAF, "localhost", VALID).is_err());
    }

    #[test]
    fn a_ca_bundle_still_verifies_chains() {
        let (_f, v) = bundle(&[CA]);
        check(&v, LEAF, "localhost", VALID).unwrap();
        check(&v, LEAF, "127.0.0.1", VALID).unwrap();
        let e = check(&v, LEAF, "other.example", VALID).unwrap_err();
        assert!(
            sentence("other.example", &e).starts_with(
                "TLS: the certificate of other.example is not valid for other.example (it is for \
                 localhost, 127.0.0.1)"
            ),
            "{e}"
        );
        assert!(check(&v, LEAF, "localhost", 7_258_118_400).is_err());
    }

    #[test]
    fn skipping_verification_accepts_any_certificate() {
        let v = verifier(&TlsVerify::Skip);
        check(&v, OTHER, "registry.example", 7_258_118_400).unwrap();
        check(&v, LEAF, "localhost", VALID).unwrap();
    }

    #[test]
    fn unusable_bundles_are_sentences_naming_the_variable() {
        let missing = PathBuf::from("/nonexistent/ca.pem");
        let Err(e) = Verifier::new(
            &TlsVerify::CaBundle(missing),
            Arc::new(rustls::crypto::ring::default_provider()),
        ) else {
            panic!("a missing bundle is an error")
        };
        assert_eq!(
            e.to_string(),
            "TLS: cannot read CA bundle /nonexistent/ca.pem (No such file or directory); set \
             DXF_TLSVERIFY (or REQUESTS_CA_BUNDLE) to a PEM file of CA certificates"
        );
        assert!(e.is_tls());
        let empty = TempFile::new("");
        let e = load_bundle(&empty.0).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "TLS: no certificates in CA bundle {}; set DXF_TLSVERIFY (or REQUESTS_CA_BUNDLE) \
                 to a PEM file of CA certificates",
                empty.0.display()
            )
        );
        let bad = TempFile::new("-----BEGIN CERTIFICATE-----\nAAAA\n");
        let e = load_bundle(&bad.0).unwrap_err().to_string();
        assert!(
            e.contains("bad PEM in CA bundle") && e.contains("(a section has no END line)"),
            "{e}"
        );
        let garbage =
            TempFile::new("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let e = load_bundle(&garbage.0).unwrap_err().to_string();
        assert!(e.contains("no usable certificates in CA bundle"), "{e}");
    }

    #[test]
    fn every_failure_is_a_sentence() {
        use rustls::Error as E;
        let host = "localhost:5000";
        let cases = [
            (
                E::AlertReceived(AlertDescription::HandshakeFailure),
                "TLS: localhost:5000 refused the TLS handshake (alert handshake_failure)",
            ),
            (
                E::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                "TLS: localhost:5000 did not answer in TLS; if it serves plain http, set \
                 DXF_INSECURE=1",
            ),
            (
                E::PeerIncompatible(rustls::PeerIncompatible::NoCipherSuitesInCommon),
                "TLS: localhost:5000 offers no TLS version or cipher suite in common with dxf \
                 (TLS 1.2 and 1.3)",
            ),
            (
                E::PeerMisbehaved(rustls::PeerMisbehaved::TooManyEmptyFragments),
                "TLS: localhost:5000 broke the TLS protocol (a message the protocol forbids)",
            ),
            (
                E::InvalidCertificate(CertificateError::UnknownIssuer),
                "TLS: the certificate of localhost:5000 is not trusted (unknown issuer); give its \
                 CA (or the certificate itself) with DXF_TLSVERIFY=/path/ca.pem (or \
                 REQUESTS_CA_BUNDLE), or DXF_SKIPTLSVERIFY=1 to skip verification",
            ),
            (
                E::InvalidCertificate(CertificateError::Expired),
                "TLS: the certificate of localhost:5000 has expired; renew it on the server, or \
                 DXF_SKIPTLSVERIFY=1 to skip verification",
            ),
            (
                E::InvalidCertificate(CertificateError::NotValidForName),
                "TLS: the certificate of localhost:5000 is not valid for that name; set DXF_HOST \
                 to a name it is for, or DXF_SKIPTLSVERIFY=1 to skip verification",
            ),
            (
                E::NoCertificatesPresented,
                "TLS: the certificate of localhost:5000 is not trusted (no certificate was sent); \
                 give its CA (or the certificate itself) with DXF_TLSVERIFY=/path/ca.pem (or \
                 REQUESTS_CA_BUNDLE), or DXF_SKIPTLSVERIFY=1 to skip verification",
            ),
            (
                E::DecryptError,
                "TLS: localhost:5000 broke the TLS protocol (a message that cannot be decrypted)",
            ),
            (
                E::HandshakeNotComplete,
                "TLS: the TLS connection to localhost:5000 failed",
            ),
        ];
        for (e, expected) in cases {
            assert_eq!(sentence(host, &e), expected);
        }
        let closed = TlsFailure::of_handshake(host, &io::ErrorKind::UnexpectedEof.into()).unwrap();
        assert_eq!(
            closed.to_string(),
            "TLS: localhost:5000 closed the connection during the TLS handshake; if it serves \
             plain http, set DXF_INSECURE=1"
        );
        // Timeouts and interrupts are not TLS failures.
        assert!(TlsFailure::of_handshake(host, &io::ErrorKind::TimedOut.into()).is_none());
        assert!(TlsFailure::of_handshake(host, &io::Error::other("cancelled")).is_none());
    }

    #[test]
    fn failures_are_found_wherever_they_travelled() {
        let failure = || TlsFailure::new("h:1", &rustls::Error::DecryptError, false);
        let io = io::Error::new(io::ErrorKind::InvalidData, failure());
        assert!(tls_failure_in(&io).is_some());
        let wrapped = ureq::Error::Io(io::Error::other(io));
        assert!(ureq_tls_failure(&wrapped).is_some());
        assert!(ureq_tls_failure(&ureq::Error::ConnectionFailed).is_none());
        let e = Error::Transport {
            host: "h:1".into(),
            source: ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidData, failure())),
        };
        assert!(e.is_tls());
        assert_eq!(
            e.to_string(),
            "TLS: h:1 broke the TLS protocol (a message that cannot be decrypted)"
        );
        let plain = Error::Transport {
            host: "h:1".into(),
            source: ureq::Error::ConnectionFailed,
        };
        assert!(!plain.is_tls());
        assert_eq!(plain.to_string(), "h:1: connection failed");
    }

    #[test]
    fn names_and_dates_are_words() {
        assert_eq!(
            alert_name(AlertDescription::HandshakeFailure),
            "handshake_failure"
        );
        assert_eq!(alert_name(AlertDescription::UnknownCA), "unknown_ca");
        assert_eq!(
            alert_name(AlertDescription::UnknownPSKIdentity),
            "unknown_psk_identity"
        );
        assert_eq!(alert_name(AlertDescription::from(0xff)), "number 255");
        assert_eq!(presented_name("DnsName(\"localhost\")"), Some("localhost"));
        assert_eq!(presented_name("IpAddress(127.0.0.1)"), Some("127.0.0.1"));
        assert_eq!(presented_name("localhost"), Some("localhost"));
        assert_eq!(presented_name("DirectoryName"), None);
        assert_eq!(presented_name("Unsupported(0x82)"), None);
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
