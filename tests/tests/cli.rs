//! The `dxf` binary against a real CNCF distribution registry in all three modes (plain
//! http; https + htpasswd; https + token auth), checked against the python-dxf contract and,
//! wherever python-dxf behaves well, against python-dxf 12.1.1 itself, byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use dxf_tests::cli::{
    dxf, dxf_with, python_dxf, python_dxf_with, random_bytes, sha256, Files, Run,
};
use dxf_tests::{Mode, Options, TestRegistry};

fn lines(run: &Run) -> Vec<String> {
    run.out().lines().map(str::to_owned).collect()
}

/// Same stdout and exit code from ours and python-dxf.
#[track_caller]
fn same(reg: &TestRegistry, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
    let ours = dxf_with(reg, args, env, None);
    let theirs = python_dxf_with(reg, args, env, None);
    assert_eq!(
        (ours.code, ours.out()),
        (theirs.code, theirs.out()),
        "dxf {args:?} differs from python-dxf\nours: {ours:#?}\ntheirs: {theirs:#?}"
    );
    ours
}

/// The round trip, with the `dxf` this workspace builds (the wheel and `cargo install`
/// tests run it with the `dxf` they installed).
fn push_pull_round_trip(mode: Mode) {
    dxf_tests::cli::push_pull_round_trip(dxf_tests::cli::dxf_bin(), mode);
}

fn aliases_and_interop(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let files = Files::new();
    let blobs: Vec<Vec<u8>> = (0..3)
        .map(|i| random_bytes(1000 + i * 333, 100 + i as u64))
        .collect();
    let paths: Vec<String> = blobs
        .iter()
        .enumerate()
        .map(|(i, b)| files.write(&format!("f{i}"), b))
        .collect();
    let digests: Vec<String> = blobs.iter().map(|b| sha256(b)).collect();
    // Ours pushes the first two, python-dxf the third; each reads the other's.
    for p in &paths[..2] {
        dxf(&reg, &["push-blob", "ia/x", p]).ok();
    }
    python_dxf(&reg, &["push-blob", "ia/x", &paths[2]]).ok();
    for (d, b) in digests.iter().zip(&blobs) {
        assert!(dxf(&reg, &["pull-blob", "ia/x", d]).ok().stdout == *b);
        assert!(python_dxf(&reg, &["pull-blob", "ia/x", d]).ok().stdout == *b);
    }
    // set-alias with digests and with a file path: same manifest bytes as python-dxf.
    let ours = dxf(
        &reg,
        &[
            "set-alias",
            "ia/x",
            "ours",
            &digests[0],
            &paths[1],
            &digests[2],
        ],
    )
    .ok();
    let theirs = python_dxf(
        &reg,
        &[
            "set-alias",
            "ia/x",
            "theirs",
            &digests[0],
            &paths[1],
            &digests[2],
        ],
    )
    .ok();
    assert_eq!(ours.out(), theirs.out(), "alias manifests differ");
    assert!(
        !ours.out().ends_with('\n'),
        "set-alias prints no trailing newline"
    );
    // Reads agree between the tools, on both aliases.
    for alias in ["ours", "theirs"] {
        let got = same(&reg, &["get-alias", "ia/x", alias], &[]);
        assert_eq!(lines(&got), digests);
        let sum: usize = blobs.iter().map(Vec::len).sum();
        assert_eq!(
            same(&reg, &["blob-size", "ia/x", &format!("@{alias}")], &[]).out(),
            format!("{sum}\n")
        );
        assert_eq!(
            same(&reg, &["get-digest", "ia/x", alias], &[]).out(),
            format!("{}\n", digests[0])
        );
        assert_eq!(
            same(&reg, &["get-manifest", "ia/x", alias], &[]).out(),
            ours.out()
        );
        let all = same(&reg, &["pull-blob", "ia/x", &format!("@{alias}")], &[]);
        assert!(all.stdout == blobs.concat());
        // DXF_BLOB_INFO: "<digest> <size>\n" before each blob. (python-dxf interleaves these
        // lines wrongly when stdout is a pipe and PYTHONUNBUFFERED is unset: its text and
        // binary layers buffer separately. The contract is the documented order.)
        let info = dxf_with(
            &reg,
            &["pull-blob", "ia/x", &format!("@{alias}")],
            &[("DXF_BLOB_INFO", Some("1"))],
            None,
        )
        .ok();
        let mut expected = Vec::new();
        for (d, b) in digests.iter().zip(&blobs) {
            expected.extend_from_slice(format!("{d} {}\n", b.len()).as_bytes());
            expected.extend_from_slice(b);
        }
        assert!(info.stdout == expected, "DXF_BLOB_INFO output");
        let theirs = python_dxf_with(
            &reg,
            &["pull-blob", "ia/x", &format!("@{alias}")],
            &[
                ("DXF_BLOB_INFO", Some("1")),
                ("PYTHONUNBUFFERED", Some("1")),
            ],
            None,
        )
        .ok();
        assert!(theirs.stdout == expected, "python-dxf, unbuffered, agrees");
    }
    same(&reg, &["get-alias", "ia/x", "ours", "theirs"], &[]);
    same(
        &reg,
        &["blob-size", "ia/x", &digests[0], "@ours", &digests[1]],
        &[],
    );
    // push-blob with @alias sets a one-blob alias.
    let one = files.write("one", b"one blob");
    let out = dxf(&reg, &["push-blob", "ia/x", &one, "@single"]).ok();
    assert_eq!(
        same(&reg, &["get-alias", "ia/x", "single"], &[]).out(),
        out.out()
    );
    let mut listed = lines(&same(&reg, &["list-aliases", "ia/x"], &[]));
    listed.sort();
    assert_eq!(listed, ["ours", "single", "theirs"]);
}

fn stdin_manifests(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let files = Files::new();
    let a = random_bytes(3000, 1);
    let b = random_bytes(5000, 2);
    let pa = files.write("a", &a);
    let pb = files.write("b", &b);
    dxf(&reg, &["push-blob", "sm/x", &pa]).ok();
    dxf(&reg, &["push-blob", "sm/x", &pb]).ok();
    let manifest = dxf(&reg, &["set-alias", "sm/x", "m", &pa, &pb]).ok().stdout;
    let pulled = dxf_with(&reg, &["pull-blob", "sm/x"], &[], Some(&manifest)).ok();
    assert!(pulled.stdout == [a.clone(), b.clone()].concat());
    let sizes = dxf_with(&reg, &["blob-size", "sm/x"], &[], Some(&manifest)).ok();
    let theirs = python_dxf_with(&reg, &["blob-size", "sm/x"], &[], Some(&manifest)).ok();
    assert_eq!(sizes.out(), "8000\n");
    assert_eq!(sizes.out(), theirs.out());
    let got = dxf_with(&reg, &["get-alias", "sm/x"], &[], Some(&manifest)).ok();
    assert_eq!(lines(&got), [sha256(&a), sha256(&b)]);
    let dig = dxf_with(&reg, &["get-digest", "sm/x"], &[], Some(&manifest)).ok();
    assert_eq!(dig.out(), format!("{}\n", sha256(&a)));
    assert_eq!(
        dxf(&reg, &["get-manifest", "sm/x"]).ok().out(),
        "",
        "no alias prints nothing"
    );
    // del-blob with a manifest on stdin deletes its blobs (the alias stays).
    dxf_with(&reg, &["del-blob", "sm/x"], &[], Some(&manifest)).ok();
    assert_eq!(dxf(&reg, &["blob-size", "sm/x", &sha256(&a)]).code, 2);
    assert_eq!(dxf(&reg, &["blob-size", "sm/x", &sha256(&b)]).code, 2);
}

fn deletes(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let files = Files::new();
    let a = random_bytes(100, 5);
    let pa = files.write("a", &a);
    let da = sha256(&a);
    dxf(&reg, &["push-blob", "del/x", &pa]).ok();
    dxf(&reg, &["set-alias", "del/x", "one", &da]).ok();
    dxf(&reg, &["set-alias", "del/x", "two", &da]).ok();
    // del-alias deletes the manifest by digest: both aliases go, the blob stays.
    assert_eq!(
        dxf(&reg, &["del-alias", "del/x", "one"]).ok().out(),
        format!("{da}\n")
    );
    assert_eq!(dxf(&reg, &["get-alias", "del/x", "two"]).code, 2);
    assert_eq!(dxf(&reg, &["blob-size", "del/x", &da]).ok().out(), "100\n");
    // del-blob @alias deletes the manifest and then the blobs.
    dxf(&reg, &["set-alias", "del/x", "three", &da]).ok();
    dxf(&reg, &["del-blob", "del/x", "@three"]).ok();
    assert_eq!(dxf(&reg, &["get-alias", "del/x", "three"]).code, 2);
    assert_eq!(dxf(&reg, &["blob-size", "del/x", &da]).code, 2);
    // Deleting what is not there: exit 2, nothing on stdout.
    let gone = dxf(&reg, &["del-blob", "del/x", &da]);
    assert_eq!((gone.code, gone.out()), (2, String::new()), "{gone:#?}");
    let gone = dxf(&reg, &["del-alias", "del/x", "nope"]);
    assert_eq!((gone.code, gone.out()), (2, String::new()), "{gone:#?}");
}

fn mounts(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let files = Files::new();
    let a = random_bytes(777, 9);
    let pa = files.write("a", &a);
    let da = sha256(&a);
    dxf(&reg, &["push-blob", "mnt/src", &pa]).ok();
    let out = dxf(&reg, &["mount-blob", "mnt/dst", "mnt/src", &da, "@m"]).ok();
    assert_eq!(out.out(), format!("{da}\n"));
    assert_eq!(
        dxf(&reg, &["get-alias", "mnt/dst", "m"]).ok().out(),
        format!("{da}\n")
    );
    assert!(dxf(&reg, &["pull-blob", "mnt/dst", &da]).ok().stdout == a);
    // A blob the source does not have is not mounted: an error, nothing on stdout.
    let missing = sha256(b"not pushed anywhere");
    let failed = dxf(&reg, &["mount-blob", "mnt/dst", "mnt/src", &missing]);
    assert_ne!(failed.code, 0);
    assert_eq!(failed.out(), "");
    assert!(failed.stderr.contains("mount"), "{failed:#?}");
    assert_eq!(failed.stderr.lines().count(), 1, "{failed:#?}");
    let bad = dxf(&reg, &["mount-blob", "mnt/dst", "mnt/src", &da, "noat"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("invalid alias"), "{bad:#?}");
}

fn errors_and_exit_codes(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let missing = sha256(b"missing");
    for args in [
        vec!["pull-blob", "err/x", missing.as_str()],
        vec!["blob-size", "err/x", missing.as_str()],
        vec!["get-alias", "err/x", "nope"],
        vec!["get-digest", "err/x", "nope"],
        vec!["list-aliases", "err/nothing"],
    ] {
        let r = dxf(&reg, &args);
        assert_eq!((r.code, r.out()), (2, String::new()), "{args:?}: {r:#?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {r:#?}");
        assert!(r.stderr.starts_with("dxf: "), "{r:#?}");
        assert!(!r.stderr.contains("panicked"), "{r:#?}");
        // python-dxf 12.1.1's own test_cli.py: `err.index('Not Found')` after a missing
        // alias — the status and its reason phrase, as requests words it.
        assert!(r.stderr.contains("404 Not Found"), "{args:?}: {r:#?}");
        let theirs = python_dxf(&reg, &args);
        assert_eq!(theirs.code, 2, "{args:?}: {theirs:#?}");
    }
    for (args, needle) in [
        (vec!["push-blob", "err/x"], "too few arguments"),
        (
            vec!["push-blob", "err/x", "a", "@b", "c"],
            "too many arguments",
        ),
        (vec!["push-blob", "err/x", "a", "b"], "invalid alias"),
        (vec!["mount-blob", "err/x", "y"], "too few arguments"),
        (vec!["set-alias", "err/x"], "too few arguments"),
        (vec!["list-aliases", "err/x", "extra"], "too many arguments"),
    ] {
        let r = dxf(&reg, &args);
        assert_eq!((r.code, r.out()), (2, String::new()), "{args:?}: {r:#?}");
        assert!(r.stderr.contains(needle), "{args:?}: {r:#?}");
    }
    if mode != Mode::Plain {
        // No credentials: the registry refuses us → 13, like python-dxf.
        let unset = [("DXF_USERNAME", None), ("DXF_PASSWORD", None)];
        let r = dxf_with(&reg, &["list-aliases", "err/x"], &unset, None);
        assert_eq!((r.code, r.out()), (13, String::new()), "{r:#?}");
        let theirs = python_dxf_with(&reg, &["list-aliases", "err/x"], &unset, None);
        assert_eq!(theirs.code, 13);
        // Wrong password → 13.
        let r = dxf_with(
            &reg,
            &["list-aliases", "err/x"],
            &[("DXF_PASSWORD", Some("wrong"))],
            None,
        );
        assert_eq!(r.code, 13, "{r:#?}");
    }
}

fn tls_settings(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let ca = reg.ca_pem_path().unwrap().display().to_string();
    let args = ["list-repos"];
    // Without the CA: a clean TLS failure.
    let r = dxf_with(&reg, &args, &[("DXF_TLSVERIFY", None)], None);
    assert_ne!(r.code, 0);
    assert_eq!(r.out(), "");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    // The CA through REQUESTS_CA_BUNDLE, or no verification at all.
    dxf_with(
        &reg,
        &args,
        &[("DXF_TLSVERIFY", None), ("REQUESTS_CA_BUNDLE", Some(&ca))],
        None,
    )
    .ok();
    dxf_with(
        &reg,
        &args,
        &[("DXF_TLSVERIFY", None), ("DXF_SKIPTLSVERIFY", Some("1"))],
        None,
    )
    .ok();
    // A CA bundle that does not exist: a clean error.
    let r = dxf_with(
        &reg,
        &args,
        &[("DXF_TLSVERIFY", Some("/nonexistent/ca.pem"))],
        None,
    );
    assert_ne!(r.code, 0);
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
}

fn pagination(mode: Mode) {
    let reg = TestRegistry::start_with(
        mode,
        Options {
            catalog_max_entries: Some(2),
        },
    );
    let files = Files::new();
    let p = files.write("x", b"x");
    let mut repos: Vec<String> = (0..5).map(|i| format!("page/r{i}")).collect();
    for r in &repos {
        dxf(&reg, &["push-blob", r, &p]).ok();
    }
    let d = sha256(b"x");
    let mut tags: Vec<String> = (0..7).map(|i| format!("t{i}")).collect();
    for t in &tags {
        dxf(&reg, &["set-alias", "page/r0", t, &d]).ok();
    }
    let mut listed = lines(&same(&reg, &["list-repos"], &[]));
    listed.sort();
    repos.sort();
    assert_eq!(listed, repos);
    let mut listed = lines(&same(&reg, &["list-aliases", "page/r0"], &[]));
    listed.sort();
    tags.sort();
    assert_eq!(listed, tags);
}

macro_rules! per_mode {
    ($($name:ident),*) => {
        mod plain { use super::*; $(#[test] fn $name() { super::$name(Mode::Plain) })* }
        mod basic { use super::*; $(#[test] fn $name() { super::$name(Mode::Basic) })* }
        mod token { use super::*; $(#[test] fn $name() { super::$name(Mode::Token) })* }
    };
}

per_mode!(
    push_pull_round_trip,
    aliases_and_interop,
    stdin_manifests,
    deletes,
    mounts,
    errors_and_exit_codes,
    pagination
);

#[test]
fn tls_settings_basic() {
    tls_settings(Mode::Basic);
}

#[test]
fn tls_settings_token() {
    tls_settings(Mode::Token);
}

#[test]
fn auth_prints_a_token_that_dxf_token_reuses() {
    let reg = TestRegistry::start(Mode::Token);
    let token = dxf(&reg, &["auth", "tok/x", "pull", "push"]).ok().out();
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let files = Files::new();
    let p = files.write("x", b"token reuse");
    let before = reg.token_requests();
    let env = [
        ("DXF_USERNAME", None),
        ("DXF_PASSWORD", None),
        ("DXF_TOKEN", Some(token)),
    ];
    let pushed = dxf_with(&reg, &["push-blob", "tok/x", &p], &env, None).ok();
    assert_eq!(pushed.out(), format!("{}\n", sha256(b"token reuse")));
    assert_eq!(reg.token_requests(), before, "DXF_TOKEN is used as-is");
    // python-dxf's auth prints a token too, and both tokens work for the registry.
    let theirs = python_dxf(&reg, &["auth", "tok/x", "pull"]).ok().out();
    assert_eq!(theirs.trim().split('.').count(), 3);
}

#[test]
fn auth_prints_nothing_for_basic_and_anonymous_registries() {
    for mode in [Mode::Plain, Mode::Basic] {
        let reg = TestRegistry::start(mode);
        let r = same(&reg, &["auth", "a/b", "pull"], &[]);
        assert_eq!((r.code, r.out()), (0, String::new()));
    }
}

#[test]
fn a_dead_auth_host_fails_cleanly() {
    let reg = TestRegistry::start(Mode::Token);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let host = format!("127.0.0.1:{dead}");
    let r = dxf_with(
        &reg,
        &["list-aliases", "a/b"],
        &[("DXF_AUTH_HOST", Some(&host))],
        None,
    );
    assert_ne!(r.code, 0);
    assert_eq!(r.out(), "");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn token_requests_are_cached_within_one_command() {
    let reg = TestRegistry::start(Mode::Token);
    let files = Files::new();
    let paths: Vec<String> = (0..4)
        .map(|i| files.write(&format!("f{i}"), &random_bytes(100, i)))
        .collect();
    for p in &paths {
        dxf(&reg, &["push-blob", "cache/x", p]).ok();
    }
    let digests: Vec<String> = (0..4).map(|i| sha256(&random_bytes(100, i))).collect();
    let before = reg.token_requests();
    let mut args = vec!["blob-size", "cache/x"];
    args.extend(digests.iter().map(String::as_str));
    dxf(&reg, &args).ok();
    assert_eq!(reg.token_requests() - before, 1, "one token for four HEADs");
}

mod multi_arch {
    use super::*;
    use dxf_tests::oci_layout::write_multi_arch;

    fn registry_with_image(mode: Mode) -> (TestRegistry, dxf_tests::oci_layout::MultiArch) {
        let reg = TestRegistry::start(mode);
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
            .arg(format!("docker://{}/ma/img:multi", reg.host()));
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (reg, image)
    }

    fn reads_match_python_dxf(mode: Mode) {
        let (reg, image) = registry_with_image(mode);
        let amd = &image.platforms[0];
        let arm = &image.platforms[1];
        for platform in [None, Some("linux/amd64"), Some("linux/arm64/v8")] {
            let env = [("DXF_PLATFORM", platform)];
            same(&reg, &["get-alias", "ma/img", "multi"], &env);
            same(&reg, &["get-digest", "ma/img", "multi"], &env);
            same(&reg, &["blob-size", "ma/img", "@multi"], &env);
            same(&reg, &["get-manifest", "ma/img", "multi"], &env);
        }
        let all = dxf(&reg, &["get-alias", "ma/img", "multi"]).ok().out();
        let expected = format!(
            "{{\"{}\": [\"{}\", \"{}\"], \"{}\": [\"{}\", \"{}\"]}}\n",
            amd.key, amd.layers[0].0, amd.layers[1].0, arm.key, arm.layers[0].0, arm.layers[1].0
        );
        assert_eq!(all, expected);
        let one = dxf_with(
            &reg,
            &["get-digest", "ma/img", "multi"],
            &[("DXF_PLATFORM", Some("linux/arm64/v8"))],
            None,
        )
        .ok();
        assert_eq!(one.out(), format!("{}\n", arm.config_digest));
        let m = dxf_with(
            &reg,
            &["get-manifest", "ma/img", "multi"],
            &[("DXF_PLATFORM", Some("linux/amd64"))],
            None,
        )
        .ok();
        assert!(m.stdout == amd.manifest);
        // Pulling a multi-arch alias without a platform prints the per-platform JSON.
        same(&reg, &["pull-blob", "ma/img", "@multi"], &[]);
        let blobs = dxf_with(
            &reg,
            &["pull-blob", "ma/img", "@multi"],
            &[("DXF_PLATFORM", Some("linux/amd64"))],
            None,
        )
        .ok();
        assert_eq!(
            blobs.stdout.len() as u64,
            amd.layers.iter().map(|l| l.1).sum::<u64>()
        );
        // The index given on stdin resolves the same way as the alias, in both tools.
        for args in [
            ["get-alias", "ma/img"],
            ["get-digest", "ma/img"],
            ["blob-size", "ma/img"],
        ] {
            let ours = dxf_with(&reg, &args, &[], Some(&image.index)).ok();
            let theirs = python_dxf_with(&reg, &args, &[], Some(&image.index)).ok();
            assert_eq!(ours.out(), theirs.out(), "{args:?}");
        }
        // An unknown platform is an error.
        let r = dxf_with(
            &reg,
            &["get-alias", "ma/img", "multi"],
            &[("DXF_PLATFORM", Some("windows/amd64"))],
            None,
        );
        assert_ne!(r.code, 0);
        assert_eq!(r.out(), "");
    }

    #[test]
    fn plain() {
        reads_match_python_dxf(Mode::Plain);
    }

    #[test]
    fn token() {
        reads_match_python_dxf(Mode::Token);
    }

    #[test]
    fn del_alias_and_del_blob_of_a_multi_arch_alias() {
        let (reg, image) = registry_with_image(Mode::Plain);
        let out = dxf(&reg, &["del-alias", "ma/img", "multi"]).ok().out();
        let expected = format!(
            "{{\"{}\": \"{}\", \"{}\": \"{}\"}}\n",
            image.platforms[0].key,
            image.platforms[0].manifest_digest,
            image.platforms[1].key,
            image.platforms[1].manifest_digest
        );
        assert_eq!(out, expected);
        assert_eq!(dxf(&reg, &["get-alias", "ma/img", "multi"]).code, 2);

        // del-blob @alias: the index, each platform manifest, each distinct layer once
        // (the shared layer is deleted once; python-dxf aborts on it).
        let (reg, image) = registry_with_image(Mode::Plain);
        dxf(&reg, &["del-blob", "ma/img", "@multi"]).ok();
        for p in &image.platforms {
            for (layer, _) in &p.layers {
                assert_eq!(
                    dxf(&reg, &["blob-size", "ma/img", layer]).code,
                    2,
                    "{layer} still there"
                );
            }
            assert_eq!(
                dxf(&reg, &["get-alias", "ma/img", &p.manifest_digest]).code,
                2
            );
        }
    }
}

fn basic_header(reg: &TestRegistry) -> String {
    use base64::Engine as _;
    let (u, p) = reg.credentials().unwrap();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
    )
}

#[test]
fn dxf_authorization_replaces_username_and_password() {
    for mode in [Mode::Basic, Mode::Token] {
        let reg = TestRegistry::start(mode);
        let files = Files::new();
        let p = files.write("x", b"raw authorization");
        let header = basic_header(&reg);
        let env = [
            ("DXF_USERNAME", None),
            ("DXF_PASSWORD", None),
            ("DXF_AUTHORIZATION", Some(header.as_str())),
        ];
        let out = dxf_with(&reg, &["push-blob", "authz/x", &p], &env, None).ok();
        assert_eq!(out.out(), format!("{}\n", sha256(b"raw authorization")));
        let bad = [
            ("DXF_USERNAME", None),
            ("DXF_PASSWORD", None),
            ("DXF_AUTHORIZATION", Some("Basic bm9ib2R5Om5vcGU=")),
        ];
        assert_eq!(
            dxf_with(&reg, &["list-aliases", "authz/x"], &bad, None).code,
            13
        );
    }
}

#[test]
fn progress_bars_follow_dxf_progress() {
    let reg = TestRegistry::start(Mode::Plain);
    let files = Files::new();
    let data = random_bytes(3 << 20, 77);
    let p = files.write("x", &data);
    let digest = sha256(&data);
    let shown = dxf_with(
        &reg,
        &["push-blob", "prog/x", &p],
        &[("DXF_PROGRESS", Some("1"))],
        None,
    )
    .ok();
    assert_eq!(
        shown.out(),
        format!("{digest}\n"),
        "progress never touches stdout"
    );
    assert!(shown.stderr.contains(&digest[..8]), "{:?}", shown.stderr);
    assert!(shown.stderr.contains("100%"), "{:?}", shown.stderr);
    // Skipped push: no bar. DXF_PROGRESS=0, or unset with stderr not a tty: no bar.
    let skipped = dxf_with(
        &reg,
        &["push-blob", "prog/x", &p],
        &[("DXF_PROGRESS", Some("1"))],
        None,
    )
    .ok();
    assert_eq!(skipped.stderr, "");
    let pulled = dxf_with(
        &reg,
        &["pull-blob", "prog/x", &digest],
        &[("DXF_PROGRESS", Some("1"))],
        None,
    )
    .ok();
    assert!(pulled.stdout == data);
    assert!(pulled.stderr.contains("100%"), "{:?}", pulled.stderr);
    for setting in [Some("0"), None] {
        let quiet = dxf_with(
            &reg,
            &["pull-blob", "prog/x", &digest],
            &[("DXF_PROGRESS", setting)],
            None,
        )
        .ok();
        assert_eq!(quiet.stderr, "");
    }
}

#[test]
fn dxf_chunk_size_sets_the_read_size_and_is_validated() {
    let reg = TestRegistry::start(Mode::Plain);
    let files = Files::new();
    let data = random_bytes(100_000, 78);
    let p = files.write("x", &data);
    let digest = sha256(&data);
    dxf(&reg, &["push-blob", "chunk/x", &p]).ok();
    for size in ["1", "3", "65536"] {
        let r = dxf_with(
            &reg,
            &["pull-blob", "chunk/x", &digest],
            &[("DXF_CHUNK_SIZE", Some(size))],
            None,
        )
        .ok();
        assert!(r.stdout == data, "DXF_CHUNK_SIZE={size}");
    }
    for bad in ["abc", "0", "-5", "1.5"] {
        let r = dxf_with(
            &reg,
            &["pull-blob", "chunk/x", &digest],
            &[("DXF_CHUNK_SIZE", Some(bad))],
            None,
        );
        assert_ne!(r.code, 0, "DXF_CHUNK_SIZE={bad}");
        assert_eq!(r.out(), "");
        assert!(r.stderr.contains("DXF_CHUNK_SIZE"), "{r:#?}");
    }
}

#[test]
fn missing_host_and_credentials_over_plain_http_are_clean_errors() {
    let reg = TestRegistry::start(Mode::Plain);
    let r = dxf_with(&reg, &["list-repos"], &[("DXF_HOST", None)], None);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("DXF_HOST"), "{r:#?}");
    assert_eq!(r.out(), "");
    // Plain http to an https registry: one clean line, no output.
    let basic = TestRegistry::start(Mode::Basic);
    let env = [("DXF_INSECURE", Some("1")), ("DXF_TLSVERIFY", None)];
    let r = dxf_with(&basic, &["list-repos"], &env, None);
    assert_ne!(r.code, 0);
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
}

#[test]
fn single_pass_and_parallel_pushes() {
    for mode in [Mode::Plain, Mode::Token] {
        let reg = TestRegistry::start(mode);
        let files = Files::new();
        let blobs: Vec<Vec<u8>> = (0..5)
            .map(|i| random_bytes(300_000 + i * 1000, 200 + 2 * i as u64))
            .collect();
        let paths: Vec<String> = blobs
            .iter()
            .enumerate()
            .map(|(i, b)| files.write(&format!("p{i}"), b))
            .collect();
        // Single pass: same digest as the default mode, bytes round-trip.
        let one = dxf(&reg, &["push-blob", "--single-pass", "sp/x", &paths[0]]).ok();
        assert_eq!(one.out(), format!("{}\n", sha256(&blobs[0])));
        assert!(
            dxf(&reg, &["pull-blob", "sp/x", &sha256(&blobs[0])])
                .ok()
                .stdout
                == blobs[0]
        );
        // Several files, 3 at a time, one alias for all: digests in argument order.
        let mut args = vec!["push-blob", "--jobs", "3", "sp/x"];
        args.extend(paths.iter().map(String::as_str));
        args.push("@all");
        let out = dxf(&reg, &args).ok();
        let digests: Vec<String> = blobs.iter().map(|b| sha256(b)).collect();
        assert_eq!(lines(&out), digests);
        assert_eq!(
            lines(&dxf(&reg, &["get-alias", "sp/x", "all"]).ok()),
            digests
        );
        assert!(dxf(&reg, &["pull-blob", "sp/x", "@all"]).ok().stdout == blobs.concat());
        // A missing file among them: nothing printed, clean error.
        let r = dxf(
            &reg,
            &[
                "push-blob",
                "--jobs",
                "2",
                "sp/x",
                &paths[1],
                "/nonexistent",
            ],
        );
        assert_ne!(r.code, 0);
        assert_eq!(r.out(), "");
        assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    }
}
