//! # dxf-proto: the sans-IO core of dxf
//!
//! Client-side state machines for the Docker Registry HTTP API v2 / OCI distribution spec
//! 1.1: authentication (Basic and the Bearer token flow), blob HEAD/GET/DELETE, monolithic,
//! chunked and streamed uploads, mounts, manifests (python-dxf's byte-exact alias form, OCI
//! artifacts, indexes), deleting one tag ([`DeleteTag`]), planning copies between
//! repositories and registries ([`copy`]), tag and catalog pagination, and typed errors.
//!
//! **In scope**: every protocol decision — which request to send, which statuses and
//! headers mean what, redirects, auth, retries of a request after a challenge, bounds on
//! everything a peer controls, digest verification. **Out of scope**: sockets, TLS, files,
//! clocks, threads, async. The adapters (`dxf-ureq`, `dxf-hyper`) do IO and nothing else.
//!
//! ## The driver loop
//!
//! ```text
//!            ┌──────────── poll(now) ─────────────┐
//!            ▼                                     │
//!   Step::Send(req) ── send ──► response head ── handle_response(head, now) ─► BodyPlan
//!   Step::NeedSource{max} ── read ≤ max ── handle_source(bytes)          Discard │ Feed │ Deliver
//!   Step::Wait(d) ── sleep                         handle_body(chunk)* + handle_body_end ┘
//!   Step::Done(output)                  after every handle_*: poll_session_event → Session
//! ```
//!
//! Time bounds are dxf-proto's too: [`Timeouts::for_request`] says how long connecting, the
//! response head and each read or write of a `Send` may take (and how long an
//! [`Interrupt`] lets it finish); [`Timeouts::for_body`] and a [`BodyWatch`] fed with
//! every body piece bound the body (a whole-response deadline, a speed floor). A request
//! that ran out of time is a [`Operation::handle_send_failure`], like a lost connection.
//!
//! What the HTTP stack must and must not do, and this loop in code, are in
//! [Embedding dxf-proto in any HTTP stack](#embedding-dxf-proto-in-any-http-stack) below.
//!
//! Operations are values built from a [`Session`], which starts them: [`Session::start`]
//! wraps them in [`Retrying`] and [`Authed`], and the driver runs what it returns.
//!
//! ```
//! use dxf_proto::{http, BodyPlan, HeadBlob, Operation, Session, Scheme, Step, UnixTime};
//!
//! let session = Session::new("registry.example:5000", Scheme::Https)?;
//! let repo = session.repository("team/data")?;
//! let digest = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".parse()?;
//! let mut op = session.start(HeadBlob::new(&session, &repo, &digest)?);
//!
//! let Step::Send(req) = op.poll(UnixTime(1_700_000_000))? else { unreachable!() };
//! assert_eq!(req.method(), http::Method::HEAD);
//! assert_eq!(req.uri(), "https://registry.example:5000/v2/team/data/blobs/sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
//!
//! // The adapter sends it and hands back the head of the response.
//! let head = http::Response::builder().status(200).header("content-length", "3").body(())?;
//! assert_eq!(op.handle_response(head, UnixTime(1_700_000_000))?, BodyPlan::Discard);
//! let Step::Done(info) = op.poll(UnixTime(1_700_000_000))? else { unreachable!() };
//! assert_eq!(info.size, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Shape
//!
//! One uniform [`Operation`] trait, one value per operation, a private state enum inside
//! (the STYLE guide's shape 3): adapters write one generic run loop, the fuzzer one generic
//! driver, and auth is one generic wrapper ([`Authed`]). Request bodies are descriptors
//! ([`Body`]); blob downloads are never buffered — the driver streams them through the
//! [`BlobVerifier`] in the [`Download`] the operation returns. Time comes in as
//! [`UnixTime`]; waits go out as [`Step::Wait`].
#![doc = include_str!("embedding.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub use http;

pub mod auth;
mod blob;
pub mod client;
mod digest;
pub mod docker_config;
mod error;
mod exchange;
pub mod headers;
mod interrupt;
mod list;
mod locations;
pub mod manifest;
mod operation;
pub mod pyjson;
mod reference;
mod retry;
mod session;
mod timeouts;
mod url;
mod version;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod tests;

pub use auth::{
    parse_challenges, parse_rfc3339, parse_token_response, Authed, Challenge, ChallengeError,
    Scope, Scoped, TokenResponse, TokenResponseError,
};
pub use blob::{
    BlobInfo, DeleteBlob, Download, GetBlob, HeadBlob, MountBlob, MountOptions, Pushed, Upload,
    UploadCheckpoint, UploadMode, UploadOptions, UploadProgress, UploadStatus,
};
pub use digest::{digest_of, verify_bytes, BlobVerifier, Sha256};
pub use error::{Error, Misuse, OciError, OpKind, ProtocolViolation};
pub use interrupt::{Interrupt, Interruption, RunWatch, STOP_GRACE};
pub use list::{Catalog, ListTags, Page};
pub use locations::{BlobCache, BlobLocation, BlobLocations, MAX_LOCATIONS, MAX_LOCATIONS_FILE};
pub use manifest::{
    AliasContent, AliasManifest, DeleteManifest, FetchedManifest, GetManifest, HeadManifest,
    ManifestInfo, PerPlatform, PlatformManifest, PutManifest, ReadAlias, ReadOptions,
};
pub use manifest::{Attach, Attached, Referrers, ReferrersList, ReferrersVia};
pub use operation::{Body, BodyPlan, Operation, Recovery, Request, SourceRange, Step, UnixTime};
pub use reference::{Digest, Reference, ReferenceError, Repository, Tag};
pub use retry::{RetryPolicy, Retrying};
pub use session::{Credentials, Limits, Scheme, Session, SessionEvent, UploadHints};
pub use timeouts::{
    BodyBounds, BodyWatch, Bounds, MinSpeed, Stall, Timeouts, DEFAULT_CLEANUP_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MIN_SPEED, DEFAULT_TIMEOUT,
};
pub use url::MAX_URL_LEN;
pub use version::{VersionCheck, VersionInfo};

pub mod copy;
pub use copy::{CopyPlan, CopyReport, PlanCopy};
pub use manifest::{DeleteTag, TagDeletion};
