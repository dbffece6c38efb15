//! The public API, the async twin of dxf-ureq's (python-dxf's module API): [`Registry`]
//! (python-dxf's `DXFBase`: version check, authenticate, token, list repositories) and
//! [`Repository`] (`DXF`: blobs, manifests, aliases), which shares its registry's connection
//! pool, credentials and token cache. Every method is "build the dxf-proto operation, run it".

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use dxf_proto::manifest::alias::{docker_alias_manifest, BlobDescriptor};
use dxf_proto::{
    AliasManifest, Catalog, Credentials, DeleteBlob, DeleteManifest, Digest, Error as ProtoError,
    GetBlob, HeadBlob, HeadManifest, Interrupt, ListTags, ManifestInfo, MountBlob, MountOptions,
    Operation, Page, PerPlatform, Pushed, PutManifest, ReadAlias, ReadOptions, Reference,
    RetryPolicy, Scheme, Scope, Scoped, Session, Sha256, Timeouts, Upload, UploadCheckpoint,
    UploadHints, UploadMode, UploadOptions, VersionCheck, VersionInfo,
};
use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::body::BlobReader;
use crate::driver::{now, run, run_observed, Observe, Shared, Source};
use crate::error::{Error, Result};
use crate::tls::{client, TransportConfig};

/// How to reach and authenticate to a registry (python-dxf's `DXF_*` settings); the same
/// shape as `dxf_ureq::Config`.
#[derive(Clone, Debug)]
pub struct Config {
    /// `host[:port]` (`DXF_HOST`).
    pub host: String,
    /// Plain http instead of https (`DXF_INSECURE=1`).
    pub insecure: bool,
    /// Credentials (`DXF_USERNAME`/`DXF_PASSWORD` or `DXF_AUTHORIZATION`).
    pub credentials: Credentials,
    /// Replaces the token realm's host (`DXF_AUTH_HOST`).
    pub auth_host: Option<String>,
    /// A bearer token used as-is (`DXF_TOKEN`).
    pub token: Option<String>,
    /// Send credentials and tokens even over plain http (refused by default).
    pub allow_credentials_over_http: bool,
    /// TLS verification.
    pub transport: TransportConfig,
    /// Time bounds on every network wait (`DXF_TIMEOUT`; default: 30 s to connect, 60 s
    /// for a response and between bytes, see [`Timeouts`](dxf_proto::Timeouts)).
    pub timeouts: Timeouts,
    /// Chunk size for chunked and streamed uploads (`None`: dxf-proto's default).
    pub chunk_size: Option<u64>,
    /// Retries of idempotent requests after transient failures (`DXF_RETRIES`).
    pub retries: RetryPolicy,
    /// Raised to give this registry's transfers up (Ctrl-C, a sibling transfer failed): see
    /// [`Interrupt`]. Uploads cancel their sessions; a resumable one (with
    /// [`PushOptions::on_checkpoint`]) stops at its next checkpoint on [`Interrupt::stop`].
    pub interrupt: Interrupt,
}

impl Config {
    /// Defaults for `host`: https, anonymous, webpki roots.
    pub fn new(host: &str) -> Config {
        Config {
            host: host.to_owned(),
            insecure: false,
            credentials: Credentials::None,
            auth_host: None,
            token: None,
            allow_credentials_over_http: false,
            transport: TransportConfig::default(),
            timeouts: Timeouts::default(),
            chunk_size: None,
            retries: RetryPolicy::default(),
            interrupt: Interrupt::new(),
        }
    }
}

/// A registry: cheap to clone, `Send + Sync`; clones share one connection pool, one session
/// (credentials, token cache) and fetch one token per scope at a time between them.
#[derive(Clone, Debug)]
pub struct Registry {
    shared: Arc<Shared>,
}

// Clients are shared between tasks and threads; readers and listings move between them.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    fn movable<T: Send + Unpin + 'static>() {}
    shareable::<Registry>();
    shareable::<Repository>();
    movable::<BlobReader>();
    movable::<Names<ListTags>>();
    movable::<Names<Catalog>>();
};

/// Called during a push with (the blob's digest when known, bytes sent so far, total bytes
/// when known) — python-dxf's `progress(digest, chunk, total)`. A stream pushed without
/// an expected digest has no digest until it ends.
pub type ProgressFn<'a> = &'a mut (dyn FnMut(Option<&Digest>, u64, Option<u64>) + Send);

/// Choices for a push.
#[derive(Default)]
pub struct PushOptions<'a> {
    /// Skip the upload when a HEAD finds the blob (python-dxf default). For a reader,
    /// applies only when `digest` is given.
    pub skip_if_exists: bool,
    /// The blob's digest when already known (saves hashing a file first).
    pub digest: Option<Digest>,
    /// Monolithic (python-dxf) or chunked, for files.
    pub mode: UploadMode,
    /// For files without `digest`: hash while sending — one `PATCH` of the whole file,
    /// the digest in the closing `PUT` — instead of reading the file twice. There is then
    /// no existence check (it needs the digest), and progress reports carry no digest.
    pub single_pass: bool,
    /// Progress reports.
    pub progress: Option<ProgressFn<'a>>,
    /// For a file with `digest`: continue the chunked upload an earlier run left at this
    /// checkpoint (the registry is asked what it holds; a forgotten session starts over).
    pub resume_from: Option<UploadCheckpoint>,
    /// Called with every new checkpoint of a chunked file upload, to persist it (see
    /// [`UploadCheckpoint`]); a later run passes the last one as `resume_from`.
    pub on_checkpoint: Option<&'a mut (dyn FnMut(&UploadCheckpoint) + Send)>,
}

impl std::fmt::Debug for PushOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushOptions")
            .field("skip_if_exists", &self.skip_if_exists)
            .field("digest", &self.digest)
            .field("single_pass", &self.single_pass)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<'a> PushOptions<'a> {
    /// python-dxf's defaults: skip when the blob exists, monolithic.
    pub fn new() -> PushOptions<'a> {
        PushOptions {
            skip_if_exists: true,
            ..Default::default()
        }
    }
}

/// Hashes a readable source with SHA-256 (python-dxf's `hash_file`); returns the digest and
/// the number of bytes read.
pub async fn hash_reader(reader: &mut (impl AsyncRead + Unpin)) -> io::Result<(Digest, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf).await {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        };
        if n == 0 {
            return Ok((h.finish(), len));
        }
        h.update(buf.get(..n).unwrap_or_default());
        len += n as u64;
    }
}

type PageFuture<Op> = Pin<Box<dyn Future<Output = Result<Page<Op>>> + Send>>;

/// A lazy [`Stream`] of names (tags or repositories), fetching a page at a time; also
/// usable without a stream combinator crate through [`next`](Names::next).
pub struct Names<Op> {
    shared: Arc<Shared>,
    next: Option<Op>,
    items: std::vec::IntoIter<String>,
    fetching: Option<PageFuture<Op>>,
}

impl<Op> std::fmt::Debug for Names<Op> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names").finish_non_exhaustive()
    }
}

impl<Op> Names<Op>
where
    Op: Operation<Output = Page<Op>> + Scoped + Send + Unpin + 'static,
{
    fn new(shared: &Arc<Shared>, first: Op) -> Names<Op> {
        Names {
            shared: shared.clone(),
            next: Some(first),
            items: Vec::new().into_iter(),
            fetching: None,
        }
    }

    /// The next name, `None` after the last.
    pub async fn next(&mut self) -> Option<Result<String>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Every remaining name, or the first error.
    pub async fn collect_all(mut self) -> Result<Vec<String>> {
        let mut all = Vec::new();
        while let Some(name) = self.next().await {
            all.push(name?);
        }
        Ok(all)
    }
}

impl<Op> Stream for Names<Op>
where
    Op: Operation<Output = Page<Op>> + Scoped + Send + Unpin + 'static,
{
    type Item = Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<String>>> {
        let this = self.get_mut();
        loop {
            if let Some(name) = this.items.next() {
                return Poll::Ready(Some(Ok(name)));
            }
            let fetching = match &mut this.fetching {
                Some(f) => f,
                None => {
                    let Some(op) = this.next.take() else {
                        return Poll::Ready(None);
                    };
                    let shared = this.shared.clone();
                    this.fetching.insert(Box::pin(async move {
                        Ok(run(&shared, op, Source::None, None).await?.0)
                    }))
                }
            };
            let page = ready!(fetching.as_mut().poll(cx));
            this.fetching = None;
            match page {
                Ok(page) => {
                    this.items = page.items.into_iter();
                    this.next = page.next.map(|b| *b);
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl Registry {
    /// A client for the registry `config` describes. Nothing is sent yet (no runtime is
    /// needed until the first request).
    pub fn new(config: &Config) -> Result<Registry> {
        let scheme = if config.insecure {
            Scheme::Http
        } else {
            Scheme::Https
        };
        let mut limits = dxf_proto::Limits {
            retry: config.retries,
            timeouts: config.timeouts,
            ..dxf_proto::Limits::default()
        };
        if let Some(c) = config.chunk_size {
            limits.chunk_size = c.max(1);
        }
        let mut session = Session::new(&config.host, scheme)?
            .with_jitter_seed(crate::driver::jitter_seed())
            .with_credentials(config.credentials.clone())
            .with_auth_host(config.auth_host.clone())
            .allow_credentials_over_http(config.allow_credentials_over_http)
            .with_user_agent(concat!("dxf/", env!("CARGO_PKG_VERSION")))
            .with_limits(limits);
        session.set_token(config.token.clone());
        Ok(Registry {
            shared: Arc::new(Shared {
                client: client(&config.transport, config.timeouts.connect)?,
                session: Mutex::new(session),
                token_locks: Mutex::new(HashMap::new()),
                interrupt: config.interrupt.clone(),
            }),
        })
    }

    /// A client for repository `name` sharing this registry's pool and session
    /// (python-dxf `DXF.from_base`). Docker Hub names get the `library/` prefix.
    pub fn repository(&self, name: &str) -> Result<Repository> {
        Ok(Repository {
            name: self.shared.session().repository(name)?,
            registry: self.clone(),
        })
    }

    /// `GET /v2/`.
    pub async fn version_check(&self) -> Result<VersionInfo> {
        let op = VersionCheck::new(&self.shared.session())?;
        Ok(run(&self.shared, op, Source::None, None).await?.0)
    }

    /// Authenticates (python-dxf `authenticate`): with `actions`, for exactly
    /// `repository:<repo>:<actions>`; otherwise for whatever the registry's challenge asks.
    /// Returns the bearer token when the registry uses tokens, `None` for Basic or
    /// anonymous registries.
    pub async fn authenticate(
        &self,
        repo: Option<&str>,
        actions: &[&str],
    ) -> Result<Option<String>> {
        let session = self.shared.session();
        let scope = match repo {
            Some(r) if !actions.is_empty() => {
                Scope::exact_repository(&session.repository(r)?, actions)
            }
            _ => Scope::none(),
        };
        let op = VersionCheck::with_scope(&session, scope.clone())?;
        run(&self.shared, op, Source::None, None).await?;
        Ok(self
            .shared
            .session()
            .bearer_token(&scope, now())
            .map(str::to_owned))
    }

    /// What this registry's uploads taught so far (a chunk size it refused, chunked
    /// uploads refused), to keep for a later process ([`Registry::learn_upload_hints`]).
    pub fn upload_hints(&self) -> UploadHints {
        self.shared.session().upload_hints()
    }

    /// Adopts upload hints an earlier process learned about this registry.
    pub fn learn_upload_hints(&self, hints: UploadHints) {
        self.shared
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .learn_upload_hints(hints);
    }

    /// The interrupt this registry's transfers obey ([`Config::interrupt`]).
    pub fn interrupt(&self) -> &Interrupt {
        &self.shared.interrupt
    }

    /// Sets (or clears) the bearer token used as-is for every request (python-dxf `token`).
    pub fn set_token(&self, token: Option<String>) {
        self.shared
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_token(token);
    }

    /// The registry's repositories, page by page (no page size is sent unless given).
    pub fn list_repos(&self, page_size: Option<u32>) -> Result<Names<Catalog>> {
        let op = Catalog::new(&self.shared.session(), page_size)?;
        Ok(Names::new(&self.shared, op))
    }
}

/// A repository of a [`Registry`] (python-dxf's `DXF`); cheap to clone.
#[derive(Clone, Debug)]
pub struct Repository {
    registry: Registry,
    name: dxf_proto::Repository,
}

pub(crate) fn reference(alias: &str) -> Result<Reference> {
    Ok(Reference::parse(alias).map_err(ProtoError::from)?)
}

impl Repository {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.registry.shared
    }

    pub(crate) fn session(&self) -> Session {
        self.registry.shared.session()
    }

    pub(crate) async fn run<O: Operation + Scoped>(&self, op: O) -> Result<O::Output> {
        Ok(run(self.shared(), op, Source::None, None).await?.0)
    }

    /// The repository name (with any `library/` prefix applied).
    pub fn name(&self) -> &dxf_proto::Repository {
        &self.name
    }

    /// The registry this repository belongs to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Pushes the file at `path` and returns its digest (python-dxf `push_blob(filename)`).
    /// The file is hashed first unless `options.digest` is given or `options.single_pass`.
    pub async fn push_blob_path(&self, path: &Path, options: PushOptions<'_>) -> Result<Pushed> {
        let mut file = tokio::fs::File::open(path).await?;
        if options.single_pass && options.digest.is_none() {
            let meta = file.metadata().await?;
            if !meta.is_file() {
                // A pipe or device has no length to announce: chunks, as a stream.
                return self.push_blob_reader(&mut file, options).await;
            }
            let len = meta.len();
            let upload = UploadOptions {
                skip_if_exists: false,
                mode: UploadMode::Chunked,
                chunk_size: None,
            };
            // A file: a registry refusing the one relayed PATCH for its size gets it again.
            let op = Upload::sized_stream(&self.session(), &self.name, len, None, &upload)?
                .with_seekable_source();
            let mut progress = options.progress;
            let mut done = 0u64;
            let mut report = |n: u64| {
                // Read again after a refusal: the bar stays full.
                done = (done + n).min(len);
                if let Some(p) = progress.as_mut() {
                    p(None, done, Some(len));
                }
            };
            let source = Source::File(&mut file);
            return Ok(run(self.shared(), op, source, Some(&mut report)).await?.0);
        }
        let (digest, len) = match options.digest.clone() {
            Some(d) => (d, file.metadata().await?.len()),
            None => hash_reader(&mut file).await?,
        };
        let upload = UploadOptions {
            skip_if_exists: options.skip_if_exists,
            mode: options.mode,
            chunk_size: None,
        };
        let session = self.session();
        let op = match &options.resume_from {
            Some(cp) => Upload::resume(&session, &self.name, &digest, len, cp, &upload)?,
            None => Upload::known(&session, &self.name, &digest, len, &upload)?,
        };
        let mut on_checkpoint = options.on_checkpoint;
        let keeps_checkpoints = on_checkpoint.is_some();
        let mut last: Option<UploadCheckpoint> = None;
        let mut observe = |op: &Upload| match (op.next_checkpoint(&mut last), &mut on_checkpoint) {
            (Some(cp), Some(save)) => {
                save(&cp);
                true
            }
            _ => false,
        };
        let mut progress = options.progress;
        let mut done = 0u64;
        let mut report = |n: u64| {
            done += n;
            if let Some(p) = progress.as_mut() {
                p(Some(&digest), done, Some(len));
            }
        };
        let source = Source::File(&mut file);
        let observe = keeps_checkpoints.then_some(&mut observe as Observe<'_, Upload>);
        let run = run_observed(self.shared(), op, source, Some(&mut report), observe);
        Ok(run.await?.0)
    }

    /// Pushes everything `reader` yields in one pass (chunked, hashed while sending) and
    /// returns the digest. With `options.digest`, the data must hash to it or nothing is
    /// committed.
    pub async fn push_blob_reader(
        &self,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        options: PushOptions<'_>,
    ) -> Result<Pushed> {
        let upload = UploadOptions {
            skip_if_exists: options.skip_if_exists,
            mode: UploadMode::Chunked,
            chunk_size: None,
        };
        let digest = options.digest.as_ref();
        let op = Upload::stream(&self.session(), &self.name, digest, &upload)?;
        let mut progress = options.progress;
        let mut done = 0u64;
        let expected = options.digest.clone();
        let mut report = |n: u64| {
            done += n;
            if let Some(p) = progress.as_mut() {
                p(expected.as_ref(), done, None);
            }
        };
        let source = Source::Stream(reader);
        Ok(run(self.shared(), op, source, Some(&mut report)).await?.0)
    }

    /// Starts downloading a blob; the reader verifies digest and length as it is read.
    pub async fn pull_blob(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
    ) -> Result<BlobReader> {
        let op = GetBlob::new(&self.session(), &self.name, digest, expected_size)?;
        let (download, body) = run(self.shared(), op, Source::None, None).await?;
        let body = body.ok_or_else(|| io::Error::other("blob body was not delivered"))?;
        // A body that breaks midway is continued from where it broke (a ranged GET).
        let (shared, name, blob) = (self.shared().clone(), self.name.clone(), digest.clone());
        let total = download.len.or(expected_size);
        let resume: crate::body::Resume = Box::new(move |offset| {
            let (shared, name, blob) = (shared.clone(), name.clone(), blob.clone());
            Box::pin(async move {
                let op = GetBlob::resume(&shared.session(), &name, &blob, offset, total)
                    .map_err(io::Error::other)?;
                let (download, body) = run(&shared, op, Source::None, None)
                    .await
                    .map_err(io::Error::other)?;
                let body = body.ok_or_else(|| io::Error::other("blob body was not delivered"))?;
                Ok((body, download.offset))
            })
        });
        let times = self.session().limits().retry.max_retries;
        let bounds = self
            .session()
            .limits()
            .timeouts
            .for_body(dxf_proto::BodyPlan::Deliver);
        Ok(BlobReader::new(
            body,
            download.verifier,
            download.len,
            bounds,
            Some((resume, times)),
            self.shared().interrupt.clone(),
        ))
    }

    /// The size of a blob (python-dxf `blob_size`).
    pub async fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let op = HeadBlob::new(&self.session(), &self.name, digest)?;
        Ok(self.run(op).await?.size)
    }

    /// Whether a blob exists.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        match self.blob_size(digest).await {
            Ok(_) => Ok(true),
            Err(Error::Proto(ProtoError::NotFound { .. })) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Mounts `digest` from repository `from` (python-dxf `mount_blob`); a registry that
    /// opens an upload instead is [`dxf_proto::Error::MountFailed`] (the session is
    /// cancelled).
    pub async fn mount_blob(&self, from: &str, digest: &Digest) -> Result<Digest> {
        let session = self.session();
        let from = session.repository(from)?;
        let op = MountBlob::new(&session, &self.name, &from, digest, MountOptions::default())?;
        self.run(op).await
    }

    /// Deletes a blob (python-dxf `del_blob`).
    pub async fn del_blob(&self, digest: &Digest) -> Result<()> {
        self.run(DeleteBlob::new(&self.session(), &self.name, digest)?)
            .await
    }

    /// python-dxf's alias manifest for these blobs (sizes from a HEAD of each), byte for
    /// byte what python-dxf's `make_manifest` produces.
    pub async fn make_manifest(&self, digests: &[Digest]) -> Result<String> {
        let mut blobs = Vec::with_capacity(digests.len());
        for d in digests {
            blobs.push(BlobDescriptor {
                digest: d.clone(),
                size: self.blob_size(d).await?,
                title: None,
            });
        }
        docker_alias_manifest(&blobs).map_err(|e| {
            Error::Proto(ProtoError::Misuse(dxf_proto::Misuse::InvalidArgument(
                e.to_string(),
            )))
        })
    }

    /// Stores `manifest` under `alias` (python-dxf `set_manifest`); returns its digest.
    pub async fn set_manifest(&self, alias: &str, manifest: &[u8]) -> Result<Digest> {
        let reference = reference(alias)?;
        let op = PutManifest::new(&self.session(), &self.name, &reference, manifest.to_vec())?;
        self.run(op).await
    }

    /// Points `alias` at these blobs (python-dxf `set_alias`); returns the manifest JSON.
    pub async fn set_alias(&self, alias: &str, digests: &[Digest]) -> Result<String> {
        reference(alias)?; // an invalid alias is refused before any request
        let manifest = self.make_manifest(digests).await?;
        self.set_manifest(alias, manifest.as_bytes()).await?;
        Ok(manifest)
    }

    /// Reads an alias with full control (see [`ReadOptions`]).
    pub async fn read_alias(&self, alias: &str, options: ReadOptions) -> Result<AliasManifest> {
        let reference = reference(alias)?;
        let op = ReadAlias::new(&self.session(), &self.name, &reference, options)?;
        self.run(op).await
    }

    /// Reads a manifest the caller already has (python-dxf `get_alias(manifest=…)`):
    /// nothing is fetched for it; an index has its platforms resolved from this repository
    /// as `options` says.
    pub async fn read_manifest(
        &self,
        manifest: Vec<u8>,
        options: ReadOptions,
    ) -> Result<AliasManifest> {
        let op = ReadAlias::from_manifest(&self.session(), &self.name, manifest, options)?;
        self.run(op).await
    }

    async fn read_resolved(&self, alias: &str, platform: Option<&str>) -> Result<AliasManifest> {
        let options = ReadOptions {
            platform: platform.map(str::to_owned),
            resolve_platforms: true,
        };
        self.read_alias(alias, options).await
    }

    /// The blobs (digest, size) an alias names, per platform for a multi-arch alias unless
    /// `platform` picks one (python-dxf `get_alias(sizes=True)`).
    pub async fn get_alias(
        &self,
        alias: &str,
        platform: Option<&str>,
    ) -> Result<PerPlatform<Vec<(Digest, u64)>>> {
        Ok(self
            .read_resolved(alias, platform)
            .await?
            .try_layers()
            .map_err(ProtoError::from)?)
    }

    /// The config digest (python-dxf `get_digest`; for dxf aliases, the first blob).
    pub async fn get_digest(
        &self,
        alias: &str,
        platform: Option<&str>,
    ) -> Result<PerPlatform<Digest>> {
        Ok(self
            .read_resolved(alias, platform)
            .await?
            .try_config_digest()
            .map_err(ProtoError::from)?)
    }

    /// The manifest body as received (python-dxf `get_manifest`).
    pub async fn get_manifest(
        &self,
        alias: &str,
        platform: Option<&str>,
    ) -> Result<PerPlatform<Vec<u8>>> {
        Ok(self.read_resolved(alias, platform).await?.bodies())
    }

    /// Digest, size and media type of an alias's manifest without its body.
    pub async fn head_manifest(&self, alias: &str) -> Result<ManifestInfo> {
        let reference = reference(alias)?;
        self.run(HeadManifest::new(&self.session(), &self.name, &reference)?)
            .await
    }

    /// Deletes an alias's manifest **by digest** (python-dxf `del_alias`: every alias on
    /// that manifest goes too) and returns what it listed.
    pub async fn del_alias(&self, alias: &str) -> Result<AliasManifest> {
        let manifest = self.read_alias(alias, ReadOptions::default()).await?;
        self.del_manifest(&manifest.digest).await?;
        Ok(manifest)
    }

    /// Deletes a manifest by digest.
    pub async fn del_manifest(&self, digest: &Digest) -> Result<()> {
        let reference = Reference::Digest(digest.clone());
        self.run(DeleteManifest::new(
            &self.session(),
            &self.name,
            &reference,
        )?)
        .await
    }

    /// The repository's aliases (tags), page by page.
    pub fn list_aliases(&self, page_size: Option<u32>) -> Result<Names<ListTags>> {
        let op = ListTags::new(&self.session(), &self.name, page_size)?;
        Ok(Names::new(self.shared(), op))
    }
}

mod copy;
mod delete_tag;
pub use copy::{CopyOptions, DEFAULT_COPY_JOBS};
