//! Hostile servers on loopback ([`StallServer`], [`Backlog`]): `DXF_TIMEOUT` bounds every
//! network wait, and a signal (or an [`Interrupt`]) ends a transfer blocked on any of them.
//!
//! - The CLI, `DXF_TIMEOUT=1` and no retries: a server that never answers, one that sends a
//!   blob's head and then nothing, one that cannot be connected to, a manifest or a blob
//!   dripped one byte per 100 ms — each one line `dxf: …timed out…`, exit 1, nothing on
//!   stdout, no file left by `pull-blob -o FILE`, within the bound given on each test; with
//!   the default retries the bound is (retries + 1) × T plus the backoff; a stalled blob is
//!   resumed with a `Range` request; `DXF_TIMEOUT=0` waits for a slow server;
//!   `DXF_TIMEOUT=abc` is refused.
//! - Signals, `DXF_TIMEOUT=60` (only the signal can end the command): SIGINT while
//!   connecting, waiting for a response head, reading a stalled body (`-o FILE`), waiting to
//!   retry, and uploading to a server that never answers the upload; SIGTERM and SIGHUP
//!   once each — the command ends within 2 s of the signal (4 s for the upload, whose
//!   session `DELETE` may take up to 2 s), `dxf: interrupted by SIG…`, exit 128 + signal,
//!   no temporary file, and the upload's session `DELETE` reached the server.
//! - Both libraries (`Timeouts::uniform(1 s)`, `RetryPolicy::never()`): a silent server is
//!   `Error::TimedOut`, a dripping blob fails while read, and `Interrupt::cancel` from
//!   another thread ends a call blocked on a silent server (60 s timeouts) with
//!   `Cancelled`.
//!
//! Every wait here is bounded: a `dxf` still running after [`HARD_LIMIT`] is killed, a
//! library call still running after it is abandoned, and the test fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Read;
use std::path::Path;
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use dxf_tests::cli::{clean_command, dxf_bin, random_bytes, send_signals, sha256, Run};
use dxf_tests::stall_server::{blob_head, manifest_head, Backlog, Reply, Route, StallServer};
use dxf_ureq::dxf_proto::{Digest, Error as ProtoError, Interrupt, RetryPolicy, Timeouts};

/// The longest anything in this file may run before it is killed and the test fails.
const HARD_LIMIT: Duration = Duration::from_secs(20);
/// The repository every request names.
const REPO: &str = "r";
/// A drip slow enough for any speed floor, fast enough for any idle timeout.
const DRIP: Duration = Duration::from_millis(100);
/// The most a command may take to end after a signal (the brief's "about a second", with
/// room for a loaded machine).
const AFTER_SIGNAL: Duration = Duration::from_secs(2);
/// The same for an upload, whose session `DELETE` is bounded by 2 s.
const AFTER_SIGNAL_UPLOAD: Duration = Duration::from_secs(4);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The blob the servers serve, and its digest.
fn blob() -> (Vec<u8>, String) {
    let data = random_bytes(4096, 7);
    let digest = sha256(&data);
    (data, digest)
}

/// python-dxf's manifest for the one blob `digest` of `size` bytes.
fn manifest(digest: &str, size: usize) -> Vec<u8> {
    format!(
        r#"{{"config": {{"digest": "{digest}", "mediaType": "application/vnd.docker.container.image.v1+json", "size": {size}}}, "layers": [{{"digest": "{digest}", "mediaType": "application/octet-stream", "size": {size}}}], "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "schemaVersion": 2}}"#
    )
    .into_bytes()
}

fn blobs_path(digest: &str) -> String {
    format!("/v2/{REPO}/blobs/{digest}")
}

fn manifests_path() -> String {
    format!("/v2/{REPO}/manifests/")
}

/// A blob's head and its first 1000 bytes, then nothing.
fn stalled_after_1000(data: &[u8]) -> Reply {
    Reply::HeadThenStall {
        head: blob_head(data),
        body_prefix: data[..1000].to_vec(),
    }
}

/// A blob's head at once, then its body one byte every [`DRIP`].
fn dripped(data: Vec<u8>) -> Reply {
    Reply::Drip {
        head: blob_head(&data),
        body: data,
        every: DRIP,
    }
}

/// `GET /v2/` answered; everything else under the repository gets `reply`.
fn everything(reply: Reply) -> Vec<Route> {
    vec![
        Route::version(),
        Route::new("", &format!("/v2/{REPO}/"), reply),
    ]
}

// ---------------------------------------------------------------------------------------
// Running the CLI, bounded.

/// `dxf args` against `host` with a clean environment: `DXF_HOST`, `DXF_INSECURE=1`,
/// `DXF_PROGRESS=0`, `DXF_TIMEOUT=1`, `DXF_RETRIES=0`, then `env` (`None` removes).
fn spawn(host: &str, args: &[&str], env: &[(&str, Option<&str>)]) -> Child {
    let base = [
        ("DXF_HOST", host),
        ("DXF_INSECURE", "1"),
        ("DXF_PROGRESS", "0"),
        ("DXF_TIMEOUT", "1"),
        ("DXF_RETRIES", "0"),
    ];
    clean_command(dxf_bin(), base, env, false)
        .args(args)
        .spawn()
        .unwrap()
}

/// Waits for `child` (killing it at [`HARD_LIMIT`] after `since`): what it did, and how
/// long after `since` it ended.
fn finish_within(mut child: Child, since: Instant) -> (Run, Duration) {
    fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut v = Vec::new();
            let _ = pipe.read_to_end(&mut v);
            v
        })
    }
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if since.elapsed() > HARD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = since.elapsed();
    let mut stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    if status.is_none() {
        stderr += &format!("[still running after {HARD_LIMIT:?}: killed by the test]");
    }
    let run = Run {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr,
    };
    (run, elapsed)
}

/// Runs `dxf args` (see [`spawn`]) to its end, bounded.
fn run(host: &str, args: &[&str], env: &[(&str, Option<&str>)]) -> (Run, Duration) {
    // Built (or found current) before the clock starts.
    dxf_bin();
    let start = Instant::now();
    finish_within(spawn(host, args, env), start)
}

/// Exit 1, one line on stderr saying `timed out` (and naming `host` when given: a blob
/// body read through the reader is reported by its digest), nothing on stdout, ended
/// within `bound` (and not before `at_least`: the timeout was waited for).
#[track_caller]
fn timed_out(r: &Run, host: Option<&str>, elapsed: Duration, at_least: Duration, bound: Duration) {
    eprintln!("ended after {elapsed:?}: {}", r.stderr.trim_end());
    assert_eq!(r.code, 1, "{elapsed:?} {r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    assert!(r.stderr.starts_with("dxf: "), "{r:#?}");
    assert!(r.stderr.contains("timed out"), "{r:#?}");
    if let Some(host) = host {
        assert!(r.stderr.contains(host), "{host}: {r:#?}");
    }
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(elapsed < bound, "{elapsed:?} ≥ {bound:?}: {r:#?}");
    assert!(elapsed >= at_least, "{elapsed:?} < {at_least:?}: {r:#?}");
}

/// Exit `code`, one line `dxf: interrupted by {signal}…`, nothing on stdout, ended within
/// `bound` of the signal.
#[track_caller]
fn interrupted(r: &Run, code: i32, signal: &str, after_signal: Duration, bound: Duration) {
    eprintln!("ended {after_signal:?} after {signal}");
    assert_eq!(r.code, code, "{after_signal:?} {r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    assert!(
        r.stderr
            .starts_with(&format!("dxf: interrupted by {signal}")),
        "{r:#?}"
    );
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(after_signal < bound, "{after_signal:?} ≥ {bound:?}: {r:#?}");
}

/// Nothing in `dir` (no output file, no `.FILE.dxf-partial-PID`).
#[track_caller]
fn left_nothing(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Waits (at most 10 s) until `ready`.
#[track_caller]
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never saw {what}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// `dxf get-alias REPO t` against `host` (plus `env`): timed out (see [`timed_out`]),
/// naming `host`, within `at_least` ≤ elapsed < `bound`.
#[track_caller]
fn get_alias_times_out(
    host: &str,
    env: &[(&str, Option<&str>)],
    at_least: Duration,
    bound: Duration,
) {
    let (r, elapsed) = run(host, &["get-alias", REPO, "t"], env);
    timed_out(&r, Some(host), elapsed, at_least, bound);
}

/// `dxf pull-blob -o FILE REPO digest` from a server answering `reply`: timed out (see
/// [`timed_out`]) within 1 s ≤ elapsed < 6 s, and neither the file nor its temporary file
/// is left.
#[track_caller]
fn a_pull_to_a_file_times_out(reply: Reply, digest: &str) {
    let server = StallServer::start(everything(reply));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.bin").display().to_string();
    let (r, elapsed) = run(
        &server.host(),
        &["pull-blob", "-o", &target, REPO, digest],
        &[],
    );
    timed_out(&r, None, elapsed, secs(0.9), secs(6.0));
    left_nothing(dir.path());
}

// ---------------------------------------------------------------------------------------
// DXF_TIMEOUT.

/// `DXF_TIMEOUT=abc`: one line naming the variable, exit 1, before any request. Bound: 6 s.
#[test]
fn cli_an_invalid_timeout_is_refused() {
    let server = StallServer::start(everything(Reply::Silent));
    let (r, elapsed) = run(
        &server.host(),
        &["get-alias", REPO, "t"],
        &[("DXF_TIMEOUT", Some("abc"))],
    );
    assert_eq!(r.code, 1, "{r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    assert!(
        r.stderr
            .starts_with("dxf: DXF_TIMEOUT must be a number of seconds"),
        "{r:#?}"
    );
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(server.log().is_empty(), "{server:#?}");
    assert!(elapsed < secs(6.0), "{elapsed:?}");
}

/// A manifest GET never answered: no response within T = 1 s, one request (no retries).
/// Bound: 1 s ≤ elapsed < 6 s.
#[test]
fn cli_a_silent_server_times_out() {
    let server = StallServer::start(everything(Reply::Silent));
    get_alias_times_out(&server.host(), &[], secs(0.9), secs(6.0));
    assert_eq!(server.requests("GET", &manifests_path()).len(), 1);
}

/// The same for a blob GET (`pull-blob` to stdout). Bound: 1 s ≤ elapsed < 6 s.
#[test]
fn cli_a_silent_server_times_out_a_pull() {
    let server = StallServer::start(everything(Reply::Silent));
    let (_, digest) = blob();
    let (r, elapsed) = run(&server.host(), &["pull-blob", REPO, &digest], &[]);
    timed_out(&r, Some(&server.host()), elapsed, secs(0.9), secs(6.0));
}

/// `DXF_TIMEOUT=0.5`: decimals work. Bound: 0.45 s ≤ elapsed < 4 s.
#[test]
fn cli_a_decimal_timeout_is_honoured() {
    let server = StallServer::start(everything(Reply::Silent));
    get_alias_times_out(
        &server.host(),
        &[("DXF_TIMEOUT", Some("0.5"))],
        secs(0.45),
        secs(4.0),
    );
}

/// A listener that never accepts (its queue full): no connection within 1 s. If this
/// machine does not make such a connect hang, the case is skipped (said on stderr).
/// Bound: 1 s ≤ elapsed < 6 s.
#[test]
fn cli_a_server_that_never_accepts_times_out() {
    let Some(backlog) = Backlog::start() else {
        eprintln!("skipped: a connect to a full listener does not hang here");
        return;
    };
    get_alias_times_out(&backlog.host(), &[], secs(0.9), secs(6.0));
}

/// A blob's head and 1000 of its 4096 bytes, then nothing: no data moved for 1 s; the
/// `-o FILE` target and its temporary file are gone. Bound: 1 s ≤ elapsed < 6 s.
#[test]
fn cli_a_stalled_blob_body_times_out_and_leaves_no_file() {
    let (data, digest) = blob();
    a_pull_to_a_file_times_out(stalled_after_1000(&data), &digest);
}

/// A blob that stalls after 1000 bytes, then — asked for the rest with `Range` — is sent
/// whole again, dripped: the 1000 bytes skipped on the way arrive under the same speed
/// floor (they would take 100 s), so the resumption fails within its window too.
/// `DXF_RETRIES=2`. Bound: 1.9 s ≤ elapsed < 8 s.
#[test]
fn cli_a_resumed_blob_resent_whole_at_a_drip_is_bounded_too() {
    let (data, digest) = blob();
    let blobs = format!("/v2/{REPO}/blobs/");
    let server = StallServer::start(vec![
        Route::version(),
        Route::new("GET", &blobs, stalled_after_1000(&data)).times(1),
        Route::new("GET", &blobs, dripped(data)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.bin").display().to_string();
    let (r, elapsed) = run(
        &server.host(),
        &["pull-blob", "-o", &target, REPO, &digest],
        &[("DXF_RETRIES", Some("2"))],
    );
    timed_out(&r, None, elapsed, secs(1.9), secs(8.0));
    left_nothing(dir.path());
}

/// A manifest dripped at 10 bytes/s (it would take a minute): the whole-response deadline
/// of 2 T = 2 s ends it (no single read ever waits 1 s). Bound: 2 s ≤ elapsed < 7 s.
#[test]
fn cli_a_dripping_manifest_hits_the_whole_response_deadline() {
    let (data, digest) = blob();
    let body = manifest(&digest, data.len());
    assert!(body.len() as u32 * DRIP > secs(30.0));
    let drip = Reply::Drip {
        head: manifest_head(&body),
        body,
        every: DRIP,
    };
    let server = StallServer::start(vec![
        Route::version(),
        Route::new("GET", &manifests_path(), drip),
    ]);
    get_alias_times_out(&server.host(), &[], secs(1.9), secs(7.0));
}

/// A blob dripped at 10 bytes/s (7 minutes for 4096 bytes), below the 1024 bytes/s floor
/// over a window of T = 1 s: a stall; no retries, so final; nothing left by `-o FILE`.
/// Bound: 1 s ≤ elapsed < 6 s.
#[test]
fn cli_a_dripping_blob_falls_below_the_speed_floor() {
    let (data, digest) = blob();
    a_pull_to_a_file_times_out(dripped(data), &digest);
}

/// The default `DXF_RETRIES` (4) against a silent server: 5 GETs, each given up after
/// T = 1 s, with backoff waits of at most 0.25 + 0.5 + 1 + 2 s between them. Bound:
/// 5 s ≤ elapsed < (4 + 1) × 1 s + 3.75 s + 3 s of slack = 11.75 s.
#[test]
fn cli_retries_of_a_silent_server_stay_within_their_bound() {
    let server = StallServer::start(everything(Reply::Silent));
    get_alias_times_out(
        &server.host(),
        &[("DXF_RETRIES", None)],
        secs(5.0),
        secs(11.75),
    );
    assert_eq!(
        server.requests("GET", &manifests_path()).len(),
        5,
        "{server:#?}"
    );
}

/// A blob body that stalls after 1000 bytes is continued with `Range: bytes=1000-` (the
/// server then answers 206) and the file is complete. Bound: 1 s ≤ elapsed < 6 s.
#[test]
fn cli_a_stalled_pull_resumes_with_a_range_request() {
    let (data, digest) = blob();
    let path = blobs_path(&digest);
    let stall = stalled_after_1000(&data);
    let server = StallServer::start(vec![
        Route::version(),
        Route::new("GET", &path, stall).times(1),
        Route::new("GET", &path, Reply::Blob(data.clone())),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.bin");
    let target_arg = target.display().to_string();
    let (r, elapsed) = run(
        &server.host(),
        &["pull-blob", "-o", &target_arg, REPO, &digest],
        &[("DXF_RETRIES", Some("2"))],
    );
    assert_eq!(r.code, 0, "{elapsed:?} {r:#?} {server:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(std::fs::read(&target).unwrap() == data, "wrong content");
    let gets = server.requests("GET", &path);
    assert_eq!(gets.len(), 2, "{server:#?}");
    assert_eq!(gets[1].header("range"), Some("bytes=1000-"), "{server:#?}");
    assert!(elapsed >= secs(0.9) && elapsed < secs(6.0), "{elapsed:?}");
}

/// `DXF_TIMEOUT=0`: no bound; a manifest answered after 1.5 s is read. Bound: ≥ 1.5 s,
/// and [`HARD_LIMIT`].
#[test]
fn cli_no_timeout_waits_for_a_slow_server() {
    let (data, digest) = blob();
    let body = manifest(&digest, data.len());
    let slow = Reply::Delayed(secs(1.5), Box::new(Reply::manifest(&body)));
    let server = StallServer::start(vec![
        Route::version(),
        Route::new("GET", &manifests_path(), slow),
    ]);
    let (r, elapsed) = run(
        &server.host(),
        &["get-alias", REPO, "t"],
        &[("DXF_TIMEOUT", Some("0"))],
    );
    assert_eq!(r.code, 0, "{elapsed:?} {r:#?}");
    assert_eq!(r.out(), format!("{digest}\n"));
    assert!(r.stderr.is_empty(), "{r:#?}");
    assert!(elapsed >= secs(1.5), "{elapsed:?}");
}

// ---------------------------------------------------------------------------------------
// Signals, with DXF_TIMEOUT=60: only the signal can end the command in time.

/// Spawns `dxf args` against `host` with `DXF_TIMEOUT=60` plus `env`, waits until
/// `blocked` holds (bounded), sends `signal` (`INT TERM`: both, one right after the other)
/// and waits for the end (bounded): what it did and how long after the signal it ended.
fn signalled(
    host: &str,
    args: &[&str],
    env: &[(&str, Option<&str>)],
    blocked: impl Fn() -> bool,
    signal: &str,
) -> (Run, Duration) {
    let mut all = vec![("DXF_TIMEOUT", Some("60"))];
    all.extend_from_slice(env);
    let child = spawn(host, args, &all);
    wait_until("the command blocked", blocked);
    // Let it settle into the wait (read the head, start the retry wait, …).
    thread::sleep(Duration::from_millis(300));
    let since = Instant::now();
    let signals: Vec<&str> = signal.split_whitespace().collect();
    send_signals(child.id(), &signals);
    finish_within(child, since)
}

/// SIGINT once `blocked` holds (see [`signalled`]): exit 130, one line, within `bound` of
/// the signal.
#[track_caller]
fn sigint_ends(host: &str, args: &[&str], blocked: impl Fn() -> bool, bound: Duration) {
    let (r, after) = signalled(host, args, &[], blocked, "INT");
    interrupted(&r, 130, "SIGINT", after, bound);
}

/// SIGINT while `connect()` hangs (a listener that never accepts; skipped where a connect
/// does not hang). Bound: 2 s after the signal.
#[test]
fn cli_sigint_while_connecting() {
    let Some(backlog) = Backlog::start() else {
        eprintln!("skipped: a connect to a full listener does not hang here");
        return;
    };
    let (_, digest) = blob();
    // Where /proc/net/tcp cannot be read, a pause instead of seeing the SYN_SENT socket.
    let start = Instant::now();
    let blocked = || match backlog.connecting() {
        Some(n) => n > 0,
        None => start.elapsed() > Duration::from_millis(500),
    };
    sigint_ends(
        &backlog.host(),
        &["pull-blob", REPO, &digest],
        blocked,
        AFTER_SIGNAL,
    );
}

/// SIGINT while a blob GET waits for its response head. Bound: 2 s after the signal.
#[test]
fn cli_sigint_while_waiting_for_a_response() {
    let server = StallServer::start(everything(Reply::Silent));
    let (_, digest) = blob();
    let path = blobs_path(&digest);
    sigint_ends(
        &server.host(),
        &["pull-blob", REPO, &digest],
        || !server.requests("GET", &path).is_empty(),
        AFTER_SIGNAL,
    );
}

/// `pull-blob -o FILE` against a server whose blob GET gets `reply`, ended by `signals`
/// once that GET arrived (see [`signalled`]); neither the file nor its temporary file may
/// be left. What it did and how long after the signal it ended.
fn pull_to_a_file_signalled(reply: Reply, digest: &str, signals: &str) -> (Run, Duration) {
    let server = StallServer::start(everything(reply));
    let path = blobs_path(digest);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.bin").display().to_string();
    let ended = signalled(
        &server.host(),
        &["pull-blob", "-o", &target, REPO, digest],
        &[],
        || !server.requests("GET", &path).is_empty(),
        signals,
    );
    left_nothing(dir.path());
    ended
}

/// `pull-blob -o FILE` whose body stalled after 1000 bytes, ended by `signal`: exit
/// `code` within 2 s of the signal, and neither the file nor its temporary file is left.
fn signal_during_a_stalled_body(signal: &str, code: i32) {
    let (data, digest) = blob();
    let (r, after) = pull_to_a_file_signalled(stalled_after_1000(&data), &digest, signal);
    interrupted(&r, code, &format!("SIG{signal}"), after, AFTER_SIGNAL);
}

/// SIGINT and SIGTERM at once: the second may end the process before the first is
/// handled, and still the `-o FILE` temporary file is removed and one line says why; the
/// line and the exit code name the same signal — the one the process saw first, which
/// need not be the one sent first (SIGINT: 130, SIGTERM: 143). Bound: 2 s after the first.
#[test]
fn cli_a_second_signal_still_cleans_up() {
    let (_, digest) = blob();
    let (r, after) = pull_to_a_file_signalled(Reply::Silent, &digest, "INT TERM");
    let (code, name) = if r.stderr.contains("SIGTERM") {
        (143, "SIGTERM")
    } else {
        (130, "SIGINT")
    };
    interrupted(&r, code, name, after, AFTER_SIGNAL);
}

/// Bound: 2 s after the signal.
#[test]
fn cli_sigint_while_a_body_stalls() {
    signal_during_a_stalled_body("INT", 130);
}

/// Bound: 2 s after the signal.
#[test]
fn cli_sigterm_while_a_body_stalls() {
    signal_during_a_stalled_body("TERM", 143);
}

/// A blob GET answered `503` + `Retry-After: 30` (with `DXF_RETRIES=2`): `signal` during
/// the wait to retry ends it. Bound: 2 s after the signal.
fn signal_during_a_retry_wait(signal: &str, code: i32) {
    let server = StallServer::start(everything(Reply::RetryAfter(30)));
    let (_, digest) = blob();
    let path = blobs_path(&digest);
    let (r, after) = signalled(
        &server.host(),
        &["pull-blob", REPO, &digest],
        &[("DXF_RETRIES", Some("2"))],
        || !server.requests("GET", &path).is_empty(),
        signal,
    );
    interrupted(&r, code, &format!("SIG{signal}"), after, AFTER_SIGNAL);
    assert_eq!(server.requests("GET", &path).len(), 1, "{server:#?}");
}

#[test]
fn cli_sigint_during_a_retry_wait() {
    signal_during_a_retry_wait("INT", 130);
}

#[test]
fn cli_sighup_during_a_retry_wait() {
    signal_during_a_retry_wait("HUP", 129);
}

/// `push-blob` of a small file: the upload session opens (`202` + `Location`), its
/// `PATCH`/`PUT` is never answered; SIGINT ends it, and the session's `DELETE` (answered
/// with `delete`; bounded by 2 s) reaches the server. Bound: 4 s after the signal (2 s,
/// plus the `DELETE`'s 2 s when the server does not answer it either).
fn sigint_during_a_stalled_upload(delete: Reply) {
    let uploads = format!("/v2/{REPO}/blobs/uploads/");
    let session = format!("{uploads}stalled-session");
    let server = StallServer::start(vec![
        Route::version(),
        Route::exact(
            "POST",
            &uploads,
            Reply::upload_started(&format!("{session}?_state=s")),
        ),
        Route::new("PATCH", &uploads, Reply::Silent),
        Route::new("PUT", &uploads, Reply::Silent),
        Route::new("DELETE", &uploads, delete),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.bin");
    std::fs::write(&file, random_bytes(1000, 8)).unwrap();
    let file = file.display().to_string();
    let sending = || {
        server
            .log()
            .iter()
            .any(|r| (r.method == "PATCH" || r.method == "PUT") && r.path() == session)
    };
    sigint_ends(
        &server.host(),
        &["push-blob", REPO, &file],
        sending,
        AFTER_SIGNAL_UPLOAD,
    );
    assert_eq!(
        server.requests("DELETE", &session).len(),
        1,
        "the session DELETE: {server:#?}"
    );
}

#[test]
fn cli_sigint_during_a_stalled_upload_deletes_its_session() {
    sigint_during_a_stalled_upload(Reply::full(204, &[], b""));
}

/// The `DELETE` is not answered either: the command still ends (its 2 s bound).
#[test]
fn cli_sigint_during_an_upload_to_a_fully_stalled_server() {
    sigint_during_a_stalled_upload(Reply::Silent);
}

// ---------------------------------------------------------------------------------------
// The libraries: dxf-ureq directly, dxf-hyper on a tokio runtime.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ureq,
    Hyper,
}

/// A library error, reduced to what these tests check.
#[derive(Debug)]
struct Failure {
    /// `Error::TimedOut { .. }`.
    timed_out: bool,
    /// `err.proto() == Some(&Cancelled)`.
    cancelled: bool,
    message: String,
}

impl From<dxf_ureq::Error> for Failure {
    fn from(e: dxf_ureq::Error) -> Failure {
        Failure {
            timed_out: matches!(e, dxf_ureq::Error::TimedOut { .. }),
            cancelled: e.proto() == Some(&ProtoError::Cancelled),
            message: e.to_string(),
        }
    }
}

// dxf_hyper::Error is the same type: one client error for both adapters.
/// The config of adapter crate `$krate` for `host`: plain http, no retries.
macro_rules! config {
    ($krate:ident, $host:expr, $timeouts:expr, $interrupt:expr) => {{
        let mut c = $krate::Config::new($host);
        c.insecure = true;
        c.timeouts = $timeouts;
        c.retries = RetryPolicy::never();
        c.interrupt = $interrupt.clone();
        c
    }};
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `get_alias(REPO, "t")` through adapter `kind`.
fn get_alias(
    kind: Kind,
    host: &str,
    timeouts: Timeouts,
    interrupt: &Interrupt,
) -> Result<(), Failure> {
    match kind {
        Kind::Ureq => {
            let registry = dxf_ureq::Registry::new(&config!(dxf_ureq, host, timeouts, interrupt))?;
            registry.repository(REPO)?.get_alias("t", None)?;
        }
        Kind::Hyper => {
            let registry =
                dxf_hyper::Registry::new(&config!(dxf_hyper, host, timeouts, interrupt))?;
            runtime().block_on(async {
                registry
                    .repository(REPO)?
                    .get_alias("t", None)
                    .await
                    .map(drop)
            })?;
        }
    }
    Ok(())
}

/// `pull_blob(digest)` through adapter `kind`, and what reading the reader to its end
/// gave.
fn pull(
    kind: Kind,
    host: &str,
    timeouts: Timeouts,
    digest: &Digest,
) -> Result<std::io::Result<Vec<u8>>, Failure> {
    let interrupt = Interrupt::new();
    let mut bytes = Vec::new();
    Ok(match kind {
        Kind::Ureq => {
            let registry = dxf_ureq::Registry::new(&config!(dxf_ureq, host, timeouts, interrupt))?;
            let mut reader = registry.repository(REPO)?.pull_blob(digest, None)?;
            reader.read_to_end(&mut bytes).map(|_| bytes)
        }
        Kind::Hyper => {
            use tokio::io::AsyncReadExt;
            let registry =
                dxf_hyper::Registry::new(&config!(dxf_hyper, host, timeouts, interrupt))?;
            runtime().block_on(async {
                let mut reader = registry.repository(REPO)?.pull_blob(digest, None).await?;
                Ok::<_, Failure>(reader.read_to_end(&mut bytes).await.map(|_| bytes))
            })?
        }
    })
}

/// Runs `f` on its own thread: its result and how long it took; fails the test if it
/// runs past [`HARD_LIMIT`] (the thread is abandoned).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> (T, Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HARD_LIMIT) {
        Ok(v) => (v, start.elapsed()),
        Err(_) => panic!("still running after {HARD_LIMIT:?}"),
    }
}

/// `get_alias` against `host` with 1 s timeouts: `TimedOut` naming the bound. Bound:
/// 1 s ≤ elapsed < 5 s.
fn get_alias_is_timed_out(kind: Kind, host: String, bound: &str) {
    let (result, elapsed) = bounded(move || {
        get_alias(
            kind,
            &host,
            Timeouts::uniform(Duration::from_secs(1)),
            &Interrupt::new(),
        )
    });
    let e = result.unwrap_err();
    assert!(e.timed_out, "{kind:?}: {e:?}");
    assert!(e.message.contains(bound), "{kind:?}: {e:?}");
    assert!(
        elapsed >= secs(0.9) && elapsed < secs(5.0),
        "{kind:?}: {elapsed:?}"
    );
}

/// A manifest GET never answered.
fn a_silent_server_is_timed_out(kind: Kind) {
    let server = StallServer::start(everything(Reply::Silent));
    get_alias_is_timed_out(kind, server.host(), "timed out: no response within 1 s");
}

/// A connection that never completes (a listener whose queue is full); skipped where
/// such a connect does not hang.
fn a_connect_that_never_completes_is_timed_out(kind: Kind) {
    let Some(backlog) = Backlog::start() else {
        eprintln!("skipped: a connect to a full listener does not hang here");
        return;
    };
    get_alias_is_timed_out(kind, backlog.host(), "timed out");
}

/// A blob dripped at 10 bytes/s: the head arrives at once, reading the body fails with
/// "timed out" (below the speed floor). Bound: 1 s ≤ elapsed < 5 s.
fn a_dripping_blob_fails_while_read(kind: Kind) {
    let (data, digest) = blob();
    let drip = dripped(data);
    let server = StallServer::start(everything(drip));
    let host = server.host();
    let digest = Digest::parse(&digest).unwrap();
    let (result, elapsed) = bounded(move || {
        pull(
            kind,
            &host,
            Timeouts::uniform(Duration::from_secs(1)),
            &digest,
        )
    });
    let e = result.unwrap().unwrap_err();
    assert!(e.to_string().contains("timed out"), "{kind:?}: {e}");
    assert!(
        elapsed >= secs(0.9) && elapsed < secs(5.0),
        "{kind:?}: {elapsed:?}"
    );
}

/// 60 s timeouts, `get_alias` against `host`, `Interrupt::cancel` from another thread
/// 300 ms into the call: `Cancelled`. Bound: within 1.5 s of the cancel.
fn an_interrupt_ends_a_call_blocked_on(kind: Kind, host: String) {
    let interrupt = Interrupt::new();
    let raiser = interrupt.clone();
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        raiser.cancel();
    });
    let (result, elapsed) = bounded(move || {
        get_alias(
            kind,
            &host,
            Timeouts::uniform(Duration::from_secs(60)),
            &interrupt,
        )
    });
    canceller.join().unwrap();
    let e = result.unwrap_err();
    assert!(e.cancelled, "{kind:?}: {e:?}");
    assert!(elapsed < secs(0.3 + 1.5), "{kind:?}: {elapsed:?}");
}

/// A silent server: the call waits for a response head.
fn an_interrupt_ends_a_blocked_call(kind: Kind) {
    let server = StallServer::start(everything(Reply::Silent));
    an_interrupt_ends_a_call_blocked_on(kind, server.host());
}

/// A listener whose queue is full: the call waits for its connection.
fn an_interrupt_ends_a_blocked_connect(kind: Kind) {
    let Some(backlog) = Backlog::start() else {
        eprintln!("skipped: a connect to a full listener does not hang here");
        return;
    };
    an_interrupt_ends_a_call_blocked_on(kind, backlog.host());
}

dxf_tests::both_adapters!(
    a_silent_server_is_timed_out,
    a_dripping_blob_fails_while_read,
    an_interrupt_ends_a_blocked_call,
    a_connect_that_never_completes_is_timed_out,
    an_interrupt_ends_a_blocked_connect,
);
