//! Manifests: media types, building alias manifests (python-dxf's byte-exact Docker
//! schema 2 form and the OCI 1.1 artifact form), decoding manifests and indexes, and the
//! manifest operations (GET, HEAD, PUT, DELETE, and [`ReadAlias`], which resolves an
//! index to per-platform manifests), plus OCI 1.1 referrers: [`Referrers`] (the API, or the
//! tag schema) and [`Attach`] (an artifact with a `subject`).

pub mod alias;
mod attach;
mod delete;
pub(crate) mod get;
mod head;
pub mod media_types;
pub mod parse;
mod put;
mod read;
pub mod referrers;

pub use attach::{Attach, Attached};
pub use delete::DeleteManifest;
pub use get::{FetchedManifest, GetManifest};
pub use head::{HeadManifest, ManifestInfo};
pub use put::PutManifest;
pub use read::{
    AliasContent, AliasManifest, PerPlatform, PlatformManifest, ReadAlias, ReadOptions,
};
pub use referrers::{Referrers, ReferrersList, ReferrersVia};

mod delete_tag;
pub use delete_tag::{throwaway_manifest, DeleteTag, TagDeletion, THROWAWAY_ANNOTATION};

use crate::error::{Error, ProtocolViolation};
use parse::ManifestError;

impl From<ManifestError> for Error {
    fn from(e: ManifestError) -> Self {
        match e {
            ManifestError::UnsupportedMediaType(t) => Error::UnsupportedMediaType(t),
            other => Error::Protocol(ProtocolViolation::BadJson {
                what: "manifest",
                detail: other.to_string(),
            }),
        }
    }
}
