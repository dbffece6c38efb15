//! dxf-proto's third driver, `examples/std_tcp.rs` (HTTP/1.1 by hand over a bare
//! `TcpStream`), run as a program against real CNCF distribution with token auth on plain
//! http ([`Mode::TokenPlain`]): it pushes a file in each of its modes and pulls it back
//! verified, and a wrong password fails it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use dxf_tests::{Mode, TestRegistry};
use sha2::{Digest as _, Sha256};

/// The example, brought up to date with `cargo build -p dxf-proto --example std_tcp` once
/// per test process, in the target directory this test binary lives in.
fn example_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<this test binary>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "dxf-proto", "--example", "std_tcp"]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        if let Some(dir) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", dir);
        }
        let status = build.status().unwrap();
        assert!(status.success(), "cargo build --example std_tcp failed");
        let bin = profile_dir
            .join("examples")
            .join(format!("std_tcp{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}

/// Runs the example against `registry` with `password`, pushing `file` in `mode`.
fn run_example(registry: &TestRegistry, password: &str, file: &Path, mode: &str) -> Output {
    let (user, _) = registry.credentials().unwrap();
    Command::new(example_bin())
        .args([&registry.host(), "embed/example", &user, password])
        .arg(file)
        .arg(mode)
        .output()
        .unwrap()
}

fn sha256(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The registry's answer to an unauthenticated `GET` of `path`.
fn status_without_credentials(registry: &TestRegistry, path: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(registry.host()).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        registry.host()
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn pushes_and_pulls_with_a_token_over_plain_http_in_every_mode() {
    let registry = TestRegistry::start(Mode::TokenPlain);
    let (_, password) = registry.credentials().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, mode) in ["put", "chunks", "stream", "relay"].into_iter().enumerate() {
        // Several chunks' worth (64 KiB chunks), different for every mode.
        let data: Vec<u8> = (0..300_000u32)
            .map(|n| (n.wrapping_mul(31) as u8) ^ (i as u8))
            .collect();
        let file = dir.path().join(mode);
        std::fs::write(&file, &data).unwrap();
        let digest = sha256(&data);
        let tokens_before = registry.token_requests();

        let out = run_example(&registry, &password, &file, mode);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{mode}: {}\nstdout: {stdout}\nstderr: {stderr}\nregistry log:\n{}",
            out.status,
            registry.log()
        );
        assert_eq!(
            stdout,
            format!(
                "pushed {digest} {len}\npulled {digest} {len} verified\n",
                len = data.len()
            ),
            "{mode}"
        );
        assert!(
            registry.token_requests() > tokens_before,
            "{mode}: no token was requested"
        );
        // The registry hands the blob out only with a token: the pull above used one.
        let status =
            status_without_credentials(&registry, &format!("/v2/embed/example/blobs/{digest}"));
        assert!(status.contains(" 401 "), "{mode}: {status}");
    }
}

#[test]
fn a_wrong_password_fails_the_example() {
    let registry = TestRegistry::start(Mode::TokenPlain);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    std::fs::write(&file, b"not pushed").unwrap();

    let out = run_example(&registry, "wrong-password", &file, "put");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.starts_with("std_tcp: ") && stderr.contains("Unauthorized"),
        "{stderr}"
    );
    // The token server was asked, and refused.
    assert!(registry.token_requests() > 0);
}
