//! Cross-repository mount: `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`.
//! 201 means mounted. 202 means the registry opened an upload session instead: that is
//! [`Error::MountFailed`], after the session is cancelled (`DELETE`, failures ignored) or
//! left open for the caller, as [`MountOptions::cancel_on_failure`] says.

use http::{Method, StatusCode};
use url::Url;

use super::check_announced;
use crate::auth::Scope;
use crate::error::{Error, OpKind};
use crate::exchange::{delegate_operation, Flow, Machine, Next};
use crate::operation::Body;
use crate::reference::{Digest, Repository};
use crate::session::{Event, Session, SessionEvent};
use crate::url::{location, request};

/// Choices for a mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// When the registry answers 202, `DELETE` the upload session it opened (default: on;
    /// python-dxf leaves it open).
    pub cancel_on_failure: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            cancel_on_failure: true,
        }
    }
}

/// Blob mount. Output: the mounted digest.
#[derive(Debug)]
pub struct MountBlob(Machine<MountFlow>);

#[derive(Debug)]
enum Phase {
    Mounting,
    Cancelling,
}

#[derive(Debug)]
pub(crate) struct MountFlow {
    to: Repository,
    from: Repository,
    digest: Digest,
    url: Url,
    options: MountOptions,
    phase: Phase,
    /// The blob's size, when the blob cache knows it (a mount does not tell it).
    known_size: Option<u64>,
    /// What the blob cache learns: mounted here, or not to be found there.
    event: Option<SessionEvent>,
}

/// `POST <uploads>?mount=<digest>&from=<from>`'s URL, from repository `to`'s uploads URL.
pub(crate) fn mount_url(uploads: &Url, digest: &Digest, from: &Repository) -> Url {
    let mut url = uploads.clone();
    url.query_pairs_mut()
        .append_pair("mount", digest.as_str())
        .append_pair("from", from.as_str());
    url
}

impl MountBlob {
    /// Mounts `digest` from repository `from` into `to`.
    pub fn new(
        session: &Session,
        to: &Repository,
        from: &Repository,
        digest: &Digest,
        options: MountOptions,
    ) -> Result<MountBlob, Error> {
        let uploads = session.v2_url(&format!("{}/blobs/uploads/", to.as_str()))?;
        let url = mount_url(&uploads, digest, from);
        Ok(MountBlob(Machine::new(MountFlow {
            to: to.clone(),
            from: from.clone(),
            digest: digest.clone(),
            url,
            options,
            phase: Phase::Mounting,
            known_size: session.mount_source(to, digest).map(|(_, size)| size),
            event: None,
        })))
    }
}

impl Flow for MountFlow {
    type Output = Digest;

    fn kind(&self) -> OpKind {
        OpKind::Mount
    }

    fn scope(&self) -> Scope {
        Scope::mount(&self.to, &self.from)
    }

    fn start(&mut self) -> Result<Next<Digest>, Error> {
        Ok(Next::Send(request(
            Method::POST,
            &self.url,
            Body::Empty,
            None,
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        match self.phase {
            Phase::Mounting => matches!(status.as_u16(), 201 | 202),
            // Whatever the cancellation answers, the mount failed; say that.
            Phase::Cancelling => true,
        }
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        _body: Vec<u8>,
    ) -> Result<Next<Digest>, Error> {
        match self.phase {
            Phase::Cancelling => Err(Error::MountFailed {
                upload_location: None,
            }),
            Phase::Mounting if head.status == StatusCode::CREATED => {
                check_announced(&self.digest, &head)?;
                // The size is not told: recorded when the cache knew it.
                self.event = self
                    .known_size
                    .map(|size| Event::blob_seen(&self.to, &self.digest, size));
                Ok(Next::Done(self.digest.clone()))
            }
            Phase::Mounting => {
                self.event = Some(Event::blob_gone(&self.from, &self.digest));
                let session = location(&self.url, &head).ok();
                match session {
                    Some(url) if self.options.cancel_on_failure => {
                        self.phase = Phase::Cancelling;
                        Ok(Next::Send(request(
                            Method::DELETE,
                            &url,
                            Body::Empty,
                            None,
                        )?))
                    }
                    other => Err(Error::MountFailed {
                        upload_location: other.map(|u| u.to_string()),
                    }),
                }
            }
        }
    }

    fn poll_event(&mut self) -> Option<SessionEvent> {
        self.event.take()
    }
}

delegate_operation!(MountBlob, Digest);
