//! Copying an alias (an image, an artifact, or a multi-arch index with everything it lists)
//! from one repository to another, in the same registry or to another one — the decisions
//! of `dxf copy`; the adapters move the bytes.
//!
//! The procedure an adapter follows:
//!
//! 1. [`PlanCopy`] on the source: fetches the alias's manifest and, for an index, every
//!    manifest it lists (recursively, by digest, each verified), and returns a
//!    [`CopyPlan`]: the manifests in the order they must be stored (children before the
//!    index that lists them), byte for byte as received, and the distinct blobs (configs
//!    and layers) they reference.
//! 2. For each blob, [`PlaceBlob`] on the destination (any number at a time): a `HEAD`
//!    (present: nothing to do), then, when both are one registry, a cross-repository mount
//!    (`201`: done; `202` — the registry opened an upload session instead, as Harbor does —
//!    or any refusal: the session is cancelled and the blob is uploaded; a mount that ends
//!    in [`Error::Unauthorized`](crate::Error::Unauthorized) is retried without the mount,
//!    without the mount). Its
//!    [`BlobPlacement`] says whether the adapter must upload the blob:
//!    the upload operation is then to be fed from the source's verified
//!    blob reader as a stream (one `PATCH` of the known size, the digest checked by the
//!    registry at the closing `PUT` and by dxf-proto while relaying) — never from disk.
//! 3. The manifests, in plan order: [`CopyPlan::manifest_puts`] gives the `PUT`s — each
//!    child by its digest, the top manifest under the destination reference. The bytes
//!    are unchanged, so every digest (the index's too) is the source's.
//!
//! [`CopyReport`] tallies what happened.

mod blob;
mod plan;

pub(crate) use blob::upload_blob;
pub use blob::{BlobPlacement, PlaceBlob};
pub use plan::{CopyBlob, CopyManifest, CopyPlan, PlanCopy};

use crate::reference::Digest;
use crate::session::Session;

/// Whether two sessions talk to the same registry (same scheme, host and port), so that
/// blobs can be mounted from one repository into the other instead of uploaded.
pub(crate) fn same_registry(a: &Session, b: &Session) -> bool {
    let (a, b) = (a.base_url(), b.base_url());
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// What a copy did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReport {
    /// The top manifest's digest (the same in source and destination).
    pub digest: Digest,
    /// Manifests stored (the top one and, for an index, every one it lists).
    pub manifests: usize,
    /// Blobs the destination already had.
    pub blobs_present: usize,
    /// Blobs mounted from the source repository.
    pub blobs_mounted: usize,
    /// Blobs uploaded (streamed from the source).
    pub blobs_uploaded: usize,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
}

impl CopyReport {
    /// A report for a copy of the manifest `digest`, nothing counted yet.
    pub fn new(digest: Digest) -> CopyReport {
        CopyReport {
            digest,
            manifests: 0,
            blobs_present: 0,
            blobs_mounted: 0,
            blobs_uploaded: 0,
            bytes_uploaded: 0,
        }
    }

    /// Counts one blob: where [`PlaceBlob`] put it, and `uploaded` for a blob that then had
    /// to be uploaded ([`BlobPlacement::NeedsUpload`]) and was.
    pub fn record(&mut self, blob: &CopyBlob, placement: BlobPlacement) {
        match placement {
            BlobPlacement::Present => self.blobs_present += 1,
            BlobPlacement::Mounted => self.blobs_mounted += 1,
            BlobPlacement::NeedsUpload => {
                self.blobs_uploaded += 1;
                self.bytes_uploaded = self.bytes_uploaded.saturating_add(blob.size);
            }
        }
    }
}

impl std::fmt::Display for CopyReport {
    /// `<digest> (<n> manifests; blobs: <u> uploaded (<bytes> bytes), <m> mounted, <p>
    /// already present)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} manifest{}; blobs: {} uploaded ({} bytes), {} mounted, {} already present)",
            self.digest,
            self.manifests,
            if self.manifests == 1 { "" } else { "s" },
            self.blobs_uploaded,
            self.bytes_uploaded,
            self.blobs_mounted,
            self.blobs_present
        )
    }
}
