//! [`PlaceBlob`]: getting one blob of a copy into the destination without sending its
//! bytes when possible — a `HEAD` (present?), then a cross-repository mount: from the
//! source repository within one registry, else from where the session's
//! [blob cache](crate::BlobCache) last saw it on the destination's registry;
//! `upload_blob` is the upload for what is left.

use std::collections::VecDeque;

use http::{Method, StatusCode};
use url::Url;

use super::plan::CopyBlob;
use crate::auth::Scope;
use crate::blob::{check_announced, mount_url, Upload, UploadMode, UploadOptions};
use crate::error::{Error, OpKind};
use crate::exchange::{delegate_operation, Flow, Machine, Next, Refusable};
use crate::operation::Body;
use crate::reference::Repository;
use crate::session::{Event, Session, SessionEvent};
use crate::url::{location, request};

/// Where a blob stands after [`PlaceBlob`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlobPlacement {
    /// The destination already had it.
    Present,
    /// It was mounted from the source repository.
    Mounted,
    /// It must be uploaded (streamed from the source).
    NeedsUpload,
}

/// Checks for one blob in the destination and mounts it when it can. Output:
/// [`BlobPlacement`].
#[derive(Debug)]
pub struct PlaceBlob(Machine<PlaceFlow>);

#[derive(Debug)]
enum Phase {
    Checking,
    Mounting,
    /// Cancelling the upload session a refused mount opened (the answer is ignored).
    Cancelling,
}

#[derive(Debug)]
pub(crate) struct PlaceFlow {
    to: Repository,
    from: Option<Repository>,
    blob: CopyBlob,
    head_url: Url,
    mount_url: Option<Url>,
    /// What the session's blob cache learns (the blob is here, or not where it was).
    events: VecDeque<SessionEvent>,
    phase: Phase,
}

impl PlaceBlob {
    /// Places `blob` in repository `to` of `session`'s registry; `mount_from`, a repository
    /// of the *same* registry holding it, allows a mount — without one, the blob cache's
    /// newest location of the blob on this registry (of the same size), if any.
    pub fn new(
        session: &Session,
        to: &Repository,
        blob: &CopyBlob,
        mount_from: Option<&Repository>,
    ) -> Result<PlaceBlob, Error> {
        let head_url =
            session.v2_url(&format!("{}/blobs/{}", to.as_str(), blob.digest.as_str()))?;
        let cached = match mount_from {
            Some(_) => None,
            None => session
                .mount_source(to, &blob.digest)
                .filter(|(_, size)| *size == blob.size)
                .map(|(from, _)| from),
        };
        let mount_from = mount_from.or(cached.as_ref());
        let mount_url = match mount_from {
            Some(from) => {
                let uploads = session.v2_url(&format!("{}/blobs/uploads/", to.as_str()))?;
                Some(mount_url(&uploads, &blob.digest, from))
            }
            None => None,
        };
        Ok(PlaceBlob(Machine::new(PlaceFlow {
            to: to.clone(),
            from: mount_from.cloned(),
            blob: blob.clone(),
            head_url,
            mount_url,
            events: VecDeque::new(),
            phase: Phase::Checking,
        })))
    }
}

/// The upload of a blob [`PlaceBlob`] could not place: `blob.size` bytes relayed in one
/// `PATCH` from the driver's stream source (the source's verified blob reader), hashed on
/// the way, and committed only if they hash to `blob.digest`.
pub(crate) fn upload_blob(
    session: &Session,
    to: &Repository,
    blob: &CopyBlob,
) -> Result<Upload, Error> {
    let options = UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Chunked,
        chunk_size: None,
    };
    // The placement tried the mount the blob cache knew of already.
    Ok(Upload::sized_stream(session, to, blob.size, Some(&blob.digest), &options)?.without_mount())
}

impl Flow for PlaceFlow {
    type Output = BlobPlacement;

    fn kind(&self) -> OpKind {
        match self.phase {
            Phase::Checking => OpKind::BlobHead,
            Phase::Mounting | Phase::Cancelling => OpKind::Mount,
        }
    }

    fn scope(&self) -> Scope {
        match &self.from {
            Some(from) => Scope::mount(&self.to, from),
            None => Scope::repository(&self.to, "pull,push"),
        }
    }

    fn start(&mut self) -> Result<Next<BlobPlacement>, Error> {
        Ok(Next::Send(request(
            Method::HEAD,
            &self.head_url,
            Body::Empty,
            None,
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        match self.phase {
            Phase::Checking => matches!(status.as_u16(), 200 | 404),
            // Anything but 201 means "not mounted": upload instead (Harbor answers 401 for
            // a source project it does not know, goharbor/harbor#17097).
            Phase::Mounting | Phase::Cancelling => true,
        }
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        _body: Vec<u8>,
    ) -> Result<Next<BlobPlacement>, Error> {
        let (digest, size) = (&self.blob.digest, self.blob.size);
        match self.phase {
            Phase::Checking if head.status == StatusCode::OK => {
                self.events
                    .push_back(Event::blob_seen(&self.to, digest, size));
                Ok(Next::Done(BlobPlacement::Present))
            }
            Phase::Checking => {
                // Not here: not a place to mount it from either.
                self.events.push_back(Event::blob_gone(&self.to, digest));
                self.mount_or_upload()
            }
            Phase::Mounting if head.status == StatusCode::CREATED => {
                check_announced(digest, &head)?;
                self.events
                    .push_back(Event::blob_seen(&self.to, digest, size));
                Ok(Next::Done(BlobPlacement::Mounted))
            }
            Phase::Mounting => {
                if let Some(from) = &self.from {
                    self.events.push_back(Event::blob_gone(from, digest));
                }
                self.refused_mount(head)
            }
            Phase::Cancelling => Ok(Next::Done(BlobPlacement::NeedsUpload)),
        }
    }

    fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }
}

impl PlaceFlow {
    /// The blob is not in the destination: a mount when there is a place to mount it
    /// from, else an upload.
    fn mount_or_upload(&mut self) -> Result<Next<BlobPlacement>, Error> {
        let Some(url) = &self.mount_url else {
            return Ok(Next::Done(BlobPlacement::NeedsUpload));
        };
        let mut req = request(Method::POST, url, Body::Empty, None)?;
        // A refusal (Harbor: 401) means "upload it instead".
        req.extensions_mut().insert(Refusable);
        self.phase = Phase::Mounting;
        Ok(Next::Send(req))
    }

    /// The mount was refused: an upload follows (after cancelling the session a 202
    /// opened).
    fn refused_mount(&mut self, head: http::response::Parts) -> Result<Next<BlobPlacement>, Error> {
        match head.status {
            StatusCode::ACCEPTED => {
                let base = self.mount_url.as_ref().unwrap_or(&self.head_url);
                match location(base, &head) {
                    Ok(session) => {
                        self.phase = Phase::Cancelling;
                        Ok(Next::Send(request(
                            Method::DELETE,
                            &session,
                            Body::Empty,
                            None,
                        )?))
                    }
                    Err(_) => Ok(Next::Done(BlobPlacement::NeedsUpload)),
                }
            }
            _ => Ok(Next::Done(BlobPlacement::NeedsUpload)),
        }
    }
}

delegate_operation!(PlaceBlob, BlobPlacement);
