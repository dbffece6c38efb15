//! [`Authed`]: wraps any [`Operation`] that states its [`Scope`] and gives it authentication.
//!
//! Credentials go only to the registry's origin and to the token realm named by the
//! registry's *own* challenge (which may be on any host — that is how token auth works —
//! or is replaced by the auth-host override):
//!
//! - The wrapper stamps `Authorization` (cached bearer token, or Basic once the registry
//!   asked for it) on every request the inner operation yields *to the registry's own
//!   origin* — never on a cross-host redirect, `Link` page or upload `Location`.
//! - A 401 with a parseable challenge from the registry's origin never reaches the inner
//!   operation: the wrapper fetches a token from the realm (or switches to Basic) and
//!   re-sends the inner operation's last request once. A 401 right after that is
//!   [`Error::Unauthorized`]. A 403 from the registry met with a cached bearer token (ECR's
//!   "token expired") gets the same treatment once.
//! - A 401 from the registry's origin *without* a usable challenge (container-registry
//!   challenges only on `GET /v2/`; docker, crane and skopeo ping there first) is answered
//!   by asking `GET /v2/` once per session, without credentials, and following the
//!   challenge found there as if the 401 had carried it. Nothing usable there either:
//!   [`Error::Unauthorized`]. Never more than one such ping per session, so no loop.
//! - A 401 from any other origin (a redirect target, a next page, an upload session
//!   elsewhere) is never answered, whatever it asks for: it is
//!   [`Error::ForeignChallenge`] naming the host, and nothing is learned from it (no realm,
//!   no switch to Basic). A 403 from another origin goes to the inner operation as it is
//!   (storage refusing an expired signature is not our token expiring).
//! - When the session already knows the realm, a missing or expiring token is fetched
//!   *before* a request to the registry, saving the 401 round trip — and keeping a stream
//!   body (which cannot be replayed) from meeting an expired token. A request to another
//!   origin would not carry the token, so none is fetched for it.
//!
//! A best-effort cleanup request (an upload's session `DELETE` after a failure or a
//! cancel) goes out with the credentials at hand: no token is fetched for it and its 401
//! goes to the inner operation as it is, so the auth flow never delays or hides the error
//! the cleanup is sent for.

use std::collections::VecDeque;

use http::header::{AUTHORIZATION, USER_AGENT, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use url::Url;

use super::challenge::parse_challenges;
use super::refresh_grant::{self, refresh_token_grant};
use super::token_response::parse_token_response;
use super::Scope;
use crate::error::{Error, Misuse, OciError, OpKind, ProtocolViolation};
use crate::exchange::{Cleanup, Refusable};
use crate::operation::{Body, BodyPlan, Operation, Recovery, Request, Step, UnixTime};
use crate::session::{
    expired, BearerRealm, CachedToken, Credentials, Event, Session, SessionEvent,
};
use crate::url::{request, same_origin, shorten, url_of};

/// An operation that can say which token scope it needs.
pub trait Scoped {
    /// The scope to ask the token server for.
    fn scope(&self) -> Scope;
}

/// The largest request body kept for a replay after a 401 (manifests fit; stream chunks
/// larger than this are not kept — the token is refreshed before they are sent instead).
pub(super) const MAX_REPLAY_BODY: usize = 4 * 1024 * 1024;

/// Token lifetime assumed when the server gives none or less (Docker token spec: 60 s).
pub(super) const MIN_TOKEN_LIFETIME: u64 = 60;

#[derive(Clone, Debug)]
enum Current {
    None,
    Basic(HeaderValue),
    Bearer(CachedToken),
}

#[derive(Debug)]
struct Template {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Option<Body>,
    /// A best-effort cleanup request: its 401/403 go to the inner operation as they are.
    cleanup: bool,
    /// A 401 that credentials cannot fix goes to the inner operation (see [`Refusable`]).
    refusable: bool,
}

#[derive(Debug)]
enum ChallengePlan {
    Basic,
    Bearer {
        realm: BearerRealm,
        scope: Option<String>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Resume {
    /// Re-send the inner operation's last request (after a challenge).
    Replay,
    /// Send the inner operation's request that waited for the token (proactive fetch).
    Pending,
}

#[derive(Debug)]
enum Phase {
    Idle,
    InnerSent,
    InnerBody,
    Challenged(ChallengePlan),
    TokenSent {
        resume: Resume,
        scopes: String,
    },
    TokenBody {
        buf: Vec<u8>,
        status: StatusCode,
        received_at: UnixTime,
        resume: Resume,
        scopes: String,
    },
    Rejected {
        buf: Vec<u8>,
    },
    Replay,
    SendPending,
    /// A 401 without a challenge: `GET /v2/` is to be asked for one.
    Ping,
    /// The `GET /v2/` ping is out.
    PingSent,
}

/// Any [`Operation`] with authentication added; see the module docs.
#[derive(Debug)]
pub struct Authed<O> {
    inner: O,
    scope: Scope,
    registry: Url,
    credentials: Credentials,
    allow_plain_http: bool,
    auth_host: Option<String>,
    user_agent: Option<HeaderValue>,
    token_limit: u64,
    error_limit: u64,
    max_rounds: u32,
    current: Current,
    realm: Option<BearerRealm>,
    phase: Phase,
    template: Option<Template>,
    /// The inner request held back while a token is fetched for it.
    pending: Option<Request>,
    fresh: bool,
    rounds: u32,
    /// `GET /v2/` was asked for a challenge (in this session, by any operation).
    pinged: bool,
    events: VecDeque<SessionEvent>,
    failed: Option<Error>,
}

impl<O: Operation + Scoped> Authed<O> {
    /// Wraps `inner`, taking credentials, cached token and realm from `session`.
    pub fn new(session: &Session, inner: O) -> Authed<O> {
        let scope = inner.scope();
        let current = match session.cached_token(&scope) {
            Some(t) => Current::Bearer(t),
            None if session.basic_accepted() => match session.credentials().header() {
                Ok(Some(h)) => Current::Basic(h),
                _ => Current::None,
            },
            None => Current::None,
        };
        let limits = session.limits();
        Authed {
            inner,
            scope,
            registry: session.base_url().clone(),
            credentials: session.credentials().clone(),
            allow_plain_http: session.allows_plain_http_credentials(),
            auth_host: session.auth_host().map(str::to_owned),
            user_agent: HeaderValue::from_str(session.user_agent()).ok(),
            token_limit: limits.token_body,
            error_limit: limits.error_body,
            max_rounds: limits.max_auth_rounds,
            current,
            realm: session.realm().cloned(),
            phase: Phase::Idle,
            template: None,
            pending: None,
            fresh: false,
            rounds: 0,
            pinged: session.challenge_pinged(),
            events: VecDeque::new(),
            failed: None,
        }
    }

    /// The wrapped operation.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The token-cache key of the scope this operation is fetching a token for, while the
    /// request just yielded by [`poll`](Operation::poll) is a token request. A driver that
    /// runs operations concurrently can use it to fetch one token per scope at a time: hold
    /// a lock for the key, then call [`adopt_session_token`](Self::adopt_session_token)
    /// before sending the token request.
    pub(crate) fn token_request_scope(&self) -> Option<String> {
        matches!(self.phase, Phase::TokenSent { .. }).then(|| self.scope.key())
    }

    /// While a token request is pending (see [`token_request_scope`](Self::token_request_scope)):
    /// if `session` meanwhile holds a usable token for this operation's scope (another
    /// operation fetched it), use it instead — the pending token request must then not be
    /// sent, and the next [`poll`](Operation::poll) continues with that token. Returns
    /// whether the token was adopted.
    pub(crate) fn adopt_session_token(&mut self, session: &Session, now: UnixTime) -> bool {
        let Phase::TokenSent { resume, .. } = &self.phase else {
            return false;
        };
        let resume = *resume;
        match session.cached_token(&self.scope) {
            Some(t) if !expired(t.expires_at, now) && !self.is_current(&t) => {
                self.current = Current::Bearer(t);
                self.phase = match resume {
                    Resume::Replay => {
                        self.fresh = true;
                        Phase::Replay
                    }
                    Resume::Pending => Phase::SendPending,
                };
                true
            }
            _ => false,
        }
    }

    fn is_current(&self, t: &CachedToken) -> bool {
        matches!(&self.current, Current::Bearer(c) if c.token == t.token)
    }

    /// The refusal; the scope is named only when a token was involved (a Basic or
    /// anonymous registry has no scopes).
    fn unauthorized(&self, oci: Vec<OciError>) -> Error {
        let tokens = self.realm.is_some() || matches!(self.current, Current::Bearer(_));
        Error::Unauthorized {
            scope: if tokens {
                self.scope.key()
            } else {
                String::new()
            },
            oci,
        }
    }

    /// `GET /v2/` without credentials: where a registry that sends bare 401s elsewhere
    /// states its challenge.
    fn ping_request(&self) -> Result<Request, Error> {
        let url = self
            .registry
            .join("v2/")
            .map_err(|e| Error::InvalidUrl(e.to_string()))?;
        let mut req = request(Method::GET, &url, Body::Empty, None)?;
        if let Some(ua) = &self.user_agent {
            req.headers_mut().insert(USER_AGENT, ua.clone());
        }
        Ok(req)
    }

    fn may_send_credentials_to(&self, url: &Url) -> bool {
        url.scheme() == "https" || self.allow_plain_http
    }

    /// The host (`name[:port]`) the inner operation's last request went to, when that is
    /// not the registry's origin: a 401 or 403 from there is not ours to answer. Fails
    /// closed (as foreign) when there is no last request or its URL does not parse.
    fn foreign_host(&self) -> Option<String> {
        let Some(t) = &self.template else {
            return Some("an unknown host".to_owned());
        };
        let text = t.uri.to_string();
        match Url::parse(&text) {
            Ok(url) if same_origin(&url, &self.registry) => None,
            Ok(url) => {
                let host = url.host_str().unwrap_or_default();
                Some(match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                })
            }
            Err(_) => Some(shorten(&text)),
        }
    }

    fn stamp(&self, mut req: Request) -> Result<Request, Error> {
        req.headers_mut().remove(AUTHORIZATION);
        if let Some(ua) = &self.user_agent {
            if !req.headers().contains_key(USER_AGENT) {
                req.headers_mut().insert(USER_AGENT, ua.clone());
            }
        }
        let url = url_of(&req)?;
        if !same_origin(&url, &self.registry) {
            return Ok(req);
        }
        let value = match &self.current {
            Current::None => return Ok(req),
            Current::Basic(h) => h.clone(),
            Current::Bearer(t) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", t.token))
                    .map_err(|_| ProtocolViolation::BadToken("not a header value".into()))?;
                v.set_sensitive(true);
                v
            }
        };
        if !self.may_send_credentials_to(&url) {
            return Err(Error::CredentialsOverPlainHttp);
        }
        req.headers_mut().insert(AUTHORIZATION, value);
        Ok(req)
    }

    fn remember(&mut self, req: &Request) {
        let body = match req.body() {
            Body::Bytes(b) if b.len() > MAX_REPLAY_BODY => None,
            // Relayed from a stream: gone once sent.
            b if b.is_relayed() => None,
            other => Some(other.clone()),
        };
        self.template = Some(Template {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
            body,
            cleanup: req.extensions().get::<Cleanup>().is_some(),
            refusable: req.extensions().get::<Refusable>().is_some(),
        });
    }

    fn replay(&self) -> Result<Request, Error> {
        let t = self
            .template
            .as_ref()
            .ok_or(Misuse::UnexpectedCall("replay without a request"))?;
        let body = t
            .body
            .clone()
            .ok_or_else(|| self.unauthorized(Vec::new()))?;
        let mut req = http::Request::new(body);
        *req.method_mut() = t.method.clone();
        *req.uri_mut() = t.uri.clone();
        *req.version_mut() = t.version;
        *req.headers_mut() = t.headers.clone();
        self.stamp(req)
    }

    /// What to do about a 401 from the registry's own origin (the caller has checked the
    /// origin: a challenge from anywhere else is never planned for, nor its realm kept).
    fn plan_for(&mut self, head: &http::response::Parts) -> Result<Option<ChallengePlan>, Error> {
        let values = head
            .headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(HeaderValue::as_bytes);
        let challenges =
            parse_challenges(values).map_err(|e| ProtocolViolation::BadChallenge(e.to_string()))?;
        let bearer = challenges.iter().find(|c| c.scheme() == "bearer");
        let basic = challenges.iter().any(|c| c.scheme() == "basic");
        if bearer.is_none() && !basic {
            return Ok(None);
        }
        if !self.may_send_credentials_to(&self.registry) {
            return Err(Error::CredentialsOverPlainHttp);
        }
        let Some(bearer) = bearer else {
            return Ok(Some(ChallengePlan::Basic));
        };
        let realm = bearer.param("realm").ok_or_else(|| {
            ProtocolViolation::BadChallenge("Bearer challenge without realm".into())
        })?;
        let realm = BearerRealm {
            realm: realm.to_owned(),
            service: bearer.param("service").map(str::to_owned),
        };
        self.realm = Some(realm.clone());
        self.events
            .push_back(SessionEvent(Event::Realm(realm.clone())));
        Ok(Some(ChallengePlan::Bearer {
            realm,
            scope: bearer.param("scope").map(str::to_owned),
        }))
    }

    /// The token request for `realm` (python-dxf: realm's own query kept, `service` and one
    /// `scope` per scope appended, host replaced by the auth-host override, https unless
    /// plain http is allowed).
    fn token_request(
        &self,
        realm: &BearerRealm,
        challenge_scope: Option<&str>,
    ) -> Result<(Request, String), Error> {
        let bad = |why: &str| {
            ProtocolViolation::BadChallenge(format!("{why}: {}", shorten(&realm.realm)))
        };
        let mut url = Url::parse(&realm.realm).map_err(|_| bad("realm is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(bad("realm is not an http(s) URL").into());
        }
        if let Some(host) = &self.auth_host {
            let over = Url::parse(&format!("https://{host}/"))
                .map_err(|_| Error::InvalidUrl(format!("invalid auth host {host:?}")))?;
            url.set_host(over.host_str())
                .map_err(|_| Error::InvalidUrl(format!("invalid auth host {host:?}")))?;
            url.set_port(over.port())
                .map_err(|()| Error::InvalidUrl(format!("invalid auth host {host:?}")))?;
        }
        if url.scheme() == "http" && !self.allow_plain_http {
            url.set_scheme("https")
                .map_err(|()| bad("cannot use https"))?;
        }
        let scopes = self.scope.to_request(challenge_scope);
        if let Credentials::IdentityToken(refresh_token) = &self.credentials {
            // docker's OAuth2 flow: the realm as it is, everything else in a form body.
            if !self.may_send_credentials_to(&url) {
                return Err(Error::CredentialsOverPlainHttp);
            }
            let body = refresh_token_grant(refresh_token, realm.service.as_deref(), &scopes);
            let mut req = request(
                Method::POST,
                &url,
                Body::Bytes(body),
                Some(refresh_grant::FORM_CONTENT_TYPE),
            )?;
            if let Some(ua) = &self.user_agent {
                req.headers_mut().insert(USER_AGENT, ua.clone());
            }
            return Ok((req, scopes.join(" ")));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = &realm.service {
                q.append_pair("service", service);
            }
            for s in &scopes {
                q.append_pair("scope", s);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut req = request(Method::GET, &url, Body::Empty, None)?;
        if let Some(ua) = &self.user_agent {
            req.headers_mut().insert(USER_AGENT, ua.clone());
        }
        if let Some(h) = self.credentials.header()? {
            if !self.may_send_credentials_to(&url) {
                return Err(Error::CredentialsOverPlainHttp);
            }
            req.headers_mut().insert(AUTHORIZATION, h);
        }
        Ok((req, scopes.join(" ")))
    }

    fn poll_step(&mut self, now: UnixTime) -> Result<Step<O::Output>, Error> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Idle) {
                Phase::Idle => {
                    let req = match self.inner.poll(now)? {
                        Step::Send(req) => req,
                        other => return Ok(other),
                    };
                    self.fresh = false;
                    self.remember(&req);
                    if let Current::Bearer(t) = &self.current {
                        if expired(t.expires_at, now) {
                            self.current = Current::None;
                        }
                    }
                    // The realm is known but there is no usable token: fetch it before the
                    // request goes out (saves the 401 round trip; a stream body cannot be
                    // replayed). Only ever for a request the inner operation wants sent, and
                    // never for a best-effort cleanup (it goes with what there is: a token
                    // fetch must not delay or hide the error it is sent for).
                    let cleanup = req.extensions().get::<Cleanup>().is_some();
                    if let (Current::None, Some(realm), false) =
                        (&self.current, &self.realm, cleanup)
                    {
                        if !self.scope.items().is_empty()
                            && self.rounds < self.max_rounds
                            && self.may_send_credentials_to(&self.registry)
                            && same_origin(&url_of(&req)?, &self.registry)
                        {
                            self.rounds += 1;
                            let (token_req, scopes) = self.token_request(&realm.clone(), None)?;
                            self.pending = Some(req);
                            self.phase = Phase::TokenSent {
                                resume: Resume::Pending,
                                scopes,
                            };
                            return Ok(Step::Send(token_req));
                        }
                    }
                    let req = self.stamp(req)?;
                    self.phase = Phase::InnerSent;
                    return Ok(Step::Send(req));
                }
                Phase::SendPending => {
                    let req = self
                        .pending
                        .take()
                        .ok_or(Misuse::UnexpectedCall("poll without a pending request"))?;
                    let req = self.stamp(req)?;
                    self.phase = Phase::InnerSent;
                    return Ok(Step::Send(req));
                }
                Phase::Replay => {
                    let req = self.replay()?;
                    self.phase = Phase::InnerSent;
                    return Ok(Step::Send(req));
                }
                Phase::Ping => {
                    let req = self.ping_request()?;
                    self.phase = Phase::PingSent;
                    return Ok(Step::Send(req));
                }
                Phase::Challenged(ChallengePlan::Basic) => match self.credentials.header()? {
                    Some(h) => {
                        self.current = Current::Basic(h);
                        self.events.push_back(SessionEvent(Event::BasicAccepted));
                        self.fresh = true;
                        self.phase = Phase::Replay;
                    }
                    None => return Err(self.unauthorized(Vec::new())),
                },
                Phase::Challenged(ChallengePlan::Bearer { realm, scope }) => {
                    let (req, scopes) = self.token_request(&realm, scope.as_deref())?;
                    self.phase = Phase::TokenSent {
                        resume: Resume::Replay,
                        scopes,
                    };
                    return Ok(Step::Send(req));
                }
                other => {
                    self.phase = other;
                    return Err(Misuse::UnexpectedCall("poll while a response is due").into());
                }
            }
        }
    }

    fn response_step(
        &mut self,
        head: http::Response<()>,
        now: UnixTime,
    ) -> Result<BodyPlan, Error> {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::InnerSent if self.template.as_ref().is_some_and(|t| t.cleanup) => {
                self.inner.handle_response(head, now)
            }
            Phase::InnerSent => {
                // Only the registry's own 401s and 403s are answered with credentials.
                let foreign = match head.status() {
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => self.foreign_host(),
                    _ => None,
                };
                if head.status() == StatusCode::UNAUTHORIZED {
                    if let Some(host) = foreign {
                        return Err(Error::ForeignChallenge { host });
                    }
                    let (parts, ()) = head.into_parts();
                    let refusable = self.template.as_ref().is_some_and(|t| t.refusable);
                    if !self.fresh && self.rounds < self.max_rounds {
                        if let Some(plan) = self.plan_for(&parts)? {
                            self.rounds += 1;
                            self.phase = Phase::Challenged(plan);
                            return Ok(BodyPlan::Discard);
                        }
                        if !self.pinged
                            && !refusable
                            && self.template.as_ref().is_some_and(|t| t.body.is_some())
                        {
                            // No challenge here: ask `GET /v2/` for one, once per session.
                            self.pinged = true;
                            self.rounds += 1;
                            self.events.push_back(SessionEvent(Event::ChallengePinged));
                            self.phase = Phase::Ping;
                            return Ok(BodyPlan::Discard);
                        }
                    }
                    if refusable {
                        // Credentials cannot fix it: the inner operation's answer.
                        let plan = self
                            .inner
                            .handle_response(http::Response::from_parts(parts, ()), now)?;
                        if let BodyPlan::Feed { .. } = plan {
                            self.phase = Phase::InnerBody;
                        }
                        return Ok(plan);
                    }
                    self.phase = Phase::Rejected { buf: Vec::new() };
                    return Ok(BodyPlan::Feed {
                        limit: self.error_limit,
                    });
                }
                // ECR answers an expired token with 403, not 401: a cached token met with
                // 403 is replaced once; a 403 right after a fresh token is the answer.
                if head.status() == StatusCode::FORBIDDEN
                    && foreign.is_none()
                    && !self.fresh
                    && self.rounds < self.max_rounds
                    && matches!(self.current, Current::Bearer(_))
                {
                    if let Some(realm) = self.realm.clone() {
                        self.rounds += 1;
                        self.phase =
                            Phase::Challenged(ChallengePlan::Bearer { realm, scope: None });
                        return Ok(BodyPlan::Discard);
                    }
                }
                let plan = self.inner.handle_response(head, now)?;
                if let BodyPlan::Feed { .. } = plan {
                    self.phase = Phase::InnerBody;
                }
                Ok(plan)
            }
            Phase::PingSent => {
                let (parts, ()) = head.into_parts();
                if parts.status == StatusCode::UNAUTHORIZED {
                    if let Some(plan) = self.plan_for(&parts)? {
                        self.phase = Phase::Challenged(plan);
                        return Ok(BodyPlan::Discard);
                    }
                }
                Err(self.unauthorized(Vec::new()))
            }
            Phase::TokenSent { resume, scopes } => {
                let status = head.status();
                let limit = if status.is_success() {
                    self.token_limit
                } else {
                    self.error_limit
                };
                self.phase = Phase::TokenBody {
                    buf: Vec::new(),
                    status,
                    received_at: now,
                    resume,
                    scopes,
                };
                Ok(BodyPlan::Feed { limit })
            }
            other => {
                self.phase = other;
                Err(Misuse::UnexpectedCall("handle_response").into())
            }
        }
    }

    fn body_step(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let (buf, limit) = match &mut self.phase {
            Phase::InnerBody => return self.inner.handle_body(chunk),
            Phase::TokenBody { buf, status, .. } => {
                let limit = if status.is_success() {
                    self.token_limit
                } else {
                    self.error_limit
                };
                (buf, limit)
            }
            Phase::Rejected { buf } => (buf, self.error_limit),
            _ => return Err(Misuse::UnexpectedCall("handle_body").into()),
        };
        if buf.len() as u64 + chunk.len() as u64 > limit {
            return Err(Error::BodyTooLarge { limit });
        }
        buf.extend_from_slice(chunk);
        Ok(())
    }

    fn body_end_step(&mut self) -> Result<(), Error> {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::InnerBody => self.inner.handle_body_end(),
            Phase::Rejected { buf } => Err(self.unauthorized(OciError::decode(&buf))),
            Phase::TokenBody {
                buf,
                status,
                received_at,
                resume,
                scopes,
            } => {
                if !status.is_success() {
                    let oci = OciError::decode(&buf);
                    return Err(match status {
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            Error::Unauthorized { scope: scopes, oci }
                        }
                        _ => Error::UnexpectedStatus {
                            op: OpKind::Token,
                            status,
                            oci,
                        },
                    });
                }
                let parsed = parse_token_response(&buf)
                    .map_err(|e| ProtocolViolation::BadToken(e.to_string()))?;
                let lifetime = parsed
                    .expires_in
                    .unwrap_or(MIN_TOKEN_LIFETIME)
                    .max(MIN_TOKEN_LIFETIME);
                // Trust the server's issued_at only when it is consistent with our clock.
                let issued = match parsed.issued_at {
                    Some(t) if t <= received_at.0 && received_at.0 - t < lifetime => UnixTime(t),
                    _ => received_at,
                };
                let token = CachedToken {
                    token: parsed.token,
                    expires_at: Some(issued.plus(lifetime)),
                };
                self.events.push_back(SessionEvent(Event::Token {
                    key: self.scope.key(),
                    token: token.clone(),
                }));
                self.current = Current::Bearer(token);
                match resume {
                    Resume::Replay => {
                        self.fresh = true;
                        self.phase = Phase::Replay;
                    }
                    Resume::Pending => self.phase = Phase::SendPending,
                }
                Ok(())
            }
            other => {
                self.phase = other;
                Err(Misuse::UnexpectedCall("handle_body_end").into())
            }
        }
    }

    fn sticky<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }
}

impl<O: Operation + Scoped> Operation for Authed<O> {
    type Output = O::Output;

    fn poll(&mut self, now: UnixTime) -> Result<Step<O::Output>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.poll_step(now);
        self.sticky(r)
    }

    fn handle_response(
        &mut self,
        head: http::Response<()>,
        now: UnixTime,
    ) -> Result<BodyPlan, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.response_step(head, now);
        self.sticky(r)
    }

    fn handle_body(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.body_step(chunk);
        self.sticky(r)
    }

    fn handle_body_end(&mut self) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.body_end_step();
        self.sticky(r)
    }

    fn handle_source(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = match self.phase {
            // Idle: after `NeedSource`.
            Phase::Idle => self.inner.handle_source(data),
            // Relaying a `Body::Stream` request body. A refused piece abandons the request:
            // the inner operation's next step (its cleanup, then its error) follows.
            Phase::InnerSent => {
                let r = self.inner.handle_source(data);
                if r.is_err() {
                    self.phase = Phase::Idle;
                }
                return r;
            }
            _ => Err(Misuse::UnexpectedCall("handle_source").into()),
        };
        self.sticky(r)
    }

    fn handle_send_failure(&mut self, now: UnixTime) -> Recovery {
        if self.failed.is_some() {
            return Recovery::GiveUp;
        }
        match self.phase {
            // The inner operation's request: it decides.
            Phase::InnerSent => {
                self.phase = Phase::Idle;
                self.inner.handle_send_failure(now)
            }
            // A token request (or nothing) failed: give up.
            _ => {
                self.failed = Some(Misuse::UnexpectedCall("poll after giving up").into());
                Recovery::GiveUp
            }
        }
    }

    fn poll_session_event(&mut self) -> Option<SessionEvent> {
        self.events
            .pop_front()
            .or_else(|| self.inner.poll_session_event())
    }

    fn cancel(&mut self) {
        // A token fetch, a replay or a held request in progress is dropped; the inner
        // operation's cleanup request (if any) is still authenticated when it is sent.
        self.phase = Phase::Idle;
        self.pending = None;
        self.inner.cancel();
    }
}
