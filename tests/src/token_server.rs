//! A minimal Docker token server (the registry token authentication spec) over HTTPS (or,
//! [`TokenServer::start_plain`], plain HTTP) on a loopback port: `GET /token?service=S&scope=T:N:A&scope=…` answers
//! `{"token", "access_token", "expires_in": 300, "issued_at"}` with an ES256 JWT that CNCF
//! distribution 2.8.2 accepts.
//!
//! Authorization rules:
//! - no `Authorization` header: anonymous (`sub` = `""`), granted only `registry:catalog:*`;
//!   every other requested resource is listed with no actions;
//! - `Authorization: Basic` with the test user's credentials: every requested action granted;
//! - any other `Authorization` (wrong credentials, another scheme): `401`.
//!
//! `POST /token` is docker's OAuth2 refresh-token grant (what an identity token is used
//! for): a form body `grant_type=refresh_token&refresh_token=…&service=…&scope=…` with
//! [`REFRESH_TOKEN`] is the test user (every requested action granted, the same JWT as a
//! GET); any other grant or refresh token gets `401`.
//!
//! Several `scope` parameters are accepted (a mount asks for two), as are space-separated
//! scopes within one parameter; no scope at all yields a token with an empty `access` list.
//! A malformed scope (fewer than three `:`-separated parts) gets `400`.
//!
//! The JWT header carries the signing certificate in `x5c`; that certificate is self-signed
//! and written to a PEM file that the registry uses as its `rootcertbundle`.
//!
//! Plain `std` threads: an accept thread, plus one thread per connection serving a single
//! request (`Connection: close`). Stopped (and the accept thread joined) on drop.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use crate::tls::TestPki;

/// Lifetime of issued tokens, in seconds (`expires_in`).
pub const TOKEN_LIFETIME_SECS: u64 = 300;

/// Largest request head the server reads.
const MAX_HEAD: usize = 16 * 1024;

/// Largest `POST` body the server reads.
const MAX_BODY: usize = 16 * 1024;

/// The refresh token (docker's `identitytoken`) the token server accepts for the test user.
pub const REFRESH_TOKEN: &str = "dxf-test-refresh-token";

/// Who may log in and what the tokens say about the service they are for.
#[derive(Clone, Debug)]
pub struct TokenServerConfig {
    /// The registry's `auth.token.service`: the tokens' `aud`.
    pub service: String,
    /// The registry's `auth.token.issuer`: the tokens' `iss`.
    pub issuer: String,
    /// The one user who may authenticate.
    pub username: String,
    /// That user's password.
    pub password: String,
}

/// A running token server; stops on drop.
pub struct TokenServer {
    addr: SocketAddr,
    rootcertbundle: PathBuf,
    config: TokenServerConfig,
    requests: Arc<AtomicUsize>,
    refresh_grants: Arc<AtomicUsize>,
    shutdown: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
    /// Served over HTTPS (else plain HTTP).
    https: bool,
}

impl TokenServer {
    /// Generates a signing key and self-signed certificate (written to
    /// `dir/token-signing.pem`), binds a free port on 127.0.0.1 and starts serving HTTPS with
    /// the server certificate of `pki`.
    pub fn start(pki: &TestPki, dir: &Path, config: TokenServerConfig) -> TokenServer {
        TokenServer::serve(Some(pki.server_config()), dir, config)
    }

    /// As [`start`](Self::start), but serving plain HTTP (for a registry on plain http that
    /// uses token auth; clients must allow credentials over http, e.g. on loopback).
    pub fn start_plain(dir: &Path, config: TokenServerConfig) -> TokenServer {
        TokenServer::serve(None, dir, config)
    }

    fn serve(
        tls: Option<Arc<rustls::ServerConfig>>,
        dir: &Path,
        config: TokenServerConfig,
    ) -> TokenServer {
        let signing_key = KeyPair::generate().expect("generate token signing key");
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "dxf test token signer");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let signing_cert = params
            .self_signed(&signing_key)
            .expect("self-sign token signing certificate");
        let rootcertbundle = dir.join("token-signing.pem");
        fs::write(&rootcertbundle, signing_cert.pem()).expect("write token-signing.pem");

        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &signing_key.serialize_der(),
            &rng,
        )
        .expect("load token signing key");

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let addr = listener.local_addr().expect("token server address");
        let requests = Arc::new(AtomicUsize::new(0));
        let refresh_grants = Arc::new(AtomicUsize::new(0));
        let shutdown = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            config: config.clone(),
            key,
            x5c: STANDARD.encode(signing_cert.der()),
            rng,
            requests: Arc::clone(&requests),
            refresh_grants: Arc::clone(&refresh_grants),
        });
        let https = tls.is_some();
        let stop = Arc::clone(&shutdown);
        let accept_thread = thread::Builder::new()
            .name(format!("token-server-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &tls, &shared, &stop))
            .expect("spawn token server thread");

        TokenServer {
            addr,
            rootcertbundle,
            config,
            requests,
            refresh_grants,
            shutdown,
            accept_thread: Some(accept_thread),
            https,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The realm to configure in the registry: `https://127.0.0.1:PORT/token` (plain:
    /// `http://`).
    pub fn realm(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/token", self.addr)
    }

    /// The service the tokens are issued for (`aud`).
    pub fn service(&self) -> &str {
        &self.config.service
    }

    /// The issuer of the tokens (`iss`).
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// PEM file of the self-signed certificate whose key signs the tokens: the registry's
    /// `auth.token.rootcertbundle`.
    pub fn rootcertbundle_path(&self) -> &Path {
        &self.rootcertbundle
    }

    /// How many requests for `/token` have been answered (any outcome: tokens, 401s, 400s).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// How many `POST /token` refresh-token grants have been answered with a token.
    pub fn refresh_grants(&self) -> usize {
        self.refresh_grants.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept_thread.take() {
            let _ = handle.join();
        }
    }
}

/// State shared by the connection threads.
struct Shared {
    config: TokenServerConfig,
    key: EcdsaKeyPair,
    x5c: String,
    rng: SystemRandom,
    requests: Arc<AtomicUsize>,
    refresh_grants: Arc<AtomicUsize>,
}

fn accept_loop(
    listener: &TcpListener,
    tls: &Option<Arc<rustls::ServerConfig>>,
    shared: &Arc<Shared>,
    shutdown: &AtomicBool,
) {
    for stream in listener.incoming() {
        if shutdown.load(Ordering::SeqCst) {
            break;
        }
        match stream {
            Ok(tcp) => {
                let tls = tls.clone();
                let shared = Arc::clone(shared);
                let _ = thread::Builder::new()
                    .name("token-server-conn".into())
                    .spawn(move || serve_connection(tcp, tls, &shared));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve_connection(mut tcp: TcpStream, tls: Option<Arc<rustls::ServerConfig>>, shared: &Shared) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(10)));
    let Some(tls) = tls else {
        serve_request(&mut tcp, shared);
        return;
    };
    let Ok(conn) = rustls::ServerConnection::new(tls) else {
        return;
    };
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    serve_request(&mut stream, shared);
    stream.conn.send_close_notify();
    let _ = stream.conn.complete_io(&mut stream.sock);
}

/// Reads one request from `stream` and writes its response.
fn serve_request(stream: &mut (impl Read + Write), shared: &Shared) {
    let Some(head) = read_head(stream) else {
        return;
    };
    let response = match parse_head(&head).and_then(|r| read_body(stream, &head, r)) {
        Some(request) => shared.respond(&request),
        None => Response::error(400, "Bad Request", "malformed request"),
    };
    let _ = stream.write_all(&response.to_bytes());
    let _ = stream.flush();
}

/// Reads up to the end of the request head (`\r\n\r\n`); `None` on EOF, error or oversize.
fn read_head(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(head);
        }
        if head.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(buf.get(..n)?),
        }
    }
}

/// The parts of a request the server looks at.
struct Request {
    method: String,
    target: String,
    authorization: Option<String>,
    content_length: usize,
    body: Vec<u8>,
}

/// Completes `request` with its body (`Content-Length` bytes, at most [`MAX_BODY`]): what
/// came with the head after `\r\n\r\n`, then the rest from `stream`.
fn read_body(stream: &mut impl Read, head: &[u8], mut request: Request) -> Option<Request> {
    if request.content_length > MAX_BODY {
        return None;
    }
    let start = head.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut body = head.get(start..)?.to_vec();
    let mut buf = [0u8; 1024];
    while body.len() < request.content_length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(buf.get(..n)?),
        }
    }
    body.truncate(request.content_length);
    request.body = body;
    Some(request)
}

fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let mut authorization = None;
    let mut content_length = 0;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            }
            if name.trim().eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().ok()?;
            }
        }
    }
    Some(Request {
        method,
        target,
        authorization,
        content_length,
        body: Vec::new(),
    })
}

/// One requested resource: `type:name:action,action`.
struct Scope {
    kind: String,
    name: String,
    actions: Vec<String>,
}

fn parse_scope(scope: &str) -> Option<Scope> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(Scope {
        kind: kind.to_owned(),
        name: name.to_owned(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl Shared {
    fn respond(&self, request: &Request) -> Response {
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((request.target.as_str(), ""));
        if path != "/token" {
            return Response::error(404, "Not Found", "only /token is served here");
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        if request.method == "POST" {
            return self.refresh_grant(&request.body);
        }
        if request.method != "GET" {
            return Response::error(405, "Method Not Allowed", "only GET and POST /token");
        }

        let subject = match &request.authorization {
            None => None,
            Some(value) => match self.check_basic(value) {
                Some(user) => Some(user),
                None => {
                    let mut response =
                        Response::error(401, "Unauthorized", "incorrect username or password");
                    response.headers.push((
                        "WWW-Authenticate".into(),
                        "Basic realm=\"dxf-test-token-server\"".into(),
                    ));
                    return response;
                }
            },
        };

        self.issue(subject, query.as_bytes())
    }

    /// `POST /token`: the refresh-token grant with [`REFRESH_TOKEN`] is the test user.
    fn refresh_grant(&self, form: &[u8]) -> Response {
        let field = |name: &str| {
            url::form_urlencoded::parse(form)
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if field("grant_type").as_deref() != Some("refresh_token")
            || field("refresh_token").as_deref() != Some(REFRESH_TOKEN)
        {
            return Response::error(401, "Unauthorized", "invalid refresh token");
        }
        let response = self.issue(Some(self.config.username.clone()), form);
        if response.status == 200 {
            self.refresh_grants.fetch_add(1, Ordering::SeqCst);
        }
        response
    }

    /// A token for `subject` (anonymous when `None`) with the `scope` parameters of
    /// `params` (a query string or a form body).
    fn issue(&self, subject: Option<String>, params: &[u8]) -> Response {
        let mut scopes = Vec::new();
        for (key, value) in url::form_urlencoded::parse(params) {
            if key != "scope" {
                continue;
            }
            for one in value.split_whitespace() {
                match parse_scope(one) {
                    Some(scope) => scopes.push(scope),
                    None => {
                        return Response::error(
                            400,
                            "Bad Request",
                            &format!("invalid scope {one:?}"),
                        )
                    }
                }
            }
        }

        let access: Vec<Value> = scopes
            .iter()
            .map(|scope| {
                let actions: Vec<&str> = if subject.is_some() {
                    scope.actions.iter().map(String::as_str).collect()
                } else if scope.kind == "registry" && scope.name == "catalog" {
                    scope
                        .actions
                        .iter()
                        .map(String::as_str)
                        .filter(|a| *a == "*")
                        .collect()
                } else {
                    Vec::new()
                };
                json!({"type": scope.kind, "name": scope.name, "actions": actions})
            })
            .collect();

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let token = self.sign(&json!({
            "iss": self.config.issuer,
            "sub": subject.unwrap_or_default(),
            "aud": self.config.service,
            "exp": now + TOKEN_LIFETIME_SECS,
            "nbf": now.saturating_sub(10),
            "iat": now,
            "jti": self.random_hex(16),
            "access": access,
        }));
        let body = json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_SECS,
            "issued_at": rfc3339(now),
        });
        Response::json(200, "OK", &body)
    }

    /// The user name if `value` is `Basic` with the test user's credentials.
    fn check_basic(&self, value: &str) -> Option<String> {
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        (user == self.config.username && password == self.config.password).then(|| user.to_owned())
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "x5c": [self.x5c]});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .expect("ES256 signature");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn random_hex(&self, len: usize) -> String {
        let mut bytes = vec![0u8; len];
        self.rng.fill(&mut bytes).expect("random bytes");
        hex(&bytes)
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time in seconds.
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant), for days since 1970-01-01.
    let z = i64::try_from(days).expect("days fit i64") + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An HTTP/1.1 response, always with `Connection: close`.
struct Response {
    status: u16,
    reason: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, reason: &'static str, body: &Value) -> Response {
        Response {
            status,
            reason,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn error(status: u16, reason: &'static str, message: &str) -> Response {
        Response::json(
            status,
            reason,
            &json!({"errors": [{"code": "UNAUTHORIZED", "message": message}], "details": message}),
        )
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let _ = write!(
            out,
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        );
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_scope, rfc3339};

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn scopes_split_on_first_and_last_colon() {
        let s = parse_scope("repository:localhost:5000/a/b:pull,push").unwrap();
        assert_eq!(s.kind, "repository");
        assert_eq!(s.name, "localhost:5000/a/b");
        assert_eq!(s.actions, ["pull", "push"]);
        let s = parse_scope("registry:catalog:*").unwrap();
        assert_eq!((s.kind.as_str(), s.name.as_str()), ("registry", "catalog"));
        assert!(parse_scope("repository:foo").is_none());
    }
}
