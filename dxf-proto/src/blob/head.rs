//! `HEAD /v2/<name>/blobs/<digest>`: whether a blob exists and its size.

use http::{Method, StatusCode};
use url::Url;

use super::redirect::{is_redirect, Redirects};
use super::{check_announced, content_length};
use crate::auth::Scope;
use crate::error::{Error, OpKind, ProtocolViolation};
use crate::exchange::{delegate_operation, Flow, Machine, Next};
use crate::operation::Body;
use crate::reference::{Digest, Repository};
use crate::session::{Event, Session, SessionEvent};
use crate::url::request;

/// What a blob HEAD tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// The blob's size (`Content-Length`).
    pub size: u64,
}

/// Blob HEAD. Output: [`BlobInfo`]; a missing blob is [`Error::NotFound`].
#[derive(Debug)]
pub struct HeadBlob(Machine<HeadFlow>);

#[derive(Debug)]
pub(crate) struct HeadFlow {
    repo: Repository,
    digest: Digest,
    url: Url,
    redirects: Redirects,
    /// Found: the blob cache learns where it is.
    event: Option<SessionEvent>,
}

impl HeadBlob {
    /// HEAD of `digest` in `repo`.
    pub fn new(session: &Session, repo: &Repository, digest: &Digest) -> Result<HeadBlob, Error> {
        Ok(HeadBlob(Machine::new(HeadFlow {
            url: session.v2_url(&format!("{}/blobs/{}", repo.as_str(), digest.as_str()))?,
            repo: repo.clone(),
            digest: digest.clone(),
            redirects: Redirects::new(session.limits().max_redirects),
            event: None,
        })))
    }
}

impl Flow for HeadFlow {
    type Output = BlobInfo;

    fn kind(&self) -> OpKind {
        OpKind::BlobHead
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull")
    }

    fn start(&mut self) -> Result<Next<BlobInfo>, Error> {
        Ok(Next::Send(request(
            Method::HEAD,
            &self.url,
            Body::Empty,
            None,
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::OK || is_redirect(status)
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        _body: Vec<u8>,
    ) -> Result<Next<BlobInfo>, Error> {
        if is_redirect(head.status) {
            self.url = self.redirects.follow(&self.url, &head)?;
            return self.start();
        }
        check_announced(&self.digest, &head)?;
        let size = content_length(&head)?
            .ok_or_else(|| ProtocolViolation::BadContentLength("missing on blob HEAD".into()))?;
        self.event = Some(Event::blob_seen(&self.repo, &self.digest, size));
        Ok(Next::Done(BlobInfo { size }))
    }

    fn poll_event(&mut self) -> Option<SessionEvent> {
        self.event.take()
    }
}

delegate_operation!(HeadBlob, BlobInfo);
