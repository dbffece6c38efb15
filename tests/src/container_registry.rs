//! A second, independently written real registry: the Rust crate `container-registry`
//! 0.3.1 (`container-registry -b 127.0.0.1:PORT -s DIR -p PASSWORD`), run on a free
//! loopback port with fresh storage and a password, behind an in-process TLS relay (the
//! server speaks plain http only) presenting the [`TestPki`] server certificate.
//!
//! Its quirks are kept as they are — nothing here fixes them:
//!
//! - every repository endpoint requires `Authorization: Basic` (any username, the password)
//!   and answers a bare `401` without one; only `GET /v2/` sends
//!   `WWW-Authenticate: Basic realm="ContainerRegistry"`;
//! - repository names have exactly two components (`dxf/one`);
//! - there is no `DELETE`, tag list, catalog, mount (a mount `POST` opens a plain upload) or
//!   upload status (`GET` → `405`);
//! - a `PUT` with a body (monolithic upload) is refused: `500 text/plain feature not
//!   supported: missing content length not implemented`;
//! - a `PATCH` is answered `202 Range: 0-N`, N the number of bytes of that `PATCH` (one past
//!   the end, not cumulative); the final `PUT ?digest=` checks the digest;
//! - manifests are stored by tag only (a `PUT` by digest is `400`) and must parse as an image
//!   manifest (`config` and `layers`): no image index;
//! - a blob `GET` has no `Content-Length`.
//!
//! The binary is `$DXF_CONTAINER_REGISTRY`, else
//! `${DXF_TOOLS_DIR:-$HOME/.cache/dxf-tests}/container-registry-0.3.1/bin/container-registry`,
//! where `scripts/install-container-registry` (run by `scripts/install-deps`) puts it.
//!
//! Everything (certificates, storage, the server's log) lives in one temp dir, removed when
//! the [`CrRegistry`] is dropped, after the relay is stopped and the server killed and
//! reaped.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use tempfile::TempDir;

use crate::tls::TestPki;
use crate::token_server::hex;

/// The version the harness runs (and the install script installs).
pub const VERSION: &str = "0.3.1";
/// The username the harness gives clients (the server accepts any with the password).
pub const USERNAME: &str = "dxf-user";
/// The realm of the one challenge the server sends (on `GET /v2/`).
pub const REALM: &str = "ContainerRegistry";

/// How long [`CrRegistry::start`] waits for `GET /v2/` to answer through the relay.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many free ports to try if the one picked was taken before the server bound it.
const PORT_ATTEMPTS: usize = 5;
/// Bytes moved per read in the relay.
const RELAY_BUF: usize = 64 * 1024;

/// A running container-registry behind a TLS relay; both stopped and the files removed on
/// drop.
pub struct CrRegistry {
    child: Child,
    relay: TlsRelay,
    backend_port: u16,
    pki: TestPki,
    password: String,
    storage: PathBuf,
    log_path: PathBuf,
    // Dropped last: everything above refers to files in it.
    dir: TempDir,
}

impl CrRegistry {
    /// The binary to run: `$DXF_CONTAINER_REGISTRY`, else the install script's cache path.
    pub fn binary() -> PathBuf {
        if let Some(path) = std::env::var_os("DXF_CONTAINER_REGISTRY").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        let tools = std::env::var_os("DXF_TOOLS_DIR")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").unwrap_or_default();
                Path::new(&home).join(".cache/dxf-tests")
            });
        tools
            .join(format!("container-registry-{VERSION}"))
            .join("bin/container-registry")
    }

    /// Starts container-registry with a fresh storage dir and a random password, and the TLS
    /// relay in front of it; panics (with the server's log) unless `GET /v2/` answers
    /// through the relay within about 10 s, and with the install command when the binary is
    /// missing.
    pub fn start() -> CrRegistry {
        let binary = CrRegistry::binary();
        assert!(
            binary.is_file(),
            "container-registry {VERSION} not found at {}: run scripts/install-container-registry \
             (or scripts/install-deps), or set DXF_CONTAINER_REGISTRY to the binary",
            binary.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("dxf-container-registry-")
            .tempdir()
            .expect("create container-registry temp dir");
        let storage = dir.path().join("storage");
        fs::create_dir(&storage).expect("create container-registry storage dir");
        let log_path = dir.path().join("container-registry.log");
        let pki = TestPki::generate(dir.path());
        let password = random_hex(12);
        let client_config = pki.client_config();

        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let backend_port = free_port();
            let log = File::create(&log_path).expect("create container-registry log");
            let mut child = Command::new(&binary)
                .arg("-b")
                .arg(format!("127.0.0.1:{backend_port}"))
                .arg("-s")
                .arg(&storage)
                .arg("-p")
                .arg(&password)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let relay = TlsRelay::start(
                pki.server_config(),
                SocketAddr::from(([127, 0, 0, 1], backend_port)),
            );
            match wait_ready(&mut child, relay.port, &client_config, &log_path) {
                Ok(()) => {
                    return CrRegistry {
                        child,
                        relay,
                        backend_port,
                        pki,
                        password,
                        storage,
                        log_path,
                        dir,
                    }
                }
                Err(StartError::PortTaken) => {
                    drop(relay);
                    kill_and_reap(&mut child);
                    last_log = read_log(&log_path);
                }
                Err(StartError::Fatal(why)) => {
                    let relay_port = relay.port;
                    drop(relay);
                    kill_and_reap(&mut child);
                    panic!(
                        "container-registry on 127.0.0.1:{backend_port} (TLS relay on \
                         127.0.0.1:{relay_port}) did not start: {why}\n--- log ---\n{}",
                        read_log(&log_path)
                    );
                }
            }
        }
        panic!(
            "container-registry: no free port after {PORT_ATTEMPTS} attempts; last log:\n{last_log}"
        );
    }

    /// `127.0.0.1:PORT` of the TLS relay (what `DXF_HOST` is set to).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.relay.port)
    }

    /// The TLS relay's port.
    pub fn port(&self) -> u16 {
        self.relay.port
    }

    /// `https://127.0.0.1:PORT` (through the relay).
    pub fn base_url(&self) -> String {
        format!("https://{}", self.host())
    }

    /// The server itself (plain http, no TLS): for a [`FaultProxy`] put between a
    /// [`CrRegistry::tls_front`] and the server.
    ///
    /// [`FaultProxy`]: crate::fault_proxy::FaultProxy
    pub fn backend_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.backend_port))
    }

    /// Another TLS relay with this registry's certificate (same [`CrRegistry::ca_pem_path`]
    /// and credentials), in front of `backend` — typically a fault proxy in front of
    /// [`CrRegistry::backend_addr`] — so that clients keep using https and Basic auth.
    pub fn tls_front(&self, backend: SocketAddr) -> TlsRelay {
        TlsRelay::start(self.pki.server_config(), backend)
    }

    /// PEM file of the test CA that signed the relay's certificate.
    pub fn ca_pem_path(&self) -> &Path {
        self.pki.ca_pem_path()
    }

    /// The test PKI (for in-process TLS clients).
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// [`USERNAME`] and the server's password.
    pub fn credentials(&self) -> (String, String) {
        (USERNAME.to_owned(), self.password.clone())
    }

    /// The python-dxf environment for this registry: `DXF_HOST`, `DXF_TLSVERIFY=<CA PEM>`,
    /// `DXF_USERNAME`, `DXF_PASSWORD`.
    pub fn dxf_env(&self) -> Vec<(String, String)> {
        let (user, password) = self.credentials();
        vec![
            ("DXF_HOST".to_owned(), self.host()),
            (
                "DXF_TLSVERIFY".to_owned(),
                self.ca_pem_path().display().to_string(),
            ),
            ("DXF_USERNAME".to_owned(), user),
            ("DXF_PASSWORD".to_owned(), password),
        ]
    }

    /// The server's storage dir (`-s`): `blobs/<hex>`, `manifests/<hex>`,
    /// `tags/<repository>/<image>/<tag>`, `uploads/<uuid>.partial`.
    pub fn storage_root(&self) -> &Path {
        &self.storage
    }

    /// Whether the server stores a blob with this `sha256:<hex>` digest.
    pub fn holds_blob(&self, digest: &str) -> bool {
        self.storage
            .join("blobs")
            .join(digest.trim_start_matches("sha256:"))
            .is_file()
    }

    /// The upload sessions the server holds (its `uploads/*.partial` files).
    pub fn open_uploads(&self) -> usize {
        fs::read_dir(self.storage.join("uploads")).map_or(0, |d| d.count())
    }

    /// How many connections the relay has accepted.
    pub fn connections(&self) -> usize {
        self.relay.connections()
    }

    /// `Authorization: Basic …` for [`CrRegistry::credentials`].
    pub fn basic_authorization(&self) -> String {
        use base64::Engine as _;
        let (user, password) = self.credentials();
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}")
    }

    /// One request through the TLS relay (`Connection: close`), with the Basic credentials
    /// when `authenticated`; panics if no complete response comes back. For looking at the
    /// server without dxf in between.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        authenticated: bool,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> CrResponse {
        let authorization = self.basic_authorization();
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 1);
        if authenticated {
            all.push(("Authorization", &authorization));
        }
        all.extend_from_slice(headers);
        exchange(
            self.relay.port,
            &self.pki.client_config(),
            method,
            path,
            &all,
            body,
        )
        .unwrap_or_else(|e| panic!("{method} {path} to container-registry: {e}"))
    }

    /// Stores `data` as a blob of `repo` (two components) the way the server accepts —
    /// `POST`, one `PATCH`, `PUT ?digest=` without a body — bypassing dxf; returns its
    /// `sha256:<hex>` digest.
    pub fn seed_blob(&self, repo: &str, data: &[u8]) -> String {
        use sha2::Digest as _;
        let digest = format!("sha256:{:x}", sha2::Sha256::digest(data));
        let started = self.request(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            true,
            &[],
            b"",
        );
        assert_eq!(started.status, 202, "{started:?}");
        let location = started
            .header("location")
            .expect("upload Location")
            .to_owned();
        if !data.is_empty() {
            let patched = self.request(
                "PATCH",
                &location,
                true,
                &[("Content-Type", "application/octet-stream")],
                data,
            );
            assert_eq!(patched.status, 202, "{patched:?}");
        }
        let done = self.request(
            "PUT",
            &format!("{location}?digest={digest}"),
            true,
            &[],
            b"",
        );
        assert_eq!(done.status, 201, "{done:?}");
        digest
    }

    /// Stores `manifest` under `repo:tag`, bypassing dxf; returns the server's
    /// `Docker-Content-Digest`.
    pub fn seed_manifest(
        &self,
        repo: &str,
        tag: &str,
        media_type: &str,
        manifest: &[u8],
    ) -> String {
        let put = self.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            true,
            &[("Content-Type", media_type)],
            manifest,
        );
        assert_eq!(put.status, 201, "{put:?}");
        put.header("docker-content-digest")
            .expect("Docker-Content-Digest")
            .to_owned()
    }

    /// The file the server's stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server's log so far (empty if unreadable).
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// The temp dir holding certificates, storage and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for CrRegistry {
    fn drop(&mut self) {
        self.relay.stop();
        kill_and_reap(&mut self.child);
    }
}

/// Why one start attempt failed.
enum StartError {
    /// The port was taken between picking it and the server binding it: try another.
    PortTaken,
    /// Anything else: give up.
    Fatal(String),
}

/// Kills (if still running) and reaps `child`.
fn kill_and_reap(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn read_log(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

/// `2 * len` random hex digits.
fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes).expect("random bytes");
    hex(&bytes)
}

/// Polls `GET /v2/` through the relay until it answers 401 (no credentials sent: the
/// server is up and asks for them), the process exits, or the time is up.
fn wait_ready(
    child: &mut Child,
    relay_port: u16,
    tls: &Arc<rustls::ClientConfig>,
    log_path: &Path,
) -> Result<(), StartError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let log = read_log(log_path);
                return Err(
                    if log.contains("failed to bind") || log.contains("Address already in use") {
                        StartError::PortTaken
                    } else {
                        StartError::Fatal(format!("exited early with {status}"))
                    },
                );
            }
            Ok(None) => {}
            Err(e) => return Err(StartError::Fatal(format!("cannot poll the process: {e}"))),
        }
        let last = match probe(relay_port, tls) {
            Ok(401) => return Ok(()),
            Ok(status) => format!("GET /v2/ answered {status}"),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(StartError::Fatal(format!(
                "not ready after {READY_TIMEOUT:?} ({last})"
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// `GET /v2/` once over TLS, without credentials; the status code, or why there is none.
fn probe(port: u16, tls: &Arc<rustls::ClientConfig>) -> Result<u16, String> {
    exchange(port, tls, "GET", "/v2/", &[], b"").map(|r| r.status)
}

/// One request over TLS to `127.0.0.1:port` with `Connection: close` (and `Content-Length`
/// when `body` is not empty), the whole response read until the server closes.
fn exchange(
    port: u16,
    tls: &Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<CrResponse, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .and_then(|()| tcp.set_write_timeout(Some(Duration::from_secs(10))))
        .map_err(|e| format!("socket timeouts: {e}"))?;
    let name =
        rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let conn =
        rustls::ClientConnection::new(Arc::clone(tls), name).map_err(|e| format!("TLS: {e}"))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    if !body.is_empty() {
        head += &format!("Content-Length: {}\r\n", body.len());
    }
    head += "\r\n";
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush())
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // A peer that closes without close_notify still sent a complete response.
        if e.kind() != ErrorKind::UnexpectedEof || raw.is_empty() {
            return Err(format!("read: {e}"));
        }
    }
    CrResponse::parse(&raw, method)
}

/// A response read by [`CrRegistry::request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrResponse {
    /// The status code.
    pub status: u16,
    /// The header fields, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body (chunked framing removed).
    pub body: Vec<u8>,
}

impl CrResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn parse(raw: &[u8], method: &str) -> Result<CrResponse, String> {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("no complete response head in {} bytes", raw.len()))?;
        let head = String::from_utf8_lossy(&raw[..split]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let rest = &raw[split + 4..];
        let mut response = CrResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if method == "HEAD" {
            return Ok(response);
        }
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
        response.body = if chunked {
            dechunk(rest)?
        } else {
            rest.to_vec()
        };
        Ok(response)
    }
}

/// The body of a `Transfer-Encoding: chunked` message.
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunked body: no chunk size line")?;
        let line = String::from_utf8_lossy(&raw[..eol]);
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|e| format!("chunked body: chunk size {size_hex:?}: {e}"))?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = raw.get(..size).ok_or("chunked body: ends inside a chunk")?;
        body.extend_from_slice(chunk);
        raw = raw
            .get(size + 2..)
            .ok_or("chunked body: ends after a chunk")?;
    }
}

/// A loopback TLS terminator: accepts TLS on its own port and relays the plaintext, byte for
/// byte in both directions, to a plain TCP backend — one backend connection per TLS
/// connection, two threads per connection. Nothing is parsed or changed, and each side's
/// way of ending a connection is passed on: a half-close as a half-close, and a backend that
/// closes while the client is still sending (this server answers a refused `PUT` without
/// reading its body) as a closed socket, so that the client's next write fails as it would
/// against the server itself. Stopped (every connection cut) on drop.
pub struct TlsRelay {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<Weak<TcpStream>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl TlsRelay {
    /// Listens on a free 127.0.0.1 port, presenting `config`'s certificate, relaying to
    /// `backend`.
    pub fn start(config: Arc<rustls::ServerConfig>, backend: SocketAddr) -> TlsRelay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS relay");
        let port = listener.local_addr().expect("relay address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(Mutex::new(Vec::<Weak<TcpStream>>::new()));
        let acceptor = {
            let stop = Arc::clone(&stop);
            let accepted = Arc::clone(&accepted);
            let open = Arc::clone(&open);
            thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let client = Arc::new(client);
                    if let Ok(mut open) = open.lock() {
                        open.retain(|w| w.strong_count() > 0);
                        open.push(Arc::downgrade(&client));
                    }
                    let config = Arc::clone(&config);
                    thread::spawn(move || relay_connection(client, config, backend));
                }
            })
        };
        TlsRelay {
            port,
            stop,
            accepted,
            open,
            acceptor: Some(acceptor),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops accepting, cuts every open connection (their threads then end) and joins the
    /// acceptor.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        if let Ok(open) = self.open.lock() {
            for client in open.iter().filter_map(Weak::upgrade) {
                let _ = client.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for TlsRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One TLS connection: the TLS state is shared (under a lock) by the thread reading the
/// client and the thread reading the backend; only the holder of the lock writes TLS
/// records to the client, so records go out in order. The client socket is closed when both
/// threads are done with it.
fn relay_connection(
    client: Arc<TcpStream>,
    config: Arc<rustls::ServerConfig>,
    backend: SocketAddr,
) {
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let Ok(backend) = TcpStream::connect(backend) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    let Ok(backend_r) = backend.try_clone() else {
        return;
    };
    let tls = Arc::new(Mutex::new(conn));
    let downstream = {
        let tls = Arc::clone(&tls);
        let client = Arc::clone(&client);
        thread::spawn(move || backend_to_client(backend_r, &client, &tls))
    };
    client_to_backend(&client, backend, &tls);
    drop(client);
    let _ = downstream.join();
}

/// Writes every pending TLS record to `client`.
fn flush_tls(conn: &mut rustls::ServerConnection, mut client: &TcpStream) -> std::io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(&mut client)?;
    }
    client.flush()
}

/// Client → backend: TLS records in, plaintext out. Ends at the client's EOF or
/// close_notify (the backend's write half is shut then), at a TLS error, or when the
/// backend stops taking bytes (then nothing more is read from the client).
fn client_to_backend(
    client: &TcpStream,
    mut backend: TcpStream,
    tls: &Mutex<rustls::ServerConnection>,
) {
    let mut raw = vec![0u8; RELAY_BUF];
    let mut plain = vec![0u8; RELAY_BUF];
    let mut reader = client;
    'outer: loop {
        let n = match reader.read(&mut raw) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut input = &raw[..n];
        while !input.is_empty() {
            let mut out = Vec::new();
            let mut closed = false;
            {
                let Ok(mut conn) = tls.lock() else {
                    break 'outer;
                };
                if conn.read_tls(&mut input).is_err() {
                    break 'outer;
                }
                let processed = conn.process_new_packets();
                // Handshake messages, or the alert of a failed handshake.
                let flushed = flush_tls(&mut conn, client);
                if processed.is_err() || flushed.is_err() {
                    break 'outer;
                }
                loop {
                    match conn.reader().read(&mut plain) {
                        Ok(0) => {
                            closed = true;
                            break;
                        }
                        Ok(m) => out.extend_from_slice(&plain[..m]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => {
                            closed = true;
                            break;
                        }
                    }
                }
            }
            if !out.is_empty() && backend.write_all(&out).is_err() {
                // The backend closed: so does the relay, once the answer is through.
                return;
            }
            if closed {
                break 'outer;
            }
        }
    }
    let _ = backend.shutdown(Shutdown::Write);
}

/// Backend → client: plaintext in, TLS records out. Ends at the backend's EOF (a
/// close_notify is sent and the client's write half shut) or a write error.
fn backend_to_client(
    mut backend: TcpStream,
    client: &TcpStream,
    tls: &Mutex<rustls::ServerConnection>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match backend.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let Ok(mut conn) = tls.lock() else { break };
        let mut data = &buf[..n];
        while !data.is_empty() {
            match conn.writer().write(data) {
                Ok(m) if m > 0 => data = &data[m..],
                // Buffer limit reached: send what is queued, then try again — unless nothing
                // could be sent (no handshake yet: the backend spoke first), which ends it.
                _ => {
                    if !conn.wants_write() || flush_tls(&mut conn, client).is_err() {
                        return;
                    }
                }
            }
        }
        if flush_tls(&mut conn, client).is_err() {
            return;
        }
    }
    if let Ok(mut conn) = tls.lock() {
        conn.send_close_notify();
        let _ = flush_tls(&mut conn, client);
    }
    let _ = client.shutdown(Shutdown::Write);
}
