//! The adapter-neutral client the scenarios are written against: [`Adapter`], implemented
//! by dxf-ureq directly and by dxf-hyper through a tokio runtime's `block_on`.
//!
//! Both adapters share one `Config`, `Error` and `PushOptions` (dxf-proto's `client`), and
//! their `Repository` and `Registry` methods have the same names and arguments, blocking or
//! `async`. So each operation that is one such call is listed once ([`adapter_ops!`]),
//! declared in the trait and implemented for both adapters from that list; only how a call
//! is waited for differs ([`Wait`]). What is written by hand per adapter is what really
//! differs: reading a pulled blob, collecting listed names, and copying.

use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dxf_tests::{Mode, TestRegistry};
use dxf_ureq::dxf_proto::manifest::alias::{BlobDescriptor, OciArtifactOptions};
use dxf_ureq::dxf_proto::manifest::parse::Descriptor;
use dxf_ureq::dxf_proto::{
    AliasManifest, Attached, Credentials, Digest, Error as ProtoError, Interrupt, ManifestInfo,
    PerPlatform, Pushed, ReadOptions, ReferrersList, RetryPolicy, UploadCheckpoint, UploadMode,
    VersionInfo,
};
use dxf_ureq::{Config, CopyOptions, CopyReport, PushOptions, TlsVerify};
use tokio::io::AsyncReadExt;

/// Which adapter a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Ureq,
    Hyper,
}

/// An adapter's error, reduced to what scenarios check.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) proto: Option<ProtoError>,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn proto(&self) -> Option<&ProtoError> {
        self.proto.as_ref()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

// dxf_hyper::Error is the same type: one client error for both adapters.
impl From<dxf_ureq::Error> for Failure {
    fn from(e: dxf_ureq::Error) -> Failure {
        Failure {
            proto: e.proto().cloned(),
            message: e.to_string(),
        }
    }
}

pub(crate) type R<T> = Result<T, Failure>;

/// The reader a pull returned: its announced size, then what reading it to the end gave.
pub(crate) type Pulled = (Option<u64>, std::io::Result<Vec<u8>>);

/// Push choices, the same for both adapters.
#[derive(Default)]
pub(crate) struct Push<'a> {
    pub(crate) skip_if_exists: bool,
    pub(crate) digest: Option<Digest>,
    pub(crate) chunked: bool,
    pub(crate) single_pass: bool,
    pub(crate) progress: Option<dxf_ureq::ProgressFn<'a>>,
    pub(crate) resume_from: Option<UploadCheckpoint>,
    pub(crate) on_checkpoint: Option<&'a mut (dyn FnMut(&UploadCheckpoint) + Send)>,
}

impl<'a> Push<'a> {
    /// python-dxf's defaults.
    pub(crate) fn new() -> Push<'a> {
        Push {
            skip_if_exists: true,
            ..Push::default()
        }
    }

    /// The options of a push from a file.
    fn options(self) -> PushOptions<'a> {
        PushOptions {
            skip_if_exists: self.skip_if_exists,
            digest: self.digest,
            mode: if self.chunked {
                UploadMode::Chunked
            } else {
                UploadMode::Monolithic
            },
            single_pass: self.single_pass,
            progress: self.progress,
            resume_from: self.resume_from,
            on_checkpoint: self.on_checkpoint,
        }
    }

    /// The options of a push from a reader (the rest are for files).
    fn stream_options(self) -> PushOptions<'a> {
        PushOptions {
            skip_if_exists: self.skip_if_exists,
            digest: self.digest,
            progress: self.progress,
            ..PushOptions::default()
        }
    }
}

/// Certificate verification, the same for both adapters.
#[derive(Clone, Debug)]
pub(crate) enum Tls {
    WebPki,
    CaBundle(PathBuf),
    Skip,
}

/// Connection settings, the same for both adapters.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) host: String,
    pub(crate) insecure: bool,
    pub(crate) tls: Tls,
    pub(crate) credentials: Credentials,
    pub(crate) token: Option<String>,
    pub(crate) chunk_size: Option<u64>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retries: RetryPolicy,
    pub(crate) interrupt: Interrupt,
    pub(crate) blob_cache: Option<dxf_ureq::dxf_proto::BlobCache>,
}

impl Settings {
    /// What a user of `reg` would configure (1 MiB chunks to exercise chunking).
    pub(crate) fn for_registry(reg: &TestRegistry) -> Settings {
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
            blob_cache: None,
        }
    }
}

/// The config of both adapters for `settings` (one `Config` type serves both).
pub(crate) fn ureq_config(settings: &Settings) -> Config {
    let mut c = Config::new(&settings.host);
    c.insecure = settings.insecure;
    c.credentials = settings.credentials.clone();
    c.token = settings.token.clone();
    c.chunk_size = settings.chunk_size;
    c.retries = settings.retries;
    c.interrupt = settings.interrupt.clone();
    c.blob_cache = settings.blob_cache.clone();
    c.timeouts = settings
        .timeout
        .map_or_else(dxf_ureq::Timeouts::none, dxf_ureq::Timeouts::uniform);
    c.transport.tls = match &settings.tls {
        Tls::WebPki => TlsVerify::WebPki,
        Tls::CaBundle(ca) => TlsVerify::CaBundle(ca.clone()),
        Tls::Skip => TlsVerify::Skip,
    };
    c
}

/// dxf-hyper's config for `settings`: [`ureq_config`], the type being the same.
pub(crate) fn hyper_config(settings: &Settings) -> dxf_hyper::Config {
    ureq_config(settings)
}

/// The operations of [`Adapter`] written once for both adapters, handed to `expand!` with
/// `$mode` `declare` (inside the trait) or `define` (inside each adapter's impl). Most are one
/// call of the adapter's own `Repository` method (the trait method's first argument names the
/// repository) or `Registry` method, listed as `fn trait_method(arguments) -> output =>
/// library_method(call arguments);`; `other` ones are whole methods written against
/// [`Library`] and [`Wait`].
macro_rules! adapter_ops {
    ($mode:ident) => {
        expand! {
            $mode
            repository {
                fn push_path(path: &Path, push: Push<'_>) -> Pushed
                    => push_blob_path(path, push.options());
                fn push_reader(data: &[u8], push: Push<'_>) -> Pushed
                    => push_blob_reader(&mut &data[..], push.stream_options());
                fn blob_size(digest: &Digest) -> u64 => blob_size(digest);
                fn blob_exists(digest: &Digest) -> bool => blob_exists(digest);
                fn mount_blob(from: &str, digest: &Digest) -> Digest => mount_blob(from, digest);
                fn del_blob(digest: &Digest) -> () => del_blob(digest);
                fn make_manifest(digests: &[Digest]) -> String => make_manifest(digests);
                fn set_manifest(alias: &str, manifest: &[u8]) -> Digest
                    => set_manifest(alias, manifest);
                fn set_alias(alias: &str, digests: &[Digest]) -> String
                    => set_alias(alias, digests);
                fn get_alias(alias: &str, platform: Option<&str>)
                    -> PerPlatform<Vec<(Digest, u64)>> => get_alias(alias, platform);
                fn get_digest(alias: &str, platform: Option<&str>) -> PerPlatform<Digest>
                    => get_digest(alias, platform);
                fn get_manifest(alias: &str, platform: Option<&str>) -> PerPlatform<Vec<u8>>
                    => get_manifest(alias, platform);
                fn read_manifest(manifest: &[u8], options: ReadOptions) -> AliasManifest
                    => read_manifest(manifest.to_vec(), options);
                fn head_manifest(alias: &str) -> ManifestInfo => head_manifest(alias);
                fn del_alias(alias: &str) -> AliasManifest => del_alias(alias);
                fn del_manifest(digest: &Digest) -> () => del_manifest(digest);
                // OCI 1.1 artifacts and referrers.
                fn push_empty_config() -> Pushed => push_empty_config();
                fn set_alias_oci(
                    alias: &str,
                    blobs: &[(Digest, Option<String>)],
                    options: &OciArtifactOptions
                ) -> String => set_alias_oci(alias, blobs, options);
                fn set_alias_layers(
                    alias: &str,
                    layers: &[Descriptor],
                    options: &OciArtifactOptions
                ) -> String => set_alias_layers(alias, layers.to_vec(), options);
                fn attach(alias: &str, blobs: &[BlobDescriptor], options: &OciArtifactOptions)
                    -> Attached => attach(alias, blobs, options);
                fn referrers(alias: &str, artifact_type: Option<&str>) -> ReferrersList
                    => referrers(alias, artifact_type);
            }
            registry {
                fn version_check() -> VersionInfo => version_check();
                fn authenticate(repo: Option<&str>, actions: &[&str]) -> Option<String>
                    => authenticate(repo, actions);
            }
            other {}
        }
    };
}

/// [`CopyAdapter`]'s operations, as [`adapter_ops!`].
macro_rules! copy_ops {
    ($mode:ident) => {
        expand! {
            $mode
            repository {
                fn del_alias_only(alias: &str) -> AliasManifest => del_alias_only(alias);
            }
            registry {}
            other {
                /// Copies `src_repo:src_alias` to `dst_repo[:dst_alias]` of this registry,
                /// or of the registry `to` describes (a client of the same adapter).
                fn copy(
                    &self,
                    src_repo: &str,
                    src_alias: &str,
                    to: Option<&Settings>,
                    dst_repo: &str,
                    dst_alias: Option<&str>,
                    jobs: usize,
                ) -> R<CopyReport> {
                    let dst = match to {
                        Some(settings) => Self::open(settings)?,
                        None => self.library().clone(),
                    };
                    let src = self.library().repository(src_repo)?;
                    let options = CopyOptions {
                        jobs,
                        ..CopyOptions::default()
                    };
                    let dst = dst.repository(dst_repo)?;
                    Ok(self.wait(src.copy_to(src_alias, &dst, dst_alias, &options))?)
                }
                /// [`copy`](Self::copy) with every referrer, recursively (`--referrers`).
                fn copy_with_referrers(
                    &self,
                    src_repo: &str,
                    src_alias: &str,
                    to: Option<&Settings>,
                    dst_repo: &str,
                ) -> R<CopyReport> {
                    let dst = match to {
                        Some(settings) => Self::open(settings)?,
                        None => self.library().clone(),
                    };
                    let src = self.library().repository(src_repo)?;
                    let options = CopyOptions {
                        referrers: true,
                        ..CopyOptions::default()
                    };
                    let dst = dst.repository(dst_repo)?;
                    Ok(self.wait(src.copy_to(src_alias, &dst, None, &options))?)
                }
            }
        }
    };
}

/// Expands an operation list ([`adapter_ops!`]) to trait method declarations (`declare`) or
/// to their implementations (`define`).
macro_rules! expand {
    (
        $mode:ident
        repository { $(
            fn $op:ident($($arg:ident: $ty:ty),*) -> $out:ty
                => $call:ident($($e:expr),*);
        )* }
        registry { $(
            fn $rop:ident($($rarg:ident: $rty:ty),*) -> $rout:ty
                => $rcall:ident($($re:expr),*);
        )* }
        other { $($(#[$doc:meta])* fn $name:ident $params:tt -> $result:ty $body:block)* }
    ) => {
        $(expand! { @$mode fn $op(&self, repo: &str, $($arg: $ty),*) -> R<$out> {
            let repo = self.library().repository(repo)?;
            Ok(self.wait(repo.$call($($e),*))?)
        } })*
        $(expand! { @$mode fn $rop(&self, $($rarg: $rty),*) -> R<$rout> {
            Ok(self.wait(self.library().$rcall($($re),*))?)
        } })*
        $(expand! { @$mode $(#[$doc])* fn $name $params -> $result $body })*
    };
    (@declare $(#[$doc:meta])* fn $name:ident $params:tt -> $out:ty $body:block) => {
        $(#[$doc])* fn $name $params -> $out;
    };
    (@define $(#[$doc:meta])* fn $name:ident $params:tt -> $out:ty $body:block) => {
        fn $name $params -> $out $body
    };
}

/// Every operation of the library API, synchronously, repositories named per call.
pub(crate) trait Adapter: Send + Sync {
    adapter_ops!(declare);
    fn pull(&self, repo: &str, digest: &Digest, expected_size: Option<u64>) -> R<Pulled>;
    fn list_aliases(&self, repo: &str, page_size: Option<u32>) -> R<Vec<String>>;
    fn list_repos(&self, page_size: Option<u32>) -> R<Vec<String>>;
}

/// The copy API and `del_alias_only`, on top of [`Adapter`].
pub(crate) trait CopyAdapter: Adapter {
    copy_ops!(declare);
}

/// An adapter's own registry type, which the shared operations call.
trait Library {
    type Registry: Clone;
    /// The registry of `settings`.
    fn open(settings: &Settings) -> R<Self::Registry>;
    /// This client's registry.
    fn library(&self) -> &Self::Registry;
}

/// How an adapter waits for a call: dxf-ureq's calls are their result, dxf-hyper's a future.
trait Wait<Call> {
    type Output;
    fn wait(&self, call: Call) -> Self::Output;
}

/// A client of `kind` for `settings`.
pub(crate) fn connect(kind: Kind, settings: &Settings) -> Arc<dyn Adapter> {
    try_connect(kind, settings).unwrap()
}

/// A client of `kind` for `settings`, or why the settings are refused.
pub(crate) fn try_connect(kind: Kind, settings: &Settings) -> R<Arc<dyn Adapter>> {
    Ok(match kind {
        Kind::Ureq => Arc::new(dxf_ureq::Registry::open(settings)?),
        Kind::Hyper => Arc::new(Hyper::new(hyper_config(settings))?),
    })
}

/// A client of `kind` with the copy API.
pub(crate) fn connect_copy(kind: Kind, settings: &Settings) -> Arc<dyn CopyAdapter> {
    match kind {
        Kind::Ureq => Arc::new(dxf_ureq::Registry::open(settings).unwrap()),
        Kind::Hyper => Arc::new(Hyper::new(hyper_config(settings)).unwrap()),
    }
}

/// A client of `kind` for `settings`, as its own library type (for what [`Adapter`] does
/// not cover, e.g. reading a blob partly; used by tests/interrupts.rs).
#[allow(dead_code)]
pub(crate) enum Raw {
    Ureq(dxf_ureq::Registry),
    Hyper(Hyper),
}

/// [`Raw`] client of `kind` for `settings`.
#[allow(dead_code)]
pub(crate) fn connect_raw(kind: Kind, settings: &Settings) -> Raw {
    match kind {
        Kind::Ureq => Raw::Ureq(dxf_ureq::Registry::open(settings).unwrap()),
        Kind::Hyper => Raw::Hyper(Hyper::new(hyper_config(settings)).unwrap()),
    }
}

// ---- dxf-ureq ---------------------------------------------------------------------------

impl Library for dxf_ureq::Registry {
    type Registry = dxf_ureq::Registry;
    fn open(settings: &Settings) -> R<dxf_ureq::Registry> {
        Ok(dxf_ureq::Registry::new(&ureq_config(settings))?)
    }
    fn library(&self) -> &dxf_ureq::Registry {
        self
    }
}

impl<T> Wait<T> for dxf_ureq::Registry {
    type Output = T;
    fn wait(&self, call: T) -> T {
        call
    }
}

impl Adapter for dxf_ureq::Registry {
    adapter_ops!(define);

    fn pull(&self, repo: &str, digest: &Digest, expected_size: Option<u64>) -> R<Pulled> {
        let mut reader = self.repository(repo)?.pull_blob(digest, expected_size)?;
        let mut data = Vec::new();
        let read = reader.read_to_end(&mut data).map(|_| data);
        Ok((reader.size(), read))
    }
    fn list_aliases(&self, repo: &str, page_size: Option<u32>) -> R<Vec<String>> {
        let names = self.repository(repo)?.list_aliases(page_size)?;
        Ok(names.collect::<Result<_, _>>()?)
    }
    fn list_repos(&self, page_size: Option<u32>) -> R<Vec<String>> {
        Ok(self.list_repos(page_size)?.collect::<Result<_, _>>()?)
    }
}

impl CopyAdapter for dxf_ureq::Registry {
    copy_ops!(define);
}

// ---- dxf-hyper --------------------------------------------------------------------------

/// dxf-hyper behind a private multi-thread runtime.
pub(crate) struct Hyper {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) registry: dxf_hyper::Registry,
}

impl Hyper {
    pub(crate) fn new(config: dxf_hyper::Config) -> R<Hyper> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Built outside the runtime on purpose: no runtime is needed until a request.
        let registry = dxf_hyper::Registry::new(&config)?;
        Ok(Hyper { rt, registry })
    }
}

impl Library for Hyper {
    type Registry = dxf_hyper::Registry;
    fn open(settings: &Settings) -> R<dxf_hyper::Registry> {
        Ok(dxf_hyper::Registry::new(&hyper_config(settings))?)
    }
    fn library(&self) -> &dxf_hyper::Registry {
        &self.registry
    }
}

impl<F: Future> Wait<F> for Hyper {
    type Output = F::Output;
    fn wait(&self, call: F) -> F::Output {
        self.rt.block_on(call)
    }
}

impl Adapter for Hyper {
    adapter_ops!(define);

    fn pull(&self, repo: &str, digest: &Digest, expected_size: Option<u64>) -> R<Pulled> {
        let repo = self.registry.repository(repo)?;
        self.rt.block_on(async {
            let mut reader = repo.pull_blob(digest, expected_size).await?;
            let mut data = Vec::new();
            let read = reader.read_to_end(&mut data).await.map(|_| data);
            Ok((reader.size(), read))
        })
    }
    fn list_aliases(&self, repo: &str, page_size: Option<u32>) -> R<Vec<String>> {
        let names = self.registry.repository(repo)?.list_aliases(page_size)?;
        Ok(self.rt.block_on(names.collect_all())?)
    }
    fn list_repos(&self, page_size: Option<u32>) -> R<Vec<String>> {
        let names = self.registry.list_repos(page_size)?;
        Ok(self.rt.block_on(names.collect_all())?)
    }
}

impl CopyAdapter for Hyper {
    copy_ops!(define);
}
