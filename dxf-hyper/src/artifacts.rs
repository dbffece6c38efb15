//! OCI 1.1 artifacts on a [`Repository`]: alias manifests in the OCI artifact form
//! ([`Repository::set_alias_oci`]), artifacts attached to an alias through `subject`
//! ([`Repository::attach`]) and the referrers of an alias ([`Repository::referrers`]).
//! Every decision (the manifest bytes, the empty config, the referrers API and its tag
//! schema fallback) is dxf-proto's; this file runs its operations.

use dxf_proto::manifest::alias::{oci_artifact_manifest, BlobDescriptor, OciArtifactOptions};
use dxf_proto::{Attach, Attached, Digest, Pushed, Referrers, ReferrersList, Upload};

use crate::client::{reference, Repository};
use crate::error::Result;

impl Repository {
    /// Uploads the OCI empty descriptor's blob (`{}`, the config of OCI artifact
    /// manifests) unless the repository has it (python-dxf has no equivalent).
    pub async fn push_empty_config(&self) -> Result<Pushed> {
        self.run(Upload::empty_config(&self.session(), self.name())?)
            .await
    }

    /// An OCI 1.1 artifact manifest for `blobs` — `(digest, title)`, the title (e.g. a file
    /// name) written as the `org.opencontainers.image.title` layer annotation — with sizes
    /// from a HEAD of each blob, and `options`' artifact type, annotations and subject.
    pub async fn make_oci_manifest(
        &self,
        blobs: &[(Digest, Option<String>)],
        options: &OciArtifactOptions,
    ) -> Result<String> {
        let mut descriptors = Vec::with_capacity(blobs.len());
        for (digest, title) in blobs {
            descriptors.push(BlobDescriptor {
                digest: digest.clone(),
                size: self.blob_size(digest).await?,
                title: title.clone(),
            });
        }
        Ok(oci_artifact_manifest(&descriptors, options))
    }

    /// Points `alias` at `blobs` with an OCI 1.1 artifact manifest (see
    /// [`make_oci_manifest`](Self::make_oci_manifest)) instead of python-dxf's form:
    /// uploads the empty config blob when missing, then stores the manifest. Returns the
    /// manifest JSON. Every reader of dxf ([`get_alias`](Self::get_alias) and the rest)
    /// reads both forms.
    ///
    /// ```no_run
    /// # async fn f(repo: &dxf_hyper::Repository, d: dxf_hyper::Digest) -> dxf_hyper::Result<()> {
    /// use dxf_hyper::dxf_proto::manifest::alias::OciArtifactOptions;
    /// let mut options = OciArtifactOptions::default(); // artifactType application/vnd.dxf.blobs.v1
    /// options.annotations.insert("org.opencontainers.image.version".into(), "1.2".into());
    /// repo.set_alias_oci("v1.2", &[(d, Some("data.bin".into()))], &options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_alias_oci(
        &self,
        alias: &str,
        blobs: &[(Digest, Option<String>)],
        options: &OciArtifactOptions,
    ) -> Result<String> {
        reference(alias)?; // an invalid alias is refused before any request
        let manifest = self.make_oci_manifest(blobs, options).await?;
        self.push_empty_config().await?;
        self.set_manifest(alias, manifest.as_bytes()).await?;
        Ok(manifest)
    }

    /// Pushes an OCI 1.1 artifact of `blobs` (already in the repository; sizes and titles
    /// as given) whose `subject` is the manifest `alias` names, and returns what was
    /// stored. The empty config blob is uploaded when missing. When the registry does not
    /// confirm the subject (`OCI-Subject`), the referrers tag schema's index
    /// (`sha256-<hex>`) is updated (see [`dxf_proto::Attach`]). `options.subject` must be
    /// `None`.
    ///
    /// ```no_run
    /// # async fn f(repo: &dxf_hyper::Repository) -> dxf_hyper::Result<()> {
    /// use dxf_hyper::dxf_proto::manifest::alias::{BlobDescriptor, OciArtifactOptions};
    /// use dxf_hyper::PushOptions;
    /// let pushed = repo.push_blob_path("sig.txt".as_ref(), PushOptions::new()).await?;
    /// let mut blob = BlobDescriptor::new(pushed.digest, pushed.size);
    /// blob.title = Some("sig.txt".into());
    /// let options = OciArtifactOptions {
    ///     artifact_type: "application/vnd.example.signature".into(),
    ///     ..OciArtifactOptions::default()
    /// };
    /// let attached = repo.attach("latest", &[blob], &options).await?;
    /// println!("{}", attached.digest);
    /// # Ok(()) }
    /// ```
    pub async fn attach(
        &self,
        alias: &str,
        blobs: &[BlobDescriptor],
        options: &OciArtifactOptions,
    ) -> Result<Attached> {
        let subject = reference(alias)?;
        let op = Attach::new(&self.session(), self.name(), &subject, blobs, options)?;
        self.push_empty_config().await?;
        self.run(op).await
    }

    /// The manifests whose `subject` is the manifest `alias` (a tag or a digest) names,
    /// only those of `artifact_type` when given: the registry's referrers API, or the
    /// referrers tag schema when the registry has none (see [`dxf_proto::Referrers`]).
    pub async fn referrers(
        &self,
        alias: &str,
        artifact_type: Option<&str>,
    ) -> Result<ReferrersList> {
        let subject = reference(alias)?;
        self.run(Referrers::new(
            &self.session(),
            self.name(),
            &subject,
            artifact_type,
        )?)
        .await
    }
}
