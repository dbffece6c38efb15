//! `PUT /v2/<name>/manifests/<reference>` with `Content-Type` = the manifest's own
//! `mediaType` (no parameters), expecting 201; the registry's `Docker-Content-Digest`, when
//! present, must be the body's digest.

use http::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::get::manifest_url;
use crate::auth::Scope;
use crate::blob::check_announced;
use crate::digest::Sha256;
use crate::error::{Error, Misuse, OpKind};
use crate::exchange::{delegate_operation, Flow, Machine, Next};
use crate::operation::Body;
use crate::reference::{Digest, Reference, Repository};
use crate::session::Session;
use crate::url::request;

/// Manifest PUT. Output: the manifest's digest.
#[derive(Debug)]
pub struct PutManifest(Machine<PutFlow>);

#[derive(Debug)]
pub(crate) struct PutFlow {
    repo: Repository,
    url: Url,
    media_type: String,
    body: Option<Vec<u8>>,
    digest: Digest,
}

#[derive(Deserialize)]
struct MediaTypeOnly {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
}

impl PutManifest {
    /// Stores `manifest` under `reference` in `repo`. The media type is read from the
    /// manifest's `mediaType` field, which must be present.
    pub fn new(
        session: &Session,
        repo: &Repository,
        reference: &Reference,
        manifest: Vec<u8>,
    ) -> Result<PutManifest, Error> {
        let media_type = serde_json::from_slice::<MediaTypeOnly>(&manifest)
            .map_err(|e| Misuse::InvalidArgument(format!("manifest is not JSON: {e}")))?
            .media_type
            .ok_or_else(|| Misuse::InvalidArgument("manifest has no mediaType".into()))?;
        let mut h = Sha256::new();
        h.update(&manifest);
        let digest = h.finish();
        if let Reference::Digest(d) = reference {
            crate::digest::verify_bytes(d, &manifest)?;
        }
        Ok(PutManifest(Machine::new(PutFlow {
            url: manifest_url(session, repo, reference)?,
            repo: repo.clone(),
            media_type,
            body: Some(manifest),
            digest,
        })))
    }

    /// Stores `manifest` under `reference` in `repo` with `Content-Type: media_type`, for
    /// manifests copied as received (an OCI manifest may leave out its `mediaType` field;
    /// the registry's `Content-Type` then names it).
    pub fn with_media_type(
        session: &Session,
        repo: &Repository,
        reference: &Reference,
        manifest: Vec<u8>,
        media_type: &str,
    ) -> Result<PutManifest, Error> {
        if media_type.is_empty() {
            return Err(Misuse::InvalidArgument("manifest media type is empty".into()).into());
        }
        let mut h = Sha256::new();
        h.update(&manifest);
        let digest = h.finish();
        if let Reference::Digest(d) = reference {
            crate::digest::verify_bytes(d, &manifest)?;
        }
        Ok(PutManifest(Machine::new(PutFlow {
            url: manifest_url(session, repo, reference)?,
            repo: repo.clone(),
            media_type: media_type.to_owned(),
            body: Some(manifest),
            digest,
        })))
    }
}

impl Flow for PutFlow {
    type Output = Digest;

    fn kind(&self) -> OpKind {
        OpKind::ManifestPut
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull,push")
    }

    fn start(&mut self) -> Result<Next<Digest>, Error> {
        let body = self
            .body
            .take()
            .ok_or(Misuse::UnexpectedCall("start twice"))?;
        Ok(Next::Send(request(
            Method::PUT,
            &self.url,
            Body::Bytes(body),
            Some(&self.media_type),
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::CREATED
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        _: Vec<u8>,
    ) -> Result<Next<Digest>, Error> {
        check_announced(&self.digest, &head)?;
        Ok(Next::Done(self.digest.clone()))
    }
}

delegate_operation!(PutManifest, Digest);
