//! Scripted peers for tests (feature `testing`; not a stable API): [`ScriptedRegistry`]
//! answers each request an operation emits with a scripted [`Reply`] and records what was
//! sent; [`drive`] runs an operation against it the way an adapter would, with a step bound.

use std::collections::VecDeque;
use std::fmt;

use crate::digest::BlobVerifier;
use crate::error::Error;
use crate::operation::{Body, BodyPlan, Operation, Recovery, Request, Step, UnixTime};
use crate::session::Session;

/// A scripted response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, in order (names may repeat).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// A reply with this status, no headers and no body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// No response at all: the connection failed (status 0). [`drive`] then calls
    /// [`Operation::handle_send_failure`].
    pub fn transport_failure() -> Reply {
        Reply::status(0)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }
}

/// A request as the peer saw it, with a [`Body::Source`] or [`Body::Stream`] resolved to
/// the bytes sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Method, e.g. `PATCH`.
    pub method: String,
    /// Full URI.
    pub uri: String,
    /// Headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// The bytes of the body.
    pub body: Vec<u8>,
}

impl Sent {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = Box<dyn FnMut(&Sent) -> Reply>;

/// A fake registry: a function from the request sent to the reply.
pub struct ScriptedRegistry {
    handler: Handler,
    /// Every request sent, in order.
    pub sent: Vec<Sent>,
    /// `Step::Wait` durations asked for, in order.
    pub waits: Vec<std::time::Duration>,
    /// Split fed bodies into pieces of at most this many bytes (≥ 1).
    pub feed_split: usize,
    /// Hand a stream source over in reads of at most this many bytes (≥ 1).
    pub source_read: usize,
    /// Stop after this many steps.
    pub max_steps: usize,
}

impl fmt::Debug for ScriptedRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedRegistry")
            .field("sent", &self.sent.len())
            .finish()
    }
}

impl ScriptedRegistry {
    /// A registry answering with `handler`.
    pub fn new(handler: impl FnMut(&Sent) -> Reply + 'static) -> ScriptedRegistry {
        ScriptedRegistry {
            handler: Box::new(handler),
            sent: Vec::new(),
            waits: Vec::new(),
            feed_split: usize::MAX,
            source_read: usize::MAX,
            max_steps: 10_000,
        }
    }

    /// A registry answering with these replies in order (then 599).
    pub fn sequence(replies: Vec<Reply>) -> ScriptedRegistry {
        let mut queue: VecDeque<Reply> = replies.into();
        ScriptedRegistry::new(move |_| queue.pop_front().unwrap_or_else(|| Reply::status(599)))
    }

    fn answer(&mut self, req: &Request, source: &[u8], relayed: Vec<u8>) -> Reply {
        let body = match req.body() {
            Body::Stream { .. } | Body::StreamToEnd => relayed,
            Body::Empty => Vec::new(),
            Body::Bytes(b) => b.clone(),
            Body::Source(r) => {
                let start = usize::try_from(r.offset).unwrap_or(usize::MAX);
                let end = start.saturating_add(usize::try_from(r.len).unwrap_or(usize::MAX));
                source
                    .get(start..end)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default()
            }
        };
        let sent = Sent {
            method: req.method().to_string(),
            uri: req.uri().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
        };
        let reply = (self.handler)(&sent);
        self.sent.push(sent);
        reply
    }
}

/// Why [`drive`] stopped without a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriveError {
    /// The operation failed.
    Op(Error),
    /// The operation did not finish within the step bound.
    StepLimit,
    /// The reply could not be turned into an `http::Response`.
    BadReply(String),
    /// The operation gave up after a [`Reply::transport_failure`].
    GaveUp,
}

impl From<Error> for DriveError {
    fn from(e: Error) -> Self {
        DriveError::Op(e)
    }
}

impl fmt::Display for DriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriveError::Op(e) => write!(f, "{e}"),
            DriveError::StepLimit => f.write_str("step limit reached"),
            DriveError::BadReply(s) => write!(f, "bad scripted reply: {s}"),
            DriveError::GaveUp => f.write_str("gave up after a transport failure"),
        }
    }
}

/// What [`drive`] returns: the output, and for a delivered body its bytes.
#[derive(Debug)]
pub struct Driven<T> {
    /// The operation's output.
    pub output: T,
    /// The body left to the driver by [`BodyPlan::Deliver`], if any.
    pub delivered: Option<Vec<u8>>,
}

fn to_response(reply: &Reply) -> Result<http::Response<()>, DriveError> {
    let mut b = http::Response::builder().status(reply.status);
    for (n, v) in &reply.headers {
        b = b.header(n.as_str(), v.as_bytes());
    }
    b.body(()).map_err(|e| DriveError::BadReply(e.to_string()))
}

/// Runs `op` against `peer` as an adapter would: `source` is the caller's blob source (for
/// both [`Body::Source`] and [`Step::NeedSource`]); session events go into `session`.
pub fn drive<O: Operation>(
    op: &mut O,
    peer: &mut ScriptedRegistry,
    session: &mut Session,
    now: UnixTime,
    source: &[u8],
) -> Result<Driven<O::Output>, DriveError> {
    let mut delivered = None;
    let mut stream_pos = 0usize;
    'steps: for _ in 0..peer.max_steps {
        let step = op.poll(now);
        drain(op, session);
        match step? {
            Step::Done(output) => return Ok(Driven { output, delivered }),
            Step::Wait(d) => peer.waits.push(d),
            Step::NeedSource { max } => {
                let n = max.min(peer.source_read.max(1));
                let rest = source.get(stream_pos..).unwrap_or_default();
                let piece = rest.get(..n.min(rest.len())).unwrap_or_default();
                stream_pos += piece.len();
                let r = op.handle_source(piece);
                drain(op, session);
                r?;
            }
            Step::Send(req) => {
                let mut relayed = Vec::new();
                let to_relay = match req.body() {
                    Body::Stream { len } => Some(*len),
                    Body::StreamToEnd => Some(u64::MAX),
                    _ => None,
                };
                if let Some(len) = to_relay {
                    // Relay the stream source as the body, handing each piece over first.
                    let want = usize::try_from(len).unwrap_or(usize::MAX);
                    let rest = source.get(stream_pos..).unwrap_or_default();
                    let all = rest.get(..want.min(rest.len())).unwrap_or_default();
                    for piece in all.chunks(peer.source_read.max(1)).chain([&[][..]]) {
                        let r = op.handle_source(piece);
                        drain(op, session);
                        stream_pos += piece.len();
                        if r.is_err() {
                            // Refused: the request is abandoned; the operation goes on
                            // (its cleanup, then its error).
                            continue 'steps;
                        }
                        relayed.extend_from_slice(piece);
                    }
                }
                let reply = peer.answer(&req, source, relayed);
                if reply.status == 0 {
                    match op.handle_send_failure(now) {
                        Recovery::Retry => continue,
                        Recovery::GiveUp => return Err(DriveError::GaveUp),
                    }
                }
                let plan = op.handle_response(to_response(&reply)?, now);
                drain(op, session);
                match plan? {
                    BodyPlan::Discard => {}
                    BodyPlan::Deliver => delivered = Some(reply.body.clone()),
                    BodyPlan::Feed { .. } => {
                        for piece in reply.body.chunks(peer.feed_split.max(1)) {
                            let r = op.handle_body(piece);
                            drain(op, session);
                            r?;
                        }
                        let r = op.handle_body_end();
                        drain(op, session);
                        r?;
                    }
                }
            }
        }
    }
    Err(DriveError::StepLimit)
}

fn drain<O: Operation>(op: &mut O, session: &mut Session) {
    while let Some(ev) = op.poll_session_event() {
        session.handle_event(ev);
    }
}

/// Streams `body` through `verifier` in pieces of `split` bytes, as a driver would.
pub fn verify_delivered(
    mut verifier: BlobVerifier,
    body: &[u8],
    split: usize,
) -> Result<crate::reference::Digest, Error> {
    for piece in body.chunks(split.max(1)) {
        verifier.update(piece)?;
    }
    verifier.finish()
}

mod memory;
pub use memory::{MemoryAuth, MemoryRegistry, MemoryState};
