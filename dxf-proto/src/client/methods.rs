//! The thin methods both clients share, written once: [`repository_methods!`] expands into
//! `dxf_ureq::Repository` as blocking methods and into `dxf_hyper::Repository` as `async`
//! ones. Each builds a dxf-proto operation or [`Flow`](super::Flow) and runs it with the
//! adapter's own `run` / `Registry::run_flow`; nothing else differs between the adapters.

/// Expands, inside an adapter's `impl Registry`, to the registry methods both adapters
/// share: `registry_methods!()` for blocking ones, `registry_methods!(async await)` for
/// `async` ones. The adapter provides `pub fn run<O>(&self, op: O)` (blocking or async),
/// `self.shared.session` (a `Mutex<Session>`), `self.shared.interrupt`,
/// `crate::driver::now()` and the `Result` alias in scope.
#[doc(hidden)]
#[macro_export]
macro_rules! registry_methods {
    ($now:path; $($async:ident $await:ident)?) => {
        /// Runs a compound operation ([`Flow`](dxf_proto::client::Flow)), each of its
        /// operations as [`run`](Self::run).
        pub $($async)? fn run_flow<F: $crate::client::Flow>(&self, mut flow: F) -> Result<F::Output> {
            let mut last = None;
            loop {
                match flow.step(last.take())? {
                    $crate::client::FlowStep::Run(op) => last = Some(self.run(op)$(.$await)*?),
                    $crate::client::FlowStep::Done(output) => return Ok(output),
                }
            }
        }

        /// A snapshot of the session operations are built from (tokens, hints, limits).
        pub fn session(&self) -> $crate::Session {
            self.shared.session.snapshot()
        }

        /// `GET /v2/`.
        pub $($async)? fn version_check(&self) -> Result<$crate::VersionInfo> {
            self.run($crate::VersionCheck::new(&self.session())?)$(.$await)*
        }

        /// Authenticates (python-dxf `authenticate`): with `actions`, for exactly
        /// `repository:<repo>:<actions>`; otherwise for whatever the registry's challenge
        /// asks. Returns the bearer token when the registry uses tokens, `None` for Basic
        /// or anonymous registries.
        pub $($async)? fn authenticate(
            &self,
            repo: Option<&str>,
            actions: &[&str],
        ) -> Result<Option<String>> {
            let (op, scope) = $crate::client::authentication(&self.session(), repo, actions)?;
            self.run(op)$(.$await)*?;
            let session = self.session();
            Ok(session.bearer_token(&scope, $now()).map(str::to_owned))
        }

        /// What this registry's uploads taught so far (a chunk size it refused, chunked
        /// uploads refused), to keep for a later process
        /// ([`learn_upload_hints`](Self::learn_upload_hints)).
        pub fn upload_hints(&self) -> $crate::UploadHints {
            self.session().upload_hints()
        }

        /// Adopts upload hints an earlier process learned about this registry.
        pub fn learn_upload_hints(&self, hints: $crate::UploadHints) {
            self.shared.session.with(|s| s.learn_upload_hints(hints));
        }

        /// The interrupt this registry's transfers obey
        /// ([`Config::interrupt`](dxf_proto::client::Config::interrupt)).
        pub fn interrupt(&self) -> &$crate::Interrupt {
            &self.shared.interrupt
        }

        /// Sets (or clears) the bearer token used as-is for every request (python-dxf
        /// `token`).
        pub fn set_token(&self, token: Option<String>) {
            self.shared.session.with(|s| s.set_token(token));
        }
    };
}

/// Expands, inside an adapter's `impl Repository`, to the methods that only build and run
/// an operation or a flow: `repository_methods!()` for blocking ones,
/// `repository_methods!(async await)` for `async` ones, with the accessors they use. The
/// adapter's `Repository` has the fields `registry: Registry` and `name`; its `Registry`
/// has `shared: Arc<Shared>` and the methods `registry_methods!` makes; `Shared` and the
/// `Result` alias are in scope.
#[doc(hidden)]
#[macro_export]
macro_rules! repository_methods {
    ($($async:ident $await:ident)?) => {
        pub(crate) fn shared(&self) -> &std::sync::Arc<Shared> {
            &self.registry.shared
        }

        pub(crate) fn session(&self) -> $crate::Session {
            self.registry.session()
        }

        $($async)? fn run<O: $crate::Operation + $crate::Scoped>(&self, op: O) -> Result<O::Output> {
            self.registry.run(op)$(.$await)*
        }

        /// The repository name (with any `library/` prefix applied).
        pub fn name(&self) -> &$crate::Repository {
            &self.name
        }

        /// The registry this repository belongs to.
        pub fn registry(&self) -> &Registry {
            &self.registry
        }

        /// The size of a blob (python-dxf `blob_size`).
        pub $($async)? fn blob_size(&self, digest: &$crate::Digest) -> Result<u64> {
            let op = $crate::HeadBlob::new(&self.session(), &self.name, digest)?;
            let info = self.run(op)$(.$await)*;
            Ok(info?.size)
        }

        /// Whether a blob exists.
        pub $($async)? fn blob_exists(&self, digest: &$crate::Digest) -> Result<bool> {
            match self.blob_size(digest)$(.$await)* {
                Ok(_) => Ok(true),
                Err(e) if matches!(e.proto(), Some($crate::Error::NotFound { .. })) => Ok(false),
                Err(e) => Err(e),
            }
        }

        /// Mounts `digest` from repository `from` (python-dxf `mount_blob`); a registry
        /// that opens an upload instead is [`dxf_proto::Error::MountFailed`] (the session
        /// is cancelled).
        pub $($async)? fn mount_blob(
            &self,
            from: &str,
            digest: &$crate::Digest,
        ) -> Result<$crate::Digest> {
            let session = self.session();
            let from = session.repository(from)?;
            let options = $crate::MountOptions::default();
            let op = $crate::MountBlob::new(&session, &self.name, &from, digest, options)?;
            self.run(op)$(.$await)*
        }

        /// Deletes a blob (python-dxf `del_blob`).
        pub $($async)? fn del_blob(&self, digest: &$crate::Digest) -> Result<()> {
            let op = $crate::DeleteBlob::new(&self.session(), &self.name, digest)?;
            self.run(op)$(.$await)*
        }

        /// python-dxf's alias manifest for these blobs (sizes from a HEAD of each), byte
        /// for byte what python-dxf's `make_manifest` produces.
        pub $($async)? fn make_manifest(&self, digests: &[$crate::Digest]) -> Result<String> {
            let session = self.session();
            let flow = $crate::client::SetAlias::docker(&session, &self.name, None, digests)?;
            self.registry.run_flow(flow)$(.$await)*
        }

        /// Stores `manifest` under `alias` (python-dxf `set_manifest`); returns its digest.
        pub $($async)? fn set_manifest(
            &self,
            alias: &str,
            manifest: &[u8],
        ) -> Result<$crate::Digest> {
            let alias = $crate::Reference::parse(alias)?;
            let body = manifest.to_vec();
            let op = $crate::PutManifest::new(&self.session(), &self.name, &alias, body)?;
            self.run(op)$(.$await)*
        }

        /// Points `alias` at these blobs (python-dxf `set_alias`); returns the manifest
        /// JSON.
        pub $($async)? fn set_alias(
            &self,
            alias: &str,
            digests: &[$crate::Digest],
        ) -> Result<String> {
            let (session, alias) = (self.session(), Some(alias));
            let flow = $crate::client::SetAlias::docker(&session, &self.name, alias, digests)?;
            self.registry.run_flow(flow)$(.$await)*
        }

        /// Reads an alias with full control (see [`ReadOptions`](dxf_proto::ReadOptions)).
        pub $($async)? fn read_alias(
            &self,
            alias: &str,
            options: $crate::ReadOptions,
        ) -> Result<$crate::AliasManifest> {
            let alias = $crate::Reference::parse(alias)?;
            let op = $crate::ReadAlias::new(&self.session(), &self.name, &alias, options)?;
            self.run(op)$(.$await)*
        }

        /// Reads a manifest the caller already has (python-dxf `get_alias(manifest=…)`,
        /// the CLI's stdin): nothing is fetched for it; an index has its platforms resolved
        /// from this repository as `options` says.
        pub $($async)? fn read_manifest(
            &self,
            manifest: Vec<u8>,
            options: $crate::ReadOptions,
        ) -> Result<$crate::AliasManifest> {
            let session = self.session();
            let op = $crate::ReadAlias::from_manifest(&session, &self.name, manifest, options)?;
            self.run(op)$(.$await)*
        }

        /// The blobs (digest, size) an alias names, per platform for a multi-arch alias
        /// unless `platform` picks one (python-dxf `get_alias(sizes=True)`).
        pub $($async)? fn get_alias(
            &self,
            alias: &str,
            platform: Option<&str>,
        ) -> Result<$crate::PerPlatform<Vec<($crate::Digest, u64)>>> {
            let options = $crate::ReadOptions::resolved(platform);
            let manifest = self.read_alias(alias, options)$(.$await)*?;
            Ok(manifest.try_layers().map_err($crate::Error::from)?)
        }

        /// The config digest (python-dxf `get_digest`; for dxf aliases, the first blob).
        pub $($async)? fn get_digest(
            &self,
            alias: &str,
            platform: Option<&str>,
        ) -> Result<$crate::PerPlatform<$crate::Digest>> {
            let options = $crate::ReadOptions::resolved(platform);
            let manifest = self.read_alias(alias, options)$(.$await)*?;
            Ok(manifest.try_config_digest().map_err($crate::Error::from)?)
        }

        /// The manifest body as received (python-dxf `get_manifest`).
        pub $($async)? fn get_manifest(
            &self,
            alias: &str,
            platform: Option<&str>,
        ) -> Result<$crate::PerPlatform<Vec<u8>>> {
            let options = $crate::ReadOptions::resolved(platform);
            Ok(self.read_alias(alias, options)$(.$await)*?.bodies())
        }

        /// Digest, size and media type of an alias's manifest without its body.
        pub $($async)? fn head_manifest(&self, alias: &str) -> Result<$crate::ManifestInfo> {
            let alias = $crate::Reference::parse(alias)?;
            let op = $crate::HeadManifest::new(&self.session(), &self.name, &alias)?;
            self.run(op)$(.$await)*
        }

        /// Deletes an alias's manifest **by digest** (python-dxf `del_alias`: every alias
        /// on that manifest goes too) and returns what it listed.
        pub $($async)? fn del_alias(&self, alias: &str) -> Result<$crate::AliasManifest> {
            let flow = $crate::client::DeleteAlias::by_digest(&self.session(), &self.name, alias)?;
            self.registry.run_flow(flow)$(.$await)*
        }

        /// Deletes only `alias`: the manifest and its other aliases stay (dxf-proto's
        /// [`DeleteTag`](dxf_proto::DeleteTag): the tag `DELETE` of the distribution spec,
        /// else re-pointing the tag at a throw-away manifest that is then deleted).
        /// Returns the manifest the alias named.
        pub $($async)? fn del_alias_only(&self, alias: &str) -> Result<$crate::AliasManifest> {
            let flow = $crate::client::DeleteAlias::only(&self.session(), &self.name, alias)?;
            self.registry.run_flow(flow)$(.$await)*
        }

        /// Deletes a manifest by digest.
        pub $($async)? fn del_manifest(&self, digest: &$crate::Digest) -> Result<()> {
            let by_digest = $crate::Reference::Digest(digest.clone());
            let op = $crate::DeleteManifest::new(&self.session(), &self.name, &by_digest)?;
            self.run(op)$(.$await)*
        }

        /// Pushes the OCI empty config (`{}`), which artifact manifests name as their
        /// config.
        pub $($async)? fn push_empty_config(&self) -> Result<$crate::Pushed> {
            let op = $crate::Upload::empty_config(&self.session(), &self.name)?;
            self.run(op)$(.$await)*
        }

        /// An OCI artifact manifest for these blobs (sizes from a HEAD of each; a title
        /// becomes the layer's `org.opencontainers.image.title`), over the empty config.
        pub $($async)? fn make_oci_manifest(
            &self,
            blobs: &[($crate::Digest, Option<String>)],
            options: &$crate::manifest::alias::OciArtifactOptions,
        ) -> Result<String> {
            let session = self.session();
            let flow = $crate::client::SetAlias::oci(&session, &self.name, None, blobs, options)?;
            self.registry.run_flow(flow)$(.$await)*
        }

        /// Points `alias` at these blobs with an OCI artifact manifest (the empty config is
        /// pushed first); returns the manifest JSON.
        pub $($async)? fn set_alias_oci(
            &self,
            alias: &str,
            blobs: &[($crate::Digest, Option<String>)],
            options: &$crate::manifest::alias::OciArtifactOptions,
        ) -> Result<String> {
            let (session, alias) = (self.session(), Some(alias));
            let flow = $crate::client::SetAlias::oci(&session, &self.name, alias, blobs, options)?;
            self.registry.run_flow(flow)$(.$await)*
        }

        /// Points `alias` at an OCI artifact manifest over `layers` given whole (media
        /// types, sizes and annotations known: the files and directories of `dxf push`,
        /// [`file_layer`]($crate::client::file_layer),
        /// [`directory_layer`]($crate::client::directory_layer)), pushing the empty config
        /// first when the registry lacks it. Returns the manifest stored.
        pub $($async)? fn set_alias_layers(
            &self,
            alias: &str,
            layers: Vec<$crate::manifest::parse::Descriptor>,
            options: &$crate::manifest::alias::OciArtifactOptions,
        ) -> Result<String> {
            let (session, alias) = (self.session(), Some(alias));
            let flow =
                $crate::client::SetAlias::oci_layers(&session, &self.name, alias, layers, options)?;
            self.registry.run_flow(flow)$(.$await)*
        }

        /// Attaches an artifact made of `blobs` to `alias` (its manifest's `subject`), and
        /// lists it in the referrers index where the registry has no referrers API.
        pub $($async)? fn attach(
            &self,
            alias: &str,
            blobs: &[$crate::manifest::alias::BlobDescriptor],
            options: &$crate::manifest::alias::OciArtifactOptions,
        ) -> Result<$crate::Attached> {
            let session = self.session();
            let flow =
                $crate::client::AttachArtifact::new(&session, &self.name, alias, blobs, options)?;
            self.registry.run_flow(flow)$(.$await)*
        }

        /// Lists `referrer` (a manifest of this repository whose subject is `subject`) in
        /// the referrers tag schema's index of `subject`, for a registry without the
        /// referrers API ([`Attach::register`]($crate::Attach::register)).
        pub $($async)? fn register_referrer(
            &self,
            subject: &$crate::Digest,
            referrer: &$crate::manifest::parse::Descriptor,
        ) -> Result<$crate::Attached> {
            let op = $crate::Attach::register(&self.session(), &self.name, subject, referrer)?;
            self.run(op)$(.$await)*
        }

        /// The artifacts that refer to `alias`'s manifest, optionally of one artifact type.
        pub $($async)? fn referrers(
            &self,
            alias: &str,
            artifact_type: Option<&str>,
        ) -> Result<$crate::ReferrersList> {
            let subject = $crate::Reference::parse(alias)?;
            let op =
                $crate::Referrers::new(&self.session(), &self.name, &subject, artifact_type)?;
            self.run(op)$(.$await)*
        }
    };
}
