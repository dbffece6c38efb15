//! Giving transfers up, against the real registry through the [`FaultProxy`]:
//!
//! - libraries (both adapters): an [`Interrupt`] raised during a chunked upload cancels it
//!   and DELETEs its registry session; one raised during a resumable upload (with
//!   `on_checkpoint`) lets it stop at its next checkpoint, keeping the session, and a later
//!   call continues from there; a pull being read fails; a retry wait ends at once;
//! - the CLI: `kill` (SIGTERM) in the middle of a `--resumable` 256 MiB push ends it at a
//!   checkpoint with exit 143, and the same command run again sends only the rest; Ctrl-C
//!   (SIGINT) cancels a push from standard input and its session (exit 130, nothing
//!   committed); Ctrl-C during `pull-blob -o FILE` leaves no file behind; a failing upload
//!   among `--jobs` cancels the others' sessions and its own error is the one reported.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The scenarios' adapter-neutral client (dxf-ureq directly, dxf-hyper via `block_on`).
#[allow(dead_code)]
#[path = "scenarios/adapter.rs"]
mod adapter;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use adapter::{connect, Kind, Push, Settings};
use dxf_tests::cli::{dxf, dxf_spawn, finish, random_bytes, send_signal, sha256, Run};
use dxf_tests::fault_proxy::{direct, registry_holds, Exchange, Fault, FaultProxy, Rule};
use dxf_tests::{Mode, TestRegistry};
use dxf_ureq::dxf_proto::{Digest, Error as ProtoError, RetryPolicy, UploadCheckpoint};
use dxf_ureq::Interrupt;

/// Chunk size of the library tests' chunked uploads.
const CHUNK: u64 = 128 * 1024;
/// How long the proxy holds the response to the PATCH the interrupt is raised during.
const HOLD: Duration = Duration::from_millis(400);

fn digest(data: &[u8]) -> Digest {
    Digest::parse(&sha256(data)).unwrap()
}

/// The proxy's exchanges with `method` whose target contains `path`.
fn exchanges(proxy: &FaultProxy, method: &str, path: &str) -> Vec<Exchange> {
    proxy
        .log()
        .into_iter()
        .filter(|e| e.method == method && e.target.contains(path))
        .collect()
}

/// Waits (at most 60 s) until `ready` holds for the proxy's log.
#[track_caller]
fn wait_for(proxy: &FaultProxy, what: &str, ready: impl Fn(&[Exchange]) -> bool) {
    let start = Instant::now();
    while !ready(&proxy.log()) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never saw {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Acknowledged PATCHes in `log`.
fn patches_done(log: &[Exchange]) -> usize {
    log.iter()
        .filter(|e| e.method == "PATCH" && e.status == Some(202))
        .count()
}

/// The upload sessions the registry opened (POSTs answered 202) and those DELETEd (204).
fn sessions(proxy: &FaultProxy) -> (usize, usize) {
    let opened = exchanges(proxy, "POST", "/blobs/uploads/")
        .iter()
        .filter(|e| e.status == Some(202))
        .count();
    let deleted = exchanges(proxy, "DELETE", "/blobs/uploads/")
        .iter()
        .filter(|e| e.status == Some(204))
        .count();
    (opened, deleted)
}

/// A plain registry with a fault proxy in front, and the settings of a client of the proxy
/// with its own interrupt and chunked uploads in [`CHUNK`]s.
fn fixture() -> (TestRegistry, FaultProxy, Settings) {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let mut settings = Settings::for_registry(&reg);
    settings.host = proxy.host();
    settings.chunk_size = Some(CHUNK);
    settings.timeout = Some(Duration::from_secs(10));
    settings.interrupt = Interrupt::new();
    (reg, proxy, settings)
}

/// Runs `push` while another thread raises `interrupt` (`stop`) once two PATCHes were
/// acknowledged; the third is held by the proxy for [`HOLD`], so the raise lands while it
/// is in flight.
fn stopped_after_two_chunks<T>(
    proxy: &FaultProxy,
    interrupt: &Interrupt,
    push: impl FnOnce() -> T,
) -> T {
    proxy.add(Rule::on("PATCH", "/blobs/uploads/", Fault::Delay(HOLD)).skip(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            wait_for(proxy, "two chunks acknowledged", |log| {
                patches_done(log) >= 2
            });
            interrupt.stop();
        });
        push()
    })
}

fn an_interrupted_upload_cancels_its_session(kind: Kind) {
    let (reg, proxy, settings) = fixture();
    let client = connect(kind, &settings);
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(8 * CHUNK as usize + 99, 3);
    let path = dir.path().join("blob");
    std::fs::write(&path, &data).unwrap();
    let push = Push {
        digest: Some(digest(&data)),
        chunked: true,
        ..Push::default()
    };
    let e = stopped_after_two_chunks(&proxy, &settings.interrupt, || {
        client.push_path("i/cancel", &path, push).unwrap_err()
    });
    assert_eq!(e.proto(), Some(&ProtoError::Cancelled), "{kind:?}: {e}");
    assert_eq!(sessions(&proxy), (1, 1), "{kind:?}: {:#?}", proxy.log());
    assert!(patches_done(&proxy.log()) < 8, "{kind:?}");
    assert!(!registry_holds(&reg, "i/cancel", &data));
    // The session is gone: the registry does not know its location any more.
    let deleted = &exchanges(&proxy, "DELETE", "/blobs/uploads/")[0];
    let status = direct(&reg.host(), "GET", &deleted.target).unwrap().status;
    assert_eq!(status, 404, "{kind:?}: {}", deleted.target);
}

fn a_resumable_upload_stops_at_a_checkpoint_and_continues(kind: Kind) {
    let (reg, proxy, settings) = fixture();
    let client = connect(kind, &settings);
    let dir = tempfile::tempdir().unwrap();
    let len = 8 * CHUNK as usize + 99;
    let data = random_bytes(len, 4);
    let d = digest(&data);
    let path = dir.path().join("blob");
    std::fs::write(&path, &data).unwrap();
    let mut saved: Vec<UploadCheckpoint> = Vec::new();
    let mut save = |cp: &UploadCheckpoint| saved.push(cp.clone());
    let push = Push {
        digest: Some(d.clone()),
        chunked: true,
        on_checkpoint: Some(&mut save),
        ..Push::default()
    };
    let e = stopped_after_two_chunks(&proxy, &settings.interrupt, || {
        client.push_path("i/stop", &path, push).unwrap_err()
    });
    assert!(e.proto().is_none(), "{kind:?}: {e}");
    assert!(
        e.message.contains("stopped at a checkpoint"),
        "{kind:?}: {e}"
    );
    // Stopped at the next checkpoint: the second chunk's (when the raise came before its
    // answer was handled) or the third's (the chunk in flight was finished); the session
    // kept.
    let last = saved.last().cloned().unwrap();
    let offset = last.offset;
    assert!(
        [2 * CHUNK, 3 * CHUNK].contains(&offset),
        "{kind:?}: {saved:?}"
    );
    assert_eq!(
        patches_done(&proxy.log()) as u64 * CHUNK,
        last.offset,
        "{kind:?}"
    );
    assert_eq!(sessions(&proxy), (1, 0), "{kind:?}");
    assert!(!registry_holds(&reg, "i/stop", &data));

    // Another client (its interrupt not raised) continues from the checkpoint.
    let mut fresh = settings.clone();
    fresh.interrupt = Interrupt::new();
    let client = connect(kind, &fresh);
    let sent = proxy.bytes_up();
    let push = Push {
        digest: Some(d.clone()),
        chunked: true,
        resume_from: Some(last),
        ..Push::new()
    };
    assert_eq!(client.push_path("i/stop", &path, push).unwrap().digest, d);
    let again = proxy.bytes_up() - sent;
    assert!(
        again < len as u64 - offset + 8192,
        "{kind:?}: {again} bytes sent again"
    );
    assert!(registry_holds(&reg, "i/stop", &data));
}

/// Reads 1 MiB of the blob, raises `interrupt`, reads on: what the reader ends with.
fn read_interrupted(kind: Kind, settings: &Settings, repo: &str, d: &Digest) -> std::io::Error {
    use std::io::Read;
    use tokio::io::AsyncReadExt;
    let mut first = vec![0; 1 << 20];
    let mut rest = Vec::new();
    match adapter::connect_raw(kind, settings) {
        adapter::Raw::Ureq(registry) => {
            let mut blob = registry
                .repository(repo)
                .unwrap()
                .pull_blob(d, None)
                .unwrap();
            blob.read_exact(&mut first).unwrap();
            settings.interrupt.stop();
            blob.read_to_end(&mut rest).unwrap_err()
        }
        adapter::Raw::Hyper(h) => h.rt.block_on(async {
            let repo = h.registry.repository(repo).unwrap();
            let mut blob = repo.pull_blob(d, None).await.unwrap();
            blob.read_exact(&mut first).await.unwrap();
            settings.interrupt.stop();
            blob.read_to_end(&mut rest).await.unwrap_err()
        }),
    }
}

fn an_interrupted_pull_or_retry_wait_ends_at_once(kind: Kind) {
    let (reg, proxy, mut settings) = fixture();
    let data = random_bytes(16 << 20, 5);
    let d = digest(&data);
    let plain = connect(kind, &Settings::for_registry(&reg));
    plain.push_reader("i/pull", &data, Push::new()).unwrap();

    // A pull being read when the interrupt is raised fails; it never ends as if complete.
    let e = read_interrupted(kind, &settings, "i/pull", &d);
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<ProtoError>());
    assert_eq!(inner, Some(&ProtoError::Cancelled), "{kind:?}: {e}");

    // A HEAD answered 429 + Retry-After: 30 waits to retry; the interrupt ends the wait.
    settings.interrupt = Interrupt::new();
    settings.retries = RetryPolicy::default();
    let client = connect(kind, &settings);
    proxy.add(Rule::on("HEAD", "/blobs/", Fault::too_many_requests(30)).always());
    let interrupt = settings.interrupt.clone();
    let raiser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        interrupt.stop();
    });
    let start = Instant::now();
    let e = client.blob_size("i/pull", &d).unwrap_err();
    raiser.join().unwrap();
    assert_eq!(e.proto(), Some(&ProtoError::Cancelled), "{kind:?}: {e}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

dxf_tests::both_adapters!(
    an_interrupted_upload_cancels_its_session,
    a_resumable_upload_stops_at_a_checkpoint_and_continues,
    an_interrupted_pull_or_retry_wait_ends_at_once,
);

// ---------------------------------------------------------------------------------------
// The CLI, pointed at the proxy.

/// The CLI's chunk size for `--resumable` (dxf-proto's default).
const CLI_CHUNK: u64 = 8 * 1024 * 1024;

fn spawn_via(
    reg: &TestRegistry,
    proxy: &FaultProxy,
    extra: &[(&str, Option<&str>)],
    args: &[&str],
) -> std::process::Child {
    let host = proxy.host();
    let mut env = vec![
        ("DXF_HOST", Some(host.as_str())),
        ("DXF_PROGRESS", Some("0")),
    ];
    env.extend_from_slice(extra);
    dxf_spawn(reg, args, &env)
}

/// Exit `code`, one line `dxf: interrupted by SIG…` (with `needle`) on stderr, nothing on
/// stdout.
#[track_caller]
fn interrupted(r: &Run, code: i32, needle: &str) {
    assert_eq!(r.code, code, "{r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    assert!(r.stderr.starts_with("dxf: interrupted by SIG"), "{r:#?}");
    assert!(r.stderr.contains(needle), "{needle:?}: {r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
}

fn write_file(dir: &Path, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.display().to_string()
}

/// The test: `kill` (SIGTERM) a `--resumable` push of 256 MiB midway; the upload
/// ends at a checkpoint (exit 143, the session kept), and the same command run again sends
/// far less than 256 MiB and stores the right blob.
#[test]
fn cli_killed_resumable_push_continues_when_run_again() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").display().to_string();
    let len = 256 << 20;
    let data = random_bytes(len, 81);
    let d = sha256(&data);
    let file = write_file(dir.path(), "big.bin", &data);
    let args = ["push-blob", "--resumable", "i/killed", &file, "@v1"];
    let env = [("DXF_STATE_DIR", Some(state.as_str()))];

    let child = spawn_via(&reg, &proxy, &env, &args);
    wait_for(&proxy, "half the chunks acknowledged", |log| {
        patches_done(log) >= 16
    });
    send_signal(child.id(), "TERM");
    let r = finish(child);
    interrupted(&r, 143, "run the same command again to continue");
    let acked = patches_done(&proxy.log()) as u64 * CLI_CHUNK;
    assert!(acked >= 16 * CLI_CHUNK && acked < len as u64, "{acked}");
    assert!(
        r.stderr
            .contains(&format!("{acked} of {len} bytes acknowledged")),
        "{r:#?}"
    );
    assert_eq!(sessions(&proxy), (1, 0), "the session is kept");
    assert!(!registry_holds(&reg, "i/killed", &data));

    let sent = proxy.bytes_up();
    let r = finish(spawn_via(&reg, &proxy, &env, &args)).ok();
    assert_eq!(r.out(), format!("{d}\n"));
    let again = proxy.bytes_up() - sent;
    eprintln!("killed with {acked} of {len} bytes acknowledged; the second run sent {again}");
    assert!(
        again <= len as u64 - acked + 64 * 1024,
        "{again} bytes sent again"
    );
    assert!(registry_holds(&reg, "i/killed", &data));
    assert_eq!(
        dxf(&reg, &["get-alias", "i/killed", "v1"]).ok().out(),
        format!("{d}\n")
    );
}

/// Ctrl-C during `push-blob REPO -`: the stream is not committed (whatever standard input
/// did next), its session is deleted, exit 130.
#[test]
fn cli_ctrl_c_cancels_a_stdin_push_and_its_session() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let mut child = spawn_via(&reg, &proxy, &[], &["push-blob", "i/stdin", "-"]);
    let mut stdin = child.stdin.take().unwrap();
    let piece = random_bytes(1 << 20, 9);
    // Two chunks' worth and a bit: at least one PATCH goes through.
    for _ in 0..(2 * CLI_CHUNK / (1 << 20) + 1) {
        stdin.write_all(&piece).unwrap();
    }
    wait_for(&proxy, "a chunk acknowledged", |log| patches_done(log) >= 1);
    send_signal(child.id(), "INT");
    // The producer dies with the same Ctrl-C: standard input ends.
    drop(stdin);
    let r = finish(child);
    interrupted(&r, 130, "SIGINT");
    assert_eq!(sessions(&proxy), (1, 1), "{:#?}", proxy.log());
    assert!(
        exchanges(&proxy, "PUT", "/blobs/uploads/").is_empty(),
        "committed: {:#?}",
        proxy.log()
    );
}

/// Ctrl-C while `pull-blob -o FILE` waits for the blob: no file, no temporary file.
#[test]
fn cli_ctrl_c_during_a_pull_to_a_file_leaves_nothing() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let data = random_bytes(8 << 20, 10);
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "src.bin", &data);
    dxf(&reg, &["push-blob", "i/pull", &file]).ok();
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("out.bin").display().to_string();
    proxy.add(Rule::on(
        "GET",
        "/blobs/sha256:",
        Fault::Delay(Duration::from_secs(2)),
    ));
    let child = spawn_via(
        &reg,
        &proxy,
        &[],
        &["pull-blob", "-o", &target, "i/pull", &sha256(&data)],
    );
    wait_for(&proxy, "the blob GET", |_| proxy.requests() >= 1);
    std::thread::sleep(Duration::from_millis(200));
    send_signal(child.id(), "INT");
    let r = finish(child);
    interrupted(&r, 130, "SIGINT");
    let left: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `push-blob --jobs`: one upload fails (its PUT refused, 403); the others in flight are
/// cancelled and their sessions deleted; the failure reported is the refused one.
#[test]
fn cli_a_failed_upload_among_jobs_cancels_the_others() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let dir = tempfile::tempdir().unwrap();
    let small = random_bytes(1000, 11);
    let bigs: Vec<Vec<u8>> = (0..3).map(|i| random_bytes(32 << 20, 12 + i)).collect();
    let mut files = vec![write_file(dir.path(), "small", &small)];
    for (i, b) in bigs.iter().enumerate() {
        files.push(write_file(dir.path(), &format!("big{i}"), b));
    }
    // The small one's commit is refused. Every session's opening is held up, so the big
    // ones (hashed after the small one) are still opening theirs when it fails.
    // (By its hex digest: the colon is percent-encoded in the query.) Refused with 403: a
    // 400/405/413/500/501 would mean "not monolithically" and be sent again in chunks.
    let small_hex = sha256(&small).trim_start_matches("sha256:").to_owned();
    proxy.add(Rule::on("PUT", &small_hex, Fault::status(403)));
    proxy.add(
        Rule::on(
            "POST",
            "/blobs/uploads/",
            Fault::Delay(Duration::from_millis(500)),
        )
        .always(),
    );
    let mut args = vec!["push-blob", "--jobs", "4", "i/jobs"];
    args.extend(files.iter().map(String::as_str));
    let r = finish(spawn_via(&reg, &proxy, &[], &args));
    assert_eq!(r.code, 1, "{r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    assert!(r.stderr.contains("403"), "{r:#?}");
    assert!(!r.stderr.contains("cancelled"), "{r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(!registry_holds(&reg, "i/jobs", &small));
    let (opened, deleted) = sessions(&proxy);
    assert_eq!(
        opened,
        deleted,
        "every session opened was cancelled: {:#?}",
        proxy.log()
    );
}
