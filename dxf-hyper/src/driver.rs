//! The one generic async run loop: polls a dxf-proto operation, sends what it asks with the
//! pooled hyper client, hands back response heads and bodies, streams request bodies from
//! the caller's file or stream, and keeps the shared [`Session`] up to date — fetching one
//! token per scope at a time across all tasks. No protocol decisions.

use std::future::{poll_fn, Future};
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use bytes::{Bytes, BytesMut};
use dxf_proto::client::{source_read_error, SharedSession};
use dxf_proto::http::{Request, Response};
use dxf_proto::{
    Body, BodyPlan, BodyWatch, Bounds, Interrupt, Operation, Recovery, RunInterrupt, Scoped, Stall,
    Step, UnixTime,
};
use http_body::Body as _;
use hyper::body::Incoming;
use tokio::fs::File;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use crate::body::ReqBody;
use crate::error::Result;
use crate::tls::HttpClient;

/// Bytes read from an upload file per request-body chunk (two are buffered ahead).
const FEED_CHUNK: usize = 256 * 1024;
/// Most bytes read from a stream source per `handle_source` call.
const MAX_SOURCE_READ: usize = 1 << 20;
/// Most bytes of an unwanted body read so the connection can be reused.
const MAX_DRAIN: usize = 64 * 1024;
/// Where request bodies come from.
pub(crate) enum Source<'a> {
    /// No body source (every operation but uploads).
    None,
    /// A file for [`Body::Source`] descriptors, and for [`Body::Stream`] bodies read from
    /// where it stands (relayed, then read again:
    /// [`Upload::with_seekable_source`](dxf_proto::Upload::with_seekable_source)).
    File(&'a mut File),
    /// A stream for [`Step::NeedSource`] and [`Body::Stream`] bodies.
    Stream(&'a mut (dyn AsyncRead + Unpin + Send)),
}

/// Called with the number of body bytes just read from the source.
pub(crate) type Progress<'a> = Option<&'a mut (dyn FnMut(u64) + Send)>;

/// What all clones of a registry share: the pool, the session, and one lock per token scope.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: HttpClient,
    pub(crate) session: SharedSession<tokio::sync::Mutex<()>>,
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

/// The longest a blocked wait (a request, a body, a retry wait) goes without looking at
/// the interrupt.
const SLICE: Duration = Duration::from_millis(50);

/// What a run's network waits obey: its interrupt (unless the request is a cleanup, sent
/// because of it) and the driver's clock for the grace of a stop.
struct Watch<'a> {
    run: &'a RunInterrupt,
    /// How long the interrupt lets the request finish (`None`: never abandoned).
    grace: Option<Duration>,
    epoch: Instant,
}

impl Watch<'_> {
    fn must_end(&self) -> bool {
        self.grace
            .is_some_and(|grace| self.run.abandon_blocked(self.epoch.elapsed(), grace))
    }
}

/// Why a bounded wait ended without its result.
enum Cut {
    Stalled(Stall),
    Interrupted,
}

impl Cut {
    fn into_error(self, host: &str) -> crate::Error {
        match self {
            Cut::Stalled(stall) => crate::Error::TimedOut {
                host: host.to_owned(),
                stall,
            },
            Cut::Interrupted => dxf_proto::Error::Cancelled.into(),
        }
    }
}

/// `fut`, given up after `limit` (as `stall`) or as soon as the run must abandon it.
async fn bounded<T>(
    fut: impl Future<Output = T>,
    limit: Option<Duration>,
    stall: Stall,
    watch: &Watch<'_>,
) -> std::result::Result<T, Cut> {
    tokio::pin!(fut);
    let deadline = limit.map(|d| Instant::now() + d);
    loop {
        let now = Instant::now();
        let slice = match deadline {
            Some(at) if at <= now => return Err(Cut::Stalled(stall)),
            Some(at) => (at - now).min(SLICE),
            None => SLICE,
        };
        if let Ok(v) = tokio::time::timeout(slice, &mut fut).await {
            return Ok(v);
        }
        if watch.must_end() {
            return Err(Cut::Interrupted);
        }
    }
}

/// Runs `op` (wrapped by [`Session::start`]) to completion. For an operation that
/// ends with [`BodyPlan::Deliver`], the unread response body is returned beside the output.
/// A raised [`Interrupt`] cancels it ([`Operation::cancel`]), and so does a source that
/// cannot be read: its error is reported once the operation has cleaned up (an upload's
/// session deleted).
pub(crate) async fn run<O: Operation + Scoped>(
    shared: &Shared,
    op: O,
    source: Source<'_>,
    progress: Progress<'_>,
) -> Result<(O::Output, Option<Incoming>)> {
    run_observed(shared, op, source, progress, None).await
}

/// Called after every response the operation handled (to read its state); returns whether
/// the operation is at a new checkpoint, where an [`Interrupt::stop`] may end the run.
pub(crate) type Observe<'o, O> = &'o mut (dyn FnMut(&O) -> bool + Send);

/// [`run`], calling `observe` after every response; a run with `observe` keeps
/// checkpoints, so an [`Interrupt::stop`] ends it at the next one with
/// [`Error::Stopped`](crate::Error::Stopped) instead of cancelling it.
pub(crate) async fn run_observed<O: Operation + Scoped>(
    shared: &Shared,
    op: O,
    mut source: Source<'_>,
    mut progress: Progress<'_>,
    mut observe: Option<Observe<'_, O>>,
) -> Result<(O::Output, Option<Incoming>)> {
    let session = shared.session.snapshot();
    let timeouts = session.limits().timeouts;
    let mut op = session.start(op);
    let mut delivered = None;
    let mut buf = Vec::new();
    let mut interrupted = RunInterrupt::new(&shared.interrupt, observe.is_some());
    let epoch = Instant::now();
    // The source could not be read: reported once the operation has cleaned up.
    let mut failed_locally: Option<crate::Error> = None;
    loop {
        interrupted.cancel_if_asked(&mut op);
        let step = op.poll(now());
        shared.session.learn(&mut op);
        let step = match step {
            Ok(step) => step,
            Err(e) => return Err(failed_locally.unwrap_or_else(|| e.into())),
        };
        let req = match step {
            Step::Done(out) => return Ok((out, delivered)),
            Step::Wait(d) => {
                let until = Instant::now() + d;
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() || interrupted.abandon_now() {
                        break;
                    }
                    tokio::time::sleep(left.min(SLICE)).await;
                }
                continue;
            }
            Step::NeedSource { max } => {
                let Source::Stream(reader) = &mut source else {
                    return Err(io::Error::other("operation needs a stream source").into());
                };
                buf.resize(max.clamp(1, MAX_SOURCE_READ), 0);
                let n = loop {
                    match reader.read(&mut buf).await {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r,
                    }
                };
                let n = match n {
                    Ok(n) => n,
                    Err(e) => {
                        op.cancel();
                        failed_locally = Some(source_read_error(e).into());
                        continue;
                    }
                };
                if let Some(p) = progress.as_mut() {
                    p(n as u64);
                }
                let r = op.handle_source(buf.get(..n).unwrap_or_default());
                shared.session.learn(&mut op);
                r?;
                continue;
            }
            Step::Send(req) => req,
        };
        // Single flight: one token request per scope at a time; whoever waited adopts the
        // token the holder fetched instead of fetching its own.
        let _token_guard = match op.token_request_scope() {
            Some(key) => {
                let guard = shared.session.token_lock(key).lock_owned().await;
                if op.adopt_session_token(&shared.session.snapshot(), now()) {
                    continue;
                }
                Some(guard)
            }
            None => None,
        };
        let bounds = timeouts.for_request(&req);
        let host = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let sent_at = Instant::now();
        let sent = {
            let mut relay = |data: &[u8]| op.handle_source(data);
            let watch = Watch {
                run: &interrupted,
                grace: bounds.interrupt_grace,
                epoch,
            };
            let sending = send(
                shared,
                (&watch, &bounds, &host),
                req,
                &mut source,
                &mut progress,
                &mut relay,
            );
            match bounded(
                sending,
                bounds.whole,
                Stall::Response(bounds.whole.unwrap_or_default()),
                &watch,
            )
            .await
            {
                Ok(r) => r,
                Err(cut) => Err(Failed::Transport(cut.into_error(&host))),
            }
        };
        let response = match sent {
            Ok(r) => r,
            // Abandoned for an interrupt: the operation cleans up and ends.
            Err(_) if interrupted.cancel_if_asked(&mut op) => continue,
            // A resumable upload blocked past the grace of a stop: it ends at its last
            // checkpoint (the registry is asked what it holds next time).
            Err(_) if observe.is_some() && interrupted.stop_at_checkpoint() => {
                return Err(crate::Error::Stopped)
            }
            // Abandoned: the operation's cleanup, then its error, come next.
            Err(Failed::Refused) => continue,
            // Ours, not the registry's: nothing to retry; the operation cleans up.
            Err(Failed::Op(e)) => {
                op.cancel();
                failed_locally = Some(e);
                continue;
            }
            // No response: the operation decides whether (and when) to try again.
            Err(Failed::Transport(e)) => match op.handle_send_failure(now()) {
                Recovery::Retry => continue,
                Recovery::GiveUp => return Err(e),
            },
        };
        let (parts, mut body) = response.into_parts();
        let plan = op.handle_response(Response::from_parts(parts, ()), now());
        shared.session.learn(&mut op);
        let plan = plan?;
        let body_bounds = timeouts.for_body(plan);
        let mut body_watch = BodyWatch::new(&body_bounds, Duration::ZERO, sent_at.elapsed());
        let watch = Watch {
            run: &interrupted,
            grace: bounds.interrupt_grace,
            epoch,
        };
        let mut reading = Reading {
            watch: &watch,
            body_watch: &mut body_watch,
            idle: body_bounds.idle,
            sent_at,
            host: &host,
        };
        match plan {
            BodyPlan::Discard => drain(body, &mut reading).await,
            BodyPlan::Deliver => delivered = Some(body),
            BodyPlan::Feed { .. } => {
                let mut fed = Ok(());
                loop {
                    match reading.next_data(&mut body).await {
                        Ok(Some(data)) => {
                            let r = op.handle_body(&data);
                            shared.session.learn(&mut op);
                            if let Err(e) = r {
                                fed = Err(e.into());
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            fed = Err(e);
                            break;
                        }
                    }
                    if watch.run.abandon_now() {
                        break;
                    }
                }
                if interrupted.cancel_if_asked(&mut op) {
                    continue;
                }
                if fed.is_err() && observe.is_some() && interrupted.stop_at_checkpoint() {
                    return Err(crate::Error::Stopped);
                }
                fed?;
                let r = op.handle_body_end();
                shared.session.learn(&mut op);
                r?;
            }
        }
        if let Some(observe) = observe.as_mut() {
            if observe(op.inner().inner()) && interrupted.stop_at_checkpoint() {
                return Err(crate::Error::Stopped);
            }
        }
    }
}

/// Why a request got no response.
enum Failed {
    /// Ours, final: the source could not be read.
    Op(crate::Error),
    /// The operation refused a relayed piece: it cleans up and reports why.
    Refused,
    /// The transport's (connection, TLS, timeout, interrupt): the operation decides what
    /// follows.
    Transport(crate::Error),
}

fn local(e: impl Into<crate::Error>) -> Failed {
    Failed::Op(e.into())
}

/// A transport error from hyper-util, or the connect timeout it reports.
fn transport_error(e: hyper_util::client::legacy::Error, host: &str, bounds: &Bounds) -> Failed {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
        {
            return Failed::Transport(crate::Error::TimedOut {
                host: host.to_owned(),
                stall: Stall::Connect(bounds.connect.unwrap_or_default()),
            });
        }
        source = s.source();
    }
    Failed::Transport(crate::error::transport(host, e))
}

/// Sends `req`; a [`Body::Source`] range is streamed from the file, a [`Body::Stream`] body
/// relayed from the stream source through `relay`, while the request is in flight (same
/// task: dropping the future stops both). Every wait is bounded by `bounds` and abandoned
/// when the watch says so.
async fn send(
    shared: &Shared,
    (watch, bounds, host): (&Watch<'_>, &Bounds, &str),
    req: dxf_proto::Request,
    source: &mut Source<'_>,
    progress: &mut Progress<'_>,
    relay: &mut impl FnMut(&[u8]) -> std::result::Result<(), dxf_proto::Error>,
) -> std::result::Result<Response<Incoming>, Failed> {
    let (parts, body) = req.into_parts();
    let (body, feeding) = match body {
        Body::Empty => (ReqBody::full(None), None),
        Body::Bytes(bytes) => (ReqBody::full(Some(bytes)), None),
        Body::Source(range) => {
            let Source::File(file) = source else {
                return Err(local(io::Error::other("operation needs a seekable source")));
            };
            file.seek(SeekFrom::Start(range.offset))
                .await
                .map_err(|e| local(source_read_error(e)))?;
            let (tx, body) = ReqBody::channel(range.len);
            let reader: Box<dyn AsyncRead + Unpin + Send + '_> =
                Box::new((&mut **file).take(range.len));
            (
                body,
                Some(feed(
                    reader,
                    range.len,
                    tx,
                    progress,
                    None,
                    (watch, bounds, host),
                )),
            )
        }
        body @ (Body::Stream { .. } | Body::StreamToEnd) => {
            let reader: &mut (dyn AsyncRead + Unpin + Send) = match source {
                Source::Stream(reader) => &mut **reader,
                Source::File(file) => &mut **file,
                Source::None => {
                    return Err(local(io::Error::other("operation needs a stream source")))
                }
            };
            // To its end: no length declared, so hyper sends it chunked.
            let (len, (tx, body)) = match body {
                Body::Stream { len } => (len, ReqBody::channel(len)),
                _ => (u64::MAX, ReqBody::open_channel()),
            };
            let reader: Box<dyn AsyncRead + Unpin + Send + '_> = Box::new(reader.take(len));
            (
                body,
                Some(feed(
                    reader,
                    len,
                    tx,
                    progress,
                    Some(relay),
                    (watch, bounds, host),
                )),
            )
        }
    };
    let sending = shared.client.request(Request::from_parts(parts, body));
    tokio::pin!(sending);
    // Without a body, the head's bound counts from before connecting: give it the
    // connect bound too.
    let mut limit = bounds.response;
    if let Some(feeding) = feeding {
        tokio::pin!(feeding);
        tokio::select! {
            // Answered before the whole body went out (an error status): dropping the
            // feeder ends the body short, so the connection is not reused.
            r = &mut sending => return r.map_err(|e| transport_error(e, host, bounds)),
            r = &mut feeding => r?,
        }
    } else if let (Some(connect), Some(response)) = (bounds.connect, bounds.response) {
        limit = Some(connect + response);
    }
    let stall = Stall::Response(bounds.response.unwrap_or_default());
    match bounded(sending, limit, stall, watch).await {
        Ok(r) => r.map_err(|e| transport_error(e, host, bounds)),
        Err(cut) => Err(Failed::Transport(cut.into_error(host))),
    }
}

/// Streams `len` bytes of `reader` into the request body channel; with `relay`, every
/// piece (and the end) goes to the operation first, which decides about a short source.
async fn feed<R: FnMut(&[u8]) -> std::result::Result<(), dxf_proto::Error>>(
    mut reader: Box<dyn AsyncRead + Unpin + Send + '_>,
    len: u64,
    tx: mpsc::Sender<Bytes>,
    progress: &mut Progress<'_>,
    mut relay: Option<&mut R>,
    (watch, bounds, host): (&Watch<'_>, &Bounds, &str),
) -> std::result::Result<(), Failed> {
    let mut left = len;
    while left > 0 {
        if watch.run.abandon_now() {
            return Err(local(dxf_proto::Error::Cancelled));
        }
        let want = usize::try_from(left).unwrap_or(FEED_CHUNK).min(FEED_CHUNK);
        let mut chunk = BytesMut::with_capacity(want);
        let n = reader
            .read_buf(&mut chunk)
            .await
            .map_err(|e| local(source_read_error(e)))?;
        if let Some(relay) = relay.as_mut() {
            relay(&chunk).map_err(|_| Failed::Refused)?;
        }
        if n == 0 && len == u64::MAX {
            // A body relayed to its end: the relay was just told.
            return Ok(());
        }
        if n == 0 {
            let e = io::Error::new(io::ErrorKind::UnexpectedEof, "blob file shrank while sent");
            return Err(local(source_read_error(e)));
        }
        left = left.saturating_sub(n as u64);
        if let Some(p) = progress.as_mut() {
            p(n as u64);
        }
        let stall = Stall::Idle(bounds.idle.unwrap_or_default());
        match bounded(tx.send(chunk.freeze()), bounds.idle, stall, watch).await {
            Ok(Ok(())) => {}
            // The connection stopped taking the body; its response says why.
            Ok(Err(_)) => return Ok(()),
            Err(cut) => return Err(Failed::Transport(cut.into_error(host))),
        }
    }
    if let Some(relay) = relay.as_mut() {
        relay(&[]).map_err(|_| Failed::Refused)?;
    }
    Ok(())
}

/// Reading one response body within its bounds.
struct Reading<'a, 'w> {
    watch: &'a Watch<'w>,
    body_watch: &'a mut BodyWatch,
    idle: Option<Duration>,
    sent_at: Instant,
    host: &'a str,
}

impl Reading<'_, '_> {
    /// The next data chunk of a response body, `None` at its end.
    async fn next_data(&mut self, body: &mut Incoming) -> Result<Option<Bytes>> {
        loop {
            let now = self.sent_at.elapsed();
            let limit = match (self.idle, self.body_watch.time_left(now)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let stall = self
                .body_watch
                .stall_at(now + limit.unwrap_or_default(), self.idle);
            let frame = bounded(
                poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)),
                limit,
                stall,
                self.watch,
            )
            .await
            .map_err(|cut| cut.into_error(self.host))?;
            match frame
                .transpose()
                .map_err(|e| crate::error::body(self.host, e))?
            {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.body_watch
                            .on_bytes(data.len(), self.sent_at.elapsed())
                            .map_err(|stall| crate::Error::TimedOut {
                                host: self.host.to_owned(),
                                stall,
                            })?;
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

/// Reads a small unwanted body to its end so the connection can be reused; a large or
/// broken one is dropped (the connection is then closed).
async fn drain(mut body: Incoming, reading: &mut Reading<'_, '_>) {
    let mut seen = 0;
    while !body.is_end_stream() && seen <= MAX_DRAIN {
        match reading.next_data(&mut body).await {
            Ok(Some(data)) => seen += data.len(),
            _ => return,
        }
    }
}
