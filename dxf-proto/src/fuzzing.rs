//! Fuzz entry points (feature `fuzzing`; not a stable API). Every function takes the raw
//! fuzz input, never panics on its own account, and panics on purpose when an invariant
//! of dxf-proto is broken — that is what libFuzzer (and the stable corpus replay in
//! `tests/fuzz_corpus.rs`) catches. `fuzz/fuzz_targets/*.rs` are one-line shims over these.
//!
//! Parser targets ([`www_authenticate`], [`link`], [`range`], [`reference`], [`manifest`],
//! [`token`], [`oci_error`], [`referrers_index`]) feed the bytes to one parser and check what
//! it promises.
//!
//! Whole-operation targets ([`push_chunked`], [`push_monolithic`], [`push_stream`],
//! [`push_single_pass`], [`pull`], [`pull_resume`], [`mount`], [`manifest_get`], [`alias_index`],
//! [`tag_list`], [`auth`], [`referrers`], [`delete_tag`], [`plan_copy`],
//! [`place_blob`]) decode the input into a session setup, operation options and a
//! scripted registry, then drive the operation (wrapped in [`Authed`] over
//! [`Retrying`](crate::Retrying), as the adapters run it) with a step bound.
//!
//! ## Input format
//!
//! ```text
//! setup    b0: bits 0-1 credentials (none, Basic, raw Authorization, non-ASCII Basic)
//!              bit 2 small limits · bit 3 https · bit 4 credentials over http allowed
//!              bit 5 auth-host override · bit 6 identity-token credentials
//!              (refresh-token grant; overrides bits 0-1)
//!          b1: stream-source read size − 1 (0 = everything at once)
//!          n = byte % 129, then n bytes: the blob (upload source / pulled blob / mounted)
//! options  target-specific bytes (see each function)
//! replies  until the input ends (at most MAX_REPLIES), each:
//!          status   byte < 0xf0: STATUSES[byte % len]; else 100 + u16 % 900, where
//!                   600 to 899 mean a transport failure (no response at all), and 900
//!                   and above that the driver abandons the request and cancels the
//!                   operation ([`Operation::cancel`]; a transport failure once cancelled)
//!          flags    bits 0-2 header count · bits 3-5 ≠ 0: a split byte follows
//!                   bits 6-7 clock advance after the reply (0, 1 s, 300 s, 400 days)
//!          headers  name: 0xff → u8-length raw name, else HEADER_NAMES[byte % len]
//!                   value: 0xff → u16-length raw, 0xfe → u8-length raw,
//!                   else HEADER_VALUES[byte % len]
//!          body     0xff → u16-length raw, 0xfe → u8-length raw, else BODIES[byte % len]
//!          split    (when flagged) body fed in pieces of split + 1 bytes
//! ```
//!
//! The script repeats from its first reply when it runs out (an empty script answers 500),
//! so an operation that never gives up is caught by the step bound. Header values may hold
//! placeholders resolved per reply: `{body-digest}`, `{body-len}`, `{blob-digest}`,
//! `{blob-len}`, `{range-ack}` (`0-END` of the request's `Content-Range`), and the digests
//! of the template bodies `{manifest-digest}`, `{alias-digest}`, `{index-digest}`.
//!
//! Invariants asserted: no panic; `Done` or `Err` within [`MAX_STEPS`]; an error is sticky;
//! a fed body is never accepted past its `Feed` limit; `Authorization` never goes over
//! plain http unless allowed, nor to a host other than the registry, the auth-host override
//! or a host named in a challenge the registry sent; a pull's verifier accepts only bytes
//! that hash to the digest; a manifest is only returned with a digest that verifies its
//! body; an upload is `Done` only after a 201 to its final `PUT` (or, skipped, a 200 to its
//! `HEAD`); a mount only after a 201.

// Panicking on a broken invariant is the point of this module (libFuzzer catches it).
#![allow(clippy::panic)]

use http::{HeaderName, HeaderValue, StatusCode};

use crate::auth::challenge::MAX_CHALLENGES;
use crate::auth::token_response::MAX_TOKEN_LEN;
use crate::digest::{digest_of, verify_bytes, BlobVerifier, Sha256};
use crate::error::{Error, OciError, OpKind, MAX_OCI_ERRORS};
use crate::headers::{
    next_link, parse_content_range, parse_decimal, parse_retry_after, parse_upload_range,
};
use crate::manifest::parse::parse_manifest;
use crate::operation::{BodyPlan, Operation, Request, Step, UnixTime};
use crate::reference::{Digest, Reference, Repository, Tag};
use crate::session::{Credentials, Limits, Scheme, Session};
use crate::{
    parse_challenges, parse_rfc3339, parse_token_response, AliasContent, AliasManifest, Authed,
    Catalog, GetBlob, GetManifest, HeadBlob, ListTags, MountBlob, MountOptions, Page, PutManifest,
    ReadAlias, ReadOptions, Scoped, Upload, UploadMode, UploadOptions, VersionCheck,
};

/// The most steps (polls) one operation may take before the target reports a livelock.
pub const MAX_STEPS: usize = 4096;

/// The most replies decoded from one input.
pub const MAX_REPLIES: usize = 64;

/// The registry every whole-operation target talks to (real captures were made there).
pub const REGISTRY_HOST: &str = "127.0.0.1:5000";

/// Registry-relevant statuses.
pub const STATUSES: &[u16] = &[
    200, 201, 202, 204, 206, 301, 302, 307, 308, 400, 401, 403, 404, 405, 416, 429, 500, 503,
];

/// Response headers the operations look at.
pub const HEADER_NAMES: &[&str] = &[
    "location",
    "range",
    "docker-content-digest",
    "www-authenticate",
    "link",
    "content-length",
    "content-type",
    "oci-chunk-min-length",
    "retry-after",
    "content-range",
    "docker-upload-uuid",
    "docker-distribution-api-version",
];

/// Header values: realistic, odd and garbage, with placeholders (see the module doc).
pub const HEADER_VALUES: &[&str] = &[
    "{body-digest}",
    "{blob-digest}",
    "{body-len}",
    "{blob-len}",
    "{range-ack}",
    "{manifest-digest}",
    "{alias-digest}",
    "{index-digest}",
    "/v2/a/blobs/uploads/u1?_state=s1",
    "/v2/a/blobs/uploads/u2",
    "http://127.0.0.1:5000/v2/a/blobs/uploads/u3?_state=s3",
    "https://127.0.0.1:5000/v2/a/blobs/uploads/u4",
    "https://other.example/upload?sig=1&x=%2F",
    "//evil.example/x",
    "ftp://x/y",
    "",
    "?_state=only",
    "0-0",
    "0--1",
    "bytes=0-9",
    "0-3",
    "5-9",
    "0-18446744073709551615",
    "99999999999999999999",
    "0",
    "1",
    "3",
    "120",
    "-1",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Wed, 21 Oct 2037 07:28:00 GMT",
    "sha256:zz",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    r#"Bearer realm="http://127.0.0.1:5001/token",service="127.0.0.1:5000",scope="repository:a:pull""#,
    r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/a:pull,push""#,
    r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/a:pull""#,
    r#"Bearer realm="https://auth.test/token",service="s",scope="repository:a:pull" error="insufficient_scope""#,
    r#"Bearer realm="/token",service="s""#,
    r#"Bearer realm="ftp://auth.test/token""#,
    r#"Bearer service="no-realm""#,
    r#"Basic realm="Registry Realm""#,
    r#"Basic realm="r", Bearer realm="https://auth.test/token""#,
    r#"Bearer realm="unterminated"#,
    "Negotiate abc==",
    r#"</v2/a/tags/list?last=b&n=1>; rel="next""#,
    "<http://127.0.0.1:5000/v2/_catalog?last=b&n=1>; rel=next",
    r#"</v2/a/tags/list>; rel="next""#,
    r#"<//evil.example/v2/a/tags/list?last=x>; rel="next""#,
    r#"<https://other.example/v2/a/tags/list?last=y>; rel="next last""#,
    "</v2/a/tags/list?last=c; rel=next",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json; charset=utf-8",
    "text/html",
    "bytes 0-2/3",
    "registry/2.0",
    "/v2/b/blobs/uploads/m1?_state=m",
];

const OCI_EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// Response bodies; the first entries are templates built from the blob.
pub const BODIES: &[&str] = &[
    "",
    "{blob}",
    "{manifest}",
    "{alias}",
    "{index}",
    r#"{"token":"t1","expires_in":300,"issued_at":"2023-11-14T22:13:20Z"}"#,
    r#"{"access_token":"a1","token":"t2","expires_in":1}"#,
    r#"{"token":"t3","expires_in":99999999999999999999}"#,
    r#"{"token":""}"#,
    r#"{"token":"bad token\n"}"#,
    r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"x"}]}"#,
    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"a","Action":"pull"}]}]}"#,
    r#"{"errors":[{"code":"DENIED"}]}"#,
    r#"{"name":"a","tags":["v1","v2"]}"#,
    r#"{"name":"a","tags":null}"#,
    r#"{"repositories":["a","b"]}"#,
    r#"{"tags":[1,2]}"#,
    "{}",
    "null",
    "[]",
    "not json",
];

fn oci_manifest(blob_digest: &str, blob_len: usize) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{OCI_EMPTY_DIGEST}","size":2}},"layers":[{{"mediaType":"application/octet-stream","digest":"{blob_digest}","size":{blob_len},"annotations":{{"org.opencontainers.image.title":"blob"}}}}]}}"#
    )
}

fn alias_manifest(blob_digest: &str, blob_len: usize) -> String {
    format!(
        r#"{{"config": {{"digest": "{blob_digest}", "mediaType": "application/vnd.docker.container.image.v1+json", "size": {blob_len}}}, "layers": [{{"digest": "{blob_digest}", "mediaType": "application/octet-stream", "size": {blob_len}}}], "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "schemaVersion": 2}}"#
    )
}

fn index_manifest(manifest: &str, alias: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}},{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#,
        sha256(manifest.as_bytes()),
        manifest.len(),
        sha256(alias.as_bytes()),
        alias.len()
    )
}

fn sha256(data: &[u8]) -> Digest {
    let mut h = Sha256::new();
    h.update(data);
    h.finish()
}

// ---------------------------------------------------------------------------------------
// Input decoding

struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    fn short(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte());
        self.bytes(n)
    }

    fn long(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.bytes(n)
    }
}

fn pick<T: Copy>(table: &[T], b: u8) -> Option<T> {
    table.get(usize::from(b) % table.len().max(1)).copied()
}

#[derive(Clone, Debug)]
enum BodySpec {
    Template(&'static str),
    Raw(Vec<u8>),
}

#[derive(Clone, Debug)]
struct ReplySpec {
    status: u16,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: BodySpec,
    split: usize,
    advance: u64,
}

fn decode_reply(inp: &mut Input<'_>) -> ReplySpec {
    let s = inp.byte();
    let status = if s < 0xf0 {
        pick(STATUSES, s).unwrap_or(500)
    } else {
        100 + inp.u16() % 900
    };
    let flags = inp.byte();
    let mut headers = Vec::new();
    for _ in 0..(flags & 7) {
        let n = inp.byte();
        let name = if n == 0xff {
            inp.short().to_vec()
        } else {
            pick(HEADER_NAMES, n).unwrap_or("x").as_bytes().to_vec()
        };
        let v = inp.byte();
        let value = match v {
            0xff => inp.long().to_vec(),
            0xfe => inp.short().to_vec(),
            _ => pick(HEADER_VALUES, v).unwrap_or("").as_bytes().to_vec(),
        };
        headers.push((name, value));
    }
    let b = inp.byte();
    let body = match b {
        0xff => BodySpec::Raw(inp.long().to_vec()),
        0xfe => BodySpec::Raw(inp.short().to_vec()),
        _ => BodySpec::Template(pick(BODIES, b).unwrap_or("")),
    };
    let split = if (flags >> 3) & 7 != 0 {
        usize::from(inp.byte()) + 1
    } else {
        usize::MAX
    };
    let advance = pick(&[0, 1, 300, 400 * 86_400], flags >> 6).unwrap_or(0);
    ReplySpec {
        status,
        headers,
        body,
        split,
        advance,
    }
}

/// The identity token of sessions with setup bit 6 (looked for in request bodies).
const FUZZ_REFRESH_TOKEN: &str = "fuzz-refresh-token-7f3a";

/// What the setup bytes decode to.
struct Setup {
    session: Session,
    source_read: usize,
    blob: Vec<u8>,
    allow_http_credentials: bool,
    auth_host: Option<String>,
}

fn decode_setup(inp: &mut Input<'_>) -> Setup {
    let b0 = inp.byte();
    let b1 = inp.byte();
    let n = usize::from(inp.byte()) % 129;
    let blob = inp.bytes(n).to_vec();
    let credentials = match b0 & 3 {
        _ if b0 & 64 != 0 => Credentials::IdentityToken(FUZZ_REFRESH_TOKEN.into()),
        0 => Credentials::None,
        1 => Credentials::Basic {
            username: "user".into(),
            password: "pass".into(),
        },
        2 => Credentials::Authorization("Bearer preset-token".into()),
        _ => Credentials::Basic {
            username: "us\u{e9}r".into(),
            password: "p:w\u{2603}".into(),
        },
    };
    let scheme = if b0 & 8 != 0 {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let allow_http_credentials = b0 & 16 != 0;
    let auth_host = (b0 & 32 != 0).then(|| "auth.override.test:8443".to_owned());
    let limits = if b0 & 4 != 0 {
        Limits {
            manifest_body: 1024,
            token_body: 96,
            error_body: 64,
            list_body: 64,
            max_redirects: 1,
            max_pages: 3,
            max_auth_rounds: 1,
            max_platforms: 1,
            chunk_size: 3,
            max_chunk_size: 7,
            retry: crate::RetryPolicy {
                max_retries: 2,
                ..crate::RetryPolicy::default()
            },
            timeouts: crate::Timeouts::default(),
        }
    } else {
        Limits {
            chunk_size: 16,
            max_chunk_size: 64,
            ..Limits::default()
        }
    };
    let session = match Session::new(REGISTRY_HOST, scheme) {
        Ok(s) => s
            .with_credentials(credentials)
            .with_credentials_over_http(allow_http_credentials)
            .with_auth_host(auth_host.clone())
            .with_limits(limits),
        Err(e) => panic!("the fuzz session must build: {e}"),
    };
    Setup {
        session,
        source_read: if b1 == 0 { usize::MAX } else { usize::from(b1) },
        blob,
        allow_http_credentials,
        auth_host,
    }
}

fn decode_replies(inp: &mut Input<'_>) -> Vec<ReplySpec> {
    let mut replies = Vec::new();
    while !inp.is_empty() && replies.len() < MAX_REPLIES {
        replies.push(decode_reply(inp));
    }
    replies
}

fn repo(name: &str) -> Repository {
    match Repository::parse(name) {
        Ok(r) => r,
        Err(e) => panic!("fixed repository name {name:?}: {e}"),
    }
}

fn tag(name: &str) -> Reference {
    match Tag::parse(name) {
        Ok(t) => Reference::Tag(t),
        Err(e) => panic!("fixed tag {name:?}: {e}"),
    }
}

/// A reference from one option byte: even → a tag, odd → a u8-length digest string that
/// follows (a tag when it does not parse).
fn decode_reference(inp: &mut Input<'_>, b: u8) -> Reference {
    if b & 1 == 0 {
        return tag(if b & 2 == 0 { "latest" } else { "v1.0" });
    }
    let text = String::from_utf8_lossy(inp.short()).into_owned();
    match Digest::parse(&text) {
        Ok(d) => Reference::Digest(d),
        Err(_) => tag("latest"),
    }
}

// ---------------------------------------------------------------------------------------
// The scripted registry and the driver

/// One request/response pair as the peer saw it.
#[derive(Debug)]
struct Exchange {
    method: http::Method,
    uri: String,
    status: u16,
}

struct Peer {
    replies: Vec<ReplySpec>,
    next: usize,
    log: Vec<Exchange>,
    blob: Vec<u8>,
    blob_digest: Digest,
    manifest: String,
    alias: String,
    index: String,
    /// Every `WWW-Authenticate` value the registry served so far (hosts named there may get
    /// credentials).
    challenges: Vec<u8>,
    allow_http_credentials: bool,
    auth_host: Option<String>,
    now: UnixTime,
}

const START: UnixTime = UnixTime(1_700_000_000);

impl Peer {
    fn new(setup: &Setup, replies: Vec<ReplySpec>) -> Peer {
        let blob_digest = sha256(&setup.blob);
        let manifest = oci_manifest(blob_digest.as_str(), setup.blob.len());
        let alias = alias_manifest(blob_digest.as_str(), setup.blob.len());
        let index = index_manifest(&manifest, &alias);
        Peer {
            replies,
            next: 0,
            log: Vec::new(),
            blob: setup.blob.clone(),
            blob_digest,
            manifest,
            alias,
            index,
            challenges: Vec::new(),
            allow_http_credentials: setup.allow_http_credentials,
            auth_host: setup.auth_host.clone(),
            now: START,
        }
    }

    fn body_of(&self, spec: &BodySpec) -> Vec<u8> {
        match spec {
            BodySpec::Raw(b) => b.clone(),
            BodySpec::Template("{blob}") => self.blob.clone(),
            BodySpec::Template("{manifest}") => self.manifest.clone().into_bytes(),
            BodySpec::Template("{alias}") => self.alias.clone().into_bytes(),
            BodySpec::Template("{index}") => self.index.clone().into_bytes(),
            BodySpec::Template(t) => t.as_bytes().to_vec(),
        }
    }

    /// Checks where credentials go (an `Authorization` header, or the identity token in a
    /// refresh-token grant's body).
    fn check_request(&self, req: &Request) {
        let refresh_token = match req.body() {
            crate::operation::Body::Bytes(b) => b
                .windows(FUZZ_REFRESH_TOKEN.len())
                .any(|w| w == FUZZ_REFRESH_TOKEN.as_bytes()),
            _ => false,
        };
        if !req.headers().contains_key(http::header::AUTHORIZATION) && !refresh_token {
            return;
        }
        let uri = req.uri();
        if uri.scheme_str() == Some("http") && !self.allow_http_credentials {
            panic!("Authorization sent over plain http: {uri}");
        }
        let Some(authority) = uri.authority().map(|a| a.as_str()) else {
            panic!("request without authority: {uri}");
        };
        let host = uri.host().unwrap_or_default();
        let named_in_challenge = !host.is_empty()
            && self
                .challenges
                .windows(host.len())
                .any(|w| w.eq_ignore_ascii_case(host.as_bytes()));
        let is_auth_host = self.auth_host.as_deref() == Some(authority)
            || self
                .auth_host
                .as_deref()
                .is_some_and(|h| h.split(':').next() == Some(host));
        if authority != REGISTRY_HOST && !named_in_challenge && !is_auth_host {
            panic!("Authorization sent to a foreign host: {uri}");
        }
    }

    /// Whether the reply due next is a transport failure (a status of 600 or more; 900 and
    /// more also cancel, see [`Peer::abandons`]): the request gets no response at all.
    /// Consumes that reply.
    fn fails(&mut self, req: &Request) -> bool {
        let failed = match self.replies.len() {
            0 => false,
            n => self
                .replies
                .get(self.next % n)
                .is_some_and(|r| r.status >= 600),
        };
        if failed {
            self.next += 1;
            self.log.push(Exchange {
                method: req.method().clone(),
                uri: req.uri().to_string(),
                status: 0,
            });
        }
        failed
    }

    /// Whether the reply due next means that the driver abandons the request in flight and
    /// cancels the operation (a status of 900 or more). Does not consume it.
    fn abandons(&self) -> bool {
        match self.replies.len() {
            0 => false,
            n => self
                .replies
                .get(self.next % n)
                .is_some_and(|r| r.status >= 900),
        }
    }

    /// The response head, the body and its split for `req`.
    fn answer(&mut self, req: &Request) -> (http::Response<()>, Vec<u8>, usize) {
        let spec = if self.replies.is_empty() {
            ReplySpec {
                status: 500,
                headers: Vec::new(),
                body: BodySpec::Template(""),
                split: usize::MAX,
                advance: 0,
            }
        } else {
            let i = self.next % self.replies.len();
            self.replies
                .get(i)
                .cloned()
                .unwrap_or_else(|| panic!("reply {i}"))
        };
        self.next += 1;
        let body = self.body_of(&spec.body);
        let status = StatusCode::from_u16(spec.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut head = http::Response::new(());
        *head.status_mut() = status;
        for (name, value) in &spec.headers {
            let value = self.resolve(value, &body, req);
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name),
                HeaderValue::from_bytes(&value),
            ) else {
                continue;
            };
            if n == http::header::WWW_AUTHENTICATE {
                self.learn_realms(&value, req);
            }
            head.headers_mut().append(n, v);
        }
        self.log.push(Exchange {
            method: req.method().clone(),
            uri: req.uri().to_string(),
            status: spec.status,
        });
        self.now = self.now.plus(spec.advance);
        (head, body, spec.split)
    }

    /// Remembers the hosts of the realms in a served challenge (as URLs normalise them:
    /// `https://3/` is host `0.0.0.3`), and the raw text — only for a challenge that
    /// answers a request to the registry: one from any other host (after a redirect, a
    /// `Link`, an upload `Location`) names no host that may get credentials.
    fn learn_realms(&mut self, value: &[u8], req: &Request) {
        if req.uri().authority().map(|a| a.as_str()) != Some(REGISTRY_HOST) {
            return;
        }
        self.challenges.extend_from_slice(value);
        self.challenges.push(b'\n');
        let Ok(challenges) = parse_challenges([value]) else {
            return;
        };
        let base = url::Url::parse(&req.uri().to_string()).ok();
        for c in &challenges {
            let Some(realm) = c.param("realm") else {
                continue;
            };
            let url = url::Url::parse(realm)
                .ok()
                .or_else(|| base.as_ref().and_then(|b| b.join(realm).ok()));
            if let Some(host) = url.as_ref().and_then(url::Url::host_str) {
                self.challenges.extend_from_slice(host.as_bytes());
                self.challenges.push(b'\n');
            }
        }
    }

    fn resolve(&self, value: &[u8], body: &[u8], req: &Request) -> Vec<u8> {
        if !value.contains(&b'{') {
            return value.to_vec();
        }
        let Ok(text) = std::str::from_utf8(value) else {
            return value.to_vec();
        };
        let range_ack = req
            .headers()
            .get(http::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('-').next())
            .map_or_else(|| "0-0".to_owned(), |end| format!("0-{end}"));
        text.replace("{body-digest}", sha256(body).as_str())
            .replace("{body-len}", &body.len().to_string())
            .replace("{blob-digest}", self.blob_digest.as_str())
            .replace("{blob-len}", &self.blob.len().to_string())
            .replace("{range-ack}", &range_ack)
            .replace(
                "{manifest-digest}",
                sha256(self.manifest.as_bytes()).as_str(),
            )
            .replace("{alias-digest}", sha256(self.alias.as_bytes()).as_str())
            .replace("{index-digest}", sha256(self.index.as_bytes()).as_str())
            .into_bytes()
    }

    fn last(&self) -> Option<&Exchange> {
        self.log.last()
    }
}

/// How a driven operation ended.
enum End<T> {
    Done(T, Option<Vec<u8>>),
    Failed,
}

fn drain<O: Operation>(op: &mut O, session: &mut Session) {
    // Bounded: an operation queues a handful of events per input.
    for _ in 0..64 {
        match op.poll_session_event() {
            Some(ev) => session.handle_event(ev),
            None => return,
        }
    }
    panic!("more than 64 session events after one call");
}

fn failed<O: Operation, T>(op: &mut O, e: Error, now: UnixTime) -> End<T> {
    match op.poll(now) {
        Err(again) if again == e => End::Failed,
        Err(again) => panic!("error not sticky: {e:?} then {again:?}"),
        Ok(_) => panic!("operation went on after {e:?}"),
    }
}

/// Runs `op` against `peer` as an adapter would, `source` being the stream source.
fn drive<O: Operation>(
    op: &mut O,
    session: &mut Session,
    peer: &mut Peer,
    source: &[u8],
    source_read: usize,
) -> End<O::Output> {
    let mut delivered = None;
    let mut stream_pos = 0usize;
    // Requests sent since the operation was cancelled (`None`: not cancelled).
    let mut since_cancel: Option<usize> = None;
    // The error a relayed body was refused with, and requests sent since (its cleanup).
    let mut since_refusal: Option<(Error, usize)> = None;
    'steps: for _ in 0..MAX_STEPS {
        let now = peer.now;
        let step = op.poll(now);
        drain(op, session);
        if let Some((refused, sent)) = &mut since_refusal {
            match &step {
                Err(e) => assert_eq!(e, refused, "a refused relay ended with another error"),
                Ok(Step::Send(req))
                    if req.extensions().get::<crate::exchange::Cleanup>().is_some() =>
                {
                    *sent += 1;
                    assert!(*sent <= 1, "{sent} cleanup requests after a refused relay");
                }
                Ok(_) => panic!("the operation went on after a refused relay ({refused:?})"),
            }
        }
        let step = match step {
            Ok(s) => s,
            Err(e) => {
                if since_cancel.is_some() && e != Error::Cancelled {
                    let tail = peer.log.len().saturating_sub(6);
                    panic!(
                        "a cancelled operation ended with {e:?}; last exchanges: {:#?}",
                        peer.log.get(tail..)
                    );
                }
                return failed(op, e, now);
            }
        };
        if let (Some(n), Step::Send(req)) = (&mut since_cancel, &step) {
            // Only its cleanup: one DELETE, with whatever credentials there are.
            *n += 1;
            assert!(*n <= 1, "{n} requests after cancel");
            if req.method() != http::Method::DELETE {
                let tail = peer.log.len().saturating_sub(6);
                panic!(
                    "{} {} after cancel; last exchanges: {:#?}",
                    req.method(),
                    req.uri(),
                    peer.log.get(tail..)
                );
            }
        }
        match step {
            Step::Done(_) if since_cancel.is_some() => panic!("done after cancel"),
            Step::Done(out) => return End::Done(out, delivered),
            Step::Wait(d) => peer.now = peer.now.plus(d.as_secs().max(1)),
            Step::NeedSource { max } => {
                let rest = source.get(stream_pos..).unwrap_or_default();
                let n = max.min(source_read).min(rest.len());
                let piece = rest.get(..n).unwrap_or_default();
                stream_pos += piece.len();
                let r = op.handle_source(piece);
                drain(op, session);
                if let Err(e) = r {
                    return failed(op, e, now);
                }
            }
            Step::Send(req) => {
                peer.check_request(&req);
                let to_relay = match req.body() {
                    crate::Body::Stream { len } => Some(*len),
                    crate::Body::StreamToEnd => Some(u64::MAX),
                    _ => None,
                };
                if let Some(len) = to_relay {
                    // Relay the stream source as the body, each piece handed over first,
                    // then the end.
                    let want = usize::try_from(len).unwrap_or(usize::MAX);
                    let rest = source.get(stream_pos..).unwrap_or_default();
                    let all = rest.get(..want.min(rest.len())).unwrap_or_default();
                    stream_pos += all.len();
                    let pieces = all.chunks(source_read.max(1)).chain([&[][..]]);
                    for piece in pieces {
                        let r = op.handle_source(piece);
                        drain(op, session);
                        if let Err(e) = r {
                            // The request is abandoned: its cleanup, then this error.
                            since_refusal = Some((e, 0));
                            continue 'steps;
                        }
                    }
                }
                if since_cancel.is_none() && peer.abandons() && peer.fails(&req) {
                    // The driver gives the operation up with this request in flight. One
                    // that was failing already (this is its cleanup) ends with its error.
                    op.cancel();
                    if req.extensions().get::<crate::exchange::Cleanup>().is_none() {
                        since_cancel = Some(0);
                    }
                    continue;
                }
                if peer.fails(&req) {
                    match op.handle_send_failure(now) {
                        crate::Recovery::Retry => continue,
                        crate::Recovery::GiveUp => {
                            assert!(op.poll(now).is_err(), "polled on after giving up");
                            return End::Failed;
                        }
                    }
                }
                let (head, body, split) = peer.answer(&req);
                let r = op.handle_response(head, now);
                drain(op, session);
                let plan = match r {
                    Ok(p) => p,
                    Err(e) => return failed(op, e, now),
                };
                match plan {
                    BodyPlan::Discard => {}
                    BodyPlan::Deliver => delivered = Some(body),
                    BodyPlan::Feed { limit } => {
                        let mut taken = 0u64;
                        for piece in body.chunks(split.max(1)) {
                            let r = op.handle_body(piece);
                            drain(op, session);
                            if let Err(e) = r {
                                return failed(op, e, now);
                            }
                            taken += piece.len() as u64;
                            if taken > limit {
                                panic!("{taken} body bytes accepted past the limit {limit}");
                            }
                        }
                        let r = op.handle_body_end();
                        drain(op, session);
                        if let Err(e) = r {
                            return failed(op, e, now);
                        }
                    }
                }
            }
        }
    }
    let tail = peer.log.len().saturating_sub(6);
    panic!(
        "operation did not end within {MAX_STEPS} steps; last exchanges: {:#?}",
        peer.log.get(tail..)
    );
}

fn drive_authed<O: Operation + Scoped>(
    op: O,
    session: &mut Session,
    peer: &mut Peer,
    source: &[u8],
    source_read: usize,
) -> End<O::Output> {
    let mut authed = Authed::new(session, crate::Retrying::new(session, op));
    let end = drive(&mut authed, session, peer, source, source_read);
    if trace() {
        for x in &peer.log {
            eprintln!("  {} {} -> {}", x.method, x.uri, x.status);
        }
        match &end {
            End::Done(..) => eprintln!("=> done"),
            End::Failed => eprintln!("=> {:?}", authed.poll(peer.now).err()),
        }
    }
    end
}

/// Whether `DXF_FUZZ_TRACE` is set: print each driven operation's exchanges and outcome.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("DXF_FUZZ_TRACE").is_some())
}

// ---------------------------------------------------------------------------------------
// Whole-operation targets

fn check_manifest_digest(digest: &Digest, body: &[u8]) {
    if let Ok(actual) = digest_of(digest, body) {
        assert_eq!(
            &actual, digest,
            "manifest returned with a digest of other bytes"
        );
    }
}

/// How an upload's bytes come.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// A seekable source of known digest and length.
    Known,
    /// A stream of unknown length, chunked.
    Stream,
    /// A stream of known length relayed as one PATCH body.
    Relayed,
}

fn push(data: &[u8], mode: UploadMode, feed: Feed) {
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    // options: bit 0 skip_if_exists, bit 1 expected digest (stream), bits 2-7 chunk size.
    let o = inp.byte();
    let chunk_size = match o >> 2 {
        0 => None,
        n => Some(u64::from(n)),
    };
    let options = UploadOptions {
        skip_if_exists: o & 1 != 0,
        mode,
        chunk_size,
    };
    let digest = sha256(&setup.blob);
    let len = setup.blob.len() as u64;
    if (o >> 2) & 1 == 1 {
        // The blob cache saw it in another repository: the upload tries a mount first.
        let cache = crate::BlobCache::new(crate::BlobLocations::new());
        cache.saw(REGISTRY_HOST, &repo("cached"), &digest, len);
        setup.session = setup.session.clone().with_blob_cache(Some(cache));
    }
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let a = repo("a");
    let expected = (o & 2 != 0).then_some(&digest);
    let op = match feed {
        Feed::Stream => Upload::stream(&setup.session, &a, expected, &options),
        Feed::Relayed => Upload::sized_stream(&setup.session, &a, len, expected, &options),
        Feed::Known => Upload::known(&setup.session, &a, &digest, len, &options),
    };
    let op = match op {
        Ok(op) => op,
        Err(e) => panic!("upload must build: {e}"),
    };
    let blob = setup.blob.clone();
    let end = drive_authed(op, &mut setup.session, &mut peer, &blob, setup.source_read);
    let End::Done(pushed, _) = end else { return };
    assert_eq!(pushed.digest, digest, "upload reported another digest");
    let Some(last) = peer.last() else {
        panic!("upload done without a request");
    };
    if pushed.skipped {
        assert!(
            options.skip_if_exists,
            "skipped without being asked to check"
        );
        assert_eq!(last.method, http::Method::HEAD, "skipped, not after a HEAD");
        assert_eq!(
            last.status, 200,
            "skipped after a HEAD that did not say 200"
        );
        return;
    }
    if let Some(from) = &pushed.mounted_from {
        assert_eq!(from, &repo("cached"), "mounted from an unknown repository");
        assert_eq!(last.method, http::Method::POST, "mounted, not after a POST");
        assert!(
            last.uri.contains("mount="),
            "mounted without a mount request"
        );
        assert_eq!(last.status, 201, "mounted without a 201");
        return;
    }
    assert_eq!(
        pushed.size,
        blob.len() as u64,
        "upload reported another size"
    );
    assert_eq!(
        last.method,
        http::Method::PUT,
        "upload done, not after a PUT"
    );
    assert_eq!(last.status, 201, "upload done without a 201");
    assert!(
        last.uri.contains(digest.encoded()),
        "final PUT without the digest: {}",
        last.uri
    );
}

/// Chunked upload of a known source. Options byte: bit 0 skip-if-exists, bits 2-7 chunk size
/// (odd: the blob cache knows the blob in repository `cached`, so a mount is tried first).
pub fn push_chunked(data: &[u8]) {
    push(data, UploadMode::Chunked, Feed::Known);
}

/// Monolithic upload of a known source. Options byte as [`push_chunked`].
pub fn push_monolithic(data: &[u8]) {
    push(data, UploadMode::Monolithic, Feed::Known);
}

/// Upload of a stream source. Options byte as [`push_chunked`], bit 1: expected digest given.
pub fn push_stream(data: &[u8]) {
    push(data, UploadMode::Chunked, Feed::Stream);
}

/// Single-pass upload of a stream of known length (one relayed `PATCH`). Options byte as
/// [`push_stream`].
pub fn push_single_pass(data: &[u8]) {
    push(data, UploadMode::Chunked, Feed::Relayed);
}

/// Blob download of the setup blob's digest. Options byte: bit 0 expected length given,
/// bits 1-7 verifier split − 1.
pub fn pull(data: &[u8]) {
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let digest = sha256(&setup.blob);
    let expected_len = (o & 1 != 0).then_some(setup.blob.len() as u64);
    let split = usize::from(o >> 1) + 1;
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let op = match GetBlob::new(&setup.session, &repo("a"), &digest, expected_len) {
        Ok(op) => op,
        Err(e) => panic!("pull must build: {e}"),
    };
    let End::Done(download, delivered) =
        drive_authed(op, &mut setup.session, &mut peer, &[], setup.source_read)
    else {
        return;
    };
    let Some(body) = delivered else {
        panic!("download done without a delivered body");
    };
    let mut verifier = download.verifier;
    for piece in body.chunks(split) {
        if verifier.update(piece).is_err() {
            return;
        }
    }
    if let Ok(verified) = verifier.finish() {
        assert_eq!(verified, digest, "verifier accepted another digest");
        assert_eq!(
            sha256(&body),
            digest,
            "verifier accepted bytes not matching the digest"
        );
        if let Some(len) = expected_len {
            assert_eq!(body.len() as u64, len, "verifier accepted another length");
        }
    }
}

/// A download resumed after `offset` bytes (`GetBlob::resume`), as a driver continues one:
/// the first `offset` bytes of the blob went into the verifier before the break, then the
/// delivered body minus the bytes it repeats. Options: byte 1 bit 0 total length given,
/// bits 1-7 verifier split − 1; byte 2 the offset (modulo the blob length + 1).
pub fn pull_resume(data: &[u8]) {
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let blob_len = setup.blob.len();
    let offset = usize::from(inp.byte()) % (blob_len + 1);
    let digest = sha256(&setup.blob);
    let total = (o & 1 != 0).then_some(blob_len as u64);
    let split = usize::from(o >> 1) + 1;
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let op = match GetBlob::resume(&setup.session, &repo("a"), &digest, offset as u64, total) {
        Ok(op) => op,
        Err(e) => panic!("resume must build: {e}"),
    };
    let End::Done(download, delivered) =
        drive_authed(op, &mut setup.session, &mut peer, &[], setup.source_read)
    else {
        return;
    };
    let Some(body) = delivered else {
        panic!("download done without a delivered body");
    };
    assert!(
        download.offset == 0 || download.offset == offset as u64,
        "resumed at {} when {offset} was asked",
        download.offset
    );
    // What a driver does: the verifier saw the first `offset` bytes; skip what repeats.
    let skip = offset.saturating_sub(usize::try_from(download.offset).unwrap_or(usize::MAX));
    let Some(rest) = body.get(skip..) else {
        return; // shorter than what it repeats: the driver's skip fails
    };
    let mut verifier = match BlobVerifier::new(digest.clone(), total) {
        Ok(v) => v,
        Err(e) => panic!("verifier must build: {e}"),
    };
    let before = setup.blob.get(..offset).unwrap_or_default();
    for piece in before.chunks(split).chain(rest.chunks(split)) {
        if verifier.update(piece).is_err() {
            return;
        }
    }
    if let Ok(verified) = verifier.finish() {
        assert_eq!(verified, digest, "verifier accepted another digest");
        let mut whole = before.to_vec();
        whole.extend_from_slice(rest);
        assert_eq!(whole, setup.blob, "a resumed download verified other bytes");
    }
}

/// Cross-repository mount of the setup blob from `b` into `a`. Options byte: bit 0 cancel
/// the session on failure.
pub fn mount(data: &[u8]) {
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let digest = sha256(&setup.blob);
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let options = MountOptions {
        cancel_on_failure: o & 1 != 0,
    };
    let op = match MountBlob::new(&setup.session, &repo("a"), &repo("b"), &digest, options) {
        Ok(op) => op,
        Err(e) => panic!("mount must build: {e}"),
    };
    if let End::Done(d, _) = drive_authed(op, &mut setup.session, &mut peer, &[], 1) {
        assert_eq!(d, digest, "mount reported another digest");
        match peer.last() {
            Some(last) if last.method == http::Method::POST && last.status == 201 => {}
            other => panic!("mount done without a 201 to its POST: {other:?}"),
        }
    }
}

/// Manifest GET. Options byte: see `decode_reference` (odd: a digest string follows).
pub fn manifest_get(data: &[u8]) {
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let reference = decode_reference(&mut inp, o);
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    // A digest of an unsupported algorithm is refused up front.
    let Ok(op) = GetManifest::new(&setup.session, &repo("a"), &reference) else {
        return;
    };
    if let End::Done(m, _) = drive_authed(op, &mut setup.session, &mut peer, &[], 1) {
        check_manifest_digest(&m.digest, &m.body);
        if let Reference::Digest(d) = &reference {
            assert!(
                verify_bytes(d, &m.body).is_ok(),
                "manifest by digest returned with other bytes"
            );
        }
        assert!(m.body.len() as u64 <= setup.session.limits().manifest_body);
    }
}

fn check_alias(m: &AliasManifest) {
    check_manifest_digest(&m.digest, &m.body);
    if let AliasContent::Index { platforms } = &m.content {
        for p in platforms {
            if let Some(pm) = &p.manifest {
                assert_eq!(pm.digest, p.digest, "platform manifest of another digest");
                check_alias(pm);
            }
        }
    }
}

/// Alias read (platforms of an index resolved). Options byte: bit 0 reference kind (see
/// `decode_reference`), bits 2-3 platform (none, linux/amd64, linux/arm64/v8, windows/x),
/// bit 4 resolve platforms, bit 5 the manifest is given (u16-length body follows) instead
/// of fetched.
pub fn alias_index(data: &[u8]) {
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let reference = decode_reference(&mut inp, o);
    let given = (o & 32 != 0).then(|| inp.long().to_vec());
    let platforms = [
        None,
        Some("linux/amd64"),
        Some("linux/arm64/v8"),
        Some("windows/x"),
    ];
    let platform = pick(&platforms, o >> 2).flatten().map(str::to_owned);
    let options = ReadOptions {
        platform,
        resolve_platforms: o & 16 != 0,
    };
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let a = repo("a");
    let op = match given {
        Some(body) => ReadAlias::from_manifest(&setup.session, &a, body, options),
        None => ReadAlias::new(&setup.session, &a, &reference, options),
    };
    let Ok(op) = op else { return };
    if let End::Done(m, _) = drive_authed(op, &mut setup.session, &mut peer, &[], 1) {
        check_alias(&m);
    }
}

/// Tag list (or catalog), following `next` links. Options byte: bit 0 catalog, bit 1 send
/// a page size of 2.
pub fn tag_list(data: &[u8]) {
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let page_size = (o & 2 != 0).then_some(2);
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    if o & 1 != 0 {
        let Ok(op) = Catalog::new(&setup.session, page_size) else {
            return;
        };
        follow(op, &mut setup.session, &mut peer);
    } else {
        let Ok(op) = ListTags::new(&setup.session, &repo("a"), page_size) else {
            return;
        };
        follow(op, &mut setup.session, &mut peer);
    }
}

fn follow<O: Operation<Output = Page<O>> + Scoped>(
    first: O,
    session: &mut Session,
    peer: &mut Peer,
) {
    let limit = session.limits().list_body;
    let mut op = first;
    for _ in 0..8 {
        let End::Done(page, _) = drive_authed(op, session, peer, &[], 1) else {
            return;
        };
        let bytes: usize = page.items.iter().map(String::len).sum();
        assert!(bytes as u64 <= limit, "page larger than its body limit");
        match page.next {
            Some(next) => op = *next,
            None => return,
        }
    }
}

/// The artifact type the referrers targets filter by and attach with.
pub const FUZZ_ARTIFACT_TYPE: &str = "application/vnd.example.sig";

/// Referrers listing ([`Referrers`](crate::Referrers): the API, its pages, the tag schema
/// fallback) or, with option bit 2, [`Attach`](crate::Attach) (subject GET, artifact PUT,
/// fallback index read and PUT). Options byte: bit 0 reference kind (see
/// `decode_reference`), bit 1 filter by (or attach as) [`FUZZ_ARTIFACT_TYPE`], bit 2
/// attach. Invariants: a listing filtered by type holds only that type, at most
/// [`MAX_REFERRERS`](crate::manifest::referrers::MAX_REFERRERS) entries, and names the
/// digest asked for; an attach is done only after a 201 to a `PUT`, with a digest of its
/// manifest, which names the subject it reports.
pub fn referrers(data: &[u8]) {
    use crate::manifest::alias::{BlobDescriptor, OciArtifactOptions};
    use crate::manifest::referrers::MAX_REFERRERS;
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let reference = decode_reference(&mut inp, o);
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let a = repo("a");
    let artifact_type = (o & 2 != 0).then_some(FUZZ_ARTIFACT_TYPE);
    if o & 4 == 0 {
        let Ok(op) = crate::Referrers::new(&setup.session, &a, &reference, artifact_type) else {
            return;
        };
        if let End::Done(list, _) = drive_authed(op, &mut setup.session, &mut peer, &[], 1) {
            assert!(
                list.manifests.len() <= MAX_REFERRERS,
                "too many referrers kept"
            );
            if let Some(t) = artifact_type {
                assert!(
                    list.manifests
                        .iter()
                        .all(|d| d.artifact_type.as_deref() == Some(t)),
                    "a referrer of another type passed the filter"
                );
            }
            if let Reference::Digest(d) = &reference {
                assert_eq!(&list.subject, d, "referrers of another subject");
            }
        }
        return;
    }
    let mut blob = BlobDescriptor::new(sha256(&setup.blob), setup.blob.len() as u64);
    blob.title = Some("blob".into());
    let options = OciArtifactOptions {
        artifact_type: artifact_type.unwrap_or_default().to_owned(),
        ..OciArtifactOptions::default()
    };
    let Ok(op) = crate::Attach::new(&setup.session, &a, &reference, &[blob], &options) else {
        return;
    };
    if let End::Done(out, _) = drive_authed(op, &mut setup.session, &mut peer, &[], 1) {
        check_manifest_digest(&out.digest, out.manifest.as_bytes());
        match peer.last() {
            Some(last) if last.method == http::Method::PUT && last.status == 201 => {}
            other => panic!("attach done without a 201 to a PUT: {other:?}"),
        }
        match parse_manifest(out.manifest.as_bytes(), None) {
            Ok(crate::manifest::parse::Manifest::Image { subject, .. }) => {
                assert_eq!(
                    subject.as_ref(),
                    Some(&out.subject),
                    "artifact of another subject"
                );
            }
            other => panic!("attached manifest does not parse as an image: {other:?}"),
        }
        if let Reference::Digest(d) = &reference {
            assert_eq!(&out.subject.digest, d, "attached to another subject");
        }
    }
}

/// The referrers index parser. The first byte picks the `Content-Type` (none, OCI index,
/// OCI manifest, `application/json`); the rest is the body. A parsed index must write back
/// ([`referrers_index_json`](crate::manifest::referrers::referrers_index_json)) to a
/// document that parses to the same entries.
pub fn referrers_index(data: &[u8]) {
    use crate::manifest::referrers::{parse_referrers_index, referrers_index_json};
    let types = [
        None,
        Some("application/vnd.oci.image.index.v1+json"),
        Some("application/vnd.oci.image.manifest.v1+json"),
        Some("application/json"),
    ];
    let (content_type, body) = match data.split_first() {
        Some((b, rest)) => (pick(&types, *b).flatten(), rest),
        None => (None, data),
    };
    if let Ok(entries) = parse_referrers_index(body, content_type) {
        let written = referrers_index_json(&entries);
        match parse_referrers_index(written.as_bytes(), None) {
            Ok(again) => assert_eq!(again, entries, "referrers index does not round-trip"),
            Err(e) => panic!("a written referrers index does not parse: {e}"),
        }
    }
}

/// Authentication across operations sharing one session: a count byte (1 + low 2 bits),
/// then one byte per operation choosing it (modulo 6: version check, blob HEAD, manifest GET, manifest PUT, tag list,
/// catalog), so tokens, realms and Basic are learned and reused; the clock advances with
/// the replies (token expiry).
pub fn auth(data: &[u8]) {
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let count = 1 + (inp.byte() & 3);
    let kinds: Vec<u8> = (0..count).map(|_| inp.byte() % 6).collect();
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let a = repo("a");
    let digest = sha256(&setup.blob);
    let s = &mut setup.session;
    for which in kinds {
        match which {
            0 => {
                if let Ok(op) = VersionCheck::new(s) {
                    drive_authed(op, s, &mut peer, &[], 1);
                }
            }
            1 => {
                if let Ok(op) = HeadBlob::new(s, &a, &digest) {
                    drive_authed(op, s, &mut peer, &[], 1);
                }
            }
            2 => {
                if let Ok(op) = GetManifest::new(s, &a, &tag("latest")) {
                    if let End::Done(m, _) = drive_authed(op, s, &mut peer, &[], 1) {
                        check_manifest_digest(&m.digest, &m.body);
                    }
                }
            }
            3 => {
                let body = alias_manifest(digest.as_str(), setup.blob.len());
                if let Ok(op) = PutManifest::new(s, &a, &tag("latest"), body.into_bytes()) {
                    drive_authed(op, s, &mut peer, &[], 1);
                }
            }
            4 => {
                if let Ok(op) = ListTags::new(s, &a, None) {
                    drive_authed(op, s, &mut peer, &[], 1);
                }
            }
            _ => {
                if let Ok(op) = Catalog::new(s, None) {
                    drive_authed(op, s, &mut peer, &[], 1);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parser targets

/// `WWW-Authenticate` values, one per line.
pub fn www_authenticate(data: &[u8]) {
    if let Ok(challenges) = parse_challenges(data.split(|b| *b == b'\n')) {
        assert!(challenges.len() <= MAX_CHALLENGES, "too many challenges");
        for c in &challenges {
            assert_eq!(
                c.scheme(),
                c.scheme().to_ascii_lowercase(),
                "scheme not lowercased"
            );
            for (name, value) in c.params() {
                assert_eq!(name, name.to_ascii_lowercase(), "param name not lowercased");
                assert!(c.param(name).is_some(), "param {name:?} not found");
                let _ = value;
            }
            let _ = c.token68();
        }
    }
}

/// `Link` values, one per line.
pub fn link(data: &[u8]) {
    let _ = next_link(data.split(|b| *b == b'\n'));
}

/// Upload `Range`, `Content-Range`, decimal and `Retry-After` values.
pub fn range(data: &[u8]) {
    let _ = parse_upload_range(data);
    if let Ok(r) = parse_content_range(data) {
        assert!(r.start <= r.end, "content range ends before it starts");
        if let Some(total) = r.total {
            assert!(total > r.end, "content range total not above its end");
        }
    }
    if let Ok(n) = parse_decimal(data) {
        assert_eq!(
            Ok(n),
            std::str::from_utf8(data)
                .map(|s| s.trim_matches([' ', '\t']).parse::<u64>().ok())
                .ok()
                .flatten()
                .ok_or(()),
            "decimal disagrees with str::parse"
        );
    }
    let _ = parse_retry_after(data, START.0);
}

/// Digest, repository, tag and reference grammars: whatever parses prints back as itself.
pub fn reference(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = Digest::parse(s) {
        assert_eq!(d.as_str(), s);
        assert_eq!(format!("{}:{}", d.algorithm(), d.encoded()), s);
        let _ = digest_of(&d, data);
    }
    if let Ok(r) = Repository::parse(s) {
        assert_eq!(r.as_str(), s);
    }
    if let Ok(t) = Tag::parse(s) {
        assert_eq!(t.as_str(), s);
    }
    if let Ok(r) = Reference::parse(s) {
        assert_eq!(r.as_str(), s);
        assert_eq!(Reference::parse(r.as_str()), Ok(r.clone()));
    }
}

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/vnd.oci.image.manifest.v1+json"),
    Some("application/vnd.oci.image.index.v1+json"),
    Some("application/vnd.docker.distribution.manifest.v2+json"),
    Some("application/vnd.docker.distribution.manifest.list.v2+json"),
    Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
    Some("application/json"),
    Some("text/plain"),
];

/// Manifest / index JSON: first byte picks the content type (none, OCI, Docker, …).
pub fn manifest(data: &[u8]) {
    let Some((b, body)) = data.split_first() else {
        return;
    };
    let ct = pick(CONTENT_TYPES, *b).flatten();
    if let Ok(m) = parse_manifest(body, ct) {
        let _ = m.media_type();
        for (platform, digest) in m.platforms() {
            assert!(!platform.is_empty());
            let _ = Digest::parse(digest.as_str());
        }
    }
}

/// Token response JSON, and the same bytes as an RFC 3339 date.
pub fn token(data: &[u8]) {
    if let Ok(t) = parse_token_response(data) {
        assert!(!t.token.is_empty() && t.token.len() <= MAX_TOKEN_LEN);
        assert!(HeaderValue::from_str(&format!("Bearer {}", t.token)).is_ok());
    }
    let _ = parse_rfc3339(&String::from_utf8_lossy(data));
}

/// Error JSON as in a failed response body.
pub fn oci_error(data: &[u8]) {
    let errors = OciError::decode(data);
    assert!(errors.len() <= MAX_OCI_ERRORS, "too many OCI errors kept");
    for status in [400, 401, 404, 500] {
        let e = Error::from_status(
            OpKind::ManifestGet,
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            data,
        );
        let _ = e.to_string();
    }
}

// ---------------------------------------------------------------------------------------
// Seed encoding (for building corpora from captured responses)

/// Builds a fuzz input in the format described in the module doc.
#[derive(Clone, Debug, Default)]
pub struct SeedBuilder {
    out: Vec<u8>,
}

impl SeedBuilder {
    /// A seed with setup byte `b0`, stream read size byte `b1` and this blob (≤ 128 bytes).
    pub fn new(b0: u8, b1: u8, blob: &[u8]) -> SeedBuilder {
        let blob = blob.get(..blob.len().min(128)).unwrap_or_default();
        let mut out = vec![b0, b1, blob.len() as u8];
        out.extend_from_slice(blob);
        SeedBuilder { out }
    }

    /// Appends one raw byte (target options).
    pub fn byte(mut self, b: u8) -> SeedBuilder {
        self.out.push(b);
        self
    }

    /// Appends a u8-length string (e.g. a digest reference).
    pub fn short(mut self, s: &[u8]) -> SeedBuilder {
        let s = s.get(..s.len().min(255)).unwrap_or_default();
        self.out.push(s.len() as u8);
        self.out.extend_from_slice(s);
        self
    }

    /// Appends a u16-length byte string (e.g. a given manifest).
    pub fn long(mut self, s: &[u8]) -> SeedBuilder {
        let s = s.get(..s.len().min(0xffff)).unwrap_or_default();
        self.out.extend_from_slice(&(s.len() as u16).to_le_bytes());
        self.out.extend_from_slice(s);
        self
    }

    /// Appends a reply; header values and bodies equal to a dictionary entry use it.
    pub fn reply(
        mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        split: Option<u8>,
    ) -> SeedBuilder {
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => self.out.push(i as u8),
            None => {
                self.out.push(0xf0);
                self.out
                    .extend_from_slice(&(status.saturating_sub(100)).to_le_bytes());
            }
        }
        let headers = headers.get(..headers.len().min(7)).unwrap_or_default();
        let flags = headers.len() as u8 | if split.is_some() { 8 } else { 0 };
        self.out.push(flags);
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            match HEADER_NAMES.iter().position(|n| *n == lower) {
                Some(i) => self.out.push(i as u8),
                None => {
                    self.out.push(0xff);
                    self = self.short(lower.as_bytes());
                }
            }
            match HEADER_VALUES.iter().position(|v| v == value) {
                Some(i) => self.out.push(i as u8),
                None if value.len() < 256 => {
                    self.out.push(0xfe);
                    self = self.short(value.as_bytes());
                }
                None => {
                    self.out.push(0xff);
                    self = self.long(value.as_bytes());
                }
            }
        }
        match BODIES
            .iter()
            .position(|b| b.as_bytes() == body && !b.contains('{'))
        {
            Some(i) if !body.is_empty() || i == 0 => self.out.push(i as u8),
            _ if body.len() < 256 => {
                self.out.push(0xfe);
                self = self.short(body);
            }
            _ => {
                self.out.push(0xff);
                self = self.long(body);
            }
        }
        if let Some(s) = split {
            self.out.push(s);
        }
        self
    }

    /// Appends a reply whose body is a template (`"{blob}"`, `"{manifest}"`, …).
    pub fn reply_template(
        mut self,
        status: u16,
        headers: &[(&str, &str)],
        template: &str,
    ) -> SeedBuilder {
        self = self.reply(status, headers, b"", None);
        if let (Some(last), Some(i)) = (
            self.out.last_mut(),
            BODIES.iter().position(|b| *b == template),
        ) {
            *last = i as u8;
        }
        self
    }

    /// The encoded input.
    pub fn build(self) -> Vec<u8> {
        self.out
    }
}

// ---------------------------------------------------------------------------------------
// Deleting one tag, and copying (`DeleteTag`, `PlanCopy`, `PlaceBlob`)

/// One-tag deletion of `a:latest`. Options byte: bit 0 the original manifest is given
/// (the `{manifest}` template), for the restore.
pub fn delete_tag(data: &[u8]) {
    use crate::manifest::{DeleteTag, TagDeletion};
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let original = (o & 1 != 0).then(|| {
        (
            peer.manifest.clone().into_bytes(),
            "application/vnd.oci.image.manifest.v1+json".to_owned(),
        )
    });
    let latest = match Tag::parse("latest") {
        Ok(t) => t,
        Err(e) => panic!("fixed tag: {e}"),
    };
    let op = match DeleteTag::new(&setup.session, &repo("a"), &latest, "fuzz-nonce", original) {
        Ok(op) => op,
        Err(e) => panic!("a tag deletion must build: {e}"),
    };
    if let End::Done(how, _) = drive_authed(op, &mut setup.session, &mut peer, &[], 1) {
        let last = peer
            .last()
            .map(|e| (e.method.clone(), e.status, e.uri.clone()));
        let Some((method, status, uri)) = last else {
            panic!("tag deleted without a request");
        };
        assert_eq!(method, http::Method::DELETE, "done after a {method}");
        assert!(
            matches!(status, 200 | 202 | 204),
            "done after a {status} to the DELETE"
        );
        match how {
            TagDeletion::Deleted => assert!(uri.ends_with("/manifests/latest"), "{uri}"),
            TagDeletion::ViaThrowaway { throwaway } => {
                assert!(uri.ends_with(throwaway.as_str()), "deleted {uri}");
                let throwaway_manifest = crate::manifest::throwaway_manifest("fuzz-nonce");
                check_manifest_digest(&throwaway, &throwaway_manifest);
            }
        }
    }
}

/// Copy planning of `a:latest` (or a digest). Options byte: see `decode_reference`.
pub fn plan_copy(data: &[u8]) {
    use crate::copy::PlanCopy;
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let reference = decode_reference(&mut inp, o);
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let Ok(op) = PlanCopy::new(&setup.session, &repo("a"), &reference) else {
        return;
    };
    let limit = setup.session.limits().max_platforms.saturating_add(1);
    if let End::Done(plan, _) = drive_authed(op, &mut setup.session, &mut peer, &[], 1) {
        assert!(!plan.manifests.is_empty(), "a plan without manifests");
        assert!(plan.manifests.len() <= limit, "more manifests than allowed");
        let mut seen = std::collections::BTreeSet::new();
        for m in &plan.manifests {
            check_manifest_digest(&m.digest, &m.body);
            assert!(seen.insert(m.digest.clone()), "a manifest planned twice");
            // Every manifest an index lists comes before it.
            if let Ok(crate::manifest::parse::Manifest::Index { manifests, .. }) =
                parse_manifest(&m.body, Some(&m.media_type))
            {
                for child in manifests {
                    assert!(seen.contains(&child.digest), "a child after its index");
                }
            }
        }
        if let (Reference::Digest(d), Some(top)) = (&reference, plan.top()) {
            assert!(verify_bytes(d, &top.body).is_ok(), "top of another digest");
        }
        let mut blobs = std::collections::BTreeSet::new();
        for b in &plan.blobs {
            assert!(blobs.insert(b.digest.clone()), "a blob planned twice");
        }
    }
}

/// The blob-location cache file (local, but anything may have written it): whatever the
/// bytes, a list within the bound that encodes and decodes back to itself, and that
/// records, forgets and answers mount questions without panicking.
pub fn blob_locations(data: &[u8]) {
    let list = crate::BlobLocations::parse(data);
    assert!(list.len() <= crate::MAX_LOCATIONS, "beyond the bound");
    let again = crate::BlobLocations::parse(&list.to_json());
    assert_eq!(again, list, "cache file round trip");
    let cache = crate::BlobCache::new(list.clone());
    for loc in list.entries().iter().take(16) {
        let found = cache.mount_source(&loc.registry, &repo("fuzz-target"), &loc.digest);
        assert!(found.is_some(), "a sighting that is no candidate");
        cache.gone(&loc.registry, &loc.repository, &loc.digest);
        cache.saw(&loc.registry, &repo("fuzz-target"), &loc.digest, loc.size);
    }
    let merged = cache.merged_into(list, 1);
    assert!(
        merged.len() <= crate::MAX_LOCATIONS,
        "merge beyond the bound"
    );
}

/// Placing the setup blob in `a` (mounted from `b` when options bit 0 is set).
pub fn place_blob(data: &[u8]) {
    use crate::copy::{BlobPlacement, CopyBlob, PlaceBlob};
    let mut inp = Input { data };
    let mut setup = decode_setup(&mut inp);
    let o = inp.byte();
    let blob = CopyBlob {
        digest: sha256(&setup.blob),
        size: setup.blob.len() as u64,
    };
    let mut peer = Peer::new(&setup, decode_replies(&mut inp));
    let from = repo("b");
    let mount_from = (o & 1 != 0).then_some(&from);
    let op = match PlaceBlob::new(&setup.session, &repo("a"), &blob, mount_from) {
        Ok(op) => op,
        Err(e) => panic!("a blob placement must build: {e}"),
    };
    if let End::Done(placement, _) = drive_authed(op, &mut setup.session, &mut peer, &[], 1) {
        let last = peer.last().map(|e| (e.method.clone(), e.status));
        match (placement, last) {
            (BlobPlacement::Present, Some((http::Method::HEAD, 200))) => {}
            (BlobPlacement::Mounted, Some((http::Method::POST, 201))) => {
                assert!(mount_from.is_some(), "mounted without a source")
            }
            (BlobPlacement::NeedsUpload, _) => {}
            (p, other) => panic!("{p:?} after {other:?}"),
        }
    }
}

/// Docker's `config.json` and a credential helper's `get` reply (local input, bounded
/// anyway). First byte even: the rest is a `config.json`; a decoded one encodes back to the
/// same configuration, matches hosts without panicking, and a `login` edit reads back.
/// Odd: the rest is a helper's output (bit 1: it exited 0).
pub fn docker_config(data: &[u8]) {
    use crate::docker_config::{helper, CredentialSource, DockerConfig};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        let _ = helper::parse_get("docker-credential-fuzz", mode & 2 != 0, rest);
        return;
    }
    let Ok(config) = DockerConfig::parse(rest) else {
        return;
    };
    let again = DockerConfig::parse(&config.to_bytes());
    assert_eq!(again.as_ref().ok(), Some(&config), "config.json round trip");
    for host in ["reg.test", "reg.test:5000", "registry-1.docker.io", "h"] {
        let _ = config.source(host);
        let _ = config.store_target(host);
        let _ = config.logged_in_keys(host);
    }
    let mut edited = config.clone();
    edited.set_auth("fuzz.test", "u", "p:w");
    let edited = DockerConfig::parse(&edited.to_bytes()).ok();
    let source = edited.as_ref().map(|c| c.source("fuzz.test"));
    if config.helper_for("fuzz.test").is_none() {
        assert_eq!(
            source,
            Some(Ok(CredentialSource::Stored(Credentials::Basic {
                username: "u".into(),
                password: "p:w".into()
            }))),
            "a stored login reads back"
        );
    }
}
