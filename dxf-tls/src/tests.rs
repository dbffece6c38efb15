//! The verifier (pins, chains, names, dates), CA bundle loading and the wording of every
//! TLS failure.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError};

use crate::failure::{alert_name, presented_name, utc};
use crate::verify::{load_bundle, Verifier};
use crate::{client_config, ConfigError, TlsFailure, TlsVerify};

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
        sentence("localhost:5000", &e)
            .starts_with("TLS: the certificate of localhost:5000 is not trusted (unknown issuer)"),
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
    let Err(e) = client_config(&TlsVerify::CaBundle(missing)) else {
        panic!("a missing bundle is an error")
    };
    assert!(matches!(e, ConfigError::Unreadable { .. }), "{e:?}");
    assert!(std::error::Error::source(&e).is_some());
    assert_eq!(
        e.to_string(),
        "cannot read CA bundle /nonexistent/ca.pem (No such file or directory); set \
         DXF_TLSVERIFY (or REQUESTS_CA_BUNDLE) to a PEM file of CA certificates"
    );
    let empty = TempFile::new("");
    let e = load_bundle(&empty.0).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "no certificates in CA bundle {}; set DXF_TLSVERIFY (or REQUESTS_CA_BUNDLE) to a \
             PEM file of CA certificates",
            empty.0.display()
        )
    );
    let bad = TempFile::new("-----BEGIN CERTIFICATE-----\nAAAA\n");
    let e = load_bundle(&bad.0).unwrap_err().to_string();
    assert!(
        e.starts_with("bad PEM in CA bundle") && e.contains("(a section has no END line)"),
        "{e}"
    );
    let garbage = TempFile::new("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    let e = load_bundle(&garbage.0).unwrap_err().to_string();
    assert!(e.starts_with("no usable certificates in CA bundle"), "{e}");
    // A usable one makes a configuration, as do the other settings.
    let ok = TempFile::new(CA);
    client_config(&TlsVerify::CaBundle(ok.0.clone())).unwrap();
    client_config(&TlsVerify::WebPki).unwrap();
    client_config(&TlsVerify::Skip).unwrap();
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
    let closed = TlsFailure::of_io(host, &io::ErrorKind::UnexpectedEof.into(), true).unwrap();
    assert_eq!(
        closed.to_string(),
        "TLS: localhost:5000 closed the connection during the TLS handshake; if it serves \
         plain http, set DXF_INSECURE=1"
    );
    // Timeouts and interrupts are not TLS failures.
    assert!(TlsFailure::of_io(host, &io::ErrorKind::TimedOut.into(), true).is_none());
    assert!(TlsFailure::of_io(host, &io::Error::other("cancelled"), true).is_none());
}

#[test]
fn failures_are_found_wherever_they_travelled() {
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    let failure = || TlsFailure::new("h:1", &rustls::Error::DecryptError, false);
    let io = io::Error::new(io::ErrorKind::InvalidData, failure());
    assert!(TlsFailure::find(&io).is_some());
    let wrapped = io::Error::other(io);
    assert_eq!(
        TlsFailure::find(&wrapped).unwrap().to_string(),
        "TLS: h:1 broke the TLS protocol (a message that cannot be decrypted)"
    );
    let boxed: BoxError = Box::new(failure());
    assert!(TlsFailure::find(boxed.as_ref()).is_some());
    assert!(TlsFailure::find(&io::Error::other("x")).is_none());
}

#[test]
fn io_errors_are_failures_when_they_carry_one() {
    let host = "localhost:5000";
    // A TLS stream's error, also inside another IO error (as hyper-rustls wraps it).
    let carried = io::Error::other(io::Error::new(
        io::ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
    ));
    for handshaking in [true, false] {
        let failure = TlsFailure::of_io(host, &carried, handshaking).unwrap();
        assert!(failure
            .to_string()
            .starts_with("TLS: the certificate of localhost:5000 is not trusted (unknown issuer)"));
    }
    // A malformed first message: not TLS while handshaking, a broken protocol after.
    let malformed = io::Error::new(
        io::ErrorKind::InvalidData,
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
    );
    assert!(TlsFailure::of_io(host, &malformed, true)
        .unwrap()
        .to_string()
        .contains("did not answer in TLS"));
    assert_eq!(
        TlsFailure::of_io(host, &malformed, false)
            .unwrap()
            .to_string(),
        "TLS: localhost:5000 broke the TLS protocol (a malformed message)"
    );
    // The server ending the connection is a TLS failure only during the handshake.
    for kind in [
        io::ErrorKind::UnexpectedEof,
        io::ErrorKind::ConnectionReset,
        io::ErrorKind::ConnectionAborted,
    ] {
        assert!(TlsFailure::of_io(host, &kind.into(), true).is_some());
        assert!(TlsFailure::of_io(host, &kind.into(), false).is_none());
    }
    assert_eq!(
        TlsFailure::bad_name("[::1:5000").to_string(),
        "TLS: [::1:5000 is not a host name a certificate can be for; set DXF_HOST to its name, \
         or DXF_SKIPTLSVERIFY=1 to skip verification"
    );
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
