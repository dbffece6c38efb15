//! End to end: credentials never follow a request to another host. Two loopback HTTPS
//! servers (plain `std` threads, HTTP/1.1, one request per connection, every request's
//! method, path, `Host`, `Authorization` and body recorded):
//!
//! - a fake **registry** that wants a bearer token from its own realm (`/token` on
//!   itself: granted for the test password, the raw `DXF_AUTHORIZATION` value or the
//!   identity token's refresh grant) or the preset `DXF_TOKEN`; it answers `GET /v2/`,
//!   redirects a blob GET with `307` to the other server, links its tag list's next page
//!   there, and opens uploads with a `Location` there;
//! - a **third host** that answers everything with `401` and a challenge — `Bearer` with a
//!   realm on itself, or `Basic` — and would hand out a token to anyone at `/token`.
//!
//! The `dxf` binary (`pull-blob`, `list-aliases`, `push-blob`) with `DXF_USERNAME`/
//! `DXF_PASSWORD`, `DXF_AUTHORIZATION`, `DXF_TOKEN` and docker's `identitytoken` (the CLI
//! refuses credentials over plain http, so both servers speak TLS with the harness's test
//! CA), then both library adapters with the same credential kinds: the third host never
//! gets an `Authorization` header, a secret in a body, or a request to its realm — one
//! request, then dxf stops with `401 Unauthorized from 127.0.0.1:PORT, which is not the
//! registry…` (the CLI: exit 13, one line).
//!
//! Every read is bounded (socket timeouts, size caps) and every loop counted, so a test
//! cannot hang on a misbehaving client.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::AsyncReadExt;

use dxf_tests::cli::{dxf_bin, finish, sha256, Run};
use dxf_tests::TestPki;
use dxf_ureq::dxf_proto::{Credentials, Digest, Error as ProtoError};

/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body read (the test blobs are tiny).
const MAX_BODY: usize = 1024 * 1024;
/// Connections a server accepts before it stops listening.
const MAX_CONNECTIONS: usize = 256;
/// Socket read and write timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-password";
/// `DXF_AUTHORIZATION`.
const RAW: &str = "Custom raw-secret-value";
/// `DXF_TOKEN`: the registry accepts it as it is.
const PRESET: &str = "preset-token-value";
/// docker's `identitytoken`.
const REFRESH: &str = "refresh-token-value";
/// The token the registry's realm issues.
const GOOD: &str = "good-token-value";
/// The signature of the pre-signed URLs the registry points at.
const SIGNATURE: &str = "signature-secret-value";
const REPO: &str = "hygiene/repo";
const BLOB: &[u8] = b"credential hygiene blob";

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    )
}

/// What was asked of a server.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    target: String,
    host: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

impl Recorded {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// A response to write.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn json(self, body: &str) -> Response {
        let mut r = self.header("Content-Type", "application/json");
        r.body = body.as_bytes().to_vec();
        r
    }

    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} X\r\n", self.status);
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

type Handler = dyn Fn(&Recorded) -> Response + Send + Sync;

/// A loopback HTTPS server answering with a handler and recording every request; stops on
/// drop.
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    shutdown: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    fn start(pki: &TestPki, handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shutdown = Arc::new(AtomicBool::new(false));
        let tls = pki.server_config();
        let (log2, stop) = (Arc::clone(&log), Arc::clone(&shutdown));
        let accept = thread::spawn(move || {
            for stream in listener.incoming().take(MAX_CONNECTIONS) {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = stream else { continue };
                let (tls, handler, log) = (Arc::clone(&tls), Arc::clone(&handler), log2.clone());
                thread::spawn(move || serve(tcp, tls, &*handler, &log));
            }
        });
        Server {
            addr,
            log,
            shutdown,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT`.
    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    handler: &Handler,
    log: &Mutex<Vec<Recorded>>,
) {
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
    let Ok(conn) = rustls::ServerConnection::new(tls) else {
        return;
    };
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let response = handler(&request);
    let head_only = request.method == "HEAD";
    log.lock().unwrap().push(request);
    let _ = stream.write_all(&response.to_bytes(head_only));
    let _ = stream.flush();
    stream.conn.send_close_notify();
    let _ = stream.conn.complete_io(&mut stream.sock);
}

/// Reads one request: the head (at most [`MAX_HEAD`]) and a `Content-Length` or chunked
/// body (at most [`MAX_BODY`]); `None` on EOF, timeout or oversize.
fn read_request(stream: &mut impl Read) -> Option<Recorded> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(p) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if data.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let (mut host, mut authorization, mut length, mut chunked) = (None, None, 0usize, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "host" => host = Some(value),
            "authorization" => authorization = Some(value),
            "content-length" => length = value.parse().ok()?,
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let mut body = data[end..].to_vec();
    let done = |b: &[u8]| {
        if chunked {
            b.ends_with(b"0\r\n\r\n")
        } else {
            b.len() >= length
        }
    };
    while !done(&body) {
        if body.len() > MAX_BODY {
            return None;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    Some(Recorded {
        method,
        target,
        host,
        authorization,
        body,
    })
}

/// The fake registry at `me`, sending blob GETs, next pages and uploads to `third`.
fn registry(me: &str, third: &str, r: &Recorded) -> Response {
    if r.path() == "/token" {
        let grant = r.method == "POST"
            && String::from_utf8_lossy(&r.body).contains(&format!("refresh_token={REFRESH}"));
        let password = r.authorization.as_deref() == Some(basic().as_str());
        let raw = r.authorization.as_deref() == Some(RAW);
        return if grant || password || raw {
            Response::new(200).json(&format!(
                r#"{{"token":"{GOOD}","access_token":"{GOOD}","expires_in":300}}"#
            ))
        } else {
            Response::new(401).json(r#"{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}"#)
        };
    }
    let authorized = [format!("Bearer {GOOD}"), format!("Bearer {PRESET}")]
        .iter()
        .any(|t| r.authorization.as_deref() == Some(t.as_str()));
    if !authorized {
        return Response::new(401)
            .header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="https://{me}/token",service="fake-registry""#),
            )
            .json(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#);
    }
    let blobs = format!("/v2/{REPO}/blobs/");
    match (r.method.as_str(), r.path()) {
        ("GET", "/v2/") => Response::new(200)
            .header("Docker-Distribution-API-Version", "registry/2.0")
            .json("{}"),
        ("GET", p) if p == format!("/v2/{REPO}/tags/list") => Response::new(200)
            .header(
                "Link",
                &format!(r#"<https://{third}/v2/{REPO}/tags/list?last=t1>; rel="next""#),
            )
            .json(&format!(r#"{{"name":"{REPO}","tags":["t1"]}}"#)),
        ("POST", p) if p == format!("{blobs}uploads/") => Response::new(202)
            .header(
                "Location",
                &format!("https://{third}/upload/1?sig={SIGNATURE}"),
            )
            .header("Range", "0-0")
            .header("Docker-Upload-UUID", "1"),
        ("HEAD", p) if p.starts_with(&blobs) => Response::new(404),
        ("GET", p) if p.starts_with(&blobs) => Response::new(307).header(
            "Location",
            &format!("https://{third}/blob/1?X-Amz-Signature={SIGNATURE}&n=1"),
        ),
        _ => Response::new(404),
    }
}

/// The challenge the third host answers with.
#[derive(Clone, Copy, Debug)]
enum Challenge {
    /// `Bearer realm="https://<itself>/token"`.
    BearerOnItself,
    /// `Basic realm="third"`.
    Basic,
}

/// The third host at `me`: a token for anyone at `/token`, else `401` with `challenge`.
fn third_host(me: &str, challenge: Challenge, r: &Recorded) -> Response {
    if r.path().starts_with("/token") {
        return Response::new(200).json(r#"{"token":"stolen","access_token":"stolen"}"#);
    }
    let value = match challenge {
        Challenge::BearerOnItself => {
            format!(r#"Bearer realm="https://{me}/token",service="third""#)
        }
        Challenge::Basic => r#"Basic realm="third""#.to_owned(),
    };
    Response::new(401).header("WWW-Authenticate", &value)
}

/// A registry and a third host, on their own ports.
struct World {
    _dir: tempfile::TempDir,
    pki: TestPki,
    registry: Server,
    third: Server,
}

impl World {
    fn start(challenge: Challenge) -> World {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate(dir.path());
        // The third host's address is known before the registry starts (it links there).
        let third_addr: Arc<Mutex<String>> = Arc::default();
        let me = Arc::clone(&third_addr);
        let third = Server::start(
            &pki,
            Arc::new(move |r: &Recorded| third_host(&me.lock().unwrap(), challenge, r)),
        );
        *third_addr.lock().unwrap() = third.host();
        let reg_addr: Arc<Mutex<String>> = Arc::default();
        let (me, t) = (Arc::clone(&reg_addr), third.host());
        let registry = Server::start(
            &pki,
            Arc::new(move |r: &Recorded| registry(&me.lock().unwrap(), &t, r)),
        );
        *reg_addr.lock().unwrap() = registry.host();
        World {
            _dir: dir,
            pki,
            registry,
            third,
        }
    }

    /// The message every case ends with.
    fn message(&self) -> String {
        format!(
            "401 Unauthorized from {}, which is not the registry: its challenge is not \
             answered (credentials go only to the registry and its token realm)",
            self.third.host()
        )
    }

    /// Whatever the client did, the third host saw one request (no token request, no
    /// replay) to `path`, without `Authorization` and without any secret; the registry's
    /// realm got exactly `to_realm`.
    #[track_caller]
    fn assert_hygiene(&self, case: &str, path: &str, to_realm: &[Option<String>]) {
        let third = self.third.requests();
        let seen: Vec<(&str, Option<&str>)> = third
            .iter()
            .map(|r| (r.target.as_str(), r.authorization.as_deref()))
            .collect();
        assert_eq!(seen.len(), 1, "{case}: third host got {seen:?}");
        assert_eq!(third[0].path(), path, "{case}: {seen:?}");
        assert_eq!(third[0].authorization, None, "{case}: {seen:?}");
        assert_eq!(third[0].host.as_deref(), Some(self.third.host().as_str()));
        for r in &third {
            assert!(!r.path().starts_with("/token"), "{case}: {seen:?}");
            let body = String::from_utf8_lossy(&r.body);
            for secret in [PASSWORD, RAW, PRESET, REFRESH, GOOD] {
                assert!(!body.contains(secret), "{case}: {secret} in a body");
            }
        }
        let registry = self.registry.requests();
        let realm: Vec<Option<String>> = registry
            .iter()
            .filter(|r| r.path() == "/token")
            .map(|r| r.authorization.clone())
            .collect();
        assert_eq!(realm, to_realm, "{case}: the registry's realm");
        for r in registry.iter().filter(|r| r.path() != "/token") {
            let a = r.authorization.as_deref();
            assert!(
                a.is_none()
                    || a == Some(&format!("Bearer {GOOD}"))
                    || a == Some(&format!("Bearer {PRESET}")),
                "{case}: the registry got {a:?}"
            );
        }
    }
}

/// The credential kinds, as the CLI takes them.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `DXF_USERNAME` / `DXF_PASSWORD`.
    Password,
    /// `DXF_AUTHORIZATION`.
    Authorization,
    /// `DXF_TOKEN`.
    Token,
    /// docker's `config.json` `identitytoken` (the refresh-token grant).
    IdentityToken,
}

const KINDS: [Kind; 4] = [
    Kind::Password,
    Kind::Authorization,
    Kind::Token,
    Kind::IdentityToken,
];
const CHALLENGES: [Challenge; 2] = [Challenge::BearerOnItself, Challenge::Basic];

impl Kind {
    /// What the registry's realm receives (`Authorization` of each token request).
    fn to_realm(self) -> Vec<Option<String>> {
        match self {
            Kind::Password => vec![Some(basic())],
            Kind::Authorization => vec![Some(RAW.to_owned())],
            Kind::Token => vec![],
            // The refresh token goes in the POST body.
            Kind::IdentityToken => vec![None],
        }
    }

    fn credentials(self) -> (Credentials, Option<String>) {
        match self {
            Kind::Password => (
                Credentials::Basic {
                    username: USER.into(),
                    password: PASSWORD.into(),
                },
                None,
            ),
            Kind::Authorization => (Credentials::Authorization(RAW.into()), None),
            Kind::Token => (Credentials::None, Some(PRESET.into())),
            Kind::IdentityToken => (Credentials::IdentityToken(REFRESH.into()), None),
        }
    }
}

/// A `dxf` command and the path its request to the third host has.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `pull-blob`: a 307 to the third host.
    Pull,
    /// `list-aliases`: the next page on the third host.
    List,
    /// `push-blob`: the upload `Location` on the third host.
    Push,
}

const OPS: [Op; 3] = [Op::Pull, Op::List, Op::Push];

impl Op {
    fn third_path(self) -> String {
        match self {
            Op::Pull => "/blob/1".into(),
            Op::List => format!("/v2/{REPO}/tags/list"),
            Op::Push => "/upload/1".into(),
        }
    }
}

/// Runs `dxf args` against `world`'s registry with the credentials of `kind` (and no
/// other environment: a temporary `HOME` and `DOCKER_CONFIG`).
fn dxf(world: &World, kind: Kind, args: &[&str]) -> Run {
    dxf_with(world, kind, args, &[])
}

/// [`dxf`] with more environment variables.
fn dxf_with(world: &World, kind: Kind, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let docker = home.path().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    let mut cmd = Command::new(dxf_bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("DOCKER_CONFIG", &docker)
        .env("DXF_HOST", world.registry.host())
        .env("DXF_TLSVERIFY", world.pki.ca_pem_path())
        .current_dir(home.path())
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match kind {
        Kind::Password => {
            cmd.env("DXF_USERNAME", USER).env("DXF_PASSWORD", PASSWORD);
        }
        Kind::Authorization => {
            cmd.env("DXF_AUTHORIZATION", RAW);
        }
        Kind::Token => {
            cmd.env("DXF_TOKEN", PRESET);
        }
        Kind::IdentityToken => {
            let config = serde_json::json!({
                "auths": { world.registry.host(): { "identitytoken": REFRESH } }
            });
            std::fs::write(docker.join("config.json"), config.to_string()).unwrap();
        }
    }
    finish(cmd.spawn().unwrap())
}

#[test]
fn the_cli_never_sends_credentials_to_a_host_the_registry_points_at() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob.bin");
    std::fs::write(&file, BLOB).unwrap();
    let digest = sha256(BLOB);
    for challenge in CHALLENGES {
        for kind in KINDS {
            for op in OPS {
                let case = format!("dxf {op:?} × {kind:?} × third host {challenge:?}");
                let world = World::start(challenge);
                let file = file.to_str().unwrap();
                let args: Vec<&str> = match op {
                    Op::Pull => vec!["pull-blob", REPO, &digest],
                    Op::List => vec!["list-aliases", REPO],
                    Op::Push => vec!["push-blob", REPO, file],
                };
                let run = dxf(&world, kind, &args);
                world.assert_hygiene(&case, &op.third_path(), &kind.to_realm());
                assert_eq!(run.code, 13, "{case}: {run:#?}");
                // One line, with the command's usual context (the digest, the file).
                let context = match op {
                    Op::Pull => format!("{digest}: "),
                    Op::List => String::new(),
                    Op::Push => format!("{file}: "),
                };
                assert_eq!(
                    run.stderr,
                    format!("dxf: {context}{}\n", world.message()),
                    "{case}"
                );
                if !matches!(op, Op::List) {
                    assert!(run.stdout.is_empty(), "{case}: {run:#?}");
                }
            }
        }
    }
}

/// Every secret of the worlds, as it could leak into a trace (the password also as the
/// Basic header's base64).
fn secrets() -> Vec<String> {
    let mut all: Vec<String> = [PASSWORD, RAW, PRESET, REFRESH, GOOD, SIGNATURE]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    all.push(basic().trim_start_matches("Basic ").to_owned());
    all
}

/// Asserts that `trace` shows the wire (requests, the registry's answers, the redirect
/// with its signature redacted) and no secret.
#[track_caller]
fn assert_clean_trace(case: &str, trace: &str, kind: Kind, op: Op) {
    for secret in secrets() {
        assert!(
            !trace.contains(&secret),
            "{case}: {secret:?} in the trace:\n{trace}"
        );
    }
    let first = match op {
        Op::Push => "> POST https://",
        Op::Pull | Op::List => "> GET https://",
    };
    assert!(trace.contains(first), "{case}:\n{trace}");
    assert!(trace.contains("< 401 ("), "{case}:\n{trace}");
    assert_eq!(
        trace.contains("(token request)"),
        !matches!(kind, Kind::Token),
        "{case}:\n{trace}"
    );
    match op {
        Op::Pull => {
            assert!(trace.contains("< 307 ("), "{case}:\n{trace}");
            assert!(
                trace.contains("X-Amz-Signature=REDACTED&n=1"),
                "{case}:\n{trace}"
            );
        }
        Op::Push => assert!(trace.contains("sig=REDACTED"), "{case}:\n{trace}"),
        Op::List => assert!(trace.contains("last=t1"), "{case}:\n{trace}"),
    }
}

#[test]
fn the_debug_trace_shows_the_wire_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob.bin");
    std::fs::write(&file, BLOB).unwrap();
    let digest = sha256(BLOB);
    for (i, kind) in KINDS.into_iter().enumerate() {
        for op in OPS {
            let case = format!("dxf --debug {op:?} × {kind:?}");
            let world = World::start(Challenge::BearerOnItself);
            let file = file.to_str().unwrap();
            let mut args: Vec<&str> = match op {
                Op::Pull => vec!["pull-blob", REPO, &digest],
                Op::List => vec!["list-aliases", REPO],
                Op::Push => vec!["push-blob", REPO, file],
            };
            // The flag, or the variable.
            let vars: &[(&str, &str)] = if i % 2 == 0 {
                args.insert(0, "--debug");
                &[]
            } else {
                &[("DXF_DEBUG", "1")]
            };
            let run = dxf_with(&world, kind, &args, vars);
            world.assert_hygiene(&case, &op.third_path(), &kind.to_realm());
            assert_eq!(run.code, 13, "{case}: {run:#?}");
            let (trace, error) = run.stderr.trim_end().rsplit_once('\n').unwrap();
            assert!(error.starts_with("dxf: "), "{case}: {}", run.stderr);
            assert!(
                trace.lines().all(|l| l.starts_with("dxf debug: ")),
                "{case}: {}",
                run.stderr
            );
            assert_clean_trace(&case, trace, kind, op);
        }
    }
}

/// The library adapters, with the same worlds and credential kinds.
#[derive(Clone, Copy, Debug)]
enum Adapter {
    Ureq,
    Hyper,
}

/// A trace hook that keeps every event, displayed and debug-printed.
fn collecting(lines: &Arc<Mutex<Vec<String>>>) -> dxf_ureq::Trace {
    let lines = Arc::clone(lines);
    dxf_ureq::Trace::new(move |e| lines.lock().unwrap().push(format!("{e} {e:?}")))
}

fn ureq_config(world: &World, kind: Kind) -> dxf_ureq::Config {
    let mut c = dxf_ureq::Config::new(&world.registry.host());
    (c.credentials, c.token) = kind.credentials();
    c.transport.tls = dxf_ureq::TlsVerify::CaBundle(world.pki.ca_pem_path().to_path_buf());
    c
}

fn hyper_config(world: &World, kind: Kind) -> dxf_hyper::Config {
    let mut c = dxf_hyper::Config::new(&world.registry.host());
    (c.credentials, c.token) = kind.credentials();
    c.transport.tls = dxf_hyper::TlsVerify::CaBundle(world.pki.ca_pem_path().to_path_buf());
    c
}

/// Runs `op` through `adapter`; the dxf-proto error it ended with (every trace event in
/// `trace`).
fn library(
    adapter: Adapter,
    world: &World,
    kind: Kind,
    op: Op,
    trace: &Arc<Mutex<Vec<String>>>,
) -> Option<ProtoError> {
    let digest = Digest::parse(&sha256(BLOB)).unwrap();
    match adapter {
        Adapter::Ureq => {
            let mut config = ureq_config(world, kind);
            config.trace = Some(collecting(trace));
            let registry = dxf_ureq::Registry::new(&config).unwrap();
            let repo = registry.repository(REPO).unwrap();
            let err = match op {
                Op::Pull => match repo.pull_blob(&digest, None) {
                    Err(e) => e,
                    Ok(mut reader) => {
                        let e = reader.read_to_end(&mut Vec::new()).unwrap_err();
                        dxf_ureq::Error::Io(e)
                    }
                },
                Op::List => {
                    let mut names = repo.list_aliases(None).unwrap();
                    let first = names.next().unwrap().unwrap();
                    assert_eq!(first, "t1");
                    names.next().unwrap().unwrap_err()
                }
                Op::Push => repo
                    .push_blob_reader(&mut &BLOB[..], dxf_ureq::PushOptions::new())
                    .unwrap_err(),
            };
            err.proto().cloned()
        }
        Adapter::Hyper => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let mut config = hyper_config(world, kind);
            config.trace = Some(collecting(trace));
            let registry = dxf_hyper::Registry::new(&config).unwrap();
            let repo = registry.repository(REPO).unwrap();
            let err = rt.block_on(async {
                match op {
                    Op::Pull => match repo.pull_blob(&digest, None).await {
                        Err(e) => e,
                        Ok(mut reader) => {
                            let e = reader.read_to_end(&mut Vec::new()).await.unwrap_err();
                            dxf_hyper::Error::Io(e)
                        }
                    },
                    Op::List => {
                        let mut names = repo.list_aliases(None).unwrap();
                        assert_eq!(names.next().await.unwrap().unwrap(), "t1");
                        names.next().await.unwrap().unwrap_err()
                    }
                    Op::Push => repo
                        .push_blob_reader(&mut &BLOB[..], dxf_hyper::PushOptions::new())
                        .await
                        .unwrap_err(),
                }
            });
            err.proto().cloned()
        }
    }
}

#[test]
fn the_library_adapters_never_send_credentials_to_a_host_the_registry_points_at() {
    for adapter in [Adapter::Ureq, Adapter::Hyper] {
        for challenge in CHALLENGES {
            for kind in KINDS {
                for op in OPS {
                    let case = format!("{adapter:?} {op:?} × {kind:?} × third host {challenge:?}");
                    let world = World::start(challenge);
                    let trace = Arc::default();
                    let error = library(adapter, &world, kind, op, &trace);
                    world.assert_hygiene(&case, &op.third_path(), &kind.to_realm());
                    let trace = trace.lock().unwrap().join("\n");
                    assert_clean_trace(&case, &trace, kind, op);
                    assert_eq!(
                        error,
                        Some(ProtoError::ForeignChallenge {
                            host: world.third.host()
                        }),
                        "{case}"
                    );
                    assert_eq!(error.unwrap().to_string(), world.message(), "{case}");
                }
            }
        }
    }
}
