//! `GET /v2/<name>/blobs/<digest>`: follows redirects (to storage on another host, without
//! credentials), then hands the driver a [`Download`]: the body is never buffered here, the
//! driver streams it through the [`BlobVerifier`] inside.
//!
//! A download that broke midway continues with [`GetBlob::resume`]: `Range: bytes=N-`,
//! accepted as a `206` whose `Content-Range` starts at `N` (and agrees with the blob's
//! length), or a `200` with the whole blob again (the driver skips what it has).

use http::header::{CONTENT_RANGE, RANGE};
use http::{HeaderValue, Method, StatusCode};
use url::Url;

use super::redirect::{is_redirect, Redirects};
use super::{check_announced, content_length};
use crate::auth::Scope;
use crate::digest::BlobVerifier;
use crate::error::{Error, OpKind, ProtocolViolation};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
use crate::headers::parse_content_range;
use crate::operation::Body;
use crate::reference::{Digest, Repository};
use crate::session::Session;
use crate::url::request;

/// A blob response ready to stream: run every body chunk through `verifier.update` and call
/// `verifier.finish()` at the end; only `Ok` from `finish` means the blob is good.
#[derive(Debug)]
pub struct Download {
    /// Checks digest and length while the driver streams.
    pub verifier: BlobVerifier,
    /// The body length announced by `Content-Length`, when present.
    pub len: Option<u64>,
    /// The blob offset of the body's first byte: 0, or for a resumed download the offset
    /// asked for (`206`). A resumed download keeps feeding the verifier of the first one
    /// (this one's is fresh) and skips `asked − offset` bytes of this body first (a `200`
    /// to a range request starts at 0).
    pub offset: u64,
}

/// Blob GET. Output: [`Download`] (with [`BodyPlan::Deliver`](crate::BodyPlan::Deliver)).
#[derive(Debug)]
pub struct GetBlob(Machine<GetFlow>);

#[derive(Debug)]
pub(crate) struct GetFlow {
    repo: Repository,
    digest: Digest,
    expected_len: Option<u64>,
    /// The first byte asked for (0: the whole blob, no `Range`).
    from: u64,
    url: Url,
    redirects: Redirects,
}

impl GetBlob {
    /// GET of `digest` in `repo`. `expected_len` (from a manifest, say) is checked as well as
    /// the announced `Content-Length`.
    pub fn new(
        session: &Session,
        repo: &Repository,
        digest: &Digest,
        expected_len: Option<u64>,
    ) -> Result<GetBlob, Error> {
        // Refuse algorithms we cannot verify before anything is sent.
        BlobVerifier::new(digest.clone(), None)?;
        Ok(GetBlob(Machine::new(GetFlow {
            url: session.v2_url(&format!("{}/blobs/{}", repo.as_str(), digest.as_str()))?,
            repo: repo.clone(),
            digest: digest.clone(),
            expected_len,
            from: 0,
            redirects: Redirects::new(session.limits().max_redirects),
        })))
    }

    /// Continues a download of `digest` that broke after `offset` bytes, asking for the
    /// rest with `Range: bytes=offset-`. `expected_len` is the blob's whole length when
    /// known (from the first response or a manifest).
    pub fn resume(
        session: &Session,
        repo: &Repository,
        digest: &Digest,
        offset: u64,
        expected_len: Option<u64>,
    ) -> Result<GetBlob, Error> {
        let mut op = GetBlob::new(session, repo, digest, expected_len)?;
        op.0.flow.from = offset;
        Ok(op)
    }

    /// The blob this downloads.
    pub fn digest(&self) -> &Digest {
        &self.0.flow.digest
    }

    /// The length it is checked against, when known before the response.
    pub fn expected_len(&self) -> Option<u64> {
        self.0.flow.expected_len
    }
}

impl Flow for GetFlow {
    type Output = Download;

    fn kind(&self) -> OpKind {
        OpKind::BlobGet
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull")
    }

    fn start(&mut self) -> Result<Next<Download>, Error> {
        let mut req = request(Method::GET, &self.url, Body::Empty, None)?;
        if self.from > 0 {
            let value = HeaderValue::from_str(&format!("bytes={}-", self.from))
                .map_err(|_| crate::error::Misuse::InvalidArgument("range".into()))?;
            req.headers_mut().insert(RANGE, value);
        }
        Ok(Next::Send(req))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::OK
            || (status == StatusCode::PARTIAL_CONTENT && self.from > 0)
            || is_redirect(status)
    }

    fn on_head(&mut self, head: &http::response::Parts) -> Result<HeadAction<Download>, Error> {
        if is_redirect(head.status) {
            return Ok(HeadAction::Discard);
        }
        check_announced(&self.digest, head)?;
        let len = content_length(head)?;
        if head.status == StatusCode::PARTIAL_CONTENT {
            return self.partial(head, len);
        }
        let expected = match (len, self.expected_len) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::LengthMismatch {
                    expected: b,
                    actual: a,
                })
            }
            (a, b) => a.or(b),
        };
        Ok(HeadAction::Deliver(Download {
            verifier: BlobVerifier::new(self.digest.clone(), expected)?,
            len,
            offset: 0,
        }))
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        _body: Vec<u8>,
    ) -> Result<Next<Download>, Error> {
        // Only redirects get here (a 200 is delivered from on_head).
        self.url = self.redirects.follow(&self.url, &head)?;
        self.start()
    }
}

impl GetFlow {
    /// A `206` to a resume: its `Content-Range` must start where asked, run to the blob's
    /// end, and agree with the known length and `Content-Length`.
    fn partial(
        &self,
        head: &http::response::Parts,
        len: Option<u64>,
    ) -> Result<HeadAction<Download>, Error> {
        let bad = |why: String| Error::from(ProtocolViolation::BadContentRange(why));
        let value = head
            .headers
            .get(CONTENT_RANGE)
            .ok_or_else(|| bad("missing on a 206".into()))?;
        let range = parse_content_range(value.as_bytes()).map_err(|e| bad(e.to_string()))?;
        if range.start != self.from {
            return Err(bad(format!(
                "asked for bytes from {}, got from {}",
                self.from, range.start
            )));
        }
        let total = match (range.total, self.expected_len) {
            (Some(t), Some(e)) if t != e => {
                return Err(Error::LengthMismatch {
                    expected: e,
                    actual: t,
                })
            }
            (t, e) => t.or(e),
        };
        let body_len = (range.end - range.start).saturating_add(1);
        let to_the_end = total.is_none_or(|t| range.end.saturating_add(1) == t);
        if !to_the_end || len.is_some_and(|l| l != body_len) {
            return Err(bad(format!(
                "bytes {}-{} of {total:?} in {len:?} bytes: not the rest of the blob",
                range.start, range.end
            )));
        }
        Ok(HeadAction::Deliver(Download {
            verifier: BlobVerifier::new(self.digest.clone(), total)?,
            len: Some(body_len),
            offset: self.from,
        }))
    }
}

delegate_operation!(GetBlob, Download);
