//! Running command-line tools against a [`TestRegistry`]: our `dxf` binary (built on
//! demand) and python-dxf 12.1.1 (`python3 -m dxf`), with a clean environment — only the
//! registry's `DXF_*` variables plus whatever the test adds — so results are comparable.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::TestRegistry;

/// What a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output, raw.
    pub stdout: Vec<u8>,
    /// Standard error, lossy UTF-8.
    pub stderr: String,
}

impl Run {
    /// Standard output as UTF-8 text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics with everything about the run unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "command failed: {self:#?}");
        self
    }
}

/// The workspace's target directory (where `cargo test` put this test binary).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test-binary>
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The `dxf` binary of this workspace, brought up to date with `cargo build -p dxf-cli`
/// once per test process (a no-op when it is current; never a stale binary).
pub fn dxf_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = target_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "dxf-cli"]);
        if target.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        // Build into the directory this test binary lives in (its parent is the target dir).
        if let Some(dir) = target.parent() {
            build.env("CARGO_TARGET_DIR", dir);
        }
        let status = build.status().unwrap();
        assert!(status.success(), "cargo build -p dxf-cli failed");
        let bin = target.join("dxf");
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
}

/// `program args` with the registry's environment plus `env` (a value of `None` removes
/// the variable); stdin piped when `piped_stdin`, stdout and stderr piped.
fn command(
    program: &Path,
    pre_args: &[&str],
    registry: &TestRegistry,
    args: &[&str],
    env: &[(&str, Option<&str>)],
    piped_stdin: bool,
) -> Command {
    let mut cmd = clean_command(program, registry.dxf_env(), env, piped_stdin);
    cmd.args(pre_args).args(args);
    cmd
}

/// A directory for one run's blob-location cache, not created yet (below the target
/// directory: `cargo clean` removes them all).
pub fn fresh_cache_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    target_dir()
        .join("test-caches")
        .join(format!("{}-{n}", std::process::id()))
}

/// `program` (no arguments yet) with a clean environment: only `PATH`, `HOME` and
/// `base_env`, then `env` (a value of `None` removes the variable); stdin piped when
/// `piped_stdin` (else null), stdout and stderr piped.
pub fn clean_command<K: AsRef<OsStr>, V: AsRef<OsStr>>(
    program: &Path,
    base_env: impl IntoIterator<Item = (K, V)>,
    env: &[(&str, Option<&str>)],
    piped_stdin: bool,
) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .envs(base_env)
        .stdin(if piped_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Every run starts with an empty blob-location cache of its own (the cache is on by
    // default): runs never mount from what another test pushed. Tests of the cache set
    // their own `DXF_CACHE_DIR`.
    cmd.env("DXF_CACHE_DIR", fresh_cache_dir());
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

/// Runs `program args` with the registry's environment plus `env` (a value of `None`
/// removes the variable), feeding `stdin`.
pub fn run_with(
    program: &Path,
    pre_args: &[&str],
    registry: &TestRegistry,
    args: &[&str],
    env: &[(&str, Option<&str>)],
    stdin: Option<&[u8]>,
) -> Run {
    run_command(
        command(program, pre_args, registry, args, env, stdin.is_some()),
        stdin,
    )
}

/// Runs `cmd` (its stdin piped when `stdin` is given, see [`clean_command`]), feeding it
/// `stdin` from a thread, and collects what it printed.
pub fn run_command(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    let mut child = cmd.spawn().unwrap();
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    finish(child)
}

/// Starts our `dxf` with the registry's environment plus `env`, its stdin a pipe the
/// caller may write to (or drop), for tests that act on the running process (signals).
pub fn dxf_spawn(
    registry: &TestRegistry,
    args: &[&str],
    env: &[(&str, Option<&str>)],
) -> std::process::Child {
    command(dxf_bin(), &[], registry, args, env, true)
        .spawn()
        .unwrap()
}

/// Waits for `child` to end and collects what it printed.
pub fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Sends `signal` (a name such as `INT` or `TERM`) to the process `pid` (the shell's
/// `kill`, there on every machine).
pub fn send_signal(pid: u32, signal: &str) {
    send_signals(pid, &[signal]);
}

/// Sends each of `signals` to process `pid`, one right after the other (one shell).
pub fn send_signals(pid: u32, signals: &[&str]) {
    let script: Vec<String> = signals.iter().map(|s| format!("kill -{s} {pid}")).collect();
    let script = script.join(" && ");
    let status = Command::new("sh").args(["-c", &script]).status().unwrap();
    assert!(status.success(), "{script}");
}

/// Runs our `dxf`.
pub fn dxf(registry: &TestRegistry, args: &[&str]) -> Run {
    run_with(dxf_bin(), &[], registry, args, &[], None)
}

/// Runs our `dxf` with extra environment and stdin.
pub fn dxf_with(
    registry: &TestRegistry,
    args: &[&str],
    env: &[(&str, Option<&str>)],
    stdin: Option<&[u8]>,
) -> Run {
    run_with(dxf_bin(), &[], registry, args, env, stdin)
}

/// Runs python-dxf 12.1.1 (`python3 -m dxf`) with extra environment and stdin.
pub fn python_dxf_with(
    registry: &TestRegistry,
    args: &[&str],
    env: &[(&str, Option<&str>)],
    stdin: Option<&[u8]>,
) -> Run {
    run_with(
        Path::new("python3"),
        &["-m", "dxf"],
        registry,
        args,
        env,
        stdin,
    )
}

/// Runs python-dxf.
pub fn python_dxf(registry: &TestRegistry, args: &[&str]) -> Run {
    python_dxf_with(registry, args, &[], None)
}

/// Random bytes (xorshift; reproducible per seed).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

/// A temporary directory of input files for a test, removed when dropped.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    /// A new, empty directory.
    pub fn new() -> Files {
        Files {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    /// Writes `data` to the file `name` in it; its path, as text.
    pub fn write(&self, name: &str, data: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, data).expect("write a test file");
        path.display().to_string()
    }

    /// The path of `name` in it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Default for Files {
    fn default() -> Files {
        Files::new()
    }
}

/// The CLI suite's round trip with the `dxf` at `bin` (this workspace's, or one installed
/// from the wheel or with `cargo install`): 1, 2 and 64 MiB pushed, pulled back whole,
/// sized, and pushed again (skipped, same output), against a registry in `mode`.
pub fn push_pull_round_trip(bin: &Path, mode: crate::Mode) {
    let reg = TestRegistry::start(mode);
    let files = Files::new();
    let run = |args: &[&str]| {
        let run = run_with(bin, &[], &reg, args, &[], None);
        assert_eq!(run.code, 0, "{} {args:?} failed: {run:#?}", bin.display());
        run
    };
    for (i, size) in [1 << 20, 2 << 20, 64 << 20].into_iter().enumerate() {
        let data = random_bytes(size, 17 + i as u64);
        let path = files.write(&format!("blob{i}"), &data);
        let pushed = run(&["push-blob", "rt/blobs", &path]);
        assert_eq!(pushed.out(), format!("{}\n", sha256(&data)));
        let digest = sha256(&data);
        let pulled = run(&["pull-blob", "rt/blobs", &digest]);
        assert!(
            pulled.stdout == data,
            "pulled bytes differ for {size} bytes"
        );
        assert_eq!(
            run(&["blob-size", "rt/blobs", &digest]).out(),
            format!("{size}\n")
        );
        // A second push finds the blob and skips the upload; same output.
        assert_eq!(run(&["push-blob", "rt/blobs", &path]).out(), pushed.out());
    }
}

/// The workspace's root directory (this repository's checkout).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// Runs `cmd`, which must succeed (else a panic with its output); its stdout.
#[track_caller]
pub fn must(mut cmd: Command) -> String {
    let out = cmd.output().expect("the program runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
