//! Bodies: [`ReqBody`], what a request sends (nothing, bytes, or chunks the driver feeds
//! from the caller's file through a channel), and [`BlobReader`], a pulled blob as an
//! `AsyncRead` / `Stream` that runs every byte through the
//! [`BlobVerifier`](dxf_proto::BlobVerifier) and fails the final read — never silently —
//! when the digest or length is wrong.
//!
//! Hashing overlaps receiving: each frame hyper hands out is copied into a [`BUF_SIZE`]
//! buffer, and each full buffer is hashed on the runtime's blocking pool (`spawn_blocking`:
//! threads tokio reuses and bounds, none started per blob) while the next one fills. One
//! hashing task per blob at a time: the verifier moves into the task, which hashes the
//! buffer it was given and every buffer queued for it meanwhile, and hands the verifier
//! back when none is queued — one task (and pool thread) for a blob that arrives faster
//! than it hashes, not one per buffer, which would make the pool start threads while the
//! last one is not yet idle again. A blob holds [`QUEUED_MAX`] + 2 buffers at most whatever
//! its size (hashing, queued, filling); when all are in use the reader waits for the task without
//! blocking the runtime. A blob of at most [`INLINE_MAX`] bytes is hashed inline, on the
//! task reading it. The end is reported only once the task has hashed the last bytes and
//! the verifier accepted them all.
//!
//! Why copy rather than hash hyper's `Bytes` frames where they are: a frame shares hyper's
//! read buffer, which hyper can reuse only once every frame cut from it is dropped. Frames
//! held for hashing force a fresh allocation for every read (~400 KiB each): measured on a
//! 1 GiB pull, ~70 000 page faults instead of ~1 200 and slower overall than hashing
//! inline. Copying costs one `memcpy` per byte and drops each frame before it is returned.
//!
//! A body that breaks midway (connection reset or closed, cut short, stalled past the
//! timeout) is continued as dxf-proto's [`BlobPull`] decides, as in dxf-ureq — the bytes
//! received, the speed floor, how many resumes, the `Range` request, what a whole-blob
//! answer repeats, when the blob is done or failed for good; this file polls the bodies and
//! the resume request, hashes, and keeps the idle timer and the interrupt's ticks.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dxf_proto::client::{BlobPull, PullFailure, Resumption};
use dxf_proto::{BlobVerifier, Digest, Interrupt};
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Sleep;

/// A request body: empty, whole, or `len` bytes arriving through a channel.
#[derive(Debug)]
pub(crate) struct ReqBody(Inner);

#[derive(Debug)]
enum Inner {
    Full(Option<Bytes>),
    Channel {
        rx: mpsc::Receiver<Bytes>,
        remaining: u64,
    },
    /// Of a length nobody knows until the sender is dropped (sent chunked).
    Open(mpsc::Receiver<Bytes>),
}

impl ReqBody {
    pub(crate) fn full(bytes: Option<Vec<u8>>) -> ReqBody {
        ReqBody(Inner::Full(
            bytes.filter(|b| !b.is_empty()).map(Bytes::from),
        ))
    }

    /// A body of exactly `len` bytes, sent through the returned sender. Dropping the sender
    /// early fails the request (the connection is then not reused).
    pub(crate) fn channel(len: u64) -> (mpsc::Sender<Bytes>, ReqBody) {
        let (tx, rx) = mpsc::channel(2);
        (tx, ReqBody(Inner::Channel { rx, remaining: len }))
    }

    /// A body of any length, sent through the returned sender; it ends when the sender is
    /// dropped.
    pub(crate) fn open_channel() -> (mpsc::Sender<Bytes>, ReqBody) {
        let (tx, rx) = mpsc::channel(2);
        (tx, ReqBody(Inner::Open(rx)))
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        match &mut self.get_mut().0 {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Channel { rx, remaining } => match ready!(rx.poll_recv(cx)) {
                Some(b) => {
                    *remaining = remaining.saturating_sub(b.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                None if *remaining > 0 => Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "request body ended early",
                )))),
                None => Poll::Ready(None),
            },
            Inner::Open(rx) => Poll::Ready(ready!(rx.poll_recv(cx)).map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Full(b) => b.is_none(),
            Inner::Channel { remaining, .. } => *remaining == 0,
            Inner::Open(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Channel { remaining, .. } => SizeHint::with_exact(*remaining),
            Inner::Open(_) => SizeHint::default(),
        }
    }
}

/// A blob of at most this many bytes is hashed inline; past it, on the blocking pool.
const INLINE_MAX: usize = 128 * 1024;
/// Bytes per buffer handed to the hashing task. A blob holds [`QUEUED_MAX`] + 2 at most
/// (1.5 MiB): the one the task hashes, those queued for it, and the one filling.
const BUF_SIZE: usize = 256 * 1024;
/// Full buffers queued for the hashing task at most. With one (the reader waiting as soon
/// as a second buffer fills while one is hashed), a 1 GiB pull on 2 cores parked and woke
/// the reader thousands of times (~19 000 futex calls, 10 % of its time switching tasks);
/// a few absorb the bursts in which frames arrive faster than they hash.
const QUEUED_MAX: usize = 4;

/// A hashing task on the blocking pool: it hands the verifier back when it ends, or the
/// verifier's refusal (more bytes than the blob's length).
type HashTask = JoinHandle<Result<Box<BlobVerifier>, dxf_proto::Error>>;

/// What a blob's reader and its hashing task pass each other.
#[derive(Default)]
struct Handoff {
    /// Full buffers for the task to hash next, in order (at most [`QUEUED_MAX`]).
    queued: VecDeque<Vec<u8>>,
    /// Buffers the task hashed, emptied, to fill again.
    spare: Vec<Vec<u8>>,
    /// The task takes no more buffers: it is ending.
    closed: bool,
    /// The reader, waiting for the task to take a queued buffer.
    waker: Option<Waker>,
}

fn lock(handoff: &Mutex<Handoff>) -> MutexGuard<'_, Handoff> {
    // Nothing panics while holding it; a poisoned lock still holds consistent data.
    handoff.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hashing task: hashes `buf`, then every buffer queued meanwhile, and ends — closing
/// the handoff — when none is (so a blob that arrives faster than it hashes keeps one task,
/// and one pool thread, however many buffers it has).
fn hash_queued(
    mut verifier: Box<BlobVerifier>,
    mut buf: Vec<u8>,
    handoff: &Mutex<Handoff>,
) -> Result<Box<BlobVerifier>, dxf_proto::Error> {
    loop {
        let hashed = verifier.update(&buf);
        buf.clear();
        let mut h = lock(handoff);
        h.spare.push(buf);
        if let Some(waker) = h.waker.take() {
            waker.wake();
        }
        let next = match hashed {
            Ok(()) => h.queued.pop_front(),
            Err(_) => None,
        };
        match next {
            Some(next) => buf = next,
            None => {
                h.closed = true;
                drop(h);
                return hashed.map(|()| verifier);
            }
        }
    }
}

/// A blob hashed on the blocking pool, a buffer at a time.
struct Pooled {
    /// The verifier, while no task has it.
    verifier: Option<Box<BlobVerifier>>,
    /// The task hashing, with the verifier.
    task: Option<HashTask>,
    handoff: Arc<Mutex<Handoff>>,
    /// The buffer being filled (at most [`BUF_SIZE`] bytes).
    filling: Vec<u8>,
}

impl Pooled {
    fn new(verifier: Box<BlobVerifier>) -> Pooled {
        Pooled {
            verifier: Some(verifier),
            task: None,
            handoff: Arc::default(),
            filling: Vec::with_capacity(BUF_SIZE),
        }
    }

    /// Waits for the task to end and takes the verifier back (or its refusal).
    fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PullFailure>> {
        if let Some(task) = &mut self.task {
            let ended = ready!(Pin::new(task).poll(cx));
            self.task = None;
            let verifier = ended
                .map_err(|e| PullFailure::other(format!("blob hashing task: {e}")))?
                .map_err(PullFailure::Blob)?;
            self.verifier = Some(verifier);
        }
        Poll::Ready(Ok(()))
    }

    /// Hands the buffer filled so far to the task — queued for the running one, or to a
    /// new one — and starts filling an empty one; pending while [`QUEUED_MAX`] are queued.
    fn poll_hand_over(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PullFailure>> {
        loop {
            if self.task.is_some() {
                let mut h = lock(&self.handoff);
                if !h.closed {
                    if h.queued.len() < QUEUED_MAX {
                        let empty = h.spare.pop().unwrap_or_default();
                        h.queued
                            .push_back(std::mem::replace(&mut self.filling, empty));
                        return Poll::Ready(Ok(()));
                    }
                    h.waker = Some(cx.waker().clone());
                }
                drop(h);
                // Busy (woken when it takes the queued buffer) or ending.
                ready!(self.poll_ended(cx))?;
                continue;
            }
            let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
                PullFailure::other(format!("hashing a blob outside a runtime: {e}"))
            })?;
            let verifier = self
                .verifier
                .take()
                .ok_or_else(|| PullFailure::other("blob hashed after its end"))?;
            let empty = {
                let mut h = lock(&self.handoff);
                h.closed = false;
                h.spare.pop().unwrap_or_default()
            };
            let buf = std::mem::replace(&mut self.filling, empty);
            let handoff = self.handoff.clone();
            let task = runtime.spawn_blocking(move || hash_queued(verifier, buf, &handoff));
            self.task = Some(task);
            return Poll::Ready(Ok(()));
        }
    }

    /// Copies the start of `data` into the buffer filling, handing it over when full;
    /// returns the bytes copied, pending while a full buffer waits for the task.
    fn poll_take(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<Result<usize, PullFailure>> {
        if self.filling.len() >= BUF_SIZE {
            ready!(self.poll_hand_over(cx))?;
        }
        if self.filling.capacity() == 0 {
            self.filling.reserve_exact(BUF_SIZE);
        }
        let n = BUF_SIZE.saturating_sub(self.filling.len()).min(data.len());
        self.filling
            .extend_from_slice(data.get(..n).unwrap_or_default());
        Poll::Ready(Ok(n))
    }

    /// The verdict once every byte was taken: the last bytes handed over like the others,
    /// the task's end, then the verifier's.
    fn poll_verdict(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PullFailure>> {
        if !self.filling.is_empty() {
            ready!(self.poll_hand_over(cx))?;
        }
        ready!(self.poll_ended(cx))?;
        let verifier = self
            .verifier
            .take()
            .ok_or_else(|| PullFailure::other("blob verified twice"))?;
        Poll::Ready(verifier.finish().map(drop).map_err(PullFailure::Blob))
    }
}

/// Where the blob's hashing stands.
enum Hashing {
    /// `seen` bytes hashed inline so far (at most [`INLINE_MAX`]).
    Inline {
        verifier: Box<BlobVerifier>,
        seen: usize,
    },
    Pooled(Pooled),
    /// The verdict was delivered or the blob failed.
    Over,
}

/// The rest of a blob being fetched: the new body and the blob offset of its first byte
/// ([`Download::offset`](dxf_proto::Download::offset)).
pub(crate) type Resuming = Pin<Box<dyn Future<Output = io::Result<(Incoming, u64)>> + Send>>;

/// Starts the request that continues a broken pull.
pub(crate) type Resume = Box<dyn FnMut(Resumption) -> Resuming + Send>;

/// A blob being downloaded, as an [`AsyncRead`] or a [`Stream`] of chunks. The read (or
/// stream item) that reaches the end succeeds only if the blob matched its digest and
/// length; otherwise it is an `io::ErrorKind::InvalidData` error carrying the
/// [`dxf_proto::Error`]. Every read after a failure fails again. Dropping the reader closes
/// the connection.
pub struct BlobReader {
    body: Incoming,
    hashing: Hashing,
    /// A frame received and being handed to the hasher (`frame[..copied]` is); it is
    /// returned once all of it is.
    frame: Bytes,
    copied: usize,
    /// The pull's decisions and state: bytes received, resumes, done or failed.
    pull: BlobPull,
    resume: Resume,
    /// A resume under way.
    resuming: Option<Resuming>,
    /// The body has ended (every frame was received).
    ended: bool,
    pending: Bytes,
    /// The pull's clock.
    started: Instant,
    /// The idle bound's timer: a body silent for that long counts as broken.
    timer: Option<Pin<Box<Sleep>>>,
    /// Raised: the next chunk fails with `Cancelled` (looked at every [`INTERRUPT_SLICE`]
    /// while the body is silent).
    interrupt: Interrupt,
    tick: Option<Pin<Box<Sleep>>>,
}

/// The longest a silent body goes without a look at the interrupt.
const INTERRUPT_SLICE: Duration = Duration::from_millis(50);

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", self.pull.digest())
            .field("len", &self.pull.size())
            .finish_non_exhaustive()
    }
}

impl BlobReader {
    pub(crate) fn new(
        body: Incoming,
        verifier: BlobVerifier,
        pull: BlobPull,
        resume: Resume,
        interrupt: Interrupt,
    ) -> BlobReader {
        BlobReader {
            body,
            hashing: Hashing::Inline {
                verifier: Box::new(verifier),
                seen: 0,
            },
            frame: Bytes::new(),
            copied: 0,
            pull,
            resume,
            resuming: None,
            ended: false,
            pending: Bytes::new(),
            started: Instant::now(),
            timer: None,
            interrupt,
            tick: None,
        }
    }

    /// The blob's size, when the registry announced it.
    pub fn size(&self) -> Option<u64> {
        self.pull.size()
    }

    /// The digest the blob is verified against.
    pub fn digest(&self) -> &Digest {
        self.pull.digest()
    }

    /// Reads the rest of the blob into `sink`, verifying it; returns the bytes copied.
    pub async fn copy_to(&mut self, sink: &mut (impl AsyncWrite + Unpin)) -> io::Result<u64> {
        tokio::io::copy(self, sink).await
    }

    fn fail(&mut self, failure: PullFailure) -> Poll<Option<io::Result<Bytes>>> {
        let e = self.pull.fail(failure).to_io();
        // A hashing task in flight finishes the buffers it has on its own, unawaited.
        self.hashing = Hashing::Over;
        self.frame = Bytes::new();
        self.resuming = None;
        Poll::Ready(Some(Err(e)))
    }

    /// Hands the frame received to the hasher: inline while the blob is small, else copied
    /// into buffers for the blocking pool, waiting for the hashing task when every buffer
    /// is in use.
    fn poll_hand_off(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PullFailure>> {
        let len = self.frame.len();
        self.hashing = match std::mem::replace(&mut self.hashing, Hashing::Over) {
            Hashing::Inline { mut verifier, seen } if seen.saturating_add(len) <= INLINE_MAX => {
                verifier.update(&self.frame).map_err(PullFailure::Blob)?;
                self.hashing = Hashing::Inline {
                    verifier,
                    seen: seen.saturating_add(len),
                };
                self.copied = len;
                return Poll::Ready(Ok(()));
            }
            Hashing::Inline { verifier, .. } => Hashing::Pooled(Pooled::new(verifier)),
            other => other,
        };
        let Hashing::Pooled(pooled) = &mut self.hashing else {
            return Poll::Ready(Err(PullFailure::other("blob hashed after its end")));
        };
        while let Some(rest) = self.frame.get(self.copied..).filter(|r| !r.is_empty()) {
            self.copied += ready!(pooled.poll_take(cx, rest))?;
        }
        Poll::Ready(Ok(()))
    }

    /// The verdict once every frame was handed over: inline, or once the last bytes are
    /// hashed on the blocking pool.
    fn poll_verdict(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PullFailure>> {
        match std::mem::replace(&mut self.hashing, Hashing::Over) {
            Hashing::Inline { verifier, .. } => {
                Poll::Ready(verifier.finish().map(drop).map_err(PullFailure::Blob))
            }
            Hashing::Pooled(mut pooled) => {
                let verdict = pooled.poll_verdict(cx);
                if verdict.is_pending() {
                    self.hashing = Hashing::Pooled(pooled);
                }
                verdict
            }
            Hashing::Over => Poll::Ready(Err(PullFailure::other("blob verified twice"))),
        }
    }

    /// After the body broke with `broken`: starts the resume the pull decides on (polled by
    /// [`Self::poll_chunk`]), or gives the pull's failure back.
    fn start_resume(&mut self, broken: PullFailure) -> Result<(), PullFailure> {
        let from = self.pull.on_break(broken)?;
        self.timer = None;
        self.resuming = Some((self.resume)(from));
        Ok(())
    }

    /// Polls the resume under way; once it has the rest of the blob, that body replaces the
    /// broken one (if the pull takes it).
    fn poll_resume(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PullFailure>> {
        let Some(fetching) = &mut self.resuming else {
            return Poll::Ready(Ok(()));
        };
        let answer = ready!(fetching.as_mut().poll(cx));
        self.resuming = None;
        self.body = self.pull.resumed(answer, self.started.elapsed())?;
        Poll::Ready(Ok(()))
    }

    /// The next chunk, `None` at a verified end.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            if let Some(f) = self.pull.failed() {
                return Poll::Ready(Some(Err(f.to_io())));
            }
            if self.pull.is_verified() {
                return Poll::Ready(None);
            }
            if self.interrupt.is_raised() {
                return self.fail(dxf_proto::Error::Cancelled.into());
            }
            if !self.frame.is_empty() {
                if let Err(failed) = ready!(self.poll_hand_off(cx)) {
                    return self.fail(failed);
                }
                self.copied = 0;
                return Poll::Ready(Some(Ok(std::mem::take(&mut self.frame))));
            }
            if self.ended {
                let verdict = ready!(self.poll_verdict(cx));
                return match self.pull.verdict(verdict) {
                    Ok(()) => Poll::Ready(None),
                    Err(failed) => self.fail(failed),
                };
            }
            if self.resuming.is_some() {
                if let Err(failed) = ready!(self.poll_resume(cx)) {
                    return self.fail(failed);
                }
                continue;
            }
            let frame = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => {
                    if let Some(t) = self.pull.bounds().idle {
                        let timer = self
                            .timer
                            .get_or_insert_with(|| Box::pin(tokio::time::sleep(t)));
                        if timer.as_mut().poll(cx).is_ready() {
                            match self.start_resume(dxf_proto::Stall::Idle(t).into()) {
                                Ok(()) => continue,
                                Err(failed) => return self.fail(failed),
                            }
                        }
                    }
                    // Wake up now and then to look at the interrupt.
                    loop {
                        let tick = self
                            .tick
                            .get_or_insert_with(|| Box::pin(tokio::time::sleep(INTERRUPT_SLICE)));
                        if tick.as_mut().poll(cx).is_pending() {
                            break;
                        }
                        self.tick = None;
                        if self.interrupt.is_raised() {
                            return self.fail(dxf_proto::Error::Cancelled.into());
                        }
                    }
                    return Poll::Pending;
                }
                Poll::Ready(frame) => frame,
            };
            self.timer = None;
            self.tick = None;
            let broken = match frame {
                Some(Ok(frame)) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    let arrival = self.pull.on_bytes(data.len(), self.started.elapsed());
                    // Bytes received before a resume that started over: dropped.
                    self.frame = data.split_off(arrival.skip.min(data.len()));
                    match arrival.stall {
                        Some(stall) => stall.into(),
                        None => continue,
                    }
                }
                // A broken body (hyper's errors are all transport ones: connection reset
                // or closed, incomplete body, bad framing); the blob's own checks fail in
                // the hasher, never here.
                Some(Err(e)) => PullFailure::other(e.to_string()),
                None => {
                    self.ended = true;
                    continue;
                }
            };
            if let Err(failed) = self.start_resume(broken) {
                return self.fail(failed);
            }
        }
    }
}

/// Bytes read at a time by [`hash_file`].
const FILE_READ: usize = 1 << 20;

/// Hashes the whole file at `path` with SHA-256 on the runtime's blocking pool (not on a
/// worker thread); returns the digest and the number of bytes read.
pub(crate) async fn hash_file(path: &std::path::Path) -> io::Result<(Digest, u64)> {
    use std::io::Read as _;
    let path = path.to_owned();
    let hashing = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path)?;
        let mut h = dxf_proto::Sha256::new();
        let mut buf = vec![0u8; FILE_READ];
        let mut len = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if n == 0 {
                return Ok((h.finish(), len));
            }
            h.update(buf.get(..n).unwrap_or_default());
            len += n as u64;
        }
    });
    hashing.await.map_err(io::Error::other)?
}

impl Stream for BlobReader {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let this = self.get_mut();
        if !this.pending.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut this.pending))));
        }
        this.poll_chunk(cx)
    }
}

impl AsyncRead for BlobReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.pending.is_empty() {
            match ready!(this.poll_chunk(cx)) {
                Some(Ok(chunk)) => this.pending = chunk,
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = buf.remaining().min(this.pending.len());
        buf.put_slice(&this.pending.split_to(n));
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use tokio::io::AsyncReadExt;

    /// Serves one response with `body` (announcing `announced` bytes) from a loopback
    /// listener and returns the blob reader for it, verifying against `data`'s digest and
    /// `expected_len`.
    async fn reader(
        data: &[u8],
        body: Vec<u8>,
        announced: usize,
        expected_len: Option<u64>,
    ) -> BlobReader {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut req = [0u8; 4096];
            let _ = conn.read(&mut req);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        });
        let digest = {
            let mut h = dxf_proto::Sha256::new();
            h.update(data);
            h.finish()
        };
        let client = Client::builder(TokioExecutor::new()).build_http::<ReqBody>();
        let request = hyper::Request::get(format!("http://{addr}/blob"))
            .body(ReqBody::full(None))
            .unwrap();
        let response = client.request(request).await.unwrap();
        // Nothing to resume from: a break is reported.
        let resume: Resume = Box::new(|_| Box::pin(async { Err(io::Error::other("none")) }));
        blob_reader(response.into_body(), digest, expected_len, resume, 4)
    }

    /// The reader of `body` for the blob `digest` (of `len` bytes when known), continued
    /// by `resume` at most `resumes` times.
    fn blob_reader(
        body: Incoming,
        digest: Digest,
        len: Option<u64>,
        resume: Resume,
        resumes: u32,
    ) -> BlobReader {
        let download = dxf_proto::Download {
            verifier: BlobVerifier::new(digest, len).unwrap(),
            len,
            offset: 0,
        };
        let mut limits = dxf_proto::Limits::default();
        limits.retry.max_retries = resumes;
        let session = dxf_proto::Session::new("r.test", dxf_proto::Scheme::Http)
            .unwrap()
            .with_limits(limits);
        let repo = session.repository("r").unwrap();
        let pull = BlobPull::new(&session, &repo, &download);
        BlobReader::new(body, download.verifier, pull, resume, Interrupt::new())
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn proto_error(e: &io::Error) -> &dxf_proto::Error {
        e.get_ref()
            .unwrap()
            .downcast_ref::<dxf_proto::Error>()
            .unwrap()
    }

    async fn next(r: &mut BlobReader) -> Option<io::Result<Bytes>> {
        poll_fn(|cx| Pin::new(&mut *r).poll_next(cx)).await
    }

    /// Sizes hashed inline (up to exactly [`INLINE_MAX`]), and on the blocking pool (just
    /// past it, and many [`BUF_SIZE`] buffers, so the reader waits for hashing tasks).
    const SIZES: [usize; 5] = [0, 1000, INLINE_MAX, INLINE_MAX + 1, 6 * BUF_SIZE + 12345];

    // Current-thread runtimes: a reader that blocked its thread would deadlock them.

    #[tokio::test]
    async fn good_blobs_read_whole_in_any_read_size() {
        for len in SIZES {
            let d = data(len);
            let mut got = Vec::new();
            reader(&d, d.clone(), len, Some(len as u64))
                .await
                .read_to_end(&mut got)
                .await
                .unwrap();
            assert!(got == d, "{len}");
            // Small reads, and the end reported again.
            let mut r = reader(&d, d.clone(), len, None).await;
            let mut got = Vec::new();
            let mut small = [0u8; 1000];
            loop {
                let n = r.read(&mut small).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&small[..n]);
            }
            assert!(got == d, "{len}");
            assert_eq!(r.read(&mut small).await.unwrap(), 0);
            // The stream.
            let mut r = reader(&d, d.clone(), len, Some(len as u64)).await;
            let mut got = Vec::new();
            while let Some(chunk) = next(&mut r).await {
                got.extend_from_slice(&chunk.unwrap());
            }
            assert!(got == d, "{len}");
            assert!(next(&mut r).await.is_none());
            let mut sink = Vec::new();
            let copied = reader(&d, d.clone(), len, None)
                .await
                .copy_to(&mut sink)
                .await
                .unwrap();
            assert_eq!(copied, len as u64);
            assert!(sink == d, "{len}");
        }
    }

    #[tokio::test]
    async fn a_corrupted_blob_fails_at_the_end_and_stays_failed() {
        for len in SIZES.into_iter().filter(|&l| l > 0) {
            let d = data(len);
            for flip in [0, len / 2, len - 1] {
                let mut bad = d.clone();
                bad[flip] ^= 1;
                let mut r = reader(&d, bad, len, Some(len as u64)).await;
                let e = r.read_to_end(&mut Vec::new()).await.unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{len} {flip}");
                assert!(
                    matches!(proto_error(&e), dxf_proto::Error::DigestMismatch { .. }),
                    "{len} {flip}: {e}"
                );
                assert!(r.read(&mut [0u8; 10]).await.is_err(), "{len} {flip}");
                assert!(next(&mut r).await.unwrap().is_err(), "{len} {flip}");
            }
        }
    }

    #[tokio::test]
    async fn wrong_lengths_never_end_cleanly() {
        for len in SIZES.into_iter().filter(|&l| l > 0) {
            let d = data(len);
            // More bytes than expected: one more, or many (then a hashing task refuses a
            // buffer, and the reader finds out when it waits for that task).
            for expected in [len as u64 - 1, len as u64 / 4] {
                let mut r = reader(&d, d.clone(), len, Some(expected)).await;
                let e = r.read_to_end(&mut Vec::new()).await.unwrap_err();
                assert!(
                    matches!(proto_error(&e), dxf_proto::Error::LengthMismatch { .. }),
                    "{len} {expected}: {e}"
                );
                assert!(r.read(&mut [0u8; 10]).await.is_err(), "{len} {expected}");
            }
            // The connection closes early: a transport error or a length mismatch.
            for expected in [Some(len as u64), None] {
                let mut r = reader(&d, d[..len / 2].to_vec(), len, expected).await;
                assert!(r.read_to_end(&mut Vec::new()).await.is_err(), "{len}");
                assert!(r.read(&mut [0u8; 10]).await.is_err(), "{len}");
            }
        }
    }

    /// How the resuming server answers one connection.
    #[derive(Clone, Copy)]
    enum Answer {
        /// The rest asked for (a `206` to a range, else a `200`), cut after this many bytes.
        Cut(usize),
        /// The rest asked for, whole.
        Rest,
        /// The whole blob in a `200`, whatever was asked.
        Whole,
        /// The rest, with its first byte flipped.
        Corrupt,
    }

    /// Serves `data` from a loopback listener, one connection per answer in turn, and
    /// returns its address and the range starts asked for (0: no `Range`).
    fn resuming_server(
        data: Vec<u8>,
        answers: Vec<Answer>,
    ) -> (std::net::SocketAddr, Arc<Mutex<Vec<u64>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for answer in answers {
                let (mut conn, _) = listener.accept().unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
                let start: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("range: bytes="))
                    .map_or(0, |r| r.trim_end_matches('-').parse().unwrap());
                log.lock().unwrap().push(start as u64);
                let len = data.len();
                let (status, from) = match answer {
                    Answer::Whole => ("200 OK", 0),
                    _ if start > 0 => ("206 Partial Content", start),
                    _ => ("200 OK", 0),
                };
                let mut body = data[from..].to_vec();
                let mut head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                if from > 0 {
                    head += &format!("Content-Range: bytes {from}-{}/{len}\r\n", len - 1);
                }
                head += "\r\n";
                match answer {
                    Answer::Cut(n) => body.truncate(n),
                    Answer::Corrupt => body[0] ^= 1,
                    Answer::Rest | Answer::Whole => {}
                }
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            }
        });
        (addr, asked)
    }

    /// A reader for `data` served by [`resuming_server`], with `resumes` resumes that
    /// ask the same server for the rest (the offset is the one asked for on a `206`).
    async fn resuming_reader(
        data: &[u8],
        answers: Vec<Answer>,
        resumes: u32,
    ) -> (BlobReader, Arc<Mutex<Vec<u64>>>) {
        let (addr, asked) = resuming_server(data.to_vec(), answers);
        let url = format!("http://{addr}/blob");
        let client = Client::builder(TokioExecutor::new()).build_http::<ReqBody>();
        let first = hyper::Request::get(&url).body(ReqBody::full(None)).unwrap();
        let response = client.request(first).await.unwrap();
        let resume: Resume = Box::new(move |from| {
            let (client, url, offset) = (client.clone(), url.clone(), from.offset());
            Box::pin(async move {
                let request = hyper::Request::get(&url)
                    .header("range", format!("bytes={offset}-"))
                    .body(ReqBody::full(None))
                    .unwrap();
                let response = client.request(request).await.map_err(io::Error::other)?;
                let from = match response.status() {
                    hyper::StatusCode::PARTIAL_CONTENT => offset,
                    _ => 0,
                };
                Ok((response.into_body(), from))
            })
        });
        let digest = {
            let mut h = dxf_proto::Sha256::new();
            h.update(data);
            h.finish()
        };
        let len = Some(data.len() as u64);
        let reader = blob_reader(response.into_body(), digest, len, resume, resumes);
        (reader, asked)
    }

    #[tokio::test]
    async fn a_broken_body_is_resumed_into_the_same_verifier() {
        for len in SIZES.into_iter().filter(|&l| l > 2) {
            let d = data(len);
            let (a, b) = (len / 3, len / 2);
            // Cut twice, resumed twice with the rest (206): the bytes asked for are the
            // bytes received, and the blob is whole.
            let answers = vec![Answer::Cut(a), Answer::Cut(b - a), Answer::Rest];
            let (mut r, asked) = resuming_reader(&d, answers, 2).await;
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            assert!(got == d, "{len}");
            assert_eq!(*asked.lock().unwrap(), [0, a as u64, b as u64], "{len}");
            assert_eq!(r.read(&mut [0u8; 10]).await.unwrap(), 0, "{len}");
            // Resumed with the whole blob again (200): what was received is skipped, across
            // as many frames as it takes, read as a stream.
            let answers = vec![Answer::Cut(b), Answer::Whole];
            let (mut r, _) = resuming_reader(&d, answers, 1).await;
            let mut got = Vec::new();
            while let Some(chunk) = next(&mut r).await {
                got.extend_from_slice(&chunk.unwrap());
            }
            assert!(got == d, "{len}");
            // Cut right at the start: the resume asks from 0 (no range).
            let answers = vec![Answer::Cut(0), Answer::Rest];
            let (mut r, asked) = resuming_reader(&d, answers, 1).await;
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            assert!(got == d, "{len}");
            assert_eq!(*asked.lock().unwrap(), [0, 0], "{len}");
        }
    }

    #[tokio::test]
    async fn resumes_are_bounded_and_still_verified() {
        for len in SIZES.into_iter().filter(|&l| l > 2) {
            let d = data(len);
            let (a, b) = (len / 3, len / 2);
            // More breaks than resumes (or none allowed): the break is reported, and stays.
            for resumes in [0, 1] {
                let answers = vec![Answer::Cut(a), Answer::Cut(b - a), Answer::Rest];
                let (mut r, asked) = resuming_reader(&d, answers, resumes).await;
                let e = r.read_to_end(&mut Vec::new()).await.unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::Other, "{len} {resumes}: {e}");
                assert!(r.read(&mut [0u8; 10]).await.is_err(), "{len} {resumes}");
                assert!(next(&mut r).await.unwrap().is_err(), "{len} {resumes}");
                assert_eq!(asked.lock().unwrap().len(), resumes as usize + 1);
            }
            // A resumed body that is corrupted fails the digest check.
            let answers = vec![Answer::Cut(a), Answer::Corrupt];
            let (mut r, _) = resuming_reader(&d, answers, 2).await;
            let e = r.read_to_end(&mut Vec::new()).await.unwrap_err();
            assert!(
                matches!(proto_error(&e), dxf_proto::Error::DigestMismatch { .. }),
                "{len}: {e}"
            );
            assert!(r.read(&mut [0u8; 10]).await.is_err(), "{len}");
            // A resume that fails (nobody answers): the break is reported, not its error.
            let (mut r, _) = resuming_reader(&d, vec![Answer::Cut(a)], 2).await;
            let e = r.read_to_end(&mut Vec::new()).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Other, "{len}: {e}");
            assert!(e
                .get_ref()
                .unwrap()
                .downcast_ref::<dxf_proto::Error>()
                .is_none());
            assert!(r.read(&mut [0u8; 10]).await.is_err(), "{len}");
        }
    }

    #[tokio::test]
    async fn a_busy_hashing_task_gets_at_most_queued_max_buffers_queued() {
        let digest = Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
        let mut p = Pooled::new(Box::new(BlobVerifier::new(digest, None).unwrap()));
        // A task busy until released.
        let (release, busy) = std::sync::mpsc::channel::<()>();
        let v = p.verifier.take().unwrap();
        p.task = Some(tokio::task::spawn_blocking(move || {
            let _ = busy.recv();
            Ok(v)
        }));
        let chunk = vec![7u8; BUF_SIZE];
        let mut taken = 0;
        poll_fn(|cx| loop {
            match p.poll_take(cx, &chunk) {
                Poll::Ready(n) => taken += n.unwrap(),
                Poll::Pending => return Poll::Ready(()),
            }
        })
        .await;
        // The buffer filling, and QUEUED_MAX queued: the reader then waits.
        assert_eq!(taken, (QUEUED_MAX + 1) * BUF_SIZE);
        assert_eq!(lock(&p.handoff).queued.len(), QUEUED_MAX);
        release.send(()).unwrap();
    }

    #[tokio::test]
    async fn dropping_a_reader_midway_is_prompt() {
        let len = 16 * BUF_SIZE;
        let d = data(len);
        let mut r = reader(&d, d.clone(), len, Some(len as u64)).await;
        let mut buf = vec![0u8; 64 * 1024];
        let mut read = 0;
        while read < 6 * BUF_SIZE {
            read += r.read(&mut buf).await.unwrap();
        }
        drop(r);
    }

    #[tokio::test]
    async fn hash_file_hashes_whole_files() {
        let path = std::env::temp_dir().join(format!("dxf-hyper-hash-file-{}", std::process::id()));
        for len in [0, 1000, 2 * FILE_READ + 12345] {
            let d = data(len);
            std::fs::write(&path, &d).unwrap();
            let mut h = dxf_proto::Sha256::new();
            h.update(&d);
            assert_eq!(hash_file(&path).await.unwrap(), (h.finish(), len as u64));
        }
        std::fs::remove_file(&path).unwrap();
        let e = hash_file(&path).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
