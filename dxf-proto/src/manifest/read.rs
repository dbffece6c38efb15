//! [`ReadAlias`]: what an alias (tag or digest) names — python-dxf's `_get_alias`. A Docker
//! schema 2 or OCI image manifest gives its config and layers; a Docker manifest list or OCI
//! index gives one entry per platform (`os/architecture[/variant]`), each resolved to its
//! image manifest by digest (verified) when asked, or just the one platform a filter names.
//!
//! An index none of whose entries has a `platform` (a referrers index — the tag schema's
//! `sha256-<hex>` tags —, an artifact index, an empty index) has nothing to resolve: it is
//! the result as it is, whatever the platform filter. Its body is what
//! [`AliasManifest::bodies`] gives; [`AliasManifest::try_layers`] and
//! [`AliasManifest::try_config_digest`] refuse it ([`IndexWithoutPlatforms`]) rather than
//! answer an empty per-platform list. An index with some platform entries keeps only
//! those (entries without one are skipped, as before).

use http::{Method, StatusCode};
use url::Url;

use super::get::{content_type, manifest_request, manifest_url, verify_manifest};
use super::parse::{parse_manifest, Descriptor, IndexWithoutPlatforms, Manifest};
use crate::auth::Scope;
use crate::error::{Error, OpKind, ProtocolViolation};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
use crate::reference::{Digest, Reference, Repository};
use crate::session::Session;

/// Choices for reading an alias.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// For an index: resolve only this platform (`os/arch[/variant]`) and return its image
    /// manifest as the result; an unknown platform is [`Error::PlatformNotFound`]. Ignored
    /// for a single image manifest and for an index none of whose entries has a platform
    /// (python-dxf's `DXF_PLATFORM`).
    pub platform: Option<String>,
    /// For an index without a platform filter: fetch every platform's manifest (`true`, as
    /// get-alias does) or only list their digests (`false`, as del-alias does).
    pub resolve_platforms: bool,
}

impl ReadOptions {
    /// What python-dxf's `get_alias`, `get_digest` and `get_manifest` read: every platform
    /// of an index resolved, or only `platform` when given.
    pub fn resolved(platform: Option<&str>) -> ReadOptions {
        ReadOptions {
            platform: platform.map(str::to_owned),
            resolve_platforms: true,
        }
    }
}

/// A manifest and what it lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasManifest {
    /// Its digest (verified).
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The body as received.
    pub body: Vec<u8>,
    /// What it lists.
    pub content: AliasContent,
}

/// What a manifest lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AliasContent {
    /// An image (or artifact) manifest.
    Image {
        /// The config descriptor (python-dxf aliases: the first blob).
        config: Descriptor,
        /// The layers, in order.
        layers: Vec<Descriptor>,
    },
    /// A manifest list / index.
    Index {
        /// One entry per platform, in document order.
        platforms: Vec<PlatformManifest>,
    },
}

/// One platform of an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformManifest {
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// The platform manifest's digest.
    pub digest: Digest,
    /// The platform's image manifest, when resolved.
    pub manifest: Option<AliasManifest>,
}

/// A value for a single manifest, or one per platform of an index (python-dxf returns a
/// list for the former and a `{platform: …}` dict for the latter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PerPlatform<T> {
    /// From an image manifest.
    Single(T),
    /// From an index: `(os/arch[/variant], value)` in document order.
    Platforms(Vec<(String, T)>),
}

impl<T> PerPlatform<T> {
    /// Applies `f` to every value.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerPlatform<U> {
        match self {
            PerPlatform::Single(t) => PerPlatform::Single(f(t)),
            PerPlatform::Platforms(v) => {
                PerPlatform::Platforms(v.into_iter().map(|(k, t)| (k, f(t))).collect())
            }
        }
    }
}

impl AliasManifest {
    /// Applies `f` to this image manifest, or to every resolved platform manifest of an
    /// index (platforms not resolved are left out).
    fn per_platform<T>(&self, f: impl Fn(&Descriptor, &[Descriptor]) -> T) -> PerPlatform<T> {
        match &self.content {
            AliasContent::Image { config, layers } => PerPlatform::Single(f(config, layers)),
            AliasContent::Index { platforms } => PerPlatform::Platforms(
                platforms
                    .iter()
                    .filter_map(|p| match &p.manifest.as_ref()?.content {
                        AliasContent::Image { config, layers } => {
                            Some((p.platform.clone(), f(config, layers)))
                        }
                        AliasContent::Index { .. } => None,
                    })
                    .collect(),
            ),
        }
    }

    /// The layers (digest and size), per platform for an index (python-dxf `get_alias`).
    /// An index without platform entries gives an empty per-platform list: see
    /// [`AliasManifest::try_layers`].
    pub fn layers(&self) -> PerPlatform<Vec<(Digest, u64)>> {
        self.per_platform(|_, layers| layers.iter().map(|l| (l.digest.clone(), l.size)).collect())
    }

    /// The config digest, per platform for an index (python-dxf `get_digest`). An index
    /// without platform entries gives an empty per-platform list: see
    /// [`AliasManifest::try_config_digest`].
    pub fn config_digest(&self) -> PerPlatform<Digest> {
        self.per_platform(|config, _| config.digest.clone())
    }

    /// When this is an index none of whose entries has a `platform` (a referrers or
    /// artifact index, an empty index): how many entries it has. `None` for an image
    /// manifest and for an index with platforms.
    pub fn without_platforms(&self) -> Option<IndexWithoutPlatforms> {
        match &self.content {
            AliasContent::Index { platforms } if platforms.is_empty() => {
                // The body was decoded into this very index; decoding it again only counts.
                parse_manifest(&self.body, Some(&self.media_type))
                    .ok()?
                    .without_platforms()
            }
            _ => None,
        }
    }

    /// [`AliasManifest::layers`], refusing an index without platforms
    /// ([`AliasManifest::without_platforms`]) instead of answering an empty list.
    pub fn try_layers(&self) -> Result<PerPlatform<Vec<(Digest, u64)>>, IndexWithoutPlatforms> {
        match self.without_platforms() {
            Some(e) => Err(e),
            None => Ok(self.layers()),
        }
    }

    /// [`AliasManifest::config_digest`], refusing an index without platforms
    /// ([`AliasManifest::without_platforms`]) instead of answering an empty list.
    pub fn try_config_digest(&self) -> Result<PerPlatform<Digest>, IndexWithoutPlatforms> {
        match self.without_platforms() {
            Some(e) => Err(e),
            None => Ok(self.config_digest()),
        }
    }

    /// The manifest bodies as received, per platform for an index (python-dxf
    /// `get_manifest`). An index without platforms
    /// ([`AliasManifest::without_platforms`]) is its own body, as a single manifest is.
    pub fn bodies(&self) -> PerPlatform<Vec<u8>> {
        if self.without_platforms().is_some() {
            return PerPlatform::Single(self.body.clone());
        }
        match &self.content {
            AliasContent::Image { .. } => PerPlatform::Single(self.body.clone()),
            AliasContent::Index { platforms } => PerPlatform::Platforms(
                platforms
                    .iter()
                    .filter_map(|p| Some((p.platform.clone(), p.manifest.as_ref()?.body.clone())))
                    .collect(),
            ),
        }
    }

    /// For an index, each platform's manifest digest (python-dxf `del_alias` on a
    /// multi-arch alias); `None` for an image manifest.
    pub fn platform_digests(&self) -> Option<Vec<(String, Digest)>> {
        match &self.content {
            AliasContent::Image { .. } => None,
            AliasContent::Index { platforms } => Some(
                platforms
                    .iter()
                    .map(|p| (p.platform.clone(), p.digest.clone()))
                    .collect(),
            ),
        }
    }
}

/// Alias read. Output: [`AliasManifest`].
#[derive(Debug)]
pub struct ReadAlias(Machine<ReadFlow>);

#[derive(Debug)]
pub(crate) struct ReadFlow {
    session_base: Url,
    repo: Repository,
    reference: Reference,
    url: Url,
    options: ReadOptions,
    limit: u64,
    max_platforms: usize,
    /// The index being resolved, and the platforms still to fetch.
    index: Option<(AliasManifest, usize)>,
    /// A top manifest the caller already has (python-dxf's `get_alias(manifest=…)`).
    given: Option<Vec<u8>>,
}

impl ReadAlias {
    /// Reads `reference` in `repo`.
    pub fn new(
        session: &Session,
        repo: &Repository,
        reference: &Reference,
        options: ReadOptions,
    ) -> Result<ReadAlias, Error> {
        Ok(ReadAlias(Machine::new(ReadFlow {
            session_base: session.base_url().clone(),
            url: manifest_url(session, repo, reference)?,
            repo: repo.clone(),
            reference: reference.clone(),
            options,
            limit: session.limits().manifest_body,
            max_platforms: session.limits().max_platforms,
            index: None,
            given: None,
        })))
    }

    /// Reads a manifest the caller already has (e.g. from stdin; python-dxf's
    /// `get_alias(manifest=…)`): nothing is fetched for it — its digest is computed — and
    /// an index has its platforms resolved from `repo` as for [`ReadAlias::new`].
    pub fn from_manifest(
        session: &Session,
        repo: &Repository,
        manifest: Vec<u8>,
        options: ReadOptions,
    ) -> Result<ReadAlias, Error> {
        let limit = session.limits().manifest_body;
        if manifest.len() as u64 > limit {
            return Err(Error::BodyTooLarge { limit });
        }
        let mut digest = crate::digest::Sha256::new();
        digest.update(&manifest);
        let mut op = ReadAlias::new(session, repo, &Reference::Digest(digest.finish()), options)?;
        op.0.flow.given = Some(manifest);
        Ok(op)
    }
}

impl ReadFlow {
    fn fetch(&mut self, reference: Reference) -> Result<Next<AliasManifest>, Error> {
        self.url = self
            .session_base
            .join(&format!(
                "v2/{}/manifests/{}",
                self.repo.as_str(),
                reference.as_str()
            ))
            .map_err(|e| Error::InvalidUrl(e.to_string()))?;
        self.reference = reference;
        Ok(Next::Send(manifest_request(Method::GET, &self.url)?))
    }

    /// Fetches the next unresolved platform, or finishes.
    fn next_platform(&mut self) -> Result<Next<AliasManifest>, Error> {
        let Some((index, pos)) = &mut self.index else {
            return Err(crate::error::Misuse::UnexpectedCall("next platform").into());
        };
        let next = match &index.content {
            AliasContent::Index { platforms } => platforms.get(*pos).map(|p| p.digest.clone()),
            AliasContent::Image { .. } => None,
        };
        match next {
            Some(d) => self.fetch(Reference::Digest(d)),
            None => match self.index.take() {
                Some((index, _)) => Ok(Next::Done(index)),
                None => Err(crate::error::Misuse::UnexpectedCall("next platform").into()),
            },
        }
    }
}

fn decode(
    head: &http::response::Parts,
    body: Vec<u8>,
    reference: &Reference,
) -> Result<AliasManifest, Error> {
    let digest = verify_manifest(head, &body, reference)?;
    let parsed = parse_manifest(&body, content_type(head).as_deref())?;
    let media_type = parsed.media_type().to_owned();
    let content = match parsed {
        Manifest::Image { config, layers, .. } => AliasContent::Image { config, layers },
        index @ Manifest::Index { .. } => AliasContent::Index {
            platforms: index
                .platforms()
                .into_iter()
                .map(|(platform, digest)| PlatformManifest {
                    platform,
                    digest,
                    manifest: None,
                })
                .collect(),
        },
    };
    Ok(AliasManifest {
        digest,
        media_type,
        body,
        content,
    })
}

impl Flow for ReadFlow {
    type Output = AliasManifest;

    fn kind(&self) -> OpKind {
        OpKind::ManifestGet
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull")
    }

    fn start(&mut self) -> Result<Next<AliasManifest>, Error> {
        if let Some(body) = self.given.take() {
            // The digest in `reference` was computed from this body; nothing to verify.
            let (head, ()) = http::Response::new(()).into_parts();
            let manifest = decode(&head, body, &self.reference)?;
            return self.on_top(manifest);
        }
        Ok(Next::Send(manifest_request(Method::GET, &self.url)?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::OK
    }

    fn on_head(&mut self, _: &http::response::Parts) -> Result<HeadAction<AliasManifest>, Error> {
        Ok(HeadAction::Feed(self.limit))
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<AliasManifest>, Error> {
        let manifest = decode(&head, body, &self.reference)?;
        let Some((index, pos)) = &mut self.index else {
            return self.on_top(manifest);
        };
        // A platform manifest: it must be an image (python-dxf does not recurse further).
        if let AliasContent::Index { .. } = manifest.content {
            return Err(Error::UnsupportedMediaType(manifest.media_type));
        }
        if self.options.platform.is_some() {
            return Ok(Next::Done(manifest));
        }
        if let AliasContent::Index { platforms } = &mut index.content {
            if let Some(slot) = platforms.get_mut(*pos) {
                slot.manifest = Some(manifest);
            }
        }
        *pos += 1;
        self.next_platform()
    }
}

impl ReadFlow {
    /// The alias's own manifest: an image is the result, and so is an index without
    /// platforms (nothing to resolve, no platform to pick); an index is resolved as asked.
    fn on_top(&mut self, manifest: AliasManifest) -> Result<Next<AliasManifest>, Error> {
        let AliasContent::Index { platforms } = &manifest.content else {
            return Ok(Next::Done(manifest));
        };
        if platforms.is_empty() {
            return Ok(Next::Done(manifest));
        }
        if platforms.len() > self.max_platforms {
            return Err(ProtocolViolation::TooManyPlatforms(self.max_platforms).into());
        }
        if let Some(wanted) = self.options.platform.clone() {
            let digest = platforms
                .iter()
                .find(|p| p.platform == wanted)
                .map(|p| p.digest.clone())
                .ok_or(Error::PlatformNotFound(wanted))?;
            self.index = Some((manifest, 0));
            return self.fetch(Reference::Digest(digest));
        }
        if !self.options.resolve_platforms {
            return Ok(Next::Done(manifest));
        }
        self.index = Some((manifest, 0));
        self.next_platform()
    }
}

delegate_operation!(ReadAlias, AliasManifest);
