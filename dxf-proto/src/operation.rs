//! The driver contract shared by every operation: [`Operation`], what it asks of the
//! driver ([`Step`]), how request bodies are described ([`Body`], [`SourceRange`]), what to
//! do with a response body ([`BodyPlan`]) and the wall-clock time the driver passes in
//! ([`UnixTime`]).

use std::time::Duration;

use crate::error::Error;
use crate::session::SessionEvent;

/// A request an operation wants sent. The body is a descriptor, never IO.
pub type Request = http::Request<Body>;

/// Seconds since the Unix epoch, supplied by the driver (dxf-proto never reads a clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// This time plus `secs` seconds, saturating.
    pub fn plus(self, secs: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(secs))
    }
}

/// What an operation asks of its driver next.
#[must_use]
#[derive(Debug)]
// A request is moved out once per step; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Step<T> {
    /// Send this request, then call [`Operation::handle_response`] with the response head.
    Send(Request),
    /// Read at most `max` bytes from the caller's stream source and pass them to
    /// [`Operation::handle_source`]; pass an empty slice at end of stream.
    NeedSource {
        /// Upper bound on the bytes to hand over in one call.
        max: usize,
    },
    /// Sleep for this long, then call [`Operation::poll`] again.
    Wait(Duration),
    /// The operation is finished; this is its result. Further polls are a misuse.
    Done(T),
}

/// The body of a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body (`Content-Length: 0` where the method needs one).
    Empty,
    /// These bytes (manifests, chunks read from a stream source).
    Bytes(Vec<u8>),
    /// Stream exactly `len` bytes of the caller's blob source starting at `offset`.
    Source(SourceRange),
    /// Relay exactly `len` bytes of the caller's *stream* source as this body, passing
    /// every piece to [`Operation::handle_source`] before it goes out (the operation hashes
    /// them; nothing is kept), and an empty slice when the source ends — early or after
    /// `len` bytes. An error from `handle_source` aborts the request: abandon it and poll
    /// again (see [`Operation`], "A relayed body"). Such a request is never replayed.
    Stream {
        /// Number of bytes to relay.
        len: u64,
    },
    /// Relay the caller's *stream* source to its end as this body, as for
    /// [`Body::Stream`] (every piece to [`Operation::handle_source`] before it goes out,
    /// then an empty slice), with no length declared: the request has no
    /// `Content-Length` and goes out with chunked transfer encoding. For a registry that
    /// asks for chunks larger than dxf buffers (`OCI-Chunk-Min-Length`). Never replayed.
    StreamToEnd,
}

impl Body {
    /// The number of bytes this body will send (0 for [`Body::StreamToEnd`], whose length
    /// nobody knows before the source ends).
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty | Body::StreamToEnd => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Source(r) => r.len,
            Body::Stream { len } => *len,
        }
    }

    /// Whether this body relays the caller's stream source as it goes out
    /// ([`Body::Stream`], [`Body::StreamToEnd`]): it cannot be sent again.
    pub fn is_relayed(&self) -> bool {
        matches!(self, Body::Stream { .. } | Body::StreamToEnd)
    }

    /// Whether this body sends no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A slice of the caller's (seekable) blob source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceRange {
    /// First byte to send.
    pub offset: u64,
    /// Number of bytes to send.
    pub len: u64,
}

/// What an operation does after the driver could not complete its last request (no
/// response head arrived: connection refused or reset, a timeout, a body that could not be
/// sent).
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Poll again: the operation waits and/or sends a request again.
    Retry,
    /// The operation cannot go on; the driver reports its transport error. The operation
    /// is finished.
    GiveUp,
}

/// What the driver does with the body of the response it just handed over.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyPlan {
    /// Drop or drain it; do not call `handle_body`/`handle_body_end`. Call `poll` next.
    Discard,
    /// Pass it to [`Operation::handle_body`] in any split, then call
    /// [`Operation::handle_body_end`]. The operation fails with `BodyTooLarge` past `limit`
    /// bytes; the driver may stop reading there too.
    Feed {
        /// The most bytes the operation accepts.
        limit: u64,
    },
    /// Keep the body unread: the next `poll` returns `Done` with a
    /// [`Download`](crate::Download) describing how to verify it while streaming it to the user.
    Deliver,
}

/// One registry operation as a state machine: the driver asks it what to do ([`poll`]) and
/// feeds it what happened (`handle_*`) until it yields [`Step::Done`] or an error.
///
/// Call order, per step:
/// 1. [`poll`] → [`Step::Send`]: send the request, then [`handle_response`] with the head;
///    according to the returned [`BodyPlan`], feed the body with [`handle_body`] and
///    [`handle_body_end`], or not.
///    While sending a [`Body::Stream`] body, pass each piece read from the stream source to
///    [`handle_source`] before writing it (at most `len` bytes in all), then an empty slice.
/// 2. [`poll`] → [`Step::NeedSource`]: read from the stream source, then [`handle_source`].
/// 3. [`poll`] → [`Step::Wait`]: sleep, then poll again.
/// 4. After every `handle_*` call, drain [`poll_session_event`] into the
///    [`Session`](crate::Session) with [`Session::handle_event`](crate::Session::handle_event).
///
/// **A relayed body** ([`Body::Stream`], [`Body::StreamToEnd`]) that the operation refuses
/// — an `Err` from [`handle_source`] while it goes out (a source that ends early or gives
/// too much) — is not the end of the operation: abandon the request (send no more of it,
/// drop its connection, ignore any answer; never [`handle_send_failure`]) and poll again.
/// The operation yields its cleanup request when it has one (an upload cancels its
/// session, under the short bound of a cleanup), then that same error.
///
/// **A source the driver cannot read** (a file read failing, a stream reader's error, a
/// file shorter than a [`Body::Source`] range) is the driver's failure, not the
/// registry's: never [`handle_send_failure`] (the request would be sent again and the
/// failure reported as the network's). Give the operation up with [`cancel`], send the
/// cleanup request it yields, and report the read error instead of the
/// [`Error::Cancelled`] that follows.
///
/// Guarantees: `poll` never yields the same `Send` twice without an input in between; every
/// operation ends (`Done` or `Err`) within a bounded number of steps; after an `Err` (but
/// the refusal of a relayed body, above), every call returns that same error; nothing a
/// peer sends makes it panic.
///
/// [`poll`]: Operation::poll
/// [`handle_response`]: Operation::handle_response
/// [`handle_body`]: Operation::handle_body
/// [`handle_body_end`]: Operation::handle_body_end
/// [`handle_source`]: Operation::handle_source
/// [`handle_send_failure`]: Operation::handle_send_failure
/// [`cancel`]: Operation::cancel
/// [`poll_session_event`]: Operation::poll_session_event
pub trait Operation {
    /// What the operation produces.
    type Output;

    /// The next thing the driver must do.
    fn poll(&mut self, now: UnixTime) -> Result<Step<Self::Output>, Error>;

    /// The head of the response to the last [`Step::Send`].
    fn handle_response(
        &mut self,
        head: http::Response<()>,
        now: UnixTime,
    ) -> Result<BodyPlan, Error>;

    /// A piece of the response body (only after [`BodyPlan::Feed`]).
    fn handle_body(&mut self, chunk: &[u8]) -> Result<(), Error>;

    /// The end of the response body (only after [`BodyPlan::Feed`]).
    fn handle_body_end(&mut self) -> Result<(), Error>;

    /// The last [`Step::Send`] request could not be completed: no response head arrived.
    /// On [`Recovery::Retry`], poll again; on [`Recovery::GiveUp`], report the transport
    /// error. Requests with a body are never blindly re-sent: an upload may first ask the
    /// registry how much it holds.
    fn handle_send_failure(&mut self, now: UnixTime) -> Recovery;

    /// Bytes read from the stream source after [`Step::NeedSource`] (empty means end of
    /// stream), or relayed as a [`Body::Stream`] request body while it is being sent. An
    /// `Err` for a relayed piece abandons that request; poll again for the cleanup request
    /// and the error (see [`Operation`]).
    fn handle_source(&mut self, data: &[u8]) -> Result<(), Error>;

    /// Something the [`Session`](crate::Session) should learn (a token, an auth scheme).
    fn poll_session_event(&mut self) -> Option<SessionEvent>;

    /// The caller gives the operation up (a user interrupt; a sibling transfer failed; the
    /// driver could not read its source), abandoning any request in flight. The next
    /// [`poll`](Operation::poll) yields the operation's cleanup request when it has one
    /// (an upload cancels its session; send it and pass its answer to `handle_response` as
    /// usual, or stop there), then [`Error::Cancelled`]. No effect on an operation that
    /// already ended; one that was already failing (its cleanup request pending or in
    /// flight) ends with its own error.
    fn cancel(&mut self);
}
