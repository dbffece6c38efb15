//! Errors: [`Error`] (the one error type of the crate), [`ProtocolViolation`] (peer mistakes),
//! [`Misuse`] (driver mistakes), [`OciError`] (the registry's error JSON) and [`OpKind`]
//! (which operation failed).

use std::fmt;

use http::StatusCode;
use serde::Deserialize;

use crate::manifest::parse::IndexWithoutPlatforms;
use crate::reference::{Digest, ReferenceError};

/// The operation an error happened in, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpKind {
    /// `GET /v2/`.
    VersionCheck,
    /// Token request to the auth realm.
    Token,
    /// `HEAD /v2/<name>/blobs/<digest>`.
    BlobHead,
    /// `GET /v2/<name>/blobs/<digest>`.
    BlobGet,
    /// `DELETE /v2/<name>/blobs/<digest>`.
    BlobDelete,
    /// Blob upload (POST, PATCH, PUT).
    Upload,
    /// `GET` of an upload session's status.
    UploadStatus,
    /// Cross-repository mount.
    Mount,
    /// `PUT /v2/<name>/manifests/<reference>`.
    ManifestPut,
    /// `GET /v2/<name>/manifests/<reference>`.
    ManifestGet,
    /// `HEAD /v2/<name>/manifests/<reference>`.
    ManifestHead,
    /// `DELETE /v2/<name>/manifests/<reference>`.
    ManifestDelete,
    /// `GET /v2/<name>/tags/list`.
    ListTags,
    /// `GET /v2/_catalog`.
    Catalog,
    /// `GET /v2/<name>/referrers/<digest>`.
    Referrers,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpKind::VersionCheck => "version check",
            OpKind::Token => "token request",
            OpKind::BlobHead => "blob HEAD",
            OpKind::BlobGet => "blob GET",
            OpKind::BlobDelete => "blob DELETE",
            OpKind::Upload => "blob upload",
            OpKind::UploadStatus => "upload status",
            OpKind::Mount => "blob mount",
            OpKind::ManifestPut => "manifest PUT",
            OpKind::ManifestGet => "manifest GET",
            OpKind::ManifestHead => "manifest HEAD",
            OpKind::ManifestDelete => "manifest DELETE",
            OpKind::ListTags => "tag list",
            OpKind::Catalog => "catalog",
            OpKind::Referrers => "referrers list",
        })
    }
}

/// One entry of the registry's error body `{"errors":[{"code":…,"message":…,"detail":…}]}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciError {
    /// The error code, e.g. `BLOB_UNKNOWN`, `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `DENIED`.
    pub code: String,
    /// The human-readable message, possibly empty.
    pub message: String,
    /// The `detail` value as compact JSON, when present and not null.
    pub detail: Option<String>,
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code.is_empty(), self.message.is_empty()) {
            (true, _) => f.write_str(&self.message),
            (false, true) => f.write_str(&self.code),
            (false, false) => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

/// The most OCI errors kept from one body.
pub(crate) const MAX_OCI_ERRORS: usize = 16;
/// The longest line of a `text/plain` error body kept (longer ones are cut, with `…`).
pub(crate) const MAX_TEXT_ERROR: usize = 200;
/// The longest code or message kept (longer ones are cut).
const MAX_OCI_FIELD: usize = 1024;

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Option<Vec<ErrorEntry>>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default)]
    detail: Option<serde_json::Value>,
}

fn json_text(v: Option<serde_json::Value>) -> String {
    let s = match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
    };
    truncate(s, MAX_OCI_FIELD)
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

impl OciError {
    /// The error entries of a response: its OCI error JSON, or — for a `text/plain` body
    /// that is not JSON (container-registry explains itself that way) — its first
    /// non-empty line, cut at 200 bytes, control characters dropped, as one
    /// entry with no code. Anything else gives no entries.
    pub fn decode_response(head: &http::response::Parts, body: &[u8]) -> Vec<OciError> {
        let oci = OciError::decode(body);
        if !oci.is_empty() {
            return oci;
        }
        let plain = head
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/plain"));
        if !plain {
            return Vec::new();
        }
        let text = String::from_utf8_lossy(body);
        let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Vec::new();
        };
        let clean: String = line.chars().filter(|c| !c.is_control()).collect();
        let mut message = truncate(clean.clone(), MAX_TEXT_ERROR);
        if message.len() < clean.len() {
            message.push('…');
        }
        vec![OciError {
            code: String::new(),
            message,
            detail: None,
        }]
    }

    /// Decodes an error body; anything that is not the OCI error JSON gives no errors.
    pub fn decode(body: &[u8]) -> Vec<OciError> {
        let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
            return Vec::new();
        };
        parsed
            .errors
            .unwrap_or_default()
            .into_iter()
            .take(MAX_OCI_ERRORS)
            .map(|e| OciError {
                code: json_text(e.code),
                message: json_text(e.message),
                detail: match e.detail {
                    None | Some(serde_json::Value::Null) => None,
                    Some(d) => Some(truncate(d.to_string(), MAX_OCI_FIELD)),
                },
            })
            .collect()
    }
}

/// A mistake of the peer: a response that breaks the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A response that needs a `Location` header had none.
    MissingLocation,
    /// A `Location` header that is not a valid URI reference.
    BadLocation(String),
    /// A `Range` header that does not parse or does not fit what was sent.
    BadRange(String),
    /// A `Content-Length` that is missing, unparseable or contradicts the data.
    BadContentLength(String),
    /// A `Content-Range` that does not parse or does not fit what was asked.
    BadContentRange(String),
    /// A `WWW-Authenticate` header that does not parse or lacks what the scheme needs.
    BadChallenge(String),
    /// A `Link` header that does not parse or points in a loop.
    BadLink(String),
    /// A `Docker-Content-Digest` header that is not a digest.
    BadDigestHeader(String),
    /// A JSON body that does not have the expected form.
    BadJson {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// The registry acknowledged more bytes than were sent.
    RangeBeyondSent {
        /// Bytes sent so far.
        sent: u64,
        /// Bytes the registry says it holds.
        acknowledged: u64,
    },
    /// An upload made no progress for too many rounds.
    UploadStalled,
    /// More redirects than [`Limits::max_redirects`](crate::Limits).
    TooManyRedirects(u32),
    /// A redirect to a scheme other than http/https.
    BadRedirect(String),
    /// A `Link` chain longer than [`Limits::max_pages`](crate::Limits), or one that loops.
    TooManyPages(u32),
    /// An index that lists more platforms than the operation resolves.
    TooManyPlatforms(usize),
    /// The token response had no usable token.
    BadToken(String),
    /// More authentication rounds than allowed for one operation.
    TooManyAuthRounds,
    /// A referrers list (all pages) or referrers index with more entries than dxf takes.
    TooManyReferrers(usize),
    /// A referrers list (all pages) whose entries hold more bytes than dxf keeps.
    ReferrersTooLarge(u64),
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolViolation::MissingLocation => f.write_str("response has no Location header"),
            ProtocolViolation::BadLocation(s) => write!(f, "bad Location header: {s}"),
            ProtocolViolation::BadRange(s) => write!(f, "bad Range header: {s}"),
            ProtocolViolation::BadContentLength(s) => write!(f, "bad Content-Length: {s}"),
            ProtocolViolation::BadContentRange(s) => write!(f, "bad Content-Range: {s}"),
            ProtocolViolation::BadChallenge(s) => write!(f, "bad WWW-Authenticate header: {s}"),
            ProtocolViolation::BadLink(s) => write!(f, "bad Link header: {s}"),
            ProtocolViolation::BadDigestHeader(s) => {
                write!(f, "bad Docker-Content-Digest header: {s}")
            }
            ProtocolViolation::BadJson { what, detail } => write!(f, "bad {what} JSON: {detail}"),
            ProtocolViolation::RangeBeyondSent { sent, acknowledged } => write!(
                f,
                "registry acknowledged {acknowledged} bytes but only {sent} were sent"
            ),
            ProtocolViolation::UploadStalled => f.write_str("upload made no progress"),
            ProtocolViolation::TooManyRedirects(n) => write!(f, "more than {n} redirects"),
            ProtocolViolation::BadRedirect(s) => write!(f, "bad redirect target: {s}"),
            ProtocolViolation::TooManyPages(n) => {
                write!(f, "pagination did not end within {n} pages")
            }
            ProtocolViolation::TooManyPlatforms(n) => {
                write!(f, "index lists more than {n} platforms")
            }
            ProtocolViolation::BadToken(s) => write!(f, "bad token response: {s}"),
            ProtocolViolation::TooManyAuthRounds => {
                f.write_str("authentication did not settle within the allowed rounds")
            }
            ProtocolViolation::TooManyReferrers(n) => {
                write!(f, "more than {n} referrers")
            }
            ProtocolViolation::ReferrersTooLarge(n) => {
                write!(f, "referrers list larger than {n} bytes")
            }
        }
    }
}

/// A mistake of the driver or caller: calling the state machine out of order, or asking for
/// something it cannot do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misuse {
    /// A `handle_*` method was called when the operation did not expect it.
    UnexpectedCall(&'static str),
    /// `poll` was called after `Done`.
    PolledAfterDone,
    /// A stream source gave more bytes than `NeedSource { max }` asked for.
    SourceOverrun {
        /// What was asked for.
        max: usize,
        /// What was given.
        got: usize,
    },
    /// The caller's parameters are inconsistent (e.g. no blobs for an alias).
    InvalidArgument(String),
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misuse::UnexpectedCall(what) => write!(f, "{what} called out of order"),
            Misuse::PolledAfterDone => f.write_str("poll called after the operation finished"),
            Misuse::SourceOverrun { max, got } => {
                write!(
                    f,
                    "source gave {got} bytes where at most {max} were asked for"
                )
            }
            Misuse::InvalidArgument(s) => write!(f, "invalid argument: {s}"),
        }
    }
}

/// Everything that can go wrong in dxf-proto.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The registry (or token server) refused our credentials, or demanded them and we had
    /// none that worked.
    Unauthorized {
        /// The scope the operation needed, as sent to the token server (may be empty).
        scope: String,
        /// The registry's error entries.
        oci: Vec<OciError>,
    },
    /// 404: the blob, manifest or repository does not exist.
    NotFound {
        /// The operation.
        op: OpKind,
        /// The registry's error entries (`BLOB_UNKNOWN`, `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`…).
        oci: Vec<OciError>,
    },
    /// A status the operation does not accept.
    UnexpectedStatus {
        /// The operation.
        op: OpKind,
        /// The status received.
        status: StatusCode,
        /// The registry's error entries.
        oci: Vec<OciError>,
    },
    /// Content did not hash to the digest it was announced under.
    DigestMismatch {
        /// The digest it should have had.
        expected: Digest,
        /// The digest it had.
        actual: Digest,
    },
    /// A blob ended at a different length than announced.
    LengthMismatch {
        /// The announced length.
        expected: u64,
        /// The length received (so far, if more than expected).
        actual: u64,
    },
    /// A response body was larger than the operation accepts.
    BodyTooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// The registry answered a mount with 202: the blob was not mounted.
    MountFailed {
        /// The upload session the registry opened instead, when it was left open.
        upload_location: Option<String>,
    },
    /// A manifest of a media type dxf cannot read (e.g. Docker schema 1).
    UnsupportedMediaType(String),
    /// The platform asked for is not in the index.
    PlatformNotFound(String),
    /// An index whose entries have no platform (a referrers or artifact index), asked for
    /// its blobs or config: it lists manifests, not blobs.
    IndexWithoutPlatforms(IndexWithoutPlatforms),
    /// Credentials would have been sent over plain http without the caller allowing it.
    CredentialsOverPlainHttp,
    /// A host other than the registry — the target of a redirect, of a `Link` to a next
    /// page or of an upload `Location` — answered 401. Its challenge is not answered:
    /// credentials go only to the registry's origin and to the token realm named by the
    /// registry's own challenge.
    ForeignChallenge {
        /// The host that answered, `name[:port]`.
        host: String,
    },
    /// A digest algorithm dxf cannot compute (it verifies sha256 and sha512).
    UnsupportedDigestAlgorithm(String),
    /// An invalid digest, repository or tag, rejected before anything was sent.
    InvalidReference(ReferenceError),
    /// A URL the registry gave or the caller passed does not parse.
    InvalidUrl(String),
    /// The peer broke the protocol.
    Protocol(ProtocolViolation),
    /// The driver broke the call order or passed bad arguments.
    Misuse(Misuse),
    /// The caller gave the operation up ([`Operation::cancel`](crate::Operation::cancel)):
    /// a user interrupt, or a sibling transfer failed.
    Cancelled,
}

impl Error {
    /// The error for a response of status `status` with body `body` to operation `op`:
    /// 401 → [`Error::Unauthorized`], 404 → [`Error::NotFound`], else
    /// [`Error::UnexpectedStatus`]; the body's OCI error entries are kept.
    pub fn from_status(op: OpKind, status: StatusCode, body: &[u8]) -> Error {
        Error::with_entries(op, status, OciError::decode(body))
    }

    /// As [`from_status`](Error::from_status), for a whole response: a `text/plain` body
    /// is kept too ([`OciError::decode_response`]).
    pub fn from_response(op: OpKind, head: &http::response::Parts, body: &[u8]) -> Error {
        Error::with_entries(op, head.status, OciError::decode_response(head, body))
    }

    fn with_entries(op: OpKind, status: StatusCode, oci: Vec<OciError>) -> Error {
        match status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized {
                scope: String::new(),
                oci,
            },
            StatusCode::NOT_FOUND => Error::NotFound { op, oci },
            _ => Error::UnexpectedStatus { op, status, oci },
        }
    }

    /// The registry's error entries carried by this error, if any.
    pub fn oci_errors(&self) -> &[OciError] {
        match self {
            Error::Unauthorized { oci, .. }
            | Error::NotFound { oci, .. }
            | Error::UnexpectedStatus { oci, .. } => oci,
            _ => &[],
        }
    }
}

fn write_oci(f: &mut fmt::Formatter<'_>, oci: &[OciError]) -> fmt::Result {
    for (i, e) in oci.iter().enumerate() {
        f.write_str(if i == 0 { ": " } else { "; " })?;
        write!(f, "{e}")?;
    }
    Ok(())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unauthorized { scope, oci } => {
                f.write_str("401 Unauthorized")?;
                if !scope.is_empty() {
                    write!(f, " for scope {scope}")?;
                }
                write_oci(f, oci)
            }
            Error::NotFound { op, oci } => {
                write!(f, "{op}: 404 Not Found")?;
                // A bare 404 (no error entries) on a listing: the endpoint itself may be
                // missing (container-registry serves neither).
                match (op, oci.is_empty()) {
                    (OpKind::Catalog, true) => {
                        f.write_str(" (this registry does not list its repositories)")
                    }
                    (OpKind::ListTags, true) => f.write_str(
                        " (no such repository, or this registry does not list its tags)",
                    ),
                    _ => write_oci(f, oci),
                }
            }
            Error::UnexpectedStatus { op, status, oci } => {
                write!(f, "{op}: unexpected status {status}")?;
                write_oci(f, oci)
            }
            Error::DigestMismatch { expected, actual } => {
                write!(f, "digest mismatch: expected {expected}, got {actual}")
            }
            Error::LengthMismatch { expected, actual } => {
                write!(
                    f,
                    "length mismatch: expected {expected} bytes, got {actual}"
                )
            }
            Error::BodyTooLarge { limit } => {
                write!(f, "response body larger than {limit} bytes")
            }
            Error::MountFailed { .. } => {
                f.write_str("mount failed: the registry did not mount the blob (202)")
            }
            Error::UnsupportedMediaType(t) => write!(f, "unsupported manifest media type {t}"),
            Error::PlatformNotFound(p) => write!(f, "platform {p} not found in the index"),
            Error::IndexWithoutPlatforms(e) => write!(f, "{e}"),
            Error::CredentialsOverPlainHttp => f.write_str(
                "refusing to authenticate over plain http (credentials and tokens need https)",
            ),
            Error::ForeignChallenge { host } => write!(
                f,
                "401 Unauthorized from {host}, which is not the registry: its challenge is \
                 not answered (credentials go only to the registry and its token realm)"
            ),
            Error::UnsupportedDigestAlgorithm(a) => {
                write!(
                    f,
                    "unsupported digest algorithm {a} (sha256 and sha512 are)"
                )
            }
            Error::InvalidReference(e) => write!(f, "{e}"),
            Error::InvalidUrl(s) => write!(f, "invalid URL: {s}"),
            Error::Protocol(p) => write!(f, "protocol violation: {p}"),
            Error::Misuse(m) => write!(f, "misuse: {m}"),
            Error::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ProtocolViolation> for Error {
    fn from(p: ProtocolViolation) -> Self {
        Error::Protocol(p)
    }
}

impl From<Misuse> for Error {
    fn from(m: Misuse) -> Self {
        Error::Misuse(m)
    }
}

impl From<IndexWithoutPlatforms> for Error {
    fn from(e: IndexWithoutPlatforms) -> Self {
        Error::IndexWithoutPlatforms(e)
    }
}

impl From<ReferenceError> for Error {
    fn from(e: ReferenceError) -> Self {
        Error::InvalidReference(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_error_json_is_decoded_into_the_error() {
        let body = br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:abc"}]}"#;
        let e = Error::from_status(OpKind::BlobGet, StatusCode::NOT_FOUND, body);
        assert_eq!(
            e,
            Error::NotFound {
                op: OpKind::BlobGet,
                oci: vec![OciError {
                    code: "BLOB_UNKNOWN".into(),
                    message: "blob unknown to registry".into(),
                    detail: Some("\"sha256:abc\"".into()),
                }]
            }
        );
        assert_eq!(
            e.to_string(),
            "blob GET: 404 Not Found: BLOB_UNKNOWN: blob unknown to registry"
        );
    }

    #[test]
    fn a_bare_404_on_a_listing_says_the_endpoint_may_be_missing() {
        let e = |op| Error::from_status(op, StatusCode::NOT_FOUND, b"").to_string();
        assert_eq!(
            e(OpKind::Catalog),
            "catalog: 404 Not Found (this registry does not list its repositories)"
        );
        assert_eq!(
            e(OpKind::ListTags),
            "tag list: 404 Not Found (no such repository, or this registry does not list its \
             tags)"
        );
        assert_eq!(e(OpKind::ManifestGet), "manifest GET: 404 Not Found");
        let named = Error::from_status(
            OpKind::ListTags,
            StatusCode::NOT_FOUND,
            br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#,
        );
        assert_eq!(
            named.to_string(),
            "tag list: 404 Not Found: NAME_UNKNOWN: repository name not known to registry"
        );
    }

    #[test]
    fn non_json_error_bodies_give_no_entries() {
        assert!(OciError::decode(b"<html>502 Bad Gateway</html>").is_empty());
        assert!(OciError::decode(b"").is_empty());
        assert!(OciError::decode(br#"{"errors":null}"#).is_empty());
        assert!(OciError::decode(br#"[1,2]"#).is_empty());
    }

    #[test]
    fn odd_oci_fields_are_kept_as_text_and_bounded() {
        let long = "x".repeat(5000);
        let body =
            format!(r#"{{"errors":[{{"code":42,"message":"{long}","detail":{{"a":[1]}}}},{{}}]}}"#);
        let oci = OciError::decode(body.as_bytes());
        assert_eq!(oci.len(), 2);
        assert_eq!(oci[0].code, "42");
        assert_eq!(oci[0].message.len(), MAX_OCI_FIELD);
        assert_eq!(oci[0].detail.as_deref(), Some(r#"{"a":[1]}"#));
        assert_eq!(oci[1].code, "");
    }

    #[test]
    fn many_errors_are_capped() {
        let one = r#"{"code":"DENIED","message":"m"}"#;
        let body = format!(r#"{{"errors":[{}]}}"#, vec![one; 100].join(","));
        assert_eq!(OciError::decode(body.as_bytes()).len(), MAX_OCI_ERRORS);
    }
}
