//! [`Repository::copy_to`]: copies an alias (an image, an artifact, or a multi-arch index
//! with everything it lists) to another repository of this registry or of another one.
//! dxf-proto plans the copy and decides, blob by blob, between "already there", a mount and
//! an upload ([`dxf_proto::copy`]); this file runs those operations, several blobs at a
//! time, and streams uploads from the source's verified reader into the destination.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dxf_proto::copy::{
    retry_without_mount, same_registry, upload_blob, BlobPlacement, CopyBlob, PlaceBlob,
};
use dxf_proto::{CopyReport, Misuse, PlanCopy};

use super::{reference, Repository};
use crate::driver::{run, Source};
use crate::error::Result;

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
    /// (verified on both ends). `options.jobs` blobs are copied at a time; the first
    /// failure stops the copy (no further blob is started, no manifest is stored).
    ///
    /// ```no_run
    /// use dxf_ureq::{Config, CopyOptions, Registry};
    ///
    /// let mut config = Config::new("localhost:5000");
    /// config.insecure = true;
    /// let src = Registry::new(&config)?.repository("team/data")?;
    /// let mut other = Config::new("localhost:6000");
    /// other.insecure = true;
    /// let dst = Registry::new(&other)?.repository("mirror/data")?;
    /// let report = src.copy_to("latest", &dst, None, &CopyOptions::default())?;
    /// println!("{report}"); // digest, manifests, blobs uploaded/mounted/present
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn copy_to(
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
        let plan = self.run(PlanCopy::new(&self.session(), &self.name, &src_ref)?)?;
        let top = plan
            .top()
            .ok_or(dxf_proto::Error::Misuse(Misuse::UnexpectedCall(
                "empty copy plan",
            )))?;
        let mut report = CopyReport::new(top.digest.clone());
        let mount_from = same_registry(&self.session(), &dst.session()).then_some(&self.name);
        let placed = parallel(&plan.blobs, options.jobs.max(1), |blob| {
            self.copy_blob(blob, dst, mount_from)
        })?;
        for (blob, placement) in plan.blobs.iter().zip(placed) {
            report.record(blob, placement);
        }
        for put in plan.manifest_puts(&dst.session(), &dst.name, &dst_ref)? {
            dst.run(put)?;
            report.manifests += 1;
        }
        Ok(report)
    }

    /// Gets one blob into `dst`: present, mounted, or streamed from here.
    fn copy_blob(
        &self,
        blob: &CopyBlob,
        dst: &Repository,
        mount_from: Option<&dxf_proto::Repository>,
    ) -> Result<BlobPlacement> {
        let placed = dst.run(PlaceBlob::new(&dst.session(), &dst.name, blob, mount_from)?);
        let placement = match placed {
            Err(e) if mount_from.is_some() && e.proto().is_some_and(retry_without_mount) => {
                dst.run(PlaceBlob::new(&dst.session(), &dst.name, blob, None)?)?
            }
            other => other?,
        };
        if placement == BlobPlacement::NeedsUpload {
            let mut reader = self.pull_blob(&blob.digest, Some(blob.size))?;
            let op = upload_blob(&dst.session(), &dst.name, blob)?;
            run(dst.shared(), op, Source::Stream(&mut reader), None)?;
        }
        Ok(placement)
    }
}

/// `f` over `items` on up to `jobs` threads, results in item order; after the first
/// failure no further item is started, and the first failure (in item order) is returned.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut done: Vec<(usize, Result<R>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.min(items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let r = f(item);
                        if r.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        mine.push((i, r));
                    }
                    mine
                })
            })
            .collect();
        // A worker that panicked takes the copy with it: its results are missing, so going
        // on would pair blobs with the wrong placements (and store the manifests anyway).
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_item_order() {
        let items: Vec<u32> = (0..20).collect();
        let out = parallel(&items, 3, |i| Ok(i * 2)).unwrap_or_default();
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    /// Issue 14, defect 1: a panicked worker was taken for one with no results, and the
    /// copy went on with the others' (zipped with the wrong blobs).
    #[test]
    #[should_panic(expected = "worker bug")]
    fn a_panicked_worker_is_not_taken_for_an_empty_one() {
        let items: Vec<u32> = (0..8).collect();
        let _ = parallel(&items, 2, |i| {
            if *i == 3 {
                panic!("worker bug");
            }
            Ok(*i)
        });
    }
}
