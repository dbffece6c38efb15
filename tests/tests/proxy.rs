//! Both library adapters honour the proxy variables alike, as curl and python-dxf's requests
//! do (see `TransportConfig`): `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for plain http
//! ones, `ALL_PROXY` for either, lowercase names too, `NO_PROXY` (addresses, CIDR blocks,
//! names with or without a leading dot, `*`) and `user:password@` in the proxy URL; every
//! proxied connection is a `CONNECT` tunnel; a SOCKS proxy is an error.
//!
//! The proxy is a tiny `CONNECT` proxy in this file (loopback, one thread per tunnel) that
//! logs every request it gets and relays the tunnels' bytes, also behind TLS as an
//! `https://` proxy; the registries are the
//! harness's (plain http, and https with a token server on https). Each case sets the
//! variables, makes a client (they are read then), checks the registry's version, pushes a
//! small blob and pulls it back, and compares the tunnels the proxy saw with the hosts the
//! case expects through it.
//!
//! The variables are the process's: one `#[test]` in its own test binary, cases one by one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use dxf_tests::{Mode, TestPki, TestRegistry};
use tokio::io::AsyncReadExt as _;

/// Every variable a case may set (cleared before and after each).
const VARS: [&str; 9] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// What the proxy was asked: the request line and its `Proxy-Authorization`, if any.
#[derive(Clone, Debug, PartialEq)]
struct Asked {
    line: String,
    auth: Option<String>,
}

/// A `CONNECT` proxy on loopback: answers `200` and relays bytes both ways; anything else
/// gets a `405`.
struct ConnectProxy {
    port: u16,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let log = log.clone();
                thread::spawn(move || tunnel(conn, &log));
            }
        });
        ConnectProxy { port, asked }
    }

    /// `http://127.0.0.1:PORT`.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it was asked since the last call.
    fn take(&self) -> Vec<Asked> {
        std::mem::take(&mut *self.asked.lock().unwrap())
    }
}

/// Serves one client connection of the proxy.
fn tunnel(mut client: TcpStream, log: &Mutex<Vec<Asked>>) {
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default().to_owned();
    let auth = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    log.lock().unwrap().push(Asked {
        line: line.clone(),
        auth,
    });
    let target = match line.split(' ').collect::<Vec<_>>()[..] {
        ["CONNECT", target, _] => target.to_owned(),
        _ => {
            let _ =
                client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
            return;
        }
    };
    let Ok(upstream) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    client.set_read_timeout(None).unwrap();
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (mut up_r, mut up_w) = (upstream.try_clone().unwrap(), upstream);
    let (mut down_r, mut down_w) = (client.try_clone().unwrap(), client);
    let upward = thread::spawn(move || {
        let _ = std::io::copy(&mut down_r, &mut up_w);
        let _ = up_w.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut up_r, &mut down_w);
    let _ = down_w.shutdown(Shutdown::Write);
    let _ = upward.join();
}

/// An `https://` proxy: TLS (the test PKI's certificate for 127.0.0.1) in front of a
/// [`ConnectProxy`], relaying the plaintext to it.
struct TlsFront {
    port: u16,
    pki: TestPki,
    _dir: tempfile::TempDir,
}

impl TlsFront {
    fn start(behind: u16) -> TlsFront {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate(dir.path());
        let config = pki.server_config();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let config = config.clone();
                thread::spawn(move || terminate(conn, config, behind));
            }
        });
        TlsFront {
            port,
            pki,
            _dir: dir,
        }
    }

    /// `https://127.0.0.1:PORT`.
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

/// Relays one TLS connection to the proxy at `behind`, in one thread: each side is read
/// with a short timeout in turn.
fn terminate(client: TcpStream, config: Arc<rustls::ServerConfig>, behind: u16) {
    let slice = Some(Duration::from_millis(5));
    let mut upstream = TcpStream::connect(("127.0.0.1", behind)).unwrap();
    client.set_read_timeout(slice).unwrap();
    upstream.set_read_timeout(slice).unwrap();
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, client);
    let mut buf = vec![0u8; 64 * 1024];
    let waiting = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if upstream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if waiting(&e) => {}
            Err(_) => break,
        }
        match upstream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    break;
                }
            }
            Err(e) if waiting(&e) => {}
            Err(_) => break,
        }
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

#[derive(Clone, Copy, Debug)]
enum Adapter {
    Ureq,
    Hyper,
}

/// Which registry a case talks to, and by which name.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// Plain http, as `127.0.0.1:PORT`.
    Plain,
    /// Plain http, as `localhost:PORT`.
    PlainByName,
    /// https with a token server on https, as `127.0.0.1:PORT`.
    Token,
    /// Plain http, trusting the https proxy's certificate.
    PlainTrustingProxy,
}

struct World {
    plain: TestRegistry,
    token: TestRegistry,
    front: TlsFront,
}

impl World {
    fn host(&self, target: Target) -> String {
        match target {
            Target::Plain | Target::PlainTrustingProxy => self.plain.host(),
            Target::PlainByName => format!("localhost:{}", self.plain.port()),
            Target::Token => self.token.host(),
        }
    }

    /// The `CONNECT` targets a proxied round trip to `target` makes: the registry, and
    /// the token server (Token).
    fn tunnels(&self, target: Target) -> BTreeSet<String> {
        let mut hosts = BTreeSet::from([self.host(target)]);
        if let Target::Token = target {
            hosts.insert(self.token.token_server_host().unwrap());
        }
        hosts
    }
}

/// Makes a client for `target` now (the variables are read then), checks the version,
/// pushes `blob` and pulls it back; the error's text if any step failed.
fn round_trip(adapter: Adapter, world: &World, target: Target, blob: &[u8]) -> Result<(), String> {
    let host = world.host(target);
    let (insecure, credentials, ca) = match target {
        Target::Plain | Target::PlainByName => (true, None, None),
        Target::PlainTrustingProxy => (
            true,
            None,
            Some(world.front.pki.ca_pem_path().to_path_buf()),
        ),
        Target::Token => (
            false,
            world.token.credentials(),
            world.token.ca_pem_path().map(|p| p.to_path_buf()),
        ),
    };
    let credentials = match credentials {
        Some((username, password)) => dxf_ureq::Credentials::Basic { username, password },
        None => dxf_ureq::Credentials::None,
    };
    let retries = dxf_ureq::dxf_proto::RetryPolicy::never();
    match adapter {
        Adapter::Ureq => {
            let mut c = dxf_ureq::Config::new(&host);
            c.insecure = insecure;
            c.credentials = credentials;
            c.retries = retries;
            if let Some(ca) = ca {
                c.transport.tls = dxf_ureq::TlsVerify::CaBundle(ca);
            }
            let run = || -> dxf_ureq::Result<()> {
                let registry = dxf_ureq::Registry::new(&c)?;
                registry.version_check()?;
                let repo = registry.repository("proxy/blobs")?;
                let pushed = repo.push_blob_reader(&mut &blob[..], dxf_ureq::PushOptions::new())?;
                let mut got = Vec::new();
                repo.pull_blob(&pushed.digest, None)?
                    .read_to_end(&mut got)?;
                assert!(got == blob);
                Ok(())
            };
            run().map_err(|e| e.to_string())
        }
        Adapter::Hyper => {
            let mut c = dxf_hyper::Config::new(&host);
            c.insecure = insecure;
            c.credentials = credentials;
            c.retries = retries;
            if let Some(ca) = ca {
                c.transport.tls = dxf_hyper::TlsVerify::CaBundle(ca);
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let run = async {
                let registry = dxf_hyper::Registry::new(&c)?;
                registry.version_check().await?;
                let repo = registry.repository("proxy/blobs")?;
                let pushed = repo
                    .push_blob_reader(&mut &blob[..], dxf_hyper::PushOptions::new())
                    .await?;
                let mut got = Vec::new();
                repo.pull_blob(&pushed.digest, None)
                    .await?
                    .read_to_end(&mut got)
                    .await?;
                assert!(got == blob);
                dxf_hyper::Result::Ok(())
            };
            rt.block_on(run)
                .map_err(|e: dxf_hyper::Error| e.to_string())
        }
    }
}

/// A case: the variables set, the registry, what is expected.
type Case<'a> = (Vec<(&'a str, &'a str)>, Target, Expect);

/// What a case expects.
enum Expect {
    /// Through the proxy (every connection a tunnel), with this `Proxy-Authorization`.
    Proxied(Option<&'static str>),
    /// Straight to the registry: the proxy sees nothing.
    Direct,
    /// An error whose text has this.
    Fails(&'static str),
}

#[test]
fn both_adapters_honour_the_proxy_variables_alike() {
    for var in VARS {
        std::env::remove_var(var);
    }
    let proxy = ConnectProxy::start();
    let p = proxy.url();
    let world = World {
        plain: TestRegistry::start(Mode::Plain),
        token: TestRegistry::start(Mode::Token),
        front: TlsFront::start(proxy.port),
    };
    let https_proxy = world.front.url();
    let with_user = format!("http://user:p%40ss@127.0.0.1:{}", proxy.port);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("user:p@ss")
    );
    let basic: &'static str = basic.leak();
    use Expect::*;
    use Target::*;
    let cases: Vec<Case> = vec![
        (vec![("HTTPS_PROXY", &p)], Token, Proxied(None)),
        (vec![("https_proxy", &p)], Token, Proxied(None)),
        (vec![("HTTP_PROXY", &p)], Plain, Proxied(None)),
        (vec![("http_proxy", &p)], Plain, Proxied(None)),
        (vec![("ALL_PROXY", &p)], Token, Proxied(None)),
        (vec![("all_proxy", &p)], Plain, Proxied(None)),
        // A proxy for the other scheme only.
        (vec![("HTTP_PROXY", &p)], Token, Direct),
        (vec![("HTTPS_PROXY", &p)], Plain, Direct),
        // The scheme's own proxy before ALL_PROXY (which goes nowhere).
        (
            vec![("HTTPS_PROXY", &p), ("ALL_PROXY", "http://127.0.0.1:9")],
            Token,
            Proxied(None),
        ),
        (
            vec![("HTTPS_PROXY", &with_user)],
            Token,
            Proxied(Some(basic)),
        ),
        // TLS to the proxy, verified like the registry.
        (
            vec![("HTTP_PROXY", &https_proxy)],
            PlainTrustingProxy,
            Proxied(None),
        ),
        (
            vec![("HTTP_PROXY", &https_proxy)],
            Plain,
            Fails("is not trusted (unknown issuer)"),
        ),
        // NO_PROXY: an address, a block, every host, others only.
        (
            vec![("HTTPS_PROXY", &p), ("NO_PROXY", "127.0.0.1")],
            Token,
            Direct,
        ),
        (
            vec![("HTTPS_PROXY", &p), ("no_proxy", "127.0.0.0/8")],
            Token,
            Direct,
        ),
        (vec![("HTTP_PROXY", &p), ("NO_PROXY", "*")], Plain, Direct),
        (
            vec![("HTTP_PROXY", &p), ("NO_PROXY", "10.0.0.0/8, example.com")],
            Plain,
            Proxied(None),
        ),
        (
            vec![("HTTP_PROXY", &p), ("NO_PROXY", "localhost")],
            PlainByName,
            Direct,
        ),
        (
            vec![("HTTP_PROXY", &p), ("NO_PROXY", ".localhost")],
            PlainByName,
            Direct,
        ),
        (
            vec![("HTTP_PROXY", &p), ("NO_PROXY", "*.LocalHost")],
            PlainByName,
            Direct,
        ),
        (
            vec![("HTTP_PROXY", &p), ("NO_PROXY", "ocalhost")],
            PlainByName,
            Proxied(None),
        ),
        (
            vec![
                ("HTTP_PROXY", &p),
                ("NO_PROXY", "127.0.0.2,127.0.1.0/24,localhost"),
            ],
            Plain,
            Proxied(None),
        ),
        // A CGI script ignores them all.
        (
            vec![("HTTP_PROXY", &p), ("REQUEST_METHOD", "GET")],
            Plain,
            Direct,
        ),
        // SOCKS is refused, never bypassed.
        (
            vec![("ALL_PROXY", "socks5://127.0.0.1:9")],
            Plain,
            Fails("SOCKS proxies are not supported"),
        ),
    ];
    for adapter in [Adapter::Ureq, Adapter::Hyper] {
        for (i, (vars, target, expect)) in cases.iter().enumerate() {
            let case = format!("{adapter:?} {vars:?} {target:?}");
            for (name, value) in vars {
                std::env::set_var(name, value);
            }
            let blob = format!("proxied blob {case} {i}").into_bytes();
            let outcome = round_trip(adapter, &world, *target, &blob);
            for var in VARS {
                std::env::remove_var(var);
            }
            let asked = proxy.take();
            match expect {
                Proxied(auth) => {
                    assert_eq!(outcome, Ok(()), "{case}");
                    let tunnels: BTreeSet<String> = asked
                        .iter()
                        .map(|a| {
                            assert_eq!(a.auth.as_deref(), *auth, "{case}: {a:?}");
                            let target = a.line.strip_prefix("CONNECT ");
                            let target = target.and_then(|t| t.strip_suffix(" HTTP/1.1"));
                            target.unwrap_or_else(|| panic!("{case}: {a:?}")).to_owned()
                        })
                        .collect();
                    assert_eq!(tunnels, world.tunnels(*target), "{case}");
                }
                Direct => {
                    assert_eq!(outcome, Ok(()), "{case}");
                    assert_eq!(asked, [], "{case}");
                }
                Fails(text) => {
                    let e = outcome.unwrap_err();
                    assert!(e.contains(text), "{case}: {e}");
                    assert_eq!(asked, [], "{case}");
                }
            }
        }
    }
}
