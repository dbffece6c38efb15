//! Referrers (OCI distribution spec 1.1): the manifests whose `subject` is a given manifest.
//!
//! [`Referrers`] lists them: `GET /v2/<name>/referrers/<digest>[?artifactType=…]`, an OCI
//! image index, following `Link: <…>; rel="next"` pages (bounded like tag lists). A registry
//! without the API answers the first page with 404; then the **referrers tag schema** is
//! read instead: the index stored under the tag [`fallback_tag`] (`sha256-<hex>`), whose
//! absence means no referrers. Entries are filtered by `artifactType` here whether or not the
//! registry says it applied the filter (`OCI-Filters-Applied`): a registry that did loses
//! nothing, one that did not (or did so wrongly) is corrected.
//!
//! This module also owns the referrers index itself, which is peer input on one side and
//! written by [`Attach`](super::Attach) on the other: [`parse_referrers_index`],
//! [`referrers_index_json`] (a new index) and [`append_referrer`] (an existing one, which
//! another client may have written: its bytes are kept).

use http::header::ACCEPT;
use http::{HeaderValue, Method, StatusCode};
use url::Url;

use super::alias::descriptor;
use super::get::{content_type, manifest_request, verify_manifest};
use super::media_types::OCI_IMAGE_INDEX;
use super::parse::{parse_manifest, Descriptor, Manifest, ManifestError};
use crate::auth::Scope;
use crate::error::{Error, OpKind, ProtocolViolation};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
use crate::headers::next_link;
use crate::operation::Body;
use crate::pyjson::Json;
use crate::reference::{Digest, Reference, Repository, Tag};
use crate::session::Session;
use crate::url::{request, resolve, with_query_param};

/// Most referrers one listing (all pages together) or one fallback index holds; more is
/// [`ProtocolViolation::TooManyReferrers`].
pub const MAX_REFERRERS: usize = 10_000;

/// Most bytes the kept referrers may hold, all pages together (digests, media and
/// artifact types, annotations); more is [`ProtocolViolation::ReferrersTooLarge`]. Pages
/// are each capped by [`Limits::list_body`](crate::Limits), but many of them could
/// otherwise add up without bound.
pub const MAX_REFERRERS_BYTES: u64 = 16 * 1024 * 1024;

/// Roughly the memory one kept descriptor holds.
fn kept_size(d: &Descriptor) -> u64 {
    let strings = d.media_type.len()
        + d.digest.as_str().len()
        + d.artifact_type.as_ref().map_or(0, String::len)
        + d.annotations
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    strings as u64 + 64
}

/// The `OCI-Filters-Applied` response header.
pub const FILTERS_APPLIED: &str = "oci-filters-applied";

/// The `OCI-Subject` response header of a manifest PUT: the registry processed the
/// manifest's `subject` (it keeps the referrers list itself).
pub const OCI_SUBJECT: &str = "oci-subject";

/// The referrers tag schema's tag for `subject`: `<alg>-<encoded>`, the algorithm cut to
/// 32 characters and the encoded part to 64, every character a tag cannot hold replaced by
/// `-` (for sha256: `sha256-<64 hex>`).
pub fn fallback_tag(subject: &Digest) -> Result<Tag, Error> {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .take(max)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let tag = format!(
        "{}-{}",
        clean(subject.algorithm(), 32),
        clean(subject.encoded(), 64)
    );
    Ok(Tag::parse(&tag)?)
}

/// Decodes a referrers index: an OCI image index (its `mediaType`, or the `Content-Type`
/// when the body has none). Anything else — an image manifest, a Docker manifest list — is
/// [`ManifestError::UnsupportedMediaType`]; malformed entries fail as in
/// [`parse_manifest`]. Returns the entries in document order.
pub fn parse_referrers_index(
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Vec<Descriptor>, ManifestError> {
    match parse_manifest(body, content_type)? {
        Manifest::Index {
            media_type,
            manifests,
        } if media_type == OCI_IMAGE_INDEX => Ok(manifests),
        other => Err(ManifestError::UnsupportedMediaType(
            other.media_type().chars().take(256).collect(),
        )),
    }
}

/// A referrers index listing `manifests`: `{"manifests":[…],"mediaType":
/// "application/vnd.oci.image.index.v1+json","schemaVersion":2}`, compact with sorted keys
/// (the same entries always give the same bytes).
pub fn referrers_index_json(manifests: &[Descriptor]) -> String {
    let doc: std::collections::BTreeMap<String, Json> = [
        (
            "manifests".to_owned(),
            Json::Arr(manifests.iter().map(descriptor).collect()),
        ),
        ("mediaType".to_owned(), Json::from(OCI_IMAGE_INDEX)),
        ("schemaVersion".to_owned(), Json::Int(2)),
    ]
    .into_iter()
    .collect();
    Json::Obj(doc).compact()
}

/// Why [`append_referrer`] could not add an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The body is not a referrers index ([`parse_referrers_index`]'s error).
    Index(ManifestError),
    /// The index already holds [`MAX_REFERRERS`] entries.
    TooMany,
}

impl From<ManifestError> for AppendError {
    fn from(e: ManifestError) -> Self {
        AppendError::Index(e)
    }
}

/// `body`, a referrers index as received (from any client), with `entry` added as the last
/// element of its `manifests` array — **byte for byte apart from the entry added**:
///
/// the result is `body` with exactly one insertion, at the end of the last element of the
/// top-level `manifests` array (right after its `[` when the array is empty), of the
/// entry's compact JSON (the form [`referrers_index_json`] writes; sorted keys), preceded
/// by `,` when the array had elements. Nothing else changes: every existing entry's text
/// (its `urls`, `data`, `annotations`, `platform`, unknown fields, key order, spacing,
/// number spelling and string escapes), every other top-level field (the index's own
/// `annotations`, `artifactType`, `subject`, unknown fields), whitespace outside and
/// before the closing `]`. When `manifests` appears more than once, the last one (the one
/// a JSON reader keeps, as [`parse_manifest`] does) gets the entry.
///
/// The body (with its `Content-Type`) must be what [`parse_referrers_index`] accepts (its
/// error otherwise). When an entry of `entry`'s digest is listed already, nothing is
/// added: `Ok(None)`. An index of [`MAX_REFERRERS`] entries is [`AppendError::TooMany`].
/// Nothing is re-serialised, so the result does not depend on how a JSON library orders
/// or spells anything; it is decoded again before being returned and must list exactly
/// the old entries and then `entry`.
pub fn append_referrer(
    body: &[u8],
    content_type: Option<&str>,
    entry: &Descriptor,
) -> Result<Option<Vec<u8>>, AppendError> {
    let entries = parse_referrers_index(body, content_type)?;
    if entries.iter().any(|e| e.digest == entry.digest) {
        return Ok(None);
    }
    if entries.len() >= MAX_REFERRERS {
        return Err(AppendError::TooMany);
    }
    let bad = || {
        AppendError::Index(ManifestError::InvalidJson(
            "the manifests array could not be located".to_owned(),
        ))
    };
    let (at, comma) = manifests_insertion_point(body).ok_or_else(bad)?;
    let text = descriptor(entry).compact();
    let mut out = Vec::with_capacity(body.len() + text.len() + 1);
    out.extend_from_slice(body.get(..at).ok_or_else(bad)?);
    if comma {
        out.push(b',');
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(body.get(at..).ok_or_else(bad)?);
    // The scan and the decoder must agree: the old entries, then this one.
    let again = parse_referrers_index(&out, content_type)?;
    if again.len() != entries.len() + 1
        || again.get(..entries.len()) != Some(entries.as_slice())
        || again.last() != Some(entry)
    {
        return Err(bad());
    }
    Ok(Some(out))
}

/// A cursor over JSON text that is already known to be valid (it was decoded): it only
/// finds where values start and end. Every step is bounds-checked (`None` at the end of
/// the input); nesting is counted, not recursed into.
struct Scan<'a> {
    text: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// Skips a string (at its opening quote); its span, quotes included.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        let start = self.at;
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(start..self.at);
                }
                b'\\' => self.at = self.at.checked_add(2)?,
                _ => self.at += 1,
            }
        }
    }

    /// Skips one value (at its first byte); its span.
    fn value(&mut self) -> Option<std::ops::Range<usize>> {
        let start = self.at;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.at += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
            }
        }
        (self.at > start).then_some(start..self.at)
    }
}

/// Where an entry goes in the index `text`: the offset right after the last element of the
/// last top-level `manifests` array (after its `[` when empty), and whether a `,` must come
/// first. `None` when the text is not an object with such an array.
fn manifests_insertion_point(text: &[u8]) -> Option<(usize, bool)> {
    let mut scan = Scan { text, at: 0 };
    scan.space();
    scan.expect(b'{')?;
    scan.space();
    let mut manifests = None;
    if scan.peek()? != b'}' {
        loop {
            let key = scan.string()?;
            scan.space();
            scan.expect(b':')?;
            scan.space();
            let value = scan.value()?;
            // A key may be spelled with escapes; compare what it decodes to.
            let name: String = serde_json::from_slice(text.get(key)?).ok()?;
            if name == "manifests" {
                manifests = Some(value);
            }
            scan.space();
            match scan.peek()? {
                b',' => {
                    scan.at += 1;
                    scan.space();
                }
                b'}' => break,
                _ => return None,
            }
        }
    }
    // The array's elements: the insertion point follows the last one.
    let array = manifests?;
    let mut scan = Scan {
        text,
        at: array.start,
    };
    scan.expect(b'[')?;
    let mut end = scan.at;
    let mut elements = 0usize;
    loop {
        scan.space();
        match scan.peek()? {
            b']' => break,
            b',' if elements > 0 => scan.at += 1,
            _ => {
                end = scan.value()?.end;
                elements += 1;
            }
        }
    }
    (scan.at + 1 == array.end).then_some((end, elements > 0))
}

/// Keeps the entries of artifact type `wanted` (all when `None`).
fn keep_type(entries: Vec<Descriptor>, wanted: Option<&str>) -> Vec<Descriptor> {
    match wanted {
        None => entries,
        Some(t) => entries
            .into_iter()
            .filter(|d| d.artifact_type.as_deref() == Some(t))
            .collect(),
    }
}

/// Where a referrers list came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferrersVia {
    /// The registry's referrers API.
    Api,
    /// The referrers tag schema (the registry has no referrers API).
    TagSchema,
}

/// The manifests that refer to a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferrersList {
    /// The subject's digest (resolved from the tag when a tag was given).
    pub subject: Digest,
    /// The referrers' descriptors (media type, digest, size, `artifactType`,
    /// annotations), in the registry's order, filtered by artifact type when one was asked.
    pub manifests: Vec<Descriptor>,
    /// The API, or the tag schema.
    pub via: ReferrersVia,
    /// Whether the registry said it applied the artifact type filter
    /// (`OCI-Filters-Applied: artifactType` on every page).
    pub filtered_by_registry: bool,
}

impl ReferrersList {
    /// The list as an OCI image index (what the referrers API answers), via
    /// [`referrers_index_json`].
    pub fn to_index_json(&self) -> String {
        referrers_index_json(&self.manifests)
    }
}

/// Referrers listing. Output: [`ReferrersList`].
#[derive(Debug)]
pub struct Referrers(Machine<ReferrersFlow>);

#[derive(Debug)]
enum Phase {
    /// GET of the subject manifest, for its digest.
    Resolving,
    /// A page of the referrers API (`0` is the first).
    Api(u32),
    /// GET of the fallback tag.
    Fallback,
}

#[derive(Debug)]
pub(crate) struct ReferrersFlow {
    base: Url,
    repo: Repository,
    reference: Reference,
    artifact_type: Option<String>,
    subject: Option<Digest>,
    url: Url,
    phase: Phase,
    found: Vec<Descriptor>,
    /// What `found` holds, by [`kept_size`].
    found_bytes: u64,
    filtered_by_registry: bool,
    limit: u64,
    max_pages: u32,
}

impl Referrers {
    /// The referrers of `subject` (a tag is first resolved to its manifest's digest) in
    /// `repo`; with `artifact_type`, only those of that type.
    pub fn new(
        session: &Session,
        repo: &Repository,
        subject: &Reference,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, Error> {
        let url = super::get::manifest_url(session, repo, subject)?;
        Ok(Referrers(Machine::new(ReferrersFlow {
            base: session.base_url().clone(),
            repo: repo.clone(),
            reference: subject.clone(),
            artifact_type: artifact_type.map(str::to_owned),
            subject: match subject {
                Reference::Digest(d) => Some(d.clone()),
                Reference::Tag(_) => None,
            },
            url,
            phase: Phase::Resolving,
            found: Vec::new(),
            found_bytes: 0,
            filtered_by_registry: true,
            limit: session.limits().manifest_body,
            max_pages: session.limits().max_pages,
        })))
    }
}

impl ReferrersFlow {
    fn join(&self, path: &str) -> Result<Url, Error> {
        self.base
            .join(&format!("v2/{}/{path}", self.repo.as_str()))
            .map_err(|e| Error::InvalidUrl(e.to_string()))
    }

    fn subject(&self) -> Result<&Digest, Error> {
        self.subject
            .as_ref()
            .ok_or_else(|| crate::error::Misuse::UnexpectedCall("referrers before subject").into())
    }

    /// The first page of the referrers API.
    fn ask_api(&mut self) -> Result<Next<ReferrersList>, Error> {
        let mut url = self.join(&format!("referrers/{}", self.subject()?.as_str()))?;
        if let Some(t) = &self.artifact_type {
            url = with_query_param(&url, "artifactType", t);
        }
        self.url = url;
        self.phase = Phase::Api(0);
        self.send_api()
    }

    fn send_api(&self) -> Result<Next<ReferrersList>, Error> {
        let mut req = request(Method::GET, &self.url, Body::Empty, None)?;
        req.headers_mut()
            .insert(ACCEPT, HeaderValue::from_static(OCI_IMAGE_INDEX));
        Ok(Next::Send(req))
    }

    /// The tag schema's index.
    fn ask_fallback(&mut self) -> Result<Next<ReferrersList>, Error> {
        let tag = fallback_tag(self.subject()?)?;
        self.url = self.join(&format!("manifests/{}", tag.as_str()))?;
        self.reference = Reference::Tag(tag);
        self.phase = Phase::Fallback;
        Ok(Next::Send(manifest_request(Method::GET, &self.url)?))
    }

    fn add(&mut self, entries: Vec<Descriptor>) -> Result<(), Error> {
        let entries = keep_type(entries, self.artifact_type.as_deref());
        if self.found.len().saturating_add(entries.len()) > MAX_REFERRERS {
            return Err(ProtocolViolation::TooManyReferrers(MAX_REFERRERS).into());
        }
        let bytes = entries.iter().map(kept_size).sum::<u64>();
        self.found_bytes = self.found_bytes.saturating_add(bytes);
        if self.found_bytes > MAX_REFERRERS_BYTES {
            return Err(ProtocolViolation::ReferrersTooLarge(MAX_REFERRERS_BYTES).into());
        }
        self.found.extend(entries);
        Ok(())
    }

    fn done(&mut self, via: ReferrersVia) -> Result<Next<ReferrersList>, Error> {
        Ok(Next::Done(ReferrersList {
            subject: self.subject()?.clone(),
            manifests: std::mem::take(&mut self.found),
            via,
            filtered_by_registry: via == ReferrersVia::Api
                && self.artifact_type.is_some()
                && self.filtered_by_registry,
        }))
    }

    /// The `Link: rel="next"` target of an API page, checked and bounded.
    fn next_page(&self, head: &http::response::Parts, page: u32) -> Result<Option<Url>, Error> {
        let values = head
            .headers
            .get_all(http::header::LINK)
            .iter()
            .map(HeaderValue::as_bytes);
        let Some(target) =
            next_link(values).map_err(|e| ProtocolViolation::BadLink(e.to_string()))?
        else {
            return Ok(None);
        };
        let url =
            resolve(&self.url, &target).map_err(|e| ProtocolViolation::BadLink(e.to_string()))?;
        if url == self.url {
            return Err(ProtocolViolation::BadLink("next page is this page".into()).into());
        }
        if page.saturating_add(1) >= self.max_pages {
            return Err(ProtocolViolation::TooManyPages(self.max_pages).into());
        }
        Ok(Some(url))
    }
}

/// Whether an `OCI-Filters-Applied` header lists `artifactType`.
fn says_filtered(head: &http::response::Parts) -> bool {
    head.headers.get_all(FILTERS_APPLIED).iter().any(|v| {
        v.to_str()
            .unwrap_or_default()
            .split(',')
            .any(|f| f.trim() == "artifactType")
    })
}

fn bad_index(e: ManifestError) -> Error {
    match e {
        ManifestError::UnsupportedMediaType(t) => Error::UnsupportedMediaType(t),
        other => ProtocolViolation::BadJson {
            what: "referrers index",
            detail: other.to_string(),
        }
        .into(),
    }
}

impl Flow for ReferrersFlow {
    type Output = ReferrersList;

    fn kind(&self) -> OpKind {
        match self.phase {
            Phase::Api(_) => OpKind::Referrers,
            Phase::Resolving | Phase::Fallback => OpKind::ManifestGet,
        }
    }

    fn scope(&self) -> Scope {
        Scope::repository(&self.repo, "pull")
    }

    fn start(&mut self) -> Result<Next<ReferrersList>, Error> {
        if self.subject.is_some() {
            return self.ask_api();
        }
        Ok(Next::Send(manifest_request(Method::GET, &self.url)?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        match self.phase {
            Phase::Resolving | Phase::Api(1..) => status == StatusCode::OK,
            Phase::Api(0) | Phase::Fallback => {
                status == StatusCode::OK || status == StatusCode::NOT_FOUND
            }
        }
    }

    fn on_head(
        &mut self,
        head: &http::response::Parts,
    ) -> Result<HeadAction<ReferrersList>, Error> {
        Ok(if head.status == StatusCode::OK {
            HeadAction::Feed(self.limit)
        } else {
            HeadAction::Discard
        })
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<ReferrersList>, Error> {
        match self.phase {
            Phase::Resolving => {
                self.subject = Some(verify_manifest(&head, &body, &self.reference)?);
                self.ask_api()
            }
            Phase::Api(0) if head.status == StatusCode::NOT_FOUND => self.ask_fallback(),
            Phase::Api(page) => {
                let entries = parse_referrers_index(&body, content_type(&head).as_deref())
                    .map_err(bad_index)?;
                self.filtered_by_registry &= says_filtered(&head);
                self.add(entries)?;
                match self.next_page(&head, page)? {
                    Some(url) => {
                        self.url = url;
                        self.phase = Phase::Api(page + 1);
                        self.send_api()
                    }
                    None => self.done(ReferrersVia::Api),
                }
            }
            Phase::Fallback if head.status == StatusCode::NOT_FOUND => {
                self.done(ReferrersVia::TagSchema)
            }
            Phase::Fallback => {
                verify_manifest(&head, &body, &self.reference)?;
                let entries = parse_referrers_index(&body, content_type(&head).as_deref())
                    .map_err(bad_index)?;
                self.add(entries)?;
                self.done(ReferrersVia::TagSchema)
            }
        }
    }
}

delegate_operation!(Referrers, ReferrersList);
