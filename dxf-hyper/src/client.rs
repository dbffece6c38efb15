//! The public API, the async twin of dxf-ureq's (python-dxf's module API): [`Registry`]
//! (python-dxf's `DXFBase`: version check, authenticate, token, list repositories) and
//! [`Repository`] (`DXF`: blobs, manifests, aliases), which shares its registry's connection
//! pool, credentials and token cache. Every method builds a dxf-proto operation or
//! [`Flow`](dxf_proto::client::Flow) and runs it; the choices are dxf-proto's.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use dxf_proto::client::{
    authentication, AttachArtifact, Config, DeleteAlias, FilePush, Flow, FlowStep, PushOptions,
    SetAlias,
};
use dxf_proto::manifest::alias::{BlobDescriptor, OciArtifactOptions};
use dxf_proto::{
    AliasManifest, Attached, Catalog, DeleteBlob, DeleteManifest, Digest, Error as ProtoError,
    GetBlob, HeadBlob, HeadManifest, Interrupt, ListTags, ManifestInfo, MountBlob, MountOptions,
    Operation, Page, PerPlatform, Pushed, PutManifest, ReadAlias, ReadOptions, Reference,
    Referrers, ReferrersList, Scoped, Session, Sha256, Upload, UploadHints, VersionCheck,
    VersionInfo,
};

use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::body::BlobReader;
use crate::driver::{now, run, run_observed, Observe, Shared, Source};
use crate::error::Result;
use crate::tls::client;

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
    /// A client for the registry `config` describes. Nothing is sent yet.
    pub fn new(config: &Config) -> Result<Registry> {
        Ok(Registry {
            shared: Arc::new(Shared {
                client: client(&config.transport, config.timeouts.connect)?,
                session: Mutex::new(config.session()?),
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

    /// Runs any dxf-proto operation against this registry (built from
    /// [`session`](Self::session)).
    pub async fn run<O: Operation + Scoped>(&self, op: O) -> Result<O::Output> {
        Ok(run(&self.shared, op, Source::None, None).await?.0)
    }

    /// Runs a compound operation ([`Flow`]), each of its operations as [`run`](Self::run).
    pub async fn run_flow<F: Flow>(&self, mut flow: F) -> Result<F::Output> {
        let mut last = None;
        loop {
            match flow.step(last.take())? {
                FlowStep::Run(op) => last = Some(self.run(op).await?),
                FlowStep::Done(output) => return Ok(output),
            }
        }
    }

    /// A snapshot of the session operations are built from (tokens, hints, limits).
    pub fn session(&self) -> Session {
        self.shared.session()
    }

    /// `GET /v2/`.
    pub async fn version_check(&self) -> Result<VersionInfo> {
        self.run(VersionCheck::new(&self.session())?).await
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
        let (op, scope) = authentication(&self.session(), repo, actions)?;
        self.run(op).await?;
        Ok(self
            .session()
            .bearer_token(&scope, now())
            .map(str::to_owned))
    }

    /// What this registry's uploads taught so far (a chunk size it refused, chunked
    /// uploads refused), to keep for a later process ([`Registry::learn_upload_hints`]).
    pub fn upload_hints(&self) -> UploadHints {
        self.session().upload_hints()
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
        Ok(self.names(Catalog::new(&self.session(), page_size)?))
    }

    fn names<Op>(&self, first: Op) -> Names<Op>
    where
        Op: Operation<Output = Page<Op>> + Scoped + Send + Unpin + 'static,
    {
        Names::new(&self.shared, first)
    }
}

/// A repository of a [`Registry`] (python-dxf's `DXF`).
#[derive(Clone, Debug)]
pub struct Repository {
    registry: Registry,
    name: dxf_proto::Repository,
}

fn reference(alias: &str) -> Result<Reference> {
    Ok(Reference::parse(alias).map_err(ProtoError::from)?)
}

impl Repository {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.registry.shared
    }

    pub(crate) fn session(&self) -> Session {
        self.registry.session()
    }

    async fn run<O: Operation + Scoped>(&self, op: O) -> Result<O::Output> {
        self.registry.run(op).await
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
        let meta = file.metadata().await?;
        let (session, len) = (self.session(), meta.len());
        let (op, digest) = match options.plan_file(&session, &self.name, len, meta.is_file())? {
            FilePush::AsStream => return self.push_blob_reader(&mut file, options).await,
            FilePush::SinglePass(op) => (op, None),
            FilePush::KnownDigest => {
                let digest = match options.digest.clone() {
                    Some(d) => d,
                    None => crate::body::hash_file(path).await?.0,
                };
                let op = options.known_upload(&session, &self.name, &digest, len)?;
                (op, Some(digest))
            }
        };
        let (mut progress, mut checkpoints) = options.into_reports(digest, Some(len));
        let kept = checkpoints.kept();
        let mut observe = |op: &Upload| checkpoints.observe(op);
        let observe = kept.then_some(&mut observe as Observe<'_, Upload>);
        let source = Source::File(&mut file);
        let mut report = |n| progress.sent(n);
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
        let op = options.stream_upload(&self.session(), &self.name)?;
        let digest = options.digest.clone();
        let (mut progress, _) = options.into_reports(digest, None);
        let source = Source::Stream(reader);
        Ok(
            run(self.shared(), op, source, Some(&mut |n| progress.sent(n)))
                .await?
                .0,
        )
    }

    /// Starts downloading a blob; the reader verifies digest and length as it is read.
    pub async fn pull_blob(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
    ) -> Result<BlobReader> {
        self.pull(GetBlob::new(
            &self.session(),
            &self.name,
            digest,
            expected_size,
        )?)
        .await
    }

    async fn pull(&self, op: GetBlob) -> Result<BlobReader> {
        let (digest, expected_size) = (op.digest().clone(), op.expected_len());
        let (download, body) = run(self.shared(), op, Source::None, None).await?;
        let body = body.ok_or_else(|| io::Error::other("blob body was not delivered"))?;
        // A body that breaks midway is continued from where it broke (a ranged GET).
        let (shared, name, blob) = (self.shared().clone(), self.name.clone(), digest);
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
        Ok(self
            .run(HeadBlob::new(&self.session(), &self.name, digest)?)
            .await?
            .size)
    }

    /// Whether a blob exists.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        match self.blob_size(digest).await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.proto(), Some(ProtoError::NotFound { .. })) => Ok(false),
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
        let flow = SetAlias::docker(&self.session(), &self.name, None, digests)?;
        self.registry.run_flow(flow).await
    }

    /// Stores `manifest` under `alias` (python-dxf `set_manifest`); returns its digest.
    pub async fn set_manifest(&self, alias: &str, manifest: &[u8]) -> Result<Digest> {
        let alias = reference(alias)?;
        let op = PutManifest::new(&self.session(), &self.name, &alias, manifest.to_vec())?;
        self.run(op).await
    }

    /// Points `alias` at these blobs (python-dxf `set_alias`); returns the manifest JSON.
    pub async fn set_alias(&self, alias: &str, digests: &[Digest]) -> Result<String> {
        let flow = SetAlias::docker(&self.session(), &self.name, Some(alias), digests)?;
        self.registry.run_flow(flow).await
    }

    /// Reads an alias with full control (see [`ReadOptions`]).
    pub async fn read_alias(&self, alias: &str, options: ReadOptions) -> Result<AliasManifest> {
        let alias = reference(alias)?;
        self.run(ReadAlias::new(
            &self.session(),
            &self.name,
            &alias,
            options,
        )?)
        .await
    }

    /// Reads a manifest the caller already has (python-dxf `get_alias(manifest=…)`, the
    /// CLI's stdin): nothing is fetched for it; an index has its platforms resolved from
    /// this repository as `options` says.
    pub async fn read_manifest(
        &self,
        manifest: Vec<u8>,
        options: ReadOptions,
    ) -> Result<AliasManifest> {
        let session = self.session();
        self.run(ReadAlias::from_manifest(
            &session, &self.name, manifest, options,
        )?)
        .await
    }

    async fn read_resolved(&self, alias: &str, platform: Option<&str>) -> Result<AliasManifest> {
        self.read_alias(alias, ReadOptions::resolved(platform))
            .await
    }

    /// The blobs (digest, size) an alias names, per platform for a multi-arch alias unless
    /// `platform` picks one (python-dxf `get_alias(sizes=True)`).
    pub async fn get_alias(
        &self,
        alias: &str,
        platform: Option<&str>,
    ) -> Result<PerPlatform<Vec<(Digest, u64)>>> {
        let manifest = self.read_resolved(alias, platform).await?;
        Ok(manifest.try_layers().map_err(ProtoError::from)?)
    }

    /// The config digest (python-dxf `get_digest`; for dxf aliases, the first blob).
    pub async fn get_digest(
        &self,
        alias: &str,
        platform: Option<&str>,
    ) -> Result<PerPlatform<Digest>> {
        let manifest = self.read_resolved(alias, platform).await?;
        Ok(manifest.try_config_digest().map_err(ProtoError::from)?)
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
        let alias = reference(alias)?;
        self.run(HeadManifest::new(&self.session(), &self.name, &alias)?)
            .await
    }

    /// Deletes an alias's manifest **by digest** (python-dxf `del_alias`: every alias on
    /// that manifest goes too) and returns what it listed.
    pub async fn del_alias(&self, alias: &str) -> Result<AliasManifest> {
        let flow = DeleteAlias::by_digest(&self.session(), &self.name, alias)?;
        self.registry.run_flow(flow).await
    }

    /// Deletes only `alias`: the manifest and its other aliases stay (dxf-proto's
    /// [`DeleteTag`](dxf_proto::DeleteTag): the tag `DELETE` of the distribution spec, else
    /// re-pointing the tag at a throw-away manifest that is then deleted). Returns the
    /// manifest the alias named.
    pub async fn del_alias_only(&self, alias: &str) -> Result<AliasManifest> {
        let flow = DeleteAlias::only(&self.session(), &self.name, alias)?;
        self.registry.run_flow(flow).await
    }

    /// Deletes a manifest by digest.
    pub async fn del_manifest(&self, digest: &Digest) -> Result<()> {
        let by_digest = Reference::Digest(digest.clone());
        self.run(DeleteManifest::new(
            &self.session(),
            &self.name,
            &by_digest,
        )?)
        .await
    }

    /// The repository's aliases (tags), page by page.
    pub fn list_aliases(&self, page_size: Option<u32>) -> Result<Names<ListTags>> {
        let op = ListTags::new(&self.session(), &self.name, page_size)?;
        Ok(self.registry.names(op))
    }

    /// Pushes the OCI empty config (`{}`), which artifact manifests name as their config.
    pub async fn push_empty_config(&self) -> Result<Pushed> {
        self.run(Upload::empty_config(&self.session(), self.name())?)
            .await
    }

    /// An OCI artifact manifest for these blobs (sizes from a HEAD of each; a title becomes
    /// the layer's `org.opencontainers.image.title`), over the empty config.
    pub async fn make_oci_manifest(
        &self,
        blobs: &[(Digest, Option<String>)],
        options: &OciArtifactOptions,
    ) -> Result<String> {
        let flow = SetAlias::oci(&self.session(), &self.name, None, blobs, options)?;
        self.registry.run_flow(flow).await
    }

    /// Points `alias` at these blobs with an OCI artifact manifest (the empty config is
    /// pushed first); returns the manifest JSON.
    pub async fn set_alias_oci(
        &self,
        alias: &str,
        blobs: &[(Digest, Option<String>)],
        options: &OciArtifactOptions,
    ) -> Result<String> {
        let flow = SetAlias::oci(&self.session(), &self.name, Some(alias), blobs, options)?;
        self.registry.run_flow(flow).await
    }

    /// Attaches an artifact made of `blobs` to `alias` (its manifest's `subject`), and lists
    /// it in the referrers index where the registry has no referrers API.
    pub async fn attach(
        &self,
        alias: &str,
        blobs: &[BlobDescriptor],
        options: &OciArtifactOptions,
    ) -> Result<Attached> {
        let flow = AttachArtifact::new(&self.session(), self.name(), alias, blobs, options)?;
        self.registry.run_flow(flow).await
    }

    /// The artifacts that refer to `alias`'s manifest, optionally of one artifact type.
    pub async fn referrers(
        &self,
        alias: &str,
        artifact_type: Option<&str>,
    ) -> Result<ReferrersList> {
        let subject = reference(alias)?;
        let op = Referrers::new(&self.session(), self.name(), &subject, artifact_type)?;
        self.run(op).await
    }
}

mod copy;
