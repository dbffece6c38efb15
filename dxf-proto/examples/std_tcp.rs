//! A third driver for dxf-proto, with no HTTP library at all: pushes a file as a blob and
//! pulls it back through the blob verifier, with token auth, speaking HTTP/1.1 by hand over
//! `std::net::TcpStream`. It is the crate docs' "Embedding dxf-proto in any HTTP stack"
//! made runnable: every protocol decision (auth, tokens, retries, redirects, upload
//! sessions, digest checks) is dxf-proto's; everything in this file is IO.
//!
//! ```text
//! cargo run -p dxf-proto --example std_tcp -- HOST:PORT REPOSITORY USERNAME PASSWORD FILE [MODE]
//! ```
//!
//! MODE is how the file goes up: `put` (the default: one monolithic `PUT` whose body is a
//! [`Body::Source`] range of the file), `chunks` (`PATCH`es of 64 KiB `Body::Source`
//! ranges), `stream` (read as a stream of unknown length: [`Step::NeedSource`], then
//! `Body::Bytes` chunks) or `relay` (one `PATCH` relaying the file as a [`Body::Stream`],
//! hashed by dxf-proto as it goes out). It prints `pushed DIGEST SIZE`, then
//! `pulled DIGEST SIZE verified`; any failure is one line on stderr and exit code 1.
//!
//! There is no TLS here, so the registry is plain `http://` — in CI, CNCF distribution on
//! loopback with a token server (`tests/tests/embedding_example.rs`). Credentials and tokens
//! over plain http are readable by anyone on the path: this driver allows them only when the
//! registry's address is a loopback one (dxf-proto refuses them otherwise).
//!
//! One connection per request (`Connection: close`) keeps the code short; a real stack
//! would keep connections alive. dxf-proto does not care either way.

// This is the driver: IO and the clock live here. (dxf-proto's clippy.toml bans them from
// the crate, and that file applies to its examples too.)
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::error::Error as StdError;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dxf_proto::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use dxf_proto::http::{self, HeaderName, HeaderValue, Method, StatusCode};
use dxf_proto::{
    Body, BodyBounds, BodyPlan, BodyWatch, Bounds, Credentials, Digest, GetBlob, Operation,
    Recovery, Request, Scheme, Scoped, Session, Sha256, Step, UnixTime, Upload, UploadMode,
    UploadOptions,
};

type Result<T, E = Box<dyn StdError>> = std::result::Result<T, E>;

/// Chunk size of the `chunks` and `stream` modes.
const CHUNK: u64 = 64 * 1024;
/// Bytes moved per read or write.
const BUF: usize = 64 * 1024;
/// The longest line of a response head (status line, header, chunk size).
const MAX_LINE: u64 = 16 * 1024;
/// The most header (or trailer) lines of one response.
const MAX_HEADERS: usize = 128;

const USAGE: &str =
    "usage: std_tcp HOST:PORT REPOSITORY USERNAME PASSWORD FILE [put|chunks|stream|relay]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("std_tcp: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let [host, repo, username, password, path, rest @ ..] = args else {
        return Err(USAGE.into());
    };
    let mode = rest.first().map_or("put", String::as_str);
    let addrs = host
        .to_socket_addrs()
        .or_else(|_| (host.as_str(), 80).to_socket_addrs());
    let loopback = addrs?.all(|a| a.ip().is_loopback());
    let session = Session::new(host, Scheme::Http)?
        .with_credentials(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        })
        // Over plain http, the password (to the token server) and the tokens travel in
        // clear: allowed for a registry on loopback only.
        .with_credentials_over_http(loopback)
        // Retry backoffs are jittered from this seed (dxf-proto reads no randomness).
        .with_jitter_seed(u64::from(
            SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos(),
        ));
    let repo = session.repository(repo)?;
    let mut driver = Driver {
        session,
        source: File::open(path)?,
    };

    // Push. Always upload (python-dxf's default asks first and skips a blob that is there).
    let len = driver.source.metadata()?.len();
    let options = UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Chunked,
        chunk_size: Some(CHUNK),
    };
    let upload = match mode {
        "put" | "chunks" => {
            let digest = sha256_of(&mut driver.source)?;
            let mode = match mode {
                "put" => UploadMode::Monolithic,
                _ => UploadMode::Chunked,
            };
            let options = UploadOptions { mode, ..options };
            Upload::known(&driver.session, &repo, &digest, len, &options)?
        }
        "stream" => Upload::stream(&driver.session, &repo, None, &options)?,
        "relay" => Upload::sized_stream(&driver.session, &repo, len, None, &options)?,
        other => return Err(format!("unknown mode {other:?}\n{USAGE}").into()),
    };
    driver.source.rewind()?;
    let (pushed, _) = driver.run(upload)?;
    println!("pushed {} {}", pushed.digest, pushed.size);

    // Pull it back. The body is never buffered whole: every piece goes through the verifier
    // (a real client also writes it to a temporary file), and only `finish()` says the blob
    // is good (then the file may be renamed into place).
    let get = GetBlob::new(&driver.session, &repo, &pushed.digest, Some(pushed.size))?;
    let (download, body) = driver.run(get)?;
    let mut body = body.ok_or("the registry sent no blob")?;
    let mut verifier = download.verifier;
    let mut buf = vec![0; BUF];
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            break;
        }
        verifier.update(buf.get(..n).unwrap_or_default())?;
    }
    let size = verifier.bytes_seen();
    let digest = verifier.finish()?;
    println!("pulled {digest} {size} verified");
    Ok(())
}

/// The SHA-256 digest of the rest of `file`.
fn sha256_of(file: &mut File) -> Result<Digest> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; BUF];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
}

/// Wall-clock seconds since the Unix epoch: token expiry and `Retry-After` dates are
/// compared with it.
fn now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Hands what `op` reported (tokens, the token realm, upload hints) to the session, for
/// the operations that follow; returns `r`. Called after every `poll` and `handle_*` call.
fn learn<T, E>(r: Result<T, E>, session: &mut Session, op: &mut impl Operation) -> Result<T, E> {
    while let Some(event) = op.poll_session_event() {
        session.handle_event(event);
    }
    r
}

/// The driver: the session every operation starts from and learns into, and the file that
/// request bodies come from.
struct Driver {
    session: Session,
    source: File,
}

/// Why a request got no response head.
enum Failure {
    /// The network: connecting, writing, reading the head, a time bound. The operation
    /// decides what follows ([`Operation::handle_send_failure`]).
    Lost(io::Error),
    /// Our side: the file could not be read, or the operation refused a relayed piece. The
    /// run ends with this error.
    Local(Box<dyn StdError>),
}

impl Driver {
    /// Runs `op` to its end: the driving loop of the crate docs. A [`BodyPlan::Deliver`]
    /// body comes back unread beside the output.
    fn run<O: Operation + Scoped>(&mut self, op: O) -> Result<(O::Output, Option<ResponseBody>)> {
        let (mut op, mut delivered) = (self.session.start(op), None);
        loop {
            match learn(op.poll(now()), &mut self.session, &mut op)? {
                Step::Done(output) => return Ok((output, delivered)),
                Step::Wait(pause) => std::thread::sleep(pause),
                Step::NeedSource { max } => {
                    let mut piece = Vec::new();
                    let read = (&mut self.source).take(max as u64).read_to_end(&mut piece);
                    if let Err(e) = read {
                        return Err(self.abandon(&mut op, e.into()));
                    }
                    learn(op.handle_source(&piece), &mut self.session, &mut op)?;
                }
                Step::Send(req) => {
                    let host = req.uri().authority().map(|a| a.to_string());
                    let sent = learn(self.send(req, &mut op), &mut self.session, &mut op);
                    let mut response = match sent {
                        Ok(response) => response,
                        Err(Failure::Local(e)) => return Err(self.abandon(&mut op, e)),
                        Err(Failure::Lost(e)) => match op.handle_send_failure(now()) {
                            Recovery::Retry => continue,
                            Recovery::GiveUp => {
                                return Err(format!("{}: {e}", host.unwrap_or_default()).into())
                            }
                        },
                    };
                    let plan = op.handle_response(response.head, now());
                    let plan = learn(plan, &mut self.session, &mut op)?;
                    let timeouts = self.session.limits().timeouts;
                    response.body.watch(&timeouts.for_body(plan))?;
                    match plan {
                        // Dropped with its connection.
                        BodyPlan::Discard => {}
                        BodyPlan::Deliver => delivered = Some(response.body),
                        BodyPlan::Feed { limit } => {
                            // One byte past the limit lets the operation see that it is.
                            let mut bytes = Vec::new();
                            let mut body = response.body.take(limit.saturating_add(1));
                            body.read_to_end(&mut bytes)?;
                            let fed = op.handle_body(&bytes).and_then(|()| op.handle_body_end());
                            learn(fed, &mut self.session, &mut op)?;
                        }
                    }
                }
            }
        }
    }

    /// Gives `op` up after a failure on our side: sends the cleanup request it then yields
    /// (an upload cancels its registry session), and returns `error`.
    fn abandon(&mut self, op: &mut impl Operation, error: Box<dyn StdError>) -> Box<dyn StdError> {
        op.cancel();
        while let Ok(Step::Send(req)) = op.poll(now()) {
            let Ok(response) = self.send(req, op) else {
                break;
            };
            let _ = learn(
                op.handle_response(response.head, now()),
                &mut self.session,
                op,
            );
        }
        error
    }

    /// One exchange on a new connection: writes `req` — its headers as given, its body as
    /// its descriptor says — and reads the response head, within the request's time bounds.
    fn send(&mut self, req: Request, op: &mut impl Operation) -> Result<Response, Failure> {
        let bounds = self.session.limits().timeouts.for_request(&req);
        let (parts, body) = req.into_parts();
        let uri = &parts.uri;
        let (Some("http"), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            let e = format!("{uri}: this example speaks plain http only");
            return Err(Failure::Local(e.into()));
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let sent_at = Instant::now();
        let mut conn =
            connect(host, authority.port_u16().unwrap_or(80), &bounds).map_err(Failure::Lost)?;

        // The head: the request line, every header as dxf-proto set it (Authorization,
        // User-Agent, Content-Length, Content-Type, Range…), and what the connection needs.
        // No Accept-Encoding: blobs must arrive as stored.
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = format!("{} {target} HTTP/1.1\r\n", parts.method).into_bytes();
        head.extend_from_slice(format!("Host: {authority}\r\nConnection: close\r\n").as_bytes());
        for (name, value) in &parts.headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        if body == Body::StreamToEnd {
            // No length is known: the body goes out in chunks.
            head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        head.extend_from_slice(b"\r\n");

        let written = match conn.write_all(&head) {
            Ok(()) => write_body(&mut conn, body, &mut self.source, op),
            Err(e) => Err(Failure::Lost(e)),
        };
        if let Err(Failure::Local(e)) = written {
            return Err(Failure::Local(e));
        }
        // Even when writing failed: a registry may answer early (a 401, a 413) and close.
        read_response(conn, &parts.method, &bounds, sent_at).map_err(Failure::Lost)
    }
}

/// A connection to `host:port` within the connect bound; writes bounded by the idle bound.
fn connect(host: &str, port: u16, bounds: &Bounds) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
    for addr in (host, port).to_socket_addrs()? {
        let conn = match positive(bounds.connect) {
            Some(limit) => TcpStream::connect_timeout(&addr, limit),
            None => TcpStream::connect(addr),
        };
        match conn {
            Ok(conn) => {
                conn.set_write_timeout(positive(bounds.idle))?;
                return Ok(conn);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A time bound as the socket API takes it (a zero timeout is an error there).
fn positive(bound: Option<Duration>) -> Option<Duration> {
    bound.filter(|d| !d.is_zero())
}

/// Writes a request body as its descriptor says: nothing; these bytes; exactly `len` bytes
/// of the file from `offset`; or the file relayed as a stream, every piece handed to the
/// operation before it goes out (then the end, as an empty piece).
fn write_body(
    conn: &mut TcpStream,
    body: Body,
    source: &mut File,
    op: &mut impl Operation,
) -> Result<(), Failure> {
    let mut relay = |piece: &[u8]| op.handle_source(piece);
    match body {
        Body::Empty => Ok(()),
        Body::Bytes(bytes) => conn.write_all(&bytes).map_err(Failure::Lost),
        Body::Source(range) => {
            let local = |e: io::Error| Failure::Local(e.into());
            source.seek(SeekFrom::Start(range.offset)).map_err(local)?;
            let sent = copy(&mut source.take(range.len), conn, None, false)?;
            if sent != range.len {
                return Err(Failure::Local("the file shrank while it was pushed".into()));
            }
            Ok(())
        }
        Body::Stream { len } => {
            copy(&mut source.take(len), conn, Some(&mut relay), false).map(drop)
        }
        Body::StreamToEnd => copy(source, conn, Some(&mut relay), true).map(drop),
    }
}

/// Where a relayed body's pieces go before they are sent: the operation's `handle_source`.
type Relay<'a> = &'a mut dyn FnMut(&[u8]) -> Result<(), dxf_proto::Error>;

/// Copies `from` to the connection to its end — in HTTP/1.1 chunks when `chunked` — handing
/// every piece, then the end (an empty piece), to `relay` first. Returns the bytes copied.
fn copy(
    from: &mut impl Read,
    conn: &mut TcpStream,
    mut relay: Option<Relay<'_>>,
    chunked: bool,
) -> Result<u64, Failure> {
    let mut buf = vec![0; BUF];
    let mut copied = 0;
    loop {
        let n = from.read(&mut buf).map_err(|e| Failure::Local(e.into()))?;
        let piece = buf.get(..n).unwrap_or_default();
        if let Some(relay) = relay.as_mut() {
            relay(piece).map_err(|e| Failure::Local(e.into()))?;
        }
        let written = if chunked {
            // `0\r\n\r\n` at the end: the last chunk, no trailers.
            write!(conn, "{n:x}\r\n")
                .and_then(|()| conn.write_all(piece))
                .and_then(|()| conn.write_all(b"\r\n"))
        } else {
            conn.write_all(piece)
        };
        written.map_err(Failure::Lost)?;
        if n == 0 {
            return Ok(copied);
        }
        copied += n as u64;
    }
}

/// A response: its head for dxf-proto, its body still on the connection.
struct Response {
    head: http::Response<()>,
    body: ResponseBody,
}

/// Reads the response head (skipping `1xx` interim responses) within the response bound.
fn read_response(
    conn: TcpStream,
    method: &Method,
    bounds: &Bounds,
    sent_at: Instant,
) -> io::Result<Response> {
    conn.set_read_timeout(positive(bounds.response))?;
    let mut reader = BufReader::new(conn);
    let head = loop {
        let head = read_head(&mut reader)?;
        if !head.status().is_informational() {
            break head;
        }
    };
    let framing = framing(method, &head)?;
    Ok(Response {
        head,
        body: ResponseBody {
            reader,
            framing,
            watch: None,
            sent_at,
        },
    })
}

/// `HTTP/1.1 STATUS REASON`, then `Name: value` lines up to an empty one. Every status is
/// a response: 3xx, 4xx and 5xx are dxf-proto's to read, and redirects are not followed.
fn read_head(reader: &mut impl BufRead) -> io::Result<http::Response<()>> {
    let line = read_line(reader)?;
    let mut words = line.split(|&b| b == b' ');
    let (Some(version), Some(code)) = (words.next(), words.next()) else {
        return Err(invalid("no status line"));
    };
    if !version.starts_with(b"HTTP/1.") {
        return Err(invalid("not an HTTP/1.x response"));
    }
    let mut head = http::Response::new(());
    *head.status_mut() = StatusCode::from_bytes(code).map_err(invalid)?;
    for _ in 0..MAX_HEADERS {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok(head);
        }
        let colon = line.iter().position(|&b| b == b':');
        let (name, value) = line.split_at(colon.ok_or_else(|| invalid("header without ':'"))?);
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        head.headers_mut().append(
            HeaderName::from_bytes(name).map_err(invalid)?,
            HeaderValue::from_bytes(value).map_err(invalid)?,
        );
    }
    Err(invalid("too many header lines"))
}

/// One line without its line ending, at most [`MAX_LINE`] bytes.
fn read_line(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.pop() != Some(b'\n') {
        return Err(invalid("line too long, or the connection closed"));
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

fn invalid(why: impl Into<Box<dyn StdError + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// How the end of a response body is found (RFC 9112 §6.3).
enum Framing {
    /// This many bytes are left.
    Length(u64),
    /// Chunked transfer coding, at this point.
    Chunked(Chunk),
    /// Up to the end of the connection.
    ToClose,
}

/// Where a chunked body stands.
enum Chunk {
    /// A chunk-size line is next.
    Size,
    /// This many bytes of the current chunk are left.
    Data(u64),
    /// The last chunk and the trailers were read.
    End,
}

fn framing(method: &Method, head: &http::Response<()>) -> io::Result<Framing> {
    let status = head.status();
    if *method == Method::HEAD || matches!(status.as_u16(), 204 | 304) {
        return Ok(Framing::Length(0));
    }
    if let Some(coding) = head.headers().get(TRANSFER_ENCODING) {
        // No Accept-Encoding or TE was sent: `chunked` is the only coding expected.
        return match coding.as_bytes().eq_ignore_ascii_case(b"chunked") {
            true => Ok(Framing::Chunked(Chunk::Size)),
            false => Err(invalid("unsupported transfer coding")),
        };
    }
    match head.headers().get(CONTENT_LENGTH) {
        None => Ok(Framing::ToClose),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Framing::Length)
            .ok_or_else(|| invalid("bad Content-Length")),
    }
}

/// A response body as it arrives: exactly its bytes (a connection that closes early is an
/// error, never a short body), checked against the time bounds dxf-proto gave its plan.
struct ResponseBody {
    reader: BufReader<TcpStream>,
    framing: Framing,
    watch: Option<BodyWatch>,
    sent_at: Instant,
}

impl ResponseBody {
    /// Applies the bounds of [`Timeouts::for_body`](dxf_proto::Timeouts::for_body): the idle
    /// bound on every read; the whole-body deadline and the speed floor on every piece.
    fn watch(&mut self, bounds: &BodyBounds) -> io::Result<()> {
        self.reader
            .get_ref()
            .set_read_timeout(positive(bounds.idle))?;
        self.watch = Some(BodyWatch::new(
            bounds,
            Duration::ZERO,
            self.sent_at.elapsed(),
        ));
        Ok(())
    }
}

impl Read for ResponseBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.framing {
            Framing::Length(left) => {
                let n = read_at_most(&mut self.reader, buf, *left)?;
                *left -= n as u64;
                n
            }
            Framing::Chunked(chunk) => read_chunked(&mut self.reader, chunk, buf)?,
            Framing::ToClose => self.reader.read(buf)?,
        };
        if let Some(watch) = &mut self.watch {
            let elapsed = self.sent_at.elapsed();
            watch
                .on_bytes(n, elapsed)
                .map_err(|stall| io::Error::new(io::ErrorKind::TimedOut, stall))?;
        }
        Ok(n)
    }
}

/// Reads at most `left` bytes (none when `left` is 0); the connection closing first is an
/// error.
fn read_at_most(reader: &mut impl Read, buf: &mut [u8], left: u64) -> io::Result<usize> {
    let max = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
    if max == 0 {
        return Ok(0);
    }
    let n = reader.read(buf.get_mut(..max).unwrap_or_default())?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(n)
}

/// The next bytes of a chunked body: `SIZE[;ext]\r\n DATA \r\n` … `0\r\n` trailers `\r\n`.
fn read_chunked(reader: &mut impl BufRead, chunk: &mut Chunk, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match chunk {
            Chunk::End => return Ok(0),
            Chunk::Size => {
                let line = read_line(reader)?;
                let size = line.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size.trim_ascii()).map_err(invalid)?;
                match u64::from_str_radix(size, 16).map_err(invalid)? {
                    0 => {
                        for _ in 0..MAX_HEADERS {
                            if read_line(reader)?.is_empty() {
                                *chunk = Chunk::End;
                                return Ok(0);
                            }
                        }
                        return Err(invalid("too many trailer lines"));
                    }
                    size => *chunk = Chunk::Data(size),
                }
            }
            Chunk::Data(left) => {
                let n = read_at_most(reader, buf, *left)?;
                *left -= n as u64;
                if *left == 0 {
                    if !read_line(reader)?.is_empty() {
                        return Err(invalid("a chunk longer than its size"));
                    }
                    *chunk = Chunk::Size;
                }
                return Ok(n);
            }
        }
    }
}
