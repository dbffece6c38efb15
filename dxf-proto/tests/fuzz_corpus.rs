//! Replays every fuzz corpus entry (`fuzz/corpus/<target>/*`) and every kept finding
//! (`fuzz/regressions/<target>/*`) through the matching `dxf_proto::fuzzing` entry point on
//! the stable toolchain, so each change is checked against everything the fuzzer learned.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use dxf_proto::fuzzing;

type Target = fn(&[u8]);

/// Every fuzz target: its directory name under `fuzz/corpus/` and its entry point.
const TARGETS: &[(&str, Target)] = &[
    ("www_authenticate", fuzzing::www_authenticate),
    ("link", fuzzing::link),
    ("range", fuzzing::range),
    ("reference", fuzzing::reference),
    ("manifest", fuzzing::manifest),
    ("token", fuzzing::token),
    ("oci_error", fuzzing::oci_error),
    ("push_chunked", fuzzing::push_chunked),
    ("push_monolithic", fuzzing::push_monolithic),
    ("push_stream", fuzzing::push_stream),
    ("push_single_pass", fuzzing::push_single_pass),
    ("pull", fuzzing::pull),
    ("pull_resume", fuzzing::pull_resume),
    ("mount", fuzzing::mount),
    ("manifest_get", fuzzing::manifest_get),
    ("alias_index", fuzzing::alias_index),
    ("tag_list", fuzzing::tag_list),
    ("auth", fuzzing::auth),
    ("referrers", fuzzing::referrers),
    ("referrers_index", fuzzing::referrers_index),
    ("delete_tag", fuzzing::delete_tag),
    ("plan_copy", fuzzing::plan_copy),
    ("place_blob", fuzzing::place_blob),
    ("docker_config", fuzzing::docker_config),
    ("blob_locations", fuzzing::blob_locations),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    for (name, target) in TARGETS {
        for file in entries(&fuzz_dir().join(kind).join(name)) {
            let data = std::fs::read(&file).unwrap();
            let r = std::panic::catch_unwind(|| target(&data));
            assert!(r.is_ok(), "{name}: {} fails", file.display());
            n += 1;
        }
    }
    n
}

#[test]
fn every_corpus_entry_passes() {
    let n = replay("corpus");
    assert!(
        n >= TARGETS.len(),
        "only {n} corpus entries found under {}",
        fuzz_dir().display()
    );
}

#[test]
fn every_kept_finding_passes() {
    replay("regressions");
}

#[test]
fn every_target_has_a_corpus_and_a_shim() {
    for (name, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        assert!(!entries(&dir).is_empty(), "no seeds in {}", dir.display());
        let shim = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(shim.is_file(), "no shim {}", shim.display());
    }
}

#[test]
fn empty_and_tiny_inputs_pass() {
    for (_, target) in TARGETS {
        target(&[]);
        for b in 0..=255u8 {
            target(&[b]);
        }
    }
}

/// Regenerates the `seed-*` files of `fuzz/corpus/` from `fuzz/seeds/captures.json` (real
/// registry responses recorded by `fuzz/seeds/capture.py`) and hand-made auth exchanges
/// (Docker Hub, GHCR, Basic). Run after re-capturing:
/// `cargo test -p dxf-proto --features fuzzing --test fuzz_corpus -- --ignored write_seeds`.
#[test]
#[ignore = "writes files; run by hand after fuzz/seeds/capture.py"]
fn write_seeds() {
    seeds::write_all(&fuzz_dir());
}

mod seeds {
    use std::collections::BTreeMap;
    use std::path::Path;

    use base64::Engine as _;
    use dxf_proto::fuzzing::{SeedBuilder, HEADER_NAMES};

    struct Captured {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    struct Captures {
        blob: Vec<u8>,
        by_name: BTreeMap<String, Captured>,
        oci_digest: String,
    }

    impl Captures {
        fn get(&self, name: &str) -> &Captured {
            self.by_name
                .get(name)
                .unwrap_or_else(|| panic!("no capture {name}"))
        }
    }

    fn load(dir: &Path) -> Captures {
        let text = std::fs::read_to_string(dir.join("seeds/captures.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut by_name = BTreeMap::new();
        for r in v["responses"].as_array().unwrap() {
            let headers = r["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap().to_owned(),
                        h[1].as_str().unwrap().to_owned(),
                    )
                })
                // Only what the client reads; the rest would only cost input bytes.
                .filter(|(n, _)| HEADER_NAMES.contains(&n.as_str()))
                .collect();
            let body = base64::engine::general_purpose::STANDARD
                .decode(r["body"].as_str().unwrap())
                .unwrap();
            let status = r["status"].as_u64().unwrap() as u16;
            by_name.insert(
                r["name"].as_str().unwrap().to_owned(),
                Captured {
                    status,
                    headers,
                    body,
                },
            );
        }
        Captures {
            blob: v["blob"].as_str().unwrap().as_bytes().to_vec(),
            oci_digest: v["oci_digest"].as_str().unwrap().to_owned(),
            by_name,
        }
    }

    fn replies(mut b: SeedBuilder, c: &Captures, names: &[&str]) -> SeedBuilder {
        for name in names {
            let r = c.get(name);
            let h: Vec<(&str, &str)> = r
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            b = b.reply(r.status, &h, &r.body, None);
        }
        b
    }

    const HUB: &str = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a:pull""#;
    const GHCR: &str =
        r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a:pull""#;
    const LOCAL: &str = r#"Bearer realm="http://127.0.0.1:5001/token",service="127.0.0.1:5000",scope="repository:a:pull""#;
    const TOKEN: &[u8] = br#"{"token":"eyJhbGciOiJFUzI1NiJ9.e30.sig","access_token":"eyJhbGciOiJFUzI1NiJ9.e30.sig","expires_in":300,"issued_at":"2023-11-14T22:13:20Z"}"#;
    const GHCR_TOKEN: &[u8] = br#"{"token":"djE6dXNlci9hOjE3MDAwMDAwMDA="}"#;

    pub(crate) fn write_all(dir: &Path) {
        let c = load(dir);
        let blob = c.blob.clone();
        let mut out: Vec<(&str, String, Vec<u8>)> = Vec::new();
        let anon = || SeedBuilder::new(0, 0, &blob);
        let basic = || SeedBuilder::new(1 | 16, 0, &blob);
        let chunk18 = (18 << 2) as u8;

        // Uploads.
        // Chunks of 18: the registry acknowledges 17 (captured), the rest is resent.
        let chunked = [
            "blob_head_missing",
            "upload_start",
            "upload_patch1",
            "upload_patch2",
            "upload_put",
        ];
        out.push((
            "push_chunked",
            "registry".into(),
            replies(anon().byte(chunk18 | 1), &c, &chunked).build(),
        ));
        // The driver gives the upload up with its second chunk in flight (status 950):
        // the session is DELETEd, the upload ends cancelled.
        out.push((
            "push_chunked",
            "cancelled".into(),
            replies(
                anon().byte(chunk18 | 1),
                &c,
                &["blob_head_missing", "upload_start", "upload_patch1"],
            )
            .reply(950, &[], b"", None)
            .reply(204, &[], b"", None)
            .build(),
        ));
        out.push((
            "push_chunked",
            "skipped".into(),
            replies(anon().byte(chunk18 | 1), &c, &["blob_head"]).build(),
        ));
        out.push((
            "push_chunked",
            "bad-range".into(),
            replies(
                anon().byte(chunk18),
                &c,
                &[
                    "upload_start5",
                    "upload_patch_bad_range",
                    "upload_status",
                    "upload_put_bad_digest",
                ],
            )
            .build(),
        ));
        out.push((
            "push_chunked",
            "range-ack".into(),
            anon()
                .byte(20 << 2)
                .reply(
                    202,
                    &[
                        ("location", "/v2/a/blobs/uploads/u1?_state=s1"),
                        ("range", "0-0"),
                    ],
                    b"",
                    None,
                )
                .reply(
                    202,
                    &[
                        ("location", "/v2/a/blobs/uploads/u1?_state=s2"),
                        ("range", "{range-ack}"),
                    ],
                    b"",
                    None,
                )
                .reply(
                    202,
                    &[
                        (
                            "location",
                            "http://127.0.0.1:5000/v2/a/blobs/uploads/u3?_state=s3",
                        ),
                        ("range", "{range-ack}"),
                    ],
                    b"",
                    None,
                )
                .reply(
                    201,
                    &[("docker-content-digest", "{blob-digest}")],
                    b"",
                    None,
                )
                .build(),
        ));
        out.push((
            "push_monolithic",
            "registry".into(),
            replies(
                anon().byte(1),
                &c,
                &["blob_head_missing", "upload_start3", "upload_put"],
            )
            .build(),
        ));
        out.push((
            "push_monolithic",
            "bad-digest".into(),
            replies(
                anon().byte(0),
                &c,
                &["upload_start2", "upload_put_bad_digest"],
            )
            .build(),
        ));
        out.push((
            "push_monolithic",
            "basic".into(),
            replies(
                basic().byte(1),
                &c,
                &[
                    "basic_challenge_blob",
                    "blob_head_missing",
                    "upload_start3",
                    "upload_put",
                ],
            )
            .build(),
        ));
        out.push((
            "push_stream",
            "registry".into(),
            replies(
                SeedBuilder::new(0, 5, &blob).byte(chunk18 | 2),
                &c,
                &[
                    "upload_start",
                    "upload_patch1",
                    "upload_patch2",
                    "upload_put",
                ],
            )
            .build(),
        ));
        out.push((
            "push_stream",
            "range-ack".into(),
            SeedBuilder::new(0, 3, &blob)
                .byte((18 << 2) | 3)
                .reply(404, &[], b"", None)
                .reply(
                    202,
                    &[
                        ("location", "/v2/a/blobs/uploads/u2"),
                        ("range", "0-0"),
                        ("oci-chunk-min-length", "3"),
                    ],
                    b"",
                    None,
                )
                .reply(
                    202,
                    &[
                        ("location", "/v2/a/blobs/uploads/u2"),
                        ("range", "{range-ack}"),
                    ],
                    b"",
                    None,
                )
                .reply(
                    202,
                    &[
                        ("location", "/v2/a/blobs/uploads/u2"),
                        ("range", "{range-ack}"),
                    ],
                    b"",
                    None,
                )
                .reply(
                    201,
                    &[
                        ("docker-content-digest", "{blob-digest}"),
                        ("location", "/v2/a/blobs/{blob-digest}"),
                    ],
                    b"",
                    None,
                )
                .build(),
        ));

        // Pull.
        out.push((
            "pull",
            "registry".into(),
            replies(anon().byte(1), &c, &["blob_get"]).build(),
        ));
        out.push((
            "pull",
            "missing".into(),
            replies(anon().byte(0), &c, &["blob_get_missing"]).build(),
        ));
        out.push((
            "pull",
            "redirect".into(),
            replies(
                anon().byte(4).reply(
                    307,
                    &[("location", "https://other.example/upload?sig=1&x=%2F")],
                    b"",
                    None,
                ),
                &c,
                &["blob_get"],
            )
            .build(),
        ));
        out.push((
            "pull",
            "basic".into(),
            replies(basic().byte(1), &c, &["basic_challenge_blob", "blob_get"]).build(),
        ));

        // Resumed pull: the rest as a 206 (from byte 5), or the whole blob again as a 200.
        let seed_blob = blob.get(..blob.len().min(128)).unwrap_or_default();
        let rest = seed_blob.get(5..).unwrap_or_default();
        let range = format!("bytes 5-{}/{}", seed_blob.len() - 1, seed_blob.len());
        let rest_len = rest.len().to_string();
        out.push((
            "pull_resume",
            "206".into(),
            anon()
                .byte(1)
                .byte(5)
                .reply(
                    206,
                    &[
                        ("content-range", range.as_str()),
                        ("content-length", rest_len.as_str()),
                    ],
                    rest,
                    None,
                )
                .build(),
        ));
        out.push((
            "pull_resume",
            "200".into(),
            replies(anon().byte(1).byte(5), &c, &["blob_get"]).build(),
        ));

        // Mount.
        out.push((
            "mount",
            "registry".into(),
            replies(anon().byte(1), &c, &["mount_ok"]).build(),
        ));
        out.push((
            "mount",
            "missing-cancel".into(),
            replies(anon().byte(1), &c, &["mount_missing", "mount_cancel"]).build(),
        ));
        out.push((
            "mount",
            "missing".into(),
            replies(anon().byte(0), &c, &["mount_missing"]).build(),
        ));

        // Manifests.
        for name in [
            "manifest_get_oci",
            "manifest_get_alias",
            "manifest_get_index",
            "manifest_get_missing",
        ] {
            out.push((
                "manifest_get",
                name.into(),
                replies(anon().byte(0), &c, &[name]).build(),
            ));
        }
        out.push((
            "manifest_get",
            "by-digest".into(),
            replies(
                anon().byte(1).short(c.oci_digest.as_bytes()),
                &c,
                &["manifest_get_oci_by_digest"],
            )
            .build(),
        ));
        out.push((
            "manifest_get",
            "hub-token".into(),
            replies(
                SeedBuilder::new(8, 0, &blob)
                    .byte(0)
                    .reply(
                        401,
                        &[("www-authenticate", HUB)],
                        br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
                        None,
                    )
                    .reply(200, &[("content-type", "application/json")], TOKEN, None),
                &c,
                &["manifest_get_oci"],
            )
            .build(),
        ));
        let index = [
            "manifest_get_index",
            "manifest_get_oci_by_digest",
            "manifest_get_alias_by_digest",
        ];
        out.push((
            "alias_index",
            "resolve".into(),
            replies(anon().byte(16), &c, &index).build(),
        ));
        out.push((
            "alias_index",
            "platform".into(),
            replies(
                anon().byte(2 << 2),
                &c,
                &["manifest_get_index", "manifest_get_alias_by_digest"],
            )
            .build(),
        ));
        out.push((
            "alias_index",
            "alias".into(),
            replies(anon().byte(0), &c, &["manifest_get_alias"]).build(),
        ));
        out.push((
            "alias_index",
            "given".into(),
            replies(
                anon().byte(32 | 16).long(&c.get("manifest_get_index").body),
                &c,
                &index[1..],
            )
            .build(),
        ));
        out.push((
            "alias_index",
            "templates".into(),
            anon()
                .byte(16)
                .reply_template(
                    200,
                    &[
                        ("content-type", "application/vnd.oci.image.index.v1+json"),
                        ("docker-content-digest", "{body-digest}"),
                    ],
                    "{index}",
                )
                .reply_template(
                    200,
                    &[("content-type", "application/vnd.oci.image.manifest.v1+json")],
                    "{manifest}",
                )
                .reply_template(200, &[], "{alias}")
                .build(),
        ));

        // Listings.
        out.push((
            "tag_list",
            "tags".into(),
            replies(anon().byte(0), &c, &["tags"]).build(),
        ));
        out.push((
            "tag_list",
            "missing".into(),
            replies(anon().byte(2), &c, &["tags_missing"]).build(),
        ));
        out.push((
            "tag_list",
            "catalog-pages".into(),
            replies(anon().byte(3), &c, &["catalog_page1", "catalog_page2"]).build(),
        ));
        out.push((
            "tag_list",
            "tag-pages".into(),
            anon()
                .byte(2)
                .reply(
                    200,
                    &[("link", r#"</v2/a/tags/list?last=b&n=1>; rel="next""#)],
                    br#"{"name":"a","tags":["a","b"]}"#,
                    None,
                )
                .reply(
                    200,
                    &[("link", r#"</v2/a/tags/list>; rel="next""#)],
                    br#"{"name":"a","tags":["c"]}"#,
                    None,
                )
                .build(),
        ));

        // Auth (hand-made bearer flows in the Docker Hub and GHCR forms; Basic captured).
        out.push((
            "auth",
            "basic".into(),
            replies(
                basic().byte(0).byte(0),
                &c,
                &["basic_challenge", "basic_ok"],
            )
            .build(),
        ));
        out.push((
            "auth",
            "basic-wrong".into(),
            replies(
                basic().byte(0).byte(0),
                &c,
                &["basic_challenge", "basic_wrong"],
            )
            .build(),
        ));
        let bearer = |b: SeedBuilder, challenge: &str, token: &[u8]| {
            b.reply(
                401,
                &[
                    ("www-authenticate", challenge),
                    ("content-type", "application/json"),
                ],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                Some(7),
            )
            .reply(200, &[("content-type", "application/json")], token, Some(3))
        };
        out.push((
            "auth",
            "hub".into(),
            replies(
                bearer(
                    SeedBuilder::new(8, 0, &blob).byte(1).byte(2).byte(1),
                    HUB,
                    TOKEN,
                ),
                &c,
                &["manifest_get_oci", "blob_head"],
            )
            .build(),
        ));
        out.push((
            "auth",
            "ghcr".into(),
            replies(
                bearer(
                    SeedBuilder::new(8 | 1, 0, &blob)
                        .byte(2)
                        .byte(4)
                        .byte(2)
                        .byte(0),
                    GHCR,
                    GHCR_TOKEN,
                ),
                &c,
                &["tags", "manifest_get_oci", "version"],
            )
            .build(),
        ));
        out.push((
            "auth",
            "hub-identity-token".into(),
            replies(
                bearer(
                    SeedBuilder::new(8 | 64, 0, &blob).byte(1).byte(2).byte(1),
                    HUB,
                    TOKEN,
                ),
                &c,
                &["manifest_get_oci", "blob_head"],
            )
            .build(),
        ));
        out.push((
            "auth",
            "local-realm-put".into(),
            bearer(
                SeedBuilder::new(1 | 16, 0, &blob).byte(0).byte(3),
                LOCAL,
                TOKEN,
            )
            .reply(
                201,
                &[
                    ("docker-content-digest", "{alias-digest}"),
                    ("location", "/v2/a/manifests/{alias-digest}"),
                ],
                b"",
                None,
            )
            .build(),
        ));

        // Parsers.
        let lines = |v: &[&str]| v.join("\n").into_bytes();
        for (i, v) in [
            lines(&[HUB]),
            lines(&[GHCR]),
            lines(&[r#"Basic realm="Registry Realm""#]),
            lines(&[LOCAL, r#"Basic realm="r", Negotiate abc=="#]),
            lines(&[r#"Bearer realm="https://auth.test/token",error="insufficient_scope",scope="repository:a:pull repository:b:pull,push""#]),
        ]
        .into_iter()
        .enumerate()
        {
            out.push(("www_authenticate", format!("{i}"), v));
        }
        for (i, v) in [
            r#"</v2/_catalog?last=a&n=1>; rel="next""#,
            r#"<https://127.0.0.1:5000/v2/a/tags/list?last=b&n=1>; rel="next last"; title="x""#,
            "</a>; rel=prev, </b>; rel=next\n</c>; rel=\"next\"",
        ]
        .into_iter()
        .enumerate()
        {
            out.push(("link", format!("{i}"), v.as_bytes().to_vec()));
        }
        for (i, v) in [
            "0-16",
            "0--1",
            "bytes=0-9",
            "bytes 0-2/3",
            "bytes 5-9/*",
            "120",
            "Sun, 06 Nov 1994 08:49:37 GMT",
        ]
        .into_iter()
        .enumerate()
        {
            out.push(("range", format!("{i}"), v.as_bytes().to_vec()));
        }
        for (i, v) in [
            c.oci_digest.as_str(),
            "a",
            "library/ubuntu",
            "registry.example:5000/team/data",
            "v1.0_rc-2",
            "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        ]
        .into_iter()
        .enumerate()
        {
            out.push(("reference", format!("{i}"), v.as_bytes().to_vec()));
        }
        for (name, ct) in [
            ("manifest_get_oci", 1u8),
            ("manifest_get_alias", 3),
            ("manifest_get_index", 2),
            ("manifest_get_index", 0),
        ] {
            let mut v = vec![ct];
            v.extend_from_slice(&c.get(name).body);
            out.push(("manifest", format!("{name}-{ct}"), v));
        }
        for (i, v) in [
            TOKEN,
            GHCR_TOKEN,
            br#"{"access_token":"a","expires_in":3.5,"issued_at":"2023-11-14T22:13:20.123+01:00"}"#,
        ]
        .into_iter()
        .enumerate()
        {
            out.push(("token", format!("{i}"), v.to_vec()));
        }
        for (name, v) in [
            (
                "auths",
                &br#"{"auths":{"reg.test":{"auth":"dTpw"},"https://index.docker.io/v1/":{"auth":"aHViOnB3","identitytoken":"rt"}},"psFormat":"x"}"#[..],
            ),
            (
                "helpers",
                br#"{"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"},"auths":{"gcr.io":{}}}"#,
            ),
        ] {
            let mut data = vec![0];
            data.extend_from_slice(v);
            out.push(("docker_config", name.into(), data));
        }
        for (name, mode, v) in [
            (
                "helper-get",
                3u8,
                &br#"{"ServerURL":"reg.test","Username":"<token>","Secret":"rt"}"#[..],
            ),
            (
                "helper-not-found",
                1,
                b"credentials not found in native keychain\n",
            ),
        ] {
            let mut data = vec![mode];
            data.extend_from_slice(v);
            out.push(("docker_config", name.into(), data));
        }
        for name in [
            "blob_get_missing",
            "manifest_get_missing",
            "tags_missing",
            "basic_challenge",
            "upload_put_bad_digest",
        ] {
            out.push(("oci_error", name.into(), c.get(name).body.clone()));
        }

        // Referrers (hand-made: distribution 2.8 has no referrers API; its 404 is this).
        let subject = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let index = |types: &[&str]| -> Vec<u8> {
            let entries: Vec<String> = types
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    format!(
                        r#"{{"annotations":{{"k":"v{i}"}},"artifactType":"{t}","digest":"sha256:{i:064x}","mediaType":"application/vnd.oci.image.manifest.v1+json","size":{}}}"#,
                        700 + i
                    )
                })
                .collect();
            format!(
                r#"{{"manifests":[{}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}}"#,
                entries.join(",")
            )
            .into_bytes()
        };
        let oci_index = ("content-type", "application/vnd.oci.image.index.v1+json");
        let not_found: &[u8] = b"404 page not found\n";
        let two = index(&[
            "application/vnd.example.sig",
            "application/vnd.dxf.blobs.v1",
        ]);
        out.push((
            "referrers",
            "api".into(),
            anon()
                .byte(1 | 2)
                .short(subject.as_bytes())
                .reply(
                    200,
                    &[oci_index, ("oci-filters-applied", "artifactType")],
                    &two,
                    None,
                )
                .build(),
        ));
        out.push((
            "referrers",
            "api-pages".into(),
            anon()
                .byte(0)
                .reply_template(
                    200,
                    &[("docker-content-digest", "{body-digest}")],
                    "{alias}",
                )
                .reply(
                    200,
                    &[
                        oci_index,
                        ("link", r#"</v2/a/referrers/x?page=2>; rel="next""#),
                    ],
                    &two,
                    None,
                )
                .reply(200, &[oci_index], &index(&["application/x"]), None)
                .build(),
        ));
        out.push((
            "referrers",
            "fallback".into(),
            anon()
                .byte(2)
                .reply_template(200, &[], "{manifest}")
                .reply(
                    404,
                    &[("content-type", "text/plain; charset=utf-8")],
                    not_found,
                    None,
                )
                .reply(
                    200,
                    &[oci_index, ("docker-content-digest", "{body-digest}")],
                    &two,
                    None,
                )
                .build(),
        ));
        out.push((
            "referrers",
            "fallback-missing".into(),
            anon()
                .byte(1)
                .short(subject.as_bytes())
                .reply(404, &[], not_found, None)
                .reply(
                    404,
                    &[("content-type", "application/json")],
                    br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                    None,
                )
                .build(),
        ));
        out.push((
            "referrers",
            "attach".into(),
            anon()
                .byte(4 | 2)
                .reply_template(
                    200,
                    &[("docker-content-digest", "{body-digest}")],
                    "{alias}",
                )
                .reply(201, &[("location", "/v2/a/manifests/x")], b"", None)
                .reply(404, &[], b"", None)
                .reply(201, &[("location", "/v2/a/manifests/x")], b"", None)
                .build(),
        ));
        out.push((
            "referrers",
            "attach-existing-index".into(),
            anon()
                .byte(4)
                .reply_template(200, &[], "{manifest}")
                .reply(201, &[], b"", None)
                .reply(200, &[oci_index], &two, None)
                .reply(201, &[], b"", None)
                .build(),
        ));
        out.push((
            "referrers",
            "attach-oci-subject".into(),
            anon()
                .byte(4)
                .reply_template(200, &[], "{manifest}")
                .reply(201, &[("oci-subject", "{manifest-digest}")], b"", None)
                .build(),
        ));
        for (name, ct, body) in [
            ("two", 1u8, two.clone()),
            ("empty", 0, index(&[])),
            ("untyped-json", 3, index(&["application/x"])),
            ("manifest", 2, br#"{"schemaVersion":2,"config":{"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec()),
        ] {
            let mut data = vec![ct];
            data.extend_from_slice(&body);
            out.push(("referrers_index", name.into(), data));
        }

        // Deleting one tag: accepted; refused (distribution 2.8's 400), then the throw-away
        // manifest put and deleted; deletes disabled, then the tag put back.
        let throwaway = dxf_proto::manifest::throwaway_manifest("fuzz-nonce");
        let throwaway_digest = {
            let mut h = dxf_proto::Sha256::new();
            h.update(&throwaway);
            h.finish().to_string()
        };
        let refused = c.get("manifest_put_bad").body.clone();
        let put_throwaway = [("docker-content-digest", throwaway_digest.as_str())];
        out.push((
            "delete_tag",
            "accepted".into(),
            anon().byte(0).reply(202, &[], b"", None).build(),
        ));
        out.push((
            "delete_tag",
            "throwaway".into(),
            anon()
                .byte(0)
                .reply(400, &[], &refused, None)
                .reply(201, &put_throwaway, b"", None)
                .reply(202, &[], b"", None)
                .build(),
        ));
        out.push((
            "delete_tag",
            "restored".into(),
            anon()
                .byte(1)
                .reply(400, &[], &refused, None)
                .reply(201, &put_throwaway, b"", None)
                .reply(
                    405,
                    &[],
                    br#"{"errors":[{"code":"UNSUPPORTED","message":"x"}]}"#,
                    None,
                )
                .reply(201, &[], b"", None)
                .build(),
        ));

        // Copy planning: the captured index, then both of its manifests by digest.
        out.push((
            "plan_copy",
            "index".into(),
            replies(
                anon().byte(0),
                &c,
                &[
                    "manifest_get_index",
                    "manifest_get_oci_by_digest",
                    "manifest_get_alias_by_digest",
                ],
            )
            .build(),
        ));
        out.push((
            "plan_copy",
            "image".into(),
            replies(anon().byte(0), &c, &["manifest_get_oci"]).build(),
        ));

        // Placing a blob: present; mounted; mount refused (202, cancelled); no mount.
        for (name, options, names) in [
            ("present", 1u8, &["blob_head"][..]),
            ("mounted", 1, &["blob_head_missing", "mount_ok"]),
            (
                "mount-refused",
                1,
                &["blob_head_missing", "mount_missing", "mount_cancel"],
            ),
            ("upload", 0, &["blob_head_missing"]),
        ] {
            out.push((
                "place_blob",
                name.into(),
                replies(anon().byte(options), &c, names).build(),
            ));
        }

        // The single-pass upload reads the same input layout as the stream upload.
        let streamed: Vec<_> = out
            .iter()
            .filter(|(t, _, _)| *t == "push_stream")
            .map(|(_, n, d)| ("push_single_pass", n.clone(), d.clone()))
            .collect();
        out.extend(streamed);

        // Write, replacing earlier seeds.
        for (target, _, _) in &out {
            let d = dir.join("corpus").join(target);
            std::fs::create_dir_all(&d).unwrap();
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("seed-")
                {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }
        for (target, name, data) in out {
            std::fs::write(
                dir.join("corpus").join(target).join(format!("seed-{name}")),
                data,
            )
            .unwrap();
        }
    }
}

/// Replays the entries named in `DXF_FUZZ_FILES` (`target:path,…`) with tracing: for
/// looking at what one input does (`DXF_FUZZ_TRACE=1`).
#[test]
#[ignore = "debugging aid"]
fn trace_files() {
    for item in std::env::var("DXF_FUZZ_FILES")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let (name, path) = item.split_once(':').unwrap();
        let (_, target) = TARGETS.iter().find(|(n, _)| *n == name).unwrap();
        eprintln!("{item}:");
        target(&std::fs::read(path).unwrap());
    }
}
