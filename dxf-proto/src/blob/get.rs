//! `GET /v2/<name>/blobs/<digest>`: follows redirects (to storage on another host, without
//! credentials), then hands the driver a [`Download`]: the body is never buffered here, the
//! driver streams it through the [`BlobVerifier`] inside.

use http::{Method, StatusCode};
use url::Url;

use super::redirect::{is_redirect, Redirects};
use super::{check_announced, content_length};
use crate::auth::Scope;
use crate::digest::BlobVerifier;
use crate::error::{Error, OpKind};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
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
}

/// Blob GET. Output: [`Download`] (with [`BodyPlan::Deliver`](crate::BodyPlan::Deliver)).
#[derive(Debug)]
pub struct GetBlob(Machine<GetFlow>);

#[derive(Debug)]
pub(crate) struct GetFlow {
    repo: Repository,
    digest: Digest,
    expected_len: Option<u64>,
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
            redirects: Redirects::new(session.limits().max_redirects),
        })))
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
        Ok(Next::Send(request(
            Method::GET,
            &self.url,
            Body::Empty,
            None,
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::OK || is_redirect(status)
    }

    fn on_head(&mut self, head: &http::response::Parts) -> Result<HeadAction<Download>, Error> {
        if is_redirect(head.status) {
            return Ok(HeadAction::Discard);
        }
        check_announced(&self.digest, head)?;
        let len = content_length(head)?;
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

delegate_operation!(GetBlob, Download);
