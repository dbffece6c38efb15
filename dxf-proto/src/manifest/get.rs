//! `GET /v2/<name>/manifests/<reference>` with python-dxf's `Accept` list; the body is
//! checked against `Docker-Content-Digest` when present and against the reference when it
//! is a digest, and its digest is computed when neither is given.

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use url::Url;

use super::media_types::MANIFEST_ACCEPT;
use crate::auth::Scope;
use crate::blob::content_digest;
use crate::digest::{digest_of, verify_bytes, Sha256};
use crate::error::{Error, OpKind};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
use crate::operation::{Body, Request};
use crate::reference::{Digest, Reference, Repository};
use crate::session::Session;
use crate::url::request;

/// A manifest as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The body bytes, unchanged.
    pub body: Vec<u8>,
    /// The response `Content-Type` without parameters, when present.
    pub content_type: Option<String>,
    /// The manifest's digest (verified against the body).
    pub digest: Digest,
}

/// Manifest GET. Output: [`FetchedManifest`].
#[derive(Debug)]
pub struct GetManifest(Machine<GetFlow>);

#[derive(Debug)]
pub(crate) struct GetFlow {
    repo: Repository,
    reference: Reference,
    url: Url,
    limit: u64,
}

/// `<base>/v2/<repo>/manifests/<reference>`.
pub(crate) fn manifest_url(
    session: &Session,
    repo: &Repository,
    reference: &Reference,
) -> Result<Url, Error> {
    session.v2_url(&format!(
        "{}/manifests/{}",
        repo.as_str(),
        reference.as_str()
    ))
}

/// A GET or HEAD of a manifest with the `Accept` list.
pub(crate) fn manifest_request(method: Method, url: &Url) -> Result<Request, Error> {
    let mut req = request(method, url, Body::Empty, None)?;
    req.headers_mut()
        .insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
    Ok(req)
}

/// The media type of a `Content-Type` header, parameters stripped.
pub(crate) fn content_type(head: &http::response::Parts) -> Option<String> {
    let v = head.headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let t = v.split(';').next().unwrap_or_default().trim();
    (!t.is_empty()).then(|| t.to_ascii_lowercase())
}

/// Verifies a manifest body and returns its digest.
pub(crate) fn verify_manifest(
    head: &http::response::Parts,
    body: &[u8],
    reference: &Reference,
) -> Result<Digest, Error> {
    let announced = content_digest(head)?;
    // What was asked for comes first: "expected <requested>, got <body>".
    if let Reference::Digest(d) = reference {
        verify_bytes(d, body)?;
    }
    // Then the registry's claim about the body: "expected <body>, got <announced>".
    if let Some(d) = &announced {
        let actual = digest_of(d, body)?;
        if &actual != d {
            return Err(Error::DigestMismatch {
                expected: actual,
                actual: d.clone(),
            });
        }
    }
    match (announced, reference) {
        (Some(d), _) => Ok(d),
        (None, Reference::Digest(d)) => Ok(d.clone()),
        (None, Reference::Tag(_)) => {
            let mut h = Sha256::new();
            h.update(body);
            Ok(h.finish())
        }
    }
}

impl GetManifest {
    /// GET of `reference` in `repo`.
    pub fn new(
        session: &Session,
        repo: &Repository,
        reference: &Reference,
    ) -> Result<GetManifest, Error> {
        if let Reference::Digest(d) = reference {
            digest_of(d, b"")?;
        }
        Ok(GetManifest(Machine::new(GetFlow {
            url: manifest_url(session, repo, reference)?,
            repo: repo.clone(),
            reference: reference.clone(),
            limit: session.limits().manifest_body,
        })))
    }
}

impl Flow for GetFlow {
    type Output = FetchedManifest;

    fn kind(&self) -> OpKind {
        OpKind::ManifestGet
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull")
    }

    fn start(&mut self) -> Result<Next<FetchedManifest>, Error> {
        Ok(Next::Send(manifest_request(Method::GET, &self.url)?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::OK
    }

    fn on_head(&mut self, _: &http::response::Parts) -> Result<HeadAction<FetchedManifest>, Error> {
        Ok(HeadAction::Feed(self.limit))
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<FetchedManifest>, Error> {
        let digest = verify_manifest(&head, &body, &self.reference)?;
        Ok(Next::Done(FetchedManifest {
            content_type: content_type(&head),
            body,
            digest,
        }))
    }
}

delegate_operation!(GetManifest, FetchedManifest);
