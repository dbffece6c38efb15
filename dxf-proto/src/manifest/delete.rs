//! `DELETE /v2/<name>/manifests/<reference>` (by digest, as python-dxf's del-alias does:
//! every tag on that manifest goes with it).

use http::{Method, StatusCode};
use url::Url;

use super::get::manifest_url;
use crate::auth::Scope;
use crate::error::{Error, OpKind};
use crate::exchange::{delegate_operation, Flow, Machine, Next};
use crate::operation::Body;
use crate::reference::{Reference, Repository};
use crate::session::Session;
use crate::url::request;

/// Manifest DELETE (202; 200 and 204 tolerated).
#[derive(Debug)]
pub struct DeleteManifest(Machine<DeleteFlow>);

#[derive(Debug)]
pub(crate) struct DeleteFlow {
    repo: Repository,
    url: Url,
}

impl DeleteManifest {
    /// Deletes `reference` (normally a digest) from `repo`.
    pub fn new(
        session: &Session,
        repo: &Repository,
        reference: &Reference,
    ) -> Result<DeleteManifest, Error> {
        Ok(DeleteManifest(Machine::new(DeleteFlow {
            url: manifest_url(session, repo, reference)?,
            repo: repo.clone(),
        })))
    }
}

impl Flow for DeleteFlow {
    type Output = ();

    fn kind(&self) -> OpKind {
        OpKind::ManifestDelete
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
        Ok(Next::Done(()))
    }
}

delegate_operation!(DeleteManifest, ());
