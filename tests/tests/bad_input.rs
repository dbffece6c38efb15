//! Every CLI input a user can get wrong gets one clear line on stderr, a documented exit
//! code and nothing on stdout. The table is docs/errors.md; each row is a case here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use dxf_tests::cli::{dxf, dxf_with, Run};
use dxf_tests::oci_layout::write_multi_arch;
use dxf_tests::{Mode, TestRegistry};

const ZERO: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[track_caller]
fn check(r: &Run, code: i32, needle: &str) {
    assert_eq!(r.code, code, "{r:#?}");
    assert_eq!(r.out(), "", "nothing on stdout: {r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {r:#?}");
    assert!(r.stderr.starts_with("dxf: "), "{r:#?}");
    assert!(
        r.stderr.contains(needle),
        "{needle:?} not in {:?}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{r:#?}");
}

#[test]
fn environment_and_connection() {
    let reg = TestRegistry::start(Mode::Plain);
    let host = |h: &'static str| [("DXF_HOST", Some(h))];
    check(
        &dxf_with(&reg, &["list-repos"], &[("DXF_HOST", None)], None),
        1,
        "DXF_HOST is not set",
    );
    check(
        &dxf_with(&reg, &["list-repos"], &host("http://x"), None),
        1,
        "invalid registry host",
    );
    check(
        &dxf_with(&reg, &["list-repos"], &host("a b"), None),
        1,
        "invalid registry host",
    );
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let dead: &'static str = Box::leak(dead.into_boxed_str());
    check(
        &dxf_with(&reg, &["list-repos"], &host(dead), None),
        1,
        "connection error",
    );
    check(
        &dxf_with(&reg, &["list-repos"], &host("nonexistent.invalid"), None),
        1,
        "nonexistent.invalid",
    );
    for bad in ["abc", "0", "-1"] {
        let r = dxf_with(
            &reg,
            &["pull-blob", "a/b", ZERO],
            &[("DXF_CHUNK_SIZE", Some(bad))],
            None,
        );
        check(&r, 1, "DXF_CHUNK_SIZE");
    }
    for bad in ["many", "-1", "1.5", "101"] {
        let r = dxf_with(
            &reg,
            &["blob-size", "a/b", ZERO],
            &[("DXF_RETRIES", Some(bad))],
            None,
        );
        check(&r, 1, "DXF_RETRIES");
    }
    for bad in ["abc", "-1", "1e3", "86401"] {
        let r = dxf_with(
            &reg,
            &["blob-size", "a/b", ZERO],
            &[("DXF_TIMEOUT", Some(bad))],
            None,
        );
        check(&r, 1, "DXF_TIMEOUT must be a number of seconds");
    }
}

#[test]
fn tls() {
    let reg = TestRegistry::start(Mode::Basic);
    let r = dxf_with(&reg, &["list-repos"], &[("DXF_TLSVERIFY", None)], None);
    check(&r, 1, &reg.host());
    let r = dxf_with(
        &reg,
        &["list-repos"],
        &[("DXF_TLSVERIFY", Some("/nonexistent.pem"))],
        None,
    );
    check(&r, 1, "cannot read CA bundle");
    let empty = tempfile::NamedTempFile::new().unwrap();
    let path = empty.path().display().to_string();
    let r = dxf_with(
        &reg,
        &["list-repos"],
        &[("DXF_TLSVERIFY", Some(&path))],
        None,
    );
    check(&r, 1, "no certificates in CA bundle");
}

#[test]
fn files() {
    let reg = TestRegistry::start(Mode::Plain);
    check(
        &dxf(&reg, &["push-blob", "a/b", "/nonexistent/file"]),
        1,
        "/nonexistent/file",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    check(&dxf(&reg, &["push-blob", "a/b", &d]), 1, "Is a directory");
    // Unreadable even for root: reading /proc/self/mem at offset 0 fails with EIO.
    check(
        &dxf(&reg, &["push-blob", "a/b", "/proc/self/mem"]),
        1,
        "/proc/self/mem",
    );
    check(
        &dxf(&reg, &["set-alias", "a/b", "x", "/nonexistent/file"]),
        1,
        "/nonexistent/file",
    );
}

#[test]
fn names() {
    let reg = TestRegistry::start(Mode::Plain);
    check(
        &dxf(&reg, &["pull-blob", "a/b", "sha256:xyz"]),
        2,
        "invalid digest",
    );
    check(
        &dxf(&reg, &["blob-size", "a/b", "notadigest"]),
        2,
        "invalid digest",
    );
    check(
        &dxf(&reg, &["get-alias", "Bad/Repo", "x"]),
        2,
        "invalid repository name",
    );
    check(
        &dxf(&reg, &["list-aliases", "a//b"]),
        2,
        "invalid repository name",
    );
    check(
        &dxf(&reg, &["get-alias", "a/b", "bad tag"]),
        2,
        "invalid tag",
    );
    check(
        &dxf(&reg, &["set-alias", "a/b", "bad tag", ZERO]),
        2,
        "invalid tag",
    );
    check(
        &dxf(&reg, &["push-blob", "a/b", "/etc/hostname", "noat"]),
        2,
        "invalid alias",
    );
    check(&dxf(&reg, &["get-alias"]), 2, "too few arguments");
    check(&dxf(&reg, &["frobnicate", "a/b"]), 2, "frobnicate");
}

#[test]
fn platforms_and_stdin() {
    let reg = TestRegistry::start(Mode::Plain);
    let dir = tempfile::tempdir().unwrap();
    write_multi_arch(dir.path(), "multi");
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            "-q",
            "--dest-tls-verify=false",
        ])
        .arg(format!("oci:{}:multi", dir.path().display()))
        .arg(format!("docker://{}/bad/img:multi", reg.host()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = [("DXF_PLATFORM", Some("plan9/mips"))];
    check(
        &dxf_with(&reg, &["get-alias", "bad/img", "multi"], &env, None),
        1,
        "platform plan9/mips not found",
    );
    for (input, needle) in [
        (&b"not json"[..], "not a manifest"),
        (br#"{"a": 1}"#, "not a manifest"),
        (br#"[1, 2]"#, "not a manifest"),
        (
            br#"{"schemaVersion": 1, "fsLayers": []}"#,
            "unsupported manifest media type",
        ),
        (b"", "not a manifest"),
    ] {
        let r = dxf_with(&reg, &["get-alias", "bad/img"], &[], Some(input));
        check(&r, 1, needle);
        assert!(r.stderr.contains("standard input"), "{r:#?}");
    }
}
