//! Copying an alias to another repository, of the same registry or another one, as the
//! clients run it ([`AliasCopy`]): the plan on the source ([`PlanCopy`]), then every blob —
//! several at a time — placed on the destination ([`BlobCopy`]: already there, mounted, or
//! uploaded from the source's verified reader), then the manifests in order. The adapters
//! run the operations and the workers; which operation runs, what a failure means and
//! which failure is reported are decided here (see [`crate::copy`] for the protocol side).

use super::error::Error;
use crate::copy::{same_registry, upload_blob, BlobPlacement, CopyBlob, CopyPlan, PlaceBlob};
use crate::copy::{CopyReport, PlanCopy};
use crate::error::{Misuse, ProtocolViolation};
use crate::manifest::parse::Descriptor;
use crate::manifest::PutManifest;
use crate::manifest::{ReferrersList, ReferrersVia};
use crate::reference::Digest;
use crate::reference::{Reference, Repository};
use crate::session::Session;
use crate::{GetBlob, Upload};

/// Blobs copied at a time by default.
pub const DEFAULT_COPY_JOBS: usize = 4;

/// Choices for a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyOptions {
    /// Blobs copied at a time (at least one).
    pub jobs: usize,
    /// Also copy every artifact that refers to the copied manifest (signatures, SBOMs,
    /// attestations), recursively ([`ReferrersWalk`]).
    pub referrers: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            jobs: DEFAULT_COPY_JOBS,
            referrers: false,
        }
    }
}

/// Most manifests a referrers walk visits (subjects whose referrers are listed): a
/// registry that lists referrers forever cannot keep a copy going.
pub const MAX_REFERRER_WALK: usize = 1000;

/// The decisions of `copy --referrers` (as `oras cp -r` and `regctl image copy
/// --referrers` make them): starting from the copied manifest, every referrer the source
/// lists (through its referrers API or the tag schema) is copied by digest — so its digest
/// stays — then walked in turn (a signature of a signature); each manifest once, at most
/// [`MAX_REFERRER_WALK`] of them. Where the destination keeps no referrers list itself
/// (tag schema), each copied referrer is listed in its subject's index there.
#[derive(Debug)]
pub struct ReferrersWalk {
    queue: Vec<Digest>,
    seen: std::collections::BTreeSet<Digest>,
}

/// One referrer to copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferrerCopy {
    /// Its subject (copied already).
    pub subject: Digest,
    /// The referrer, as the source lists it.
    pub referrer: Descriptor,
    /// List it in the destination's tag schema index of `subject` after copying it.
    pub register: bool,
}

impl ReferrersWalk {
    /// A walk from the manifest `root` (just copied).
    pub fn new(root: Digest) -> ReferrersWalk {
        let mut seen = std::collections::BTreeSet::new();
        seen.insert(root.clone());
        ReferrersWalk {
            queue: vec![root],
            seen,
        }
    }

    /// The next subject whose referrers to list at the source and the destination.
    pub fn next_subject(&mut self) -> Option<Digest> {
        self.queue.pop()
    }

    /// What the source (`found`) and the destination (`there`) list for one subject: the
    /// referrers to copy, each new one walked later. A walk past [`MAX_REFERRER_WALK`]
    /// manifests is [`ProtocolViolation::TooManyReferrers`].
    pub fn listed(
        &mut self,
        found: &ReferrersList,
        there: &ReferrersList,
    ) -> Result<Vec<ReferrerCopy>, Error> {
        let mut copies = Vec::new();
        for referrer in &found.manifests {
            if !self.seen.insert(referrer.digest.clone()) {
                continue;
            }
            if self.seen.len() > MAX_REFERRER_WALK {
                let e = crate::Error::from(ProtocolViolation::TooManyReferrers(MAX_REFERRER_WALK));
                return Err(e.into());
            }
            self.queue.push(referrer.digest.clone());
            let listed = there.manifests.iter().any(|d| d.digest == referrer.digest);
            copies.push(ReferrerCopy {
                subject: found.subject.clone(),
                referrer: referrer.clone(),
                register: there.via == ReferrersVia::TagSchema && !listed,
            });
        }
        Ok(copies)
    }
}

/// One end of a copy: a registry's session and a repository of it.
#[derive(Clone, Debug)]
pub struct CopyEnd {
    session: Session,
    repo: Repository,
}

impl CopyEnd {
    /// Repository `repo` of `session`'s registry.
    pub fn new(session: Session, repo: Repository) -> CopyEnd {
        CopyEnd { session, repo }
    }
}

/// A copy of one alias (see the [`client`](crate::client) module).
#[derive(Debug)]
pub struct AliasCopy {
    from: CopyEnd,
    to: CopyEnd,
    source: Reference,
    target: Reference,
    plan: Option<CopyPlan>,
}

impl AliasCopy {
    /// Copies `alias` of `from` to `to`, under `to_alias` (default: the same alias). Bad
    /// aliases are refused before any request.
    pub fn new(
        from: CopyEnd,
        alias: &str,
        to: CopyEnd,
        to_alias: Option<&str>,
    ) -> Result<AliasCopy, Error> {
        let source = Reference::parse(alias)?;
        let target = match to_alias {
            Some(a) => Reference::parse(a)?,
            None => source.clone(),
        };
        Ok(AliasCopy {
            from,
            to,
            source,
            target,
            plan: None,
        })
    }

    /// The first operation: the plan, to run on the source registry.
    pub fn plan(&self) -> Result<PlanCopy, Error> {
        Ok(PlanCopy::new(
            &self.from.session,
            &self.from.repo,
            &self.source,
        )?)
    }

    /// Takes the plan: its blobs are to be copied next ([`AliasCopy::blobs`]).
    pub fn planned(&mut self, plan: CopyPlan) -> Result<(), Error> {
        if plan.top().is_none() {
            return Err(Error::Proto(
                Misuse::UnexpectedCall("empty copy plan").into(),
            ));
        }
        self.plan = Some(plan);
        Ok(())
    }

    /// The blob copies to run (each with [`BlobCopy::step`]), at most `options.jobs` at a
    /// time; once one fails, start no more: the first failure in this order is the copy's
    /// ([`Placements`] keeps that rule).
    pub fn blobs(&self) -> Vec<BlobCopy> {
        let mount = same_registry(&self.from.session, &self.to.session);
        let blobs = self.plan.iter().flat_map(|p| p.blobs.iter());
        blobs
            .map(|blob| BlobCopy {
                blob: blob.clone(),
                from: self.from.clone(),
                to: self.to.clone(),
                mount,
                phase: BlobPhase::Start,
            })
            .collect()
    }

    /// After every blob is in place (their placements in [`AliasCopy::blobs`] order): the
    /// manifest `PUT`s to run on the destination, in order, and the report to return
    /// once they all succeeded.
    pub fn manifests(
        self,
        placements: Vec<BlobPlacement>,
    ) -> Result<(Vec<PutManifest>, CopyReport), Error> {
        let Some(plan) = self.plan else {
            return Err(Error::Proto(Misuse::UnexpectedCall("no copy plan").into()));
        };
        let top = plan.top().map(|m| m.digest.clone());
        let (Some(top), true) = (top, placements.len() == plan.blobs.len()) else {
            return Err(Error::Proto(
                Misuse::UnexpectedCall("a blob copy did not finish").into(),
            ));
        };
        let mut report = CopyReport::new(top);
        for (blob, placement) in plan.blobs.iter().zip(placements) {
            report.record(blob, placement);
        }
        let puts = plan.manifest_puts(&self.to.session, &self.to.repo, &self.target)?;
        report.manifests = puts.len();
        Ok((puts, report))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobPhase {
    Start,
    Placing,
    Transferring,
    Done,
}

/// One blob of a copy: placed on the destination (a `HEAD`, a mount within one registry
/// or from where the blob cache saw it — a refused mount, as Harbor's 401, means an
/// upload), else transferred.
#[derive(Clone, Debug)]
pub struct BlobCopy {
    blob: CopyBlob,
    from: CopyEnd,
    to: CopyEnd,
    mount: bool,
    phase: BlobPhase,
}

/// What a [`BlobCopy`] asks of its driver next.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved out once per step
pub enum BlobStep {
    /// Run this operation on the destination and hand back its result.
    Place(PlaceBlob),
    /// Run `pull` on the source (its body delivered), then `upload` on the destination
    /// fed from the pulled blob's verifying reader as its stream source; hand back
    /// `Ok(BlobPlacement::NeedsUpload)` when the upload succeeded.
    Transfer {
        /// The blob's download, on the source.
        pull: GetBlob,
        /// Its upload, on the destination.
        upload: Upload,
    },
    /// The blob is in place.
    Done(BlobPlacement),
}

impl BlobCopy {
    /// The next step; `last` is the result of the previous one (`None` at first).
    pub fn step(&mut self, last: Option<Result<BlobPlacement, Error>>) -> Result<BlobStep, Error> {
        let (from, to, blob) = (&self.from, &self.to, &self.blob);
        match (self.phase, last) {
            (BlobPhase::Start, None) => {
                let mount_from = self.mount.then_some(&from.repo);
                self.phase = BlobPhase::Placing;
                Ok(BlobStep::Place(PlaceBlob::new(
                    &to.session,
                    &to.repo,
                    blob,
                    mount_from,
                )?))
            }
            (BlobPhase::Placing, Some(Ok(BlobPlacement::NeedsUpload))) => {
                self.phase = BlobPhase::Transferring;
                Ok(BlobStep::Transfer {
                    pull: GetBlob::new(&from.session, &from.repo, &blob.digest, Some(blob.size))?,
                    upload: upload_blob(&to.session, &to.repo, blob)?,
                })
            }
            (BlobPhase::Placing | BlobPhase::Transferring, Some(Ok(placement))) => {
                self.phase = BlobPhase::Done;
                Ok(BlobStep::Done(placement))
            }
            (_, Some(Err(e))) => {
                self.phase = BlobPhase::Done;
                Err(e)
            }
            _ => Err(Error::Proto(
                Misuse::UnexpectedCall("a blob copy was handed a result it did not ask for").into(),
            )),
        }
    }
}

/// The results of blob copies as they end, in any order: whether to start more, and the
/// copy's result — every placement in order, or the failure of the first blob (in plan
/// order) that failed, whatever order they ended in.
#[derive(Debug)]
pub struct Placements<E> {
    placed: Vec<Option<BlobPlacement>>,
    failure: Option<(usize, E)>,
}

impl<E> Placements<E> {
    /// For `n` blobs.
    pub fn new(n: usize) -> Placements<E> {
        Placements {
            placed: vec![None; n],
            failure: None,
        }
    }

    /// Blob `index` ended.
    pub fn record(&mut self, index: usize, result: Result<BlobPlacement, E>) {
        match result {
            Ok(p) => {
                if let Some(slot) = self.placed.get_mut(index) {
                    *slot = Some(p);
                }
            }
            Err(e) if self.failure.as_ref().is_none_or(|(j, _)| index < *j) => {
                self.failure = Some((index, e));
            }
            Err(_) => {}
        }
    }

    /// Whether a blob failed: start no more.
    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Every placement, in order, or the first failure; `unfinished` makes the error of a
    /// blob that never ended (a driver bug).
    pub fn finish(self, unfinished: impl FnOnce() -> E) -> Result<Vec<BlobPlacement>, E> {
        if let Some((_, e)) = self.failure {
            return Err(e);
        }
        let all: Option<Vec<_>> = self.placed.into_iter().collect();
        all.ok_or_else(unfinished)
    }
}

#[cfg(test)]
mod tests {

    fn referrers_list(subject: &Digest, listed: &[&Digest], via: ReferrersVia) -> ReferrersList {
        ReferrersList {
            subject: subject.clone(),
            manifests: listed
                .iter()
                .map(|d| {
                    Descriptor::new(
                        "application/vnd.oci.image.manifest.v1+json",
                        (*d).clone(),
                        10,
                    )
                })
                .collect(),
            via,
            filtered_by_registry: false,
        }
    }

    #[test]
    fn a_referrers_walk_copies_each_manifest_once_and_lists_it_where_the_destination_does_not() {
        let d =
            |n: u8| Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap();
        let (root, sig, sbom) = (d(1), d(2), d(3));
        let mut walk = ReferrersWalk::new(root.clone());
        assert_eq!(walk.next_subject(), Some(root.clone()));
        let found = referrers_list(&root, &[&sig, &root], ReferrersVia::Api);
        let empty = referrers_list(&root, &[], ReferrersVia::TagSchema);
        let copies = walk.listed(&found, &empty).unwrap();
        // The root itself (a cycle) is not copied again.
        assert_eq!(copies.len(), 1);
        assert_eq!(
            (&copies[0].referrer.digest, copies[0].register),
            (&sig, true)
        );
        assert_eq!(walk.next_subject(), Some(sig.clone()));
        let found = referrers_list(&sig, &[&sbom], ReferrersVia::TagSchema);
        // Listed there already, or a registry with the API: nothing to register.
        let there = referrers_list(&sig, &[&sbom], ReferrersVia::TagSchema);
        assert!(!walk.listed(&found, &there).unwrap()[0].register);
        assert_eq!(walk.next_subject(), Some(sbom.clone()));
        assert!(walk.listed(&found, &there).unwrap().is_empty());
        assert_eq!(walk.next_subject(), None);
    }

    #[test]
    fn a_referrers_walk_is_bounded() {
        let mut walk =
            ReferrersWalk::new(Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap());
        let subject = walk.next_subject().unwrap();
        let many: Vec<Digest> = (1..=MAX_REFERRER_WALK as u32 + 1)
            .map(|n| Digest::parse(&format!("sha256:{n:064x}")).unwrap())
            .collect();
        let refs: Vec<&Digest> = many.iter().collect();
        let found = referrers_list(&subject, &refs, ReferrersVia::Api);
        let there = referrers_list(&subject, &[], ReferrersVia::Api);
        assert!(walk.listed(&found, &there).is_err());
    }

    use super::*;
    use crate::copy::CopyManifest;
    use crate::session::Scheme;

    fn end(host: &str, repo: &str) -> CopyEnd {
        let s = Session::new(host, Scheme::Https).unwrap();
        let r = s.repository(repo).unwrap();
        CopyEnd::new(s, r)
    }

    #[test]
    fn the_first_failure_in_plan_order_wins_whatever_order_they_end_in() {
        let mut p: Placements<&str> = Placements::new(3);
        p.record(2, Err("third"));
        assert!(p.failed());
        p.record(0, Ok(BlobPlacement::Present));
        p.record(1, Err("second"));
        assert_eq!(p.finish(|| "unfinished"), Err("second"));
        let mut p: Placements<&str> = Placements::new(2);
        p.record(1, Ok(BlobPlacement::Mounted));
        assert_eq!(
            p.finish(|| "unfinished"),
            Err("unfinished"),
            "blob 0 never ended"
        );
    }

    #[test]
    fn a_blob_placed_nowhere_is_transferred() {
        let copy =
            AliasCopy::new(end("r.test", "a/src"), "v1", end("r.test", "a/dst"), None).unwrap();
        let mut copy = copy;
        let digest: crate::Digest = format!("sha256:{:064x}", 7).parse().unwrap();
        copy.planned(CopyPlan {
            manifests: vec![CopyManifest {
                digest: digest.clone(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                body: b"{}".to_vec(),
            }],
            blobs: vec![CopyBlob { digest, size: 1 }],
        })
        .unwrap();
        let mut jobs = copy.blobs();
        assert_eq!(jobs.len(), 1);
        let job = &mut jobs[0];
        assert!(matches!(job.step(None), Ok(BlobStep::Place(_))));
        let step = job.step(Some(Ok(BlobPlacement::NeedsUpload)));
        assert!(matches!(step, Ok(BlobStep::Transfer { .. })));
        let step = job.step(Some(Ok(BlobPlacement::NeedsUpload)));
        assert!(matches!(
            step,
            Ok(BlobStep::Done(BlobPlacement::NeedsUpload))
        ));
        let (puts, report) = copy.manifests(vec![BlobPlacement::NeedsUpload]).unwrap();
        assert_eq!(
            (puts.len(), report.manifests, report.blobs_uploaded),
            (1, 1, 1)
        );
    }

    #[test]
    fn across_registries_there_is_no_mount_and_a_refusal_is_final() {
        let mut copy =
            AliasCopy::new(end("a.test", "x/y"), "v1", end("b.test", "x/y"), Some("v2")).unwrap();
        let digest: crate::Digest = format!("sha256:{:064x}", 9).parse().unwrap();
        copy.planned(CopyPlan {
            manifests: vec![CopyManifest {
                digest: digest.clone(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                body: b"{}".to_vec(),
            }],
            blobs: vec![CopyBlob { digest, size: 1 }],
        })
        .unwrap();
        let mut jobs = copy.blobs();
        let job = &mut jobs[0];
        assert!(matches!(job.step(None), Ok(BlobStep::Place(_))));
        let refused = Error::Proto(crate::Error::Unauthorized {
            scope: String::new(),
            oci: Vec::new(),
        });
        assert!(job.step(Some(Err(refused))).is_err());
    }
}
