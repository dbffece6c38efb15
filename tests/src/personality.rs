//! Registry personalities: a real CNCF distribution registry ([`TestRegistry`], plain http)
//! behind a [`FaultProxy`] whose [`Behaviour`] makes it answer the way another registry does
//! (`../shared/reference/registries.md` has the sources), plus the helper servers that
//! registry needs — a token realm on another host, a blob storage host. The registry still
//! stores everything: what a client pushed through a personality can be checked on the
//! registry itself ([`Emulated::registry`]).
//!
//! Every personality but [`Personality::Distribution`] is served over https (a fresh
//! [`TestPki`]; clients trust its CA, [`Target::ca`]) and asks for credentials, so that the
//! `dxf` binary — which never sends credentials over plain http — meets the same
//! registry as the libraries.
//!
//! | personality | what it emulates ([`Quirk`]s) |
//! |---|---|
//! | [`Distribution`](Personality::Distribution) | nothing: the registry as it is, plain http, anonymous (the baseline) |
//! | [`Ghcr`](Personality::Ghcr) | bearer tokens (realm on the same host, opaque tokens); `PATCH` bodies over 4 MiB → `416`; blob `GET` → `307` to a storage host that refuses `Authorization` |
//! | [`Ecr`](Personality::Ecr) | bearer tokens that "expire" (→ `403 DENIED`); `PATCH` → `201`; a `Range` that stops advancing; `OCI-Chunk-Min-Length: 5 MiB` and non-final chunks under it refused |
//! | [`Gar`](Personality::Gar) | bearer tokens; no chunked uploads (`PATCH` → `405`) |
//! | [`Acr`](Personality::Acr) | bearer tokens; an upload session whose request was cut is gone (`404`); blob `GET` → storage host |
//! | [`Harbor`](Personality::Harbor) | bearer tokens; mount → `401`; image configs parsed (a config that is not JSON → `500`) |
//! | [`Quay`](Personality::Quay) | bearer tokens; a mount without `from` refused |
//! | [`DockerHub`](Personality::DockerHub) | token realm on another host; anonymous pull tokens; one `429` with `Retry-After` |
//! | [`ContainerRegistry`](Personality::ContainerRegistry) | the Rust crate `container-registry` 0.3.1: Basic auth challenged only on `GET /v2/`; `Range` exclusive and per chunk; monolithic `PUT` refused (`500 text/plain`); no upload status, `DELETE`, tag list or catalog; mount ignored; relative `Location`s; blob `GET` without `Content-Length` |
//!
//! Real limits are kept where the test blobs can reach them (GHCR's 4 MiB, ECR's 5 MiB);
//! times are scaled down (`Retry-After: 1`, tokens that expire after
//! [`ECR_TOKEN_USES`] uses). What is **not** emulated: Harbor's and Quay's other manifest
//! checks, ECR's strict manifest parsing and tag-list page cap, GCR's catalog, Quay's
//! zero-length blob and 20 GB limits, Docker Hub's manifest `DELETE` (`405`) and pull-rate
//! headers, and of container-registry 0.3.1 its two-component
//! repository names, the `400` on a manifest `PUT` by digest and its refusal of image
//! indexes — the real server is run by [`crate::container_registry`].
//!
//! [`Target`] describes any registry the same way (host, TLS, credentials, what it refuses),
//! so that a scenario list written against a `Target` runs against real servers too.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::fault_proxy::{direct, Answer, Behaviour, Call, FaultProxy, Reply};
use crate::tls::TestPki;
use crate::token_server::hex;
use crate::{Mode, TestRegistry, USERNAME};

const MIB: u64 = 1 << 20;

/// GHCR's largest `PATCH` body (`416` above it).
pub const GHCR_PATCH_CAP: u64 = 4 * MIB;

/// ECR's smallest non-final chunk (announced as `OCI-Chunk-Min-Length`).
pub const ECR_MIN_CHUNK: u64 = 5 * MIB;

/// How many requests the one mortal ECR token is good for before it "expires" (real
/// tokens last 12 h; see [`Quirk::ExpiredToken`]).
pub const ECR_TOKEN_USES: u32 = 1;

/// `Retry-After` of Docker Hub's one `429` (60 in real life).
pub const DOCKER_HUB_RETRY_AFTER: u32 = 1;

/// The `realm` of container-registry 0.3.1's Basic challenge.
pub const CONTAINER_REGISTRY_REALM: &str = "ContainerRegistry";

/// container-registry 0.3.1's answer to a monolithic `PUT` (status 500, `text/plain`).
pub const MONOLITHIC_REFUSED: &str =
    "feature not supported: missing content length not implemented";

/// A registry whose manners are emulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Personality {
    /// CNCF distribution 2.8.2 as it is (plain http, anonymous): the baseline.
    Distribution,
    /// GitHub's ghcr.io.
    Ghcr,
    /// AWS Elastic Container Registry.
    Ecr,
    /// Google Artifact Registry.
    Gar,
    /// Azure Container Registry.
    Acr,
    /// Harbor.
    Harbor,
    /// Quay (quay.io, Red Hat Quay).
    Quay,
    /// Docker Hub (registry-1.docker.io with auth.docker.io).
    DockerHub,
    /// The Rust crate `container-registry` 0.3.1.
    ContainerRegistry,
}

impl Personality {
    /// Every personality, in table order.
    pub const ALL: [Personality; 9] = [
        Personality::Distribution,
        Personality::Ghcr,
        Personality::Ecr,
        Personality::Gar,
        Personality::Acr,
        Personality::Harbor,
        Personality::Quay,
        Personality::DockerHub,
        Personality::ContainerRegistry,
    ];

    /// A short name for tables and test names.
    pub fn name(self) -> &'static str {
        match self {
            Personality::Distribution => "distribution",
            Personality::Ghcr => "ghcr",
            Personality::Ecr => "ecr",
            Personality::Gar => "gar",
            Personality::Acr => "acr",
            Personality::Harbor => "harbor",
            Personality::Quay => "quay",
            Personality::DockerHub => "docker-hub",
            Personality::ContainerRegistry => "container-registry",
        }
    }

    /// What it does differently from distribution.
    pub fn quirks(self) -> &'static [Quirk] {
        use Quirk::*;
        match self {
            Personality::Distribution => &[],
            Personality::Ghcr => &[BearerAuth, PatchCap, BlobRedirect],
            Personality::Ecr => &[BearerAuth, ExpiredToken, PatchCreated, StaleRange, MinChunk],
            Personality::Gar => &[BearerAuth, NoChunkedUploads],
            Personality::Acr => &[BearerAuth, CutSessionGone, BlobRedirect],
            Personality::Harbor => &[BearerAuth, MountUnauthorized, ConfigParsed],
            Personality::Quay => &[BearerAuth, MountNeedsFrom],
            Personality::DockerHub => &[BearerAuth, ForeignRealm, AnonymousPull, Throttled],
            Personality::ContainerRegistry => &[
                BasicWithoutChallenge,
                ExclusiveRange,
                MonolithicRefused,
                NoUploadStatus,
                NoDelete,
                NoListing,
                MountIgnored,
                RelativeLocation,
                UnsizedBlobGet,
            ],
        }
    }

    /// Whether it has `quirk`.
    pub fn has(self, quirk: Quirk) -> bool {
        self.quirks().contains(&quirk)
    }

    /// The path of the token realm when it is served by the registry's own host.
    fn token_path(self) -> &'static str {
        match self {
            Personality::Acr => "/oauth2/token",
            Personality::Harbor => "/service/token",
            Personality::Quay => "/v2/auth",
            Personality::Gar => "/v2/token",
            _ => "/token",
        }
    }

    /// The token `service`.
    fn service(self) -> &'static str {
        match self {
            Personality::Ghcr => "ghcr.io",
            Personality::Ecr => "ecr.amazonaws.com",
            Personality::Gar => "artifactregistry.googleapis.com",
            Personality::Acr => "dxftest.azurecr.io",
            Personality::Harbor => "harbor-registry",
            Personality::Quay => "quay.io",
            Personality::DockerHub => "registry.docker.io",
            _ => "registry",
        }
    }
}

impl std::fmt::Display for Personality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One registry behaviour a personality emulates. [`Emulated::hits`] counts how often each
/// one changed an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quirk {
    /// Bearer token auth with the realm on the registry's own host (GHCR `/token`, ACR
    /// `/oauth2/token`, Harbor `/service/token`, Quay `/v2/auth`, GAR `/v2/token`, ECR):
    /// every request needs a token granting its action (`pull`, `push`, `delete`; a mount
    /// also `pull` on `from`), else `401` with a `Bearer` challenge naming the scope. The
    /// tokens are opaque (GHCR's are not JWTs either). Counted: challenges sent.
    BearerAuth,
    /// Docker Hub: the token realm is another host (auth.docker.io), here another loopback
    /// port. Counted: tokens that host issued.
    ForeignRealm,
    /// Docker Hub (public repositories): a token request without credentials gets `pull`.
    /// Counted: anonymous tokens granting `pull`.
    AnonymousPull,
    /// container-registry 0.3.1: Basic auth, but only `GET /v2/` sends `WWW-Authenticate`
    /// (also with its `200`); every other request without valid credentials is a bare
    /// `401` with no body, and a non-Basic `Authorization` a bare `400`. Counted: bare 401s.
    BasicWithoutChallenge,
    /// GHCR: a `PATCH` body over [`GHCR_PATCH_CAP`] is refused `416` ("exceeds the maximum
    /// permissible limit of 4.00MiB"; rust-oci-client#35, ocx-sh/ocx#237); nothing of it
    /// is kept. Counted: refusals.
    PatchCap,
    /// GHCR (S3) and ACR (Azure Blob Storage): a blob `GET` is answered `307` to a
    /// presigned URL on another host, which refuses any request carrying `Authorization`
    /// (`400`, "Only one auth mechanism allowed"; Azure/acr#217,
    /// spring-cloud-dataflow#4065), any unsigned one (`403`) and `HEAD` (`403`, the
    /// signature is for `GET`; stargz-snapshotter#167). Counted: redirects.
    BlobRedirect,
    /// ECR: a token is refused `403 DENIED` "Your authorization token has expired"
    /// (kcl-lang/kpm#698) once it has been used [`ECR_TOKEN_USES`] times — earlier than its
    /// `expires_in` says, as with a revoked token or a skewed clock, so that only the `403`
    /// tells the client. The expiry is noticed on a request without a body (the ones a
    /// client can always send again); from then on every request with that token is
    /// `403`. Only the first token issued expires: the ones fetched after it last (real
    /// tokens last 12 h: one expiry per operation at most). (ECR proper uses
    /// Basic with a 12-hour password; the `403` flow is what matters here.) Counted: 403s.
    ExpiredToken,
    /// ECR: `PATCH` answered `201` instead of `202` (regclient `scheme/reg/blob.go`).
    /// Counted: rewritten statuses.
    PatchCreated,
    /// ECR: the `Range` of `PATCH` responses stops advancing after the first chunk,
    /// although the data is stored (aws/containers-roadmap#2831, crashappsec/chalk#682).
    /// Counted: stale `Range`s sent.
    StaleRange,
    /// ECR: chunks below [`ECR_MIN_CHUNK`] are refused unless final (dotnet/sdk
    /// `Registry.cs`): `OCI-Chunk-Min-Length` on the upload `POST`, and a `PATCH` after a
    /// shorter one is `400`. Counted: headers sent and refusals.
    MinChunk,
    /// GAR: no chunked uploads, "you must use monolithic uploads" (dotnet
    /// sdk-container-builds#287, kitops#777): every `PATCH` is `405`. Counted: refusals.
    NoChunkedUploads,
    /// ACR: an upload whose request was cut (client gone or connection broken, even
    /// between two chunks) cannot be resumed: its session answers `404
    /// BLOB_UPLOAD_INVALID` from then on (azure-sdk-for-python#29738). Counted: sessions
    /// dropped.
    CutSessionGone,
    /// Harbor: a cross-repository mount is answered `401` (goharbor/harbor#17097, for a
    /// missing source project), with a challenge for `pull` on `from`. Counted: refusals.
    MountUnauthorized,
    /// Harbor: the config blob of an image manifest (Docker or OCI image config media type)
    /// is parsed; one that is not a JSON object fails the manifest `PUT` with `500`
    /// (davedoesdev/dxf#60: python-dxf's aliases, whose config is their first blob).
    /// Counted: refusals.
    ConfigParsed,
    /// Quay: a mount without `from` is refused `400` (go-containerregistry `write.go`).
    /// Counted: mounts checked.
    MountNeedsFrom,
    /// Docker Hub's edge proxy: the first manifest `GET` is `429 Too Many Requests
    /// (HAP429)`, `text/plain`, with `Retry-After` (docker/hub-feedback#1907). Counted: 429s.
    Throttled,
    /// container-registry 0.3.1: a `PATCH` is answered `Range: 0-<bytes of this chunk>`:
    /// one past the last byte, and not counting earlier chunks (distribution-spec#213); the
    /// upload `POST` has no `Range`. Counted: rewritten `Range`s.
    ExclusiveRange,
    /// container-registry 0.3.1: a `PUT ?digest=` with a body is `500 text/plain`
    /// [`MONOLITHIC_REFUSED`]. Counted: refusals.
    MonolithicRefused,
    /// container-registry 0.3.1: no upload status: `GET` on a session is `405`.
    /// Counted: refusals.
    NoUploadStatus,
    /// container-registry 0.3.1: no `DELETE` of anything (`405`). Counted: refusals.
    NoDelete,
    /// container-registry 0.3.1: no tag list and no catalog (`404`). Counted: refusals.
    NoListing,
    /// container-registry 0.3.1: `mount` is ignored: the `POST` starts an upload (`202`).
    /// Counted: mounts ignored.
    MountIgnored,
    /// container-registry 0.3.1: upload `Location`s are relative paths. Counted: rewrites.
    RelativeLocation,
    /// container-registry 0.3.1: a blob `GET` has no `Content-Length` (the body is
    /// chunked). Counted: rewrites.
    UnsizedBlobGet,
}

/// How often each quirk changed an exchange, shared by a personality's servers.
#[derive(Debug, Default)]
struct Hits(Mutex<BTreeMap<Quirk, usize>>);

impl Hits {
    fn hit(&self, quirk: Quirk) {
        *lock(&self.0).entry(quirk).or_default() += 1;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a registry refuses that clients cannot do without: the status it answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refuses {
    /// Deleting manifests (and blobs).
    pub delete: Option<u16>,
    /// Listing tags (and the catalog).
    pub tag_list: Option<u16>,
    /// Chunked uploads (`PATCH`).
    pub chunked_uploads: Option<u16>,
    /// Image manifests whose config blob is not a JSON image config — python-dxf's alias
    /// form, whose config is the first blob.
    pub opaque_config: Option<u16>,
}

/// Everything a client needs to reach one registry, real or emulated.
#[derive(Clone, Debug)]
pub struct Target {
    /// A short name for tables.
    pub name: String,
    /// `host:port`.
    pub host: String,
    /// Plain http (no credentials are sent then).
    pub insecure: bool,
    /// The CA bundle (PEM) to verify its certificate with.
    pub ca: Option<PathBuf>,
    /// Username and password.
    pub credentials: Option<(String, String)>,
    /// Whether pulling works without credentials.
    pub anonymous_pull: bool,
    /// What it refuses.
    pub refuses: Refuses,
}

impl Target {
    /// The `dxf` environment for it: `DXF_HOST`, `DXF_INSECURE=1` or `DXF_TLSVERIFY`,
    /// `DXF_USERNAME` and `DXF_PASSWORD`.
    pub fn dxf_env(&self) -> Vec<(String, String)> {
        self.env_with_prefix("DXF_")
    }

    /// The same for the destination of `dxf copy --to` (`DXF_TO_*`).
    pub fn dxf_to_env(&self) -> Vec<(String, String)> {
        let mut env = self.env_with_prefix("DXF_TO_");
        env.retain(|(k, _)| k != "DXF_TO_HOST");
        env
    }

    fn env_with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let mut env = vec![(format!("{prefix}HOST"), self.host.clone())];
        if self.insecure {
            env.push((format!("{prefix}INSECURE"), "1".into()));
        }
        if let Some(ca) = &self.ca {
            env.push((format!("{prefix}TLSVERIFY"), ca.display().to_string()));
        }
        if let Some((user, password)) = &self.credentials {
            env.push((format!("{prefix}USERNAME"), user.clone()));
            env.push((format!("{prefix}PASSWORD"), password.clone()));
        }
        env
    }
}

/// A running personality: the registry, the proxy in front of it and its helper servers;
/// all stopped on drop.
pub struct Emulated {
    personality: Personality,
    hits: Arc<Hits>,
    token_host: Option<FaultProxy>,
    storage: Option<FaultProxy>,
    proxy: FaultProxy,
    registry: TestRegistry,
    pki: Option<TestPki>,
    credentials: Option<(String, String)>,
    // Dropped last: the PKI's files are in it.
    _dir: TempDir,
}

impl std::fmt::Debug for Emulated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulated")
            .field("personality", &self.personality)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl Emulated {
    /// Starts a registry with `personality`.
    pub fn start(personality: Personality) -> Emulated {
        let registry = TestRegistry::start(Mode::Plain);
        let upstream = SocketAddr::from(([127, 0, 0, 1], registry.port()));
        let dir = tempfile::Builder::new()
            .prefix("dxf-personality-")
            .tempdir()
            .expect("create personality temp dir");
        let hits = Arc::new(Hits::default());
        if personality == Personality::Distribution {
            let proxy = FaultProxy::start(upstream);
            return Emulated {
                personality,
                hits,
                token_host: None,
                storage: None,
                proxy,
                registry,
                pki: None,
                credentials: None,
                _dir: dir,
            };
        }
        let pki = TestPki::generate(dir.path());
        let tls = pki.server_config();
        let proxy = FaultProxy::start_tls(upstream, Arc::clone(&tls));
        let credentials = (USERNAME.to_owned(), random_hex(12));

        let storage = personality.has(Quirk::BlobRedirect).then(|| {
            let storage = FaultProxy::start_tls(upstream, Arc::clone(&tls));
            storage.set_behaviour(Arc::new(Storage));
            storage
        });
        let mut token_host = None;
        let auth = if personality.has(Quirk::BasicWithoutChallenge) {
            Auth::Basic {
                username: credentials.0.clone(),
                password: credentials.1.clone(),
            }
        } else {
            let realm_host = if personality.has(Quirk::ForeignRealm) {
                let host = FaultProxy::start_tls(upstream, Arc::clone(&tls));
                let realm = format!("{}/token", host.base_url());
                token_host = Some(host);
                realm
            } else {
                format!("{}{}", proxy.base_url(), personality.token_path())
            };
            Auth::Bearer(Arc::new(Tokens {
                personality,
                realm: realm_host,
                service: personality.service().to_owned(),
                username: credentials.0.clone(),
                password: credentials.1.clone(),
                issued: Mutex::new(HashMap::new()),
                expired_grants: Mutex::new(std::collections::BTreeSet::new()),
                next: AtomicU64::new(1),
                hits: Arc::clone(&hits),
            }))
        };
        if let (Some(host), Auth::Bearer(tokens)) = (&token_host, &auth) {
            host.set_behaviour(Arc::new(TokenHost {
                tokens: Arc::clone(tokens),
            }));
        }
        proxy.set_behaviour(Arc::new(Manners {
            personality,
            upstream: registry.host(),
            auth,
            storage: storage.as_ref().map(FaultProxy::base_url),
            state: Mutex::new(State::default()),
            hits: Arc::clone(&hits),
        }));
        Emulated {
            personality,
            hits,
            token_host,
            storage,
            proxy,
            registry,
            pki: Some(pki),
            credentials: Some(credentials),
            _dir: dir,
        }
    }

    /// Which personality it is.
    pub fn personality(&self) -> Personality {
        self.personality
    }

    /// How clients reach it.
    pub fn target(&self) -> Target {
        let p = self.personality;
        let cr = p == Personality::ContainerRegistry;
        Target {
            name: p.name().to_owned(),
            host: self.proxy.host(),
            insecure: !self.proxy.is_tls(),
            ca: self.pki.as_ref().map(|pki| pki.ca_pem_path().to_path_buf()),
            credentials: self.credentials.clone(),
            anonymous_pull: p == Personality::Distribution || p.has(Quirk::AnonymousPull),
            refuses: Refuses {
                delete: cr.then_some(405),
                tag_list: cr.then_some(404),
                chunked_uploads: p.has(Quirk::NoChunkedUploads).then_some(405),
                opaque_config: p.has(Quirk::ConfigParsed).then_some(500),
            },
        }
    }

    /// The proxy clients talk to (add [`Rule`](crate::fault_proxy::Rule)s to it; its log
    /// shows what the personality answered).
    pub fn proxy(&self) -> &FaultProxy {
        &self.proxy
    }

    /// The registry behind it (plain http, anonymous): what it really holds.
    pub fn registry(&self) -> &TestRegistry {
        &self.registry
    }

    /// The blob storage host ([`Quirk::BlobRedirect`]).
    pub fn storage(&self) -> Option<&FaultProxy> {
        self.storage.as_ref()
    }

    /// The token realm's host ([`Quirk::ForeignRealm`]).
    pub fn token_host(&self) -> Option<&FaultProxy> {
        self.token_host.as_ref()
    }

    /// How often each quirk changed an exchange so far.
    pub fn hits(&self) -> BTreeMap<Quirk, usize> {
        lock(&self.hits.0).clone()
    }
}

/// `2 * len` random hex digits.
fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes).expect("random bytes");
    hex(&bytes)
}

/// `user:password` of a `Basic` header value; `None` when it is not one.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// What a request to the registry needs to be allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Need {
    /// `GET /v2/`: any valid token.
    Ping,
    /// `/v2/_catalog`.
    Catalog,
    /// An action on a repository; a mount also needs `pull` on `from`.
    Repo {
        name: String,
        action: &'static str,
        from: Option<String>,
    },
    /// Not a registry API path: nothing to authorize (the registry answers 404).
    Nothing,
}

impl Need {
    fn of(call: &Call) -> Need {
        let path = call.path();
        if path == "/v2/" || path == "/v2" {
            return Need::Ping;
        }
        if path == "/v2/_catalog" {
            return Need::Catalog;
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Need::Nothing;
        };
        let Some(at) = ["/blobs/", "/manifests/", "/tags/", "/referrers/"]
            .iter()
            .filter_map(|m| rest.find(m))
            .min()
        else {
            return Need::Nothing;
        };
        let action = match call.method.as_str() {
            "GET" | "HEAD" => "pull",
            "DELETE" => "delete",
            _ => "push",
        };
        let from = (call.method == "POST" && call.query("mount").is_some())
            .then(|| call.query("from"))
            .flatten();
        Need::Repo {
            name: rest[..at].to_owned(),
            action,
            from,
        }
    }

    /// The scope a challenge names for it (as distribution does: `pull,push` for pushes).
    fn scope(&self) -> Option<String> {
        match self {
            Need::Ping | Need::Nothing => None,
            Need::Catalog => Some("registry:catalog:*".into()),
            Need::Repo { name, action, .. } => {
                let actions = if *action == "push" {
                    "pull,push"
                } else {
                    action
                };
                Some(format!("repository:{name}:{actions}"))
            }
        }
    }
}

/// What one token grants: `type:name` → actions.
#[derive(Debug)]
struct Grant {
    access: Vec<(String, Vec<String>)>,
    uses: u32,
    /// It will expire ([`Quirk::ExpiredToken`]).
    mortal: bool,
    expired: bool,
}

impl Grant {
    /// What it grants, as one string (the same for two tokens granting the same).
    fn key(&self) -> String {
        format!("{:?}", self.access)
    }
}

impl Grant {
    fn allows(&self, resource: &str, action: &str) -> bool {
        self.access
            .iter()
            .any(|(r, actions)| r == resource && actions.iter().any(|a| a == action || a == "*"))
    }

    fn allows_need(&self, need: &Need) -> bool {
        match need {
            Need::Ping | Need::Nothing => true,
            Need::Catalog => self.allows("registry:catalog", "*"),
            Need::Repo { name, action, from } => {
                self.allows(&format!("repository:{name}"), action)
                    && from
                        .as_ref()
                        .is_none_or(|f| self.allows(&format!("repository:{f}"), "pull"))
            }
        }
    }
}

/// The token realm and the tokens it issued, shared by the token endpoint and the
/// registry's checks.
struct Tokens {
    personality: Personality,
    realm: String,
    service: String,
    username: String,
    password: String,
    issued: Mutex<HashMap<String, Grant>>,
    /// The grants ([`Grant::key`]) a token of which has expired: their next tokens last.
    expired_grants: Mutex<std::collections::BTreeSet<String>>,
    next: AtomicU64,
    hits: Arc<Hits>,
}

impl Tokens {
    /// `GET <realm>?service=…&scope=…`: a token for the user (everything asked for), or an
    /// anonymous one (`pull` only where anonymous pulls are allowed, else nothing).
    fn issue(&self, call: &Call) -> Reply {
        if call.method != "GET" {
            return Reply::new(405).with_body("application/json", r#"{"details":"GET only"}"#);
        }
        let user = match call.header("authorization") {
            None => false,
            Some(h) => match basic_credentials(h) {
                Some((u, p)) if u == self.username && p == self.password => true,
                _ => {
                    return Reply::new(401).with_body(
                        "application/json",
                        r#"{"details":"incorrect username or password"}"#,
                    )
                }
            },
        };
        let query = call.target.split_once('?').map_or("", |(_, q)| q);
        let scopes: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut grant = Grant {
            access: Vec::new(),
            uses: 0,
            mortal: false,
            expired: false,
        };
        let mut anonymous_pull = false;
        for scope in &scopes {
            let (Some((kind, rest)), Some((_, actions))) =
                (scope.split_once(':'), scope.rsplit_once(':'))
            else {
                return Reply::new(400).with_body("application/json", r#"{"details":"bad scope"}"#);
            };
            let name = rest.rsplit_once(':').map_or(rest, |(n, _)| n);
            let asked: Vec<String> = actions.split(',').map(str::to_owned).collect();
            let granted: Vec<String> = if user {
                asked
            } else if kind == "repository" && self.personality.has(Quirk::AnonymousPull) {
                anonymous_pull |= asked.iter().any(|a| a == "pull");
                asked.into_iter().filter(|a| a == "pull").collect()
            } else {
                Vec::new()
            };
            grant.access.push((format!("{kind}:{name}"), granted));
        }
        if anonymous_pull {
            self.hits.hit(Quirk::AnonymousPull);
        }
        if self.personality.has(Quirk::ForeignRealm) {
            self.hits.hit(Quirk::ForeignRealm);
        }
        // Only the first token issued is mortal (the set is filled when it is issued): with
        // concurrent transfers sharing tokens, a later mortal token could reach its use
        // count before its own fetcher used it once — "expired" right after it was issued,
        // which is no ECR's. The first is used by the first, sequential, scenario.
        grant.mortal = self.personality.has(Quirk::ExpiredToken) && {
            let mut seen = lock(&self.expired_grants);
            seen.is_empty() && seen.insert(grant.key())
        };
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let token = format!("{}-{n}-{}", self.personality.name(), random_hex(16));
        lock(&self.issued).insert(token.clone(), grant);
        let body = json!({"token": token, "access_token": token, "expires_in": 300});
        Reply::new(200).with_body("application/json", body.to_string())
    }

    fn challenge(&self, need: &Need, error: Option<&str>) -> Reply {
        let mut value = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.realm, self.service
        );
        if let Some(scope) = need.scope() {
            value += &format!(",scope=\"{scope}\"");
        }
        if let Some(e) = error {
            value += &format!(",error=\"{e}\"");
        }
        self.hits.hit(Quirk::BearerAuth);
        Reply::oci_error(401, "UNAUTHORIZED", "authentication required")
            .with_header("WWW-Authenticate", &value)
    }

    /// Whether `call` may go on: `Err` is the answer when it may not.
    fn check(&self, call: &Call, need: &Need) -> Result<(), Reply> {
        let token = call
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            return Err(self.challenge(need, None));
        };
        let mut issued = lock(&self.issued);
        let Some(grant) = issued.get_mut(token) else {
            drop(issued);
            return Err(self.challenge(need, Some("invalid_token")));
        };
        grant.uses += 1;
        if grant.mortal && (grant.expired || (grant.uses > ECR_TOKEN_USES && !call.has_body())) {
            if !grant.expired {
                lock(&self.expired_grants).insert(grant.key());
            }
            grant.expired = true;
            self.hits.hit(Quirk::ExpiredToken);
            return Err(Reply::oci_error(
                403,
                "DENIED",
                "Your authorization token has expired. Reauthenticate and try again.",
            ));
        }
        if grant.allows_need(need) {
            return Ok(());
        }
        drop(issued);
        Err(self.challenge(need, Some("insufficient_scope")))
    }
}

/// A token realm on a host of its own ([`Quirk::ForeignRealm`]).
struct TokenHost {
    tokens: Arc<Tokens>,
}

impl Behaviour for TokenHost {
    fn request(&self, call: &mut Call) -> Option<Reply> {
        Some(if call.path() == "/token" {
            self.tokens.issue(call)
        } else {
            Reply::new(404).with_body("application/json", r#"{"details":"not found"}"#)
        })
    }
}

/// The storage host blobs are redirected to ([`Quirk::BlobRedirect`]): serves presigned
/// `GET`s of the registry's blob paths, refuses everything else.
struct Storage;

fn s3_error(status: u16, code: &str, message: &str) -> Reply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message></Error>"
    );
    Reply::new(status).with_body("application/xml", body.into_bytes())
}

impl Behaviour for Storage {
    fn request(&self, call: &mut Call) -> Option<Reply> {
        if call.header("authorization").is_some() {
            return Some(s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
                 Signature query string parameter or the Authorization header should be \
                 specified",
            ));
        }
        if call.query("X-Amz-Signature").is_none() {
            return Some(s3_error(403, "AccessDenied", "Access Denied"));
        }
        if call.method != "GET" {
            return Some(s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            ));
        }
        None
    }
}

/// How the registry host authenticates.
enum Auth {
    Bearer(Arc<Tokens>),
    Basic { username: String, password: String },
}

/// One upload session, by its id.
#[derive(Debug, Default)]
struct Upload {
    /// Bytes the registry holds (from its own `Range`s).
    held: u64,
    /// The size of the last chunk stored.
    last_chunk: Option<u64>,
    /// The `Range` of the first `PATCH` response ([`Quirk::StaleRange`]).
    first_range: Option<String>,
    /// Cut and dropped ([`Quirk::CutSessionGone`]).
    gone: bool,
}

#[derive(Debug, Default)]
struct State {
    uploads: HashMap<String, Upload>,
    throttled: bool,
}

/// The personality's behaviour on the registry's host.
struct Manners {
    personality: Personality,
    /// The registry itself (`127.0.0.1:PORT`, plain http), to look at blobs.
    upstream: String,
    auth: Auth,
    /// Base URL of the storage host ([`Quirk::BlobRedirect`]).
    storage: Option<String>,
    state: Mutex<State>,
    hits: Arc<Hits>,
}

/// The upload session id in an upload URL path.
fn upload_id(path: &str) -> Option<&str> {
    let (_, rest) = path.split_once("/blobs/uploads/")?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// Whether `path` is a blob's (not an upload's).
fn is_blob(path: &str) -> bool {
    path.starts_with("/v2/") && path.contains("/blobs/") && !path.contains("/blobs/uploads")
}

/// The end (exclusive) of a `Range: 0-<last>` header value.
fn range_end(value: &str) -> Option<u64> {
    let (_, last) = value.trim().split_once('-')?;
    last.trim().parse::<u64>().ok().map(|l| l + 1)
}

impl Manners {
    fn has(&self, quirk: Quirk) -> bool {
        self.personality.has(quirk)
    }

    fn hit(&self, quirk: Quirk) {
        self.hits.hit(quirk);
    }

    /// The authentication step: `Some` is the answer when the request may not go on.
    fn authenticate(&self, call: &Call, need: &Need) -> Option<Reply> {
        match &self.auth {
            Auth::Bearer(tokens) => tokens.check(call, need).err(),
            Auth::Basic { username, password } => {
                let valid = match call.header("authorization") {
                    None => false,
                    Some(h) => match basic_credentials(h) {
                        Some((u, p)) => u == *username && p == *password,
                        None => return Some(Reply::new(400)),
                    },
                };
                if valid {
                    None
                } else if *need == Need::Ping {
                    Some(Reply::new(401).with_header(
                        "WWW-Authenticate",
                        &format!("Basic realm=\"{CONTAINER_REGISTRY_REALM}\""),
                    ))
                } else {
                    self.hit(Quirk::BasicWithoutChallenge);
                    Some(Reply::new(401))
                }
            }
        }
    }

    /// Harbor: the config of an image manifest must be a JSON object.
    fn check_config(&self, call: &Call, need: &Need) -> Option<Reply> {
        let Need::Repo { name, .. } = need else {
            return None;
        };
        let manifest: Value = serde_json::from_slice(call.body.as_deref()?).ok()?;
        let config = manifest.get("config")?;
        let media_type = config.get("mediaType")?.as_str()?;
        if !matches!(
            media_type,
            "application/vnd.docker.container.image.v1+json"
                | "application/vnd.oci.image.config.v1+json"
        ) {
            return None;
        }
        let digest = config.get("digest")?.as_str()?;
        let blob = direct(&self.upstream, "GET", &format!("/v2/{name}/blobs/{digest}")).ok()?;
        if blob.status != 200 {
            return None; // the registry says what is missing
        }
        match serde_json::from_slice::<serde_json::Map<String, Value>>(&blob.body) {
            Ok(_) => None,
            Err(e) => {
                self.hit(Quirk::ConfigParsed);
                Some(Reply::oci_error(
                    500,
                    "UNKNOWN",
                    &format!("unknown error: failed to parse the image config {digest}: {e}"),
                ))
            }
        }
    }
}

impl Behaviour for Manners {
    fn buffer(&self, call: &Call) -> bool {
        (self.has(Quirk::ConfigParsed)
            && call.method == "PUT"
            && call.path().contains("/manifests/"))
            || (self.has(Quirk::PatchCap) && call.method == "PATCH" && call.length.is_none())
    }

    fn request(&self, call: &mut Call) -> Option<Reply> {
        let path = call.path().to_owned();
        if let Auth::Bearer(tokens) = &self.auth {
            if !self.has(Quirk::ForeignRealm) && path == self.personality.token_path() {
                return Some(tokens.issue(call));
            }
        }
        if self.has(Quirk::Throttled) && call.method == "GET" && path.contains("/manifests/") {
            let mut state = lock(&self.state);
            if !state.throttled {
                state.throttled = true;
                self.hit(Quirk::Throttled);
                return Some(
                    Reply::text(429, "Too Many Requests (HAP429).\n")
                        .with_header("Retry-After", &DOCKER_HUB_RETRY_AFTER.to_string()),
                );
            }
        }
        let need = Need::of(call);
        if let Some(refused) = self.authenticate(call, &need) {
            return Some(refused);
        }
        let method = call.method.clone();
        let upload = upload_id(&path).map(str::to_owned);

        if let Some(id) = &upload {
            if lock(&self.state).uploads.get(id).is_some_and(|u| u.gone) {
                return Some(Reply::oci_error(
                    404,
                    "BLOB_UPLOAD_INVALID",
                    "blob upload invalid",
                ));
            }
        }
        if self.has(Quirk::NoListing) && (path.ends_with("/tags/list") || path == "/v2/_catalog") {
            self.hit(Quirk::NoListing);
            return Some(Reply::new(404));
        }
        if self.has(Quirk::NoDelete) && method == "DELETE" {
            self.hit(Quirk::NoDelete);
            return Some(Reply::new(405).with_header("Allow", "GET,HEAD,PUT"));
        }
        if self.has(Quirk::NoUploadStatus) && method == "GET" && upload.is_some() {
            self.hit(Quirk::NoUploadStatus);
            return Some(Reply::new(405).with_header("Allow", "PATCH,PUT"));
        }
        if self.has(Quirk::MonolithicRefused)
            && method == "PUT"
            && upload.is_some()
            && call.has_body()
        {
            self.hit(Quirk::MonolithicRefused);
            return Some(Reply::text(500, MONOLITHIC_REFUSED));
        }
        if method == "POST" && path.ends_with("/blobs/uploads/") && call.query("mount").is_some() {
            let from = call.query("from");
            if self.has(Quirk::MountUnauthorized) {
                self.hit(Quirk::MountUnauthorized);
                if let Auth::Bearer(tokens) = &self.auth {
                    let source = Need::Repo {
                        name: from.unwrap_or_default(),
                        action: "pull",
                        from: None,
                    };
                    return Some(tokens.challenge(&source, Some("insufficient_scope")));
                }
            }
            if self.has(Quirk::MountNeedsFrom) {
                self.hit(Quirk::MountNeedsFrom);
                if from.is_none() {
                    return Some(Reply::oci_error(
                        400,
                        "BLOB_UPLOAD_INVALID",
                        "missing `from` repository argument",
                    ));
                }
            }
            if self.has(Quirk::MountIgnored) {
                self.hit(Quirk::MountIgnored);
                call.target = path.clone();
            }
        }
        if method == "PATCH" && upload.is_some() {
            if self.has(Quirk::NoChunkedUploads) {
                self.hit(Quirk::NoChunkedUploads);
                return Some(Reply::oci_error(
                    405,
                    "UNSUPPORTED",
                    "chunked uploads are not supported: use a monolithic upload",
                ));
            }
            let len = call
                .length
                .or_else(|| call.body.as_ref().map(|b| b.len() as u64));
            if self.has(Quirk::PatchCap) && len.is_some_and(|n| n > GHCR_PATCH_CAP) {
                self.hit(Quirk::PatchCap);
                return Some(Reply::oci_error(
                    416,
                    "BLOB_UPLOAD_INVALID",
                    &format!(
                        "the chunk size of {} bytes exceeds the maximum permissible limit of 4.00MiB",
                        len.unwrap_or_default()
                    ),
                ));
            }
            if self.has(Quirk::MinChunk) {
                let state = lock(&self.state);
                let short = upload
                    .as_ref()
                    .and_then(|id| state.uploads.get(id))
                    .and_then(|u| u.last_chunk)
                    .filter(|&n| n < ECR_MIN_CHUNK);
                if let Some(n) = short {
                    self.hit(Quirk::MinChunk);
                    return Some(Reply::oci_error(
                        400,
                        "BLOB_UPLOAD_INVALID",
                        &format!(
                            "layer part too small: {n} bytes, the minimum for all but the last \
                             part is {ECR_MIN_CHUNK}"
                        ),
                    ));
                }
            }
        }
        if method == "GET" && is_blob(&path) {
            if let Some(storage) = &self.storage {
                let there = direct(&self.upstream, "HEAD", &path).is_ok_and(|r| r.status == 200);
                if there {
                    self.hit(Quirk::BlobRedirect);
                    let location = format!(
                        "{storage}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=dxf-test\
                         &X-Amz-Expires=300&X-Amz-Signature={}",
                        random_hex(32)
                    );
                    return Some(Reply::new(307).with_header("Location", &location));
                }
            }
        }
        if self.has(Quirk::ConfigParsed) && method == "PUT" && path.contains("/manifests/") {
            if let Some(refused) = self.check_config(call, &need) {
                return Some(refused);
            }
        }
        None
    }

    fn response(&self, call: &Call, answer: &mut Answer) {
        let path = call.path();
        if matches!(self.auth, Auth::Basic { .. }) && Need::of(call) == Need::Ping {
            answer.set_header(
                "WWW-Authenticate",
                &format!("Basic realm=\"{CONTAINER_REGISTRY_REALM}\""),
            );
        }
        let upload = upload_id(path);
        if call.method == "POST" && path.ends_with("/blobs/uploads/") && answer.status == 202 {
            if self.has(Quirk::MinChunk) {
                self.hit(Quirk::MinChunk);
                answer.set_header("OCI-Chunk-Min-Length", &ECR_MIN_CHUNK.to_string());
            }
            if self.has(Quirk::ExclusiveRange) {
                answer.remove_header("Range");
            }
        }
        if let (Some(id), "PATCH", 202) = (upload, call.method.as_str(), answer.status) {
            let mut state = lock(&self.state);
            let u = state.uploads.entry(id.to_owned()).or_default();
            let range = answer.header("Range").map(str::to_owned);
            let end = range.as_deref().and_then(range_end).unwrap_or(u.held);
            let chunk = end.saturating_sub(u.held);
            u.held = end;
            u.last_chunk = Some(chunk);
            if self.has(Quirk::ExclusiveRange) {
                self.hit(Quirk::ExclusiveRange);
                answer.set_header("Range", &format!("0-{chunk}"));
            }
            if self.has(Quirk::StaleRange) {
                match (&u.first_range, &range) {
                    (None, Some(r)) => u.first_range = Some(r.clone()),
                    (Some(first), Some(r)) if first != r => {
                        self.hits.hit(Quirk::StaleRange);
                        answer.set_header("Range", first);
                    }
                    _ => {}
                }
            }
            if self.has(Quirk::PatchCreated) {
                self.hits.hit(Quirk::PatchCreated);
                answer.status = 201;
            }
        }
        if self.has(Quirk::RelativeLocation)
            && (upload.is_some() || path.ends_with("/blobs/uploads/"))
        {
            let absolute = answer
                .header("Location")
                .and_then(|l| url::Url::parse(l).ok());
            if let Some(url) = absolute {
                let relative = match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_owned(),
                };
                self.hit(Quirk::RelativeLocation);
                answer.set_header("Location", &relative);
            }
        }
        if self.has(Quirk::UnsizedBlobGet)
            && call.method == "GET"
            && is_blob(path)
            && answer.status == 200
        {
            self.hit(Quirk::UnsizedBlobGet);
            answer.remove_header("Content-Length");
            answer.set_header("Transfer-Encoding", "chunked");
        }
    }

    fn broken(&self, call: &Call) {
        if !self.has(Quirk::CutSessionGone) {
            return;
        }
        if let Some(id) = upload_id(call.path()) {
            self.hit(Quirk::CutSessionGone);
            lock(&self.state)
                .uploads
                .entry(id.to_owned())
                .or_default()
                .gone = true;
        }
    }
}
