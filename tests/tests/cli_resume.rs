//! `dxf push-blob --resumable` (and `DXF_RESUMABLE=1`) against a real registry, through
//! the [`FaultProxy`]:
//!
//! - a push that dies between two chunks fails (exit 1) and leaves its checkpoint in the
//!   state directory (`DXF_STATE_DIR`); the same command run again sends only the rest,
//!   prints the digest, sets the alias and removes the state file;
//! - a state file that does not parse, or belongs to another push, is ignored and replaced;
//!   one naming a session the registry forgot (a chunk cut midway: distribution drops the
//!   session) still ends in a correct push, started over;
//! - without `--resumable` nothing is written to the state directory;
//! - an unusable state directory, or `--resumable` with standard input, is a one-line
//!   error before anything is sent.
//!
//! The CLI uploads in the library's default 8 MiB chunks (there is no knob), so the blobs
//! here are tens of MiB.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

use dxf_tests::cli::{dxf, dxf_with, random_bytes, sha256, Run};
use dxf_tests::fault_proxy::{registry_holds, Fault, FaultProxy, Rule};
use dxf_tests::{Mode, TestRegistry};

/// The CLI's chunk size (dxf-proto's default).
const CHUNK: u64 = 8 * 1024 * 1024;

fn write_file(dir: &Path, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    fs::write(&path, data).unwrap();
    path.display().to_string()
}

/// The state files in `dir` (none when it does not exist), sorted.
fn state_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    v.sort();
    v
}

/// The one state file in `dir`, read.
#[track_caller]
fn only_state(dir: &Path) -> (PathBuf, String) {
    let files = state_files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let path = files[0].clone();
    let text = fs::read_to_string(&path).unwrap();
    (path, text)
}

/// The state file name the CLI uses for a push of `digest` to `repo` at `host`:
/// the hex SHA-256 of `host\nrepo\ndigest\n`.
fn state_name(host: &str, repo: &str, digest: &str) -> String {
    let d = sha256(format!("{host}\n{repo}\n{digest}\n").as_bytes());
    d.trim_start_matches("sha256:").to_owned()
}

/// `dxf args` through the proxy, with `DXF_RETRIES=retries`, `DXF_STATE_DIR=state` and
/// `extra`.
fn dxf_via(
    reg: &TestRegistry,
    proxy: &FaultProxy,
    state: &Path,
    retries: &str,
    extra: &[(&str, Option<&str>)],
    args: &[&str],
) -> Run {
    let host = proxy.host();
    let state = state.display().to_string();
    let mut env = vec![
        ("DXF_HOST", Some(host.as_str())),
        ("DXF_RETRIES", Some(retries)),
        ("DXF_STATE_DIR", Some(state.as_str())),
    ];
    env.extend_from_slice(extra);
    dxf_with(reg, args, &env, None)
}

/// Exit `code`, one line `dxf: …` on stderr containing `needle`, nothing on stdout.
#[track_caller]
fn failed_cleanly(r: &Run, code: i32, needle: &str) {
    assert_eq!(r.code, code, "{r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    assert!(r.stderr.starts_with("dxf: "), "{r:#?}");
    assert!(!r.stderr.contains("panicked"), "{r:#?}");
    assert!(r.stderr.contains(needle), "{needle:?}: {r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
}

/// The fifth `PATCH` of the next push is cut before any of its body went through (the
/// process dies between two chunks): four chunks are stored and acknowledged. Running the
/// same command again continues from there.
#[test]
fn interrupted_push_continues_where_it_stopped() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let len = 8 * CHUNK as usize + 99;
    let data = random_bytes(len, 71);
    let d = sha256(&data);
    let file = write_file(dir.path(), "big.bin", &data);
    let args = ["push-blob", "--resumable", "r/resume", &file, "@v1"];

    proxy.add(Rule::on("PATCH", "/blobs/uploads/", Fault::CloseRequestAfter(0)).skip(4));
    let r = dxf_via(&reg, &proxy, &state, "0", &[], &args);
    failed_cleanly(&r, 1, "run the same command again to continue");
    assert!(
        r.stderr
            .contains(&format!("{} of {len} bytes acknowledged", 4 * CHUNK)),
        "{r:#?}"
    );
    assert!(proxy.pending().is_empty());
    assert!(!registry_holds(&reg, "r/resume", &data));
    let (path, text) = only_state(&state);
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        state_name(&proxy.host(), "r/resume", &d)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert_eq!(lines[0], "dxf-upload-checkpoint 1");
    assert_eq!(lines[1], format!("host {}", proxy.host()));
    assert_eq!(lines[2], "repo r/resume");
    assert_eq!(lines[3], format!("digest {d}"));
    assert_eq!(lines[4], format!("size {len}"));
    assert_eq!(lines[5], format!("offset {}", 4 * CHUNK));
    assert!(
        lines[6].starts_with(&format!(
            "location http://{}/v2/r/resume/blobs/uploads/",
            proxy.host()
        )),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private: {mode:o}");
    }

    // The same command: only the rest goes up.
    let sent = proxy.bytes_up();
    let r = dxf_via(&reg, &proxy, &state, "0", &[], &args).ok();
    assert_eq!(r.out(), format!("{d}\n"));
    assert!(r.stderr.is_empty(), "{r:#?}");
    let again = proxy.bytes_up() - sent;
    assert!(
        again < len as u64 - 3 * CHUNK,
        "{again} bytes sent again for a {len}-byte blob"
    );
    assert!(again > len as u64 - 4 * CHUNK - CHUNK / 2, "{again}");
    assert!(state_files(&state).is_empty(), "{:?}", state_files(&state));
    assert!(registry_holds(&reg, "r/resume", &data));
    let r = dxf(&reg, &["get-alias", "r/resume", "v1"]).ok();
    assert_eq!(r.out(), format!("{d}\n"));

    // Once more: the blob is there, nothing is uploaded and no state is left.
    let sent = proxy.bytes_up();
    let r = dxf_via(&reg, &proxy, &state, "0", &[], &args).ok();
    assert_eq!(r.out(), format!("{d}\n"));
    assert!(proxy.bytes_up() - sent < 4096);
    assert!(state_files(&state).is_empty());
}

/// A state file that does not parse, or that belongs to another push (its size differs),
/// is ignored and replaced by this push's own checkpoint; one that parses and names an
/// upload session the registry does not know ends in a push started over.
#[test]
fn stale_or_garbage_state_is_ignored_and_replaced() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let repo = "r/stale";
    let len = 2 * CHUNK as usize + 99;
    let host = proxy.host();

    for (i, garbage) in [
        "not a checkpoint\n".to_owned(),
        String::new(),
        // Well formed, but for a blob of another size.
        format!(
            "dxf-upload-checkpoint 1\nhost {host}\nrepo {repo}\ndigest DIGEST\nsize 5\n\
             offset 0\nlocation http://{host}/v2/{repo}/blobs/uploads/x\n"
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let data = random_bytes(len, 80 + 2 * i as u64);
        let d = sha256(&data);
        let file = write_file(dir.path(), &format!("blob-{i}"), &data);
        let path = state.join(state_name(&host, repo, &d));
        fs::write(&path, garbage.replace("DIGEST", &d)).unwrap();
        // The second PATCH dies: the first chunk is acknowledged.
        proxy.add(Rule::on("PATCH", "/blobs/uploads/", Fault::CloseRequestAfter(0)).skip(1));
        let args = ["push-blob", "--resumable", repo, &file];
        let r = dxf_via(&reg, &proxy, &state, "0", &[], &args);
        failed_cleanly(&r, 1, "run the same command again");
        let (found, text) = only_state(&state);
        assert_eq!(found, path);
        assert!(text.starts_with("dxf-upload-checkpoint 1\n"), "{i}: {text}");
        assert!(
            text.contains(&format!("\ndigest {d}\nsize {len}\noffset {CHUNK}\n")),
            "{i}: {text}"
        );
        let r = dxf_via(&reg, &proxy, &state, "0", &[], &args).ok();
        assert_eq!(r.out(), format!("{d}\n"), "{i}");
        assert!(state_files(&state).is_empty(), "{i}");
        assert!(registry_holds(&reg, repo, &data), "{i}");
    }

    // Well formed and for this push, but the session is unknown to the registry: the
    // registry is asked, answers 404, and the upload starts over.
    let data = random_bytes(len, 90);
    let d = sha256(&data);
    let file = write_file(dir.path(), "blob-forgotten", &data);
    let path = state.join(state_name(&host, repo, &d));
    fs::write(
        &path,
        format!(
            "dxf-upload-checkpoint 1\nhost {host}\nrepo {repo}\ndigest {d}\nsize {len}\n\
             offset {CHUNK}\nlocation http://{host}/v2/{repo}/blobs/uploads/\
             00000000-0000-0000-0000-000000000000?_state=forgotten\n"
        ),
    )
    .unwrap();
    let sent = proxy.bytes_up();
    let r = dxf_via(
        &reg,
        &proxy,
        &state,
        "0",
        &[],
        &["push-blob", "--resumable", repo, &file],
    )
    .ok();
    assert_eq!(r.out(), format!("{d}\n"));
    assert!(proxy.bytes_up() - sent >= len as u64, "started over");
    assert!(state_files(&state).is_empty());
    assert!(registry_holds(&reg, repo, &data));
}

/// A chunk cut midway: distribution 2.8 invalidates the session (`404
/// BLOB_UPLOAD_INVALID`), so the checkpoint left behind cannot be continued — the next
/// run finds that out and starts over, and the push is still correct. Switched on by
/// `DXF_RESUMABLE=1` here instead of the flag.
#[test]
fn forgotten_session_starts_over() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let len = 2 * CHUNK as usize + 99;
    let data = random_bytes(len, 95);
    let d = sha256(&data);
    let file = write_file(dir.path(), "blob", &data);
    let resumable = [("DXF_RESUMABLE", Some("1"))];
    let args = ["push-blob", "r/forgotten", &file];

    proxy.add(
        Rule::on(
            "PATCH",
            "/blobs/uploads/",
            Fault::CloseRequestAfter(CHUNK / 2),
        )
        .skip(1),
    );
    let r = dxf_via(&reg, &proxy, &state, "0", &resumable, &args);
    failed_cleanly(&r, 1, "run the same command again");
    let (_, text) = only_state(&state);
    assert!(text.contains(&format!("\noffset {CHUNK}\n")), "{text}");
    assert!(!registry_holds(&reg, "r/forgotten", &data));

    let sent = proxy.bytes_up();
    let r = dxf_via(&reg, &proxy, &state, "0", &resumable, &args).ok();
    assert_eq!(r.out(), format!("{d}\n"));
    let again = proxy.bytes_up() - sent;
    assert!(
        again >= len as u64,
        "the session was dropped: {again} bytes"
    );
    assert!(state_files(&state).is_empty());
    assert!(registry_holds(&reg, "r/forgotten", &data));
}

/// The default push (python-dxf's monolithic one) and `--single-pass` — even with
/// `DXF_RESUMABLE=1`, which does not apply to it — neither create nor write the state
/// directory, whether they succeed or fail.
#[test]
fn default_push_writes_no_state() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let data = random_bytes(3 << 20, 101);
    let d = sha256(&data);
    let file = write_file(dir.path(), "blob", &data);

    // Failing, then succeeding; monolithic (one PUT with the body, no PATCH).
    proxy.add(Rule::on(
        "PUT",
        "/blobs/uploads/",
        Fault::CloseRequestAfter(1 << 20),
    ));
    let r = dxf_via(
        &reg,
        &proxy,
        &state,
        "0",
        &[],
        &["push-blob", "r/plain", &file],
    );
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(!r.stderr.contains("run the same command"), "{r:#?}");
    proxy.clear_log();
    let r = dxf_via(
        &reg,
        &proxy,
        &state,
        "0",
        &[],
        &["push-blob", "r/plain", &file],
    )
    .ok();
    assert_eq!(r.out(), format!("{d}\n"));
    assert!(
        proxy.log().iter().all(|x| x.method != "PATCH"),
        "{:?}",
        proxy.log()
    );
    assert!(!state.exists(), "{:?}", state_files(&state));

    let data = random_bytes(3 << 20, 102);
    let file = write_file(dir.path(), "blob2", &data);
    let env = [("DXF_RESUMABLE", Some("1"))];
    let args = ["push-blob", "--single-pass", "r/plain", &file];
    let r = dxf_via(&reg, &proxy, &state, "0", &env, &args).ok();
    assert_eq!(r.out(), format!("{}\n", sha256(&data)));
    // Standard input is never resumable: DXF_RESUMABLE=1 does not apply to it.
    let host = proxy.host();
    let state_s = state.display().to_string();
    let stdin_env = [
        ("DXF_HOST", Some(host.as_str())),
        ("DXF_STATE_DIR", Some(state_s.as_str())),
        ("DXF_RESUMABLE", Some("1")),
    ];
    let piped = random_bytes(100_000, 104);
    let r = dxf_with(
        &reg,
        &["push-blob", "r/plain", "-"],
        &stdin_env,
        Some(&piped),
    )
    .ok();
    assert_eq!(r.out(), format!("{}\n", sha256(&piped)));
    assert!(!state.exists(), "{:?}", state_files(&state));
}

/// `--resumable --jobs`: several files, each with its own checkpoints; nothing left after.
#[test]
fn resumable_jobs_push_every_file() {
    let reg = TestRegistry::start(Mode::Plain);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_s = state.display().to_string();
    let blobs: Vec<Vec<u8>> = (0..3)
        .map(|i| random_bytes(100_000 + i, 110 + 2 * i as u64))
        .collect();
    let files: Vec<String> = blobs
        .iter()
        .enumerate()
        .map(|(i, b)| write_file(dir.path(), &format!("f{i}"), b))
        .collect();
    let mut args = vec!["push-blob", "--resumable", "--jobs", "2", "r/jobs"];
    args.extend(files.iter().map(String::as_str));
    args.push("@all");
    let r = dxf_with(&reg, &args, &[("DXF_STATE_DIR", Some(&state_s))], None).ok();
    let expected: String = blobs.iter().map(|b| format!("{}\n", sha256(b))).collect();
    assert_eq!(r.out(), expected);
    assert!(state.is_dir(), "created");
    assert!(state_files(&state).is_empty(), "{:?}", state_files(&state));
    let r = dxf(&reg, &["get-alias", "r/jobs", "all"]).ok();
    assert_eq!(r.out(), expected);
}

/// `--resumable` needs a usable state directory: one that cannot be created or written,
/// or none at all (no `DXF_STATE_DIR`, `XDG_STATE_HOME` or `HOME`), is a one-line error
/// (exit 1) before anything is sent; `--resumable` with standard input is a usage error.
#[test]
fn unusable_state_directory_is_an_error_before_sending() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "blob", b"some bytes");
    let not_a_dir = dir.path().join("plain-file");
    fs::write(&not_a_dir, b"x").unwrap();
    let args = ["push-blob", "--resumable", "r/unusable", &file];

    for state in [not_a_dir.clone(), not_a_dir.join("below")] {
        let r = dxf_via(&reg, &proxy, &state, "0", &[], &args);
        failed_cleanly(
            &r,
            1,
            &format!("--resumable: upload state directory {}: ", state.display()),
        );
        // DXF_RESUMABLE=1 asks just as explicitly.
        let r = dxf_via(
            &reg,
            &proxy,
            &state,
            "0",
            &[("DXF_RESUMABLE", Some("1"))],
            &["push-blob", "r/unusable", &file],
        );
        failed_cleanly(&r, 1, "upload state directory");
    }
    let host = proxy.host();
    let nowhere = [
        ("DXF_HOST", Some(host.as_str())),
        ("HOME", None),
        ("XDG_STATE_HOME", None),
        ("DXF_STATE_DIR", None),
    ];
    let r = dxf_with(&reg, &args, &nowhere, None);
    failed_cleanly(
        &r,
        1,
        "push-blob --resumable needs a directory for its upload state: \
         set DXF_STATE_DIR, XDG_STATE_HOME or HOME",
    );
    // A relative XDG_STATE_HOME does not count (XDG base directory spec).
    let relative = [
        ("DXF_HOST", Some(host.as_str())),
        ("HOME", Some("")),
        ("XDG_STATE_HOME", Some("relative/state")),
    ];
    let r = dxf_with(&reg, &args, &relative, None);
    failed_cleanly(&r, 1, "needs a directory for its upload state");
    assert_eq!(proxy.requests(), 0, "nothing was sent: {:?}", proxy.log());

    let r = dxf_via(
        &reg,
        &proxy,
        dir.path(),
        "0",
        &[],
        &["push-blob", "--resumable", "r/unusable", "-"],
    );
    failed_cleanly(
        &r,
        2,
        "--resumable needs files: - (standard input) cannot be resumed",
    );
    let r = dxf_via(
        &reg,
        &proxy,
        dir.path(),
        "0",
        &[],
        &[
            "push-blob",
            "--resumable",
            "--single-pass",
            "r/unusable",
            &file,
        ],
    );
    failed_cleanly(&r, 2, "--single-pass");
    assert_eq!(proxy.requests(), 0);
}

/// A chunk refused as too large (`413`) is halved and the size learned goes into the state
/// file (`max-chunk`); after the push dies, the same command starts at that size at once:
/// no chunk of the second run is larger, and none is refused again.
#[test]
fn learned_chunk_size_is_kept_for_the_next_run() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let len = 4 * CHUNK as usize + 99;
    let data = random_bytes(len, 77);
    let d = sha256(&data);
    let file = write_file(dir.path(), "big.bin", &data);
    let args = ["push-blob", "--resumable", "r/learned", &file];
    let half = CHUNK / 2;

    // The first PATCH is refused as too large; the fourth (of the 4 MiB ones) dies.
    proxy.add(Rule::on("PATCH", "/blobs/uploads/", Fault::status(413)));
    proxy.add(Rule::on("PATCH", "/blobs/uploads/", Fault::CloseRequestAfter(0)).skip(3));
    let r = dxf_via(&reg, &proxy, &state, "0", &[], &args);
    failed_cleanly(&r, 1, "run the same command again to continue");
    assert!(proxy.pending().is_empty(), "{:?}", proxy.pending());
    let (_, text) = only_state(&state);
    assert!(text.ends_with(&format!("\nmax-chunk {half}\n")), "{text}");
    assert!(text.contains(&format!("\noffset {}\n", 3 * half)), "{text}");

    proxy.clear_log();
    let r = dxf_via(&reg, &proxy, &state, "0", &[], &args).ok();
    assert_eq!(r.out(), format!("{d}\n"));
    let patches: Vec<_> = proxy
        .log()
        .into_iter()
        .filter(|e| e.method == "PATCH")
        .collect();
    assert!(!patches.is_empty());
    for p in &patches {
        assert!(p.request_bytes <= half, "{p:?}");
        assert_eq!(p.status, Some(202), "{p:?}");
    }
    assert!(registry_holds(&reg, "r/learned", &data));
    assert!(state_files(&state).is_empty());
}

/// A checkpoint that every run fails to resume (here the registry answers its status
/// request 500) is not kept forever: each such run counts in the state file
/// (`failed-resumes`), the third drops it with a message, and the next run starts afresh.
#[test]
fn a_checkpoint_that_cannot_be_resumed_is_dropped_after_three_runs() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let len = 2 * CHUNK as usize + 99;
    let data = random_bytes(len, 72);
    let d = sha256(&data);
    let file = write_file(dir.path(), "big.bin", &data);
    let args = ["push-blob", "--resumable", "r/drop", &file];

    proxy.add(Rule::on("PATCH", "/blobs/uploads/", Fault::CloseRequestAfter(0)).skip(1));
    let r = dxf_via(&reg, &proxy, &state, "0", &[], &args);
    failed_cleanly(&r, 1, &format!("{CHUNK} of {len} bytes acknowledged"));
    let (_, first) = only_state(&state);

    proxy.add(Rule::on("GET", "/blobs/uploads/", Fault::status(500)).always());
    for run in 1..=2 {
        let r = dxf_via(&reg, &proxy, &state, "0", &[], &args);
        failed_cleanly(&r, 1, "run the same command again to continue");
        let (_, text) = only_state(&state);
        assert_eq!(
            text,
            format!("{first}failed-resumes {run}\n"),
            "run {run}: the checkpoint stays, counted"
        );
    }
    let r = dxf_via(&reg, &proxy, &state, "0", &[], &args);
    failed_cleanly(
        &r,
        1,
        "its checkpoint could not be resumed in 3 runs and is dropped; the next run starts \
         afresh",
    );
    assert!(state_files(&state).is_empty(), "{:?}", state_files(&state));

    proxy.clear();
    let r = dxf_via(&reg, &proxy, &state, "0", &[], &args).ok();
    assert_eq!(r.out(), format!("{d}\n"));
    assert!(registry_holds(&reg, "r/drop", &data));
    assert!(state_files(&state).is_empty());
}
