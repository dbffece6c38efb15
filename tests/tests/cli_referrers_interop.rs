//! Referrers indexes another client wrote, through the `dxf` binary against the real
//! distribution registry (2.8.2: no referrers API, so the referrers tag schema's
//! `sha256-<hex>` tag holds the index). The index and its artifacts are written here the
//! way oras writes them — by plain HTTP `PUT`s straight to the registry, not through dxf —
//! with what dxf does not model: entries' `urls`, `data`, annotations and unknown fields,
//! the index's own `annotations` and unknown fields, oras's pretty-printing.
//!
//! - `dxf attach` adds its entry and keeps every other byte of that index (issue 13, item 6).
//! - An index whose entries have no `platform` (such an index, which `list-aliases` shows):
//!   `get-manifest` prints the bytes the registry sent; `get-alias`, `get-digest`,
//!   `blob-size @…` and `pull-blob @…` fail with one line saying what the alias is, exit 1;
//!   an index with some platform entries reads as before (issue 13, item 7).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use dxf_tests::cli::{dxf, dxf_with, random_bytes, sha256, Files, Run};
use dxf_tests::{Mode, TestRegistry};
use serde_json::{json, Value};

const REPO: &str = "interop/app";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const EMPTY_CONFIG: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// A response to [`http`].
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request straight to the registry (no dxf code in between), read to the
/// end (`Connection: close`).
fn http(host: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut response = Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        response.body = unchunk(&response.body);
    }
    if let Some(n) = response.header("content-length") {
        assert_eq!(
            response.body.len(),
            n.parse::<usize>().unwrap(),
            "{method} {path}"
        );
    }
    response
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = std::str::from_utf8(&data[..line]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// `PUT /v2/REPO/manifests/REFERENCE` of `body` as `media_type`, straight to the registry.
#[track_caller]
fn put_manifest(reg: &TestRegistry, reference: &str, media_type: &str, body: &[u8]) {
    let path = format!("/v2/{REPO}/manifests/{reference}");
    let r = http(
        &reg.host(),
        "PUT",
        &path,
        &[("Content-Type", media_type)],
        body,
    );
    assert_eq!(
        r.status,
        201,
        "PUT {path}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

/// `GET /v2/REPO/manifests/REFERENCE` as an OCI index, straight from the registry: the
/// bytes it holds.
#[track_caller]
fn get_index(reg: &TestRegistry, reference: &str) -> Vec<u8> {
    let path = format!("/v2/{REPO}/manifests/{reference}");
    let r = http(&reg.host(), "GET", &path, &[("Accept", OCI_INDEX)], b"");
    assert_eq!(r.status, 200, "GET {path}");
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    r.body
}

/// What [`oras_setup`] stored.
struct Setup {
    reg: TestRegistry,
    files: Files,
    /// The alias `v1`'s blob.
    blob: String,
    /// The alias `v1`'s manifest (the subject) and its digest.
    subject: Vec<u8>,
    subject_digest: String,
    /// The two artifact manifests "oras" pushed: digest, bytes.
    artifacts: Vec<(String, Vec<u8>)>,
    /// The fallback tag, `sha256-<hex of subject>`.
    tag: String,
    /// The index "oras" wrote under it, with `@@` where an entry added after its last one
    /// goes (the bytes stored are those without the marker).
    template: String,
}

impl Setup {
    fn index(&self) -> Vec<u8> {
        self.template.replace("@@", "").into_bytes()
    }
}

/// base64 (standard, padded) of `data`, for an entry's `data` field.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A registry holding alias `v1` (one blob) and, as oras leaves it after attaching a
/// signature and an SBOM to `v1`, two artifact manifests and their referrers index under
/// the fallback tag — all written with plain HTTP, byte for byte as given here.
fn oras_setup() -> Setup {
    let reg = TestRegistry::start(Mode::Plain);
    let files = Files::new();
    let data = random_bytes(700, 41);
    let path = files.write("app.bin", &data);
    let blob = sha256(&data);
    dxf(&reg, &["push-blob", REPO, &path, "@v1"]).ok();
    let subject = dxf(&reg, &["get-manifest", REPO, "v1"]).ok().stdout;
    let subject_digest = sha256(&subject);
    // The artifacts' blobs: the empty config and their layers.
    dxf(
        &reg,
        &["push-blob", REPO, &files.write("empty.json", b"{}")],
    )
    .ok();
    let layers: [&[u8]; 2] = [
        b"{\"payload\":\"signed\"}",
        b"{\"spdxVersion\":\"SPDX-2.3\"}",
    ];
    for (i, l) in layers.iter().enumerate() {
        dxf(
            &reg,
            &["push-blob", REPO, &files.write(&format!("l{i}"), l)],
        )
        .ok();
    }
    let types = [
        (
            "application/vnd.cncf.notary.signature",
            "application/jose+json",
        ),
        ("application/spdx+json", "application/spdx+json"),
    ];
    let mut artifacts = Vec::new();
    for ((artifact_type, layer_type), layer) in types.iter().zip(layers) {
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{artifact_type}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{EMPTY_CONFIG}","size":2,"data":"e30="}},"layers":[{{"mediaType":"{layer_type}","digest":"{}","size":{}}}],"subject":{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{subject_digest}","size":{}}},"annotations":{{"org.opencontainers.image.created":"2024-05-01T10:00:00Z"}}}}"#,
            sha256(layer),
            layer.len(),
            subject.len()
        );
        let digest = sha256(manifest.as_bytes());
        put_manifest(&reg, &digest, OCI_MANIFEST, manifest.as_bytes());
        artifacts.push((digest, manifest.into_bytes()));
    }
    let tag = format!("sha256-{}", subject_digest.trim_start_matches("sha256:"));
    let template = format!(
        r#"{{
  "schemaVersion": 2,
  "mediaType": "{OCI_INDEX}",
  "annotations": {{
    "org.opencontainers.image.created": "2024-05-01T10:00:00Z",
    "io.example.owner": "oras"
  }},
  "manifests": [
    {{
      "mediaType": "{OCI_MANIFEST}",
      "digest": "{d0}",
      "size": {s0},
      "artifactType": "application/vnd.cncf.notary.signature",
      "annotations": {{
        "io.cncf.notary.x509chain.thumbprint#S256": "[\"ab\",\"cd\"]",
        "org.opencontainers.image.created": "2024-05-01T10:00:00Z"
      }},
      "urls": [ "https://mirror.example/sig", "https://other.example/sig?x=]}}" ],
      "data": "{data0}",
      "x-custom": {{ "n": 2.50, "big": 1E3, "nested": [ [ ], {{ }}, null, true ], "s": "\u00e9t\u00e9 \/ \ud83d\ude00" }}
    }},
    {{"digest":"{d1}","mediaType":"{OCI_MANIFEST}","size":{s1},"artifactType":"application/spdx+json","x-custom":{{"a":[1,{{"b":"]"}}]}}}}@@
  ],
  "x-index": {{ "tool": "oras 1.2.0", "order": [3, 1, 2] }}
}}
"#,
        d0 = artifacts[0].0,
        s0 = artifacts[0].1.len(),
        data0 = base64(&artifacts[0].1),
        d1 = artifacts[1].0,
        s1 = artifacts[1].1.len(),
    );
    let setup = Setup {
        reg,
        files,
        blob,
        subject,
        subject_digest,
        artifacts,
        tag,
        template,
    };
    put_manifest(&setup.reg, &setup.tag, OCI_INDEX, &setup.index());
    // The registry holds those very bytes.
    assert_eq!(get_index(&setup.reg, &setup.tag), setup.index());
    setup
}

#[test]
fn the_base64_of_entry_data_is_standard() {
    assert_eq!(base64(b"{}"), "e30=");
    assert_eq!(base64(b"abc"), "YWJj");
    assert_eq!(base64(b"abcd"), "YWJjZA==");
    assert_eq!(base64(b""), "");
}

/// Item 6: `dxf attach` to an alias whose referrers index oras wrote: the index that comes
/// back is the one oras wrote with exactly one insertion — `,` and dxf's entry (compact,
/// keys sorted) right after the last entry — and nothing else changed.
#[test]
fn attach_keeps_an_index_another_client_wrote_byte_for_byte() {
    let s = oras_setup();
    let note = s.files.write("note.txt", b"reviewed\n");
    let attached = dxf(
        &s.reg,
        &[
            "attach",
            "--artifact-type",
            "application/vnd.example.note",
            REPO,
            "v1",
            &note,
        ],
    )
    .ok();
    let digest = attached.out().trim_end().to_owned();
    let manifest = dxf(&s.reg, &["get-manifest", REPO, &digest]).ok().stdout;
    assert_eq!(sha256(&manifest), digest);
    let entry = format!(
        r#"{{"artifactType":"application/vnd.example.note","digest":"{digest}","mediaType":"{OCI_MANIFEST}","size":{}}}"#,
        manifest.len()
    );
    let stored = get_index(&s.reg, &s.tag);
    let expected = s.template.replace("@@", &format!(",{entry}"));
    assert_eq!(String::from_utf8(stored.clone()).unwrap(), expected);

    // Said as properties: the old entries' text is all there, the top-level fields too.
    let old: Value = serde_json::from_slice(&s.index()).unwrap();
    let new: Value = serde_json::from_slice(&stored).unwrap();
    for (k, v) in old.as_object().unwrap() {
        if k != "manifests" {
            assert_eq!(&new[k], v, "{k}");
        }
    }
    let (old, new) = (
        old["manifests"].as_array().unwrap(),
        new["manifests"].as_array().unwrap(),
    );
    assert_eq!(new.len(), 3);
    assert_eq!(&new[..2], old.as_slice());

    // Every reader sees the three referrers, oras's first.
    let lines: Vec<String> = dxf(&s.reg, &["referrers", REPO, "v1"])
        .ok()
        .out()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines,
        [
            format!("{} application/vnd.cncf.notary.signature", s.artifacts[0].0),
            format!("{} application/spdx+json", s.artifacts[1].0),
            format!("{digest} application/vnd.example.note"),
        ]
    );
    // Attaching the same again changes nothing at all.
    let again = dxf(
        &s.reg,
        &[
            "attach",
            "--artifact-type",
            "application/vnd.example.note",
            REPO,
            "v1",
            &note,
        ],
    )
    .ok();
    assert_eq!(again.out().trim_end(), digest);
    assert_eq!(get_index(&s.reg, &s.tag), stored);
    // The subject is untouched.
    assert_eq!(
        dxf(&s.reg, &["get-manifest", REPO, "v1"]).ok().stdout,
        s.subject
    );
}

/// Exit 1, nothing on stdout, exactly `line` (and a newline) on stderr.
#[track_caller]
fn fails_with(run: Run, line: &str) {
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert_eq!(run.stderr, format!("{line}\n"), "{run:#?}");
}

const WHAT: &str = "is an index of 2 manifests without platforms (an artifact or referrers \
                    index), not a list of blobs; get-manifest shows it";

/// Item 7: the referrers index, named as an alias.
#[test]
fn an_index_without_platforms_is_shown_as_sent_and_is_not_a_list_of_blobs() {
    let s = oras_setup();
    let tag = s.tag.as_str();
    let at = format!("@{tag}");
    // list-aliases shows it…
    let aliases = dxf(&s.reg, &["list-aliases", REPO]).ok().out();
    assert!(aliases.lines().any(|l| l == tag), "{aliases}");
    // …get-manifest prints what the registry sent, with or without DXF_PLATFORM.
    assert_eq!(
        dxf(&s.reg, &["get-manifest", REPO, tag]).ok().stdout,
        s.index()
    );
    let platform = [("DXF_PLATFORM", Some("linux/amd64"))];
    assert_eq!(
        dxf_with(&s.reg, &["get-manifest", REPO, tag], &platform, None)
            .ok()
            .stdout,
        s.index()
    );
    // …and the blob commands say what it is.
    let line = format!("dxf: {tag}: {WHAT}");
    fails_with(dxf(&s.reg, &["get-alias", REPO, tag]), &line);
    fails_with(dxf(&s.reg, &["get-alias", REPO, "v1", tag]), &line);
    fails_with(dxf(&s.reg, &["get-digest", REPO, tag]), &line);
    fails_with(
        dxf_with(&s.reg, &["get-alias", REPO, tag], &platform, None),
        &line,
    );
    let line = format!("dxf: {at}: {WHAT}");
    fails_with(dxf(&s.reg, &["blob-size", REPO, &at]), &line);
    fails_with(dxf(&s.reg, &["blob-size", "--json", REPO, &at]), &line);
    fails_with(dxf(&s.reg, &["pull-blob", REPO, &at]), &line);
    fails_with(dxf(&s.reg, &["pull-blob", REPO, &s.blob, &at]), &line);
    // The same index on stdin.
    let line = format!("dxf: standard input: {WHAT}");
    for cmd in ["get-alias", "get-digest", "blob-size", "pull-blob"] {
        fails_with(dxf_with(&s.reg, &[cmd, REPO], &[], Some(&s.index())), &line);
    }
    // get-alias --json describes it (digest, media type, no platforms), as before.
    let described: Value =
        serde_json::from_slice(&dxf(&s.reg, &["get-alias", "--json", REPO, tag]).ok().stdout)
            .unwrap();
    assert_eq!(
        described,
        json!([{"alias": tag, "digest": sha256(&s.index()), "mediaType": OCI_INDEX, "platforms": []}])
    );
}

/// Item 7, what must not change: an index with platform entries besides entries without
/// one (docker buildx puts attestations at `unknown/unknown`; an artifact entry has no
/// platform) reads per platform, skipping the entries without one.
#[test]
fn an_index_with_some_platforms_reads_per_platform_as_before() {
    let s = oras_setup();
    let (sig, sig_manifest) = &s.artifacts[0];
    let sig_layer = sha256(b"{\"payload\":\"signed\"}");
    let mixed = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}},{{"mediaType":"{OCI_MANIFEST}","digest":"{sig}","size":{},"platform":{{"os":"unknown","architecture":"unknown"}}}},{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"artifactType":"application/spdx+json"}}]}}"#,
        s.subject_digest,
        s.subject.len(),
        sig_manifest.len(),
        s.artifacts[1].0,
        s.artifacts[1].1.len(),
    );
    put_manifest(&s.reg, "mixed", OCI_INDEX, mixed.as_bytes());
    let json_of = |run: Run| -> Value { serde_json::from_slice(&run.ok().stdout).unwrap() };
    assert_eq!(
        json_of(dxf(&s.reg, &["get-alias", REPO, "mixed"])),
        json!({"linux/amd64": [s.blob], "unknown/unknown": [sig_layer]})
    );
    assert_eq!(
        json_of(dxf(&s.reg, &["blob-size", REPO, "@mixed"])),
        json!({"linux/amd64": 700, "unknown/unknown": 20})
    );
    assert_eq!(
        json_of(dxf(&s.reg, &["get-manifest", REPO, "mixed"])),
        json!({
            "linux/amd64": String::from_utf8(s.subject.clone()).unwrap(),
            "unknown/unknown": String::from_utf8(sig_manifest.clone()).unwrap(),
        })
    );
    let amd = [("DXF_PLATFORM", Some("linux/amd64"))];
    assert_eq!(
        dxf_with(&s.reg, &["get-alias", REPO, "mixed"], &amd, None)
            .ok()
            .out(),
        format!("{}\n", s.blob)
    );
    let nope = [("DXF_PLATFORM", Some("linux/s390x"))];
    fails_with(
        dxf_with(&s.reg, &["get-alias", REPO, "mixed"], &nope, None),
        "dxf: mixed: platform linux/s390x not found in the index",
    );
}
