//! [`Attach`]: pushes an OCI 1.1 artifact manifest whose `subject` is an alias's manifest,
//! and keeps the referrers tag schema's index up to date when the registry does not.
//!
//! 1. `GET` the subject manifest (its digest verified; its media type and size make the
//!    `subject` descriptor);
//! 2. `PUT` the artifact manifest ([`oci_artifact_manifest`]) by digest;
//! 3. if that response has an `OCI-Subject` header naming the subject, the registry keeps
//!    the referrers list itself: done. Otherwise (e.g. distribution 2.8) the index under
//!    [`fallback_tag`] is read (absent = empty), the new manifest's descriptor is added
//!    unless an entry of that digest is there already, and the index is `PUT` back under
//!    the tag. An index that is there — which another client (oras, notation, regclient)
//!    may have written, with fields dxf does not know — is written back **byte for byte
//!    apart from the entry added** ([`append_referrer`] says exactly what that means):
//!    its entries' `urls`, `data`, annotations and unknown fields, its own annotations and
//!    other fields, even its spacing, survive. An absent one is written as
//!    [`referrers_index_json`] of the one entry. Either way the index stays within the
//!    session's manifest body cap (more is [`ProtocolViolation::ReferrersTooLarge`]).
//!
//! The config blob of the artifact (the OCI empty descriptor) must exist in the repository
//! first: [`Upload::empty_config`](crate::Upload::empty_config). Two clients attaching to
//! the same subject at the same moment can lose one entry of the fallback index (the tag
//! schema has no compare-and-swap); the artifact manifests themselves are not lost.

use http::{Method, StatusCode};
use url::Url;

use super::alias::{
    oci_artifact_manifest, BlobDescriptor, OciArtifactOptions, DEFAULT_ARTIFACT_TYPE,
};
use super::get::{content_type, manifest_request, verify_manifest};
use super::media_types::{OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST};
use super::parse::{parse_manifest, Descriptor};
use super::referrers::{
    append_referrer, fallback_tag, referrers_index_json, AppendError, MAX_REFERRERS, OCI_SUBJECT,
};
use crate::auth::Scope;
use crate::blob::check_announced;
use crate::digest::Sha256;
use crate::error::{Error, Misuse, OpKind, ProtocolViolation};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
use crate::operation::Body;
use crate::reference::{Digest, Reference, Repository};
use crate::session::Session;
use crate::url::request;

/// What [`Attach`] stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The artifact manifest's digest.
    pub digest: Digest,
    /// The artifact manifest, as stored.
    pub manifest: String,
    /// The `subject` it names.
    pub subject: Descriptor,
    /// The digest of the referrers tag schema's index after the attach, when dxf keeps it
    /// (the registry sent no `OCI-Subject`); `None` when the registry keeps the list.
    pub fallback_index: Option<Digest>,
}

/// Artifact push with a subject. Output: [`Attached`].
#[derive(Debug)]
pub struct Attach(Machine<AttachFlow>);

#[derive(Debug)]
enum Phase {
    Subject,
    PutArtifact,
    ReadIndex,
    PutIndex,
}

#[derive(Debug)]
pub(crate) struct AttachFlow {
    base: Url,
    repo: Repository,
    reference: Reference,
    url: Url,
    blobs: Vec<BlobDescriptor>,
    options: OciArtifactOptions,
    limit: u64,
    phase: Phase,
    /// Set once the artifact is built.
    attached: Option<Attached>,
    /// The digest of the index being written.
    index_digest: Option<Digest>,
    /// The index entry, when given ([`Attach::register`]) rather than made.
    entry: Option<Descriptor>,
}

fn sha256(bytes: &[u8]) -> Digest {
    let mut h = Sha256::new();
    h.update(bytes);
    h.finish()
}

impl Attach {
    /// Attaches an artifact of `blobs` (sizes and titles as given) to the manifest
    /// `subject` names in `repo`. `options` give the artifact type and annotations; a
    /// `subject` in them is refused ([`Misuse::InvalidArgument`]): it is the one found.
    pub fn new(
        session: &Session,
        repo: &Repository,
        subject: &Reference,
        blobs: &[BlobDescriptor],
        options: &OciArtifactOptions,
    ) -> Result<Attach, Error> {
        if options.subject.is_some() {
            return Err(Misuse::InvalidArgument(
                "Attach finds the subject itself; options.subject must be None".into(),
            )
            .into());
        }
        Ok(Attach(Machine::new(AttachFlow {
            base: session.base_url().clone(),
            url: super::get::manifest_url(session, repo, subject)?,
            repo: repo.clone(),
            reference: subject.clone(),
            blobs: blobs.to_vec(),
            options: options.clone(),
            limit: session.limits().manifest_body,
            phase: Phase::Subject,
            attached: None,
            index_digest: None,
            entry: None,
        })))
    }

    /// Lists `referrer` — a manifest already stored in `repo` whose `subject` is `subject`
    /// (a copied signature, SBOM…) — in the referrers tag schema's index of `subject`, as
    /// the attach does after its `PUT` when the registry keeps no list itself: the index
    /// read, the entry added unless there, written back. For a registry without the
    /// referrers API; output: [`Attached`] with an empty `manifest` and the index digest.
    pub fn register(
        session: &Session,
        repo: &Repository,
        subject: &Digest,
        referrer: &Descriptor,
    ) -> Result<Attach, Error> {
        let tag = fallback_tag(subject)?;
        let reference = Reference::Tag(tag);
        Ok(Attach(Machine::new(AttachFlow {
            base: session.base_url().clone(),
            url: super::get::manifest_url(session, repo, &reference)?,
            repo: repo.clone(),
            reference,
            blobs: Vec::new(),
            options: OciArtifactOptions::default(),
            limit: session.limits().manifest_body,
            phase: Phase::ReadIndex,
            attached: Some(Attached {
                digest: referrer.digest.clone(),
                manifest: String::new(),
                subject: Descriptor::new("", subject.clone(), 0),
                fallback_index: None,
            }),
            index_digest: None,
            entry: Some(referrer.clone()),
        })))
    }
}

impl AttachFlow {
    fn manifests_url(&self, reference: &str) -> Result<Url, Error> {
        self.base
            .join(&format!("v2/{}/manifests/{reference}", self.repo.as_str()))
            .map_err(|e| Error::InvalidUrl(e.to_string()))
    }

    fn attached(&self) -> Result<&Attached, Error> {
        self.attached
            .as_ref()
            .ok_or_else(|| Misuse::UnexpectedCall("attach out of order").into())
    }

    /// The subject is known: build the artifact and PUT it by digest.
    fn put_artifact(&mut self, subject: Descriptor) -> Result<Next<Attached>, Error> {
        let options = OciArtifactOptions {
            subject: Some(subject.clone()),
            ..self.options.clone()
        };
        let manifest = oci_artifact_manifest(&self.blobs, &options);
        let digest = sha256(manifest.as_bytes());
        let url = self.manifests_url(digest.as_str())?;
        let req = request(
            Method::PUT,
            &url,
            Body::Bytes(manifest.clone().into_bytes()),
            Some(OCI_IMAGE_MANIFEST),
        )?;
        self.attached = Some(Attached {
            digest,
            manifest,
            subject,
            fallback_index: None,
        });
        self.url = url;
        self.phase = Phase::PutArtifact;
        Ok(Next::Send(req))
    }

    /// The descriptor of the new artifact in the referrers index.
    fn entry(&self) -> Result<Descriptor, Error> {
        if let Some(entry) = &self.entry {
            return Ok(entry.clone());
        }
        let a = self.attached()?;
        let mut d = Descriptor::new(
            OCI_IMAGE_MANIFEST,
            a.digest.clone(),
            a.manifest.len() as u64,
        );
        d.artifact_type = Some(if self.options.artifact_type.is_empty() {
            DEFAULT_ARTIFACT_TYPE.to_owned()
        } else {
            self.options.artifact_type.clone()
        });
        d.annotations = self.options.annotations.clone();
        Ok(d)
    }

    /// Adds the new artifact to the fallback index (unless it is there) and PUTs it:
    /// `existing` is the index as received (body and `Content-Type`), `None` when there is
    /// none yet.
    fn update_index(
        &mut self,
        existing: Option<(&[u8], Option<&str>)>,
        current: Option<Digest>,
    ) -> Result<Next<Attached>, Error> {
        let entry = self.entry()?;
        let body = match existing {
            None => referrers_index_json(std::slice::from_ref(&entry)).into_bytes(),
            Some((body, content_type)) => match append_referrer(body, content_type, &entry) {
                Ok(Some(body)) => body,
                // Listed already: nothing to write.
                Ok(None) => return self.finish(current),
                Err(AppendError::TooMany) => {
                    return Err(ProtocolViolation::TooManyReferrers(MAX_REFERRERS).into())
                }
                Err(AppendError::Index(e)) => return Err(e.into()),
            },
        };
        if body.len() as u64 > self.limit {
            return Err(ProtocolViolation::ReferrersTooLarge(self.limit).into());
        }
        self.index_digest = Some(sha256(&body));
        self.phase = Phase::PutIndex;
        Ok(Next::Send(request(
            Method::PUT,
            &self.url,
            Body::Bytes(body),
            Some(OCI_IMAGE_INDEX),
        )?))
    }

    fn finish(&mut self, index: Option<Digest>) -> Result<Next<Attached>, Error> {
        let mut out = self
            .attached
            .take()
            .ok_or(Misuse::UnexpectedCall("attach out of order"))?;
        out.fallback_index = index;
        Ok(Next::Done(out))
    }
}

/// Whether the PUT response's `OCI-Subject` names `subject`.
fn registry_keeps_referrers(head: &http::response::Parts, subject: &Digest) -> bool {
    head.headers
        .get(OCI_SUBJECT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Digest::parse(v.trim()).ok())
        .is_some_and(|d| &d == subject)
}

impl Flow for AttachFlow {
    type Output = Attached;

    fn kind(&self) -> OpKind {
        match self.phase {
            Phase::Subject | Phase::ReadIndex => OpKind::ManifestGet,
            Phase::PutArtifact | Phase::PutIndex => OpKind::ManifestPut,
        }
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull,push")
    }

    fn start(&mut self) -> Result<Next<Attached>, Error> {
        Ok(Next::Send(manifest_request(Method::GET, &self.url)?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        match self.phase {
            Phase::Subject => status == StatusCode::OK,
            Phase::PutArtifact | Phase::PutIndex => status == StatusCode::CREATED,
            Phase::ReadIndex => status == StatusCode::OK || status == StatusCode::NOT_FOUND,
        }
    }

    fn on_head(&mut self, head: &http::response::Parts) -> Result<HeadAction<Attached>, Error> {
        Ok(match self.phase {
            Phase::Subject | Phase::ReadIndex if head.status == StatusCode::OK => {
                HeadAction::Feed(self.limit)
            }
            _ => HeadAction::Discard,
        })
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<Attached>, Error> {
        match self.phase {
            Phase::Subject => {
                let digest = verify_manifest(&head, &body, &self.reference)?;
                let parsed = parse_manifest(&body, content_type(&head).as_deref())?;
                let subject = Descriptor::new(parsed.media_type(), digest, body.len() as u64);
                self.put_artifact(subject)
            }
            Phase::PutArtifact => {
                let a = self.attached()?;
                check_announced(&a.digest, &head)?;
                if registry_keeps_referrers(&head, &a.subject.digest) {
                    return self.finish(None);
                }
                let tag = fallback_tag(&a.subject.digest)?;
                self.url = self.manifests_url(tag.as_str())?;
                self.reference = Reference::Tag(tag);
                self.phase = Phase::ReadIndex;
                Ok(Next::Send(manifest_request(Method::GET, &self.url)?))
            }
            Phase::ReadIndex if head.status == StatusCode::NOT_FOUND => {
                self.update_index(None, None)
            }
            Phase::ReadIndex => {
                let current = verify_manifest(&head, &body, &self.reference)?;
                let content_type = content_type(&head);
                self.update_index(Some((&body, content_type.as_deref())), Some(current))
            }
            Phase::PutIndex => {
                let digest = self
                    .index_digest
                    .take()
                    .ok_or(Misuse::UnexpectedCall("attach out of order"))?;
                check_announced(&digest, &head)?;
                self.finish(Some(digest))
            }
        }
    }
}

delegate_operation!(Attach, Attached);
