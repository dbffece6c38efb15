//! A real CNCF distribution registry (`docker-registry serve`, Debian package
//! `docker-registry`, 2.8.2) on a free 127.0.0.1 port with fresh storage, in one of four modes:
//!
//! - [`Mode::Plain`]: plain HTTP, no authentication;
//! - [`Mode::Basic`]: HTTPS (test CA) + htpasswd Basic auth for one user;
//! - [`Mode::Token`]: HTTPS (test CA) + Bearer token auth against an in-process
//!   [`TokenServer`] (which knows the same one user, and serves anonymous catalog tokens);
//! - [`Mode::TokenPlain`]: as `Token`, but the registry and the token server on plain HTTP
//!   (for drivers without TLS, such as dxf-proto's `std_tcp` example).
//!
//! Everything (config, certificates, htpasswd, storage, the registry's log) lives in one temp
//! dir that is removed, and the registry process killed and reaped, when the
//! [`TestRegistry`] is dropped.
//!
//! The binary is `docker-registry` from `PATH`, or `$DXF_TEST_REGISTRY_BIN` if set.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use tempfile::TempDir;

use crate::tls::TestPki;
use crate::token_server::{hex, TokenServer, TokenServerConfig};

/// The one user of the Basic and Token modes.
pub const USERNAME: &str = "dxf-user";
/// `auth.token.service` in Token mode (the `service` of the challenge, the tokens' `aud`).
pub const TOKEN_SERVICE: &str = "dxf-test-registry";
/// `auth.token.issuer` in Token mode (the tokens' `iss`).
pub const TOKEN_ISSUER: &str = "dxf-test-token-server";
/// The realm of the htpasswd (Basic) mode.
pub const BASIC_REALM: &str = "dxf-test-registry";

/// How long [`TestRegistry::start`] waits for the registry to answer `GET /v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many free ports to try if the one picked was taken before the registry bound it.
const PORT_ATTEMPTS: usize = 5;

/// How the registry is served and authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `http://`, no authentication.
    Plain,
    /// `https://` with the test CA, htpasswd Basic authentication.
    Basic,
    /// `https://` with the test CA, Bearer tokens from the harness's token server.
    Token,
    /// `http://`, Bearer tokens from the harness's token server on `http://` too (clients
    /// must allow credentials over plain http: loopback only).
    TokenPlain,
}

impl Mode {
    /// Whether the registry is served over TLS.
    pub fn is_https(self) -> bool {
        !matches!(self, Mode::Plain | Mode::TokenPlain)
    }
}

/// Extra registry settings.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `catalog.maxentries`: the registry pages `_catalog` at this size by itself and answers
    /// `400 PAGINATION_NUMBER_INVALID` to any `n` above it. `None` keeps the registry
    /// default (1000).
    pub catalog_max_entries: Option<u32>,
}

/// A running registry; killed, reaped and its files removed on drop.
pub struct TestRegistry {
    child: Child,
    mode: Mode,
    port: u16,
    pki: Option<TestPki>,
    credentials: Option<(String, String)>,
    token_server: Option<TokenServer>,
    config_path: PathBuf,
    log_path: PathBuf,
    storage_root: PathBuf,
    // Dropped last: everything above refers to files in it.
    dir: TempDir,
}

/// Why one start attempt failed.
enum StartError {
    /// The port was taken between picking it and the registry binding it: try another.
    PortTaken,
    /// Anything else: give up.
    Fatal(String),
}

impl TestRegistry {
    /// Starts a registry in `mode` with default [`Options`]; panics (with the registry's log)
    /// if it is not answering `GET /v2/` within about 10 s.
    pub fn start(mode: Mode) -> TestRegistry {
        TestRegistry::start_with(mode, Options::default())
    }

    /// Starts a registry in `mode` with `options`.
    pub fn start_with(mode: Mode, options: Options) -> TestRegistry {
        let dir = tempfile::Builder::new()
            .prefix("dxf-registry-")
            .tempdir()
            .expect("create registry temp dir");
        let storage_root = dir.path().join("storage");
        for sub in ["repositories", "blobs"] {
            fs::create_dir_all(storage_root.join("docker/registry/v2").join(sub))
                .expect("create registry storage dirs");
        }
        let config_path = dir.path().join("config.yml");
        let log_path = dir.path().join("registry.log");

        let pki = mode.is_https().then(|| TestPki::generate(dir.path()));
        let credentials = (mode != Mode::Plain).then(|| (USERNAME.to_owned(), random_hex(12)));
        let htpasswd_path = dir.path().join("htpasswd");
        if let (Mode::Basic, Some((user, password))) = (mode, &credentials) {
            // Cost 4 (the minimum): the registry checks the hash on every request, and at the
            // usual 12 that is ~0.2 s per request.
            let hash = bcrypt::hash_with_result(password, 4)
                .expect("bcrypt")
                .format_for_version(bcrypt::Version::TwoY);
            fs::write(&htpasswd_path, format!("{user}:{hash}\n")).expect("write htpasswd");
        }
        let token_server = match (mode, &pki, &credentials) {
            (Mode::Token, Some(pki), Some((user, password))) => Some(TokenServer::start(
                pki,
                dir.path(),
                TokenServerConfig {
                    service: TOKEN_SERVICE.to_owned(),
                    issuer: TOKEN_ISSUER.to_owned(),
                    username: user.clone(),
                    password: password.clone(),
                },
            )),
            (Mode::TokenPlain, None, Some((user, password))) => Some(TokenServer::start_plain(
                dir.path(),
                TokenServerConfig {
                    service: TOKEN_SERVICE.to_owned(),
                    issuer: TOKEN_ISSUER.to_owned(),
                    username: user.clone(),
                    password: password.clone(),
                },
            )),
            _ => None,
        };

        let binary =
            std::env::var_os("DXF_TEST_REGISTRY_BIN").unwrap_or_else(|| "docker-registry".into());
        let client_config = pki.as_ref().map(TestPki::client_config);
        let secret = random_hex(16);

        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut config = format!(
                "version: 0.1\n\
                 log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n",
                root = yaml_path(&storage_root),
            );
            if let Some(pki) = &pki {
                config += &format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    yaml_path(pki.server_cert_pem_path()),
                    yaml_path(pki.server_key_pem_path()),
                );
            }
            match (mode, &token_server) {
                (Mode::Basic, _) => {
                    config += &format!(
                        "auth:\n  htpasswd:\n    realm: {BASIC_REALM}\n    path: {}\n",
                        yaml_path(&htpasswd_path)
                    );
                }
                (Mode::Token | Mode::TokenPlain, Some(ts)) => {
                    config += &format!(
                        "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                         rootcertbundle: {}\n",
                        yaml_str(&ts.realm()),
                        yaml_str(ts.service()),
                        yaml_str(ts.issuer()),
                        yaml_path(ts.rootcertbundle_path()),
                    );
                }
                _ => {}
            }
            if let Some(n) = options.catalog_max_entries {
                config += &format!("catalog:\n  maxentries: {n}\n");
            }
            fs::write(&config_path, &config).expect("write registry config");

            let log = File::create(&log_path).expect("create registry log");
            let mut command = Command::new(&binary);
            // The registry lets REGISTRY_* variables override its config file.
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("REGISTRY_") {
                    command.env_remove(name);
                }
            }
            let mut child = command
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {binary:?} (install the Debian package docker-registry, \
                         or set DXF_TEST_REGISTRY_BIN): {e}"
                    )
                });
            match wait_ready(&mut child, port, client_config.as_ref(), &log_path) {
                Ok(()) => {
                    return TestRegistry {
                        child,
                        mode,
                        port,
                        pki,
                        credentials,
                        token_server,
                        config_path,
                        log_path,
                        storage_root,
                        dir,
                    }
                }
                Err(StartError::PortTaken) => {
                    kill_and_reap(&mut child);
                    last_log = read_log(&log_path);
                }
                Err(StartError::Fatal(why)) => {
                    kill_and_reap(&mut child);
                    panic!(
                        "docker-registry ({mode:?}) on 127.0.0.1:{port} did not start: {why}\n\
                         --- config ---\n{config}--- log ---\n{}",
                        read_log(&log_path)
                    );
                }
            }
        }
        panic!(
            "docker-registry: no free port after {PORT_ATTEMPTS} attempts; last log:\n{last_log}"
        );
    }

    /// The mode it was started in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `127.0.0.1:PORT` (what `DXF_HOST` is set to).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` (Plain, TokenPlain) or `https://127.0.0.1:PORT` (Basic, Token).
    pub fn base_url(&self) -> String {
        let scheme = if self.mode.is_https() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host())
    }

    /// PEM file of the test CA that signed the registry's (and token server's) certificate;
    /// `None` in the plain-http modes.
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.pki.as_ref().map(TestPki::ca_pem_path)
    }

    /// The test user and password (Basic: htpasswd; Token, TokenPlain: the token server's
    /// login); `None` in Plain mode.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.credentials.clone()
    }

    /// How many `/token` requests the token server has answered (any outcome); 0 unless
    /// Token or TokenPlain mode.
    pub fn token_requests(&self) -> usize {
        self.token_server.as_ref().map_or(0, TokenServer::requests)
    }

    /// The token server's `127.0.0.1:PORT` (Token and TokenPlain modes).
    pub fn token_server_host(&self) -> Option<String> {
        self.token_server.as_ref().map(TokenServer::host)
    }

    /// The token server itself (realm, service, issuer, signing certificate), Token and
    /// TokenPlain modes.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token_server.as_ref()
    }

    /// The python-dxf environment for this registry: `DXF_HOST`; `DXF_INSECURE=1` (Plain,
    /// TokenPlain) or `DXF_TLSVERIFY=<CA PEM>` (Basic, Token); `DXF_USERNAME` /
    /// `DXF_PASSWORD` (all but Plain).
    pub fn dxf_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("DXF_HOST".to_owned(), self.host())];
        match self.ca_pem_path() {
            Some(ca) => env.push(("DXF_TLSVERIFY".to_owned(), ca.display().to_string())),
            None => env.push(("DXF_INSECURE".to_owned(), "1".to_owned())),
        }
        if let Some((user, password)) = self.credentials() {
            env.push(("DXF_USERNAME".to_owned(), user));
            env.push(("DXF_PASSWORD".to_owned(), password));
        }
        env
    }

    /// The registry's storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_root(&self) -> &Path {
        &self.storage_root
    }

    /// The registry's config file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The file the registry's stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The registry's log so far (empty if unreadable).
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// The temp dir holding config, certificates, storage and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `docker-registry garbage-collect CONFIG` (optionally `--delete-untagged`) against
    /// this registry's storage and returns its output. Safe while the registry runs only if
    /// no push is in flight.
    pub fn garbage_collect(&self, delete_untagged: bool) -> Output {
        let binary =
            std::env::var_os("DXF_TEST_REGISTRY_BIN").unwrap_or_else(|| "docker-registry".into());
        let mut cmd = Command::new(binary);
        cmd.arg("garbage-collect");
        if delete_untagged {
            cmd.arg("--delete-untagged");
        }
        cmd.arg(&self.config_path)
            .stdin(Stdio::null())
            .output()
            .expect("run docker-registry garbage-collect")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// Kills (if still running) and reaps `child`.
fn kill_and_reap(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Polls `GET /v2/` until it answers 200 or 401, the process exits, or the time is up.
fn wait_ready(
    child: &mut Child,
    port: u16,
    tls: Option<&Arc<rustls::ClientConfig>>,
    log_path: &Path,
) -> Result<(), StartError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Err(if read_log(log_path).contains("address already in use") {
                    StartError::PortTaken
                } else {
                    StartError::Fatal(format!("exited early with {status}"))
                })
            }
            Ok(None) => {}
            Err(e) => return Err(StartError::Fatal(format!("cannot poll the process: {e}"))),
        }
        let last = match probe(port, tls) {
            Ok(200 | 401) => return Ok(()),
            Ok(status) => format!("GET /v2/ answered {status}"),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(StartError::Fatal(format!(
                "not ready after {READY_TIMEOUT:?} ({last})"
            )));
        }
        thread::sleep(Duration::from_millis(50));
    }
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

/// `GET /v2/` once; the status code, or why there is none.
fn probe(port: u16, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<u16, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(2)))
        .and_then(|()| tcp.set_write_timeout(Some(Duration::from_secs(2))))
        .map_err(|e| format!("socket timeouts: {e}"))?;
    let request =
        format!("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    match tls {
        None => exchange(tcp, &request),
        Some(config) => {
            let name = rustls::pki_types::ServerName::IpAddress(
                std::net::IpAddr::from([127, 0, 0, 1]).into(),
            );
            let conn = rustls::ClientConnection::new(Arc::clone(config), name)
                .map_err(|e| format!("TLS: {e}"))?;
            exchange(rustls::StreamOwned::new(conn, tcp), &request)
        }
    }
}

/// Writes `request` and reads the status code from the response's first line.
fn exchange(mut stream: impl Read + Write, request: &str) -> Result<u16, String> {
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| format!("write: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.contains(&b'\n') {
        let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed before a status line".into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&got);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", line.lines().next()))
}

/// A YAML double-quoted string.
fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn yaml_path(p: &Path) -> String {
    yaml_str(&p.display().to_string())
}

/// `2 * len` random hex digits.
fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes).expect("random bytes");
    hex(&bytes)
}
