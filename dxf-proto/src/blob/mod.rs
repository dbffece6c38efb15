//! Blob operations: HEAD (size), GET (download with verification), DELETE, upload
//! (monolithic, chunked, streamed), upload status, and cross-repository mount.

mod delete;
mod get;
mod head;
mod mount;
mod redirect;
mod status;
mod upload;

pub use delete::DeleteBlob;
pub use get::{Download, GetBlob};
pub use head::{BlobInfo, HeadBlob};
pub(crate) use mount::mount_url;
pub use mount::{MountBlob, MountOptions};
pub use status::{UploadProgress, UploadStatus};
pub use upload::{Pushed, Upload, UploadCheckpoint, UploadMode, UploadOptions};

use crate::error::{Error, ProtocolViolation};
use crate::reference::Digest;

/// The `Docker-Content-Digest` header, when present.
pub(crate) fn content_digest(head: &http::response::Parts) -> Result<Option<Digest>, Error> {
    let Some(v) = head.headers.get("docker-content-digest") else {
        return Ok(None);
    };
    let text = v
        .to_str()
        .map_err(|_| ProtocolViolation::BadDigestHeader("not visible ASCII".into()))?;
    Digest::parse(text.trim())
        .map(Some)
        .map_err(|e| ProtocolViolation::BadDigestHeader(e.to_string()).into())
}

/// The `Content-Length` header, when present.
pub(crate) fn content_length(head: &http::response::Parts) -> Result<Option<u64>, Error> {
    let Some(v) = head.headers.get(http::header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    crate::headers::parse_decimal(v.as_bytes())
        .map(Some)
        .map_err(|e| ProtocolViolation::BadContentLength(e.to_string()).into())
}

/// Fails unless the announced digest (when present) is `expected`.
pub(crate) fn check_announced(
    expected: &Digest,
    head: &http::response::Parts,
) -> Result<(), Error> {
    match content_digest(head)? {
        Some(actual) if &actual != expected => Err(Error::DigestMismatch {
            expected: expected.clone(),
            actual,
        }),
        _ => Ok(()),
    }
}
