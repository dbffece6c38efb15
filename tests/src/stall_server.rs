//! A scriptable hostile HTTP/1.1 server on loopback, for timeout and interrupt tests: it
//! answers some requests like a registry and stalls on others — never answering, sending
//! a head and then nothing, dripping a body one byte at a time — and [`Backlog`], a
//! listener whose accept queue is full so that connecting to it hangs.
//!
//! ```no_run
//! use std::time::Duration;
//! use dxf_tests::stall_server::{Reply, Route, StallServer};
//!
//! let server = StallServer::start(vec![
//!     Route::version(),
//!     Route::new("GET", "/v2/r/manifests/", Reply::Silent),
//! ]);
//! // … run a client against server.host() (DXF_HOST, DXF_INSECURE=1) …
//! assert!(server.wait_for("GET", "/v2/r/manifests/", 1, Duration::from_secs(5)));
//! ```
//!
//! **Routing.** Each request goes to the first [`Route`] whose method and path (the target
//! without its query) match, skipping routes whose `times` are used up; a request no route
//! takes is answered `404` with an OCI `NOT_FOUND` body (so an upload's existence `HEAD`
//! finds no blob). Every request is recorded ([`StallServer::log`]) when its head arrives,
//! before any reply.
//!
//! **HTTP handling.** Keep-alive; request bodies framed by `Content-Length` are read and
//! discarded before a reply (a `chunked` one is not decoded: the reply then closes the
//! connection). A stalling reply keeps reading and discarding whatever the client sends
//! until it closes. No response body for `HEAD`.
//!
//! **Bounds.** Every socket read polls a stop flag every [`POLL`]; writes time out after
//! [`WRITE_TIMEOUT`]; heads are capped at [`MAX_HEAD`]. Dropping the server stops
//! accepting, shuts every connection down and joins every thread (within about [`POLL`]).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often blocked reads and sleeps look at the stop flag.
pub const POLL: Duration = Duration::from_millis(20);
/// The longest a write to a client may block.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head accepted (the connection is closed beyond it).
pub const MAX_HEAD: usize = 64 * 1024;

/// What the server does with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A complete response: `Content-Length` is added; no body for `HEAD`.
    Full {
        /// The status code.
        status: u16,
        /// Header fields besides `Content-Length`.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Reads the request (and whatever follows) and never answers.
    Silent,
    /// Writes `head` (a whole response head, see [`head`]) and `body_prefix`, then goes
    /// silent — give `head` a `Content-Length` larger than the prefix.
    HeadThenStall {
        /// The response head, blank line included.
        head: String,
        /// The body bytes sent before the stall.
        body_prefix: Vec<u8>,
    },
    /// Writes `head`, then `body` one byte per `every` (the first after one interval);
    /// silent once the body has been sent.
    Drip {
        /// The response head, blank line included.
        head: String,
        /// The body, dripped.
        body: Vec<u8>,
        /// The pause before each byte.
        every: Duration,
    },
    /// `503 Service Unavailable` with `Retry-After: secs` and an OCI `UNAVAILABLE` body.
    RetryAfter(u32),
    /// The reply, after a pause.
    Delayed(Duration, Box<Reply>),
    /// A blob: `200` with all of it, or for `Range: bytes=N-` a `206` with the rest and a
    /// `Content-Range` (`416` when `N` is not within it); `Docker-Content-Digest` on both.
    Blob(Vec<u8>),
}

impl Reply {
    /// `status` with these headers and body.
    pub fn full(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        Reply::Full {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
        }
    }

    /// A manifest: `200` with its media type (from its `mediaType`, else Docker's
    /// schema 2) and its `Docker-Content-Digest`.
    pub fn manifest(body: &[u8]) -> Reply {
        let media_type = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "application/vnd.docker.distribution.manifest.v2+json".into());
        let digest = crate::cli::sha256(body);
        Reply::full(
            200,
            &[
                ("Content-Type", &media_type),
                ("Docker-Content-Digest", &digest),
            ],
            body,
        )
    }

    /// `202 Accepted` opening an upload session at `location`, as the registry answers
    /// `POST /v2/REPO/blobs/uploads/`.
    pub fn upload_started(location: &str) -> Reply {
        Reply::full(
            202,
            &[
                ("Location", location),
                ("Range", "0-0"),
                ("Docker-Upload-UUID", "stall-server-session"),
            ],
            b"",
        )
    }
}

/// A response head: the status line, `headers` and the blank line.
pub fn head(status: u16, headers: &[(&str, String)]) -> String {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out += &format!("{name}: {value}\r\n");
    }
    out + "\r\n"
}

/// The head of a `200` blob response for `data` (length and digest).
pub fn blob_head(data: &[u8]) -> String {
    head(
        200,
        &[
            ("Content-Type", "application/octet-stream".into()),
            ("Content-Length", data.len().to_string()),
            ("Docker-Content-Digest", crate::cli::sha256(data)),
        ],
    )
}

/// The head of a `200` manifest response for `body` (schema 2 media type and digest).
pub fn manifest_head(body: &[u8]) -> String {
    head(
        200,
        &[
            (
                "Content-Type",
                "application/vnd.docker.distribution.manifest.v2+json".into(),
            ),
            ("Content-Length", body.len().to_string()),
            ("Docker-Content-Digest", crate::cli::sha256(body)),
        ],
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        503 => "Service Unavailable",
        _ => "Scripted",
    }
}

/// Which requests a [`Reply`] is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    method: String,
    path: String,
    exact: bool,
    times: usize,
    reply: Reply,
}

impl Route {
    /// Every request with `method` (`""`: any) whose path starts with `prefix`.
    pub fn new(method: &str, prefix: &str, reply: Reply) -> Route {
        Route {
            method: method.to_ascii_uppercase(),
            path: prefix.to_owned(),
            exact: false,
            times: usize::MAX,
            reply,
        }
    }

    /// Every request with `method` whose path is exactly `path`.
    pub fn exact(method: &str, path: &str, reply: Reply) -> Route {
        Route {
            exact: true,
            ..Route::new(method, path, reply)
        }
    }

    /// `GET /v2/` answered `200` with `Docker-Distribution-API-Version: registry/2.0`.
    pub fn version() -> Route {
        let headers = [
            ("Docker-Distribution-API-Version", "registry/2.0"),
            ("Content-Type", "application/json"),
        ];
        Route::exact("GET", "/v2/", Reply::full(200, &headers, b"{}"))
    }

    /// Only for the next `n` matching requests; later ones go on to the next routes.
    pub fn times(mut self, n: usize) -> Route {
        self.times = n;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        (self.method.is_empty() || self.method == method)
            && if self.exact {
                path == self.path
            } else {
                path.starts_with(&self.path)
            }
    }
}

/// A request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, upper case.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The header fields, in order.
    pub headers: Vec<(String, String)>,
    /// When its head arrived.
    pub at: Instant,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// State shared by the handle and the server's threads.
struct Shared {
    stop: AtomicBool,
    routes: Mutex<Vec<Route>>,
    log: Mutex<Vec<Request>>,
    sockets: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps `d` in steps of [`POLL`]; `false` when the server stopped meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while !self.stopped() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            thread::sleep(left.min(POLL));
        }
        false
    }

    /// The reply for a request, using up one of its route's `times`.
    fn route(&self, method: &str, path: &str) -> Option<Reply> {
        let mut routes = lock(&self.routes);
        let route = routes
            .iter_mut()
            .find(|r| r.times > 0 && r.matches(method, path))?;
        if route.times != usize::MAX {
            route.times -= 1;
        }
        Some(route.reply.clone())
    }
}

/// The server: listening on `127.0.0.1:<port>` until dropped.
pub struct StallServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for StallServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StallServer")
            .field("addr", &self.addr)
            .field("log", &self.log())
            .finish_non_exhaustive()
    }
}

impl StallServer {
    /// A server answering by `routes` (tried in order).
    pub fn start(routes: Vec<Route>) -> StallServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stall server");
        let addr = listener.local_addr().expect("stall server address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            routes: Mutex::new(routes),
            log: Mutex::new(Vec::new()),
            sockets: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let accepting = shared.clone();
        let accept = thread::Builder::new()
            .name("stall-server-accept".into())
            .spawn(move || accept_loop(&listener, &accepting))
            .expect("spawn the stall server");
        StallServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT`, what a client's host (`DXF_HOST`) is set to.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Every request received so far, in order of arrival.
    pub fn log(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// The requests received with `method` whose path starts with `prefix`.
    pub fn requests(&self, method: &str, prefix: &str) -> Vec<Request> {
        let method = method.to_ascii_uppercase();
        self.log()
            .into_iter()
            .filter(|r| r.method == method && r.path().starts_with(prefix))
            .collect()
    }

    /// Waits (at most `limit`) until `n` requests with `method` and a path starting with
    /// `prefix` arrived; whether they did.
    pub fn wait_for(&self, method: &str, prefix: &str, n: usize, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        loop {
            if self.requests(method, prefix).len() >= n {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for StallServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for s in lock(&self.shared.sockets).iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let threads = std::mem::take(&mut *lock(&self.shared.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stopped() {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(POLL / 4);
                continue;
            }
            Err(_) => continue,
        };
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.sockets).push(clone);
        }
        let conn = shared.clone();
        let spawned = thread::Builder::new()
            .name("stall-server-conn".into())
            .spawn(move || {
                Conn {
                    stream,
                    buf: Vec::new(),
                    shared: &conn,
                }
                .serve();
            });
        if let Ok(handle) = spawned {
            let mut threads = lock(&shared.threads);
            threads.retain(|t| !t.is_finished());
            threads.push(handle);
        }
    }
}

/// One client connection: its socket and the bytes read but not used yet.
struct Conn<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    shared: &'a Shared,
}

impl Conn<'_> {
    fn serve(&mut self) {
        let ready = self.stream.set_nonblocking(false).is_ok()
            && self.stream.set_read_timeout(Some(POLL)).is_ok()
            && self.stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_ok();
        let _ = self.stream.set_nodelay(true);
        while ready && self.exchange().is_some() {}
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Reads more bytes into `buf`: `None` at EOF, on an error, or once the server stops.
    fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.shared.stopped() {
                return None;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => {
                    self.buf.extend_from_slice(chunk.get(..n)?);
                    return Some(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }

    /// Reads and discards until the client closes or the server stops.
    fn hold(&mut self) -> Option<()> {
        loop {
            self.buf.clear();
            self.fill()?;
        }
    }

    fn write(&mut self, data: &[u8]) -> Option<()> {
        self.stream.write_all(data).ok()
    }

    /// One request and its reply; `None` when the connection is done.
    fn exchange(&mut self) -> Option<()> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return None;
            }
            self.fill()?;
        };
        let raw: Vec<u8> = self.buf.drain(..end).collect();
        let request = parse_request(&raw)?;
        lock(&self.shared.log).push(request.clone());
        let reply = self.shared.route(&request.method, request.path());
        if matches!(reply, Some(Reply::Silent)) {
            return self.hold();
        }
        // The request body, discarded (a chunked one is not decoded: close after replying).
        let chunked = request
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length: usize = request
            .header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while !chunked && self.buf.len() < length {
            self.fill()?;
        }
        self.buf.drain(..length.min(self.buf.len()));
        let reply = reply.unwrap_or_else(not_found);
        self.reply(&request, reply)?;
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        (!chunked && !close).then_some(())
    }

    fn reply(&mut self, request: &Request, reply: Reply) -> Option<()> {
        let head_only = request.method == "HEAD";
        match reply {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut fields: Vec<(&str, String)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.clone()))
                    .collect();
                fields.push(("Content-Length", body.len().to_string()));
                self.write(head(status, &fields).as_bytes())?;
                if !head_only {
                    self.write(&body)?;
                }
                Some(())
            }
            Reply::Silent => self.hold(),
            Reply::HeadThenStall { head, body_prefix } => {
                self.write(head.as_bytes())?;
                self.write(&body_prefix)?;
                self.hold()
            }
            Reply::Drip { head, body, every } => {
                self.write(head.as_bytes())?;
                for byte in body {
                    if !self.shared.sleep(every) {
                        return None;
                    }
                    self.write(&[byte])?;
                }
                self.hold()
            }
            Reply::RetryAfter(secs) => {
                let secs = secs.to_string();
                let body = br#"{"errors":[{"code":"UNAVAILABLE","message":"try again later"}]}"#;
                self.reply(
                    request,
                    Reply::full(
                        503,
                        &[("Retry-After", &secs), ("Content-Type", "application/json")],
                        body,
                    ),
                )
            }
            Reply::Delayed(pause, reply) => {
                if !self.shared.sleep(pause) {
                    return None;
                }
                self.reply(request, *reply)
            }
            Reply::Blob(data) => {
                let reply = blob_reply(request.header("range"), &data);
                self.reply(request, reply)
            }
        }
    }
}

/// The answer to a request no route takes.
fn not_found() -> Reply {
    let body = br#"{"errors":[{"code":"NOT_FOUND","message":"not scripted"}]}"#;
    Reply::full(404, &[("Content-Type", "application/json")], body)
}

/// A [`Reply::Blob`] answer to a request with `range`.
fn blob_reply(range: Option<&str>, data: &[u8]) -> Reply {
    let digest = crate::cli::sha256(data);
    let len = data.len();
    let start = range
        .and_then(|r| r.trim().strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    match start {
        None => Reply::full(200, &[("Docker-Content-Digest", &digest)], data),
        Some(n) if n < len => Reply::full(
            206,
            &[
                ("Docker-Content-Digest", &digest),
                ("Content-Range", &format!("bytes {n}-{}/{len}", len - 1)),
            ],
            data.get(n..).unwrap_or_default(),
        ),
        Some(_) => Reply::full(416, &[("Content-Range", &format!("bytes */{len}"))], b""),
    }
}

/// The request line and header fields of a request head.
fn parse_request(raw: &[u8]) -> Option<Request> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let mut start = lines.next()?.split_whitespace();
    let method = start.next()?.to_ascii_uppercase();
    let target = start.next()?.to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Request {
        method,
        target,
        headers,
        at: Instant::now(),
    })
}

/// A listener that never accepts, its accept queue filled by connections this process
/// made and never closes: a further `connect()` to it hangs (on Linux the kernel drops
/// the SYN of a listener whose queue is full, and the client keeps retransmitting it).
/// Closed on drop.
pub struct Backlog {
    addr: SocketAddr,
    _listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backlog")
            .field("addr", &self.addr)
            .field("fillers", &self._fillers.len())
            .finish_non_exhaustive()
    }
}

/// The most connections made to fill a [`Backlog`]'s queue (std listens with a backlog
/// of 128; the kernel may allow more).
const MAX_FILLERS: usize = 5000;
/// How long a filling connect may take before it counts as hanging.
const FILL_TIMEOUT: Duration = Duration::from_millis(300);

impl Backlog {
    /// A full listener, or `None` when this system does not make a further connect to it
    /// hang (checked: one more connect must time out).
    pub fn start() -> Option<Backlog> {
        let listener = TcpListener::bind("127.0.0.1:0").ok()?;
        let addr = listener.local_addr().ok()?;
        let mut fillers = Vec::new();
        let full = loop {
            if fillers.len() >= MAX_FILLERS {
                break false;
            }
            match TcpStream::connect_timeout(&addr, FILL_TIMEOUT) {
                Ok(s) => fillers.push(s),
                Err(e) => break matches!(e.kind(), io::ErrorKind::TimedOut),
            }
        };
        let hangs = full
            && matches!(
                TcpStream::connect_timeout(&addr, FILL_TIMEOUT),
                Err(e) if e.kind() == io::ErrorKind::TimedOut
            );
        hangs.then_some(Backlog {
            addr,
            _listener: listener,
            _fillers: fillers,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// How many sockets on this machine are trying to connect to the listener right now
    /// (`SYN_SENT` in `/proc/net/tcp`; `None` when that cannot be read).
    pub fn connecting(&self) -> Option<usize> {
        let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
        let port = format!(":{:04X}", self.addr.port());
        Some(
            table
                .lines()
                .skip(1)
                .filter(|line| {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    cols.get(2).is_some_and(|rem| rem.ends_with(&port))
                        && cols.get(3) == Some(&"02")
                })
                .count(),
        )
    }
}
