//! The public API, mirroring python-dxf's module API: [`Registry`] (python-dxf's `DXFBase`:
//! version check, authenticate, token, list repositories) and [`Repository`] (`DXF`: blobs,
//! manifests, aliases), which shares its registry's connection pool, credentials and token
//! cache (`DXF.from_base`). Every method is "build the dxf-proto operation, run it".

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, PoisonError};

use dxf_proto::manifest::alias::{docker_alias_manifest, BlobDescriptor};
use dxf_proto::{
    AliasManifest, Catalog, Credentials, DeleteBlob, DeleteManifest, Digest, Error as ProtoError,
    GetBlob, HeadBlob, HeadManifest, Interrupt, ListTags, ManifestInfo, MountBlob, MountOptions,
    Operation, Page, PerPlatform, Pushed, PutManifest, ReadAlias, ReadOptions, Reference,
    RetryPolicy, Scheme, Scope, Scoped, Session, Sha256, Timeouts, Upload, UploadCheckpoint,
    UploadHints, UploadMode, UploadOptions, VersionCheck, VersionInfo,
};

use crate::body::BlobReader;
use crate::driver::{run, run_observed, Observe, Shared, Source};
use crate::error::{Error, Result};
use crate::tls::{agent, TransportConfig};

/// How to reach and authenticate to a registry (python-dxf's `DXF_*` settings).
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

/// A registry: cheap to clone, safe to share between threads; clones share one connection
/// pool and one session (credentials, token cache).
#[derive(Clone, Debug)]
pub struct Registry {
    shared: Arc<Shared>,
}

/// Called during a push with (the blob's digest when known, bytes sent so far, total bytes
/// when known) — python-dxf's `progress(digest, chunk, total)`. A stream pushed without
/// an expected digest has no digest until it ends.
pub type ProgressFn<'a> = &'a mut dyn FnMut(Option<&Digest>, u64, Option<u64>);

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
    pub on_checkpoint: Option<&'a mut dyn FnMut(&UploadCheckpoint)>,
}

impl std::fmt::Debug for PushOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushOptions")
            .field("skip_if_exists", &self.skip_if_exists)
            .field("digest", &self.digest)
            .field("mode", &self.mode)
            .field("single_pass", &self.single_pass)
            .finish()
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

/// Something that differs between processes and calls, for retry jitter.
fn jitter_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// Hashes a readable source with SHA-256 (python-dxf's `hash_file`).
pub fn hash_reader(reader: &mut impl Read) -> io::Result<(Digest, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
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

/// A lazy iterator over names (tags or repositories), fetching a page at a time.
pub struct Names<Op> {
    shared: Arc<Shared>,
    next: Option<Op>,
    items: std::vec::IntoIter<String>,
}

impl<Op> std::fmt::Debug for Names<Op> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names").finish_non_exhaustive()
    }
}

impl<Op: Operation<Output = Page<Op>> + Scoped> Iterator for Names<Op> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        loop {
            if let Some(name) = self.items.next() {
                return Some(Ok(name));
            }
            let op = self.next.take()?;
            match run(&self.shared, op, Source::None, None) {
                Ok((page, _)) => {
                    self.items = page.items.into_iter();
                    self.next = page.next.map(|b| *b);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Registry {
    /// A client for the registry `config` describes. Nothing is sent yet.
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
            .with_jitter_seed(jitter_seed())
            .with_credentials(config.credentials.clone())
            .with_auth_host(config.auth_host.clone())
            .allow_credentials_over_http(config.allow_credentials_over_http)
            .with_user_agent(concat!("dxf/", env!("CARGO_PKG_VERSION")))
            .with_limits(limits);
        session.set_token(config.token.clone());
        Ok(Registry {
            shared: Arc::new(Shared::new(
                agent(&config.transport)?,
                session,
                config.interrupt.clone(),
            )),
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
    pub fn version_check(&self) -> Result<VersionInfo> {
        let op = VersionCheck::new(&self.shared.session())?;
        Ok(run(&self.shared, op, Source::None, None)?.0)
    }

    /// Authenticates (python-dxf `authenticate`): with `actions`, for exactly
    /// `repository:<repo>:<actions>`; otherwise for whatever the registry's challenge asks.
    /// Returns the bearer token when the registry uses tokens, `None` for Basic or
    /// anonymous registries.
    pub fn authenticate(&self, repo: Option<&str>, actions: &[&str]) -> Result<Option<String>> {
        let session = self.shared.session();
        let scope = match repo {
            Some(r) if !actions.is_empty() => {
                Scope::exact_repository(&session.repository(r)?, actions)
            }
            _ => Scope::none(),
        };
        let op = VersionCheck::with_scope(&session, scope.clone())?;
        run(&self.shared, op, Source::None, None)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(self
            .shared
            .session()
            .bearer_token(&scope, dxf_proto::UnixTime(now))
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
        Ok(Names {
            shared: self.shared.clone(),
            next: Some(op),
            items: Vec::new().into_iter(),
        })
    }
}

/// A repository of a [`Registry`] (python-dxf's `DXF`).
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

    pub(crate) fn run<O: Operation + Scoped>(&self, op: O) -> Result<O::Output> {
        Ok(run(self.shared(), op, Source::None, None)?.0)
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
    pub fn push_blob_path(&self, path: &Path, options: PushOptions<'_>) -> Result<Pushed> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let len = meta.len();
        if options.single_pass && options.digest.is_none() && !meta.is_file() {
            // A pipe or device has no length to announce: chunks, as a stream.
            return self.push_blob_reader(&mut file, options);
        }
        if options.single_pass && options.digest.is_none() {
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
            return Ok(run(
                self.shared(),
                op,
                Source::Seekable(&mut file),
                Some(&mut report),
            )?
            .0);
        }
        let digest = match options.digest.clone() {
            Some(d) => d,
            None => {
                let (d, _) = hash_reader(&mut file)?;
                d
            }
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
        Ok(run_observed(
            self.shared(),
            op,
            Source::Seekable(&mut file),
            Some(&mut report),
            keeps_checkpoints.then_some(&mut observe as Observe<'_, Upload>),
        )?
        .0)
    }

    /// Pushes everything `reader` yields in one pass (chunked, hashed while sending) and
    /// returns the digest. With `options.digest`, the data must hash to it or nothing is
    /// committed.
    pub fn push_blob_reader(
        &self,
        reader: &mut dyn Read,
        options: PushOptions<'_>,
    ) -> Result<Pushed> {
        let upload = UploadOptions {
            skip_if_exists: options.skip_if_exists,
            mode: UploadMode::Chunked,
            chunk_size: None,
        };
        let op = Upload::stream(
            &self.session(),
            &self.name,
            options.digest.as_ref(),
            &upload,
        )?;
        let mut progress = options.progress;
        let mut done = 0u64;
        let expected = options.digest.clone();
        let mut report = |n: u64| {
            done += n;
            if let Some(p) = progress.as_mut() {
                p(expected.as_ref(), done, None);
            }
        };
        Ok(run(self.shared(), op, Source::Stream(reader), Some(&mut report))?.0)
    }

    /// Starts downloading a blob; the reader verifies digest and length as it is read.
    pub fn pull_blob(&self, digest: &Digest, expected_size: Option<u64>) -> Result<BlobReader> {
        let op = GetBlob::new(&self.session(), &self.name, digest, expected_size)?;
        let (download, body) = run(self.shared(), op, Source::None, None)?;
        let body = body.ok_or_else(|| io::Error::other("blob body was not delivered"))?;
        // A body that breaks midway is continued from where it broke (a ranged GET).
        let (shared, name, blob) = (self.shared().clone(), self.name.clone(), digest.clone());
        let total = download.len.or(expected_size);
        let resume: crate::body::Resume = Box::new(move |offset| {
            let op = GetBlob::resume(&shared.session(), &name, &blob, offset, total)
                .map_err(io::Error::other)?;
            let (download, body) =
                run(&shared, op, Source::None, None).map_err(io::Error::other)?;
            let body = body.ok_or_else(|| io::Error::other("blob body was not delivered"))?;
            Ok((body, download.offset))
        });
        let times = self.session().limits().retry.max_retries;
        Ok(BlobReader::new(
            body,
            download.verifier,
            download.len,
            Some((resume, times)),
            self.shared().interrupt.clone(),
            self.session()
                .limits()
                .timeouts
                .for_body(dxf_proto::BodyPlan::Deliver),
        ))
    }

    /// The size of a blob (python-dxf `blob_size`).
    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        Ok(self
            .run(HeadBlob::new(&self.session(), &self.name, digest)?)?
            .size)
    }

    /// Whether a blob exists.
    pub fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        match self.blob_size(digest) {
            Ok(_) => Ok(true),
            Err(Error::Proto(ProtoError::NotFound { .. })) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Mounts `digest` from repository `from` (python-dxf `mount_blob`); a registry that
    /// opens an upload instead is [`dxf_proto::Error::MountFailed`] (the session is
    /// cancelled).
    pub fn mount_blob(&self, from: &str, digest: &Digest) -> Result<Digest> {
        let session = self.session();
        let from = session.repository(from)?;
        let op = MountBlob::new(&session, &self.name, &from, digest, MountOptions::default())?;
        self.run(op)
    }

    /// Deletes a blob (python-dxf `del_blob`).
    pub fn del_blob(&self, digest: &Digest) -> Result<()> {
        self.run(DeleteBlob::new(&self.session(), &self.name, digest)?)
    }

    /// python-dxf's alias manifest for these blobs (sizes from a HEAD of each), byte for
    /// byte what python-dxf's `make_manifest` produces.
    pub fn make_manifest(&self, digests: &[Digest]) -> Result<String> {
        let mut blobs = Vec::with_capacity(digests.len());
        for d in digests {
            blobs.push(BlobDescriptor {
                digest: d.clone(),
                size: self.blob_size(d)?,
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
    pub fn set_manifest(&self, alias: &str, manifest: &[u8]) -> Result<Digest> {
        let op = PutManifest::new(
            &self.session(),
            &self.name,
            &reference(alias)?,
            manifest.to_vec(),
        )?;
        self.run(op)
    }

    /// Points `alias` at these blobs (python-dxf `set_alias`); returns the manifest JSON.
    pub fn set_alias(&self, alias: &str, digests: &[Digest]) -> Result<String> {
        reference(alias)?; // an invalid alias is refused before any request
        let manifest = self.make_manifest(digests)?;
        self.set_manifest(alias, manifest.as_bytes())?;
        Ok(manifest)
    }

    /// Reads an alias with full control (see [`ReadOptions`]).
    pub fn read_alias(&self, alias: &str, options: ReadOptions) -> Result<AliasManifest> {
        self.run(ReadAlias::new(
            &self.session(),
            &self.name,
            &reference(alias)?,
            options,
        )?)
    }

    /// Reads a manifest the caller already has (python-dxf `get_alias(manifest=…)`, the
    /// CLI's stdin): nothing is fetched for it; an index has its platforms resolved from
    /// this repository as `options` says.
    pub fn read_manifest(&self, manifest: Vec<u8>, options: ReadOptions) -> Result<AliasManifest> {
        self.run(ReadAlias::from_manifest(
            &self.session(),
            &self.name,
            manifest,
            options,
        )?)
    }

    fn read_resolved(&self, alias: &str, platform: Option<&str>) -> Result<AliasManifest> {
        self.read_alias(
            alias,
            ReadOptions {
                platform: platform.map(str::to_owned),
                resolve_platforms: true,
            },
        )
    }

    /// The blobs (digest, size) an alias names, per platform for a multi-arch alias unless
    /// `platform` picks one (python-dxf `get_alias(sizes=True)`).
    pub fn get_alias(
        &self,
        alias: &str,
        platform: Option<&str>,
    ) -> Result<PerPlatform<Vec<(Digest, u64)>>> {
        Ok(self
            .read_resolved(alias, platform)?
            .try_layers()
            .map_err(ProtoError::from)?)
    }

    /// The config digest (python-dxf `get_digest`; for dxf aliases, the first blob).
    pub fn get_digest(&self, alias: &str, platform: Option<&str>) -> Result<PerPlatform<Digest>> {
        Ok(self
            .read_resolved(alias, platform)?
            .try_config_digest()
            .map_err(ProtoError::from)?)
    }

    /// The manifest body as received (python-dxf `get_manifest`).
    pub fn get_manifest(
        &self,
        alias: &str,
        platform: Option<&str>,
    ) -> Result<PerPlatform<Vec<u8>>> {
        Ok(self.read_resolved(alias, platform)?.bodies())
    }

    /// Digest, size and media type of an alias's manifest without its body.
    pub fn head_manifest(&self, alias: &str) -> Result<ManifestInfo> {
        self.run(HeadManifest::new(
            &self.session(),
            &self.name,
            &reference(alias)?,
        )?)
    }

    /// Deletes an alias's manifest **by digest** (python-dxf `del_alias`: every alias on
    /// that manifest goes too) and returns what it listed.
    pub fn del_alias(&self, alias: &str) -> Result<AliasManifest> {
        let manifest = self.read_alias(alias, ReadOptions::default())?;
        self.del_manifest(&manifest.digest)?;
        Ok(manifest)
    }

    /// Deletes a manifest by digest.
    pub fn del_manifest(&self, digest: &Digest) -> Result<()> {
        let op = DeleteManifest::new(
            &self.session(),
            &self.name,
            &Reference::Digest(digest.clone()),
        )?;
        self.run(op)
    }

    /// The repository's aliases (tags), page by page.
    pub fn list_aliases(&self, page_size: Option<u32>) -> Result<Names<ListTags>> {
        let op = ListTags::new(&self.session(), &self.name, page_size)?;
        Ok(Names {
            shared: self.shared().clone(),
            next: Some(op),
            items: Vec::new().into_iter(),
        })
    }
}

mod copy;
mod delete_tag;
pub use copy::{CopyOptions, DEFAULT_COPY_JOBS};
