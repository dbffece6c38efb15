//! Proves the harness against the real registry, using `curl` as an independent client:
//! each mode answers as configured, the token server's tokens are accepted for exactly what
//! they grant, `catalog.maxentries` pages `_catalog`, and registries run side by side.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use dxf_tests::{Mode, Options, TestRegistry, USERNAME};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// One HTTP exchange as seen by curl.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs `curl -sS -i` with `args` (trusting `ca` if given) and parses the final response.
fn curl(ca: Option<&Path>, args: &[&str]) -> Reply {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-i",
        "--http1.1",
        "--max-time",
        "20",
        "-H",
        "Expect:",
    ]);
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    let out = cmd.args(args).output().expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rest: &[u8] = &out.stdout;
    loop {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no header block in {:?}", String::from_utf8_lossy(rest)));
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let body = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad status line in {head:?}"));
        if status == 100 {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        return Reply {
            status,
            headers,
            body: body.to_vec(),
        };
    }
}

/// `GET`s `url` against `registry`, with extra curl `args`.
fn get(registry: &TestRegistry, url: &str, args: &[&str]) -> Reply {
    let mut all = args.to_vec();
    all.push(url);
    curl(registry.ca_pem_path(), &all)
}

/// Asks the token server for a token (`creds` = user and password, or anonymous).
fn fetch_token(registry: &TestRegistry, creds: Option<(&str, &str)>, scopes: &[&str]) -> Value {
    let ts = registry.token_server().expect("Token mode");
    let mut url = format!("{}?service={}", ts.realm(), ts.service());
    for scope in scopes {
        url.push_str("&scope=");
        url.push_str(&url_encode(scope));
    }
    let userpass = creds.map(|(u, p)| format!("{u}:{p}"));
    let mut args = Vec::new();
    if let Some(up) = &userpass {
        args.extend(["-u", up.as_str()]);
    }
    let reply = get(registry, &url, &args);
    assert_eq!(reply.status, 200, "token request: {}", reply.text());
    reply.json()
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The JWT's `(header, claims)`.
fn decode_jwt(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT has three parts");
    let decode = |p: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("base64url")).expect("JSON")
    };
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 64);
    (decode(parts[0]), decode(parts[1]))
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Monolithic blob push (POST, then PUT `?digest=`), returning the digest.
fn push_blob(registry: &TestRegistry, auth: &[&str], repo: &str, data: &[u8]) -> String {
    let digest = sha256_digest(data);
    let mut args = auth.to_vec();
    args.extend(["-X", "POST", "-H", "Content-Length: 0"]);
    let start = get(
        registry,
        &format!("{}/v2/{repo}/blobs/uploads/", registry.base_url()),
        &args,
    );
    assert_eq!(start.status, 202, "start upload: {}", start.text());
    let location = start.header("Location").expect("upload Location");
    let mut put_url = if location.starts_with('/') {
        format!("{}{location}", registry.base_url())
    } else {
        location.to_owned()
    };
    put_url.push(if put_url.contains('?') { '&' } else { '?' });
    put_url.push_str("digest=");
    put_url.push_str(&url_encode(&digest));

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), data).unwrap();
    let data_arg = format!("@{}", file.path().display());
    let mut args = auth.to_vec();
    args.extend([
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &data_arg,
    ]);
    let put = get(registry, &put_url, &args);
    assert_eq!(put.status, 201, "finish upload: {}", put.text());
    assert_eq!(put.header("Docker-Content-Digest"), Some(digest.as_str()));
    digest
}

#[test]
fn plain_answers_v2_without_auth() {
    let registry = TestRegistry::start(Mode::Plain);
    assert!(registry.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(registry.ca_pem_path(), None);
    assert_eq!(registry.credentials(), None);
    assert_eq!(registry.token_server_host(), None);
    let reply = get(&registry, &format!("{}/v2/", registry.base_url()), &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("Docker-Distribution-Api-Version"),
        Some("registry/2.0")
    );
    assert_eq!(
        registry.dxf_env(),
        vec![
            ("DXF_HOST".to_owned(), registry.host()),
            ("DXF_INSECURE".to_owned(), "1".to_owned()),
        ]
    );
    // Storage is ready for garbage-collect even when empty.
    let gc = registry.garbage_collect(false);
    assert!(
        gc.status.success(),
        "garbage-collect: {}",
        String::from_utf8_lossy(&gc.stderr)
    );
}

#[test]
fn basic_requires_the_test_user() {
    let registry = TestRegistry::start(Mode::Basic);
    assert!(registry.base_url().starts_with("https://127.0.0.1:"));
    let url = format!("{}/v2/", registry.base_url());
    let (user, password) = registry.credentials().unwrap();
    assert_eq!(user, USERNAME);

    let anonymous = get(&registry, &url, &[]);
    assert_eq!(anonymous.status, 401);
    let challenge = anonymous.header("WWW-Authenticate").unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");

    let wrong = get(&registry, &url, &["-u", &format!("{user}:not-{password}")]);
    assert_eq!(wrong.status, 401);

    let ok = get(&registry, &url, &["-u", &format!("{user}:{password}")]);
    assert_eq!(ok.status, 200);

    // localhost is in the certificate too.
    let by_name = get(
        &registry,
        &format!("https://localhost:{}/v2/", registry.port()),
        &["-u", &format!("{user}:{password}")],
    );
    assert_eq!(by_name.status, 200);

    let env = registry.dxf_env();
    let ca = registry.ca_pem_path().unwrap().display().to_string();
    assert!(env.contains(&("DXF_TLSVERIFY".to_owned(), ca)));
    assert!(env.contains(&("DXF_USERNAME".to_owned(), user)));
    assert!(env.contains(&("DXF_PASSWORD".to_owned(), password)));
    assert!(!env.iter().any(|(k, _)| k == "DXF_INSECURE"));
}

#[test]
fn token_challenge_names_the_token_server() {
    let registry = TestRegistry::start(Mode::Token);
    let reply = get(&registry, &format!("{}/v2/", registry.base_url()), &[]);
    assert_eq!(reply.status, 401);
    let challenge = reply.header("WWW-Authenticate").unwrap();
    let host = registry.token_server_host().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!("realm=\"https://{host}/token\"")),
        "{challenge}"
    );
    assert!(
        challenge.contains("service=\"dxf-test-registry\""),
        "{challenge}"
    );
    assert_eq!(registry.token_requests(), 0);
}

#[test]
fn token_push_and_pull_a_blob() {
    let registry = TestRegistry::start(Mode::Token);
    let (user, password) = registry.credentials().unwrap();
    let answer = fetch_token(
        &registry,
        Some((&user, &password)),
        &["repository:demo/x:pull,push"],
    );
    assert_eq!(registry.token_requests(), 1);
    assert_eq!(answer["expires_in"], 300);
    assert_eq!(answer["token"], answer["access_token"]);
    let issued_at = answer["issued_at"].as_str().unwrap();
    assert!(
        issued_at.len() == 20 && issued_at.ends_with('Z'),
        "{issued_at}"
    );
    let token = answer["token"].as_str().unwrap();
    let (header, claims) = decode_jwt(token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["x5c"].as_array().unwrap().len(), 1);
    assert_eq!(claims["sub"], user.as_str());
    assert_eq!(claims["aud"], "dxf-test-registry");
    assert_eq!(
        claims["access"],
        serde_json::json!([{"type": "repository", "name": "demo/x", "actions": ["pull", "push"]}])
    );

    let auth = bearer(token);
    let data = b"hello from the dxf test harness\n";
    let digest = push_blob(&registry, &["-H", &auth], "demo/x", data);
    let blob = get(
        &registry,
        &format!("{}/v2/demo/x/blobs/{digest}", registry.base_url()),
        &["-H", &auth],
    );
    assert_eq!(blob.status, 200);
    assert_eq!(blob.body, data);
}

#[test]
fn token_server_rules() {
    let registry = TestRegistry::start(Mode::Token);
    let ts = registry.token_server().unwrap();
    let (user, password) = registry.credentials().unwrap();

    // Wrong password: 401 from the token server.
    let wrong = get(
        &registry,
        &format!("{}?service={}", ts.realm(), ts.service()),
        &["-u", &format!("{user}:x{password}")],
    );
    assert_eq!(wrong.status, 401);

    // No scope at all: a token with empty access.
    let (_, claims) = decode_jwt(
        fetch_token(&registry, Some((&user, &password)), &[])["token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(claims["access"], serde_json::json!([]));

    // Several scopes (as a mount asks): each granted.
    let (_, claims) = decode_jwt(
        fetch_token(
            &registry,
            Some((&user, &password)),
            &["repository:a/dst:pull,push", "repository:b/src:pull"],
        )["token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(claims["access"].as_array().unwrap().len(), 2);
    assert_eq!(claims["access"][1]["name"], "b/src");
    assert_eq!(claims["access"][1]["actions"], serde_json::json!(["pull"]));

    // Anonymous: the catalog, and nothing on repositories.
    let (_, claims) = decode_jwt(
        fetch_token(
            &registry,
            None,
            &["registry:catalog:*", "repository:demo/x:pull"],
        )["token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(claims["sub"], "");
    assert_eq!(claims["access"][0]["actions"], serde_json::json!(["*"]));
    assert_eq!(claims["access"][1]["actions"], serde_json::json!([]));

    assert_eq!(registry.token_requests(), 4);
}

#[test]
fn token_anonymous_pull_is_refused() {
    let registry = TestRegistry::start(Mode::Token);
    let (user, password) = registry.credentials().unwrap();
    let push_token = fetch_token(
        &registry,
        Some((&user, &password)),
        &["repository:demo/x:pull,push"],
    );
    let digest = push_blob(
        &registry,
        &["-H", &bearer(push_token["token"].as_str().unwrap())],
        "demo/x",
        b"secret",
    );

    let anonymous = fetch_token(&registry, None, &["repository:demo/x:pull"]);
    let reply = get(
        &registry,
        &format!("{}/v2/demo/x/blobs/{digest}", registry.base_url()),
        &["-H", &bearer(anonymous["token"].as_str().unwrap())],
    );
    let challenge = reply.header("WWW-Authenticate").unwrap_or_default();
    assert!(
        (reply.status == 401 && challenge.contains("insufficient_scope"))
            || (reply.status == 403 && reply.text().contains("DENIED")),
        "{} {challenge} {}",
        reply.status,
        reply.text()
    );
}

#[test]
fn token_anonymous_catalog() {
    let registry = TestRegistry::start(Mode::Token);
    let url = format!("{}/v2/_catalog", registry.base_url());
    let refused = get(&registry, &url, &[]);
    assert_eq!(refused.status, 401);
    let challenge = refused.header("WWW-Authenticate").unwrap();
    assert!(
        challenge.contains("scope=\"registry:catalog:*\""),
        "{challenge}"
    );

    let token = fetch_token(&registry, None, &["registry:catalog:*"]);
    let reply = get(
        &registry,
        &url,
        &["-H", &bearer(token["token"].as_str().unwrap())],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!({"repositories": []}));
}

#[test]
fn catalog_max_entries_pages() {
    let registry = TestRegistry::start_with(
        Mode::Plain,
        Options {
            catalog_max_entries: Some(2),
        },
    );
    for repo in ["r/a", "r/b", "r/c"] {
        push_blob(&registry, &[], repo, repo.as_bytes());
    }
    let base = registry.base_url();

    let first = get(&registry, &format!("{base}/v2/_catalog"), &[]);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(
        first.json()["repositories"],
        serde_json::json!(["r/a", "r/b"])
    );
    let link = first.header("Link").expect("Link header on a full page");
    assert!(link.contains("rel=\"next\""), "{link}");
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    assert!(next.starts_with("/v2/_catalog?"), "{link}");

    let second = get(&registry, &format!("{base}{next}"), &[]);
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["repositories"], serde_json::json!(["r/c"]));
    assert_eq!(second.header("Link"), None);

    let too_many = get(&registry, &format!("{base}/v2/_catalog?n=3"), &[]);
    assert_eq!(too_many.status, 400);
    assert!(
        too_many.text().contains("PAGINATION_NUMBER_INVALID"),
        "{}",
        too_many.text()
    );
}

#[test]
fn registries_run_side_by_side() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| TestRegistry::start(Mode::Plain));
        let b = s.spawn(|| TestRegistry::start(Mode::Basic));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.storage_root(), b.storage_root());
    push_blob(&a, &[], "only/in-a", b"a");
    let (user, password) = b.credentials().unwrap();
    let b_auth = format!("{user}:{password}");
    for (registry, auth, expected) in [
        (&a, None, serde_json::json!(["only/in-a"])),
        (&b, Some(b_auth.as_str()), serde_json::json!([])),
    ] {
        let mut args = Vec::new();
        if let Some(up) = auth {
            args.extend(["-u", up]);
        }
        let reply = get(
            registry,
            &format!("{}/v2/_catalog", registry.base_url()),
            &args,
        );
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["repositories"], expected);
    }
    let dir = a.dir().to_owned();
    drop(a);
    assert!(!dir.exists(), "temp dir removed on drop");
}

#[test]
fn tokens_from_another_token_server_are_rejected() {
    let (ours, theirs) = std::thread::scope(|s| {
        let a = s.spawn(|| TestRegistry::start(Mode::Token));
        let b = s.spawn(|| TestRegistry::start(Mode::Token));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (user, password) = theirs.credentials().unwrap();
    let foreign = fetch_token(
        &theirs,
        Some((&user, &password)),
        &["repository:demo/x:pull,push"],
    );
    let reply = get(
        &ours,
        &format!("{}/v2/demo/x/tags/list", ours.base_url()),
        &["-H", &bearer(foreign["token"].as_str().unwrap())],
    );
    assert_eq!(reply.status, 401);
    let challenge = reply.header("WWW-Authenticate").unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}
