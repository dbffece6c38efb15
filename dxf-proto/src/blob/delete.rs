//! `DELETE /v2/<name>/blobs/<digest>`.

use http::{Method, StatusCode};

use crate::auth::Scope;
use crate::error::{Error, OpKind};
use crate::exchange::{delegate_operation, Flow, Machine, Next};
use crate::operation::Body;
use crate::reference::{Digest, Repository};
use crate::session::{Event, Session, SessionEvent};
use crate::url::request;

/// Blob DELETE (202 Accepted; 200 and 204 are tolerated). A missing blob is
/// [`Error::NotFound`].
#[derive(Debug)]
pub struct DeleteBlob(Machine<DeleteFlow>);

#[derive(Debug)]
pub(crate) struct DeleteFlow {
    repo: Repository,
    digest: Digest,
    url: url::Url,
    /// Deleted: not a place to mount it from any more (the blob cache learns it).
    event: Option<SessionEvent>,
}

impl DeleteBlob {
    /// Deletes `digest` from `repo`.
    pub fn new(session: &Session, repo: &Repository, digest: &Digest) -> Result<DeleteBlob, Error> {
        Ok(DeleteBlob(Machine::new(DeleteFlow {
            url: session.v2_url(&format!("{}/blobs/{}", repo.as_str(), digest.as_str()))?,
            repo: repo.clone(),
            digest: digest.clone(),
            event: None,
        })))
    }
}

impl Flow for DeleteFlow {
    type Output = ();

    fn kind(&self) -> OpKind {
        OpKind::BlobDelete
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "delete")
    }

    fn start(&mut self) -> Result<Next<()>, Error> {
        Ok(Next::Send(request(
            Method::DELETE,
            &self.url,
            Body::Empty,
            None,
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        matches!(status.as_u16(), 200 | 202 | 204)
    }

    fn on_response(&mut self, _: http::response::Parts, _: Vec<u8>) -> Result<Next<()>, Error> {
        self.event = Some(Event::blob_gone(&self.repo, &self.digest));
        Ok(Next::Done(()))
    }

    fn poll_event(&mut self) -> Option<SessionEvent> {
        self.event.take()
    }
}

delegate_operation!(DeleteBlob, ());
