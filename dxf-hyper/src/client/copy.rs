//! [`Repository::copy_to`]: copies an alias (an image, an artifact, or a multi-arch index
//! with everything it lists) to another repository of this registry or of another one.
//! Every decision is dxf-proto's ([`AliasCopy`], [`Placements`]); this file runs its
//! operations, several blobs at a time (tokio tasks), and streams uploads from the
//! source's verified reader into the destination.

use std::io;

use dxf_proto::client::{
    AliasCopy, BlobCopy, BlobStep, CopyEnd, CopyOptions, Placements, ReferrersWalk,
};
use dxf_proto::copy::BlobPlacement;
use dxf_proto::CopyReport;
use tokio::task::JoinSet;

use super::Repository;
use crate::driver::{run, Source};
use crate::error::{Error, Result};

impl Repository {
    /// Copies `src_alias` — with every manifest and blob it consists of — to `dst` under
    /// `dst_alias` (default: the same alias), keeping every digest. Blobs the destination
    /// has are skipped, blobs of the same registry are mounted, others are streamed from
    /// this repository's verified download; `options.jobs` blobs at a time. Manifests are
    /// stored last, children before the index that lists them.
    pub async fn copy_to(
        &self,
        src_alias: &str,
        dst: &Repository,
        dst_alias: Option<&str>,
        options: &CopyOptions,
    ) -> Result<CopyReport> {
        let from = CopyEnd::new(self.session(), self.name().clone());
        let to = CopyEnd::new(dst.session(), dst.name().clone());
        let mut copy = AliasCopy::new(from, src_alias, to, dst_alias)?;
        copy.planned(self.registry().run(copy.plan()?).await?)?;
        let jobs = copy.blobs();
        let mut placed = Placements::new(jobs.len());
        let mut tasks = JoinSet::new();
        let mut queue = jobs.into_iter().enumerate();
        loop {
            while !placed.failed() && tasks.len() < options.jobs.max(1) {
                let Some((i, job)) = queue.next() else { break };
                let (src, dst) = (self.clone(), dst.clone());
                tasks.spawn(async move { (i, src.copy_blob(job, &dst).await) });
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            let (i, r) = joined.map_err(|e| Error::from(io::Error::other(e)))?;
            placed.record(i, r);
        }
        let placed = placed.finish(|| io::Error::other("a blob copy did not finish").into())?;
        let (puts, report) = copy.manifests(placed)?;
        for put in puts {
            dst.registry().run(put).await?;
        }
        if options.referrers {
            self.copy_referrers(&report.digest, dst, options).await?;
        }
        Ok(report)
    }

    /// `options.referrers`: every artifact referring to `root`, recursively, copied by
    /// digest and listed where the destination keeps no list ([`ReferrersWalk`]).
    async fn copy_referrers(
        &self,
        root: &dxf_proto::Digest,
        dst: &Repository,
        options: &CopyOptions,
    ) -> Result<()> {
        let once = CopyOptions {
            referrers: false,
            ..*options
        };
        let mut walk = ReferrersWalk::new(root.clone());
        while let Some(subject) = walk.next_subject() {
            let found = self.referrers(subject.as_str(), None).await?;
            let there = dst.referrers(subject.as_str(), None).await?;
            for step in walk.listed(&found, &there)? {
                Box::pin(self.copy_to(step.referrer.digest.as_str(), dst, None, &once)).await?;
                if step.register {
                    dst.register_referrer(&step.subject, &step.referrer).await?;
                }
            }
        }
        Ok(())
    }

    async fn copy_blob(&self, mut job: BlobCopy, dst: &Repository) -> Result<BlobPlacement> {
        let mut last = None;
        loop {
            match job.step(last.take())? {
                BlobStep::Place(op) => last = Some(dst.registry().run(op).await),
                BlobStep::Transfer { pull, upload } => {
                    let mut reader = self.pull(pull).await?;
                    run(dst.shared(), upload, Source::Stream(&mut reader), None).await?;
                    last = Some(Ok(BlobPlacement::NeedsUpload));
                }
                BlobStep::Done(placement) => return Ok(placement),
            }
        }
    }
}
