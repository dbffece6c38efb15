//! [`DeleteTag`]: removes one tag and nothing else (the CLI's `del-alias --only`), unlike
//! [`DeleteManifest`](super::DeleteManifest) by digest, which takes every tag on the
//! manifest with it.
//!
//! The decision sequence:
//!
//! 1. `DELETE /v2/<name>/manifests/<tag>` (OCI distribution 1.1 allows deleting a tag).
//!    200/202/204: done ([`TagDeletion::Deleted`]).
//! 2. Refused with 400 or 405 — distribution 2.8 answers `400 DIGEST_INVALID`
//!    (distribution/distribution#3174), Docker Hub 405: the tag is moved onto a
//!    *throw-away manifest* that no other tag can share — an empty OCI image index whose
//!    annotation [`THROWAWAY_ANNOTATION`] holds a value unique to this call (the caller's
//!    `nonce`: dxf-proto has no clock or random source) — by `PUT .../manifests/<tag>`.
//! 3. `DELETE .../manifests/<throw-away digest>`: the tag goes with the throw-away manifest;
//!    the manifest the tag named, and its other tags, stay ([`TagDeletion::ViaThrowaway`]).
//! 4. If that DELETE is refused too (deletes disabled), the tag is put back on the manifest
//!    it named when the caller passed that manifest's bytes (`PUT` of them under the tag,
//!    failures ignored), and the DELETE's error is reported.
//!
//! If the throw-away manifest is not accepted (step 2 fails: container-registry takes no
//! index), the cause reported is the refused tag `DELETE` of step 1 — the registry's
//! answer to what was asked — not the fallback's.
//!
//! Any other answer to step 1 (401 after auth, 404 for an unknown tag or repository, 5xx)
//! is reported as the error it is, with nothing changed.

use http::{Method, StatusCode};
use url::Url;

use super::get::manifest_url;
use super::media_types::OCI_IMAGE_INDEX;
use crate::auth::Scope;
use crate::blob::check_announced;
use crate::digest::Sha256;
use crate::error::{Error, Misuse, OpKind};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
use crate::operation::Body;
use crate::pyjson::Json;
use crate::reference::{Digest, Reference, Repository, Tag};
use crate::session::{Session, DEFAULT_ERROR_BODY};
use crate::url::request;

/// The annotation of a throw-away manifest holding the caller's unique value.
pub const THROWAWAY_ANNOTATION: &str = "io.github.dxf.delete-tag.nonce";

/// The longest nonce accepted (it only has to be unique, not long).
const MAX_NONCE: usize = 256;

/// How a tag was deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagDeletion {
    /// The registry deleted the tag itself.
    Deleted,
    /// The registry refused to delete a tag: it was moved onto this throw-away manifest,
    /// which was then deleted by digest.
    ViaThrowaway {
        /// The throw-away manifest's digest.
        throwaway: Digest,
    },
}

/// The throw-away manifest for `nonce`: `{"annotations":{THROWAWAY_ANNOTATION: nonce},
/// "manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}`
/// (compact, keys sorted). It references nothing, so no blob has to exist for a registry to
/// accept it, and two different nonces never give the same digest.
pub fn throwaway_manifest(nonce: &str) -> Vec<u8> {
    let doc = Json::Obj(
        [
            (
                "annotations".to_owned(),
                Json::Obj([(THROWAWAY_ANNOTATION.to_owned(), Json::from(nonce))].into()),
            ),
            ("manifests".to_owned(), Json::Arr(Vec::new())),
            ("mediaType".to_owned(), Json::from(OCI_IMAGE_INDEX)),
            ("schemaVersion".to_owned(), Json::Int(2)),
        ]
        .into(),
    );
    doc.compact().into_bytes()
}

/// Deletes one tag, keeping the manifest it names and that manifest's other tags. Output:
/// [`TagDeletion`].
#[derive(Debug)]
pub struct DeleteTag(Machine<DeleteTagFlow>);

#[derive(Debug)]
enum Phase {
    DeletingTag,
    PuttingThrowaway,
    DeletingThrowaway,
    /// Putting the original manifest back after the throw-away could not be deleted; this
    /// error is reported whatever the answer.
    Restoring(Error),
}

#[derive(Debug)]
pub(crate) struct DeleteTagFlow {
    repo: Repository,
    tag_url: Url,
    throwaway_url: Url,
    throwaway: Vec<u8>,
    throwaway_digest: Digest,
    original: Option<(Vec<u8>, String)>,
    /// Why step 1 was refused: the error reported if the fallback cannot even start.
    refusal: Option<Error>,
    phase: Phase,
}

impl DeleteTag {
    /// Deletes `tag` from `repo`. `nonce` must differ from every other call's (a timestamp
    /// with a process id and a counter, say); it is written into the throw-away manifest.
    /// `original`, the manifest the tag names (its bytes as read and its media type), lets
    /// the tag be put back if the registry refuses every way of deleting it.
    pub fn new(
        session: &Session,
        repo: &Repository,
        tag: &Tag,
        nonce: &str,
        original: Option<(Vec<u8>, String)>,
    ) -> Result<DeleteTag, Error> {
        if nonce.is_empty() || nonce.len() > MAX_NONCE {
            return Err(Misuse::InvalidArgument(format!(
                "a tag deletion needs a nonce of 1 to {MAX_NONCE} bytes"
            ))
            .into());
        }
        let throwaway = throwaway_manifest(nonce);
        let mut h = Sha256::new();
        h.update(&throwaway);
        let throwaway_digest = h.finish();
        let tag_ref = Reference::Tag(tag.clone());
        Ok(DeleteTag(Machine::new(DeleteTagFlow {
            tag_url: manifest_url(session, repo, &tag_ref)?,
            throwaway_url: manifest_url(
                session,
                repo,
                &Reference::Digest(throwaway_digest.clone()),
            )?,
            repo: repo.clone(),
            throwaway,
            throwaway_digest,
            original,
            refusal: None,
            phase: Phase::DeletingTag,
        })))
    }
}

fn deleted(status: StatusCode) -> bool {
    matches!(status.as_u16(), 200 | 202 | 204)
}

/// A registry's "I do not delete tags" (distribution 2.8: 400 `DIGEST_INVALID`; others 405
/// `UNSUPPORTED`).
fn tag_delete_refused(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 405)
}

impl Flow for DeleteTagFlow {
    type Output = TagDeletion;

    fn kind(&self) -> OpKind {
        match self.phase {
            Phase::PuttingThrowaway | Phase::Restoring(_) => OpKind::ManifestPut,
            Phase::DeletingTag | Phase::DeletingThrowaway => OpKind::ManifestDelete,
        }
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull,push,delete")
    }

    fn start(&mut self) -> Result<Next<TagDeletion>, Error> {
        Ok(Next::Send(request(
            Method::DELETE,
            &self.tag_url,
            Body::Empty,
            None,
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        match self.phase {
            Phase::DeletingTag => deleted(status) || tag_delete_refused(status),
            // Every answer is handled: a refusal of the throw-away reports step 1's refusal,
            // a refusal of its deletion leads to the restore.
            Phase::PuttingThrowaway | Phase::DeletingThrowaway | Phase::Restoring(_) => true,
        }
    }

    fn on_head(&mut self, head: &http::response::Parts) -> Result<HeadAction<TagDeletion>, Error> {
        match self.phase {
            // Keep the registry's error entries for the report.
            Phase::DeletingTag | Phase::DeletingThrowaway if !deleted(head.status) => {
                Ok(HeadAction::Feed(DEFAULT_ERROR_BODY))
            }
            _ => Ok(HeadAction::Discard),
        }
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<TagDeletion>, Error> {
        match std::mem::replace(&mut self.phase, Phase::DeletingTag) {
            Phase::DeletingTag if deleted(head.status) => Ok(Next::Done(TagDeletion::Deleted)),
            Phase::DeletingTag => {
                self.refusal = Some(Error::from_response(OpKind::ManifestDelete, &head, &body));
                self.phase = Phase::PuttingThrowaway;
                Ok(Next::Send(request(
                    Method::PUT,
                    &self.tag_url,
                    Body::Bytes(self.throwaway.clone()),
                    Some(OCI_IMAGE_INDEX),
                )?))
            }
            Phase::PuttingThrowaway if head.status != StatusCode::CREATED => Err(self
                .refusal
                .take()
                .unwrap_or_else(|| Error::from_response(OpKind::ManifestPut, &head, &body))),
            Phase::PuttingThrowaway => {
                check_announced(&self.throwaway_digest, &head)?;
                self.phase = Phase::DeletingThrowaway;
                Ok(Next::Send(request(
                    Method::DELETE,
                    &self.throwaway_url,
                    Body::Empty,
                    None,
                )?))
            }
            Phase::DeletingThrowaway if deleted(head.status) => {
                Ok(Next::Done(TagDeletion::ViaThrowaway {
                    throwaway: self.throwaway_digest.clone(),
                }))
            }
            Phase::DeletingThrowaway => {
                let error = Error::from_response(OpKind::ManifestDelete, &head, &body);
                match self.original.take() {
                    Some((original, media_type)) => {
                        self.phase = Phase::Restoring(error);
                        Ok(Next::Send(request(
                            Method::PUT,
                            &self.tag_url,
                            Body::Bytes(original),
                            Some(&media_type),
                        )?))
                    }
                    None => Err(error),
                }
            }
            Phase::Restoring(error) => Err(error),
        }
    }
}

delegate_operation!(DeleteTag, TagDeletion);
