//! [`BlobPull`]: the decisions of a verified blob pull, written once and IO-free for both
//! adapters' blob readers — counting the bytes received, the speed floor, whether a body
//! that broke midway is continued (at most the retry policy's `max_retries` times) and with
//! which request ([`Resumption`]), skipping what a registry that answered the range with
//! the whole blob again sends twice, refusing a resumed body that would leave a gap, and
//! the end: a pull is done only once its verifier accepted the blob, and once failed
//! ([`PullFailure`]) every later read fails the same way.
//!
//! The adapter keeps the IO: reading the body, hashing it (into the
//! [`BlobVerifier`](crate::BlobVerifier) of the first [`Download`]), its timers, telling
//! which of its errors are a broken body, and running the resume request. Time comes in as
//! a [`Duration`] since the pull was made (the adapter's clock).

use std::fmt;
use std::io;
use std::time::Duration;

use crate::blob::{Download, GetBlob};
use crate::error::Error;
use crate::operation::BodyPlan;
use crate::reference::{Digest, Repository};
use crate::session::Session;
use crate::timeouts::{BodyBounds, BodyWatch, Stall};

/// One blob download, from its first response to its verified end, across the bodies of
/// the requests that continue it.
#[derive(Debug)]
pub struct BlobPull {
    repo: Repository,
    digest: Digest,
    /// The blob's whole length, when known.
    total: Option<u64>,
    bounds: BodyBounds,
    watch: BodyWatch,
    /// Blob bytes received so far (the offset a resume asks from).
    received: u64,
    /// Bytes still to drop from the start of the current body (a resume answered with the
    /// whole blob again).
    skip: u64,
    resumes_left: u32,
    state: State,
    /// Told the blob's size and time once verified (`--debug`).
    trace: Option<super::Trace>,
    /// When the last bytes arrived.
    last: Duration,
    /// The session's blob cache and registry: told where the blob is once verified.
    cache: Option<(crate::BlobCache, String)>,
}

#[derive(Debug)]
enum State {
    Receiving,
    /// A resume is under way; the break it continues (the pull's failure if it fails).
    Resuming(PullFailure),
    Verified,
    Failed(PullFailure),
}

/// What [`BlobPull::on_bytes`] made of a piece of body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Bytes to drop from the start of the piece: the blob bytes received before a resume
    /// that the registry sent again. The rest of the piece are the blob's next bytes.
    pub skip: usize,
    /// The body fell below the speed floor: a break, for [`BlobPull::on_break`]. The
    /// piece's bytes past `skip` are received all the same.
    pub stall: Option<Stall>,
}

/// A resume [`BlobPull::on_break`] decided on: the request for the rest of the blob.
#[derive(Clone, Debug)]
pub struct Resumption {
    repo: Repository,
    digest: Digest,
    offset: u64,
    total: Option<u64>,
}

impl Resumption {
    /// The blob offset the rest is asked from (the bytes received so far).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The request ([`GetBlob::resume`], `Range: bytes=offset-`), built from the client's
    /// current `session`. Its [`Download::offset`] goes to [`BlobPull::resumed`].
    pub fn op(&self, session: &Session) -> Result<GetBlob, Error> {
        GetBlob::resume(session, &self.repo, &self.digest, self.offset, self.total)
    }
}

/// Why a pull failed. Kept by the [`BlobPull`], so that every read after it fails the same
/// way ([`to_io`](Self::to_io)).
#[derive(Clone, Debug)]
pub enum PullFailure {
    /// The blob was refused (its digest or length is wrong) or the pull was cancelled:
    /// an `io::ErrorKind::InvalidData` error carrying it.
    Blob(Error),
    /// The body broke and was not continued (a transport failure, a stall), or the
    /// adapter's own machinery failed (its hashing): an error of this kind and message.
    Io {
        /// The error's kind.
        kind: io::ErrorKind,
        /// What it says.
        message: String,
    },
}

impl PullFailure {
    /// A copy of an IO error: its kind and message, or the [`Error`] it carries.
    pub fn io(e: &io::Error) -> PullFailure {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
            Some(carried) => PullFailure::Blob(carried.clone()),
            None => PullFailure::Io {
                kind: e.kind(),
                message: e.to_string(),
            },
        }
    }

    /// A failure of the adapter's own (`io::ErrorKind::Other`).
    pub fn other(message: impl Into<String>) -> PullFailure {
        PullFailure::Io {
            kind: io::ErrorKind::Other,
            message: message.into(),
        }
    }

    /// The error a read reports.
    pub fn to_io(&self) -> io::Error {
        match self {
            PullFailure::Blob(e) => io::Error::new(io::ErrorKind::InvalidData, e.clone()),
            PullFailure::Io { kind, message } => io::Error::new(*kind, message.clone()),
        }
    }
}

impl From<Error> for PullFailure {
    fn from(e: Error) -> PullFailure {
        PullFailure::Blob(e)
    }
}

/// A stall is a break that timed out.
impl From<Stall> for PullFailure {
    fn from(stall: Stall) -> PullFailure {
        PullFailure::Io {
            kind: io::ErrorKind::TimedOut,
            message: stall.to_string(),
        }
    }
}

impl fmt::Display for PullFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullFailure::Blob(e) => e.fmt(f),
            PullFailure::Io { message, .. } => f.write_str(message),
        }
    }
}

impl BlobPull {
    /// The pull of the blob whose first response (from offset 0) is `download`, in `repo`:
    /// its body bounds and the resumes it is allowed (the retry policy's `max_retries`)
    /// are `session`'s. Time 0 is now.
    pub fn new(session: &Session, repo: &Repository, download: &Download) -> BlobPull {
        let limits = session.limits();
        let bounds = limits.timeouts.for_body(BodyPlan::Deliver);
        BlobPull {
            repo: repo.clone(),
            digest: download.verifier.expected().clone(),
            total: download.verifier.expected_len(),
            watch: BodyWatch::new(&bounds, Duration::ZERO, Duration::ZERO),
            bounds,
            received: 0,
            skip: 0,
            resumes_left: limits.retry.max_retries,
            state: State::Receiving,
            trace: None,
            last: Duration::ZERO,
            cache: session
                .blob_cache()
                .map(|c| (c.clone(), session.host().to_owned())),
        }
    }

    /// Tells `trace` the blob's size and time once it is verified (the body event a
    /// driver's run cannot report for a body it delivers).
    pub fn with_trace(mut self, trace: Option<super::Trace>) -> BlobPull {
        self.trace = trace;
        self
    }

    /// The digest the blob is verified against.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob's size, when the registry announced it or the caller expected one.
    pub fn size(&self) -> Option<u64> {
        self.total
    }

    /// How the bodies may arrive: the adapter's idle timer is [`BodyBounds::idle`].
    pub fn bounds(&self) -> &BodyBounds {
        &self.bounds
    }

    /// Blob bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The blob was verified: every later read reports its end.
    pub fn is_verified(&self) -> bool {
        matches!(self.state, State::Verified)
    }

    /// Why the pull failed, once it has: every later read fails with it.
    pub fn failed(&self) -> Option<&PullFailure> {
        match &self.state {
            State::Failed(f) => Some(f),
            _ => None,
        }
    }

    /// `n` bytes of the current body arrived at `now`: which of them to drop, and whether
    /// the body fell below the speed floor. Skipped bytes count for the speed as any other.
    pub fn on_bytes(&mut self, n: usize, now: Duration) -> Arrival {
        let skip = usize::try_from(self.skip).unwrap_or(usize::MAX).min(n);
        self.skip = self.skip.saturating_sub(skip as u64);
        self.received = self.received.saturating_add(n.saturating_sub(skip) as u64);
        self.last = now;
        Arrival {
            skip,
            stall: self.watch.on_bytes(n, now).err(),
        }
    }

    /// The body broke (`broken`: the adapter's error, one it counts as a broken body, or
    /// [`Arrival::stall`]). While resumes are left, one is used: run the
    /// [`Resumption`]'s request and hand its answer to [`resumed`](Self::resumed).
    /// Otherwise the pull fails with `broken`.
    pub fn on_break(&mut self, broken: PullFailure) -> Result<Resumption, PullFailure> {
        if !matches!(self.state, State::Receiving) || self.resumes_left == 0 {
            return Err(self.fail(broken));
        }
        self.resumes_left -= 1;
        self.state = State::Resuming(broken);
        Ok(Resumption {
            repo: self.repo.clone(),
            digest: self.digest.clone(),
            offset: self.received,
            total: self.total,
        })
    }

    /// The resume's `answer` at `now`: a body `B` whose first byte is at blob offset
    /// `offset` ([`Download::offset`]: the offset asked for, or 0 when the registry sent
    /// the whole blob again, whose bytes already received are then skipped), returned to
    /// replace the broken one, under a speed floor counted afresh. A body starting past
    /// the bytes received would leave a gap; then, or when the resume failed (its own error
    /// does not matter), the pull fails with the break.
    pub fn resumed<B, E>(
        &mut self,
        answer: Result<(B, u64), E>,
        now: Duration,
    ) -> Result<B, PullFailure> {
        match (std::mem::replace(&mut self.state, State::Receiving), answer) {
            (State::Resuming(_), Ok((body, offset))) if offset <= self.received => {
                self.skip = self.received - offset;
                self.watch = BodyWatch::new(&self.bounds, Duration::ZERO, now);
                Ok(body)
            }
            (state, _) => {
                self.state = state;
                Err(self.resume_failed())
            }
        }
    }

    /// The resume failed: the pull fails with the break.
    fn resume_failed(&mut self) -> PullFailure {
        match std::mem::replace(&mut self.state, State::Receiving) {
            State::Resuming(broken) | State::Failed(broken) => self.fail(broken),
            _ => self.fail(PullFailure::other("blob resume failed without a break")),
        }
    }

    /// The verifier's verdict at the end of the body: the pull is done only when it is
    /// `Ok` (and nothing failed before).
    pub fn verdict(&mut self, verdict: Result<(), PullFailure>) -> Result<(), PullFailure> {
        match verdict {
            Ok(()) if matches!(self.state, State::Receiving | State::Verified) => {
                if let State::Receiving = self.state {
                    if let Some(trace) = &self.trace {
                        trace.emit(&super::TraceEvent::Body {
                            bytes: self.received,
                            elapsed: self.last,
                        });
                    }
                    if let Some((cache, registry)) = &self.cache {
                        cache.saw(registry, &self.repo, &self.digest, self.received);
                    }
                }
                self.state = State::Verified;
                Ok(())
            }
            // Ended while a resume was under way: the break stands.
            Ok(()) => Err(self.resume_failed()),
            Err(f) => Err(self.fail(f)),
        }
    }

    /// The pull fails with `failure` — unless it failed already: the first failure sticks.
    /// Returns the one kept.
    pub fn fail(&mut self, failure: PullFailure) -> PullFailure {
        match &self.state {
            State::Failed(first) => first.clone(),
            _ => {
                self.state = State::Failed(failure.clone());
                failure
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::BlobVerifier;
    use crate::retry::RetryPolicy;
    use crate::session::{Limits, Scheme};
    use crate::timeouts::{MinSpeed, Timeouts};

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// A pull of a 10 000-byte blob allowed `resumes` resumes, with a 1000 bytes/s floor
    /// over 1 s windows; and its session.
    fn pull(resumes: u32) -> (BlobPull, Session) {
        let limits = Limits {
            retry: RetryPolicy {
                max_retries: resumes,
                ..RetryPolicy::default()
            },
            timeouts: Timeouts {
                min_speed: Some(MinSpeed {
                    bytes_per_sec: 1000,
                    window: S(1),
                }),
                ..Timeouts::default()
            },
            ..Limits::default()
        };
        let session = Session::new("r.test", Scheme::Https)
            .unwrap()
            .with_limits(limits);
        let repo = session.repository("team/data").unwrap();
        let mut h = crate::Sha256::new();
        h.update(b"abc");
        let digest = h.finish();
        let download = Download {
            verifier: BlobVerifier::new(digest, Some(10_000)).unwrap(),
            len: Some(10_000),
            offset: 0,
        };
        (BlobPull::new(&session, &repo, &download), session)
    }

    fn reset() -> PullFailure {
        PullFailure::Io {
            kind: io::ErrorKind::ConnectionReset,
            message: "connection reset".into(),
        }
    }

    /// A resume's answer: a body starting at blob offset `offset`.
    fn body(offset: u64) -> Result<((), u64), io::Error> {
        Ok(((), offset))
    }

    fn received(p: &mut BlobPull, n: usize, now: Duration) {
        assert_eq!(
            p.on_bytes(n, now),
            Arrival {
                skip: 0,
                stall: None
            }
        );
    }

    #[test]
    fn a_break_is_resumed_from_the_bytes_received_with_a_range_request() {
        let (mut p, session) = pull(2);
        assert_eq!(p.size(), Some(10_000));
        received(&mut p, 3000, Duration::from_millis(100));
        let from = p.on_break(reset()).unwrap();
        assert_eq!(from.offset(), 3000);
        let op = from.op(&session).unwrap();
        assert_eq!(op.digest(), p.digest());
        assert_eq!(op.expected_len(), Some(10_000));
        let mut op = session.start(op);
        let crate::Step::Send(req) = crate::Operation::poll(&mut op, crate::UnixTime(0)).unwrap()
        else {
            panic!("no request")
        };
        assert_eq!(req.headers()["range"], "bytes=3000-");
        // A 206 from where it was asked: nothing to skip, bytes go on counting.
        p.resumed(body(3000), S(1)).unwrap();
        received(&mut p, 7000, S(2));
        assert_eq!(p.received(), 10_000);
        assert!(!p.is_verified());
        p.verdict(Ok(())).unwrap();
        assert!(p.is_verified());
        assert!(p.failed().is_none());
    }

    #[test]
    fn a_whole_blob_answer_skips_what_was_received() {
        let (mut p, _) = pull(1);
        received(&mut p, 3000, Duration::from_millis(100));
        p.on_break(reset()).unwrap();
        // A 200 with the whole blob: its first 3000 bytes were received already, across
        // as many pieces as they come in.
        p.resumed(body(0), S(1)).unwrap();
        let a = p.on_bytes(2000, S(1));
        assert_eq!((a.skip, p.received()), (2000, 3000));
        let a = p.on_bytes(1500, S(1));
        assert_eq!((a.skip, p.received()), (1000, 3500));
        let a = p.on_bytes(1500, S(1));
        assert_eq!((a.skip, p.received()), (0, 5000));
    }

    #[test]
    fn a_resumed_body_past_the_bytes_received_is_a_gap_and_refused() {
        let (mut p, _) = pull(3);
        received(&mut p, 3000, Duration::from_millis(100));
        p.on_break(reset()).unwrap();
        let e = p.resumed(body(3001), S(1)).unwrap_err();
        assert_eq!(
            e.to_io().kind(),
            io::ErrorKind::ConnectionReset,
            "the break"
        );
        assert!(p.failed().is_some());
        // Resumes were left, but the pull is over.
        assert!(p.on_break(reset()).is_err());
    }

    #[test]
    fn resumes_are_bounded_by_the_retry_policy() {
        let (mut p, _) = pull(2);
        for offset in [0, 1000] {
            received(&mut p, 1000, Duration::from_millis(100));
            let from = p.on_break(reset()).unwrap();
            assert_eq!(from.offset(), offset + 1000);
            p.resumed(body(from.offset()), Duration::from_millis(200))
                .unwrap();
        }
        let e = p.on_break(PullFailure::other("cut")).unwrap_err();
        assert_eq!(e.to_string(), "cut");
        assert_eq!(p.failed().unwrap().to_string(), "cut");
        // None allowed: the first break is final.
        let (mut p, _) = pull(0);
        assert!(p.on_break(reset()).is_err());
    }

    #[test]
    fn a_resume_that_fails_fails_the_pull_with_the_break() {
        let (mut p, _) = pull(2);
        p.on_break(Stall::Idle(S(1)).into()).unwrap();
        let e = p.resumed(Err::<((), u64), _>("refused"), S(2)).unwrap_err();
        assert_eq!(e.to_io().kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "timed out: no data moved for 1 s");
        assert!(p.on_break(reset()).is_err(), "no resume after failing");
    }

    #[test]
    fn falling_below_the_speed_floor_is_a_break_and_the_floor_starts_over_on_resume() {
        let (mut p, _) = pull(1);
        // 100 bytes a second against a 1000 bytes/s floor over 1 s.
        assert_eq!(p.on_bytes(50, Duration::from_millis(500)).stall, None);
        let a = p.on_bytes(50, S(1));
        assert_eq!(a.skip, 0);
        let stall = a.stall.unwrap();
        assert!(matches!(stall, Stall::TooSlow(_)));
        // The bytes of that piece count.
        assert_eq!(p.received(), 100);
        let from = p.on_break(stall.into()).unwrap();
        assert_eq!(from.offset(), 100);
        // Resumed at 10 s: the window counts from there, not from 0.
        p.resumed(body(100), S(10)).unwrap();
        assert_eq!(p.on_bytes(1000, S(11)).stall, None);
        // Skipped bytes are held to the floor too: a whole blob dripped.
        let (mut p, _) = pull(1);
        received(&mut p, 5000, Duration::from_millis(10));
        p.on_break(reset()).unwrap();
        p.resumed(body(0), S(1)).unwrap();
        let a = p.on_bytes(10, S(2));
        assert_eq!(a.skip, 10);
        assert!(a.stall.is_some());
    }

    #[test]
    fn a_failure_sticks_and_only_a_good_verdict_ends_a_pull() {
        let (mut p, _) = pull(4);
        received(&mut p, 10_000, S(1));
        let refused = PullFailure::Blob(Error::LengthMismatch {
            expected: 10_000,
            actual: 10_001,
        });
        let e = p.verdict(Err(refused)).unwrap_err().to_io();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(!p.is_verified());
        // Every later failure, break, resume or verdict reports the first failure.
        for later in [
            p.fail(PullFailure::other("later")),
            p.on_break(reset()).unwrap_err(),
            p.resumed(Err::<((), u64), _>("refused"), S(2)).unwrap_err(),
            p.resumed(body(0), S(2)).unwrap_err(),
            p.verdict(Ok(())).unwrap_err(),
        ] {
            assert!(
                matches!(later, PullFailure::Blob(Error::LengthMismatch { .. })),
                "{later:?}"
            );
        }
        assert!(!p.is_verified());
        // Cancelled: an IO error carrying a dxf-proto error is that error.
        let (mut p, _) = pull(4);
        let carried = io::Error::other(Error::Cancelled);
        p.fail(PullFailure::io(&carried));
        let e = p.failed().unwrap().to_io();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(matches!(
            e.get_ref().unwrap().downcast_ref::<Error>(),
            Some(Error::Cancelled)
        ));
        // A good verdict while a resume is under way is no end.
        let (mut p, _) = pull(4);
        p.on_break(reset()).unwrap();
        assert!(p.verdict(Ok(())).is_err());
        assert!(!p.is_verified());
        // A verified pull can still be failed by the adapter (its hashing gave up).
        let (mut p, _) = pull(4);
        p.verdict(Ok(())).unwrap();
        p.fail(PullFailure::other("hashing stopped early"));
        assert!(!p.is_verified());
    }

    #[test]
    fn io_errors_are_copied_with_their_kind_and_message() {
        let e = io::Error::new(io::ErrorKind::TimedOut, Stall::Idle(S(2)));
        let copy = PullFailure::io(&e).to_io();
        assert_eq!(copy.kind(), io::ErrorKind::TimedOut);
        assert_eq!(copy.to_string(), e.to_string());
        let stall = PullFailure::from(Stall::Idle(S(2))).to_io();
        assert_eq!(stall.to_string(), e.to_string());
        assert_eq!(PullFailure::other("x").to_io().kind(), io::ErrorKind::Other);
    }
}
