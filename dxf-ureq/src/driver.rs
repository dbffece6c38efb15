//! The one generic run loop: asks a [`Run`] what to do, sends what it asks with ureq,
//! streams request bodies from the caller's source and reports back. Every request gets
//! the time bounds dxf-proto gives it, and its waits obey the interrupt
//! ([`crate::transport`]). No protocol decisions: those are the [`Run`]'s.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dxf_proto::client::{
    source_read_error, Next, ObserveFn, Run, SendFailure, SentFn, SharedSession,
};
use dxf_proto::http::{Request, Response};
use dxf_proto::{Body, BodyPlan, Bounds, Interrupt, Operation, Scoped, UnixTime};
use ureq::{AsSendBody, SendBody};

use crate::error::{Error, Result};
use crate::transport::{self, io_stall, stall_of};

/// Bytes read from a fed response body at a time.
const FEED_CHUNK: usize = 64 * 1024;

/// A readable, seekable blob source.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// Where request bodies come from.
pub(crate) enum Source<'a> {
    /// No body source (every operation but uploads).
    None,
    /// A seekable source for [`Body::Source`] descriptors, and for [`Body::Stream`] bodies
    /// read from where it stands (a file relayed, then read again:
    /// [`Upload::with_seekable_source`](dxf_proto::Upload::with_seekable_source)).
    Seekable(&'a mut dyn ReadSeek),
    /// A stream for [`Next::ReadSource`] and [`Body::Stream`] bodies.
    Stream(&'a mut dyn Read),
}

/// What the transport and the protocol state share between calls.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) agent: ureq::Agent,
    /// The session, and one lock per token scope: threads needing the same token fetch
    /// it once.
    pub(crate) session: SharedSession<Mutex<()>>,
    /// Raised by the caller to give transfers up.
    pub(crate) interrupt: Interrupt,
}

pub(crate) fn now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// Reads from the caller's source (past `Interrupted`).
fn read_source(source: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match source.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// A request body read from the caller's source: one range of a seekable source
/// (`relay: false`, exactly `inner`'s limit), or a stream relayed piece by piece through
/// the run (`relay: true`, the end too). It fails once the run must be cancelled, and
/// keeps why it failed otherwise (`failure`): the run reports that, not the request ureq
/// could not send.
struct SourceBody<'r, 'a, R, O: Operation + Scoped> {
    inner: io::Take<R>,
    run: &'r mut Run<'a, O, Mutex<()>>,
    relay: bool,
    ended: bool,
    failure: Option<SendFailure>,
}

impl<R: Read, O: Operation + Scoped> SourceBody<'_, '_, R, O> {
    fn fail(&mut self, failure: SendFailure) -> io::Error {
        self.failure = Some(failure);
        io::Error::other("the upload source could not be sent")
    }
}

impl<R: Read, O: Operation + Scoped> Read for SourceBody<'_, '_, R, O> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        if self.run.abandon_now() {
            return Err(io::Error::other(dxf_proto::Error::Cancelled));
        }
        let n = match read_source(&mut self.inner, buf) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(SendFailure::Local(source_read_error(e).into()))),
        };
        self.ended = n == 0;
        if self.relay {
            if self.run.relay(buf.get(..n).unwrap_or_default()).is_err() {
                return Err(self.fail(SendFailure::Refused));
            }
        } else if n == 0 && self.inner.limit() > 0 && !buf.is_empty() {
            let e = io::Error::new(io::ErrorKind::UnexpectedEof, "blob file shrank while sent");
            return Err(self.fail(SendFailure::Local(source_read_error(e).into())));
        } else {
            self.run.sent(n);
        }
        Ok(n)
    }
}

/// Runs `op` to completion. For an operation that ends with [`BodyPlan::Deliver`], the
/// unread response body is returned beside the output.
pub(crate) fn run<'a, O: Operation + Scoped + 'a>(
    shared: &'a Arc<Shared>,
    op: O,
    source: Source<'_>,
    progress: Option<SentFn<'a>>,
) -> Result<(O::Output, Option<ureq::Body>)> {
    run_observed(shared, op, source, progress, None)
}

/// [`run`], calling `observe` after every response: the run keeps checkpoints (see
/// [`Run::with_observer`]).
pub(crate) fn run_observed<'a, O: Operation + Scoped + 'a>(
    shared: &'a Arc<Shared>,
    op: O,
    mut source: Source<'_>,
    progress: Option<SentFn<'a>>,
    observe: Option<ObserveFn<'a, O>>,
) -> Result<(O::Output, Option<ureq::Body>)> {
    let _watch = transport::watch(&shared.interrupt, observe.is_some());
    let mut run = Run::new(&shared.session, &shared.interrupt, op)
        .with_progress(progress)
        .with_observer(observe);
    let mut delivered = None;
    let mut buf = Vec::new();
    loop {
        let (req, bounds, token_scope) = match run.next(now())? {
            Next::Done(out) => return Ok((out, delivered)),
            Next::Wait(d) => {
                let until = Instant::now() + d;
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() || run.abandon_now() {
                        break;
                    }
                    std::thread::sleep(left.min(transport::SLICE));
                }
                continue;
            }
            Next::ReadSource { max } => {
                let Source::Stream(reader) = &mut source else {
                    return Err(io::Error::other("operation needs a stream source").into());
                };
                buf.resize(max.min(1 << 20), 0);
                match read_source(reader, &mut buf) {
                    Ok(n) => run.source_read(buf.get(..n).unwrap_or_default())?,
                    Err(e) => run.source_failed(source_read_error(e).into()),
                }
                continue;
            }
            Next::Send {
                request,
                bounds,
                token_scope,
            } => (request, bounds, token_scope),
        };
        // Single flight: one token request per scope at a time; whoever waited adopts the
        // token the holder fetched instead of fetching its own.
        let lock = token_scope.map(|key| shared.session.token_lock(key));
        let _token_guard = lock
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(PoisonError::into_inner));
        if _token_guard.is_some() && run.adopt_token(now()) {
            continue;
        }
        transport::set_interrupt_grace(bounds.interrupt_grace);
        let sent_at = Instant::now();
        let sent = send(&shared.agent, &bounds, req, &mut source, &mut run);
        transport::set_interrupt_grace(Some(Duration::ZERO));
        let response = match sent {
            Ok(r) => r,
            Err(failure) => {
                run.send_failed(failure, now())?;
                continue;
            }
        };
        let (parts, body) = response.into_parts();
        let plan = run.response(Response::from_parts(parts, ()), sent_at.elapsed(), now())?;
        let body_bounds = *run.body_bounds();
        transport::set_body_deadline(
            body_bounds
                .deadline
                .map(|d| (sent_at + d, dxf_proto::Stall::Body(d))),
        );
        match plan {
            BodyPlan::Discard => drain(body),
            BodyPlan::Deliver => delivered = Some(body),
            BodyPlan::Feed { .. } => {
                let mut reader = body.into_reader();
                let mut chunk = vec![0; FEED_CHUNK];
                let read = loop {
                    if run.abandon_now() {
                        break Ok(());
                    }
                    let n = match reader.read(&mut chunk) {
                        Ok(0) => break Ok(()),
                        Ok(n) => n,
                        Err(e) => {
                            break Err(match io_stall(&e, body_bounds.idle) {
                                Some(stall) => run.timed_out(stall),
                                None => body_error(e, run.host().to_owned()),
                            })
                        }
                    };
                    if let Err(e) =
                        run.body_data(chunk.get(..n).unwrap_or_default(), sent_at.elapsed())
                    {
                        break Err(e);
                    }
                };
                transport::set_body_deadline(None);
                run.body_end(read)?;
            }
        }
        transport::set_body_deadline(None);
        run.responded()?;
    }
}

/// Sends `req` (its body from `source` when it has one) and returns the response, or why
/// there is none.
fn send<O: Operation + Scoped>(
    agent: &ureq::Agent,
    bounds: &Bounds,
    req: dxf_proto::Request,
    source: &mut Source<'_>,
    run: &mut Run<'_, O, Mutex<()>>,
) -> std::result::Result<Response<ureq::Body>, SendFailure> {
    let local = |what: &str| SendFailure::Local(io::Error::other(what.to_owned()).into());
    let (parts, body) = req.into_parts();
    let (reader, len, relay): (&mut dyn Read, u64, bool) = match (body, source) {
        (Body::Empty, _) => {
            return sent(
                run,
                send_with(agent, bounds, Request::from_parts(parts, ())),
            )
        }
        (Body::Bytes(bytes), _) => {
            return sent(
                run,
                send_with(agent, bounds, Request::from_parts(parts, bytes)),
            )
        }
        (Body::Source(range), Source::Seekable(src)) => {
            if let Err(e) = src.seek(SeekFrom::Start(range.offset)) {
                return Err(SendFailure::Local(source_read_error(e).into()));
            }
            (&mut **src, range.len, false)
        }
        (Body::Source(_), _) => return Err(local("operation needs a seekable source")),
        // To its end: no length declared, so ureq sends it chunked.
        (Body::Stream { len }, Source::Stream(src)) => (&mut **src, len, true),
        (Body::Stream { len }, Source::Seekable(src)) => (&mut **src, len, true),
        (Body::StreamToEnd, Source::Stream(src)) => (&mut **src, u64::MAX, true),
        (Body::StreamToEnd, Source::Seekable(src)) => (&mut **src, u64::MAX, true),
        (_, Source::None) => return Err(local("operation needs a stream source")),
    };
    let mut body = SourceBody {
        inner: reader.take(len),
        run,
        relay,
        ended: false,
        failure: None,
    };
    let response = send_with(
        agent,
        bounds,
        Request::from_parts(parts, SendBody::from_reader(&mut body)),
    );
    match body.failure {
        Some(failure) => Err(failure),
        None => sent(body.run, response),
    }
}

/// ureq's answer as the run takes it: a response, or a transport failure.
fn sent<O: Operation + Scoped>(
    run: &Run<'_, O, Mutex<()>>,
    response: std::result::Result<Response<ureq::Body>, ureq::Error>,
) -> std::result::Result<Response<ureq::Body>, SendFailure> {
    response.map_err(|e| {
        SendFailure::Transport(match stall_of(&e, run.bounds()) {
            Some(stall) => run.timed_out(stall),
            None => crate::error::transport(run.host().to_owned(), e),
        })
    })
}

/// A failure reading a response body: the transport's, named by its host (an interrupt's
/// stays what it is).
fn body_error(e: io::Error, host: String) -> Error {
    if e.get_ref()
        .is_some_and(|inner| inner.is::<dxf_proto::Error>())
    {
        return e.into();
    }
    crate::error::transport(host, ureq::Error::Io(e))
}

/// Sends `req` with ureq's per-request timeouts set from `bounds`.
fn send_with<S: AsSendBody>(
    agent: &ureq::Agent,
    bounds: &Bounds,
    req: Request<S>,
) -> std::result::Result<Response<ureq::Body>, ureq::Error> {
    let req = agent
        .configure_request(req)
        .timeout_connect(bounds.connect)
        .timeout_recv_response(bounds.response)
        .timeout_per_read(bounds.idle)
        .timeout_per_write(bounds.idle)
        .timeout_global(bounds.whole)
        .build();
    agent.run(req)
}

/// Reads a small unwanted body to its end so the connection can be reused; a large one is
/// dropped (the connection is then closed).
fn drain(body: ureq::Body) {
    const MAX_DRAIN: u64 = 64 * 1024;
    let _ = io::copy(&mut body.into_reader().take(MAX_DRAIN), &mut io::sink());
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};

    use dxf_proto::{
        Interrupt, Repository, Scheme, Session, Sha256, Upload, UploadMode, UploadOptions,
    };

    /// `METHOD target` of every request the registry got.
    type Log = Arc<Mutex<Vec<String>>>;

    /// A minimal registry on loopback: `POST` opens session `/v2/a/blobs/uploads/1`; a
    /// body is read (as far as it comes) and answered 202 (`PATCH`) or 201 (`PUT`);
    /// `DELETE` is answered 204, anything else 404.
    fn registry() -> (String, Log) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let log = Log::default();
        let seen = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let seen = seen.clone();
                std::thread::spawn(move || serve(conn.unwrap(), &seen));
            }
        });
        (addr, log)
    }

    fn serve(conn: TcpStream, log: &Log) {
        let mut out = conn.try_clone().unwrap();
        let mut conn = BufReader::new(conn);
        loop {
            let mut line = String::new();
            if conn.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut words = line.split_whitespace();
            let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            log.lock().unwrap().push(format!("{method} {target}"));
            let mut len = 0;
            loop {
                let mut header = String::new();
                if conn.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end().to_ascii_lowercase();
                if header.is_empty() {
                    break;
                }
                if let Some(v) = header.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            if io::copy(&mut (&mut conn).take(len), &mut io::sink()).unwrap_or(0) < len {
                return;
            }
            let (status, extra) = match method {
                "POST" => (
                    "202 Accepted",
                    "Location: /v2/a/blobs/uploads/1\r\n".to_owned(),
                ),
                "PATCH" => ("202 Accepted", format!("Range: 0-{}\r\n", len - 1)),
                "PUT" => ("201 Created", String::new()),
                "DELETE" => ("204 No Content", String::new()),
                _ => ("404 Not Found", String::new()),
            };
            let head = format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\n\r\n");
            if out.write_all(head.as_bytes()).is_err() {
                return;
            }
        }
    }

    /// A blob source that fails with EIO once `fail_at` bytes were read.
    struct Failing {
        data: io::Cursor<Vec<u8>>,
        fail_at: u64,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let left = self.fail_at.saturating_sub(self.data.position());
            if left == 0 {
                return Err(io::Error::from_raw_os_error(5));
            }
            let n = buf.len().min(left as usize);
            self.data.read(&mut buf[..n])
        }
    }

    impl Seek for Failing {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.data.seek(pos)
        }
    }

    const LEN: usize = 1 << 20;

    fn failing() -> Failing {
        Failing {
            data: io::Cursor::new((0..LEN).map(|i| (i * 7 % 251) as u8).collect()),
            fail_at: 200_000,
        }
    }

    /// Runs an upload of `LEN` bytes to a fresh loopback registry: the known blob (as
    /// `mode`) from a seekable source, or (`mode` `None`) a single-pass relay of a stream.
    fn upload(
        mode: Option<UploadMode>,
        source: Source<'_>,
    ) -> (Result<dxf_proto::Pushed>, Vec<String>) {
        let (addr, log) = registry();
        let session = Session::new(&addr, Scheme::Http).unwrap();
        let repo = Repository::parse("a").unwrap();
        let options = UploadOptions {
            skip_if_exists: false,
            mode: mode.unwrap_or(UploadMode::Chunked),
            chunk_size: Some(2 * LEN as u64),
        };
        let op = match mode {
            Some(_) => {
                let mut digest = Sha256::new();
                digest.update(failing().data.get_ref());
                let digest = digest.finish();
                Upload::known(&session, &repo, &digest, LEN as u64, &options).unwrap()
            }
            None => Upload::sized_stream(&session, &repo, LEN as u64, None, &options).unwrap(),
        };
        let agent = crate::tls::agent(&crate::TransportConfig::default()).unwrap();
        let shared = Arc::new(Shared {
            agent,
            session: SharedSession::new(session),
            interrupt: Interrupt::new(),
        });
        let out = run(&shared, op, source, None).map(|(pushed, _)| pushed);
        // The abandoned request's connection is served on a thread of its own.
        let deadline = Instant::now() + Duration::from_secs(5);
        while log.lock().unwrap().len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = log.lock().unwrap().clone();
        (out, log)
    }

    #[test]
    fn a_source_that_fails_while_sent_is_a_local_error_after_the_session_is_deleted() {
        for mode in [
            Some(UploadMode::Monolithic),
            Some(UploadMode::Chunked),
            None,
        ] {
            let mut src = failing();
            let source = match mode {
                Some(_) => Source::Seekable(&mut src),
                None => Source::Stream(&mut src),
            };
            let (out, log) = upload(mode, source);
            let e = match out {
                Err(Error::Io(e)) => e,
                other => panic!("{mode:?}: {other:?}; {log:?}"),
            };
            // The source's own error, named as a read of the upload's source.
            let eio = io::Error::from_raw_os_error(5);
            assert_eq!(e.kind(), eio.kind(), "{mode:?}: {e}");
            let text = e.to_string();
            assert!(text.starts_with("reading the upload source: "), "{text}");
            assert!(text.ends_with(&eio.to_string()), "{text}");
            let inner = std::error::Error::source(e.get_ref().unwrap()).unwrap();
            let inner = inner.downcast_ref::<io::Error>().unwrap();
            assert_eq!(inner.raw_os_error(), Some(5));
            // Sent once, never retried; the session cancelled (the abandoned request may
            // be logged last).
            let mut sent: Vec<&str> = log.iter().map(String::as_str).collect();
            sent.sort_unstable();
            let body = if mode == Some(UploadMode::Monolithic) {
                "PUT /v2/a/blobs/uploads/1?digest="
            } else {
                "PATCH /v2/a/blobs/uploads/1"
            };
            assert_eq!(sent.len(), 3, "{mode:?}: {sent:?}");
            assert_eq!(sent[0], "DELETE /v2/a/blobs/uploads/1", "{mode:?}");
            assert!(sent[1..].contains(&"POST /v2/a/blobs/uploads/"), "{sent:?}");
            assert!(
                sent.iter().any(|r| r.starts_with(body)),
                "{mode:?}: {sent:?}"
            );
        }
    }

    #[test]
    fn a_relayed_stream_that_ends_early_is_refused_after_the_session_is_deleted() {
        let mut short: &[u8] = &[7; LEN / 2];
        let (out, log) = upload(None, Source::Stream(&mut short));
        let e = match out {
            Err(Error::Proto(e)) => e,
            other => panic!("{other:?}; {log:?}"),
        };
        assert_eq!(
            e,
            dxf_proto::Error::LengthMismatch {
                expected: LEN as u64,
                actual: LEN as u64 / 2
            }
        );
        let mut sent: Vec<&str> = log.iter().map(String::as_str).collect();
        sent.sort_unstable();
        assert_eq!(
            sent,
            [
                "DELETE /v2/a/blobs/uploads/1",
                "PATCH /v2/a/blobs/uploads/1",
                "POST /v2/a/blobs/uploads/",
            ]
        );
    }
}
