//! The adapter-neutral client the scenarios are written against: [`Adapter`], implemented
//! by dxf-ureq directly and by dxf-hyper through a tokio runtime's `block_on`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dxf_tests::{Mode, TestRegistry};
use dxf_ureq::dxf_proto::{
    AliasManifest, Credentials, Digest, Error as ProtoError, Interrupt, ManifestInfo, PerPlatform,
    Pushed, ReadOptions, RetryPolicy, UploadCheckpoint, UploadMode, VersionInfo,
};
use tokio::io::AsyncReadExt;

use dxf_ureq::dxf_proto::manifest::alias::{BlobDescriptor, OciArtifactOptions};
use dxf_ureq::dxf_proto::{Attached, ReferrersList};

/// Which adapter a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ureq,
    Hyper,
}

/// An adapter's error, reduced to what scenarios check.
#[derive(Debug)]
pub struct Failure {
    pub proto: Option<ProtoError>,
    pub message: String,
}

impl Failure {
    pub fn proto(&self) -> Option<&ProtoError> {
        self.proto.as_ref()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<dxf_ureq::Error> for Failure {
    fn from(e: dxf_ureq::Error) -> Failure {
        Failure {
            proto: e.proto().cloned(),
            message: e.to_string(),
        }
    }
}

// dxf_hyper::Error is the same type: one client error for both adapters.
pub type R<T> = Result<T, Failure>;

/// The reader a pull returned: its announced size, then what reading it to the end gave.
pub type Pulled = (Option<u64>, std::io::Result<Vec<u8>>);

/// Push choices, the same for both adapters.
#[derive(Default)]
pub struct Push<'a> {
    pub skip_if_exists: bool,
    pub digest: Option<Digest>,
    pub chunked: bool,
    pub single_pass: bool,
    pub progress: Option<dxf_hyper::ProgressFn<'a>>,
    pub resume_from: Option<UploadCheckpoint>,
    pub on_checkpoint: Option<&'a mut (dyn FnMut(&UploadCheckpoint) + Send)>,
}

impl<'a> Push<'a> {
    /// python-dxf's defaults.
    pub fn new() -> Push<'a> {
        Push {
            skip_if_exists: true,
            ..Push::default()
        }
    }
}

/// Certificate verification, the same for both adapters.
#[derive(Clone, Debug)]
pub enum Tls {
    WebPki,
    CaBundle(PathBuf),
    Skip,
}

/// Connection settings, the same for both adapters.
#[derive(Clone, Debug)]
pub struct Settings {
    pub host: String,
    pub insecure: bool,
    pub tls: Tls,
    pub credentials: Credentials,
    pub token: Option<String>,
    pub chunk_size: Option<u64>,
    pub timeout: Option<Duration>,
    pub retries: RetryPolicy,
    pub interrupt: Interrupt,
}

impl Settings {
    /// What a user of `reg` would configure (1 MiB chunks to exercise chunking).
    pub fn for_registry(reg: &TestRegistry) -> Settings {
        Settings {
            host: reg.host(),
            insecure: reg.mode() == Mode::Plain,
            tls: match reg.ca_pem_path() {
                Some(ca) => Tls::CaBundle(ca.to_path_buf()),
                None => Tls::WebPki,
            },
            credentials: match reg.credentials() {
                Some((username, password)) => Credentials::Basic { username, password },
                None => Credentials::None,
            },
            token: None,
            chunk_size: Some(1 << 20),
            timeout: Some(Duration::from_secs(30)),
            retries: RetryPolicy::default(),
            interrupt: Interrupt::new(),
        }
    }
}

/// Every operation of the library API, synchronously, repositories named per call.
pub trait Adapter: Send + Sync {
    fn push_path(&self, repo: &str, path: &Path, push: Push<'_>) -> R<Pushed>;
    fn push_reader(&self, repo: &str, data: &[u8], push: Push<'_>) -> R<Pushed>;
    fn pull(&self, repo: &str, digest: &Digest, expected_size: Option<u64>) -> R<Pulled>;
    fn blob_size(&self, repo: &str, digest: &Digest) -> R<u64>;
    fn blob_exists(&self, repo: &str, digest: &Digest) -> R<bool>;
    fn mount_blob(&self, repo: &str, from: &str, digest: &Digest) -> R<Digest>;
    fn del_blob(&self, repo: &str, digest: &Digest) -> R<()>;
    fn make_manifest(&self, repo: &str, digests: &[Digest]) -> R<String>;
    fn set_manifest(&self, repo: &str, alias: &str, manifest: &[u8]) -> R<Digest>;
    fn set_alias(&self, repo: &str, alias: &str, digests: &[Digest]) -> R<String>;
    fn get_alias(
        &self,
        repo: &str,
        alias: &str,
        platform: Option<&str>,
    ) -> R<PerPlatform<Vec<(Digest, u64)>>>;
    fn get_digest(&self, repo: &str, alias: &str, platform: Option<&str>)
        -> R<PerPlatform<Digest>>;
    fn get_manifest(
        &self,
        repo: &str,
        alias: &str,
        platform: Option<&str>,
    ) -> R<PerPlatform<Vec<u8>>>;
    fn read_manifest(&self, repo: &str, manifest: &[u8], options: ReadOptions) -> R<AliasManifest>;
    fn head_manifest(&self, repo: &str, alias: &str) -> R<ManifestInfo>;
    fn del_alias(&self, repo: &str, alias: &str) -> R<AliasManifest>;
    fn del_manifest(&self, repo: &str, digest: &Digest) -> R<()>;
    fn list_aliases(&self, repo: &str, page_size: Option<u32>) -> R<Vec<String>>;
    fn list_repos(&self, page_size: Option<u32>) -> R<Vec<String>>;
    fn version_check(&self) -> R<VersionInfo>;
    fn authenticate(&self, repo: Option<&str>, actions: &[&str]) -> R<Option<String>>;

    // OCI 1.1 artifacts and referrers.
    fn push_empty_config(&self, repo: &str) -> R<Pushed>;
    fn set_alias_oci(
        &self,
        repo: &str,
        alias: &str,
        blobs: &[(Digest, Option<String>)],
        options: &OciArtifactOptions,
    ) -> R<String>;
    fn attach(
        &self,
        repo: &str,
        alias: &str,
        blobs: &[BlobDescriptor],
        options: &OciArtifactOptions,
    ) -> R<Attached>;
    fn referrers(&self, repo: &str, alias: &str, artifact_type: Option<&str>) -> R<ReferrersList>;
}

/// A client of `kind` for `settings`.
pub fn connect(kind: Kind, settings: &Settings) -> Arc<dyn Adapter> {
    try_connect(kind, settings).unwrap()
}

/// A client of `kind` for `settings`, or why the settings are refused.
pub fn try_connect(kind: Kind, settings: &Settings) -> R<Arc<dyn Adapter>> {
    Ok(match kind {
        Kind::Ureq => Arc::new(dxf_ureq::Registry::new(&ureq_config(settings))?),
        Kind::Hyper => Arc::new(Hyper::new(hyper_config(settings))?),
    })
}

/// A client of `kind` for `settings`, as its own library type (for what [`Adapter`] does
/// not cover, e.g. reading a blob partly; used by tests/interrupts.rs).
#[allow(dead_code)]
pub enum Raw {
    Ureq(dxf_ureq::Registry),
    Hyper(Hyper),
}

/// [`Raw`] client of `kind` for `settings`.
#[allow(dead_code)]
pub fn connect_raw(kind: Kind, settings: &Settings) -> Raw {
    match kind {
        Kind::Ureq => Raw::Ureq(dxf_ureq::Registry::new(&ureq_config(settings)).unwrap()),
        Kind::Hyper => Raw::Hyper(Hyper::new(hyper_config(settings)).unwrap()),
    }
}

/// The config of adapter crate `$krate` (same field names in both) for `$settings`.
macro_rules! config_for {
    ($krate:ident, $settings:expr) => {{
        let settings: &Settings = $settings;
        let mut c = $krate::Config::new(&settings.host);
        c.insecure = settings.insecure;
        c.credentials = settings.credentials.clone();
        c.token = settings.token.clone();
        c.chunk_size = settings.chunk_size;
        c.retries = settings.retries;
        c.interrupt = settings.interrupt.clone();
        c.timeouts = settings
            .timeout
            .map_or_else(dxf_ureq::Timeouts::none, dxf_ureq::Timeouts::uniform);
        c.transport.tls = match &settings.tls {
            Tls::WebPki => $krate::TlsVerify::WebPki,
            Tls::CaBundle(ca) => $krate::TlsVerify::CaBundle(ca.clone()),
            Tls::Skip => $krate::TlsVerify::Skip,
        };
        c
    }};
}

/// dxf-ureq's config for `settings`.
pub fn ureq_config(settings: &Settings) -> dxf_ureq::Config {
    config_for!(dxf_ureq, settings)
}

/// dxf-hyper's config for `settings`.
pub fn hyper_config(settings: &Settings) -> dxf_hyper::Config {
    config_for!(dxf_hyper, settings)
}

fn read_all(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

impl Adapter for dxf_ureq::Registry {
    fn push_path(&self, repo: &str, path: &Path, push: Push<'_>) -> R<Pushed> {
        let options = dxf_ureq::PushOptions {
            skip_if_exists: push.skip_if_exists,
            digest: push.digest,
            mode: if push.chunked {
                UploadMode::Chunked
            } else {
                UploadMode::Monolithic
            },
            single_pass: push.single_pass,
            progress: push.progress.map(|p| p as _),
            resume_from: push.resume_from,
            on_checkpoint: push.on_checkpoint.map(|c| c as _),
        };
        Ok(self.repository(repo)?.push_blob_path(path, options)?)
    }
    fn push_reader(&self, repo: &str, data: &[u8], push: Push<'_>) -> R<Pushed> {
        let options = dxf_ureq::PushOptions {
            skip_if_exists: push.skip_if_exists,
            digest: push.digest,
            progress: push.progress.map(|p| p as _),
            ..dxf_ureq::PushOptions::default()
        };
        Ok(self
            .repository(repo)?
            .push_blob_reader(&mut &data[..], options)?)
    }
    fn pull(&self, repo: &str, digest: &Digest, expected_size: Option<u64>) -> R<Pulled> {
        let reader = self.repository(repo)?.pull_blob(digest, expected_size)?;
        Ok((reader.size(), read_all(reader)))
    }
    fn blob_size(&self, repo: &str, digest: &Digest) -> R<u64> {
        Ok(self.repository(repo)?.blob_size(digest)?)
    }
    fn blob_exists(&self, repo: &str, digest: &Digest) -> R<bool> {
        Ok(self.repository(repo)?.blob_exists(digest)?)
    }
    fn mount_blob(&self, repo: &str, from: &str, digest: &Digest) -> R<Digest> {
        Ok(self.repository(repo)?.mount_blob(from, digest)?)
    }
    fn del_blob(&self, repo: &str, digest: &Digest) -> R<()> {
        Ok(self.repository(repo)?.del_blob(digest)?)
    }
    fn make_manifest(&self, repo: &str, digests: &[Digest]) -> R<String> {
        Ok(self.repository(repo)?.make_manifest(digests)?)
    }
    fn set_manifest(&self, repo: &str, alias: &str, manifest: &[u8]) -> R<Digest> {
        Ok(self.repository(repo)?.set_manifest(alias, manifest)?)
    }
    fn set_alias(&self, repo: &str, alias: &str, digests: &[Digest]) -> R<String> {
        Ok(self.repository(repo)?.set_alias(alias, digests)?)
    }
    fn get_alias(
        &self,
        repo: &str,
        alias: &str,
        platform: Option<&str>,
    ) -> R<PerPlatform<Vec<(Digest, u64)>>> {
        Ok(self.repository(repo)?.get_alias(alias, platform)?)
    }
    fn get_digest(
        &self,
        repo: &str,
        alias: &str,
        platform: Option<&str>,
    ) -> R<PerPlatform<Digest>> {
        Ok(self.repository(repo)?.get_digest(alias, platform)?)
    }
    fn get_manifest(
        &self,
        repo: &str,
        alias: &str,
        platform: Option<&str>,
    ) -> R<PerPlatform<Vec<u8>>> {
        Ok(self.repository(repo)?.get_manifest(alias, platform)?)
    }
    fn read_manifest(&self, repo: &str, manifest: &[u8], options: ReadOptions) -> R<AliasManifest> {
        Ok(self
            .repository(repo)?
            .read_manifest(manifest.to_vec(), options)?)
    }
    fn head_manifest(&self, repo: &str, alias: &str) -> R<ManifestInfo> {
        Ok(self.repository(repo)?.head_manifest(alias)?)
    }
    fn del_alias(&self, repo: &str, alias: &str) -> R<AliasManifest> {
        Ok(self.repository(repo)?.del_alias(alias)?)
    }
    fn del_manifest(&self, repo: &str, digest: &Digest) -> R<()> {
        Ok(self.repository(repo)?.del_manifest(digest)?)
    }
    fn list_aliases(&self, repo: &str, page_size: Option<u32>) -> R<Vec<String>> {
        let names = self.repository(repo)?.list_aliases(page_size)?;
        Ok(names.collect::<Result<_, _>>()?)
    }
    fn list_repos(&self, page_size: Option<u32>) -> R<Vec<String>> {
        Ok(self.list_repos(page_size)?.collect::<Result<_, _>>()?)
    }
    fn version_check(&self) -> R<VersionInfo> {
        Ok(dxf_ureq::Registry::version_check(self)?)
    }
    fn authenticate(&self, repo: Option<&str>, actions: &[&str]) -> R<Option<String>> {
        Ok(dxf_ureq::Registry::authenticate(self, repo, actions)?)
    }

    fn push_empty_config(&self, repo: &str) -> R<Pushed> {
        Ok(self.repository(repo)?.push_empty_config()?)
    }
    fn set_alias_oci(
        &self,
        repo: &str,
        alias: &str,
        blobs: &[(Digest, Option<String>)],
        options: &OciArtifactOptions,
    ) -> R<String> {
        Ok(self
            .repository(repo)?
            .set_alias_oci(alias, blobs, options)?)
    }
    fn attach(
        &self,
        repo: &str,
        alias: &str,
        blobs: &[BlobDescriptor],
        options: &OciArtifactOptions,
    ) -> R<Attached> {
        Ok(self.repository(repo)?.attach(alias, blobs, options)?)
    }
    fn referrers(&self, repo: &str, alias: &str, artifact_type: Option<&str>) -> R<ReferrersList> {
        Ok(self.repository(repo)?.referrers(alias, artifact_type)?)
    }
}

/// dxf-hyper behind a private multi-thread runtime.
pub struct Hyper {
    pub rt: tokio::runtime::Runtime,
    pub registry: dxf_hyper::Registry,
}

impl Hyper {
    pub fn new(config: dxf_hyper::Config) -> R<Hyper> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Built outside the runtime on purpose: no runtime is needed until a request.
        let registry = dxf_hyper::Registry::new(&config)?;
        Ok(Hyper { rt, registry })
    }

    fn repo(&self, name: &str) -> R<dxf_hyper::Repository> {
        Ok(self.registry.repository(name)?)
    }
}

impl Adapter for Hyper {
    fn push_path(&self, repo: &str, path: &Path, push: Push<'_>) -> R<Pushed> {
        let options = dxf_hyper::PushOptions {
            skip_if_exists: push.skip_if_exists,
            digest: push.digest,
            mode: if push.chunked {
                UploadMode::Chunked
            } else {
                UploadMode::Monolithic
            },
            single_pass: push.single_pass,
            progress: push.progress,
            resume_from: push.resume_from,
            on_checkpoint: push.on_checkpoint,
        };
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.push_blob_path(path, options))?)
    }
    fn push_reader(&self, repo: &str, data: &[u8], push: Push<'_>) -> R<Pushed> {
        let options = dxf_hyper::PushOptions {
            skip_if_exists: push.skip_if_exists,
            digest: push.digest,
            progress: push.progress,
            ..dxf_hyper::PushOptions::default()
        };
        let repo = self.repo(repo)?;
        Ok(self
            .rt
            .block_on(repo.push_blob_reader(&mut &data[..], options))?)
    }
    fn pull(&self, repo: &str, digest: &Digest, expected_size: Option<u64>) -> R<Pulled> {
        let repo = self.repo(repo)?;
        self.rt.block_on(async {
            let mut reader = repo.pull_blob(digest, expected_size).await?;
            let mut data = Vec::new();
            let read = reader.read_to_end(&mut data).await.map(|_| data);
            Ok((reader.size(), read))
        })
    }
    fn blob_size(&self, repo: &str, digest: &Digest) -> R<u64> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.blob_size(digest))?)
    }
    fn blob_exists(&self, repo: &str, digest: &Digest) -> R<bool> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.blob_exists(digest))?)
    }
    fn mount_blob(&self, repo: &str, from: &str, digest: &Digest) -> R<Digest> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.mount_blob(from, digest))?)
    }
    fn del_blob(&self, repo: &str, digest: &Digest) -> R<()> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.del_blob(digest))?)
    }
    fn make_manifest(&self, repo: &str, digests: &[Digest]) -> R<String> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.make_manifest(digests))?)
    }
    fn set_manifest(&self, repo: &str, alias: &str, manifest: &[u8]) -> R<Digest> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.set_manifest(alias, manifest))?)
    }
    fn set_alias(&self, repo: &str, alias: &str, digests: &[Digest]) -> R<String> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.set_alias(alias, digests))?)
    }
    fn get_alias(
        &self,
        repo: &str,
        alias: &str,
        platform: Option<&str>,
    ) -> R<PerPlatform<Vec<(Digest, u64)>>> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.get_alias(alias, platform))?)
    }
    fn get_digest(
        &self,
        repo: &str,
        alias: &str,
        platform: Option<&str>,
    ) -> R<PerPlatform<Digest>> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.get_digest(alias, platform))?)
    }
    fn get_manifest(
        &self,
        repo: &str,
        alias: &str,
        platform: Option<&str>,
    ) -> R<PerPlatform<Vec<u8>>> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.get_manifest(alias, platform))?)
    }
    fn read_manifest(&self, repo: &str, manifest: &[u8], options: ReadOptions) -> R<AliasManifest> {
        let repo = self.repo(repo)?;
        Ok(self
            .rt
            .block_on(repo.read_manifest(manifest.to_vec(), options))?)
    }
    fn head_manifest(&self, repo: &str, alias: &str) -> R<ManifestInfo> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.head_manifest(alias))?)
    }
    fn del_alias(&self, repo: &str, alias: &str) -> R<AliasManifest> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.del_alias(alias))?)
    }
    fn del_manifest(&self, repo: &str, digest: &Digest) -> R<()> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.del_manifest(digest))?)
    }
    fn list_aliases(&self, repo: &str, page_size: Option<u32>) -> R<Vec<String>> {
        let names = self.repo(repo)?.list_aliases(page_size)?;
        Ok(self.rt.block_on(names.collect_all())?)
    }
    fn list_repos(&self, page_size: Option<u32>) -> R<Vec<String>> {
        let names = self.registry.list_repos(page_size)?;
        Ok(self.rt.block_on(names.collect_all())?)
    }
    fn version_check(&self) -> R<VersionInfo> {
        Ok(self.rt.block_on(self.registry.version_check())?)
    }
    fn authenticate(&self, repo: Option<&str>, actions: &[&str]) -> R<Option<String>> {
        Ok(self
            .rt
            .block_on(self.registry.authenticate(repo, actions))?)
    }

    fn push_empty_config(&self, repo: &str) -> R<Pushed> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.push_empty_config())?)
    }
    fn set_alias_oci(
        &self,
        repo: &str,
        alias: &str,
        blobs: &[(Digest, Option<String>)],
        options: &OciArtifactOptions,
    ) -> R<String> {
        let repo = self.repo(repo)?;
        Ok(self
            .rt
            .block_on(repo.set_alias_oci(alias, blobs, options))?)
    }
    fn attach(
        &self,
        repo: &str,
        alias: &str,
        blobs: &[BlobDescriptor],
        options: &OciArtifactOptions,
    ) -> R<Attached> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.attach(alias, blobs, options))?)
    }
    fn referrers(&self, repo: &str, alias: &str, artifact_type: Option<&str>) -> R<ReferrersList> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.referrers(alias, artifact_type))?)
    }
}

// ---- Copying and deleting one alias (`copy_to`, `del_alias_only`) -------------------------

/// The copy API and `del_alias_only`, on top of [`Adapter`].
pub trait CopyAdapter: Adapter {
    /// `del_alias_only` of the adapter.
    fn del_alias_only(&self, repo: &str, alias: &str) -> R<AliasManifest>;
    /// Copies `src_repo:src_alias` to `dst_repo[:dst_alias]` of this registry, or of the
    /// registry `to` describes (a client of the same adapter).
    fn copy(
        &self,
        src_repo: &str,
        src_alias: &str,
        to: Option<&Settings>,
        dst_repo: &str,
        dst_alias: Option<&str>,
        jobs: usize,
    ) -> R<dxf_ureq::CopyReport>;
}

/// A client of `kind` with the copy API.
pub fn connect_copy(kind: Kind, settings: &Settings) -> Arc<dyn CopyAdapter> {
    match kind {
        Kind::Ureq => Arc::new(ureq_registry(settings).unwrap()),
        Kind::Hyper => Arc::new(Hyper::new(hyper_config(settings)).unwrap()),
    }
}

/// dxf-ureq's registry for `settings`.
fn ureq_registry(settings: &Settings) -> R<dxf_ureq::Registry> {
    let mut c = dxf_ureq::Config::new(&settings.host);
    c.insecure = settings.insecure;
    c.credentials = settings.credentials.clone();
    c.token = settings.token.clone();
    c.chunk_size = settings.chunk_size;
    c.retries = settings.retries;
    c.timeouts = settings
        .timeout
        .map_or_else(dxf_ureq::Timeouts::none, dxf_ureq::Timeouts::uniform);
    c.transport.tls = match &settings.tls {
        Tls::WebPki => dxf_ureq::TlsVerify::WebPki,
        Tls::CaBundle(ca) => dxf_ureq::TlsVerify::CaBundle(ca.clone()),
        Tls::Skip => dxf_ureq::TlsVerify::Skip,
    };
    Ok(dxf_ureq::Registry::new(&c)?)
}

impl CopyAdapter for dxf_ureq::Registry {
    fn del_alias_only(&self, repo: &str, alias: &str) -> R<AliasManifest> {
        Ok(self.repository(repo)?.del_alias_only(alias)?)
    }
    fn copy(
        &self,
        src_repo: &str,
        src_alias: &str,
        to: Option<&Settings>,
        dst_repo: &str,
        dst_alias: Option<&str>,
        jobs: usize,
    ) -> R<dxf_ureq::CopyReport> {
        let dst = match to {
            Some(settings) => ureq_registry(settings)?.repository(dst_repo)?,
            None => self.repository(dst_repo)?,
        };
        let options = dxf_ureq::CopyOptions { jobs };
        Ok(self
            .repository(src_repo)?
            .copy_to(src_alias, &dst, dst_alias, &options)?)
    }
}

impl CopyAdapter for Hyper {
    fn del_alias_only(&self, repo: &str, alias: &str) -> R<AliasManifest> {
        let repo = self.repo(repo)?;
        Ok(self.rt.block_on(repo.del_alias_only(alias))?)
    }
    fn copy(
        &self,
        src_repo: &str,
        src_alias: &str,
        to: Option<&Settings>,
        dst_repo: &str,
        dst_alias: Option<&str>,
        jobs: usize,
    ) -> R<dxf_ureq::CopyReport> {
        let dst = match to {
            Some(settings) => {
                dxf_hyper::Registry::new(&hyper_config(settings))?.repository(dst_repo)?
            }
            None => self.repo(dst_repo)?,
        };
        let src = self.repo(src_repo)?;
        let options = dxf_hyper::CopyOptions { jobs };
        Ok(self
            .rt
            .block_on(src.copy_to(src_alias, &dst, dst_alias, &options))?)
    }
}
