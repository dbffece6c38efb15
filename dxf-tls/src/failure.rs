//! [`TlsFailure`]: a failed TLS connection as one sentence naming the host and the setting
//! that fixes it, from the rustls error (or the IO error carrying it) that an adapter's
//! TLS stream reported.

use std::fmt;
use std::io;

use rustls::{AlertDescription, CertificateError};

/// What fixes an untrusted certificate.
const TRUST_FIX: &str = "give its CA (or the certificate itself) with \
     DXF_TLSVERIFY=/path/ca.pem (or REQUESTS_CA_BUNDLE), or DXF_SKIPTLSVERIFY=1 to skip \
     verification";

/// The end of every sentence a verification setting could fix.
const SKIP_FIX: &str = "or DXF_SKIPTLSVERIFY=1 to skip verification";

/// A failed TLS connection to a host, as one sentence (its [`Display`](fmt::Display)) that
/// names the host and the setting that fixes it, never a Debug dump. An adapter puts it in
/// the error its HTTP client carries (an [`io::Error`], a boxed error) and finds it again
/// with [`TlsFailure::find`].
#[derive(Debug)]
pub struct TlsFailure {
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
    /// `e` from a connection to `host` (`host[:port]`); `handshaking`: before the handshake
    /// completed (a malformed first message then means the server does not speak TLS).
    pub fn new(host: &str, e: &rustls::Error, handshaking: bool) -> TlsFailure {
        TlsFailure {
            host: host.to_owned(),
            why: why(e, handshaking),
        }
    }

    /// `host` is not a name a certificate can be for (rustls refused it as a server name).
    pub fn bad_name(host: &str) -> TlsFailure {
        TlsFailure {
            host: host.to_owned(),
            why: Why::BadName,
        }
    }

    /// What an IO error of a TLS connection to `host` is, if it is a TLS failure: the rustls
    /// error it carries; while `handshaking`, also the server ending the connection (a plain
    /// http server does). Else (a timeout, an interrupt, a refused connection) `None`.
    pub fn of_io(host: &str, e: &io::Error, handshaking: bool) -> Option<TlsFailure> {
        if let Some(r) = rustls_error_in(e) {
            return Some(TlsFailure::new(host, r, handshaking));
        }
        let closed = matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
        );
        (handshaking && closed).then(|| TlsFailure {
            host: host.to_owned(),
            why: Why::Closed,
        })
    }

    /// The [`TlsFailure`] somewhere in `e`: `e` itself, its sources, and the errors that
    /// IO errors among them carry.
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a TlsFailure> {
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
}

/// The rustls error an IO error carries.
fn rustls_error_in(e: &io::Error) -> Option<&rustls::Error> {
    let inner = e.get_ref()?;
    match inner.downcast_ref::<rustls::Error>() {
        Some(r) => Some(r),
        None => rustls_error_in(inner.downcast_ref::<io::Error>()?),
    }
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
pub(crate) fn presented_name(reported: &str) -> Option<&str> {
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
pub(crate) fn alert_name(alert: AlertDescription) -> String {
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
pub(crate) fn utc(secs: u64) -> String {
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
