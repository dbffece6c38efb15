//! [`Session`]: what outlives one operation — registry base URL, credentials, token cache
//! keyed by scope, auth-host override, user agent, limits — and [`SessionEvent`], the
//! opaque messages through which operations hand back what they learned.

use std::collections::BTreeMap;

use base64::Engine as _;
use http::HeaderValue;
use url::Url;

use crate::auth::{Authed, Scope, Scoped};
use crate::error::Error;
use crate::locations::BlobCache;
use crate::operation::{Operation, UnixTime};
use crate::reference::{Digest, Repository};
use crate::retry::{RetryPolicy, Retrying};
use crate::timeouts::Timeouts;

/// Plain http or https to the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `http://` (python-dxf's `DXF_INSECURE=1`).
    Http,
    /// `https://` (the default).
    Https,
}

/// How to prove who we are.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// Anonymous (tokens may still be fetched anonymously).
    #[default]
    None,
    /// Username and password: Basic to the registry, or Basic to the token realm.
    Basic {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// A raw `Authorization` header value, used where Basic credentials would be.
    Authorization(String),
    /// An OAuth2 refresh token (docker's `identitytoken`): bearer tokens are fetched with
    /// the refresh-token grant (`POST realm`, see [`crate::auth::refresh_token_grant`]);
    /// nothing is offered to a registry that asks for Basic.
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}:***)"),
            Credentials::Authorization(_) => f.write_str("Authorization(***)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

impl Credentials {
    /// The `Authorization` header value these credentials give, if any.
    pub(crate) fn header(&self) -> Result<Option<HeaderValue>, Error> {
        let text = match self {
            Credentials::None | Credentials::IdentityToken(_) => return Ok(None),
            Credentials::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            ),
            Credentials::Authorization(raw) => raw.clone(),
        };
        let mut v = HeaderValue::from_str(&text).map_err(|_| {
            Error::Misuse(crate::error::Misuse::InvalidArgument(
                "credentials contain characters not allowed in a header".into(),
            ))
        })?;
        v.set_sensitive(true);
        Ok(Some(v))
    }
}

/// Bounds on everything a peer controls. The defaults suit every known registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest manifest body read (the spec expects ≥ 4 MB to work).
    pub manifest_body: u64,
    /// Largest token response read.
    pub token_body: u64,
    /// Largest error body read (the rest is dropped).
    pub error_body: u64,
    /// Largest tag-list or catalog page read.
    pub list_body: u64,
    /// Most redirects followed by one request.
    pub max_redirects: u32,
    /// Most pages a listing follows (the driver's iterator enforces it with the page index).
    pub max_pages: u32,
    /// Most authentication rounds (token fetches or Basic switches) in one operation.
    pub max_auth_rounds: u32,
    /// Most platforms of an index resolved by one alias read.
    pub max_platforms: usize,
    /// Chunk size for chunked uploads and stream sources.
    pub chunk_size: u64,
    /// Largest chunk any registry hint (`OCI-Chunk-Min-Length`) can make us use.
    pub max_chunk_size: u64,
    /// Retries of idempotent requests after transient failures.
    pub retry: RetryPolicy,
    /// Time bounds on every network wait (enforced by the driver).
    pub timeouts: Timeouts,
}

/// Default [`Limits::manifest_body`]: 4 MiB.
pub(crate) const DEFAULT_MANIFEST_BODY: u64 = 4 * 1024 * 1024;
/// Default [`Limits::token_body`]: 1 MiB.
pub(crate) const DEFAULT_TOKEN_BODY: u64 = 1024 * 1024;
/// Default [`Limits::error_body`]: 64 KiB.
pub(crate) const DEFAULT_ERROR_BODY: u64 = 64 * 1024;
/// Default [`Limits::list_body`]: 16 MiB (registries that ignore paging send all tags at once).
pub(crate) const DEFAULT_LIST_BODY: u64 = 16 * 1024 * 1024;
/// Default [`Limits::chunk_size`]: 8 MiB (ECR needs ≥ 5 MiB, GHCR ≤ 4 MiB is learned at run time).
pub(crate) const DEFAULT_CHUNK_SIZE: u64 = 8 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            manifest_body: DEFAULT_MANIFEST_BODY,
            token_body: DEFAULT_TOKEN_BODY,
            error_body: DEFAULT_ERROR_BODY,
            list_body: DEFAULT_LIST_BODY,
            max_redirects: 5,
            max_pages: 100_000,
            max_auth_rounds: 3,
            max_platforms: 256,
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_chunk_size: 256 * 1024 * 1024,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
        }
    }
}

/// A token obtained for a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CachedToken {
    pub(crate) token: String,
    pub(crate) expires_at: Option<UnixTime>,
}

/// Where tokens come from, learned from a Bearer challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BearerRealm {
    pub(crate) realm: String,
    pub(crate) service: Option<String>,
}

/// Something an operation learned that the [`Session`] should keep. Opaque: pass it to
/// [`Session::handle_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEvent(pub(crate) Event);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A bearer token for the scope key.
    Token { key: String, token: CachedToken },
    /// The registry accepts Basic credentials: send them up front from now on.
    BasicAccepted,
    /// The registry's token realm.
    Realm(BearerRealm),
    /// The registry refused a `PATCH` this large: later chunks stay below it.
    ChunkTooLarge(u64),
    /// The registry does not take chunked uploads: later uploads of known sources go
    /// monolithic.
    NoChunkedUploads,
    /// The registry does not take monolithic uploads (a `PUT` with a body): later uploads
    /// of known sources go chunked.
    NoMonolithicUploads,
    /// `GET /v2/` was asked for the challenge a bare 401 lacked: not again.
    ChallengePinged,
    /// The registry showed `digest` (`size` bytes) to exist in `repo`: recorded in the
    /// blob cache, if any.
    BlobSeen {
        repo: Repository,
        digest: Digest,
        size: u64,
    },
    /// `repo` did not provide `digest` (a mount from it was refused, it was deleted
    /// there): dropped from the blob cache, if any.
    BlobGone { repo: Repository, digest: Digest },
}

impl Event {
    /// The blob cache learns that `digest` exists in `repo`.
    pub(crate) fn blob_seen(repo: &Repository, digest: &Digest, size: u64) -> SessionEvent {
        SessionEvent(Event::BlobSeen {
            repo: repo.clone(),
            digest: digest.clone(),
            size,
        })
    }

    /// The blob cache learns that `repo` does not provide `digest`.
    pub(crate) fn blob_gone(repo: &Repository, digest: &Digest) -> SessionEvent {
        SessionEvent(Event::BlobGone {
            repo: repo.clone(),
            digest: digest.clone(),
        })
    }
}

impl SessionEvent {
    /// What was learned, in words and without secrets (no token, no credential), for a
    /// trace; `None` for what is not worth telling.
    pub fn describe(&self) -> Option<String> {
        Some(match &self.0 {
            Event::Token { key, .. } => format!("a token for scope {key:?}"),
            Event::BasicAccepted => {
                "the registry takes Basic credentials: sent with every request from now on"
                    .to_owned()
            }
            Event::Realm(realm) => {
                format!("token realm {}", crate::client::redact_url(&realm.realm))
            }
            Event::ChunkTooLarge(n) => {
                format!("a chunk of {n} bytes was refused: smaller chunks from now on")
            }
            Event::NoChunkedUploads => {
                "chunked uploads are refused: monolithic uploads from now on".to_owned()
            }
            Event::NoMonolithicUploads => {
                "monolithic uploads are refused: chunked uploads from now on".to_owned()
            }
            // The blob cache's bookkeeping: its mounts are in the trace as requests.
            Event::ChallengePinged | Event::BlobSeen { .. } | Event::BlobGone { .. } => {
                return None
            }
        })
    }
}

/// What uploads learned about this registry at run time (per session, i.e. per host).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadHints {
    /// The largest chunk size worth trying (a refused size halved).
    pub max_chunk: Option<u64>,
    /// Chunked uploads were refused: known sources go monolithic.
    pub monolithic_only: bool,
    /// Monolithic uploads (a `PUT` with a body) were refused: known sources go chunked.
    pub chunked_only: bool,
}

/// Seconds before expiry at which a token is no longer used.
pub(crate) const TOKEN_REFRESH_MARGIN: u64 = 10;

/// The registry-wide state shared by operations: pure data, `Clone`, no interior
/// mutability — but for the optional [`BlobCache`] handle, shared on purpose by every
/// session made from one client. Drivers that run operations concurrently keep it behind
/// their own lock.
#[derive(Clone, Debug)]
pub struct Session {
    base: Url,
    host: String,
    credentials: Credentials,
    allow_plain_http_credentials: bool,
    auth_host: Option<String>,
    user_agent: String,
    limits: Limits,
    tokens: BTreeMap<String, CachedToken>,
    preset_token: Option<String>,
    basic_accepted: bool,
    realm: Option<BearerRealm>,
    jitter_seed: u64,
    upload_hints: UploadHints,
    challenge_pinged: bool,
    blob_cache: Option<BlobCache>,
}

/// The default `User-Agent`.
pub(crate) const DEFAULT_USER_AGENT: &str = concat!("dxf/", env!("CARGO_PKG_VERSION"));

/// The most tokens kept (oldest keys are dropped first when full).
const MAX_CACHED_TOKENS: usize = 256;

impl Session {
    /// A session for the registry at `host` (`name[:port]`, as python-dxf's `DXF_HOST`).
    pub fn new(host: &str, scheme: Scheme) -> Result<Session, Error> {
        let scheme_str = match scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let invalid = || Error::InvalidUrl(format!("invalid registry host {host:?}"));
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return Err(invalid());
        }
        let base = Url::parse(&format!("{scheme_str}://{host}/")).map_err(|_| invalid())?;
        if base.host_str().is_none_or(str::is_empty) {
            return Err(invalid());
        }
        Ok(Session {
            base,
            host: host.to_owned(),
            credentials: Credentials::None,
            allow_plain_http_credentials: false,
            auth_host: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            limits: Limits::default(),
            tokens: BTreeMap::new(),
            preset_token: None,
            basic_accepted: false,
            realm: None,
            jitter_seed: 0x9E37_79B9_7F4A_7C15,
            upload_hints: UploadHints::default(),
            challenge_pinged: false,
            blob_cache: None,
        })
    }

    /// Sets the credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Session {
        self.credentials = credentials;
        self
    }

    /// Allows credentials and tokens over plain http (refused by default, like python-dxf).
    pub fn with_credentials_over_http(mut self, allow: bool) -> Session {
        self.allow_plain_http_credentials = allow;
        self
    }

    /// Replaces the host of every token realm with `host[:port]` (`DXF_AUTH_HOST`).
    pub fn with_auth_host(mut self, auth_host: Option<String>) -> Session {
        self.auth_host = auth_host;
        self
    }

    /// Records where blobs are seen in `cache`, and lets uploads mount from there
    /// ([`Config::blob_cache`](crate::client::Config::blob_cache)).
    pub fn with_blob_cache(mut self, cache: Option<BlobCache>) -> Session {
        self.blob_cache = cache;
        self
    }

    /// The blob cache, if any.
    pub fn blob_cache(&self) -> Option<&BlobCache> {
        self.blob_cache.as_ref()
    }

    /// The repository of this registry a mount of `digest` into `to` should come from, and
    /// the blob's size seen there, from the blob cache ([`BlobCache::mount_source`]).
    pub fn mount_source(&self, to: &Repository, digest: &Digest) -> Option<(Repository, u64)> {
        let seen = self
            .blob_cache
            .as_ref()?
            .mount_source(&self.host, to, digest)?;
        Some((seen.repository, seen.size))
    }

    /// Sets the `User-Agent` sent with every request.
    pub fn with_user_agent(mut self, user_agent: &str) -> Session {
        user_agent.clone_into(&mut self.user_agent);
        self
    }

    /// Seeds the jitter of retry backoffs (drivers pass something that differs between
    /// processes, e.g. the clock's nanoseconds; dxf-proto reads no randomness itself).
    pub fn with_jitter_seed(mut self, seed: u64) -> Session {
        self.jitter_seed = seed;
        self
    }

    /// The jitter seed.
    pub fn jitter_seed(&self) -> u64 {
        self.jitter_seed
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Session {
        self.limits = limits;
        self
    }

    /// Uses `token` as a bearer token for every scope without an auth round trip
    /// (`DXF_TOKEN`); `None` forgets it.
    pub fn set_token(&mut self, token: Option<String>) {
        self.preset_token = token;
    }

    /// The registry's base URL, `scheme://host[:port]/`.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The registry host as given (`name[:port]`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates a repository name and applies the Docker Hub `library/` rule for this host.
    pub fn repository(&self, name: &str) -> Result<Repository, Error> {
        Ok(Repository::parse(name)?.for_host(&self.host))
    }

    /// The bearer token usable for `scope` at `now`: a cached unexpired one, else the preset.
    pub fn bearer_token(&self, scope: &Scope, now: UnixTime) -> Option<&str> {
        match self.tokens.get(&scope.key()) {
            Some(t) if !expired(t.expires_at, now) => Some(&t.token),
            _ => self.preset_token.as_deref(),
        }
    }

    /// Learns what an operation reported.
    pub fn handle_event(&mut self, event: SessionEvent) {
        match event.0 {
            Event::Token { key, token } => {
                if self.tokens.len() >= MAX_CACHED_TOKENS && !self.tokens.contains_key(&key) {
                    self.tokens.pop_first();
                }
                self.tokens.insert(key, token);
            }
            Event::BasicAccepted => self.basic_accepted = true,
            Event::Realm(r) => self.realm = Some(r),
            Event::ChunkTooLarge(n) => {
                let below = self.upload_hints.max_chunk.map_or(n, |m| m.min(n));
                self.upload_hints.max_chunk = Some(below);
            }
            Event::NoChunkedUploads => self.upload_hints.monolithic_only = true,
            Event::NoMonolithicUploads => self.upload_hints.chunked_only = true,
            Event::ChallengePinged => self.challenge_pinged = true,
            Event::BlobSeen { repo, digest, size } => {
                if let Some(cache) = &self.blob_cache {
                    cache.saw(&self.host, &repo, &digest, size);
                }
            }
            Event::BlobGone { repo, digest } => {
                if let Some(cache) = &self.blob_cache {
                    cache.gone(&self.host, &repo, &digest);
                }
            }
        }
    }

    /// `op` ready for a driver to run: wrapped in [`Retrying`] (safe retries of idempotent
    /// requests), then in [`Authed`] (credentials, tokens, challenges), in that order, with
    /// this session's credentials, cached tokens, limits and jitter seed. Every driver runs
    /// what this returns; see the crate docs' "Embedding dxf-proto in any HTTP stack".
    ///
    /// The order matters: [`Authed`] outside stamps every request afresh, the re-sends of
    /// [`Retrying`] included, and answers challenges before the retry policy sees them.
    ///
    /// ```
    /// use dxf_proto::{Authed, HeadBlob, Operation, Retrying, Scheme, Session, Step, UnixTime};
    ///
    /// let mut session = Session::new("registry.example", Scheme::Https)?;
    /// session.set_token(Some("t0k3n".into()));
    /// let repo = session.repository("team/data")?;
    /// let digest = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".parse()?;
    /// let mut op: Authed<Retrying<HeadBlob>> = session.start(HeadBlob::new(&session, &repo, &digest)?);
    /// let Step::Send(req) = op.poll(UnixTime(1_700_000_000))? else { unreachable!() };
    /// assert_eq!(req.headers()["authorization"], "Bearer t0k3n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start<O: Operation + Scoped>(&self, op: O) -> Authed<Retrying<O>> {
        Authed::new(self, Retrying::new(self, op))
    }

    /// What uploads learned about the registry so far.
    pub fn upload_hints(&self) -> UploadHints {
        self.upload_hints
    }

    /// Adopts what an earlier session learned about this registry's uploads (kept by the
    /// caller, e.g. in an upload state file): the smaller chunk limit wins, and a refusal
    /// of chunked uploads stays.
    pub fn learn_upload_hints(&mut self, hints: UploadHints) {
        let h = &mut self.upload_hints;
        h.max_chunk = match (h.max_chunk, hints.max_chunk) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        h.monolithic_only |= hints.monolithic_only;
        h.chunked_only |= hints.chunked_only;
    }

    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub(crate) fn allows_plain_http_credentials(&self) -> bool {
        self.allow_plain_http_credentials
    }

    pub(crate) fn auth_host(&self) -> Option<&str> {
        self.auth_host.as_deref()
    }

    pub(crate) fn user_agent(&self) -> &str {
        &self.user_agent
    }

    pub(crate) fn cached_token(&self, scope: &Scope) -> Option<CachedToken> {
        self.tokens.get(&scope.key()).cloned().or_else(|| {
            self.preset_token.as_ref().map(|t| CachedToken {
                token: t.clone(),
                expires_at: None,
            })
        })
    }

    pub(crate) fn challenge_pinged(&self) -> bool {
        self.challenge_pinged
    }

    pub(crate) fn basic_accepted(&self) -> bool {
        self.basic_accepted
    }

    pub(crate) fn realm(&self) -> Option<&BearerRealm> {
        self.realm.as_ref()
    }

    /// `base/v2/<path>`.
    pub(crate) fn v2_url(&self, path: &str) -> Result<Url, Error> {
        self.base
            .join(&format!("v2/{path}"))
            .map_err(|e| Error::InvalidUrl(e.to_string()))
    }
}

/// Whether a token expiring at `expires_at` is no longer to be used at `now`.
pub(crate) fn expired(expires_at: Option<UnixTime>, now: UnixTime) -> bool {
    expires_at.is_some_and(|at| now.plus(TOKEN_REFRESH_MARGIN) >= at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hosts_with_ports_make_base_urls() {
        let s = Session::new("localhost:5000", Scheme::Http).unwrap();
        assert_eq!(s.base_url().as_str(), "http://localhost:5000/");
        assert_eq!(
            s.v2_url("foo/blobs/uploads/").unwrap().as_str(),
            "http://localhost:5000/v2/foo/blobs/uploads/"
        );
        let s = Session::new("[::1]:443", Scheme::Https).unwrap();
        assert_eq!(s.base_url().as_str(), "https://[::1]/");
    }

    #[test]
    fn malformed_hosts_are_refused() {
        for h in [
            "",
            "a/b",
            "http://x",
            "x y",
            "user@x",
            "x?y",
            ":5000",
            "x:notaport",
        ] {
            assert!(Session::new(h, Scheme::Https).is_err(), "{h}");
        }
    }

    #[test]
    fn docker_hub_gets_the_library_prefix() {
        let s = Session::new("registry-1.docker.io", Scheme::Https).unwrap();
        assert_eq!(s.repository("alpine").unwrap().as_str(), "library/alpine");
        assert_eq!(s.repository("me/x").unwrap().as_str(), "me/x");
        let s = Session::new("localhost:5000", Scheme::Https).unwrap();
        assert_eq!(s.repository("alpine").unwrap().as_str(), "alpine");
        assert!(s.repository("Alpine").is_err());
    }

    #[test]
    fn credentials_are_not_printed() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.header().unwrap().unwrap(), "Basic dTpodW50ZXIy");
    }

    #[test]
    fn tokens_expire_with_a_margin_and_fall_back_to_the_preset() {
        let mut s = Session::new("r", Scheme::Https).unwrap();
        let scope = Scope::repository(&Repository::parse("a").unwrap(), "pull");
        s.handle_event(SessionEvent(Event::Token {
            key: scope.key(),
            token: CachedToken {
                token: "t".into(),
                expires_at: Some(UnixTime(100)),
            },
        }));
        assert_eq!(s.bearer_token(&scope, UnixTime(80)), Some("t"));
        assert_eq!(s.bearer_token(&scope, UnixTime(95)), None);
        s.set_token(Some("preset".into()));
        assert_eq!(s.bearer_token(&scope, UnixTime(95)), Some("preset"));
    }

    #[test]
    fn start_wraps_retries_inside_auth() {
        use crate::operation::{BodyPlan, Step};
        use crate::HeadBlob;

        let mut s = Session::new("r.example", Scheme::Https).unwrap();
        s.set_token(Some("t".into()));
        let repo = s.repository("a").unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let mut op = s.start(HeadBlob::new(&s, &repo, &digest).unwrap());
        let now = UnixTime(1_000);
        let head = |status: u16| {
            http::Response::builder()
                .status(status)
                .header("content-length", "3")
                .body(())
                .unwrap()
        };
        // Authed stamps the first request and its re-send after a 503 (Retrying waits).
        let Step::Send(first) = op.poll(now).unwrap() else {
            panic!("expected a request")
        };
        assert_eq!(first.headers()["authorization"], "Bearer t");
        assert_eq!(
            op.handle_response(head(503), now).unwrap(),
            BodyPlan::Discard
        );
        assert!(matches!(op.poll(now).unwrap(), Step::Wait(_)));
        let Step::Send(again) = op.poll(now).unwrap() else {
            panic!("expected the retry")
        };
        assert_eq!(again.uri(), first.uri());
        assert_eq!(again.headers()["authorization"], "Bearer t");
        assert_eq!(
            op.handle_response(head(200), now).unwrap(),
            BodyPlan::Discard
        );
        let Step::Done(info) = op.poll(now).unwrap() else {
            panic!("expected the result")
        };
        assert_eq!(info.size, 3);
    }

    #[test]
    fn the_token_cache_is_bounded() {
        let mut s = Session::new("r", Scheme::Https).unwrap();
        for i in 0..(MAX_CACHED_TOKENS + 10) {
            s.handle_event(SessionEvent(Event::Token {
                key: format!("k{i}"),
                token: CachedToken {
                    token: "t".into(),
                    expires_at: None,
                },
            }));
        }
        assert_eq!(s.tokens.len(), MAX_CACHED_TOKENS);
    }
}
