//! End to end: a self-signed certificate made the usual way (`openssl req -x509 …`, which
//! marks it `CA:TRUE`) and given as `DXF_TLSVERIFY` / `REQUESTS_CA_BUNDLE` is accepted as the
//! server's certificate when the server presents exactly it (a pin), as python-dxf, curl and
//! docker accept it — by the `dxf` binary and both library adapters. Its host name and dates
//! are still checked, a certificate that is not in the bundle is still refused, and a CA
//! bundle still verifies chains as before. Every TLS failure is one line naming the host and
//! the variable that fixes it, never a Debug dump.
//!
//! The servers are tiny loopback HTTPS responders (plain `std` threads, rustls, one request
//! per connection) that answer every `GET /v2/…` like a registry with one repository; the
//! certificates are made with rcgen as `openssl req -x509` makes them, and once with the
//! `openssl` binary itself when there is one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use dxf_tests::cli::{clean_command, dxf_bin, finish, Run};
use dxf_tests::TestPki;

/// Socket read and write timeout of the servers.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head a server reads.
const MAX_HEAD: usize = 16 * 1024;
/// The one repository the servers list.
const REPO: &str = "pinned/repo";

/// What fixes an untrusted certificate (the end of its sentence).
const TRUST_FIX: &str = "give its CA (or the certificate itself) with \
     DXF_TLSVERIFY=/path/ca.pem (or REQUESTS_CA_BUNDLE), or DXF_SKIPTLSVERIFY=1 to skip \
     verification";

/// A certificate and its key, and the certificate as a PEM bundle file.
struct Cert {
    der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    pem: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cert {
    /// As `openssl req -x509 -newkey … -nodes -subj /CN=localhost -addext
    /// subjectAltName=DNS:localhost,IP:127.0.0.1` makes it (with `names` as the DNS names):
    /// self-signed, `basicConstraints=critical,CA:TRUE`, subject and authority key
    /// identifiers. `expired`: valid in 2000 only.
    fn self_signed(names: &[&str], ip: bool, expired: bool) -> Cert {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.subject_alt_names = names
            .iter()
            .map(|n| SanType::DnsName((*n).try_into().unwrap()))
            .collect();
        if ip {
            params
                .subject_alt_names
                .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        }
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.use_authority_key_identifier_extension = true;
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("cert.pem");
        std::fs::write(&pem, cert.pem()).unwrap();
        Cert {
            der: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            pem,
            _dir: dir,
        }
    }

    /// Made by the `openssl` binary itself (RSA 2048), if there is one.
    fn openssl() -> Option<Cert> {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&pem)
            .args([
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ])
            .output()
            .ok()?;
        if !made.status.success() {
            return None;
        }
        let der = CertificateDer::from_pem_file(&pem).unwrap();
        let key = PrivateKeyDer::from_pem_file(&key).unwrap();
        Some(Cert {
            der,
            key,
            pem,
            _dir: dir,
        })
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        server_config(self.der.clone(), self.key.clone_key())
    }
}

fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    )
}

/// A loopback server on its own thread until dropped: TLS with `tls`, or (`None`) plain
/// http, answering every request like a registry with one repository.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::spawn(move || {
            for tcp in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = tcp else { continue };
                let tls = tls.clone();
                thread::spawn(move || serve(tcp, tls));
            }
        });
        Server { port, stop }
    }

    /// `localhost:PORT`.
    fn localhost(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// `127.0.0.1:PORT`.
    fn ip(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(tcp: TcpStream, tls: Option<Arc<rustls::ServerConfig>>) {
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    match tls {
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            // A refused handshake ends here, as a read error.
            let _ = answer(&mut stream);
        }
        None => {
            let mut tcp = tcp;
            let _ = answer(&mut tcp);
        }
    }
}

/// Reads one request head and answers it: `/v2/_catalog` lists [`REPO`], anything else
/// under `/v2/` is `{}`; a TLS handshake (to plain http) gets a `400`.
fn answer(stream: &mut (impl Read + Write)) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.first() == Some(&0x16) {
            // A TLS handshake sent to plain http: refused as a malformed request.
            stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")?;
            return stream.flush();
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("/");
    let body = if path.starts_with("/v2/_catalog") {
        format!("{{\"repositories\":[\"{REPO}\"]}}")
    } else {
        "{}".to_owned()
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
         Docker-Distribution-API-Version: registry/2.0\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// `dxf list-repos` against `host` with `env` (a value of `None` removes the variable).
fn list_repos(host: &str, env: &[(&str, Option<&str>)]) -> Run {
    let base = [
        ("DXF_HOST", host),
        ("DXF_RETRIES", "0"),
        ("DXF_TIMEOUT", "20"),
    ];
    finish(
        clean_command(dxf_bin(), base, env, false)
            .arg("list-repos")
            .spawn()
            .unwrap(),
    )
}

/// The run listed [`REPO`].
#[track_caller]
fn listed(r: Run) {
    assert_eq!(
        (r.code, r.out().as_str(), r.stderr.as_str()),
        (0, "pinned/repo\n", ""),
        "{r:#?}"
    );
}

/// The run failed with exit code 1 and exactly `dxf: <message>`, one line.
#[track_caller]
fn failed_with(r: &Run, message: &str) {
    assert_eq!(r.code, 1, "{r:#?}");
    assert_eq!(r.out(), "", "{r:#?}");
    assert_eq!(r.stderr, format!("dxf: {message}\n"), "{r:#?}");
    no_debug_text(&r.stderr);
}

#[track_caller]
fn no_debug_text(message: &str) {
    for debug in [
        "Other(",
        "OtherError",
        "CaUsedAsEndEntity",
        "Context",
        "DnsName",
        "{",
    ] {
        assert!(!message.contains(debug), "{debug} in {message}");
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The two library adapters' `GET /v2/` and repository list against `host`.
fn library_result(kind: Adapter, host: &str, bundle: Option<&Path>) -> Result<Vec<String>, String> {
    match kind {
        Adapter::Ureq => {
            let mut config = dxf_ureq::Config::new(host);
            config.retries.max_retries = 0;
            if let Some(b) = bundle {
                config.transport.tls = dxf_ureq::TlsVerify::CaBundle(b.to_path_buf());
            }
            let run = || -> Result<Vec<String>, dxf_ureq::Error> {
                let registry = dxf_ureq::Registry::new(&config)?;
                registry.version_check()?;
                registry.list_repos(None)?.collect()
            };
            run().map_err(|e| {
                let text = e.to_string();
                assert_eq!(e.is_tls(), text.starts_with("TLS: "), "{text}");
                text
            })
        }
        Adapter::Hyper => {
            let mut config = dxf_hyper::Config::new(host);
            config.retries.max_retries = 0;
            if let Some(b) = bundle {
                config.transport.tls = dxf_hyper::TlsVerify::CaBundle(b.to_path_buf());
            }
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let run = async {
                    let registry = dxf_hyper::Registry::new(&config)?;
                    registry.version_check().await?;
                    registry.list_repos(None)?.collect_all().await
                };
                run.await.map_err(|e: dxf_hyper::Error| {
                    let text = e.to_string();
                    assert_eq!(e.is_tls(), text.starts_with("TLS: "), "{text}");
                    text
                })
            })
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Adapter {
    Ureq,
    Hyper,
}

const ADAPTERS: [Adapter; 2] = [Adapter::Ureq, Adapter::Hyper];

#[test]
fn a_pinned_self_signed_ca_certificate_is_accepted() {
    let cert = Cert::self_signed(&["localhost"], true, false);
    let server = Server::start(Some(cert.server_config()));
    let bundle = path_str(&cert.pem);
    for host in [server.localhost(), server.ip()] {
        listed(list_repos(&host, &[("DXF_TLSVERIFY", Some(bundle))]));
        listed(list_repos(
            &host,
            &[
                ("DXF_TLSVERIFY", None),
                ("REQUESTS_CA_BUNDLE", Some(bundle)),
            ],
        ));
        for kind in ADAPTERS {
            assert_eq!(
                library_result(kind, &host, Some(&cert.pem)),
                Ok(vec![REPO.to_owned()]),
                "{kind:?}"
            );
        }
    }
    // Among other certificates of the bundle too.
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(pki_dir.path());
    let both = pki_dir.path().join("both.pem");
    let mut text = std::fs::read_to_string(pki.ca_pem_path()).unwrap();
    text.push_str(&std::fs::read_to_string(&cert.pem).unwrap());
    std::fs::write(&both, text).unwrap();
    listed(list_repos(
        &server.localhost(),
        &[("DXF_TLSVERIFY", Some(path_str(&both)))],
    ));
}

#[test]
fn a_certificate_made_by_openssl_req_x509_is_accepted() {
    let Some(cert) = Cert::openssl() else {
        eprintln!("no openssl binary: the rcgen-made certificates stand in for it");
        return;
    };
    let server = Server::start(Some(cert.server_config()));
    listed(list_repos(
        &server.localhost(),
        &[("DXF_TLSVERIFY", Some(path_str(&cert.pem)))],
    ));
    for kind in ADAPTERS {
        assert_eq!(
            library_result(kind, &server.ip(), Some(&cert.pem)),
            Ok(vec![REPO.to_owned()]),
            "{kind:?}"
        );
    }
}

#[test]
fn a_pinned_certificate_for_another_name_is_refused() {
    let cert = Cert::self_signed(&["registry.example"], false, false);
    let server = Server::start(Some(cert.server_config()));
    let host = server.localhost();
    let message = format!(
        "TLS: the certificate of {host} is not valid for localhost (it is for \
         registry.example); set DXF_HOST to a name it is for, or DXF_SKIPTLSVERIFY=1 to skip \
         verification"
    );
    failed_with(
        &list_repos(&host, &[("DXF_TLSVERIFY", Some(path_str(&cert.pem)))]),
        &message,
    );
    for kind in ADAPTERS {
        assert_eq!(
            library_result(kind, &host, Some(&cert.pem)),
            Err(message.clone()),
            "{kind:?}"
        );
    }
    // Skipping verification still works.
    listed(list_repos(&host, &[("DXF_SKIPTLSVERIFY", Some("1"))]));
}

#[test]
fn an_expired_pinned_certificate_is_refused() {
    let cert = Cert::self_signed(&["localhost"], true, true);
    let server = Server::start(Some(cert.server_config()));
    let host = server.localhost();
    let message = format!(
        "TLS: the certificate of {host} expired at 2001-01-01T00:00:00Z; renew it on the \
         server, or DXF_SKIPTLSVERIFY=1 to skip verification"
    );
    failed_with(
        &list_repos(&host, &[("DXF_TLSVERIFY", Some(path_str(&cert.pem)))]),
        &message,
    );
    for kind in ADAPTERS {
        assert_eq!(
            library_result(kind, &host, Some(&cert.pem)),
            Err(message.clone()),
            "{kind:?}"
        );
    }
}

#[test]
fn a_self_signed_certificate_not_in_the_bundle_is_refused() {
    let served = Cert::self_signed(&["localhost"], true, false);
    let other = Cert::self_signed(&["localhost"], true, false);
    let server = Server::start(Some(served.server_config()));
    let host = server.ip();
    let message = format!(
        "TLS: the certificate of {host} is not trusted (a CA certificate used as a server's); \
         {TRUST_FIX}"
    );
    failed_with(
        &list_repos(&host, &[("DXF_TLSVERIFY", Some(path_str(&other.pem)))]),
        &message,
    );
    // Mozilla's roots (no bundle given) refuse it the same way.
    failed_with(&list_repos(&host, &[]), &message);
    for kind in ADAPTERS {
        assert_eq!(
            library_result(kind, &host, Some(&other.pem)),
            Err(message.clone()),
            "{kind:?}"
        );
        assert_eq!(
            library_result(kind, &host, None),
            Err(message.clone()),
            "{kind:?}"
        );
    }
}

#[test]
fn a_ca_bundle_still_verifies_chains() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let server = Server::start(Some(pki.server_config()));
    let ca = pki.ca_pem_path();
    for host in [server.localhost(), server.ip()] {
        listed(list_repos(&host, &[("DXF_TLSVERIFY", Some(path_str(ca)))]));
        for kind in ADAPTERS {
            assert_eq!(
                library_result(kind, &host, Some(ca)),
                Ok(vec![REPO.to_owned()]),
                "{kind:?}"
            );
        }
    }
    // Without its CA: an unknown issuer.
    let host = server.localhost();
    let message =
        format!("TLS: the certificate of {host} is not trusted (unknown issuer); {TRUST_FIX}");
    failed_with(&list_repos(&host, &[]), &message);
    let unrelated = Cert::self_signed(&["localhost"], true, false);
    failed_with(
        &list_repos(
            &host,
            &[("REQUESTS_CA_BUNDLE", Some(path_str(&unrelated.pem)))],
        ),
        &message,
    );
    for kind in ADAPTERS {
        assert_eq!(
            library_result(kind, &host, None),
            Err(message.clone()),
            "{kind:?}"
        );
    }
    // The server certificate itself, pinned (not a CA: accepted without its CA).
    let leaf = dir.path().join("leaf.pem");
    std::fs::copy(pki.server_cert_pem_path(), &leaf).unwrap();
    listed(list_repos(
        &host,
        &[("DXF_TLSVERIFY", Some(path_str(&leaf)))],
    ));
}

#[test]
fn plain_http_on_the_port_is_named() {
    let server = Server::start(None);
    let host = server.ip();
    let r = list_repos(&host, &[]);
    assert_eq!(r.code, 1, "{r:#?}");
    no_debug_text(&r.stderr);
    assert!(
        r.stderr == format!("dxf: TLS: {host} did not answer in TLS; if it serves plain http, set DXF_INSECURE=1\n")
            || r.stderr
                == format!(
                    "dxf: TLS: {host} closed the connection during the TLS handshake; if it \
                     serves plain http, set DXF_INSECURE=1\n"
                ),
        "{r:#?}"
    );
    for kind in ADAPTERS {
        let e = library_result(kind, &host, None).unwrap_err();
        assert!(
            e.starts_with(&format!("TLS: {host} ")) && e.ends_with("set DXF_INSECURE=1"),
            "{kind:?}: {e}"
        );
    }
    // And plain http is what fixes it.
    listed(list_repos(&host, &[("DXF_INSECURE", Some("1"))]));
}

#[test]
fn an_unreadable_bundle_is_named() {
    let r = list_repos(
        "127.0.0.1:1",
        &[("DXF_TLSVERIFY", Some("/nonexistent/ca.pem"))],
    );
    failed_with(
        &r,
        "TLS: cannot read CA bundle /nonexistent/ca.pem (No such file or directory); set \
         DXF_TLSVERIFY (or REQUESTS_CA_BUNDLE) to a PEM file of CA certificates",
    );
    let empty = tempfile::NamedTempFile::new().unwrap();
    let path = path_str(empty.path());
    let r = list_repos("127.0.0.1:1", &[("REQUESTS_CA_BUNDLE", Some(path))]);
    failed_with(
        &r,
        &format!(
            "TLS: no certificates in CA bundle {path}; set DXF_TLSVERIFY (or \
             REQUESTS_CA_BUNDLE) to a PEM file of CA certificates"
        ),
    );
}
