//! [`Repository::copy_to`]: copies an alias (an image, an artifact, or a multi-arch index
//! with everything it lists) to another repository of this registry or of another one.
//! dxf-proto plans the copy and decides, blob by blob, between "already there", a mount and
//! an upload ([`dxf_proto::copy`]); this file runs those operations, several blobs at a
//! time (tokio tasks), and streams uploads from the source's verified reader into the
//! destination.

use std::io;

use dxf_proto::copy::{
    retry_without_mount, same_registry, upload_blob, BlobPlacement, CopyBlob, PlaceBlob,
};
use dxf_proto::{CopyReport, Misuse, PlanCopy};
use tokio::task::JoinSet;

use super::{reference, Repository};
use crate::driver::{run, Source};
use crate::error::{Error, Result};

/// Blobs copied at a time unless [`CopyOptions::jobs`] says otherwise.
pub const DEFAULT_COPY_JOBS: usize = 4;

/// Choices for [`Repository::copy_to`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyOptions {
    /// Blobs copied at a time (at least 1; default [`DEFAULT_COPY_JOBS`]).
    pub jobs: usize,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            jobs: DEFAULT_COPY_JOBS,
        }
    }
}

impl Repository {
    /// Copies `src_alias` (a tag or a digest) of this repository to `dst`, under
    /// `dst_alias` (default: the same alias; a digest source is then stored by digest
    /// only). The manifests are copied byte for byte, so every digest stays the same;
    /// for an index, every manifest it lists is copied first, then the index.
    ///
    /// Blobs the destination has are skipped (a `HEAD`); within one registry the others
    /// are mounted, falling back to an upload when the registry refuses the mount; across
    /// registries they are streamed from this repository into `dst` without touching disk
    /// (verified on both ends). `options.jobs` blobs are copied at a time (tokio tasks:
    /// call this inside a tokio runtime); the first failure stops the copy (no further
    /// blob is started, no manifest is stored).
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use dxf_hyper::{Config, CopyOptions, Registry};
    ///
    /// let mut config = Config::new("localhost:5000");
    /// config.insecure = true;
    /// let src = Registry::new(&config)?.repository("team/data")?;
    /// let mut other = Config::new("localhost:6000");
    /// other.insecure = true;
    /// let dst = Registry::new(&other)?.repository("mirror/data")?;
    /// let report = src.copy_to("latest", &dst, None, &CopyOptions::default()).await?;
    /// println!("{report}"); // digest, manifests, blobs uploaded/mounted/present
    /// # Ok(())
    /// # }
    /// ```
    pub async fn copy_to(
        &self,
        src_alias: &str,
        dst: &Repository,
        dst_alias: Option<&str>,
        options: &CopyOptions,
    ) -> Result<CopyReport> {
        let src_ref = reference(src_alias)?;
        let dst_ref = match dst_alias {
            Some(a) => reference(a)?,
            None => src_ref.clone(),
        };
        let plan = self
            .run(PlanCopy::new(&self.session(), &self.name, &src_ref)?)
            .await?;
        let top = plan
            .top()
            .ok_or(dxf_proto::Error::Misuse(Misuse::UnexpectedCall(
                "empty copy plan",
            )))?;
        let mut report = CopyReport::new(top.digest.clone());
        let mount = same_registry(&self.session(), &dst.session());
        let placed = self
            .copy_blobs(&plan.blobs, dst, mount, options.jobs.max(1))
            .await?;
        for (blob, placement) in plan.blobs.iter().zip(placed) {
            report.record(blob, placement);
        }
        for put in plan.manifest_puts(&dst.session(), &dst.name, &dst_ref)? {
            dst.run(put).await?;
            report.manifests += 1;
        }
        Ok(report)
    }

    /// Every blob into `dst`, `jobs` at a time; after the first failure none is started
    /// and that failure is returned once the running ones ended.
    async fn copy_blobs(
        &self,
        blobs: &[CopyBlob],
        dst: &Repository,
        mount: bool,
        jobs: usize,
    ) -> Result<Vec<BlobPlacement>> {
        let mut placed: Vec<Option<BlobPlacement>> = vec![None; blobs.len()];
        let mut failure: Option<(usize, Error)> = None;
        let mut tasks = JoinSet::new();
        let mut queue = blobs.iter().cloned().enumerate();
        loop {
            while failure.is_none() && tasks.len() < jobs {
                let Some((i, blob)) = queue.next() else { break };
                let (src, dst) = (self.clone(), dst.clone());
                tasks.spawn(async move { (i, src.copy_blob(&blob, &dst, mount).await) });
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            let (i, r) = joined.map_err(|e| Error::from(io::Error::other(e)))?;
            match r {
                Ok(p) => {
                    if let Some(slot) = placed.get_mut(i) {
                        *slot = Some(p);
                    }
                }
                Err(e) => {
                    if failure.as_ref().is_none_or(|(j, _)| i < *j) {
                        failure = Some((i, e));
                    }
                }
            }
        }
        if let Some((_, e)) = failure {
            return Err(e);
        }
        placed
            .into_iter()
            .map(|p| p.ok_or_else(|| io::Error::other("a blob copy did not finish").into()))
            .collect()
    }

    /// Gets one blob into `dst`: present, mounted (`mount`: same registry), or streamed
    /// from here.
    async fn copy_blob(
        &self,
        blob: &CopyBlob,
        dst: &Repository,
        mount: bool,
    ) -> Result<BlobPlacement> {
        let from = mount.then_some(&self.name);
        let op = PlaceBlob::new(&dst.session(), &dst.name, blob, from)?;
        let placement = match dst.run(op).await {
            Err(e) if mount && e.proto().is_some_and(retry_without_mount) => {
                let op = PlaceBlob::new(&dst.session(), &dst.name, blob, None)?;
                dst.run(op).await?
            }
            other => other?,
        };
        if placement == BlobPlacement::NeedsUpload {
            let mut reader = self.pull_blob(&blob.digest, Some(blob.size)).await?;
            let op = upload_blob(&dst.session(), &dst.name, blob)?;
            run(dst.shared(), op, Source::Stream(&mut reader), None).await?;
        }
        Ok(placement)
    }
}
