//! OCI 1.1 artifacts through the `dxf` binary against the real distribution registry (2.8.2,
//! which has no referrers API: `referrers` and `attach` use the tag schema fallback there):
//! `set-alias --oci` / `DXF_MANIFEST=oci`, `attach`, `referrers`, `--json` on the read
//! commands, python-dxf reading the OCI form, and the input errors of these options
//! (`docs/errors.md`, footnote ³).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use dxf_tests::cli::{dxf, dxf_with, python_dxf, random_bytes, sha256, Files, Run};
use dxf_tests::{Mode, TestRegistry};
use serde_json::{json, Value};

const EMPTY_CONFIG: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const DEFAULT_TYPE: &str = "application/vnd.dxf.blobs.v1";

fn json_of(run: &Run) -> Value {
    let out = run.out();
    assert!(
        out.ends_with('\n') && out.matches('\n').count() == 1,
        "one line: {out:?}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn lines(run: &Run) -> Vec<String> {
    run.out().lines().map(str::to_owned).collect()
}

/// Exit code, empty stdout and one `dxf: ` line on stderr containing `needle`.
#[track_caller]
fn fails(run: Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    let err = run.stderr.trim_end_matches('\n');
    assert!(!err.contains('\n'), "one line: {run:#?}");
    assert!(err.starts_with("dxf: ") && err.contains(needle), "{run:#?}");
}

/// `set-alias --oci` (and `DXF_MANIFEST=oci`): the manifest's form, titles, annotations, the
/// empty config in the registry, and every reader — ours and python-dxf's — on it.
fn oci_alias(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let files = Files::new();
    let one = random_bytes(3000, 1);
    let two = random_bytes(5, 2);
    let path_one = files.write("one.bin", &one);
    dxf(&reg, &["push-blob", "art/oci", &path_one]).ok();
    let two_path = files.write("two.bin", &two);
    dxf(&reg, &["push-blob", "art/oci", &two_path]).ok();
    let (d1, d2) = (sha256(&one), sha256(&two));
    // The empty config is not there before.
    assert_eq!(dxf(&reg, &["blob-size", "art/oci", EMPTY_CONFIG]).code, 2);

    let set = dxf(
        &reg,
        &[
            "set-alias",
            "--oci",
            "--annotation",
            "org.opencontainers.image.version=1.2",
            "--annotation=note=a=b",
            "art/oci",
            "v1",
            &path_one,
            &d2,
        ],
    )
    .ok();
    let manifest = set.out();
    assert!(!manifest.ends_with('\n'));
    let m: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        m,
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": DEFAULT_TYPE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_CONFIG, "size": 2, "data": "e30="},
            "layers": [
                {"mediaType": "application/octet-stream", "digest": d1, "size": 3000,
                 "annotations": {"org.opencontainers.image.title": "one.bin"}},
                {"mediaType": "application/octet-stream", "digest": d2, "size": 5},
            ],
            "annotations": {"org.opencontainers.image.version": "1.2", "note": "a=b"},
        })
    );
    // Stored as printed; the empty config was uploaded.
    assert_eq!(
        dxf(&reg, &["get-manifest", "art/oci", "v1"]).ok().out(),
        manifest
    );
    assert_eq!(
        dxf(&reg, &["blob-size", "art/oci", EMPTY_CONFIG])
            .ok()
            .out(),
        "2\n"
    );
    // Every reader takes it: blob lists, sizes, pulls, python-dxf alike.
    for args in [
        &["get-alias", "art/oci", "v1"][..],
        &["blob-size", "art/oci", "@v1"],
        &["pull-blob", "art/oci", "@v1"],
    ] {
        let ours = dxf(&reg, args).ok();
        let theirs = python_dxf(&reg, args).ok();
        assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
    }
    assert_eq!(
        lines(&dxf(&reg, &["get-alias", "art/oci", "v1"]).ok()),
        [d1.clone(), d2.clone()]
    );
    let mut both = one.clone();
    both.extend_from_slice(&two);
    assert!(dxf(&reg, &["pull-blob", "art/oci", "@v1"]).ok().stdout == both);

    // get-alias --json: digest, media type, artifact type, config, titled blobs.
    let doc = json_of(&dxf(&reg, &["get-alias", "--json", "art/oci", "v1"]).ok());
    assert_eq!(
        doc,
        json!([{
            "alias": "v1",
            "digest": sha256(manifest.as_bytes()),
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": DEFAULT_TYPE,
            "config": EMPTY_CONFIG,
            "blobs": [
                {"digest": d1, "size": 3000, "title": "one.bin"},
                {"digest": d2, "size": 5},
            ],
        }])
    );

    // DXF_MANIFEST=oci is --oci; --artifact-type overrides the type; a second alias needs
    // no second empty config upload.
    let env = [("DXF_MANIFEST", Some("oci"))];
    let by_env = dxf_with(&reg, &["set-alias", "art/oci", "v2", &d1], &env, None).ok();
    let by_flag = dxf(&reg, &["set-alias", "--oci", "art/oci", "v3", &d1]).ok();
    assert_eq!(by_env.out(), by_flag.out());
    let typed = dxf(
        &reg,
        &[
            "set-alias",
            "--oci",
            "--artifact-type",
            "application/x.y",
            "art/oci",
            "v4",
            &d1,
        ],
    )
    .ok();
    let typed: Value = serde_json::from_str(&typed.out()).unwrap();
    assert_eq!(typed["artifactType"], "application/x.y");
    // --oci wins over DXF_MANIFEST=docker.
    let env = [("DXF_MANIFEST", Some("docker"))];
    let run = dxf_with(
        &reg,
        &["set-alias", "--oci", "art/oci", "v5", &d1],
        &env,
        None,
    )
    .ok();
    assert_eq!(run.out(), by_flag.out());
}

#[test]
fn oci_alias_plain() {
    oci_alias(Mode::Plain);
}

#[test]
fn oci_alias_basic() {
    oci_alias(Mode::Basic);
}

#[test]
fn oci_alias_token() {
    oci_alias(Mode::Token);
}

/// The default stays python-dxf's manifest, byte for byte, whatever DXF_MANIFEST=docker says.
#[test]
fn default_set_alias_is_python_dxfs() {
    let reg = TestRegistry::start(Mode::Plain);
    let files = Files::new();
    let data = random_bytes(100, 9);
    let path = files.write("f", &data);
    let d = sha256(&data);
    dxf(&reg, &["push-blob", "art/docker", &path]).ok();
    let theirs = python_dxf(&reg, &["set-alias", "art/docker", "p", &d]).ok();
    let ours = dxf(&reg, &["set-alias", "art/docker", "o", &d]).ok();
    let explicit = dxf_with(
        &reg,
        &["set-alias", "art/docker", "e", &d],
        &[("DXF_MANIFEST", Some("docker"))],
        None,
    )
    .ok();
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!(explicit.stdout, theirs.stdout);
    assert!(ours
        .out()
        .contains("application/vnd.docker.distribution.manifest.v2+json"));
}

/// `attach` and `referrers` over the referrers tag schema (distribution 2.8 has no API).
fn attach_and_referrers(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let files = Files::new();
    let data = random_bytes(1000, 3);
    let path = files.write("data.bin", &data);
    let d = sha256(&data);
    dxf(&reg, &["push-blob", "art/ref", &path, "@v1"]).ok();
    let subject = sha256(&dxf(&reg, &["get-manifest", "art/ref", "v1"]).ok().stdout);
    let fallback_tag = format!("sha256-{}", subject.trim_start_matches("sha256:"));

    // Nothing refers to it yet: no lines, an empty index.
    assert_eq!(dxf(&reg, &["referrers", "art/ref", "v1"]).ok().out(), "");
    assert_eq!(
        json_of(&dxf(&reg, &["referrers", "--json", "art/ref", "v1"]).ok()),
        json!({"manifests": [], "mediaType": "application/vnd.oci.image.index.v1+json", "schemaVersion": 2})
    );

    let sig = files.write("sig.txt", b"signed by me\n");
    let sbom = files.write("sbom.json", b"{\"packages\":[]}\n");
    let first = dxf(
        &reg,
        &[
            "attach",
            "--artifact-type",
            "application/vnd.example.sig",
            "--annotation",
            "org.opencontainers.image.created=2024-01-01T00:00:00Z",
            "art/ref",
            "v1",
            &sig,
        ],
    )
    .ok();
    let first_digest = first.out().trim_end().to_owned();
    assert!(first_digest.starts_with("sha256:") && first.out().ends_with('\n'));
    let second = dxf(&reg, &["attach", "art/ref", "v1", &sbom, &path]).ok();
    let second_digest = second.out().trim_end().to_owned();

    // The artifact manifest: subject, type, annotations, titled layers.
    let m: Value = serde_json::from_slice(
        &dxf(&reg, &["get-manifest", "art/ref", &first_digest])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(m["subject"]["digest"], subject.as_str());
    assert_eq!(
        m["subject"]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(m["artifactType"], "application/vnd.example.sig");
    assert_eq!(
        m["annotations"]["org.opencontainers.image.created"],
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(
        m["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "sig.txt"
    );
    assert_eq!(m["layers"][0]["digest"], sha256(b"signed by me\n"));
    // Its blobs can be read back through the artifact's digest.
    assert!(
        dxf(&reg, &["pull-blob", "art/ref", &format!("@{first_digest}")])
            .ok()
            .stdout
            == b"signed by me\n"
    );

    // Text: one "DIGEST TYPE" line each, in attach order.
    let want = vec![
        format!("{first_digest} application/vnd.example.sig"),
        format!("{second_digest} {DEFAULT_TYPE}"),
    ];
    assert_eq!(
        lines(&dxf(&reg, &["referrers", "art/ref", "v1"]).ok()),
        want
    );
    // The subject by digest gives the same.
    assert_eq!(
        lines(&dxf(&reg, &["referrers", "art/ref", &subject]).ok()),
        want
    );
    // Filtered by type.
    assert_eq!(
        lines(
            &dxf(
                &reg,
                &[
                    "referrers",
                    "--artifact-type",
                    DEFAULT_TYPE,
                    "art/ref",
                    "v1"
                ]
            )
            .ok()
        ),
        [want[1].clone()]
    );
    assert_eq!(
        dxf(
            &reg,
            &[
                "referrers",
                "--artifact-type",
                "application/none",
                "art/ref",
                "v1"
            ]
        )
        .ok()
        .out(),
        ""
    );
    // JSON: the index, with each artifact's type and annotations.
    let index = json_of(&dxf(&reg, &["referrers", "--json", "art/ref", "v1"]).ok());
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["digest"], first_digest.as_str());
    assert_eq!(entries[0]["artifactType"], "application/vnd.example.sig");
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.created"],
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(
        entries[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(entries[1]["digest"], second_digest.as_str());

    // The fallback index is a tag of the repository, and is what the JSON shows.
    let tags = lines(&dxf(&reg, &["list-aliases", "art/ref"]).ok());
    assert!(tags.contains(&fallback_tag), "{tags:?}");
    // (get-manifest of an index prints its platforms' manifests: none here; its digest is
    // that of the very bytes `referrers --json` prints, both written by dxf-proto.)
    let index_text = dxf(&reg, &["referrers", "--json", "art/ref", "v1"])
        .ok()
        .out();
    let stored = json_of(&dxf(&reg, &["get-alias", "--json", "art/ref", &fallback_tag]).ok());
    assert_eq!(
        stored,
        json!([{
            "alias": fallback_tag,
            "digest": sha256(index_text.trim_end().as_bytes()),
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "platforms": [],
        }])
    );

    // Attaching the same artifact again adds no second entry.
    let again = dxf(&reg, &["attach", "art/ref", "v1", &sbom, &path]).ok();
    assert_eq!(again.out().trim_end(), second_digest);
    assert_eq!(
        lines(&dxf(&reg, &["referrers", "art/ref", "v1"]).ok()),
        want
    );

    // The alias itself is untouched; the blob too.
    assert_eq!(lines(&dxf(&reg, &["get-alias", "art/ref", "v1"]).ok()), [d]);
}

#[test]
fn attach_and_referrers_plain() {
    attach_and_referrers(Mode::Plain);
}

#[test]
fn attach_and_referrers_basic() {
    attach_and_referrers(Mode::Basic);
}

#[test]
fn attach_and_referrers_token() {
    attach_and_referrers(Mode::Token);
}

/// `--json` on get-alias (several aliases, stdin), blob-size, list-aliases, list-repos.
fn json_outputs(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let files = Files::new();
    let a = random_bytes(10, 4);
    let b = random_bytes(20, 5);
    let pa = files.write("a", &a);
    let pb = files.write("b", &b);
    dxf(&reg, &["push-blob", "js/one", &pa, "@x"]).ok();
    dxf(&reg, &["push-blob", "js/one", &pb, "@y"]).ok();
    dxf(&reg, &["push-blob", "js/two", &pb]).ok();
    let (da, db) = (sha256(&a), sha256(&b));

    let mut names: Vec<String> = serde_json::from_value(json_of(
        &dxf(&reg, &["list-aliases", "--json", "js/one"]).ok(),
    ))
    .unwrap();
    names.sort();
    assert_eq!(names, ["x", "y"]);
    let repos: Vec<String> =
        serde_json::from_value(json_of(&dxf(&reg, &["list-repos", "--json"]).ok())).unwrap();
    assert_eq!(repos, ["js/one", "js/two"]);

    assert_eq!(
        json_of(&dxf(&reg, &["blob-size", "--json", "js/one", &da, "@y"]).ok()),
        json!([{"name": da, "size": 10}, {"name": "@y", "size": 20}])
    );

    let x_manifest = dxf(&reg, &["get-manifest", "js/one", "x"]).ok().stdout;
    let doc = json_of(&dxf(&reg, &["get-alias", "--json", "js/one", "x", "y"]).ok());
    assert_eq!(
        doc,
        json!([
            {"alias": "x", "digest": sha256(&x_manifest),
             "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "config": da, "blobs": [{"digest": da, "size": 10}]},
            {"alias": "y", "digest": sha256(&dxf(&reg, &["get-manifest", "js/one", "y"]).ok().stdout),
             "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "config": db, "blobs": [{"digest": db, "size": 20}]},
        ])
    );
    // A manifest on stdin: the same object without "alias".
    let stdin = dxf_with(
        &reg,
        &["get-alias", "--json", "js/one"],
        &[],
        Some(&x_manifest),
    )
    .ok();
    let mut want = doc[0].clone();
    want.as_object_mut().unwrap().remove("alias");
    assert_eq!(json_of(&stdin), json!([want]));
    let sizes = dxf_with(
        &reg,
        &["blob-size", "--json", "js/one"],
        &[],
        Some(&x_manifest),
    )
    .ok();
    assert_eq!(json_of(&sizes), json!([{"size": 10}]));

    // A failure prints nothing on stdout, not half a document.
    let run = dxf(&reg, &["get-alias", "--json", "js/one", "x", "nope"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
}

#[test]
fn json_outputs_plain() {
    json_outputs(Mode::Plain);
}

#[test]
fn json_outputs_token() {
    json_outputs(Mode::Token);
}

/// `get-alias --json` and `blob-size --json` on a multi-arch alias (copied in by skopeo).
#[test]
fn json_of_a_multi_arch_alias() {
    let reg = TestRegistry::start(Mode::Plain);
    let dir = tempfile::tempdir().unwrap();
    let image = dxf_tests::oci_layout::write_multi_arch(dir.path(), "multi");
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            "-q",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}:multi", dir.path().display()))
        .arg(format!("docker://{}/ma/img:multi", reg.host()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&dxf(&reg, &["get-alias", "--json", "ma/img", "multi"]).ok());
    let platforms: Vec<Value> = image
        .platforms
        .iter()
        .map(|p| {
            json!({
                "platform": p.key,
                "digest": p.manifest_digest,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": p.config_digest,
                "blobs": p.layers.iter().map(|(d, s)| json!({"digest": d, "size": s})).collect::<Vec<_>>(),
            })
        })
        .collect();
    assert_eq!(
        doc,
        json!([{
            "alias": "multi",
            "digest": image.index_digest,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "platforms": platforms,
        }])
    );
    let sizes = json_of(&dxf(&reg, &["blob-size", "--json", "ma/img", "@multi"]).ok());
    let per: Vec<Value> = image
        .platforms
        .iter()
        .map(|p| json!({"platform": p.key, "size": p.layers.iter().map(|(_, s)| s).sum::<u64>()}))
        .collect();
    assert_eq!(sizes, json!([{"name": "@multi", "platforms": per}]));
    // One platform picked: the single-manifest shape.
    let one = dxf_with(
        &reg,
        &["get-alias", "--json", "ma/img", "multi"],
        &[("DXF_PLATFORM", Some("linux/amd64"))],
        None,
    )
    .ok();
    assert_eq!(
        json_of(&one)[0]["digest"],
        image.platforms[0].manifest_digest.as_str()
    );
    // Referrers of a multi-arch alias (the index is the subject).
    let files = Files::new();
    let f = files.write("note.txt", b"note");
    let attached = dxf(&reg, &["attach", "ma/img", "multi", &f]).ok();
    let listed = dxf(&reg, &["referrers", "ma/img", "multi"]).ok();
    assert_eq!(
        listed.out(),
        format!("{} {DEFAULT_TYPE}\n", attached.out().trim_end())
    );
}

/// The input errors of the new options (rows of `docs/errors.md`, footnote ³).
#[test]
fn input_errors() {
    let reg = TestRegistry::start(Mode::Plain);
    let files = Files::new();
    let data = random_bytes(10, 6);
    let path = files.write("f", &data);
    let d = sha256(&data);
    dxf(&reg, &["push-blob", "err/r", &path, "@v1"]).ok();
    for bad in ["novalue", "=v"] {
        fails(
            dxf(
                &reg,
                &["set-alias", "--oci", "--annotation", bad, "err/r", "a", &d],
            ),
            2,
            &format!("{bad:?} is not KEY=VALUE"),
        );
        fails(
            dxf(&reg, &["attach", "--annotation", bad, "err/r", "v1", &path]),
            2,
            "is not KEY=VALUE",
        );
    }
    fails(
        dxf(
            &reg,
            &[
                "set-alias",
                "--oci",
                "--annotation",
                "k=1",
                "--annotation",
                "k=2",
                "err/r",
                "a",
                &d,
            ],
        ),
        2,
        "--annotation \"k\" given twice",
    );
    fails(
        dxf(
            &reg,
            &["set-alias", "--annotation", "k=1", "err/r", "a", &d],
        ),
        2,
        "--artifact-type and --annotation need the OCI form (--oci or DXF_MANIFEST=oci)",
    );
    fails(
        dxf(
            &reg,
            &["set-alias", "--artifact-type", "t", "err/r", "a", &d],
        ),
        2,
        "need the OCI form",
    );
    fails(
        dxf_with(
            &reg,
            &["set-alias", "err/r", "a", &d],
            &[("DXF_MANIFEST", Some("OCI"))],
            None,
        ),
        1,
        "DXF_MANIFEST must be docker or oci, not \"OCI\"",
    );
    // Nothing was set by any of them.
    assert_eq!(lines(&dxf(&reg, &["list-aliases", "err/r"]).ok()), ["v1"]);

    // attach to an alias that is not there: 404, and nothing is pushed.
    let other = files.write("other", b"never pushed");
    fails(
        dxf(&reg, &["attach", "err/r", "nope", &other]),
        2,
        "nope: manifest HEAD: 404 Not Found",
    );
    assert_eq!(
        dxf(&reg, &["blob-size", "err/r", &sha256(b"never pushed")]).code,
        2
    );
    // attach of a file that does not exist.
    fails(
        dxf(&reg, &["attach", "err/r", "v1", "/nonexistent"]),
        1,
        "/nonexistent: No such file or directory",
    );
    assert_eq!(dxf(&reg, &["referrers", "err/r", "v1"]).ok().out(), "");
    // referrers of an alias that is not there.
    fails(
        dxf(&reg, &["referrers", "err/r", "nope"]),
        2,
        "nope: manifest GET: 404 Not Found",
    );
    fails(
        dxf(&reg, &["referrers", "err/r", "bad tag"]),
        2,
        "invalid tag \"bad tag\"",
    );
}
