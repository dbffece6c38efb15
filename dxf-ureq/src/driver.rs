//! The one generic run loop: polls a dxf-proto operation, sends what it asks with ureq,
//! hands back response heads and bodies, streams request bodies from the caller's source,
//! and keeps the shared [`Session`](dxf_proto::Session) up to date. Every request gets the
//! time bounds dxf-proto gives it ([`Timeouts`](dxf_proto::Timeouts)), and its waits obey
//! the interrupt ([`crate::transport`]). No protocol decisions.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dxf_proto::client::{source_read_error, SharedSession};
use dxf_proto::http::{Request, Response};
use dxf_proto::{
    Body, BodyPlan, BodyWatch, Bounds, Interrupt, Operation, Recovery, RunInterrupt, Scoped, Stall,
    Step, UnixTime,
};
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
    /// A stream for [`Step::NeedSource`] and [`Body::Stream`] bodies.
    Stream(&'a mut dyn Read),
}

/// Called with the number of body bytes just sent from the source.
pub(crate) type Progress<'a> = Option<&'a mut dyn FnMut(u64)>;

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

/// The error a request body's reader fails with when the run is to be cancelled now.
fn cancelled() -> io::Error {
    io::Error::other(dxf_proto::Error::Cancelled)
}

/// Reads from the caller's source (past `Interrupted`). A failure is kept in `failed`,
/// named as the source's, for the run to report; the request body's reader fails with a
/// bare error (what ureq makes of it is not the answer).
fn read_source(
    source: &mut impl Read,
    buf: &mut [u8],
    failed: &mut Option<io::Error>,
) -> io::Result<usize> {
    loop {
        match source.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                *failed = Some(source_read_error(e));
                return Err(io::Error::other("the upload source could not be read"));
            }
            r => return r,
        }
    }
}

/// Reads one range of the caller's seekable source as a request body, counting bytes as
/// they are read and reporting them; fails once the run must be cancelled. A read error
/// (or a source shorter than the range) is kept in `failed`: the run reports it, not the
/// request ureq could not send.
struct Counting<'i, R, F> {
    inner: io::Take<R>,
    report: F,
    interrupt: &'i RunInterrupt,
    failed: Option<io::Error>,
}

impl<R: Read, F: FnMut(u64)> Read for Counting<'_, R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.interrupt.abandon_now() {
            return Err(cancelled());
        }
        let n = read_source(&mut self.inner, buf, &mut self.failed)?;
        if n == 0 && self.inner.limit() > 0 && !buf.is_empty() {
            let e = io::Error::new(io::ErrorKind::UnexpectedEof, "blob file shrank while sent");
            self.failed = Some(source_read_error(e));
            return Err(io::Error::other("the upload source ended early"));
        }
        (self.report)(n as u64);
        Ok(n)
    }
}

/// Relays a stream source as a request body, handing every piece (and the end) to the
/// operation before it goes out; the operation's refusal aborts the request (`refused`),
/// and so do a source that cannot be read (the error kept in `failed`) and an
/// [`Interrupt`].
struct Relay<'r, R, O, F> {
    inner: io::Take<R>,
    op: &'r mut O,
    report: F,
    ended: bool,
    refused: bool,
    failed: Option<io::Error>,
    interrupt: &'r RunInterrupt,
}

impl<R: Read, O: Operation, F: FnMut(u64)> Read for Relay<'_, R, O, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        if self.interrupt.abandon_now() {
            return Err(cancelled());
        }
        let n = read_source(&mut self.inner, buf, &mut self.failed)?;
        self.ended = n == 0;
        if let Err(e) = self.op.handle_source(buf.get(..n).unwrap_or_default()) {
            self.refused = true;
            return Err(io::Error::other(e));
        }
        (self.report)(n as u64);
        Ok(n)
    }
}

/// Runs `op` (wrapped by [`Session::start`]) to completion. For an operation that
/// ends with [`BodyPlan::Deliver`], the unread response body is returned beside the output.
/// A raised [`Interrupt`] cancels it ([`Operation::cancel`]), and so does a source that
/// cannot be read: its error is reported (as [`Error::Io`]) once the operation has cleaned
/// up (an upload's session deleted), never as the registry's network failing.
pub(crate) fn run<'a, O: Operation + Scoped>(
    shared: &Arc<Shared>,
    op: O,
    source: Source<'a>,
    progress: Progress<'a>,
) -> Result<(O::Output, Option<ureq::Body>)> {
    run_observed(shared, op, source, progress, None)
}

/// Called after every response the operation handled (to read its state); returns whether
/// the operation is at a new checkpoint, where an [`Interrupt::stop`] may end the run.
pub(crate) type Observe<'o, O> = &'o mut dyn FnMut(&O) -> bool;

/// [`run`], calling `observe` after every response; a run with `observe` keeps
/// checkpoints, so an [`Interrupt::stop`] ends it at the next one with
/// [`Error::Stopped`] instead of cancelling it.
pub(crate) fn run_observed<'a, O: Operation + Scoped>(
    shared: &Arc<Shared>,
    op: O,
    mut source: Source<'a>,
    mut progress: Progress<'a>,
    mut observe: Option<Observe<'_, O>>,
) -> Result<(O::Output, Option<ureq::Body>)> {
    let session = shared.session.snapshot();
    let timeouts = session.limits().timeouts;
    let mut op = session.start(op);
    let mut delivered = None;
    let mut buf = Vec::new();
    let mut interrupted = RunInterrupt::new(&shared.interrupt, observe.is_some());
    let _watch = transport::watch(&shared.interrupt, observe.is_some());
    // The source could not be read: reported once the operation has cleaned up.
    let mut failed_locally: Option<io::Error> = None;
    loop {
        interrupted.cancel_if_asked(&mut op);
        let step = op.poll(now());
        shared.session.learn(&mut op);
        let step = match step {
            Ok(step) => step,
            Err(e) => return Err(failed_locally.map_or_else(|| e.into(), Error::Io)),
        };
        match step {
            Step::Done(out) => return Ok((out, delivered)),
            Step::Wait(d) => {
                let until = std::time::Instant::now() + d;
                loop {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() || interrupted.abandon_now() {
                        break;
                    }
                    std::thread::sleep(left.min(transport::SLICE));
                }
            }
            Step::NeedSource { max } => {
                let Source::Stream(reader) = &mut source else {
                    return Err(io::Error::other("operation needs a stream source").into());
                };
                buf.resize(max.min(1 << 20), 0);
                let Ok(n) = read_source(reader, &mut buf, &mut failed_locally) else {
                    op.cancel();
                    continue;
                };
                if let Some(p) = progress.as_mut() {
                    p(n as u64);
                }
                let r = op.handle_source(buf.get(..n).unwrap_or_default());
                shared.session.learn(&mut op);
                r?;
            }
            Step::Send(req) => {
                // Single flight: one token request per scope at a time; whoever waited
                // adopts the token the holder fetched instead of fetching its own.
                let lock = op
                    .token_request_scope()
                    .map(|key| shared.session.token_lock(key));
                let _token_guard = match &lock {
                    Some(lock) => {
                        let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
                        if op.adopt_session_token(&shared.session.snapshot(), now()) {
                            continue;
                        }
                        Some(guard)
                    }
                    None => None,
                };
                let bounds = timeouts.for_request(&req);
                transport::set_interrupt_grace(bounds.interrupt_grace);
                let sent_at = Instant::now();
                let (parts, body) = req.into_parts();
                let host = parts
                    .uri
                    .authority()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                // The body's source could not be read (`source_error`), or the operation
                // refused a relayed piece (`refused`): the response, if any, is not the
                // answer.
                let mut source_error = None;
                let mut refused = false;
                let response = match body {
                    body @ (Body::Stream { .. } | Body::StreamToEnd) => {
                        // To its end: no length declared, so ureq sends it chunked.
                        let len = match body {
                            Body::Stream { len } => len,
                            _ => u64::MAX,
                        };
                        let reader: &mut dyn Read = match &mut source {
                            Source::Stream(reader) => &mut **reader,
                            Source::Seekable(src) => &mut **src,
                            Source::None => {
                                return Err(
                                    io::Error::other("operation needs a stream source").into()
                                )
                            }
                        };
                        let mut relay = Relay {
                            inner: reader.take(len),
                            op: &mut op,
                            report: |n| {
                                if let Some(p) = progress.as_mut() {
                                    p(n);
                                }
                            },
                            ended: false,
                            refused: false,
                            failed: None,
                            interrupt: &interrupted,
                        };
                        let sent = send_with(
                            &shared.agent,
                            &bounds,
                            Request::from_parts(parts, SendBody::from_reader(&mut relay)),
                        );
                        refused = relay.refused;
                        source_error = relay.failed;
                        sent
                    }
                    Body::Empty => {
                        send_with(&shared.agent, &bounds, Request::from_parts(parts, ()))
                    }
                    Body::Bytes(bytes) => {
                        send_with(&shared.agent, &bounds, Request::from_parts(parts, bytes))
                    }
                    Body::Source(range) => {
                        let Source::Seekable(src) = &mut source else {
                            return Err(
                                io::Error::other("operation needs a seekable source").into()
                            );
                        };
                        if let Err(e) = src.seek(SeekFrom::Start(range.offset)) {
                            op.cancel();
                            failed_locally = Some(source_read_error(e));
                            continue;
                        }
                        let mut reader = Counting {
                            inner: (&mut **src).take(range.len),
                            report: |n| {
                                if let Some(p) = progress.as_mut() {
                                    p(n);
                                }
                            },
                            interrupt: &interrupted,
                            failed: None,
                        };
                        let sent = send_with(
                            &shared.agent,
                            &bounds,
                            Request::from_parts(parts, SendBody::from_reader(&mut reader)),
                        );
                        source_error = reader.failed;
                        sent
                    }
                };
                transport::set_interrupt_grace(Some(Duration::ZERO));
                if refused {
                    // Abandoned: the operation's cleanup, then its error, come next.
                    continue;
                }
                if let Some(e) = source_error {
                    // Ours, not the registry's: nothing to retry; the operation cleans up.
                    op.cancel();
                    failed_locally = Some(e);
                    continue;
                }
                let response = match response {
                    Ok(r) => r,
                    // Abandoned for an interrupt: the operation cleans up and ends.
                    Err(_) if interrupted.cancel_if_asked(&mut op) => continue,
                    // A resumable upload blocked past the grace of a stop: it ends at its
                    // last checkpoint (the registry is asked what it holds next time).
                    Err(_) if observe.is_some() && interrupted.stop_at_checkpoint() => {
                        return Err(Error::Stopped)
                    }
                    // No response: the operation decides whether (and when) to try again.
                    Err(source) => match op.handle_send_failure(now()) {
                        Recovery::Retry => continue,
                        Recovery::GiveUp => {
                            return Err(match stall_of(&source, &bounds) {
                                Some(stall) => Error::TimedOut { host, stall },
                                None => crate::error::transport(host, source),
                            })
                        }
                    },
                };
                let (parts, body) = response.into_parts();
                let plan = op.handle_response(Response::from_parts(parts, ()), now());
                shared.session.learn(&mut op);
                let plan = plan?;
                let body_bounds = timeouts.for_body(plan);
                let mut watch = BodyWatch::new(&body_bounds, Duration::ZERO, sent_at.elapsed());
                let deadline = body_bounds.deadline.map(|d| (sent_at + d, Stall::Body(d)));
                match plan {
                    BodyPlan::Discard => {
                        transport::set_body_deadline(deadline);
                        drain(body);
                    }
                    BodyPlan::Deliver => delivered = Some(body),
                    BodyPlan::Feed { .. } => {
                        transport::set_body_deadline(deadline);
                        let mut reader = body.into_reader();
                        let mut chunk = vec![0; FEED_CHUNK];
                        let fed: Result<()> = loop {
                            if interrupted.cancel_if_asked(&mut op) {
                                break Ok(());
                            }
                            let n = match reader.read(&mut chunk) {
                                Ok(n) => n,
                                Err(_) if interrupted.cancel_if_asked(&mut op) => break Ok(()),
                                Err(e) => {
                                    break Err(match io_stall(&e, body_bounds.idle) {
                                        Some(stall) => Error::TimedOut { host, stall },
                                        None => body_error(e, host),
                                    })
                                }
                            };
                            if n == 0 {
                                break Ok(());
                            }
                            if let Err(stall) = watch.on_bytes(n, sent_at.elapsed()) {
                                break Err(Error::TimedOut { host, stall });
                            }
                            let r = op.handle_body(chunk.get(..n).unwrap_or_default());
                            shared.session.learn(&mut op);
                            if let Err(e) = r {
                                break Err(e.into());
                            }
                        };
                        transport::set_body_deadline(None);
                        if fed.is_err() && observe.is_some() && interrupted.stop_at_checkpoint() {
                            return Err(Error::Stopped);
                        }
                        fed?;
                        if interrupted.cancelled() {
                            continue;
                        }
                        let r = op.handle_body_end();
                        shared.session.learn(&mut op);
                        r?;
                    }
                }
                transport::set_body_deadline(None);
                if let Some(observe) = observe.as_mut() {
                    let at_checkpoint = observe(op.inner().inner());
                    if at_checkpoint && interrupted.stop_at_checkpoint() {
                        return Err(Error::Stopped);
                    }
                }
            }
        }
    }
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
