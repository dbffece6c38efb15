//! The one generic async run loop: asks a [`Run`] what to do, sends what it asks with the
//! pooled hyper client, streams request bodies from the caller's file or stream and
//! reports back — fetching one token per scope at a time across all tasks. Every wait is
//! bounded and obeys the interrupt. No protocol decisions: those are the [`Run`]'s.

use std::future::{poll_fn, Future};
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use bytes::{Bytes, BytesMut};
use dxf_proto::client::{
    source_read_error, Next, ObserveFn, Run, SendFailure, SentFn, SharedSession,
};
use dxf_proto::http::{Request, Response};
use dxf_proto::{Body, BodyPlan, Bounds, Interrupt, Operation, RunWatch, Scoped, Stall, UnixTime};
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
/// Most bytes read from a stream source per `source_read` call.
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
    /// A stream for [`Next::ReadSource`] and [`Body::Stream`] bodies.
    Stream(&'a mut (dyn AsyncRead + Unpin + Send)),
}

/// What all clones of a registry share: the pool, the session, and one lock per token scope.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: HttpClient,
    pub(crate) session: SharedSession<tokio::sync::Mutex<()>>,
    /// Raised by the caller to give transfers up.
    pub(crate) interrupt: Interrupt,
}

type RunOf<'a, O> = Run<'a, O, tokio::sync::Mutex<()>>;

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

/// What a request's network waits obey: the run's interrupt (unless the request is a
/// cleanup, sent because of it) and the driver's clock for the grace of a stop.
struct Watch {
    run: RunWatch,
    /// How long the interrupt lets the request finish (`None`: never abandoned).
    grace: Option<Duration>,
    epoch: Instant,
}

impl Watch {
    fn must_end(&self) -> bool {
        self.grace
            .is_some_and(|grace| self.run.abandon_blocked(self.epoch.elapsed(), grace))
    }
}

/// `fut`, given up after `limit` (as `stall`) or as soon as the run must abandon it
/// (`None`).
async fn bounded<T>(
    fut: impl Future<Output = T>,
    limit: Option<Duration>,
    stall: Stall,
    watch: &Watch,
) -> std::result::Result<T, Option<Stall>> {
    tokio::pin!(fut);
    let deadline = limit.map(|d| Instant::now() + d);
    loop {
        let now = Instant::now();
        let slice = match deadline {
            Some(at) if at <= now => return Err(Some(stall)),
            Some(at) => (at - now).min(SLICE),
            None => SLICE,
        };
        if let Ok(v) = tokio::time::timeout(slice, &mut fut).await {
            return Ok(v);
        }
        if watch.must_end() {
            return Err(None);
        }
    }
}

/// The run's error for a wait cut short: the stall that ran out, or the interrupt (`None`).
fn cut<O: Operation + Scoped>(run: &RunOf<'_, O>, stall: Option<Stall>) -> crate::Error {
    match stall {
        Some(stall) => run.timed_out(stall),
        None => dxf_proto::Error::Cancelled.into(),
    }
}

/// Runs `op` to completion. For an operation that ends with [`BodyPlan::Deliver`], the
/// unread response body is returned beside the output.
pub(crate) async fn run<'a, O: Operation + Scoped + 'a>(
    shared: &'a Shared,
    op: O,
    source: Source<'_>,
    progress: Option<SentFn<'a>>,
) -> Result<(O::Output, Option<Incoming>)> {
    run_observed(shared, op, source, progress, None).await
}

/// [`run`], calling `observe` after every response: the run keeps checkpoints (see
/// [`Run::with_observer`]).
pub(crate) async fn run_observed<'a, O: Operation + Scoped + 'a>(
    shared: &'a Shared,
    op: O,
    mut source: Source<'_>,
    progress: Option<SentFn<'a>>,
    observe: Option<ObserveFn<'a, O>>,
) -> Result<(O::Output, Option<Incoming>)> {
    let mut run = Run::new(&shared.session, &shared.interrupt, op)
        .with_progress(progress)
        .with_observer(observe);
    let mut delivered = None;
    let mut buf = Vec::new();
    let epoch = Instant::now();
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
                    tokio::time::sleep(left.min(SLICE)).await;
                }
                continue;
            }
            Next::ReadSource { max } => {
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
                match n {
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
        let _token_guard = match token_scope {
            Some(key) => Some(shared.session.token_lock(key).lock_owned().await),
            None => None,
        };
        if _token_guard.is_some() && run.adopt_token(now()) {
            continue;
        }
        let watch = Watch {
            run: run.watch().clone(),
            grace: bounds.interrupt_grace,
            epoch,
        };
        let sent_at = Instant::now();
        let sending = send(shared, &watch, &bounds, req, &mut source, &mut run);
        let stall = Stall::Response(bounds.whole.unwrap_or_default());
        let sent = match bounded(sending, bounds.whole, stall, &watch).await {
            Ok(r) => r,
            Err(stall) => Err(SendFailure::Transport(cut(&run, stall))),
        };
        let response = match sent {
            Ok(r) => r,
            Err(failure) => {
                run.send_failed(failure, now())?;
                continue;
            }
        };
        let (parts, mut body) = response.into_parts();
        let plan = run.response(Response::from_parts(parts, ()), sent_at.elapsed(), now())?;
        match plan {
            BodyPlan::Discard => drain(body, &mut run, &watch, sent_at).await,
            BodyPlan::Deliver => delivered = Some(body),
            BodyPlan::Feed { .. } => {
                let read = loop {
                    match next_data(&mut body, &mut run, &watch, sent_at).await {
                        Ok(Some(data)) => {
                            if let Err(e) = run.body_data(&data, sent_at.elapsed()) {
                                break Err(e);
                            }
                        }
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(e),
                    }
                    if run.abandon_now() {
                        break Ok(());
                    }
                };
                run.body_end(read)?;
            }
        }
        run.responded()?;
    }
}

/// A transport error from hyper-util, or the connect timeout it reports.
fn transport_error<O: Operation + Scoped>(
    e: hyper_util::client::legacy::Error,
    run: &RunOf<'_, O>,
) -> SendFailure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
        {
            let connect = run.bounds().connect.unwrap_or_default();
            return SendFailure::Transport(run.timed_out(Stall::Connect(connect)));
        }
        source = s.source();
    }
    SendFailure::Transport(crate::error::transport(run.host(), e))
}

fn local(e: impl Into<crate::Error>) -> SendFailure {
    SendFailure::Local(e.into())
}

/// Sends `req`; a [`Body::Source`] range is streamed from the file, a [`Body::Stream`] body
/// relayed from the stream source through the run, while the request is in flight (same
/// task: dropping the future stops both). Every wait is bounded by `bounds` and abandoned
/// when the watch says so.
async fn send<O: Operation + Scoped>(
    shared: &Shared,
    watch: &Watch,
    bounds: &Bounds,
    req: dxf_proto::Request,
    source: &mut Source<'_>,
    run: &mut RunOf<'_, O>,
) -> std::result::Result<Response<Incoming>, SendFailure> {
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
            (body, Some((reader, range.len, tx, false)))
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
            (body, Some((reader, len, tx, true)))
        }
    };
    let sending = shared.client.request(Request::from_parts(parts, body));
    tokio::pin!(sending);
    // Without a body, the head's bound counts from before connecting: give it the
    // connect bound too.
    let mut limit = bounds.response;
    if let Some((reader, len, tx, relay)) = feeding {
        let fed = {
            let feeding = feed(reader, len, tx, relay, &mut *run, watch);
            tokio::pin!(feeding);
            tokio::select! {
                // Answered before the whole body went out (an error status): dropping the
                // feeder ends the body short, so the connection is not reused.
                r = &mut sending => Err(r),
                r = &mut feeding => Ok(r),
            }
        };
        match fed {
            Err(r) => return r.map_err(|e| transport_error(e, run)),
            Ok(r) => r?,
        }
    } else if let (Some(connect), Some(response)) = (bounds.connect, bounds.response) {
        limit = Some(connect + response);
    }
    let stall = Stall::Response(bounds.response.unwrap_or_default());
    match bounded(sending, limit, stall, watch).await {
        Ok(r) => r.map_err(|e| transport_error(e, run)),
        Err(stall) => Err(SendFailure::Transport(cut(run, stall))),
    }
}

/// Streams `len` bytes of `reader` into the request body channel; with `relay`, every
/// piece (and the end) goes to the run first, which decides about a short source.
async fn feed<O: Operation + Scoped>(
    mut reader: Box<dyn AsyncRead + Unpin + Send + '_>,
    len: u64,
    tx: mpsc::Sender<Bytes>,
    relay: bool,
    run: &mut RunOf<'_, O>,
    watch: &Watch,
) -> std::result::Result<(), SendFailure> {
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
        if relay {
            run.relay(&chunk).map_err(|_| SendFailure::Refused)?;
            if n == 0 {
                // A body relayed to its end: the relay was just told.
                return Ok(());
            }
        } else if n == 0 {
            let e = io::Error::new(io::ErrorKind::UnexpectedEof, "blob file shrank while sent");
            return Err(local(source_read_error(e)));
        } else {
            run.sent(n);
        }
        left = left.saturating_sub(n as u64);
        let idle = run.bounds().idle;
        let stall = Stall::Idle(idle.unwrap_or_default());
        match bounded(tx.send(chunk.freeze()), idle, stall, watch).await {
            Ok(Ok(())) => {}
            // The connection stopped taking the body; its response says why.
            Ok(Err(_)) => return Ok(()),
            Err(stall) => return Err(SendFailure::Transport(cut(run, stall))),
        }
    }
    if relay {
        run.relay(&[]).map_err(|_| SendFailure::Refused)?;
    }
    Ok(())
}

/// The next data chunk of a response body, `None` at its end, within the body's bounds.
async fn next_data<O: Operation + Scoped>(
    body: &mut Incoming,
    run: &mut RunOf<'_, O>,
    watch: &Watch,
    sent_at: Instant,
) -> Result<Option<Bytes>> {
    loop {
        let (limit, stall) = run.body_wait(sent_at.elapsed());
        let frame = bounded(
            poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)),
            limit,
            stall,
            watch,
        )
        .await
        .map_err(|stall| cut(run, stall))?;
        match frame
            .transpose()
            .map_err(|e| crate::error::body(run.host(), e))?
        {
            None => return Ok(None),
            Some(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// Reads a small unwanted body to its end so the connection can be reused; a large or
/// broken one is dropped (the connection is then closed).
async fn drain<O: Operation + Scoped>(
    mut body: Incoming,
    run: &mut RunOf<'_, O>,
    watch: &Watch,
    sent_at: Instant,
) {
    let mut seen = 0;
    while !body.is_end_stream() && seen <= MAX_DRAIN {
        match next_data(&mut body, run, watch, sent_at).await {
            Ok(Some(data)) if run.body_data(&data, sent_at.elapsed()).is_ok() => seen += data.len(),
            _ => return,
        }
    }
}
