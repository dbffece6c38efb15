//! `GET /v2/`: the API version check, and python-dxf's `authenticate` (the same request
//! with an exact token scope, after which the session holds the token).

use http::{Method, StatusCode};
use url::Url;

use crate::auth::Scope;
use crate::error::{Error, OpKind};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
use crate::operation::Body;
use crate::session::{Session, DEFAULT_ERROR_BODY};
use crate::url::request;

/// What `GET /v2/` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// `Docker-Distribution-API-Version`, e.g. `registry/2.0`, when present.
    pub api_version: Option<String>,
    /// The body (usually `{}`), at most 64 KiB.
    pub body: Vec<u8>,
}

/// Version check. Output: [`VersionInfo`].
#[derive(Debug)]
pub struct VersionCheck(Machine<VersionFlow>);

#[derive(Debug)]
pub(crate) struct VersionFlow {
    url: Url,
    scope: Scope,
}

impl VersionCheck {
    /// `GET /v2/`; a token challenge is answered with the challenge's scope.
    pub fn new(session: &Session) -> Result<VersionCheck, Error> {
        Self::with_scope(session, Scope::none())
    }

    /// `GET /v2/` authenticating for `scope` (e.g. [`Scope::exact_repository`] for
    /// python-dxf's `auth REPO ACTION…`); afterwards
    /// [`Session::bearer_token`](crate::Session::bearer_token) gives the token, if the
    /// registry uses tokens.
    pub fn with_scope(session: &Session, scope: Scope) -> Result<VersionCheck, Error> {
        Ok(VersionCheck(Machine::new(VersionFlow {
            url: session.v2_url("")?,
            scope,
        })))
    }
}

impl Flow for VersionFlow {
    type Output = VersionInfo;

    fn kind(&self) -> OpKind {
        OpKind::VersionCheck
    }

    fn scope(&self) -> Scope {
        self.scope.clone()
    }

    fn start(&mut self) -> Result<Next<VersionInfo>, Error> {
        Ok(Next::Send(request(
            Method::GET,
            &self.url,
            Body::Empty,
            None,
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::OK
    }

    fn on_head(&mut self, _: &http::response::Parts) -> Result<HeadAction<VersionInfo>, Error> {
        Ok(HeadAction::Feed(DEFAULT_ERROR_BODY))
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<VersionInfo>, Error> {
        Ok(Next::Done(VersionInfo {
            api_version: head
                .headers
                .get("docker-distribution-api-version")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
        }))
    }
}

delegate_operation!(VersionCheck, VersionInfo);
