//! [`MemoryRegistry`]: a small in-memory model of a distribution registry (blobs, chunked
//! and monolithic uploads with `Location`/`Range`, manifests with digests, tags, catalog
//! with `n`/`last`/`Link` paging), optionally behind Basic or Bearer auth. It is a model for
//! unit tests and the tour example — the integration tests use the real registry.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;

use super::{Reply, ScriptedRegistry, Sent};
use crate::digest::Sha256;

/// What the model registry holds; shared with the test through `Rc<RefCell<_>>`.
#[derive(Debug, Default)]
pub struct MemoryState {
    /// Blobs by digest, per repository.
    pub blobs: BTreeMap<(String, String), Vec<u8>>,
    /// Manifests by digest, per repository: (media type, body).
    pub manifests: BTreeMap<(String, String), (String, Vec<u8>)>,
    /// Tags: (repository, tag) → manifest digest.
    pub tags: BTreeMap<(String, String), String>,
    /// Open upload sessions: id → (repository, bytes so far).
    pub uploads: BTreeMap<u64, (String, Vec<u8>)>,
    /// Next upload id.
    pub next_upload: u64,
    /// Catalog page cap (like `catalog.maxentries`); 0 = unlimited.
    pub max_entries: usize,
    /// Required credentials: `Basic <b64>` accepted for Basic mode, token for Bearer mode.
    pub auth: Option<MemoryAuth>,
    /// Token requests seen.
    pub token_requests: Vec<String>,
}

/// The model's auth mode.
#[derive(Clone, Debug)]
pub enum MemoryAuth {
    /// Basic with this user and password.
    Basic(String, String),
    /// Bearer: tokens from `https://auth.test/token`, service `test-registry`; any scope is
    /// granted; the token is `tok-<n>`.
    Bearer,
}

/// A model registry answering a [`ScriptedRegistry`].
#[derive(Clone, Debug, Default)]
pub struct MemoryRegistry {
    /// Its state.
    pub state: Rc<RefCell<MemoryState>>,
}

fn json(status: u16, body: &str) -> Reply {
    Reply::status(status)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
}

fn oci_error(status: u16, code: &str, message: &str) -> Reply {
    json(
        status,
        &format!(r#"{{"errors":[{{"code":"{code}","message":"{message}","detail":null}}]}}"#),
    )
}

fn sha256(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    h.finish().to_string()
}

fn query_param(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl MemoryRegistry {
    /// An empty registry without auth.
    pub fn new() -> MemoryRegistry {
        MemoryRegistry::default()
    }

    /// An empty registry with this auth mode.
    pub fn with_auth(auth: MemoryAuth) -> MemoryRegistry {
        let r = MemoryRegistry::default();
        r.state.borrow_mut().auth = Some(auth);
        r
    }

    /// A [`ScriptedRegistry`] answering from this model.
    pub fn peer(&self) -> ScriptedRegistry {
        let me = self.clone();
        ScriptedRegistry::new(move |sent| me.answer(sent))
    }

    /// Answers one request.
    pub fn answer(&self, sent: &Sent) -> Reply {
        let mut st = self.state.borrow_mut();
        let Ok(url) = url::Url::parse(&sent.uri) else {
            return Reply::status(400);
        };
        if url.host_str() == Some("auth.test") {
            let n = st.token_requests.len();
            st.token_requests
                .push(url.query().unwrap_or_default().to_owned());
            return json(200, &format!(r#"{{"token":"tok-{n}","expires_in":300}}"#));
        }
        if let Some(auth) = &st.auth {
            let given = sent.header("authorization").unwrap_or_default();
            let (ok, challenge) = match auth {
                MemoryAuth::Basic(u, p) => (
                    given
                        == format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                        ),
                    r#"Basic realm="memory""#.to_owned(),
                ),
                MemoryAuth::Bearer => (
                    given.starts_with("Bearer tok-"),
                    r#"Bearer realm="https://auth.test/token",service="test-registry""#.to_owned(),
                ),
            };
            if !ok {
                return oci_error(401, "UNAUTHORIZED", "authentication required")
                    .header("www-authenticate", &challenge);
            }
        }
        let path = url.path().to_owned();
        let query = url.query().unwrap_or_default().to_owned();
        let method = sent.method.as_str();
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Reply::status(404);
        };
        if rest.is_empty() {
            return json(200, "{}").header("docker-distribution-api-version", "registry/2.0");
        }
        if rest == "_catalog" {
            let mut repos: Vec<String> = st
                .blobs
                .keys()
                .map(|(r, _)| r.clone())
                .chain(st.manifests.keys().map(|(r, _)| r.clone()))
                .collect();
            repos.sort();
            repos.dedup();
            return page(
                &repos,
                &query,
                st.max_entries,
                "/v2/_catalog",
                "repositories",
                None,
            );
        }
        if let Some((repo, _)) = rest.rsplit_once("/tags/list") {
            let tags: Vec<String> = st
                .tags
                .keys()
                .filter(|(r, _)| r == repo)
                .map(|(_, t)| t.clone())
                .collect();
            if tags.is_empty() {
                return oci_error(404, "NAME_UNKNOWN", "repository name not known to registry");
            }
            let base = format!("/v2/{repo}/tags/list");
            return page(&tags, &query, st.max_entries, &base, "tags", Some(repo));
        }
        if let Some((repo, id)) = rest.split_once("/blobs/uploads/") {
            let repo = repo.to_owned();
            return upload(&mut st, method, &repo, id, &query, sent);
        }
        if let Some((repo, digest)) = rest.split_once("/blobs/") {
            let key = (repo.to_owned(), digest.to_owned());
            return match (method, st.blobs.get(&key)) {
                (_, None) => oci_error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
                ("HEAD", Some(b)) => Reply::status(200)
                    .header("content-length", &b.len().to_string())
                    .header("docker-content-digest", digest),
                ("GET", Some(b)) => Reply::status(200)
                    .header("content-length", &b.len().to_string())
                    .header("docker-content-digest", digest)
                    .body(b.clone()),
                ("DELETE", Some(_)) => {
                    st.blobs.remove(&key);
                    Reply::status(202)
                }
                _ => Reply::status(405),
            };
        }
        if let Some((repo, reference)) = rest.split_once("/manifests/") {
            return manifest(&mut st, method, repo, reference, sent);
        }
        Reply::status(404)
    }
}

fn page(
    all: &[String],
    query: &str,
    max_entries: usize,
    base: &str,
    field: &str,
    name: Option<&str>,
) -> Reply {
    let n = query_param(query, "n").and_then(|n| n.parse::<usize>().ok());
    if let (Some(n), true) = (n, max_entries > 0) {
        if n > max_entries {
            return oci_error(
                400,
                "PAGINATION_NUMBER_INVALID",
                "invalid number of results requested",
            );
        }
    }
    let n = n.or((max_entries > 0).then_some(max_entries));
    let last = query_param(query, "last");
    let rest: Vec<&String> = all
        .iter()
        .filter(|x| last.as_ref().is_none_or(|l| *x > l))
        .collect();
    let (items, more) = match n {
        Some(n) if rest.len() > n => (rest.get(..n).unwrap_or_default().to_vec(), true),
        _ => (rest, false),
    };
    let list = serde_json::to_string(&items).unwrap_or_default();
    let body = match name {
        Some(name) => format!(r#"{{"name":"{name}","{field}":{list}}}"#),
        None => format!(r#"{{"{field}":{list}}}"#),
    };
    let mut reply = json(200, &body);
    if more {
        if let Some(l) = items.last() {
            let n = n.unwrap_or_default();
            reply = reply.header("link", &format!("<{base}?last={l}&n={n}>; rel=\"next\""));
        }
    }
    reply
}

fn upload(
    st: &mut MemoryState,
    method: &str,
    repo: &str,
    id: &str,
    query: &str,
    sent: &Sent,
) -> Reply {
    if id.is_empty() && method == "POST" {
        if let (Some(d), Some(from)) = (query_param(query, "mount"), query_param(query, "from")) {
            if let Some(b) = st.blobs.get(&(from, d.clone())).cloned() {
                st.blobs.insert((repo.to_owned(), d.clone()), b);
                return Reply::status(201)
                    .header("location", &format!("/v2/{repo}/blobs/{d}"))
                    .header("docker-content-digest", &d);
            }
        }
        let n = st.next_upload;
        st.next_upload += 1;
        st.uploads.insert(n, (repo.to_owned(), Vec::new()));
        return Reply::status(202)
            .header(
                "location",
                &format!("/v2/{repo}/blobs/uploads/{n}?_state=s{n}"),
            )
            .header("range", "0-0")
            .header("docker-upload-uuid", &n.to_string());
    }
    let Some(n) = id
        .parse::<u64>()
        .ok()
        .filter(|n| st.uploads.contains_key(n))
    else {
        return oci_error(
            404,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        );
    };
    let range_header = |len: usize| format!("0-{}", len.saturating_sub(1));
    match method {
        "GET" => {
            let len = st.uploads.get(&n).map(|(_, d)| d.len()).unwrap_or_default();
            Reply::status(204)
                .header(
                    "location",
                    &format!("/v2/{repo}/blobs/uploads/{n}?_state=g{len}"),
                )
                .header("range", &range_header(len))
        }
        "DELETE" => {
            st.uploads.remove(&n);
            Reply::status(204)
        }
        "PATCH" => {
            let Some((_, data)) = st.uploads.get_mut(&n) else {
                return Reply::status(404);
            };
            if let Some(cr) = sent.header("content-range") {
                let start = cr.split('-').next().and_then(|s| s.parse::<usize>().ok());
                if start != Some(data.len()) {
                    return oci_error(416, "BLOB_UPLOAD_INVALID", "out of order");
                }
            }
            data.extend_from_slice(&sent.body);
            let len = data.len();
            Reply::status(202)
                .header(
                    "location",
                    &format!("/v2/{repo}/blobs/uploads/{n}?_state=p{len}"),
                )
                .header("range", &range_header(len))
        }
        "PUT" => {
            let Some((_, mut data)) = st.uploads.remove(&n) else {
                return Reply::status(404);
            };
            data.extend_from_slice(&sent.body);
            let digest = query_param(query, "digest").unwrap_or_default();
            if sha256(&data) != digest {
                return oci_error(
                    400,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                );
            }
            st.blobs.insert((repo.to_owned(), digest.clone()), data);
            Reply::status(201)
                .header("location", &format!("/v2/{repo}/blobs/{digest}"))
                .header("docker-content-digest", &digest)
        }
        _ => Reply::status(405),
    }
}

fn manifest(st: &mut MemoryState, method: &str, repo: &str, reference: &str, sent: &Sent) -> Reply {
    let digest = if reference.contains(':') {
        Some(reference.to_owned())
    } else {
        st.tags
            .get(&(repo.to_owned(), reference.to_owned()))
            .cloned()
    };
    match method {
        "PUT" => {
            let digest = sha256(&sent.body);
            let ct = sent.header("content-type").unwrap_or_default().to_owned();
            st.manifests
                .insert((repo.to_owned(), digest.clone()), (ct, sent.body.clone()));
            if !reference.contains(':') {
                st.tags
                    .insert((repo.to_owned(), reference.to_owned()), digest.clone());
            }
            Reply::status(201)
                .header("location", &format!("/v2/{repo}/manifests/{digest}"))
                .header("docker-content-digest", &digest)
        }
        "GET" | "HEAD" => {
            let found = digest.and_then(|d| {
                st.manifests
                    .get(&(repo.to_owned(), d.clone()))
                    .map(|(ct, body)| (d, ct.clone(), body.clone()))
            });
            let Some((d, ct, body)) = found else {
                return oci_error(404, "MANIFEST_UNKNOWN", "manifest unknown");
            };
            let reply = Reply::status(200)
                .header("content-type", &ct)
                .header("content-length", &body.len().to_string())
                .header("docker-content-digest", &d);
            if method == "GET" {
                reply.body(body)
            } else {
                reply
            }
        }
        "DELETE" => {
            let Some(d) = digest.filter(|_| reference.contains(':')) else {
                return oci_error(400, "UNSUPPORTED", "The operation is unsupported.");
            };
            if st.manifests.remove(&(repo.to_owned(), d.clone())).is_none() {
                return oci_error(404, "MANIFEST_UNKNOWN", "manifest unknown");
            }
            st.tags.retain(|(r, _), v| !(r == repo && *v == d));
            Reply::status(202)
        }
        _ => Reply::status(405),
    }
}
