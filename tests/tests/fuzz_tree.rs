//! A fuzz run leaves `git status` clean: whatever libFuzzer writes — new inputs into the
//! tracked corpus directory (a bare `cargo fuzz run TARGET`), the scratch corpus
//! `fuzz/run.sh` uses, crash artifacts — is ignored by git, while the tracked corpus stays
//! tracked (`fuzz/promote.sh` adds chosen inputs with `git add -f`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

use dxf_tests::cli::{must, workspace_root as root};

fn git(args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(root());
    must(cmd)
}

/// Removes the files it names when dropped.
struct Made(Vec<PathBuf>);

impl Drop for Made {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[test]
fn what_a_fuzz_run_writes_stays_out_of_git_status() {
    let n = std::process::id();
    let written = [
        format!("fuzz/corpus/mount/fuzz-tree-test-{n}"),
        format!("fuzz/target/fuzz-work/mount/fuzz-tree-test-{n}"),
        format!("fuzz/artifacts/mount/crash-fuzz-tree-test-{n}"),
    ];
    let made = Made(written.iter().map(|p| root().join(p)).collect());
    for p in &made.0 {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"input").unwrap();
    }
    let mut args = vec!["status", "--porcelain", "--untracked-files=all", "--"];
    args.extend(written.iter().map(String::as_str));
    assert_eq!(git(&args), "", "a fuzz run's files show in git status");
    // The tracked corpus is still the corpus: every target has tracked inputs there, and
    // the replay test reads them.
    let tracked = git(&[
        "ls-files",
        "fuzz/corpus/mount",
        "fuzz/corpus/blob_locations",
    ]);
    assert!(tracked.lines().count() >= 4, "{tracked}");
}
