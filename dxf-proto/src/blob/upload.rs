//! Blob upload: optional existence check (HEAD), `POST /v2/<name>/blobs/uploads/`, then
//! either one monolithic `PUT <location>?digest=` or `PATCH` chunks followed by a closing
//! `PUT`. Two sources:
//!
//! - **known** (`Upload::known`): the caller has a seekable source of known length and digest;
//!   bodies are [`Body::Source`] descriptors the driver streams (and can replay);
//! - **stream** (`Upload::stream`): the core asks for bytes with [`Step::NeedSource`], hashes
//!   them, and sends them as `PATCH` bodies; the digest is computed here and given at the
//!   final `PUT` (single pass; memory bounded by the chunk size). A registry whose
//!   `OCI-Chunk-Min-Length` is larger than that chunk size gets the whole stream as one
//!   [`Body::StreamToEnd`] `PATCH` (chunked transfer encoding, hashed as it goes out)
//!   instead of a larger buffer: memory stays bounded whatever the registry announces;
//! - **sized stream** (`Upload::sized_stream`): the length is known but not the digest (a
//!   file pushed in one pass): one `PATCH` whose [`Body::Stream`] body the driver relays
//!   from the source, handing every piece to the core to hash as it goes out, then the
//!   closing `PUT ?digest=` (single pass, no buffer here, no chunk round trips).
//!
//! Tolerated registry quirks: a new `Location` after every response (always the newest is
//! used, relative or absolute, query kept), `PATCH` answered 201 (ECR), a short `Range`
//! acknowledgement (resend from there, known source), a stale `Range` that stops advancing
//! (ECR, Zot: trusted, and the closing digest check catches loss), a `Range` whose end is
//! one past the bytes sent (container-registry; distribution-spec#213 left the form
//! ambiguous for years: read as "all held", and that registry's later `Range`s one lower),
//! `416` on `PATCH` (ask the session's status and continue), `OCI-Chunk-Min-Length`, a
//! chunk lost in transport (ask the status, continue from what the registry holds).
//!
//! The strategy is learned both ways: a first `PATCH` refused as a method (405/501, GAR)
//! sends the blob in the closing `PUT` instead; a monolithic `PUT` refused (400 that is not
//! about the digest or size, 405, 413, 500, 501 — container-registry answers 500 "missing
//! content length not implemented") sends it in `PATCH` chunks instead, in the same session
//! (a session the registry dropped meanwhile is started again). Each is told to the session
//! ([`UploadHints`](crate::UploadHints)), and switches at most once per upload. A
//! monolithic `PUT` whose connection breaks while the body goes out (how an early 500 and
//! a close look from the client) is tried again the same way, in a new session. An upload
//! status `GET` answered 405/501 means the registry has no status endpoint: the upload
//! starts over in a new session (a bounded number of times).
//!
//! A stream keeps a copy of its first chunk until the registry acknowledges it: a chunk
//! refused for its size (GHCR: 416 over 4 MiB) goes again smaller, and a stream that fits
//! one chunk goes as one `PUT` when `PATCH` is refused (GAR). A single-pass relayed body
//! (`Upload::sized_stream`) refused for its size is read again from its file when the
//! driver can ([`Upload::with_seekable_source`]), in chunks; otherwise the upload fails.
//!
//! Success needs a 201 on the final `PUT` whose `Docker-Content-Digest`, when present, is
//! the blob's digest. An upload given up — its own error, a
//! [`cancel`](crate::Operation::cancel) (a driver that cannot read its source cancels
//! too), or a relayed body refused while it goes out (a source that ends early or gives
//! too much) — first cancels its registry session: one `DELETE` of the newest `Location`,
//! best effort, under the short bound of a cleanup.
//!
//! [`Step::NeedSource`]: crate::Step::NeedSource

use http::header::CONTENT_RANGE;
use http::{HeaderValue, Method, StatusCode};
use url::Url;

use super::status::held_bytes;
use super::{check_announced, content_length};
use crate::auth::Scope;
use crate::digest::Sha256;
use crate::error::{Error, OciError, OpKind, ProtocolViolation};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next, Refusable};
use crate::headers::parse_decimal;
use crate::operation::{Body, Request, SourceRange};
use crate::reference::{Digest, Repository};
use crate::session::{Event, Session, SessionEvent, DEFAULT_ERROR_BODY};
use crate::url::{location, request, with_query_param};

/// How the bytes of a known source are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UploadMode {
    /// One `PUT` with the whole blob (python-dxf's way; what GAR requires).
    #[default]
    Monolithic,
    /// `PATCH` chunks of the chunk size, then a closing `PUT`.
    Chunked,
}

/// Choices for an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadOptions {
    /// HEAD the blob first and skip the upload when it exists (python-dxf default: on).
    /// Needs the digest up front; ignored for a stream source without an expected digest.
    pub skip_if_exists: bool,
    /// Monolithic or chunked, for a known source (a stream source is always chunked).
    pub mode: UploadMode,
    /// Chunk size; the session's [`Limits::chunk_size`](crate::Limits) when `None`.
    pub chunk_size: Option<u64>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            skip_if_exists: true,
            mode: UploadMode::Monolithic,
            chunk_size: None,
        }
    }
}

/// The result of an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size.
    pub size: u64,
    /// Whether the upload was skipped because the blob already existed.
    pub skipped: bool,
    /// The repository the blob was mounted from instead of sent (a location from the
    /// [blob cache](crate::BlobCache)); `None` when its bytes were sent or it was there.
    pub mounted_from: Option<Repository>,
}

/// Most consecutive responses without progress before an upload is abandoned.
pub(super) const MAX_STALLED_ROUNDS: u32 = 8;

/// Most times an upload of a seekable source starts over after the registry lost its
/// session (distribution and ACR invalidate a session whose chunk was cut midway).
pub(super) const MAX_RESTARTS: u32 = 2;

#[derive(Debug)]
enum Source {
    Known {
        digest: Digest,
        len: u64,
    },
    Stream {
        expected: Option<Digest>,
        hasher: Sha256,
        pending: Vec<u8>,
        eof: bool,
        /// The most bytes buffered for one chunk (the chunk size the upload started with).
        buffer_cap: u64,
        /// A [`Body::StreamToEnd`] request is going out: relayed bytes are hashed.
        relaying: bool,
        /// A copy of the first chunks' bytes while no chunk was acknowledged yet (from
        /// offset `inflight_at`): what a registry refusing the chunk's size (GHCR's 4 MiB
        /// cap: 416) or refusing chunks altogether (GAR: 405) gets again, smaller or as one
        /// `PUT`. Empty once a chunk was acknowledged: memory stays one chunk after that.
        inflight: Vec<u8>,
        inflight_at: u64,
    },
    /// Relayed by the driver as one `PATCH` body of `len` bytes; `fed` of them hashed.
    Relayed {
        expected: Option<Digest>,
        hasher: Sha256,
        len: u64,
        fed: u64,
    },
}

impl Source {
    /// The blob's length when known before it is sent.
    fn len(&self) -> Option<u64> {
        match self {
            Source::Known { len, .. } | Source::Relayed { len, .. } => Some(*len),
            Source::Stream {
                eof: true, pending, ..
            } => Some(pending.len() as u64),
            Source::Stream { .. } => None,
        }
    }

    /// The blob's digest when known before it is sent.
    fn digest(&self) -> Option<&Digest> {
        match self {
            Source::Known { digest, .. } => Some(digest),
            Source::Stream { expected, .. } | Source::Relayed { expected, .. } => expected.as_ref(),
        }
    }

    /// Whether the bytes sent from offset `acked` on cannot be sent again (no short
    /// acknowledgement or refused chunk can be made good): a stream's, unless its
    /// in-flight copy covers them.
    fn is_unrepeatable(&self, acked: u64) -> bool {
        match self {
            Source::Known { .. } => false,
            Source::Stream {
                inflight,
                inflight_at,
                relaying: false,
                ..
            } => inflight.is_empty() || *inflight_at != acked,
            Source::Stream { .. } | Source::Relayed { .. } => true,
        }
    }

    /// A stream whose bytes from `held` on are in the in-flight copy: they go back in
    /// front of what is still to be sent. False when the copy does not cover `held`.
    fn take_back_from(&mut self, held: u64) -> bool {
        let Source::Stream {
            inflight,
            inflight_at,
            pending,
            ..
        } = self
        else {
            return false;
        };
        let end = *inflight_at + inflight.len() as u64;
        if inflight.is_empty() || held < *inflight_at || held > end {
            return false;
        }
        let skip = usize::try_from(held - *inflight_at).unwrap_or(usize::MAX);
        let mut rest = inflight.split_off(skip.min(inflight.len()));
        rest.extend_from_slice(pending);
        *pending = rest;
        inflight.clear();
        true
    }
}

#[derive(Debug)]
enum Phase {
    Checking,
    /// A cross-repository mount from a cached location instead of a new session: 201
    /// ends the upload, 202 is the new session, anything else a plain one.
    Mounting,
    Starting,
    Patching {
        end: u64,
    },
    /// Asking how much the registry holds; `refused` when the last chunk was refused
    /// (416/413): if none of it was kept, it was too large.
    Resyncing {
        refused: bool,
    },
    Committing {
        digest: Digest,
    },
}

/// Where an upload stands, to pick it up again later — in another process, after a crash:
/// the registry's latest `Location` for the session, and the bytes it acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadCheckpoint {
    /// The upload session's URL (the newest `Location`).
    pub location: String,
    /// Bytes the registry acknowledged.
    pub offset: u64,
}

/// A blob upload. Output: [`Pushed`].
#[derive(Debug)]
pub struct Upload(Machine<UploadFlow>);

#[derive(Debug)]
pub(crate) struct UploadFlow {
    repo: Repository,
    uploads_url: Url,
    blob_url: Option<Url>,
    source: Source,
    mode: UploadMode,
    skip_if_exists: bool,
    chunk: u64,
    max_chunk: u64,
    location: Option<Url>,
    acked: u64,
    /// The furthest offset ever fully acknowledged: only passing it counts as progress (a
    /// registry that acknowledges a chunk, then 416s and resyncs back, must not loop).
    high_water: u64,
    stalls: u32,
    restarts: u32,
    /// Continuing a session an earlier run started (`location` is set): ask its status
    /// instead of starting one.
    resuming: bool,
    /// The registry's `OCI-Chunk-Min-Length`: chunks never shrink below it.
    min_chunk: u64,
    /// The registry's `Range` ends one past the bytes it holds (learned from an
    /// acknowledgement of exactly one more byte than was sent).
    range_one_past: bool,
    /// The strategy (monolithic or chunked) was switched after a refusal: never again.
    switched: bool,
    /// The registry has answered about the session at `location` (false while a resumed
    /// checkpoint is unconfirmed: it is not a checkpoint of this run).
    confirmed: bool,
    /// The driver serves [`Body::Source`] ranges of a relayed source too
    /// ([`Upload::with_seekable_source`]).
    seekable: bool,
    /// A repository of this registry the [blob cache](crate::BlobCache) says holds the
    /// blob (with the size seen there): tried as a mount before a session is opened, once.
    mount_from: Option<(Repository, u64)>,
    /// What the session should learn (chunk limits, no chunked uploads, blob locations).
    events: std::collections::VecDeque<SessionEvent>,
    phase: Phase,
}

impl Upload {
    /// Upload of `len` bytes of a seekable source whose digest is `digest`.
    pub fn known(
        session: &Session,
        repo: &Repository,
        digest: &Digest,
        len: u64,
        options: &UploadOptions,
    ) -> Result<Upload, Error> {
        if !digest.is_sha256() {
            return Err(Error::UnsupportedDigestAlgorithm(
                digest.algorithm().to_owned(),
            ));
        }
        Self::build(
            session,
            repo,
            Source::Known {
                digest: digest.clone(),
                len,
            },
            options,
            Some(digest),
        )
    }

    /// Continues the chunked upload of a known source that an earlier run left at
    /// `checkpoint` ([`Upload::checkpoint`]): asks the registry how much the session holds
    /// and goes on from there (never trusting the checkpoint's offset alone); when the
    /// registry no longer knows the session, starts a new one. With
    /// `options.skip_if_exists`, a blob already there (the earlier run finished) is skipped.
    pub fn resume(
        session: &Session,
        repo: &Repository,
        digest: &Digest,
        len: u64,
        checkpoint: &UploadCheckpoint,
        options: &UploadOptions,
    ) -> Result<Upload, Error> {
        let location = Url::parse(&checkpoint.location)
            .map_err(|e| Error::InvalidUrl(format!("upload checkpoint: {e}")))?;
        let options = UploadOptions {
            mode: UploadMode::Chunked,
            ..options.clone()
        };
        let mut op = Upload::known(session, repo, digest, len, &options)?.without_mount();
        op.0.flow.location = Some(location);
        op.0.flow.resuming = true;
        op.0.flow.confirmed = false;
        Ok(op)
    }

    /// The latest checkpoint of a chunked upload of a known source: `None` before the
    /// registry opened the session (or, resuming, before it answered about the session)
    /// and for other kinds of uploads.
    pub fn checkpoint(&self) -> Option<UploadCheckpoint> {
        let flow = &self.0.flow;
        let known = matches!(flow.source, Source::Known { .. })
            && flow.mode == UploadMode::Chunked
            && flow.confirmed;
        let location = flow.location.as_ref().filter(|_| known)?;
        Some(UploadCheckpoint {
            location: location.as_str().to_owned(),
            offset: flow.acked,
        })
    }

    /// The checkpoint when it moved on since `last` (which it then replaces): what a driver
    /// persists after each response.
    pub fn next_checkpoint(&self, last: &mut Option<UploadCheckpoint>) -> Option<UploadCheckpoint> {
        let cp = self.checkpoint().filter(|cp| last.as_ref() != Some(cp))?;
        *last = Some(cp.clone());
        Some(cp)
    }

    /// Upload of a stream of unknown length, hashed here. With `expected`, the computed
    /// digest must match it before the upload is committed (and `skip_if_exists` applies).
    pub fn stream(
        session: &Session,
        repo: &Repository,
        expected: Option<&Digest>,
        options: &UploadOptions,
    ) -> Result<Upload, Error> {
        let source = Source::Stream {
            expected: expected.cloned(),
            hasher: Sha256::new(),
            pending: Vec::new(),
            eof: false,
            buffer_cap: 0,
            relaying: false,
            inflight: Vec::new(),
            inflight_at: 0,
        };
        Self::hashed_here(session, repo, source, expected, options)
    }

    /// Upload of a stream of exactly `len` bytes whose digest is not known yet, in one
    /// pass: one `PATCH` with a [`Body::Stream`] body that the driver relays from its stream
    /// source through [`handle_source`](crate::Operation::handle_source), hashed here, then
    /// the closing `PUT` with the computed digest. With `expected`, the digest must match it
    /// before the upload is committed (and `skip_if_exists` applies). A source that gives
    /// fewer or more than `len` bytes fails the upload.
    pub fn sized_stream(
        session: &Session,
        repo: &Repository,
        len: u64,
        expected: Option<&Digest>,
        options: &UploadOptions,
    ) -> Result<Upload, Error> {
        let source = Source::Relayed {
            expected: expected.cloned(),
            hasher: Sha256::new(),
            len,
            fed: 0,
        };
        Self::hashed_here(session, repo, source, expected, options)
    }

    /// For a [`sized_stream`](Upload::sized_stream) upload whose driver can also serve
    /// [`Body::Source`] ranges of the same bytes (a file: the relayed body is read from it,
    /// and it can be read again): a registry refusing the one relayed `PATCH` for its size
    /// (413/416, GHCR's 4 MiB cap) then gets the blob again, its digest known by then, in
    /// chunks from the file — instead of failing. Other uploads are unchanged.
    pub fn with_seekable_source(mut self) -> Upload {
        self.0.flow.seekable = true;
        self
    }

    /// Never a cross-repository mount from a cached location, even when the session's
    /// [blob cache](crate::BlobCache) knows one (a copy that tried it already).
    pub fn without_mount(mut self) -> Upload {
        self.0.flow.mount_from = None;
        self
    }

    /// An upload whose digest this operation computes (stream sources): always chunked,
    /// and an expected digest must be one it can compute.
    fn hashed_here(
        session: &Session,
        repo: &Repository,
        source: Source,
        expected: Option<&Digest>,
        options: &UploadOptions,
    ) -> Result<Upload, Error> {
        if let Some(d) = expected.filter(|d| !d.is_sha256()) {
            return Err(Error::UnsupportedDigestAlgorithm(d.algorithm().to_owned()));
        }
        let options = UploadOptions {
            mode: UploadMode::Chunked,
            ..options.clone()
        };
        Self::build(session, repo, source, &options, expected)
    }

    fn build(
        session: &Session,
        repo: &Repository,
        source: Source,
        options: &UploadOptions,
        digest: Option<&Digest>,
    ) -> Result<Upload, Error> {
        let limits = session.limits();
        let hints = session.upload_hints();
        let mode = match source {
            // Learned earlier in this session: this registry takes no chunks.
            Source::Known { .. } if hints.monolithic_only => UploadMode::Monolithic,
            // Learned earlier: this registry refuses a `PUT` with a body.
            Source::Known { .. } if hints.chunked_only => UploadMode::Chunked,
            _ => options.mode,
        };
        let chunk = options
            .chunk_size
            .unwrap_or(limits.chunk_size)
            .min(hints.max_chunk.unwrap_or(u64::MAX))
            .clamp(1, limits.max_chunk_size);
        let blob_url = match digest {
            Some(d) if options.skip_if_exists => {
                Some(session.v2_url(&format!("{}/blobs/{}", repo.as_str(), d.as_str()))?)
            }
            _ => None,
        };
        let mut source = source;
        if let Source::Stream { buffer_cap, .. } = &mut source {
            *buffer_cap = chunk;
        }
        let mount_from = digest
            .and_then(|d| session.mount_source(repo, d))
            .filter(|(_, size)| source.len().is_none_or(|len| len == *size));
        Ok(Upload(Machine::new(UploadFlow {
            uploads_url: session.v2_url(&format!("{}/blobs/uploads/", repo.as_str()))?,
            repo: repo.clone(),
            skip_if_exists: blob_url.is_some(),
            blob_url,
            source,
            mode,
            chunk,
            max_chunk: limits.max_chunk_size,
            location: None,
            acked: 0,
            high_water: 0,
            stalls: 0,
            restarts: 0,
            resuming: false,
            min_chunk: 1,
            range_one_past: false,
            switched: false,
            confirmed: true,
            seekable: false,
            mount_from,
            events: std::collections::VecDeque::new(),
            phase: Phase::Checking,
        })))
    }
}

/// The digest of everything hashed, which must be `expected` when one was given (a stream
/// that does not hash to it is never committed).
fn computed_digest(hasher: &mut Sha256, expected: Option<&Digest>) -> Result<Digest, Error> {
    let digest = std::mem::take(hasher).finish();
    match expected {
        Some(e) if *e != digest => Err(Error::DigestMismatch {
            expected: e.clone(),
            actual: digest,
        }),
        _ => Ok(digest),
    }
}

fn chunk_request(url: &Url, body: Body, start: u64) -> Result<Request, Error> {
    let len = body.len();
    let mut req = request(Method::PATCH, url, body, Some("application/octet-stream"))?;
    let range = format!("{start}-{}", (start + len).saturating_sub(1));
    req.headers_mut().insert(
        CONTENT_RANGE,
        HeaderValue::from_str(&range).map_err(|_| crate::error::Misuse::UnexpectedCall("range"))?,
    );
    Ok(req)
}

impl UploadFlow {
    fn current_location(&self) -> Result<&Url, Error> {
        self.location
            .as_ref()
            .ok_or_else(|| ProtocolViolation::MissingLocation.into())
    }

    /// A new session, or — resuming an earlier run's — the question how much it holds,
    /// or first a mount from the cached location.
    fn open_or_resume(&mut self) -> Result<Next<Pushed>, Error> {
        if !std::mem::take(&mut self.resuming) {
            return match (&self.mount_from, self.source.digest()) {
                (Some((from, _)), Some(digest)) => {
                    let url = super::mount_url(&self.uploads_url, digest, from);
                    let mut req = request(Method::POST, &url, Body::Empty, None)?;
                    req.extensions_mut().insert(Refusable);
                    self.phase = Phase::Mounting;
                    Ok(Next::Send(req))
                }
                _ => self.start_session(),
            };
        }
        self.phase = Phase::Resyncing { refused: false };
        Ok(Next::Send(request(
            Method::GET,
            self.current_location()?,
            Body::Empty,
            None,
        )?))
    }

    /// The mount from the cached location did not happen: the location is forgotten
    /// (a stale entry costs this one request), and it is not tried again.
    fn mount_refused(&mut self) {
        if let (Some((from, _)), Some(digest)) = (self.mount_from.take(), self.source.digest()) {
            self.events.push_back(Event::blob_gone(&from, digest));
        }
    }

    /// The blob is in the repository: what the session's blob cache learns.
    fn done(&mut self, pushed: Pushed) -> Result<Next<Pushed>, Error> {
        self.events
            .push_back(Event::blob_seen(&self.repo, &pushed.digest, pushed.size));
        Ok(Next::Done(pushed))
    }

    fn start_session(&mut self) -> Result<Next<Pushed>, Error> {
        self.phase = Phase::Starting;
        Ok(Next::Send(request(
            Method::POST,
            &self.uploads_url,
            Body::Empty,
            None,
        )?))
    }

    fn commit(&mut self, digest: Digest, body: Body) -> Result<Next<Pushed>, Error> {
        let url = with_query_param(self.current_location()?, "digest", digest.as_str());
        let ct = (!body.is_empty()).then_some("application/octet-stream");
        let req = request(Method::PUT, &url, body, ct)?;
        self.phase = Phase::Committing { digest };
        Ok(Next::Send(req))
    }

    /// The next step once the session exists and `acked` bytes are stored.
    fn advance(&mut self) -> Result<Next<Pushed>, Error> {
        match &mut self.source {
            Source::Known { digest, len } => {
                let (digest, len) = (digest.clone(), *len);
                if self.mode == UploadMode::Monolithic {
                    return self.commit(
                        digest,
                        if len == 0 {
                            Body::Empty
                        } else {
                            Body::Source(SourceRange { offset: 0, len })
                        },
                    );
                }
                if self.acked >= len {
                    return self.commit(digest, Body::Empty);
                }
                let n = self.chunk.min(len - self.acked);
                let req = chunk_request(
                    self.current_location()?,
                    Body::Source(SourceRange {
                        offset: self.acked,
                        len: n,
                    }),
                    self.acked,
                )?;
                self.phase = Phase::Patching {
                    end: self.acked + n,
                };
                Ok(Next::Send(req))
            }
            Source::Stream {
                pending,
                eof,
                hasher,
                expected,
                buffer_cap,
                relaying,
                inflight,
                inflight_at,
            } => {
                *relaying = false;
                if !*eof && pending.is_empty() && self.chunk > *buffer_cap {
                    // The registry wants chunks larger than we buffer: the rest of the
                    // stream goes out as one PATCH, relayed (and hashed) as it is read.
                    let location = self
                        .location
                        .as_ref()
                        .ok_or(ProtocolViolation::MissingLocation)?;
                    let req = request(
                        Method::PATCH,
                        location,
                        Body::StreamToEnd,
                        Some("application/octet-stream"),
                    )?;
                    *relaying = true;
                    self.phase = Phase::Patching { end: self.acked };
                    return Ok(Next::Send(req));
                }
                let want = usize::try_from(self.chunk.min(*buffer_cap)).unwrap_or(usize::MAX);
                if !*eof && pending.len() < want {
                    return Ok(Next::NeedSource {
                        max: want - pending.len(),
                    });
                }
                if !pending.is_empty() {
                    let n = usize::try_from(self.chunk).unwrap_or(usize::MAX);
                    let body = if pending.len() <= n {
                        std::mem::take(pending)
                    } else {
                        pending.drain(..n).collect()
                    };
                    if self.high_water == 0 {
                        inflight.clone_from(&body);
                        *inflight_at = self.acked;
                    }
                    let end = self.acked + body.len() as u64;
                    let req =
                        chunk_request(self.current_location()?, Body::Bytes(body), self.acked)?;
                    self.phase = Phase::Patching { end };
                    return Ok(Next::Send(req));
                }
                let digest = computed_digest(hasher, expected.as_ref())?;
                self.commit(digest, Body::Empty)
            }
            Source::Relayed {
                expected,
                hasher,
                len,
                fed,
            } => {
                let (len, fed) = (*len, *fed);
                if self.acked == 0 && fed == 0 && len > 0 {
                    let req = chunk_request(self.current_location()?, Body::Stream { len }, 0)?;
                    self.phase = Phase::Patching { end: len };
                    return Ok(Next::Send(req));
                }
                if fed != len {
                    return Err(Error::LengthMismatch {
                        expected: len,
                        actual: fed,
                    });
                }
                let digest = computed_digest(hasher, expected.as_ref())?;
                self.commit(digest, Body::Empty)
            }
        }
    }

    fn take_location(&mut self, head: &http::response::Parts, required: bool) -> Result<(), Error> {
        let base = match &self.location {
            Some(u) => u.clone(),
            None => self.uploads_url.clone(),
        };
        match location(&base, head) {
            Ok(u) => {
                self.location = Some(u);
                Ok(())
            }
            Err(Error::Protocol(ProtocolViolation::MissingLocation)) if !required => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn note_chunk_hint(&mut self, head: &http::response::Parts) {
        if let Some(min) = head
            .headers
            .get("oci-chunk-min-length")
            .and_then(|v| parse_decimal(v.as_bytes()).ok())
        {
            self.chunk = self.chunk.max(min).min(self.max_chunk);
            self.min_chunk = min.clamp(1, self.max_chunk);
        }
    }

    /// The last chunk was refused and the registry kept none of it: it was too large.
    /// Halves the chunk size (not below `OCI-Chunk-Min-Length`) and tells the session.
    fn shrink(&mut self) {
        let smaller = (self.chunk / 2).max(self.min_chunk);
        if smaller < self.chunk {
            self.events
                .push_back(SessionEvent(Event::ChunkTooLarge(smaller)));
            self.chunk = smaller;
        }
    }

    /// The first `PATCH` was refused as a method (405/501): the registry takes monolithic
    /// uploads only (GAR). Whether that applies now.
    fn refuses_chunks(&self, status: StatusCode) -> bool {
        let whole = match &self.source {
            Source::Known { .. } => true,
            // A stream that fitted in its first chunk: all of it is in the copy.
            Source::Stream {
                eof: true,
                pending,
                inflight,
                inflight_at: 0,
                relaying: false,
                ..
            } => pending.is_empty() && !inflight.is_empty(),
            _ => false,
        };
        matches!(status.as_u16(), 405 | 501)
            && self.high_water == 0
            && self.mode == UploadMode::Chunked
            && !self.switched
            && whole
    }

    /// A monolithic `PUT` with a body was refused in a way that may mean "not this way"
    /// (container-registry: 500; others 400/405/413/501): the blob goes in chunks instead.
    /// (A 400 about the digest or the size is decided in `on_response`, from its body.)
    fn refuses_monolithic(&self, status: StatusCode) -> bool {
        matches!(status.as_u16(), 400 | 405 | 413 | 500 | 501)
            && self.mode == UploadMode::Monolithic
            && !self.switched
            && matches!(self.source, Source::Known { len, .. } if len > 0)
    }

    /// A monolithic `PUT` refused: the blob goes in chunks from offset 0, the session is
    /// told, and the strategy never switches again in this upload.
    fn go_chunked(&mut self) {
        self.events
            .push_back(SessionEvent(Event::NoMonolithicUploads));
        self.mode = UploadMode::Chunked;
        self.switched = true;
        self.acked = 0;
        self.high_water = 0;
    }

    /// Whether a response means "the registry dropped the session, or cannot say what it
    /// holds; start over" — possible for a seekable source, a bounded number of times:
    /// a 404 on a chunk or a status request (distribution and ACR invalidate a session
    /// whose chunk was cut midway), or a status request answered 405/501 (no status
    /// endpoint, as container-registry).
    fn may_restart(&self, status: StatusCode) -> bool {
        let resyncing = matches!(self.phase, Phase::Resyncing { .. });
        (status == StatusCode::NOT_FOUND || (resyncing && matches!(status.as_u16(), 405 | 501)))
            && self.restarts < MAX_RESTARTS
            && matches!(self.source, Source::Known { .. })
    }

    /// Starts over in a new session (see [`may_restart`](Self::may_restart)).
    fn restart(&mut self) -> Result<Next<Pushed>, Error> {
        self.restarts += 1;
        self.acked = 0;
        self.high_water = 0;
        self.location = None;
        self.start_session()
    }

    /// A relayed body refused for its size, whose driver can read the source again: it is
    /// hashed whole by now, so the upload goes on as one of a known source, in chunks
    /// smaller than the refused body (the status request that follows says what is held).
    fn reread_refused_relay(&mut self) -> Result<(), Error> {
        let Source::Relayed {
            expected,
            hasher,
            len,
            fed,
        } = &mut self.source
        else {
            return Ok(());
        };
        if !self.seekable || fed != len || self.acked != 0 {
            return Ok(());
        }
        let len = *len;
        let digest = computed_digest(hasher, expected.as_ref())?;
        self.source = Source::Known { digest, len };
        self.chunk = self.chunk.min(len.max(1));
        Ok(())
    }

    /// For a stream, puts the in-flight bytes from `held` on back to be sent again (true
    /// when covered); nothing to do for a seekable source (true).
    fn take_back(&mut self, held: u64) -> bool {
        match self.source {
            Source::Known { .. } => true,
            _ => self.source.take_back_from(held),
        }
    }

    fn stalled(&mut self) -> Result<(), Error> {
        self.stalls += 1;
        if self.stalls > MAX_STALLED_ROUNDS {
            return Err(ProtocolViolation::UploadStalled.into());
        }
        Ok(())
    }

    /// Accounts for a PATCH acknowledgement covering bytes up to `end` (exclusive).
    fn acknowledge(&mut self, head: &http::response::Parts, end: u64) -> Result<(), Error> {
        let mut held = held_bytes(head)?.unwrap_or(end);
        if self.range_one_past {
            held = held.saturating_sub(1);
        } else if held == end + 1 && end > self.acked {
            // The end one past the bytes sent: all of them are held, and this registry
            // counts that way from now on (the closing digest check is the safety net).
            self.range_one_past = true;
            held = end;
        }
        if held > end {
            return Err(ProtocolViolation::RangeBeyondSent {
                sent: end,
                acknowledged: held,
            }
            .into());
        }
        if held == end {
            self.acked = end;
            if let Source::Stream { inflight, .. } = &mut self.source {
                // Acknowledged: the copy is not needed again.
                *inflight = Vec::new();
            }
            if end > self.high_water {
                self.high_water = end;
                self.stalls = 0;
            }
        } else if held > self.acked {
            // Short acknowledgement: the registry kept only part of the chunk.
            if self.source.is_unrepeatable(self.acked) || !self.take_back(held) {
                return Err(ProtocolViolation::BadRange(format!(
                    "registry kept {held} of {end} streamed bytes"
                ))
                .into());
            }
            self.acked = held;
            self.stalled()?;
        } else {
            // Stale Range that did not advance (ECR, Zot): trust the transfer; the closing
            // PUT's digest check catches any loss. Every such round advances by a chunk.
            self.acked = end;
        }
        Ok(())
    }
}

/// Uploads of small in-memory contents.
impl Upload {
    /// Upload of `data`, held by the operation (no source is asked for): its digest is
    /// computed here; with `options.skip_if_exists` a HEAD first skips it when the
    /// registry has it. Sent as one `PATCH` and the closing `PUT` (for configs and other
    /// small documents; the whole of `data` stays in memory).
    pub fn bytes(
        session: &Session,
        repo: &Repository,
        data: Vec<u8>,
        options: &UploadOptions,
    ) -> Result<Upload, Error> {
        let mut hasher = Sha256::new();
        hasher.update(&data);
        let digest = hasher.clone().finish();
        let source = Source::Stream {
            expected: Some(digest.clone()),
            hasher,
            pending: data,
            eof: true,
            buffer_cap: 0,
            relaying: false,
            inflight: Vec::new(),
            inflight_at: 0,
        };
        Self::hashed_here(session, repo, source, Some(&digest), options)
    }

    /// The OCI empty descriptor's blob (`{}`, the config of OCI artifact manifests),
    /// uploaded only when the repository does not have it (a HEAD first): registries check
    /// that a manifest's config blob exists.
    pub fn empty_config(session: &Session, repo: &Repository) -> Result<Upload, Error> {
        Upload::bytes(
            session,
            repo,
            crate::manifest::media_types::EMPTY_CONFIG_JSON.to_vec(),
            &UploadOptions {
                skip_if_exists: true,
                ..UploadOptions::default()
            },
        )
    }
}

impl Flow for UploadFlow {
    type Output = Pushed;

    fn kind(&self) -> OpKind {
        OpKind::Upload
    }

    fn scope(&self) -> Scope {
        match &self.mount_from {
            // One token for both: push here, pull where the blob is mounted from.
            Some((from, _)) => Scope::mount(&self.repo, from),
            None => Scope::repository(&self.repo, "pull,push"),
        }
    }

    fn start(&mut self) -> Result<Next<Pushed>, Error> {
        match &self.blob_url {
            Some(url) if self.skip_if_exists => {
                self.phase = Phase::Checking;
                Ok(Next::Send(request(Method::HEAD, url, Body::Empty, None)?))
            }
            _ => self.open_or_resume(),
        }
    }

    fn expects(&self, status: StatusCode) -> bool {
        match self.phase {
            Phase::Checking => matches!(status.as_u16(), 200 | 404),
            // 201 mounted, 202 a session instead, anything else a plain upload follows.
            Phase::Mounting => true,
            Phase::Starting => status == StatusCode::ACCEPTED,
            Phase::Patching { .. } => {
                matches!(status.as_u16(), 201 | 202 | 204 | 413 | 416)
                    || self.may_restart(status)
                    || self.refuses_chunks(status)
            }
            Phase::Resyncing { .. } => {
                matches!(status.as_u16(), 200 | 204) || self.may_restart(status)
            }
            Phase::Committing { .. } => {
                status == StatusCode::CREATED || self.refuses_monolithic(status)
            }
        }
    }

    fn on_head(&mut self, head: &http::response::Parts) -> Result<HeadAction<Pushed>, Error> {
        Ok(match self.phase {
            // A refused monolithic `PUT`: its body says whether the digest was the matter.
            Phase::Committing { .. } if head.status != StatusCode::CREATED => {
                HeadAction::Feed(DEFAULT_ERROR_BODY)
            }
            _ => HeadAction::Discard,
        })
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<Pushed>, Error> {
        match std::mem::replace(&mut self.phase, Phase::Starting) {
            Phase::Checking => {
                if head.status == StatusCode::NOT_FOUND {
                    return self.open_or_resume();
                }
                let (digest, size) = match &self.source {
                    Source::Known { digest, len } => (digest.clone(), *len),
                    Source::Stream {
                        expected: Some(d), ..
                    }
                    | Source::Relayed {
                        expected: Some(d), ..
                    } => (
                        d.clone(),
                        content_length(&head)?.ok_or_else(|| {
                            ProtocolViolation::BadContentLength("missing on blob HEAD".into())
                        })?,
                    ),
                    Source::Stream { expected: None, .. }
                    | Source::Relayed { expected: None, .. } => {
                        return Err(crate::error::Misuse::UnexpectedCall("check").into())
                    }
                };
                check_announced(&digest, &head)?;
                self.done(Pushed {
                    digest,
                    size,
                    skipped: true,
                    mounted_from: None,
                })
            }
            Phase::Mounting if head.status == StatusCode::CREATED => {
                let (from, size) = self
                    .mount_from
                    .take()
                    .ok_or(crate::error::Misuse::UnexpectedCall("mount"))?;
                let digest = self
                    .source
                    .digest()
                    .cloned()
                    .ok_or(crate::error::Misuse::UnexpectedCall("mount"))?;
                // Checked like any upload: the registry must not announce another blob.
                check_announced(&digest, &head)?;
                self.done(Pushed {
                    digest,
                    size,
                    skipped: false,
                    mounted_from: Some(from),
                })
            }
            Phase::Mounting if head.status == StatusCode::ACCEPTED => {
                // Not mounted, but the session the spec says a refused mount opens: the
                // upload goes on in it (no request lost to the stale entry).
                self.mount_refused();
                self.confirmed = true;
                self.take_location(&head, true)?;
                self.note_chunk_hint(&head);
                self.advance()
            }
            Phase::Mounting => {
                // Refused (Harbor: 401; 403, 404, 405…): a plain upload.
                self.mount_refused();
                self.start_session()
            }
            Phase::Starting => {
                self.confirmed = true;
                self.take_location(&head, true)?;
                self.note_chunk_hint(&head);
                self.advance()
            }
            // Only reached when `may_restart` let the 404 (or the status 405/501) through.
            Phase::Patching { .. } if head.status == StatusCode::NOT_FOUND => self.restart(),
            Phase::Resyncing { .. } if matches!(head.status.as_u16(), 404 | 405 | 501) => {
                self.restart()
            }
            Phase::Patching { end } => {
                self.take_location(&head, false)?;
                if let Source::Relayed { len, fed, .. } = &self.source {
                    // The source, not the registry, decides first: a short source is the
                    // cause of whatever the registry says about the bytes it got.
                    if fed != len {
                        return Err(Error::LengthMismatch {
                            expected: *len,
                            actual: *fed,
                        });
                    }
                }
                if self.refuses_chunks(head.status) {
                    // Monolithic from here on, in this session too: the whole blob in the
                    // closing PUT of this same session.
                    self.events.push_back(SessionEvent(Event::NoChunkedUploads));
                    self.mode = UploadMode::Monolithic;
                    self.switched = true;
                    if let Source::Stream {
                        hasher,
                        expected,
                        inflight,
                        ..
                    } = &mut self.source
                    {
                        // A stream held whole in memory: its digest is known, one PUT.
                        let digest = computed_digest(hasher, expected.as_ref())?;
                        let body = std::mem::take(inflight);
                        self.acked = body.len() as u64;
                        return self.commit(digest, Body::Bytes(body));
                    }
                    return self.advance();
                }
                let refused = matches!(head.status.as_u16(), 413 | 416);
                if refused {
                    self.reread_refused_relay()?;
                    if self.source.is_unrepeatable(self.acked) {
                        return Err(Error::UnexpectedStatus {
                            op: OpKind::Upload,
                            status: head.status,
                            oci: Vec::new(),
                        });
                    }
                    self.stalled()?;
                    self.phase = Phase::Resyncing { refused: true };
                    return Ok(Next::Send(request(
                        Method::GET,
                        self.current_location()?,
                        Body::Empty,
                        None,
                    )?));
                }
                self.acknowledge(&head, end)?;
                self.advance()
            }
            Phase::Resyncing { refused } => {
                self.confirmed = true;
                self.take_location(&head, false)?;
                let held = match held_bytes(&head)? {
                    // `0-0` is what distribution says of an empty session (it cannot say
                    // `0--1`); nothing was ever acknowledged, so read it as nothing held.
                    Some(1) if self.acked == 0 => 0,
                    held => held.unwrap_or(0),
                };
                let total = match &self.source {
                    Source::Known { len, .. } => *len,
                    Source::Stream {
                        inflight,
                        inflight_at,
                        ..
                    } if !inflight.is_empty() => inflight_at + inflight.len() as u64,
                    Source::Stream { .. } | Source::Relayed { .. } => self.acked,
                };
                if held > total {
                    return Err(ProtocolViolation::RangeBeyondSent {
                        sent: total,
                        acknowledged: held,
                    }
                    .into());
                }
                if !self.take_back(held) {
                    return Err(ProtocolViolation::BadRange(format!(
                        "registry holds {held} bytes of a stream whose first {} are gone",
                        self.acked
                    ))
                    .into());
                }
                if refused && held == self.acked {
                    self.shrink();
                }
                self.acked = held;
                self.advance()
            }
            Phase::Committing { .. } if head.status != StatusCode::CREATED => {
                // Only reached when `refuses_monolithic` let the status through.
                let about_content = OciError::decode(&body)
                    .iter()
                    .any(|e| matches!(e.code.as_str(), "DIGEST_INVALID" | "SIZE_INVALID"));
                if head.status == StatusCode::BAD_REQUEST && about_content {
                    return Err(Error::from_response(OpKind::Upload, &head, &body));
                }
                // Chunks from here on, in this same session (404 on the first chunk: the
                // registry dropped it; a new one is started).
                self.go_chunked();
                self.advance()
            }
            Phase::Committing { digest } => {
                check_announced(&digest, &head)?;
                let size = match &self.source {
                    Source::Known { len, .. } | Source::Relayed { len, .. } => *len,
                    Source::Stream { .. } => self.acked,
                };
                self.done(Pushed {
                    digest,
                    size,
                    skipped: false,
                    mounted_from: None,
                })
            }
        }
    }

    fn on_source(&mut self, data: &[u8]) -> Result<Next<Pushed>, Error> {
        let Source::Stream {
            hasher,
            pending,
            eof,
            ..
        } = &mut self.source
        else {
            return Err(crate::error::Misuse::UnexpectedCall("handle_source").into());
        };
        if data.is_empty() {
            *eof = true;
        } else {
            hasher.update(data);
            pending.extend_from_slice(data);
        }
        self.advance()
    }

    fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    fn cleanup(&mut self) -> Option<Request> {
        // The upload is given up: cancel the session (spec: clients SHOULD; failures
        // ignored). Once.
        let url = self.location.take()?;
        request(Method::DELETE, &url, Body::Empty, None).ok()
    }

    fn on_send_failure(&mut self) -> Option<Result<Next<Pushed>, Error>> {
        if matches!(self.phase, Phase::Mounting) {
            // Whatever became of the mount, a plain upload settles it.
            self.mount_refused();
            return Some(self.start_session());
        }
        let broken_put = self.refuses_monolithic(StatusCode::INTERNAL_SERVER_ERROR);
        if matches!(self.phase, Phase::Committing { .. }) && broken_put {
            // A monolithic `PUT` whose connection broke while its body went out: what a
            // registry refusing it outright looks like from here (container-registry
            // answers 500 at once and closes; the rest of the body meets a closed socket).
            // In chunks, in a new session (the state of this one is unknown): once.
            self.go_chunked();
            self.location = None;
            return Some(self.start_session());
        }
        // A chunk of a seekable source that may or may not have arrived: ask the registry
        // how much it holds and go on from there (never a blind replay).
        let resumable = matches!(self.source, Source::Known { .. })
            && matches!(self.phase, Phase::Patching { .. });
        if !resumable {
            return None;
        }
        let resync = self.stalled().and_then(|()| {
            self.phase = Phase::Resyncing { refused: false };
            request(Method::GET, self.current_location()?, Body::Empty, None).map(Next::Send)
        });
        Some(resync)
    }

    fn on_relay(&mut self, data: &[u8]) -> Result<(), Error> {
        if let (
            Source::Stream {
                hasher,
                eof,
                relaying: true,
                ..
            },
            Phase::Patching { end },
        ) = (&mut self.source, &mut self.phase)
        {
            // A `StreamToEnd` body going out: hash it, and learn where it ends.
            if *eof {
                return Err(crate::error::Misuse::UnexpectedCall("handle_source").into());
            }
            if data.is_empty() {
                *eof = true;
            }
            hasher.update(data);
            *end += data.len() as u64;
            return Ok(());
        }
        let (
            Source::Relayed {
                hasher, len, fed, ..
            },
            Phase::Patching { .. },
        ) = (&mut self.source, &self.phase)
        else {
            return Err(crate::error::Misuse::UnexpectedCall("handle_source").into());
        };
        let left = len.saturating_sub(*fed);
        if data.is_empty() && left > 0 {
            // The source ended early (a file that shrank): never commit.
            return Err(Error::LengthMismatch {
                expected: *len,
                actual: *fed,
            });
        }
        if data.len() as u64 > left {
            return Err(crate::error::Misuse::SourceOverrun {
                max: usize::try_from(left).unwrap_or(usize::MAX),
                got: data.len(),
            }
            .into());
        }
        hasher.update(data);
        *fed += data.len() as u64;
        Ok(())
    }
}

delegate_operation!(Upload, Pushed);
