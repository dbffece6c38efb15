//! Installing dxf the ways its users do, each installed `dxf` then running the CLI suite's
//! round trip against the real registry: the wheel (`scripts/build-wheel`: maturin, `bin`
//! bindings) into a fresh virtualenv with pip (`cargo install` from a fresh clone is
//! `cargo_install.rs`). Also: shell completions and man pages, generated from the clap
//! definitions, name every command; `--version` names the commit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

use dxf_tests::cli::{
    clean_command, dxf_bin, must, push_pull_round_trip, run_command, workspace_root as root, Run,
};
use dxf_tests::Mode;

/// `dxf ARGS` with a clean environment (no registry).
fn dxf(args: &[&str]) -> Run {
    let mut cmd = clean_command(dxf_bin(), [("LC_ALL", "C")], &[], false);
    cmd.args(args);
    run_command(cmd, None)
}

/// The commands `dxf --help` lists.
fn commands() -> Vec<String> {
    let help = dxf(&["--help"]).ok().out();
    let listed: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(listed.len() >= 20, "{help}");
    for known in ["push-blob", "pull-blob", "copy", "completions", "man"] {
        assert!(listed.iter().any(|c| c == known), "{listed:?}");
    }
    listed
}

/// Runs `program args` (in `dir`), which must succeed; its stdout.
fn run(program: &str, args: &[&str], dir: Option<&Path>) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    must(cmd)
}

/// What `--version` must print: the version, and the commit of the checkout.
fn expected_version() -> String {
    let commit = run("git", &["rev-parse", "--short=12", "HEAD"], Some(&root()));
    format!(
        "dxf {} (commit {})\n",
        env!("CARGO_PKG_VERSION"),
        commit.trim()
    )
}

#[test]
fn completions_name_every_command_in_every_shell() {
    let commands = commands();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = dxf(&["completions", shell]).ok().out();
        for c in &commands {
            assert!(script.contains(c.as_str()), "{shell}: no {c}");
        }
        // Options of a command are completed too.
        assert!(script.contains("single-pass"), "{shell}");
    }
    // The bash script is valid bash, and completes `dxf pu` to the commands it starts.
    let script = dxf(&["completions", "bash"]).ok().out();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dxf.bash");
    std::fs::write(&file, &script).unwrap();
    let probe = format!(
        "source {}; COMP_WORDS=(dxf pu); COMP_CWORD=1; COMP_LINE='dxf pu'; COMP_POINT=6; \
         _dxf dxf pu dxf; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let words = run("bash", &["-c", &probe], None);
    let mut words: Vec<&str> = words.lines().collect();
    words.sort_unstable();
    assert_eq!(words, ["pull", "pull-blob", "push", "push-blob"]);
    // An unknown shell is a usage error.
    let bad = dxf(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(
        bad.stdout.is_empty() && bad.stderr.lines().count() == 1,
        "{bad:#?}"
    );
}

#[test]
fn man_pages_name_every_command() {
    let commands = commands();
    let page = dxf(&["man"]).ok().out();
    assert!(page.contains(".TH dxf 1"), "{page}");
    assert!(page.contains("DXF_HOST"), "the environment is documented");
    for c in &commands {
        let roff_name = format!("dxf\\-{}(1)", c.replace('-', "\\-"));
        assert!(page.contains(&roff_name), "dxf(1) does not list {c}");
        let own = dxf(&["man", c]).ok().out();
        assert!(own.contains(&format!(".TH dxf-{c} 1")), "{c}: {own}");
        assert!(own.contains(".SH SYNOPSIS"), "{c}");
    }
    // Rendered by man itself when it is installed.
    if Command::new("man").arg("--version").output().is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dxf.1");
        std::fs::write(&file, &page).unwrap();
        let text = run("man", &["-l", &file.display().to_string()], None);
        assert!(text.contains("push-blob"), "{text}");
    }
    let bad = dxf(&["man", "nope"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stdout.is_empty(), "{bad:#?}");
}

#[test]
fn version_names_the_commit() {
    assert_eq!(dxf(&["--version"]).ok().out(), expected_version());
}

#[test]
fn the_wheel_installs_dxf_into_a_fresh_virtualenv() {
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    let wheels_arg = wheels.display().to_string();
    // The dev profile: the same binary as a release wheel, built quicker.
    run(
        &root().join("scripts/build-wheel").display().to_string(),
        &["-o", &wheels_arg, "--profile", "dev"],
        Some(&root()),
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .unwrap();
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("dxf_cli-{}-py3-none-", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );
    let venv = dir.path().join("venv");
    run(
        "python3",
        &["-m", "venv", &venv.display().to_string()],
        None,
    );
    let bin = venv.join("bin");
    let pip = bin.join("pip").display().to_string();
    run(
        &pip,
        &[
            "install",
            "-q",
            "--no-index",
            "--disable-pip-version-check",
            &wheel.display().to_string(),
        ],
        None,
    );
    let shown = run(&pip, &["show", "dxf-cli"], None);
    assert!(
        shown.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{shown}"
    );
    let dxf = bin.join("dxf");
    assert_eq!(
        run(&dxf.display().to_string(), &["--version"], None),
        expected_version()
    );
    push_pull_round_trip(&dxf, Mode::Basic);
    // Uninstalled cleanly: the command goes with the package.
    run(&pip, &["uninstall", "-q", "-y", "dxf-cli"], None);
    assert!(!dxf.exists());
}
