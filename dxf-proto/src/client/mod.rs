//! The client layer both adapters share, written once and IO-free: what a client is
//! configured with ([`Config`]), what its calls fail with ([`Error`], over an opaque
//! [`TransportError`]), how a push is decided and reported ([`PushOptions`]), how a pull
//! that breaks midway is continued and when it ends ([`BlobPull`]), and the compound
//! operations ([`Flow`]: [`SetAlias`], [`DeleteAlias`], [`AttachArtifact`]) that an adapter
//! runs with one loop, and the decisions of an [`AliasCopy`]. `dxf-ureq` and `dxf-hyper`
//! re-export these types, so both take the same `Config` and report the same errors; each
//! keeps only its HTTP client, TLS set-up, body plumbing, run loop, and a thin method per
//! operation.

mod aliases;
mod authenticate;
mod config;
mod copy;
mod error;
mod files;
mod flow;
mod layout;
mod methods;
mod proxy;
mod pull;
mod push;
mod run;
mod shared;
mod trace;

pub use aliases::{AttachArtifact, DeleteAlias, SetAlias};
pub use authenticate::authentication;
pub use config::{Config, TlsVerify, TransportConfig};
pub use copy::{
    AliasCopy, BlobCopy, BlobStep, CopyEnd, CopyOptions, Placements, ReferrerCopy, ReferrersWalk,
    DEFAULT_COPY_JOBS, MAX_REFERRER_WALK,
};
pub use error::{source_read_error, Error, Result, SourceReadError, TransportError};
pub use files::{
    check_entry, check_titles, directory_layer, file_layer, pull_plan, EntryCheck, EntryKind,
    FilesError, PullItem, CONTENT_DIGEST_ANNOTATION, DIRECTORY_MEDIA_TYPE, FILE_MEDIA_TYPE,
    UNPACK_ANNOTATION,
};
pub use flow::{Flow, FlowStep, Outcome, SubOperation};
pub use layout::{
    blob_path, find as find_in_layout, index_with, LayoutError, INDEX_FILE, LAYOUT_FILE,
    LAYOUT_JSON, MAX_INDEX, REF_NAME_ANNOTATION,
};
pub use proxy::{Proxies, Proxy};
pub use pull::{Arrival, BlobPull, PullFailure, Resumption};
pub use push::{CheckpointFn, Checkpoints, FilePush, Progress, ProgressFn, PushOptions};
pub use run::{Next, ObserveFn, Run, SendFailure, SentFn};
pub use shared::SharedSession;
pub use trace::{redact_url, Trace, TraceEvent, REDACTED};

/// What both adapters re-export at their root (`pub use dxf_proto::client::exports::*;`):
/// the client's types and the protocol types their methods name.
pub mod exports {
    pub use super::{
        Config, CopyOptions, Error, ProgressFn, PushOptions, Result, TlsVerify, Trace, TraceEvent,
        TransportConfig, DEFAULT_COPY_JOBS,
    };
    pub use crate::{
        Attached, CopyReport, Credentials, Digest, Interrupt, PerPlatform, Pushed, ReferrersList,
        Stall, TagDeletion, Timeouts, UploadMode,
    };
}
