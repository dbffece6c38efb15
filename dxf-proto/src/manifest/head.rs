//! `HEAD /v2/<name>/manifests/<reference>`: digest, size and media type without the body.

use http::{Method, StatusCode};
use url::Url;

use super::get::{content_type, manifest_request, manifest_url};
use crate::auth::Scope;
use crate::blob::{content_digest, content_length};
use crate::error::{Error, OpKind};
use crate::exchange::{delegate_operation, Flow, Machine, Next};
use crate::reference::{Digest, Reference, Repository};
use crate::session::Session;

/// What a manifest HEAD tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestInfo {
    /// `Docker-Content-Digest`, when present.
    pub digest: Option<Digest>,
    /// `Content-Length`, when present.
    pub size: Option<u64>,
    /// `Content-Type` without parameters, when present.
    pub media_type: Option<String>,
}

/// Manifest HEAD. Output: [`ManifestInfo`].
#[derive(Debug)]
pub struct HeadManifest(Machine<HeadFlow>);

#[derive(Debug)]
pub(crate) struct HeadFlow {
    repo: Repository,
    url: Url,
}

impl HeadManifest {
    /// HEAD of `reference` in `repo`.
    pub fn new(
        session: &Session,
        repo: &Repository,
        reference: &Reference,
    ) -> Result<HeadManifest, Error> {
        Ok(HeadManifest(Machine::new(HeadFlow {
            url: manifest_url(session, repo, reference)?,
            repo: repo.clone(),
        })))
    }
}

impl Flow for HeadFlow {
    type Output = ManifestInfo;

    fn kind(&self) -> OpKind {
        OpKind::ManifestHead
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull")
    }

    fn start(&mut self) -> Result<Next<ManifestInfo>, Error> {
        Ok(Next::Send(manifest_request(Method::HEAD, &self.url)?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::OK
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        _: Vec<u8>,
    ) -> Result<Next<ManifestInfo>, Error> {
        Ok(Next::Done(ManifestInfo {
            digest: content_digest(&head)?,
            size: content_length(&head)?,
            media_type: content_type(&head),
        }))
    }
}

delegate_operation!(HeadManifest, ManifestInfo);
