//! `cargo install --locked --path dxf-cli` from a fresh clone of this repository, as the
//! README says: the installed `dxf` names its version and commit and passes the CLI suite's
//! round trip against the real registry. Its own test binary: the install shares the
//! workspace's target directory (dependencies are not built again), which no other test
//! may use meanwhile; the workspace's `dxf` is built again afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use dxf_tests::cli::{must, push_pull_round_trip, target_dir, workspace_root as root};
use dxf_tests::Mode;

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Builds the workspace's `dxf` again when dropped (the install replaced it with the
/// clone's build, which is the same source only when the checkout is clean).
struct RebuildWorkspaceDxf;

impl Drop for RebuildWorkspaceDxf {
    fn drop(&mut self) {
        let mut build = cargo();
        build
            .args(["build", "-q", "-p", "dxf-cli"])
            .current_dir(root())
            .env("CARGO_TARGET_DIR", target_dir().parent().unwrap());
        let _ = build.status();
    }
}

#[test]
fn cargo_install_from_a_fresh_clone() {
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("clone");
    let mut git = Command::new("git");
    git.args(["clone", "-q", "--no-hardlinks"])
        .arg(root())
        .arg(&clone);
    must(git);
    let mut head = Command::new("git");
    head.args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&clone);
    let commit = must(head);
    let install_root = dir.path().join("root");
    let _rebuild = RebuildWorkspaceDxf;
    let mut install = cargo();
    install
        .args([
            "install",
            "--locked",
            "--offline",
            "--debug",
            "--quiet",
            "--path",
        ])
        .arg(clone.join("dxf-cli"))
        .arg("--root")
        .arg(&install_root)
        .env("CARGO_TARGET_DIR", target_dir().parent().unwrap());
    must(install);
    let dxf = install_root.join("bin").join("dxf");
    let mut version = Command::new(&dxf);
    version.arg("--version");
    assert_eq!(
        must(version),
        format!(
            "dxf {} (commit {})\n",
            env!("CARGO_PKG_VERSION"),
            commit.trim()
        )
    );
    push_pull_round_trip(&dxf, Mode::Plain);
}
