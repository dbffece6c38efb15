//! `dxf copy` and `dxf del-alias --only` on the real registry: copies within a registry
//! (mounted), to a second registry with `--to` (streamed, `DXF_TO_*` credentials), a
//! multi-arch image copied whole (same index digest), failures as one line with the
//! documented exit codes; `del-alias --only` keeping sibling aliases, and `del-alias`
//! without it unchanged (python-dxf's).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use dxf_tests::cli::{dxf, dxf_with, python_dxf, random_bytes, sha256, Run};
use dxf_tests::oci_layout::{write_multi_arch, MultiArch};
use dxf_tests::{Mode, TestRegistry};

/// Pushes `data` to `repo` with aliases `aliases` (all on the same manifest); returns the
/// blob digest.
fn push_with_aliases(reg: &TestRegistry, repo: &str, data: &[u8], aliases: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    std::fs::write(&file, data).unwrap();
    let file = file.display().to_string();
    let digest = dxf(reg, &["push-blob", repo, &file]).ok().out();
    let digest = digest.trim().to_owned();
    for a in aliases {
        dxf(reg, &["set-alias", repo, a, &digest]).ok();
    }
    digest
}

/// The digest of `repo:alias`'s manifest (of the index, for a multi-arch alias).
fn manifest_digest(reg: &TestRegistry, repo: &str, alias: &str) -> String {
    let mut config = dxf_ureq::Config::new(&reg.host());
    config.insecure = reg.mode() == Mode::Plain;
    if let Some(ca) = reg.ca_pem_path() {
        config.transport.tls = dxf_ureq::TlsVerify::CaBundle(ca.to_path_buf());
    }
    if let Some((username, password)) = reg.credentials() {
        config.credentials = dxf_ureq::Credentials::Basic { username, password };
    }
    let repo = dxf_ureq::Registry::new(&config)
        .unwrap()
        .repository(repo)
        .unwrap();
    repo.head_manifest(alias)
        .unwrap()
        .digest
        .unwrap()
        .to_string()
}

/// A failure: one line on stderr starting `dxf: `, nothing on stdout, exit `code`.
#[track_caller]
fn fails(run: &Run, code: i32) {
    assert_eq!(run.code, code, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(run.stderr.starts_with("dxf: "), "{run:#?}");
}

/// Pushes the multi-arch layout to `reg` as `repo:multi` with skopeo (as cli.rs does).
fn push_image(reg: &TestRegistry, repo: &str) -> MultiArch {
    let dir = tempfile::tempdir().unwrap();
    let image = write_multi_arch(dir.path(), "multi");
    let mut cmd = std::process::Command::new("skopeo");
    cmd.args(["copy", "--all", "--preserve-digests", "-q"]);
    match reg.ca_pem_path() {
        Some(ca) => {
            let certs = tempfile::tempdir().unwrap().keep();
            std::fs::copy(ca, certs.join("ca.crt")).unwrap();
            cmd.arg(format!("--dest-cert-dir={}", certs.display()));
            if let Some((u, p)) = reg.credentials() {
                cmd.arg(format!("--dest-creds={u}:{p}"));
            }
        }
        None => {
            cmd.arg("--dest-tls-verify=false");
        }
    }
    cmd.arg(format!("oci:{}:multi", dir.path().display()))
        .arg(format!("docker://{}/{repo}:multi", reg.host()));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    image
}

fn del_alias_only(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let digest = push_with_aliases(&reg, "del/r", b"shared", &["one", "two", "three"]);
    let out = dxf(&reg, &["del-alias", "--only", "del/r", "one"]).ok();
    assert_eq!(
        out.out(),
        format!("{digest}\n"),
        "prints what del-alias prints"
    );
    assert_eq!(
        dxf(&reg, &["get-alias", "del/r", "two"]).ok().out(),
        format!("{digest}\n")
    );
    assert_eq!(
        dxf(&reg, &["get-alias", "del/r", "three"]).ok().out(),
        format!("{digest}\n")
    );
    // The deleted alias is gone, with python-dxf's exit code for a missing alias.
    let gone = dxf(&reg, &["get-alias", "del/r", "one"]);
    fails(&gone, 2);
    assert_eq!(
        gone.code,
        python_dxf(&reg, &["get-alias", "del/r", "one"]).code
    );
    let mut tags = dxf(&reg, &["list-aliases", "del/r"]).ok().out();
    tags = {
        let mut v: Vec<_> = tags.lines().map(str::to_owned).collect();
        v.sort();
        v.join(",")
    };
    assert_eq!(tags, "three,two");
    // Again: not found.
    fails(&dxf(&reg, &["del-alias", "--only", "del/r", "one"]), 2);
    // A digest is not an alias: a usage error, nothing sent.
    fails(&dxf(&reg, &["del-alias", "--only", "del/r", &digest]), 2);
    // Without --only, python-dxf's behaviour: the manifest goes with every alias on it.
    dxf(&reg, &["del-alias", "del/r", "two"]).ok();
    fails(&dxf(&reg, &["get-alias", "del/r", "three"]), 2);
}

#[test]
fn del_alias_only_plain() {
    del_alias_only(Mode::Plain);
}

#[test]
fn del_alias_only_token() {
    del_alias_only(Mode::Token);
}

#[test]
fn copy_within_a_registry() {
    let reg = TestRegistry::start(Mode::Basic);
    let data = random_bytes(500_000, 11);
    let blob = push_with_aliases(&reg, "a/src", &data, &["v1"]);
    let src_manifest = manifest_digest(&reg, "a/src", "v1");
    // Same alias by default.
    let out = dxf(&reg, &["copy", "a/src:v1", "b/dst"]).ok();
    assert_eq!(out.out(), format!("{src_manifest}\n"));
    assert!(out.stderr.is_empty(), "{out:#?}");
    assert_eq!(
        dxf(&reg, &["get-alias", "b/dst", "v1"]).ok().out(),
        format!("{blob}\n")
    );
    assert_eq!(manifest_digest(&reg, "b/dst", "v1"), src_manifest);
    // Another alias; a digest source.
    dxf(&reg, &["copy", "--jobs", "2", "a/src:v1", "b/dst:v2"]).ok();
    let by_digest = format!("a/src@{src_manifest}");
    dxf(&reg, &["copy", &by_digest, "c/dst:v3"]).ok();
    let pulled = dxf(&reg, &["pull-blob", "c/dst", "@v3"]).ok();
    assert!(pulled.stdout == data);
    // The multi-arch image, whole.
    let image = push_image(&reg, "ma/img");
    let out = dxf(&reg, &["copy", "ma/img:multi", "ma/copy:latest"]).ok();
    assert_eq!(out.out(), format!("{}\n", image.index_digest));
    assert_eq!(
        manifest_digest(&reg, "ma/copy", "latest"),
        image.index_digest
    );
    for p in &image.platforms {
        let env = [("DXF_PLATFORM", Some(p.key.as_str()))];
        let blobs = dxf_with(&reg, &["blob-size", "ma/copy", "@latest"], &env, None).ok();
        let total: u64 = p.layers.iter().map(|(_, s)| s).sum();
        assert_eq!(blobs.out(), format!("{total}\n"), "{}", p.key);
        let digest = dxf_with(&reg, &["get-digest", "ma/copy", "latest"], &env, None).ok();
        assert_eq!(digest.out(), format!("{}\n", p.config_digest));
    }
}

#[test]
fn copy_to_another_registry() {
    let src = TestRegistry::start(Mode::Plain);
    let dst = TestRegistry::start(Mode::Plain);
    let image = push_image(&src, "ma/img");
    let big = random_bytes((5 << 20) + 3, 5);
    let blob = push_with_aliases(&src, "data", &big, &["big"]);
    let to = dst.host();
    let out = dxf(
        &src,
        &[
            "copy",
            "--to",
            &to,
            "--jobs",
            "3",
            "ma/img:multi",
            "mirror/img",
        ],
    )
    .ok();
    assert_eq!(out.out(), format!("{}\n", image.index_digest));
    assert_eq!(
        manifest_digest(&dst, "mirror/img", "multi"),
        image.index_digest
    );
    for p in &image.platforms {
        for (d, _) in &p.layers {
            let pulled = dxf(&dst, &["pull-blob", "mirror/img", d]).ok();
            assert_eq!(sha256(&pulled.stdout), *d);
        }
    }
    // DXF_CONCURRENCY sets the default jobs; a big blob is streamed across.
    let env = [("DXF_CONCURRENCY", Some("2"))];
    dxf_with(
        &src,
        &["copy", "--to", &to, "data:big", "data:big"],
        &env,
        None,
    )
    .ok();
    let pulled = dxf(&dst, &["pull-blob", "data", &blob]).ok();
    assert!(pulled.stdout == big);
    // Failures: a missing alias (2), an unreachable destination (1), bad arguments (2).
    fails(&dxf(&src, &["copy", "--to", &to, "data:nope", "x"]), 2);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    fails(&dxf(&src, &["copy", "--to", &dead, "data:big", "x"]), 1);
    fails(&dxf(&src, &["copy", "data", "x"]), 2);
    fails(&dxf(&src, &["copy", "data:big"]), 2);
    fails(&dxf(&src, &["copy", "--jobs", "0", "data:big", "x"]), 2);
    let bad = dxf_with(
        &src,
        &["copy", "data:big", "x"],
        &[("DXF_CONCURRENCY", Some("x"))],
        None,
    );
    fails(&bad, 1);
}

#[test]
fn copy_to_a_token_registry_uses_the_destination_credentials() {
    let src = TestRegistry::start(Mode::Token);
    let dst = TestRegistry::start(Mode::Token);
    let data = random_bytes(100_000, 8);
    let blob = push_with_aliases(&src, "t/src", &data, &["a"]);
    let ca = dst.ca_pem_path().unwrap().display().to_string();
    let (user, password) = dst.credentials().unwrap();
    let to = dst.host();
    // Without destination credentials: the source's are not sent; unauthorized (13).
    let env = [("DXF_TO_TLSVERIFY", Some(ca.as_str()))];
    fails(
        &dxf_with(&src, &["copy", "--to", &to, "t/src:a", "t/dst"], &env, None),
        13,
    );
    let env = [
        ("DXF_TO_TLSVERIFY", Some(ca.as_str())),
        ("DXF_TO_USERNAME", Some(user.as_str())),
        ("DXF_TO_PASSWORD", Some(password.as_str())),
    ];
    dxf_with(&src, &["copy", "--to", &to, "t/src:a", "t/dst"], &env, None).ok();
    assert_eq!(
        dxf(&dst, &["get-alias", "t/dst", "a"]).ok().out(),
        format!("{blob}\n")
    );
}

#[test]
fn a_corrupted_source_blob_is_never_copied() {
    use dxf_tests::fault_proxy::{Fault, FaultProxy, Rule};
    let src = TestRegistry::start(Mode::Plain);
    let dst = TestRegistry::start(Mode::Plain);
    let data = random_bytes(300_000, 21);
    let blob = push_with_aliases(&src, "c/src", &data, &["a"]);
    let proxy = FaultProxy::for_registry(&src);
    proxy.add(Rule::on("GET", "/blobs/sha256:", Fault::CorruptByte(1000)).always());
    let host = proxy.host();
    let to = dst.host();
    let env = [("DXF_HOST", Some(host.as_str()))];
    let run = dxf_with(&src, &["copy", "--to", &to, "c/src:a", "c/dst"], &env, None);
    fails(&run, 1);
    assert!(run.stderr.contains("digest mismatch"), "{run:#?}");
    // Nothing reached the destination: neither the blob nor the alias.
    fails(&dxf(&dst, &["blob-size", "c/dst", &blob]), 2);
    fails(&dxf(&dst, &["get-alias", "c/dst", "a"]), 2);
    // Within the registry, the mounted blob is the registry's own, not the corrupted
    // bytes; the copy succeeds (nothing is streamed).
    dxf_with(&src, &["copy", "c/src:a", "c/other"], &env, None).ok();
    let pulled = dxf(&src, &["pull-blob", "c/other", &blob]).ok();
    assert!(pulled.stdout == data);
}

#[test]
fn del_alias_only_puts_the_alias_back_when_deletes_are_refused() {
    use dxf_tests::fault_proxy::{Fault, FaultProxy, Rule};
    let reg = TestRegistry::start(Mode::Plain);
    let digest = push_with_aliases(&reg, "keep/r", b"kept", &["one", "two"]);
    let before = manifest_digest(&reg, "keep/r", "one");
    // Every manifest DELETE refused, as by a registry with deletes disabled.
    let proxy = FaultProxy::for_registry(&reg);
    proxy.add(Rule::on("DELETE", "/manifests/", Fault::status(405)).always());
    let host = proxy.host();
    let env = [("DXF_HOST", Some(host.as_str()))];
    let run = dxf_with(&reg, &["del-alias", "--only", "keep/r", "one"], &env, None);
    fails(&run, 1);
    assert!(run.stderr.contains("405"), "{run:#?}");
    let log = proxy.log();
    let methods: Vec<_> = log
        .iter()
        .filter(|e| e.target.contains("/manifests/"))
        .map(|e| e.method.as_str())
        .collect();
    assert_eq!(
        methods,
        ["GET", "DELETE", "PUT", "DELETE", "PUT"],
        "{log:#?}"
    );
    // The alias names its manifest again; its sibling never moved.
    assert_eq!(manifest_digest(&reg, "keep/r", "one"), before);
    assert_eq!(manifest_digest(&reg, "keep/r", "two"), before);
    assert_eq!(
        dxf(&reg, &["get-alias", "keep/r", "one"]).ok().out(),
        format!("{digest}\n")
    );
}

/// `copy --referrers` (`-r`): the signature attached to an alias, and the SBOM attached to
/// the signature, come along by digest; `dxf referrers` at the destination lists what it
/// lists at the source.
#[test]
fn copy_referrers_takes_signatures_and_their_own_referrers() {
    let reg = TestRegistry::start(Mode::Plain);
    push_with_aliases(&reg, "sig/src", b"the image", &["v1"]);
    let dir = tempfile::tempdir().unwrap();
    let sig = dir.path().join("sig.txt");
    std::fs::write(&sig, b"signature").unwrap();
    let sig = sig.display().to_string();
    let attached = dxf(
        &reg,
        &[
            "attach",
            "sig/src",
            "v1",
            "--artifact-type",
            "application/vnd.example.sig",
            &sig,
        ],
    )
    .ok()
    .out();
    let sig_digest = attached.trim().to_owned();
    assert!(sig_digest.starts_with("sha256:"), "{attached}");
    dxf(
        &reg,
        &[
            "attach",
            "sig/src",
            &sig_digest,
            "--artifact-type",
            "application/vnd.example.sbom",
            &sig,
        ],
    )
    .ok();
    let digest = dxf(&reg, &["copy", "--referrers", "sig/src:v1", "sig/dst"])
        .ok()
        .out();
    assert_eq!(digest.trim(), manifest_digest(&reg, "sig/src", "v1"));
    for subject in ["v1", sig_digest.as_str()] {
        let src = dxf(&reg, &["referrers", "sig/src", subject]).ok().out();
        let dst = dxf(&reg, &["referrers", "sig/dst", subject]).ok().out();
        assert!(!src.is_empty(), "{subject}");
        assert_eq!(src, dst, "{subject}");
    }
    // Without the flag: none.
    dxf(&reg, &["copy", "sig/src:v1", "sig/plain"]).ok();
    assert_eq!(dxf(&reg, &["referrers", "sig/plain", "v1"]).ok().out(), "");
}

/// Runs skopeo (plain-http registry), asserting it succeeded; its stdout.
fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every file name below `dir`.
fn names_below(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out
}

/// OCI image layouts both ways, with skopeo on the other side: a layout skopeo wrote goes
/// into the registry with `dxf copy oci:…` and a layout dxf wrote is read (and pushed) by
/// skopeo — the index digest the same at every step.
#[test]
fn oci_layouts_interoperate_with_skopeo_and_keep_digests() {
    let reg = TestRegistry::start(Mode::Plain);
    let host = reg.host();
    let image = push_image(&reg, "lay/src");
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("skopeo-layout");
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{host}/lay/src:multi"),
        &format!("oci:{}:fromskopeo", theirs.display()),
    ]);
    let run = dxf(
        &reg,
        &[
            "copy",
            &format!("oci:{}:fromskopeo", theirs.display()),
            "lay/back",
        ],
    )
    .ok();
    assert_eq!(run.out().trim(), image.index_digest);
    // The destination alias defaults to the layout's tag.
    assert_eq!(
        manifest_digest(&reg, "lay/back", "fromskopeo"),
        image.index_digest
    );
    let got = dxf(&reg, &["get-alias", "lay/back", "fromskopeo"])
        .ok()
        .out();
    let want = dxf(&reg, &["get-alias", "lay/src", "multi"]).ok().out();
    assert_eq!(got, want);

    let mine = dir.path().join("dxf-layout");
    let mine_ref = format!("oci:{}:ours", mine.display());
    let run = dxf(&reg, &["copy", "lay/src:multi", &mine_ref]).ok();
    assert_eq!(run.out().trim(), image.index_digest);
    assert_eq!(skopeo(&["inspect", "--raw", &mine_ref]), image.index);
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "-q",
        "--dest-tls-verify=false",
        &mine_ref,
        &format!("docker://{host}/lay/fromdxf:t"),
    ]);
    assert_eq!(
        manifest_digest(&reg, "lay/fromdxf", "t"),
        image.index_digest
    );
    // Again into the same layout under another tag: nothing fetched twice, both tags kept.
    dxf(
        &reg,
        &[
            "copy",
            "lay/src:multi",
            &format!("oci:{}:second", mine.display()),
        ],
    )
    .ok();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mine.join("index.json")).unwrap()).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(tags, ["ours", "second"]);
    let leftovers: Vec<String> = names_below(&mine)
        .into_iter()
        .filter(|n| n.contains(".dxf-partial-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Several dxf processes writing one layout at once: every image and tag is there after,
/// and `index.json` is whole.
#[test]
fn concurrent_copies_into_one_layout_lose_nothing() {
    let reg = TestRegistry::start(Mode::Plain);
    let tags: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
    for (i, tag) in tags.iter().enumerate() {
        push_with_aliases(
            &reg,
            "many/src",
            &random_bytes(100_000, i as u64 + 1),
            &[tag],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("shared");
    let children: Vec<_> = tags
        .iter()
        .map(|tag| {
            dxf_tests::cli::dxf_spawn(
                &reg,
                &[
                    "copy",
                    &format!("many/src:{tag}"),
                    &format!("oci:{}", layout.display()),
                ],
                &[],
            )
        })
        .collect();
    for child in children {
        let run = dxf_tests::cli::finish(child);
        assert_eq!(run.code, 0, "{run:#?}");
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut seen: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, tags);
    for tag in &tags {
        let run = dxf(
            &reg,
            &[
                "copy",
                &format!("oci:{}:{tag}", layout.display()),
                "many/back",
            ],
        )
        .ok();
        assert_eq!(run.out().trim(), manifest_digest(&reg, "many/src", tag));
    }
}

/// Bad layouts: one line, exit 1, nothing stored.
#[test]
fn bad_layouts_are_one_line_errors() {
    let reg = TestRegistry::start(Mode::Plain);
    push_with_aliases(&reg, "bad/src", b"x", &["v1"]);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("l");
    dxf(
        &reg,
        &[
            "copy",
            "bad/src:v1",
            &format!("oci:{}:v1", layout.display()),
        ],
    )
    .ok();
    let missing = dxf(
        &reg,
        &["copy", &format!("oci:{}:nope", layout.display()), "bad/dst"],
    );
    fails(&missing, 1);
    assert!(
        missing.stderr.contains("nope is not in the layout"),
        "{}",
        missing.stderr
    );
    let absent = dxf(&reg, &["copy", "oci:/nonexistent/layout:v1", "bad/dst"]);
    fails(&absent, 1);
    // A manifest blob that does not hash to its name.
    let digest = manifest_digest(&reg, "bad/src", "v1");
    let path = layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b' ');
    std::fs::write(&path, bytes).unwrap();
    let corrupt = dxf(
        &reg,
        &["copy", &format!("oci:{}:v1", layout.display()), "bad/dst"],
    );
    fails(&corrupt, 1);
    assert!(
        corrupt.stderr.contains("does not hash"),
        "{}",
        corrupt.stderr
    );
    let both = dxf(&reg, &["copy", "oci:/a:x", "oci:/b:y"]);
    fails(&both, 2);
    assert!(dxf(&reg, &["get-alias", "bad/dst", "v1"]).code != 0);
}

/// oras-py reads the layouts dxf writes too: its OCI layout support
/// (`oras.layout.NewLayout(...).push_to_registry`, the library behind `oras --oci-layout`)
/// pushes a layout dxf wrote, and the index digest is unchanged.
#[test]
fn oras_py_pushes_a_layout_dxf_wrote() {
    let reg = TestRegistry::start(Mode::Plain);
    let image = push_image(&reg, "orl/src");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("for-oras");
    dxf(
        &reg,
        &[
            "copy",
            "orl/src:multi",
            &format!("oci:{}:v1", layout.display()),
        ],
    )
    .ok();
    let script = format!(
        "import oras.provider, oras.layout.layout as l\n\
         p = oras.provider.Registry(hostname={host:?}, insecure=True)\n\
         l.NewLayout({dir:?}).push_to_registry(p, {target:?}, tag='v1')\n",
        host = reg.host(),
        dir = layout.display().to_string(),
        target = format!("{}/orl/pushed:v1", reg.host()),
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oras-py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        manifest_digest(&reg, "orl/pushed", "v1"),
        image.index_digest
    );
}
