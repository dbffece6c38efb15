//! Bodies: [`ReqBody`], what a request sends (nothing, bytes, or chunks the driver feeds
//! from the caller's file through a channel), and [`BlobReader`], a pulled blob as an
//! `AsyncRead` / `Stream` that runs every byte through the
//! [`BlobVerifier`](dxf_proto::BlobVerifier) and fails the final read — never silently —
//! when the digest or length is wrong.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use dxf_proto::{BlobVerifier, Digest};
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::error::timed_out;

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
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Full(b) => b.is_none(),
            Inner::Channel { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(match &self.0 {
            Inner::Full(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            Inner::Channel { remaining, .. } => *remaining,
        })
    }
}

/// Why a blob read failed; kept so that every later read fails the same way.
#[derive(Debug)]
enum Failed {
    Proto(dxf_proto::Error),
    Transport(io::ErrorKind, String),
}

impl Failed {
    fn to_io(&self) -> io::Error {
        match self {
            Failed::Proto(e) => io::Error::new(io::ErrorKind::InvalidData, e.clone()),
            Failed::Transport(kind, msg) => io::Error::new(*kind, msg.clone()),
        }
    }
}

/// A blob being downloaded, as an [`AsyncRead`] or a [`Stream`] of verified chunks. The
/// read (or stream item) that reaches the end succeeds only if the blob matched its digest
/// and length; otherwise it is an `io::ErrorKind::InvalidData` error carrying the
/// [`dxf_proto::Error`]. Every read after a failure fails again. Dropping the reader closes
/// the connection.
pub struct BlobReader {
    body: Incoming,
    verifier: Option<BlobVerifier>,
    digest: Digest,
    len: Option<u64>,
    pending: Bytes,
    failed: Option<Failed>,
    timeout: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", &self.digest)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl BlobReader {
    pub(crate) fn new(
        body: Incoming,
        verifier: BlobVerifier,
        len: Option<u64>,
        timeout: Option<Duration>,
    ) -> BlobReader {
        BlobReader {
            body,
            digest: verifier.expected().clone(),
            len: len.or(verifier.expected_len()),
            verifier: Some(verifier),
            pending: Bytes::new(),
            failed: None,
            timeout,
            timer: None,
        }
    }

    /// The blob's size, when the registry announced it.
    pub fn size(&self) -> Option<u64> {
        self.len
    }

    /// The digest the blob is verified against.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Reads the rest of the blob into `sink`, verifying it; returns the bytes copied.
    pub async fn copy_to(&mut self, sink: &mut (impl AsyncWrite + Unpin)) -> io::Result<u64> {
        tokio::io::copy(self, sink).await
    }

    fn fail(&mut self, failed: Failed) -> Poll<Option<io::Result<Bytes>>> {
        let e = failed.to_io();
        self.failed = Some(failed);
        Poll::Ready(Some(Err(e)))
    }

    /// The next verified chunk, `None` at a verified end.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            if let Some(f) = &self.failed {
                return Poll::Ready(Some(Err(f.to_io())));
            }
            let Some(verifier) = self.verifier.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => {
                    if let Some(t) = self.timeout {
                        let timer = self
                            .timer
                            .get_or_insert_with(|| Box::pin(tokio::time::sleep(t)));
                        if timer.as_mut().poll(cx).is_ready() {
                            let e = timed_out("reading the blob");
                            return self.fail(Failed::Transport(e.kind(), e.to_string()));
                        }
                    }
                    return Poll::Pending;
                }
                Poll::Ready(frame) => frame,
            };
            self.timer = None;
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => {
                        return match verifier.update(&data) {
                            Ok(()) => Poll::Ready(Some(Ok(data))),
                            Err(e) => self.fail(Failed::Proto(e)),
                        };
                    }
                    _ => {}
                },
                Some(Err(e)) => {
                    return self.fail(Failed::Transport(io::ErrorKind::Other, e.to_string()))
                }
                None => {
                    if let Some(Err(e)) = self.verifier.take().map(BlobVerifier::finish) {
                        return self.fail(Failed::Proto(e));
                    }
                }
            }
        }
    }
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
