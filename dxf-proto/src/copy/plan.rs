//! [`PlanCopy`]: what copying an alias involves — its manifest and, for an index, every
//! manifest below it (fetched by digest, verified), in the order they must be stored, and
//! the distinct blobs they reference. [`CopyPlan::manifest_puts`] stores them elsewhere.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use http::{Method, StatusCode};
use url::Url;

use crate::auth::Scope;
use crate::error::{Error, OpKind, ProtocolViolation};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
use crate::manifest::get::{content_type, manifest_request, manifest_url, verify_manifest};
use crate::manifest::parse::{parse_manifest, Manifest};
use crate::manifest::PutManifest;
use crate::reference::{Digest, Reference, Repository};
use crate::session::Session;

/// A manifest to store, exactly as the source served it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyManifest {
    /// Its digest (verified against the bytes).
    pub digest: Digest,
    /// Its media type (the body's `mediaType`, else the source's `Content-Type`).
    pub media_type: String,
    /// The bytes, unchanged.
    pub body: Vec<u8>,
}

/// A blob to copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CopyBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size, from the manifest's descriptor.
    pub size: u64,
}

/// Everything an alias consists of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyPlan {
    /// The manifests in the order to store them: every manifest after those it lists; the
    /// last is the alias's own.
    pub manifests: Vec<CopyManifest>,
    /// The distinct blobs (configs, then layers, manifest by manifest), first seen first.
    pub blobs: Vec<CopyBlob>,
}

impl CopyPlan {
    /// The alias's own manifest (the last one).
    pub fn top(&self) -> Option<&CopyManifest> {
        self.manifests.last()
    }

    /// The `PUT`s that store the plan's manifests in `repo` of `session`'s registry, in
    /// order: each listed manifest by its digest, the top one under `top` (a tag, or its
    /// own digest). Send them one after the other, after every blob is in place.
    pub fn manifest_puts(
        &self,
        session: &Session,
        repo: &Repository,
        top: &Reference,
    ) -> Result<Vec<PutManifest>, Error> {
        let last = self.manifests.len().saturating_sub(1);
        self.manifests
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let reference = if i == last {
                    top.clone()
                } else {
                    Reference::Digest(m.digest.clone())
                };
                PutManifest::with_media_type(
                    session,
                    repo,
                    &reference,
                    m.body.clone(),
                    &m.media_type,
                )
            })
            .collect()
    }
}

/// Fetches an alias and everything below it. Output: [`CopyPlan`].
#[derive(Debug)]
pub struct PlanCopy(Machine<PlanFlow>);

/// A fetched manifest and what it lists.
#[derive(Debug)]
struct Fetched {
    manifest: CopyManifest,
    /// For an index: the manifests it lists.
    children: Vec<Digest>,
    /// For an image: config, then layers.
    blobs: Vec<CopyBlob>,
}

#[derive(Debug)]
pub(crate) struct PlanFlow {
    session: Session,
    repo: Repository,
    /// What the request in flight asked for.
    reference: Reference,
    url: Url,
    limit: u64,
    /// The most manifests one plan may hold (the top one included).
    max_manifests: usize,
    /// Manifests listed but not fetched yet.
    pending: VecDeque<Digest>,
    /// Every manifest listed so far (fetched or pending).
    seen: BTreeSet<Digest>,
    /// The top manifest's digest, once fetched.
    top: Option<Digest>,
    fetched: BTreeMap<Digest, Fetched>,
}

impl PlanCopy {
    /// Plans the copy of `reference` (a tag or a digest) in `repo`.
    pub fn new(
        session: &Session,
        repo: &Repository,
        reference: &Reference,
    ) -> Result<PlanCopy, Error> {
        if let Reference::Digest(d) = reference {
            crate::digest::digest_of(d, b"")?;
        }
        Ok(PlanCopy(Machine::new(PlanFlow {
            url: manifest_url(session, repo, reference)?,
            session: session.clone(),
            repo: repo.clone(),
            reference: reference.clone(),
            limit: session.limits().manifest_body,
            max_manifests: session.limits().max_platforms.saturating_add(1),
            pending: VecDeque::new(),
            seen: BTreeSet::new(),
            top: None,
            fetched: BTreeMap::new(),
        })))
    }
}

impl PlanFlow {
    fn fetch_next(&mut self) -> Result<Next<CopyPlan>, Error> {
        match self.pending.pop_front() {
            Some(d) => {
                self.reference = Reference::Digest(d);
                self.url = manifest_url(&self.session, &self.repo, &self.reference)?;
                Ok(Next::Send(manifest_request(Method::GET, &self.url)?))
            }
            None => self.finish().map(Next::Done),
        }
    }

    /// Orders the fetched manifests (every one after those it lists: a depth-first
    /// post-order from the top) and collects their blobs.
    fn finish(&mut self) -> Result<CopyPlan, Error> {
        let top = self
            .top
            .clone()
            .ok_or(crate::error::Misuse::UnexpectedCall("plan finished early"))?;
        let mut order: Vec<Digest> = Vec::new();
        let mut placed: BTreeSet<Digest> = BTreeSet::new();
        // (manifest, whether its children were pushed already)
        let mut stack: Vec<(Digest, bool)> = vec![(top, false)];
        // Each manifest is pushed at most twice per listing; listings are bounded.
        while let Some((d, expanded)) = stack.pop() {
            if placed.contains(&d) {
                continue;
            }
            let Some(f) = self.fetched.get(&d) else {
                continue;
            };
            if expanded {
                placed.insert(d.clone());
                order.push(d);
                continue;
            }
            stack.push((d.clone(), true));
            for c in f.children.iter().rev() {
                if !placed.contains(c) {
                    stack.push((c.clone(), false));
                }
            }
            if stack.len() > self.max_manifests.saturating_mul(self.max_manifests) {
                return Err(ProtocolViolation::TooManyPlatforms(self.max_manifests).into());
            }
        }
        let mut blobs = Vec::new();
        let mut known = BTreeSet::new();
        let mut manifests = Vec::with_capacity(order.len());
        for d in order {
            if let Some(f) = self.fetched.remove(&d) {
                for b in f.blobs {
                    if known.insert(b.digest.clone()) {
                        blobs.push(b);
                    }
                }
                manifests.push(f.manifest);
            }
        }
        Ok(CopyPlan { manifests, blobs })
    }
}

impl Flow for PlanFlow {
    type Output = CopyPlan;

    fn kind(&self) -> OpKind {
        OpKind::ManifestGet
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull")
    }

    fn start(&mut self) -> Result<Next<CopyPlan>, Error> {
        Ok(Next::Send(manifest_request(Method::GET, &self.url)?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::OK
    }

    fn on_head(&mut self, _: &http::response::Parts) -> Result<HeadAction<CopyPlan>, Error> {
        Ok(HeadAction::Feed(self.limit))
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<CopyPlan>, Error> {
        let digest = verify_manifest(&head, &body, &self.reference)?;
        let parsed = parse_manifest(&body, content_type(&head).as_deref())?;
        let media_type = parsed.media_type().to_owned();
        let (children, blobs) = match parsed {
            Manifest::Image { config, layers, .. } => (
                Vec::new(),
                std::iter::once(config)
                    .chain(layers)
                    .map(|d| CopyBlob {
                        digest: d.digest,
                        size: d.size,
                    })
                    .collect(),
            ),
            Manifest::Index { manifests, .. } => (
                manifests.into_iter().map(|d| d.digest).collect(),
                Vec::new(),
            ),
        };
        if self.top.is_none() {
            self.top = Some(digest.clone());
            self.seen.insert(digest.clone());
        }
        for c in &children {
            if self.seen.insert(c.clone()) {
                if self.seen.len() > self.max_manifests {
                    return Err(ProtocolViolation::TooManyPlatforms(self.max_manifests).into());
                }
                self.pending.push_back(c.clone());
            }
        }
        self.fetched.insert(
            digest.clone(),
            Fetched {
                manifest: CopyManifest {
                    digest,
                    media_type,
                    body,
                },
                children,
                blobs,
            },
        );
        self.fetch_next()
    }
}

delegate_operation!(PlanCopy, CopyPlan);
