//! A scriptable fault-injecting HTTP/1.1 proxy on loopback, placed between a client and a
//! plain-http [`TestRegistry`]: the client talks http to the proxy, the proxy to the
//! registry. Plain std threads, one per client connection.
//!
//! ```no_run
//! use dxf_tests::fault_proxy::{Fault, FaultProxy, Rule};
//! use dxf_tests::{Mode, TestRegistry};
//!
//! let registry = TestRegistry::start(Mode::Plain);
//! let proxy = FaultProxy::for_registry(&registry);
//! // Flip byte 1000 of the next blob GET's body; answer 503 to the two requests after it.
//! proxy.add(Rule::on("GET", "/blobs/sha256:", Fault::CorruptByte(1000)));
//! proxy.add(Rule::any(Fault::status(503)).times(2));
//! // … point the client at proxy.host() (DXF_HOST, DXF_INSECURE=1) …
//! assert_eq!(proxy.faults_applied(), 0);
//! ```
//!
//! **HTTP handling.** The proxy reads each request head, picks a fault (see [`Rule`]), then
//! forwards the head unchanged (so the registry builds its `Location` URLs from the proxy's
//! `Host`, and uploads keep going through the proxy) and relays the body, decoding and
//! re-encoding `Content-Length` and `chunked` framing so that body faults count *body*
//! bytes, never framing. Responses are relayed the same way (no body for `HEAD`, 1xx, 204
//! and 304; read-until-close when a response has neither length nor chunking).
//! `Expect: 100-continue` is answered by the proxy itself and stripped.
//!
//! **Connections.** Keep-alive both ways (nothing forces `Connection: close`, so clients
//! pool and reuse their connections as they would with the registry): one upstream
//! connection per client connection, opened at its first forwarded request and reused for
//! the next ones (clients do not pipeline; an upstream connection found closed while idle
//! is replaced, so that only scripted faults reach the client). Both connections are
//! closed when either side asks for `Connection: close`, when a response ends by closing,
//! when either side fails, by every fault that cuts a transfer
//! ([`Fault::CloseRequestAfter`], [`Fault::DropResponse`], [`Fault::CloseResponseAfter`])
//! and after the response by [`Fault::CloseAfterResponse`]. Injected statuses
//! ([`Fault::Status`]) keep the client connection open (their body has a
//! `Content-Length`; the request body is read and discarded first, so the client never
//! sees a reset while still sending).
//!
//! **Accounting.** Every request gets an [`Exchange`] in [`FaultProxy::log`], updated as it
//! goes — each field is set *before* the client can observe its effect, so a test may read
//! the log as soon as its client call returns.
//!
//! **Shutdown.** Dropping the proxy stops accepting, shuts every client and upstream socket
//! down (ending any transfer in flight and any [`Fault::Delay`]) and joins every thread.
//!
//! **Behaviours.** Beyond one-shot rules, a [`Behaviour`] ([`FaultProxy::set_behaviour`])
//! sees every request as a [`Call`] before it is forwarded — it may rewrite its target and
//! headers, ask for its body to be read first ([`Behaviour::buffer`]), or answer it
//! itself with a [`Reply`] — and every response head as an [`Answer`] it may change
//! (status, headers; adding `Transfer-Encoding: chunked` to a response that came with a
//! `Content-Length` re-frames its body). It also learns of requests whose body was cut or
//! whose connection broke ([`Behaviour::broken`]). A request the behaviour answers does
//! not use up any rule. `personality` builds whole registries' manners out of this.
//!
//! **TLS.** [`FaultProxy::start_tls`] terminates TLS on the client side (the registry is
//! still reached over plain http) and adds `X-Forwarded-Proto: https` to what it forwards,
//! so that the registry builds `https://` upload `Location`s.
//!
//! [`direct`] sends one request straight to a host (no proxy, `Connection: close`), for
//! checking what the registry really holds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::{Mode, TestRegistry};

/// The largest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes relayed per read.
const RELAY_CHUNK: usize = 64 * 1024;
/// Timeout for connecting upstream (loopback).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the proxy does to one request instead of (or while) forwarding it faithfully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward the request head and the first `N` bytes of its body, then close both the
    /// client and the upstream connection: the registry sees a truncated request, the
    /// client gets no response (a write error or an early EOF). Cuts only when the body is
    /// longer than `N`, or when `N` is 0 (then even a bodyless request is cut right after
    /// its head went upstream); otherwise the request is forwarded normally.
    CloseRequestAfter(u64),
    /// Forward the whole request and wait for the registry's response head, then close both
    /// connections without sending the client anything: the registry acted on the request,
    /// the client never learns the outcome (a lost `201`, say).
    DropResponse,
    /// Forward the response head (its `Content-Length` unchanged) and the first `N` bytes of
    /// its body, then close both connections: a truncated body. Cuts only when the body is
    /// longer than `N`, or when `N` is 0 (then right after the head).
    CloseResponseAfter(u64),
    /// Relay the request and the whole response normally (keep-alive headers untouched),
    /// then close both connections: a server dropping an idle keep-alive connection, which
    /// the client finds dead when it next uses it from its pool.
    CloseAfterResponse,
    /// Answer `code` without forwarding anything upstream: a short OCI error JSON body
    /// (`UNKNOWN` for 500, `UNAVAILABLE` for 502/503, `TOOMANYREQUESTS` for 429, `UNKNOWN`
    /// otherwise), plus `Retry-After: <secs>` when given. The request body is read and
    /// discarded first.
    Status {
        /// The status code.
        code: u16,
        /// `Retry-After` in seconds, when sent.
        retry_after: Option<u32>,
    },
    /// Forward the request, then hold the response head this long before relaying the
    /// response (ended early if the proxy is dropped).
    Delay(Duration),
    /// Invert the response body byte at this offset (all bits flipped); a body that is not
    /// that long is relayed unchanged. `Content-Length` and everything else stay as they
    /// are.
    CorruptByte(u64),
    /// Replace the response's `Docker-Content-Digest` with this value (added when absent).
    WrongDigest(String),
    /// Forward the request with its query string removed: a mount
    /// (`POST .../blobs/uploads/?mount=…&from=…`) becomes a plain upload start, which the
    /// registry answers `202` with a `Location` — a registry refusing the mount, as Harbor
    /// does.
    StripQuery,
    /// Set this header on the response (replacing it, or added when absent): e.g. an
    /// `OCI-Chunk-Min-Length` the registry itself does not send.
    SetHeader(String, String),
}

impl Fault {
    /// `status` with no `Retry-After`.
    pub fn status(code: u16) -> Fault {
        Fault::Status {
            code,
            retry_after: None,
        }
    }

    /// `429 Too Many Requests` with `Retry-After: secs`.
    pub fn too_many_requests(secs: u32) -> Fault {
        Fault::Status {
            code: 429,
            retry_after: Some(secs),
        }
    }

    /// A body truncated after `n` bytes ([`Fault::CloseResponseAfter`]).
    pub fn truncate(n: u64) -> Fault {
        Fault::CloseResponseAfter(n)
    }

    /// A well-formed `Docker-Content-Digest` of content nobody pushed: [`WRONG_DIGEST`].
    pub fn wrong_digest() -> Fault {
        Fault::WrongDigest(WRONG_DIGEST.to_owned())
    }
}

/// The digest [`Fault::wrong_digest`] announces: sha256 of `"not the content"`.
pub const WRONG_DIGEST: &str =
    "sha256:bd4b9053802fd62db1df156d942233cc78f7c9589a10270adcace8d0bcfbebc3";

/// When a [`Fault`] applies: to requests whose method and target match, after letting the
/// first `skip` matches through, for the next `times` matches (once unless told).
///
/// Rules are tried in the order they were added; the first one that applies to a request
/// is used (one fault per request) and is removed once its `times` are used up. A matching
/// rule that is still skipping lets the request go on to the later rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    method: Option<String>,
    path: Option<String>,
    skip: usize,
    times: usize,
    fault: Fault,
}

impl Rule {
    /// The next request, whatever it is.
    pub fn any(fault: Fault) -> Rule {
        Rule {
            method: None,
            path: None,
            skip: 0,
            times: 1,
            fault,
        }
    }

    /// The next request with this method (`""` for any) whose request target (path and
    /// query) contains `path` (`""` for any), e.g. `("PATCH", "/blobs/uploads/")`,
    /// `("GET", "/blobs/sha256:")`, `("GET", "/manifests/")`.
    pub fn on(method: &str, path: &str, fault: Fault) -> Rule {
        Rule {
            method: (!method.is_empty()).then(|| method.to_ascii_uppercase()),
            path: (!path.is_empty()).then(|| path.to_owned()),
            ..Rule::any(fault)
        }
    }

    /// Applies to the next `k` matching requests instead of one.
    pub fn times(mut self, k: usize) -> Rule {
        self.times = k;
        self
    }

    /// Applies to every matching request from now on.
    pub fn always(self) -> Rule {
        self.times(usize::MAX)
    }

    /// Lets the first `n` matching requests through untouched.
    pub fn skip(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.path.as_deref().is_none_or(|p| target.contains(p))
    }
}

/// One request the proxy received, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The request method.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// Whether the request head was sent to the registry.
    pub forwarded: bool,
    /// Request body bytes sent to the registry.
    pub request_bytes: u64,
    /// Whether the request body came with `Transfer-Encoding: chunked` (no length given).
    pub request_chunked: bool,
    /// The status the client was sent (`None`: closed before any response).
    pub status: Option<u16>,
    /// Response body bytes sent to the client.
    pub response_bytes: u64,
}

/// A registry's manners, scripted: what the proxy does with every request and response
/// (see the module docs). Every method has a default that changes nothing; implementations
/// are called from the connection threads, several at a time.
pub trait Behaviour: Send + Sync {
    /// Whether to read the request's whole body before [`Behaviour::request`] sees it (in
    /// [`Call::body`]); it is then forwarded with a `Content-Length`, whatever framing the
    /// client used.
    fn buffer(&self, call: &Call) -> bool {
        let _ = call;
        false
    }

    /// Looks at (and may rewrite) a request before it is forwarded; `Some` answers it here
    /// instead (its body is read and discarded first), with no rule used up.
    fn request(&self, call: &mut Call) -> Option<Reply> {
        let _ = call;
        None
    }

    /// Looks at (and may change) the registry's response head to `call` before the client
    /// gets it.
    fn response(&self, call: &Call, answer: &mut Answer) {
        let _ = (call, answer);
    }

    /// The request's body was cut (by a rule) or its connection broke before the registry
    /// answered.
    fn broken(&self, call: &Call) {
        let _ = call;
    }
}

/// A request as a [`Behaviour`] sees it.
#[derive(Clone, Debug)]
pub struct Call {
    /// Which client connection it came on (the proxy numbers them from 0).
    pub connection: u64,
    /// The method, upper case.
    pub method: String,
    /// The request target (path and query); a behaviour may rewrite it.
    pub target: String,
    /// The header fields, in order; a behaviour may rewrite them.
    pub headers: Vec<(String, String)>,
    /// The body's `Content-Length` as the client sent it; `None` for a chunked body.
    pub length: Option<u64>,
    /// The whole body, when the behaviour asked for it ([`Behaviour::buffer`]).
    pub body: Option<Vec<u8>>,
}

impl Call {
    /// The target's path (without the query).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The first value of query parameter `name`, decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// Sets header `name` (replacing every field of that name).
    pub fn set_header(&mut self, name: &str, value: &str) {
        set_in(&mut self.headers, name, value);
    }

    /// Removes every field named `name`.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Whether the request has a body (a non-zero `Content-Length`, or chunked).
    pub fn has_body(&self) -> bool {
        self.length != Some(0)
    }
}

/// The head of the registry's response, as a [`Behaviour`] may change it.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The status code (the reason phrase sent follows it).
    pub status: u16,
    /// The header fields, in order.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// Sets header `name` (replacing every field of that name, or added).
    pub fn set_header(&mut self, name: &str, value: &str) {
        set_in(&mut self.headers, name, value);
    }

    /// Removes every field named `name`.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

/// A response a [`Behaviour`] gives instead of the registry's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header fields (`Content-Length` is added).
    pub headers: Vec<(String, String)>,
    /// The body (not sent to a `HEAD`).
    pub body: Vec<u8>,
}

impl Reply {
    /// `status` with no body.
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body and its `Content-Type`.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        set_in(&mut self.headers, "Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// An OCI error response: `{"errors":[{"code","message","detail":null}]}`, as
    /// distribution sends it (with `Docker-Distribution-Api-Version`).
    pub fn oci_error(status: u16, code: &str, message: &str) -> Reply {
        let body = serde_json::json!({
            "errors": [{"code": code, "message": message, "detail": null}]
        });
        Reply::new(status)
            .with_header("Docker-Distribution-Api-Version", "registry/2.0")
            .with_body(
                "application/json; charset=utf-8",
                format!("{body}\n").into_bytes(),
            )
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: &str) -> Reply {
        Reply::new(status).with_body("text/plain; charset=utf-8", text.as_bytes().to_vec())
    }

    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (n, v) in &self.headers {
            if !n.eq_ignore_ascii_case("content-length") {
                head += &format!("{n}: {v}\r\n");
            }
        }
        head += &format!("Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The usual reason phrase of `code`.
fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn set_in(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    match headers
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some(i) => {
            headers[i].1 = value.to_owned();
            let mut seen = 0;
            headers.retain(|(n, _)| {
                let same = n.eq_ignore_ascii_case(name);
                seen += usize::from(same);
                !same || seen == 1
            });
        }
        None => headers.push((name.to_owned(), value.to_owned())),
    }
}

/// State shared by the proxy handle, the accept thread and the connection threads.
struct Shared {
    upstream: SocketAddr,
    /// Terminate TLS on the client side with this configuration.
    tls: Option<Arc<rustls::ServerConfig>>,
    behaviour: Mutex<Option<Arc<dyn Behaviour>>>,
    stop: AtomicBool,
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Exchange>>,
    connections: AtomicUsize,
    /// Every open socket (client and upstream), by connection, to shut down on drop.
    sockets: Mutex<HashMap<u64, Vec<TcpStream>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn behaviour(&self) -> Option<Arc<dyn Behaviour>> {
        lock(&self.behaviour).clone()
    }

    /// The fault for this request, consuming one use of the rule that gives it.
    fn take_fault(&self, method: &str, target: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let mut chosen = None;
        for (i, rule) in rules.iter_mut().enumerate() {
            if !rule.matches(method, target) {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            if rule.times != usize::MAX {
                rule.times -= 1;
            }
            chosen = Some((i, rule.fault.clone(), rule.times == 0));
            break;
        }
        let (i, fault, used_up) = chosen?;
        if used_up {
            rules.remove(i);
        }
        Some(fault)
    }

    fn record(&self, exchange: Exchange) -> usize {
        let mut log = lock(&self.log);
        log.push(exchange);
        log.len() - 1
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut Exchange)) {
        if let Some(e) = lock(&self.log).get_mut(index) {
            f(e);
        }
    }

    /// Keeps `stream` to shut it down on drop (at once if the proxy is already stopping).
    fn register(&self, id: u64, stream: &TcpStream) {
        if let Ok(clone) = stream.try_clone() {
            lock(&self.sockets).entry(id).or_default().push(clone);
        }
        if self.stopped() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Sleeps `d`, or less if the proxy stops.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopped() {
            let now = Instant::now();
            if now >= end {
                break;
            }
            thread::sleep((end - now).min(Duration::from_millis(10)));
        }
    }
}

/// The proxy: listening on `127.0.0.1:<port>` until dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// A proxy in front of `upstream` (a plain-http server), with no rules yet.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        FaultProxy::start_with(upstream, None)
    }

    /// A proxy speaking https (with `tls`, e.g. [`TestPki::server_config`]) to its clients
    /// and plain http to `upstream`; it adds `X-Forwarded-Proto: https` to every request it
    /// forwards.
    ///
    /// [`TestPki::server_config`]: crate::TestPki::server_config
    pub fn start_tls(upstream: SocketAddr, tls: Arc<rustls::ServerConfig>) -> FaultProxy {
        FaultProxy::start_with(upstream, Some(tls))
    }

    fn start_with(upstream: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().expect("fault proxy address");
        let shared = Arc::new(Shared {
            upstream,
            tls,
            behaviour: Mutex::new(None),
            stop: AtomicBool::new(false),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            sockets: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        });
        let accepting = shared.clone();
        let accept = thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(&listener, &accepting))
            .expect("spawn the fault proxy");
        FaultProxy {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// A proxy in front of a [`Mode::Plain`] registry (panics for the https modes: the proxy
    /// speaks plain http only).
    pub fn for_registry(registry: &TestRegistry) -> FaultProxy {
        assert_eq!(
            registry.mode(),
            Mode::Plain,
            "the fault proxy needs a plain-http registry"
        );
        FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], registry.port())))
    }

    /// `127.0.0.1:PORT`, what the client's host (`DXF_HOST`) is set to.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registry's address.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Whether clients speak https to the proxy ([`FaultProxy::start_tls`]).
    pub fn is_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// `https://127.0.0.1:PORT` or `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Installs `behaviour` for every request from now on (replacing any earlier one).
    pub fn set_behaviour(&self, behaviour: Arc<dyn Behaviour>) -> &FaultProxy {
        *lock(&self.shared.behaviour) = Some(behaviour);
        self
    }

    /// Adds a rule after the existing ones.
    pub fn add(&self, rule: Rule) -> &FaultProxy {
        lock(&self.shared.rules).push(rule);
        self
    }

    /// Removes every rule not used up yet.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// The rules not used up yet (with their remaining `skip` and `times`).
    pub fn pending(&self) -> Vec<Rule> {
        lock(&self.shared.rules).clone()
    }

    /// Every request received so far, in order of arrival.
    pub fn log(&self) -> Vec<Exchange> {
        lock(&self.shared.log).clone()
    }

    /// Clears the log.
    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Requests received.
    pub fn requests(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// Requests whose head was sent to the registry.
    pub fn forwarded(&self) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.forwarded)
            .count()
    }

    /// Requests a fault was applied to.
    pub fn faults_applied(&self) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.fault.is_some())
            .count()
    }

    /// Request body bytes forwarded to the registry.
    pub fn bytes_up(&self) -> u64 {
        lock(&self.shared.log).iter().map(|e| e.request_bytes).sum()
    }

    /// Response body bytes forwarded to clients.
    pub fn bytes_down(&self) -> u64 {
        lock(&self.shared.log)
            .iter()
            .map(|e| e.response_bytes)
            .sum()
    }

    /// Client connections accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for streams in lock(&self.shared.sockets).values() {
            for s in streams {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        let threads = std::mem::take(&mut *lock(&self.shared.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopped() {
            break;
        }
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        shared.register(id, &stream);
        let conn = shared.clone();
        let spawned = thread::Builder::new()
            .name(format!("fault-proxy-{id}"))
            .spawn(move || {
                serve(&conn, id, stream);
                lock(&conn.sockets).remove(&id);
            });
        if let Ok(handle) = spawned {
            let mut threads = lock(&shared.threads);
            threads.retain(|t| !t.is_finished());
            threads.push(handle);
        }
    }
}

/// A parsed request or response head: the start line and the header fields, in order.
#[derive(Clone, Debug)]
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(raw: &[u8]) -> io::Result<Head> {
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
        let start = lines.next().unwrap_or_default().to_owned();
        if start.split_whitespace().count() < 2 {
            return Err(bad(format!("bad start line {start:?}")));
        }
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("bad header line {line:?}")))?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Ok(Head { start, headers })
    }

    /// The method and target of a request head.
    fn method_target(&self) -> (String, String) {
        let mut parts = self.start.split_whitespace();
        let method = parts.next().unwrap_or_default().to_ascii_uppercase();
        let target = parts.next().unwrap_or_default().to_owned();
        (method, target)
    }

    /// The status code of a response head.
    fn status(&self) -> io::Result<u16> {
        self.start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {:?}", self.start)))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header (any of its fields) lists `token`.
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn set(&mut self, name: &str, value: &str) {
        set_in(&mut self.headers, name, value);
    }

    /// Removes the query string from a request head's target.
    fn strip_query(&mut self) {
        let mut parts: Vec<String> = self.start.split(' ').map(str::to_owned).collect();
        if let Some(target) = parts.get_mut(1) {
            if let Some((path, _)) = target.split_once('?') {
                *target = path.to_owned();
            }
        }
        self.start = parts.join(" ");
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (n, v) in &self.headers {
            out += &format!("{n}: {v}\r\n");
        }
        out += "\r\n";
        out.into_bytes()
    }

    /// How the body of a request with this head is framed.
    fn request_framing(&self) -> io::Result<Framing> {
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        match self.get("content-length") {
            None => Ok(Framing::Length(0)),
            Some(v) => v
                .parse()
                .map(Framing::Length)
                .map_err(|_| bad(format!("bad Content-Length {v:?}"))),
        }
    }

    /// How the body of a response with this head, to a request of `method`, is framed.
    fn response_framing(&self, method: &str, status: u16) -> io::Result<Framing> {
        if method == "HEAD" || status < 200 || status == 204 || status == 304 {
            return Ok(Framing::Length(0));
        }
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        match self.get("content-length") {
            None => Ok(Framing::UntilClose),
            Some(v) => v
                .parse()
                .map(Framing::Length)
                .map_err(|_| bad(format!("bad Content-Length {v:?}"))),
        }
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Exactly this many bytes (0: no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// Reads one message head (start line to the blank line); `None` at a clean EOF before it.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r
            .by_ref()
            .take(MAX_HEAD as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        let blank = line == b"\r\n" || line == b"\n";
        if blank && head.is_empty() {
            continue; // stray CRLF between messages
        }
        head.extend_from_slice(&line);
        if blank {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Err(bad("message head too large".into()));
        }
    }
}

/// Where a relayed body goes.
enum Sink<'a> {
    /// Nowhere (read and discarded).
    Discard,
    /// To a peer, framed as `framing` (the framing it came with).
    Peer(&'a mut dyn Write),
    /// To a peer, chunked whatever framing it came with.
    Rechunk(&'a mut dyn Write),
    /// Into a buffer, unframed.
    Collect(&'a mut Vec<u8>),
}

/// How a body relay ended.
#[derive(Debug, PartialEq, Eq)]
enum Relayed {
    /// The whole body went through.
    Complete,
    /// The fault's byte limit was reached with more body to come.
    Cut,
    /// The source ended early or failed, or the sink failed.
    Broken,
}

/// What a fault does to a body in transit, and how much of it has passed.
struct Tap<'a> {
    cut_after: Option<u64>,
    corrupt_at: Option<u64>,
    done: u64,
    /// Called with each count of bytes about to be written.
    count: &'a mut dyn FnMut(u64),
}

impl Sink<'_> {
    fn data(&mut self, framing: Framing, data: &[u8]) -> io::Result<()> {
        match self {
            Sink::Discard => Ok(()),
            Sink::Collect(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            Sink::Peer(w) if framing == Framing::Chunked => {
                let mut out = format!("{:x}\r\n", data.len()).into_bytes();
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
                w.write_all(&out)
            }
            Sink::Rechunk(w) => {
                let mut out = format!("{:x}\r\n", data.len()).into_bytes();
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
                w.write_all(&out)
            }
            Sink::Peer(w) => w.write_all(data),
        }
    }

    fn chunked_end(&mut self, trailers: &[u8]) -> io::Result<()> {
        match self {
            Sink::Peer(w) | Sink::Rechunk(w) => {
                let mut out = b"0\r\n".to_vec();
                out.extend_from_slice(trailers);
                out.extend_from_slice(b"\r\n");
                w.write_all(&out)
            }
            _ => Ok(()),
        }
    }

    /// The end of a body that did not come chunked.
    fn unchunked_end(&mut self) -> io::Result<()> {
        match self {
            Sink::Rechunk(w) => w.write_all(b"0\r\n\r\n"),
            _ => Ok(()),
        }
    }
}

/// Passes `data` (one piece of body) through the tap to the sink; `Ok(false)` once the cut
/// point is reached with bytes left over.
fn pass(
    tap: &mut Tap<'_>,
    sink: &mut Sink<'_>,
    framing: Framing,
    data: &mut [u8],
) -> io::Result<bool> {
    let start = tap.done;
    if let Some(at) = tap.corrupt_at {
        if at >= start && at - start < data.len() as u64 {
            let i = (at - start) as usize;
            data[i] = !data[i];
        }
    }
    let (keep, cut) = match tap.cut_after {
        Some(limit) if start + data.len() as u64 > limit => ((limit - start) as usize, true),
        _ => (data.len(), false),
    };
    if keep > 0 {
        (tap.count)(keep as u64);
        sink.data(framing, &data[..keep])?;
        tap.done += keep as u64;
    }
    Ok(!cut)
}

/// Relays one body from `src` to `sink` through `tap`.
fn relay_body(
    src: &mut impl BufRead,
    sink: &mut Sink<'_>,
    framing: Framing,
    tap: &mut Tap<'_>,
) -> Relayed {
    if tap.cut_after == Some(0) {
        return Relayed::Cut;
    }
    match relay_inner(src, sink, framing, tap) {
        Ok(true) => Relayed::Complete,
        Ok(false) => Relayed::Cut,
        Err(_) => Relayed::Broken,
    }
}

fn relay_inner(
    src: &mut impl BufRead,
    sink: &mut Sink<'_>,
    framing: Framing,
    tap: &mut Tap<'_>,
) -> io::Result<bool> {
    let mut buf = vec![0u8; RELAY_CHUNK];
    match framing {
        Framing::Length(mut left) => {
            while left > 0 {
                let want = left.min(RELAY_CHUNK as u64) as usize;
                let n = src.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                left -= n as u64;
                if !pass(tap, sink, framing, &mut buf[..n])? {
                    return Ok(false);
                }
            }
            sink.unchunked_end()?;
            Ok(true)
        }
        Framing::UntilClose => loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                sink.unchunked_end()?;
                return Ok(true);
            }
            if !pass(tap, sink, framing, &mut buf[..n])? {
                return Ok(false);
            }
        },
        Framing::Chunked => loop {
            let mut line = Vec::new();
            src.by_ref().take(4096).read_until(b'\n', &mut line)?;
            if !line.ends_with(b"\n") {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let text = String::from_utf8_lossy(&line);
            let size_text = text.split(';').next().unwrap_or_default().trim();
            let mut left = u64::from_str_radix(size_text, 16)
                .map_err(|_| bad(format!("bad chunk size line {text:?}")))?;
            if left == 0 {
                let mut trailers = Vec::new();
                loop {
                    let mut t = Vec::new();
                    src.by_ref()
                        .take(MAX_HEAD as u64)
                        .read_until(b'\n', &mut t)?;
                    if !t.ends_with(b"\n") {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    if t == b"\r\n" || t == b"\n" {
                        break;
                    }
                    trailers.extend_from_slice(&t);
                }
                sink.chunked_end(&trailers)?;
                return Ok(true);
            }
            while left > 0 {
                let want = left.min(RELAY_CHUNK as u64) as usize;
                let n = src.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                left -= n as u64;
                if !pass(tap, sink, framing, &mut buf[..n])? {
                    return Ok(false);
                }
            }
            let mut crlf = Vec::new();
            src.by_ref().take(2).read_until(b'\n', &mut crlf)?;
            if !crlf.ends_with(b"\n") {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        },
    }
}

/// The response the proxy sends for [`Fault::Status`] (without its body for a `HEAD`).
fn status_response(code: u16, retry_after: Option<u32>, head_only: bool) -> Vec<u8> {
    let (reason, oci) = match code {
        429 => ("Too Many Requests", "TOOMANYREQUESTS"),
        500 => ("Internal Server Error", "UNKNOWN"),
        502 => ("Bad Gateway", "UNAVAILABLE"),
        503 => ("Service Unavailable", "UNAVAILABLE"),
        504 => ("Gateway Timeout", "UNAVAILABLE"),
        _ => ("Injected", "UNKNOWN"),
    };
    let body = format!(
        "{{\"errors\":[{{\"code\":\"{oci}\",\"message\":\"injected {code} (fault proxy)\",\"detail\":null}}]}}\n"
    );
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(secs) = retry_after {
        head += &format!("Retry-After: {secs}\r\n");
    }
    head += "\r\n";
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// The connection to the registry serving one client connection.
struct Upstream {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Upstream {
    fn connect(shared: &Shared, id: u64) -> io::Result<Upstream> {
        let stream = TcpStream::connect_timeout(&shared.upstream, CONNECT_TIMEOUT)?;
        let _ = stream.set_nodelay(true);
        shared.register(id, &stream);
        Ok(Upstream {
            writer: stream.try_clone()?,
            reader: BufReader::with_capacity(RELAY_CHUNK, stream),
        })
    }

    /// Whether the idle connection is still open: nothing buffered, and a non-blocking
    /// peek finds no EOF (nor stray bytes).
    fn is_alive(&self) -> bool {
        if !self.reader.buffer().is_empty() || self.writer.set_nonblocking(true).is_err() {
            return false;
        }
        let alive = matches!(
            self.writer.peek(&mut [0u8; 1]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        );
        alive && self.writer.set_nonblocking(false).is_ok()
    }
}

/// A TLS connection to a client (one thread uses it, for reading and writing in turn).
type TlsStream = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// The client side of a connection: plain, or TLS terminated here.
enum ClientIo {
    Plain(TcpStream),
    Tls(Rc<RefCell<TlsStream>>),
}

impl ClientIo {
    fn try_clone(&self) -> io::Result<ClientIo> {
        Ok(match self {
            ClientIo::Plain(s) => ClientIo::Plain(s.try_clone()?),
            ClientIo::Tls(t) => ClientIo::Tls(Rc::clone(t)),
        })
    }
}

impl Read for ClientIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientIo::Plain(s) => s.read(buf),
            ClientIo::Tls(t) => t.borrow_mut().read(buf),
        }
    }
}

impl Write for ClientIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientIo::Plain(s) => s.write(buf),
            ClientIo::Tls(t) => t.borrow_mut().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientIo::Plain(s) => s.flush(),
            ClientIo::Tls(t) => t.borrow_mut().flush(),
        }
    }
}

/// Serves one client connection until either side closes, a fault cuts it, or the proxy
/// stops; then closes both connections.
fn serve(shared: &Shared, id: u64, client: TcpStream) {
    let _ = client.set_nodelay(true);
    let Ok(raw) = client.try_clone() else {
        return;
    };
    let io = match &shared.tls {
        None => ClientIo::Plain(client),
        Some(config) => match rustls::ServerConnection::new(Arc::clone(config)) {
            Ok(conn) => ClientIo::Tls(Rc::new(RefCell::new(rustls::StreamOwned::new(
                conn, client,
            )))),
            Err(_) => return,
        },
    };
    let Ok(mut to_client) = io.try_clone() else {
        return;
    };
    let mut from_client = BufReader::with_capacity(RELAY_CHUNK, io);
    let mut upstream: Option<Upstream> = None;
    while !shared.stopped() {
        if exchange(shared, id, &mut from_client, &mut to_client, &mut upstream).is_none() {
            break;
        }
    }
    let _ = to_client.flush();
    let _ = raw.shutdown(Shutdown::Both);
    if let Some(up) = upstream {
        let _ = up.writer.shutdown(Shutdown::Both);
    }
}

/// A tap that only counts into `count`.
fn counting_tap(count: &mut dyn FnMut(u64)) -> Tap<'_> {
    Tap {
        cut_after: None,
        corrupt_at: None,
        done: 0,
        count,
    }
}

/// One request and its response; `None` when the connection must be closed.
fn exchange(
    shared: &Shared,
    id: u64,
    from_client: &mut BufReader<ClientIo>,
    to_client: &mut ClientIo,
    upstream: &mut Option<Upstream>,
) -> Option<()> {
    let raw = read_head(from_client).ok()??;
    let mut request = Head::parse(&raw).ok()?;
    let (method, target) = request.method_target();
    let index = shared.record(Exchange {
        method: method.clone(),
        target: target.clone(),
        fault: None,
        forwarded: false,
        request_bytes: 0,
        request_chunked: false,
        status: None,
        response_bytes: 0,
    });
    let mut framing = request.request_framing().ok()?;
    shared.update(index, |e| e.request_chunked = framing == Framing::Chunked);
    let client_close = request.has_token("connection", "close");
    if request.has_token("expect", "100-continue") {
        request.remove("expect");
        if framing != Framing::Length(0) {
            to_client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
            to_client.flush().ok()?;
        }
    }

    // The behaviour first: it may read the body, rewrite the request or answer it.
    let behaviour = shared.behaviour();
    let mut call = behaviour.as_ref().map(|_| Call {
        connection: id,
        method: method.clone(),
        target: target.clone(),
        headers: request.headers.clone(),
        length: match framing {
            Framing::Length(n) => Some(n),
            _ => None,
        },
        body: None,
    });
    if let (Some(b), Some(call)) = (&behaviour, call.as_mut()) {
        if b.buffer(call) {
            let mut body = Vec::new();
            let mut ignore = |_| {};
            let mut tap = counting_tap(&mut ignore);
            if relay_body(
                from_client,
                &mut Sink::Collect(&mut body),
                framing,
                &mut tap,
            ) != Relayed::Complete
            {
                b.broken(call);
                return None;
            }
            call.body = Some(body);
        }
        if let Some(reply) = b.request(call) {
            if call.body.is_none() {
                let mut ignore = |_| {};
                let mut tap = counting_tap(&mut ignore);
                if relay_body(from_client, &mut Sink::Discard, framing, &mut tap)
                    != Relayed::Complete
                {
                    b.broken(call);
                    return None;
                }
            }
            shared.update(index, |e| e.status = Some(reply.status));
            to_client
                .write_all(&reply.to_bytes(method == "HEAD"))
                .ok()?;
            to_client.flush().ok()?;
            return (!client_close).then_some(());
        }
        request.start = format!(
            "{} {} {}",
            method,
            call.target,
            request
                .start
                .split_whitespace()
                .nth(2)
                .unwrap_or("HTTP/1.1")
        );
        request.headers = call.headers.clone();
        if let Some(body) = &call.body {
            request.remove("transfer-encoding");
            request.set("Content-Length", &body.len().to_string());
            framing = Framing::Length(body.len() as u64);
        }
    }
    let buffered: Option<Vec<u8>> = call.as_mut().and_then(|c| c.body.take());
    let broken = |call: &Option<Call>| {
        if let (Some(b), Some(c)) = (&behaviour, call) {
            b.broken(c);
        }
    };

    let fault = shared.take_fault(&method, &target);
    shared.update(index, |e| e.fault = fault.clone());

    if let Some(Fault::Status { code, retry_after }) = fault {
        if buffered.is_none() {
            let mut ignore = |_| {};
            let mut tap = counting_tap(&mut ignore);
            if relay_body(from_client, &mut Sink::Discard, framing, &mut tap) != Relayed::Complete {
                return None;
            }
        }
        shared.update(index, |e| e.status = Some(code));
        to_client
            .write_all(&status_response(code, retry_after, method == "HEAD"))
            .ok()?;
        to_client.flush().ok()?;
        return (!client_close).then_some(());
    }

    // A kept-alive upstream connection the registry has closed meanwhile is replaced, so
    // that only scripted faults ever reach the client.
    if upstream.as_ref().is_some_and(|up| !up.is_alive()) {
        if let Some(up) = upstream.take() {
            let _ = up.writer.shutdown(Shutdown::Both);
        }
    }
    if upstream.is_none() {
        *upstream = Some(Upstream::connect(shared, id).ok()?);
    }
    let up = upstream.as_mut()?;
    shared.update(index, |e| e.forwarded = true);
    if fault == Some(Fault::StripQuery) {
        request.strip_query();
    }
    if shared.tls.is_some() {
        request.set("X-Forwarded-Proto", "https");
    }
    up.writer.write_all(&request.to_bytes()).ok()?;
    let mut count_up = |n| shared.update(index, |e| e.request_bytes += n);
    let mut tap = Tap {
        cut_after: match fault {
            Some(Fault::CloseRequestAfter(n)) => Some(n),
            _ => None,
        },
        corrupt_at: None,
        done: 0,
        count: &mut count_up,
    };
    let sent = match buffered {
        Some(body) => relay_body(
            &mut Cursor::new(body),
            &mut Sink::Peer(&mut up.writer),
            framing,
            &mut tap,
        ),
        None => relay_body(
            from_client,
            &mut Sink::Peer(&mut up.writer),
            framing,
            &mut tap,
        ),
    };
    if sent != Relayed::Complete {
        broken(&call);
        return None;
    }

    // The response, after any interim (1xx) ones.
    let (mut response, status) = loop {
        let Some(raw) = read_head(&mut up.reader).ok().flatten() else {
            broken(&call);
            return None;
        };
        let head = Head::parse(&raw).ok()?;
        let status = head.status().ok()?;
        if (100..200).contains(&status) && status != 101 {
            to_client.write_all(&raw).ok()?;
            continue;
        }
        break (head, status);
    };
    let framing = response.response_framing(&method, status).ok()?;
    let mut rechunk = false;
    let mut sent_status = status;
    if let (Some(b), Some(call)) = (&behaviour, &call) {
        let mut answer = Answer {
            status,
            headers: response.headers.clone(),
        };
        b.response(call, &mut answer);
        if answer.status != status {
            response.start = format!("HTTP/1.1 {} {}", answer.status, reason(answer.status));
            sent_status = answer.status;
        }
        response.headers = answer.headers;
        rechunk = framing != Framing::Chunked
            && framing != Framing::Length(0)
            && response.has_token("transfer-encoding", "chunked");
        if rechunk {
            response.remove("content-length");
        }
    }
    match &fault {
        Some(Fault::DropResponse) => return None,
        Some(Fault::Delay(d)) => shared.sleep(*d),
        Some(Fault::WrongDigest(d)) => response.set("Docker-Content-Digest", d),
        Some(Fault::SetHeader(name, value)) => response.set(name, value),
        _ => {}
    }
    if shared.stopped() {
        return None;
    }
    let server_close = response.has_token("connection", "close");
    shared.update(index, |e| e.status = Some(sent_status));
    to_client.write_all(&response.to_bytes()).ok()?;
    let mut count_down = |n| shared.update(index, |e| e.response_bytes += n);
    let mut tap = Tap {
        cut_after: match fault {
            Some(Fault::CloseResponseAfter(n)) => Some(n),
            _ => None,
        },
        corrupt_at: match fault {
            Some(Fault::CorruptByte(at)) => Some(at),
            _ => None,
        },
        done: 0,
        count: &mut count_down,
    };
    let relayed = if rechunk {
        relay_body(
            &mut up.reader,
            &mut Sink::Rechunk(to_client),
            framing,
            &mut tap,
        )
    } else {
        relay_body(
            &mut up.reader,
            &mut Sink::Peer(to_client),
            framing,
            &mut tap,
        )
    };
    if relayed != Relayed::Complete {
        return None;
    }
    let _ = to_client.flush();
    if fault == Some(Fault::CloseAfterResponse) {
        return None;
    }
    (!(client_close || server_close || framing == Framing::UntilClose)).then_some(())
}

/// A response read by [`direct`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectResponse {
    /// The status code.
    pub status: u16,
    /// The header fields, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body (unframed).
    pub body: Vec<u8>,
}

impl DirectResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` (no body, `Connection: close`) straight to `host` (`127.0.0.1:PORT`)
/// and reads the whole response — to look at the registry without the proxy in between,
/// or at the proxy without a client library in between. An early end of the response body
/// is an `UnexpectedEof` error.
pub fn direct(host: &str, method: &str, path: &str) -> io::Result<DirectResponse> {
    let stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    writer.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut reader = BufReader::new(stream);
    let raw = read_head(&mut reader)?.ok_or(io::ErrorKind::UnexpectedEof)?;
    let head = Head::parse(&raw)?;
    let status = head.status()?;
    let framing = head.response_framing(&method.to_ascii_uppercase(), status)?;
    let mut body = Vec::new();
    let mut ignore = |_| {};
    let mut tap = Tap {
        cut_after: None,
        corrupt_at: None,
        done: 0,
        count: &mut ignore,
    };
    match relay_body(
        &mut reader,
        &mut Sink::Collect(&mut body),
        framing,
        &mut tap,
    ) {
        Relayed::Complete => Ok(DirectResponse {
            status,
            headers: head.headers,
            body,
        }),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("response body ended early after {} bytes", body.len()),
        )),
    }
}

/// Whether the registry `reg` — asked directly, bypassing any proxy — holds `data` under
/// its digest in `repo`: `false` when absent, `true` when present with exactly these
/// bytes. A wrong blob stored under the digest, or any other answer, fails the test.
#[track_caller]
pub fn registry_holds(reg: &TestRegistry, repo: &str, data: &[u8]) -> bool {
    let d = crate::cli::sha256(data);
    let path = format!("/v2/{repo}/blobs/{d}");
    let head = direct(&reg.host(), "HEAD", &path).unwrap();
    match head.status {
        404 => false,
        200 => {
            let get = direct(&reg.host(), "GET", &path).unwrap();
            assert_eq!(get.status, 200, "GET {path}");
            assert!(get.body == data, "a wrong blob is stored under {d}");
            true
        }
        s => panic!("HEAD {path}: {s}"),
    }
}
