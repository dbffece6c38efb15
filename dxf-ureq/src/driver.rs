//! The one generic run loop: polls a dxf-proto operation, sends what it asks with ureq,
//! hands back response heads and bodies, streams request bodies from the caller's source,
//! and keeps the shared [`Session`](dxf_proto::Session) up to date. Every request gets the
//! time bounds dxf-proto gives it ([`Timeouts`](dxf_proto::Timeouts)), and its waits obey
//! the interrupt ([`crate::transport`]). No protocol decisions.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dxf_proto::http::{Request, Response};
use dxf_proto::{
    Authed, Body, BodyPlan, BodyWatch, Bounds, Interrupt, Operation, Recovery, Retrying,
    RunInterrupt, Scoped, Session, Stall, Step, UnixTime,
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
    pub(crate) session: Mutex<Session>,
    /// One lock per token scope: threads needing the same token fetch it once.
    pub(crate) token_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Raised by the caller to give transfers up.
    pub(crate) interrupt: Interrupt,
}

/// Token-lock entries kept before unused ones are dropped.
const MAX_TOKEN_LOCKS: usize = 256;

impl Shared {
    pub(crate) fn new(agent: ureq::Agent, session: Session, interrupt: Interrupt) -> Shared {
        Shared {
            agent,
            session: Mutex::new(session),
            token_locks: Mutex::new(HashMap::new()),
            interrupt,
        }
    }

    fn token_lock(&self, key: String) -> Arc<Mutex<()>> {
        let mut locks = self
            .token_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if locks.len() >= MAX_TOKEN_LOCKS {
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        locks.entry(key).or_default().clone()
    }

    pub(crate) fn session(&self) -> Session {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn learn<O: Operation>(&self, op: &mut O) {
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(ev) = op.poll_session_event() {
            session.handle_event(ev);
        }
    }
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

/// Counts bytes as they are read and reports them; fails once the run must be cancelled.
struct Counting<'i, R, F> {
    inner: R,
    report: F,
    interrupt: &'i RunInterrupt,
}

impl<R: Read, F: FnMut(u64)> Read for Counting<'_, R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.interrupt.abandon_now() {
            return Err(cancelled());
        }
        let n = self.inner.read(buf)?;
        (self.report)(n as u64);
        Ok(n)
    }
}

/// Relays a stream source as a request body, handing every piece (and the end) to the
/// operation before it goes out; the operation's refusal aborts the request, and so does
/// an [`Interrupt`].
struct Relay<'r, R, O, F> {
    inner: io::Take<R>,
    op: &'r mut O,
    report: F,
    ended: bool,
    refused: Option<dxf_proto::Error>,
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
        let n = loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        self.ended = n == 0;
        if let Err(e) = self.op.handle_source(buf.get(..n).unwrap_or_default()) {
            self.refused = Some(e.clone());
            return Err(io::Error::other(e));
        }
        (self.report)(n as u64);
        Ok(n)
    }
}

/// Runs `op` (wrapped in [`Retrying`] and [`Authed`]) to completion. For an operation that
/// ends with [`BodyPlan::Deliver`], the unread response body is returned beside the output.
/// A raised [`Interrupt`] cancels it ([`Operation::cancel`]).
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
    let session = shared.session();
    let timeouts = session.limits().timeouts;
    let mut op = Authed::new(&session, Retrying::new(&session, op));
    let mut delivered = None;
    let mut buf = Vec::new();
    let mut interrupted = RunInterrupt::new(&shared.interrupt, observe.is_some());
    let _watch = transport::watch(&shared.interrupt, observe.is_some());
    loop {
        interrupted.cancel_if_asked(&mut op);
        let step = op.poll(now());
        shared.learn(&mut op);
        match step? {
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
                let n = loop {
                    match reader.read(&mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r?,
                    }
                };
                if let Some(p) = progress.as_mut() {
                    p(n as u64);
                }
                let r = op.handle_source(buf.get(..n).unwrap_or_default());
                shared.learn(&mut op);
                r?;
            }
            Step::Send(req) => {
                // Single flight: one token request per scope at a time; whoever waited
                // adopts the token the holder fetched instead of fetching its own.
                let lock = op.token_request_scope().map(|key| shared.token_lock(key));
                let _token_guard = match &lock {
                    Some(lock) => {
                        let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
                        if op.adopt_session_token(&shared.session(), now()) {
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
                            refused: None,
                            interrupt: &interrupted,
                        };
                        let sent = send_with(
                            &shared.agent,
                            &bounds,
                            Request::from_parts(parts, SendBody::from_reader(&mut relay)),
                        );
                        if let Some(e) = relay.refused {
                            return Err(e.into());
                        }
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
                        src.seek(SeekFrom::Start(range.offset))?;
                        let mut reader = Counting {
                            inner: (&mut **src).take(range.len),
                            report: |n| {
                                if let Some(p) = progress.as_mut() {
                                    p(n);
                                }
                            },
                            interrupt: &interrupted,
                        };
                        send_with(
                            &shared.agent,
                            &bounds,
                            Request::from_parts(parts, SendBody::from_reader(&mut reader)),
                        )
                    }
                };
                transport::set_interrupt_grace(Some(Duration::ZERO));
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
                shared.learn(&mut op);
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
                            shared.learn(&mut op);
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
                        shared.learn(&mut op);
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
