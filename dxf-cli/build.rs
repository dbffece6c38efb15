//! Sets `DXF_VERSION` for `dxf --version`: the crate's version and, when known, the commit it
//! was built from — `DXF_BUILD_COMMIT` if set (a build from a source archive), else git's
//! `HEAD` (rebuilt when `HEAD` moves). Without either, the version alone.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DXF_BUILD_COMMIT");
    let version = env!("CARGO_PKG_VERSION");
    let commit = std::env::var("DXF_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit);
    match commit {
        Some(c) => println!("cargo:rustc-env=DXF_VERSION={version} (commit {c})"),
        None => println!("cargo:rustc-env=DXF_VERSION={version}"),
    }
}

/// `git` run in this crate's directory: its trimmed output when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| text.trim().to_owned())
}

/// The abbreviated commit of `HEAD`, asking cargo to build again when `HEAD` or the branch
/// it names moves.
fn git_commit() -> Option<String> {
    // Only dxf's own repository: a crate unpacked inside some other checkout (a vendored
    // copy) must not take that checkout's commit.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if !Path::new(&top)
        .join("dxf-proto")
        .join("Cargo.toml")
        .exists()
    {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
        watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    for path in watched.into_iter().flatten() {
        let path = Path::new(&dir).join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Some(commit)
}
