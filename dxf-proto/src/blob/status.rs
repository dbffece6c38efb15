//! `GET <upload location>`: how many bytes an upload session holds (for resuming).

use http::{Method, StatusCode};
use url::Url;

use crate::auth::Scope;
use crate::error::{Error, OpKind, ProtocolViolation};
use crate::exchange::{delegate_operation, Flow, Machine, Next};
use crate::headers::parse_upload_range;
use crate::operation::Body;
use crate::reference::Repository;
use crate::session::Session;
use crate::url::{location, request, resolve};

/// Where an upload session stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadProgress {
    /// Bytes the registry holds (from `Range`; 0 when absent).
    pub held: u64,
    /// The session URL to continue with (the newest `Location`, else the one asked).
    pub location: String,
}

/// Upload status GET (204 No Content + `Range`). Output: [`UploadProgress`].
#[derive(Debug)]
pub struct UploadStatus(Machine<StatusFlow>);

#[derive(Debug)]
pub(crate) struct StatusFlow {
    repo: Repository,
    url: Url,
}

impl UploadStatus {
    /// Status of the upload session at `location` (absolute, or relative to the registry).
    pub fn new(
        session: &Session,
        repo: &Repository,
        location: &str,
    ) -> Result<UploadStatus, Error> {
        Ok(UploadStatus(Machine::new(StatusFlow {
            url: resolve(session.base_url(), location)?,
            repo: repo.clone(),
        })))
    }
}

/// Bytes held according to the `Range` header of `head` (0 when absent).
pub(crate) fn held_bytes(head: &http::response::Parts) -> Result<Option<u64>, Error> {
    match head.headers.get(http::header::RANGE) {
        None => Ok(None),
        Some(v) => parse_upload_range(v.as_bytes())
            .map(Some)
            .map_err(|e| ProtocolViolation::BadRange(e.to_string()).into()),
    }
}

impl Flow for StatusFlow {
    type Output = UploadProgress;

    fn kind(&self) -> OpKind {
        OpKind::UploadStatus
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull,push")
    }

    fn start(&mut self) -> Result<Next<UploadProgress>, Error> {
        Ok(Next::Send(request(
            Method::GET,
            &self.url,
            Body::Empty,
            None,
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        matches!(status.as_u16(), 200 | 204)
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        _body: Vec<u8>,
    ) -> Result<Next<UploadProgress>, Error> {
        let next = match location(&self.url, &head) {
            Ok(u) => u,
            Err(Error::Protocol(ProtocolViolation::MissingLocation)) => self.url.clone(),
            Err(e) => return Err(e),
        };
        Ok(Next::Done(UploadProgress {
            held: held_bytes(&head)?.unwrap_or(0),
            location: next.to_string(),
        }))
    }
}

delegate_operation!(UploadStatus, UploadProgress);
