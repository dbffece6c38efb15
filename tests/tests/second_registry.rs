//! The `dxf` binary against a second, independently written real registry: the Rust crate
//! `container-registry` 0.3.1 ([`CrRegistry`]: TLS relay in front, a password, its quirks
//! kept — a bare `401` on repository endpoints, `Range` one past the bytes of each `PATCH`
//! and not cumulative, monolithic `PUT` refused with a `500 text/plain`, no upload status,
//! two-component repository names, manifests stored by tag only).
//!
//! What it has must round-trip with digests checked: push-blob of a file (monolithic first),
//! of standard input, `--single-pass`, `--resumable` (also continued after a failed run),
//! `--jobs` with an alias, pushes of several 8 MiB chunks; pull-blob to stdout and
//! `--output`; blob-size; set-alias / get-alias / get-digest / get-manifest; OCI artifacts
//! (`set-alias --oci`, `referrers`); `copy` within it and `copy --to` from and to
//! distribution; credentials (wrong or missing: exit 13). What it lacks — `DELETE`, tag
//! list, catalog, mount, manifests by digest (`attach`) — must be one clean line on stderr
//! with a documented exit code; those lines are printed (`--nocapture`) for
//! `docs/errors.md`.
//!
//! One registry per test: it starts in well under a second.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use dxf_tests::cli::{
    clean_command, dxf, dxf_bin, dxf_with, random_bytes, run_command, sha256, Files, Run,
};
use dxf_tests::container_registry::{CrRegistry, REALM};
use dxf_tests::fault_proxy::{Fault, FaultProxy, Rule};
use dxf_tests::{Mode, TestRegistry};
use serde_json::{json, Value};

/// The CLI's upload chunk (dxf-proto's default): blobs larger than this go in several
/// `PATCH`es, where the server's non-cumulative `Range` shows.
const CHUNK: usize = 8 << 20;
/// A blob of two chunks, the second partial.
const TWO_CHUNKS: usize = CHUNK + (3 << 19) + 7;
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const EMPTY_CONFIG: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// `dxf args` against `cr` (its `dxf_env` plus `env`; `None` removes a variable), fed
/// `stdin`.
fn dxf_cr(
    cr: &CrRegistry,
    args: &[&str],
    env: &[(&str, Option<&str>)],
    stdin: Option<&[u8]>,
) -> Run {
    let mut cmd = clean_command(dxf_bin(), cr.dxf_env(), env, stdin.is_some());
    cmd.args(args);
    run_command(cmd, stdin)
}

/// `dxf args` against `cr`, nothing added.
fn cr_dxf(cr: &CrRegistry, args: &[&str]) -> Run {
    dxf_cr(cr, args, &[], None)
}

/// A command that succeeded, with the server's log in the message when it did not.
#[track_caller]
fn ok(cr: &CrRegistry, run: Run) -> Run {
    assert_eq!(
        run.code,
        0,
        "command failed: {run:#?}\n--- container-registry log (tail) ---\n{}",
        log_tail(cr)
    );
    run
}

fn log_tail(cr: &CrRegistry) -> String {
    let log = cr.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A clean failure: exit `code`, nothing on stdout, exactly one line on stderr starting
/// `dxf: ` (no panic, no backtrace). Prints and returns that line.
#[track_caller]
fn fails_cleanly(what: &str, run: &Run, code: i32) -> String {
    assert_eq!(run.code, code, "{what}: {run:#?}");
    assert!(run.stdout.is_empty(), "{what}: stdout: {run:#?}");
    let line = run.stderr.strip_suffix('\n').unwrap_or(&run.stderr);
    assert!(!line.contains('\n'), "{what}: one line: {run:#?}");
    assert!(line.starts_with("dxf: "), "{what}: {run:#?}");
    assert!(
        !line.contains("panicked") && !line.contains("RUST_BACKTRACE"),
        "{what}: {run:#?}"
    );
    eprintln!("observed [{what}] exit {code}: {line}");
    line.to_owned()
}

fn lines(run: &Run) -> Vec<String> {
    run.out().lines().map(str::to_owned).collect()
}

/// The blob `digest` of `repo` (the digest of `data`, computed by the caller: hashing is slow
/// in a debug build) as the server serves it to dxf, checked against `data`.
#[track_caller]
fn pulls_back(cr: &CrRegistry, repo: &str, digest: &str, data: &[u8]) {
    let pulled = ok(cr, cr_dxf(cr, &["pull-blob", repo, digest]));
    assert!(
        pulled.stdout == data,
        "pull-blob {digest}: {} bytes back, {} pushed",
        pulled.stdout.len(),
        data.len()
    );
    let size = ok(cr, cr_dxf(cr, &["blob-size", repo, digest]));
    assert_eq!(size.out(), format!("{}\n", data.len()));
    assert!(
        cr.holds_blob(digest),
        "{digest} not in the server's storage"
    );
}

/// The harness itself, without dxf: TLS in front, the password required, and the quirks
/// the rest of this file is about, as the server really sends them.
#[test]
fn harness_serves_the_real_server_over_tls() {
    let started = Instant::now();
    let cr = CrRegistry::start();
    eprintln!("container-registry started in {:?}", started.elapsed());

    let index = cr.request("GET", "/v2/", false, &[], b"");
    assert_eq!(index.status, 401, "{index:?}");
    assert_eq!(
        index.header("www-authenticate"),
        Some(format!("Basic realm=\"{REALM}\"").as_str())
    );
    assert_eq!(cr.request("GET", "/v2/", true, &[], b"").status, 200);
    // Repository endpoints: a bare 401 without credentials, no challenge.
    let missing = sha256(b"missing");
    let head = cr.request(
        "HEAD",
        &format!("/v2/dxf/q/blobs/{missing}"),
        false,
        &[],
        b"",
    );
    assert_eq!(head.status, 401, "{head:?}");
    assert_eq!(head.header("www-authenticate"), None, "{head:?}");
    // A wrong password is refused the same way.
    let wrong = cr.request(
        "HEAD",
        &format!("/v2/dxf/q/blobs/{missing}"),
        false,
        &[("Authorization", "Basic ZHhmLXVzZXI6d3Jvbmc=")],
        b"",
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(
        cr.request(
            "HEAD",
            &format!("/v2/dxf/q/blobs/{missing}"),
            true,
            &[],
            b""
        )
        .status,
        404
    );

    // A monolithic PUT is refused with a text/plain 500.
    let upload = cr.request("POST", "/v2/dxf/q/blobs/uploads/", true, &[], b"");
    assert_eq!(upload.status, 202, "{upload:?}");
    let location = upload.header("location").unwrap().to_owned();
    assert!(location.starts_with("/v2/dxf/q/uploads/"), "{location}");
    let data = b"hello, world!";
    let put = cr.request(
        "PUT",
        &format!("{location}?digest={}", sha256(data)),
        true,
        &[],
        data,
    );
    assert_eq!(put.status, 500, "{put:?}");
    assert_eq!(
        put.text(),
        "feature not supported: missing content length not implemented"
    );
    assert!(put
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    // A PATCH of 13 bytes is acknowledged as `0-13`; the next one's Range counts only its
    // own bytes; the upload has no status endpoint.
    let patch = cr.request("PATCH", &location, true, &[], data);
    assert_eq!(
        (patch.status, patch.header("range")),
        (202, Some("0-13")),
        "{patch:?}"
    );
    let patch = cr.request("PATCH", &location, true, &[], b"more");
    assert_eq!(
        (patch.status, patch.header("range")),
        (202, Some("0-4")),
        "{patch:?}"
    );
    assert_eq!(cr.request("GET", &location, true, &[], b"").status, 405);
    let all = b"hello, world!more";
    let done = cr.request(
        "PUT",
        &format!("{location}?digest={}", sha256(all)),
        true,
        &[],
        b"",
    );
    assert_eq!(done.status, 201, "{done:?}");
    let blob = cr.request(
        "GET",
        &format!("/v2/dxf/q/blobs/{}", sha256(all)),
        true,
        &[],
        b"",
    );
    assert_eq!((blob.status, blob.body.as_slice()), (200, &all[..]));
    assert_eq!(blob.header("content-length"), None, "{blob:?}");
    // What it lacks.
    let del = cr.request(
        "DELETE",
        &format!("/v2/dxf/q/blobs/{}", sha256(all)),
        true,
        &[],
        b"",
    );
    assert_eq!(del.status, 405);
    assert_eq!(
        cr.request("GET", "/v2/dxf/q/tags/list", true, &[], b"")
            .status,
        404
    );
    assert_eq!(
        cr.request("GET", "/v2/_catalog", true, &[], b"").status,
        404
    );
    let mount = format!("/v2/dxf/r/blobs/uploads/?mount={}&from=dxf/q", sha256(all));
    assert_eq!(cr.request("POST", &mount, true, &[], b"").status, 202);

    // Dropped: the relay and the server are gone.
    let (relay, backend) = (cr.host(), cr.backend_addr());
    drop(cr);
    assert!(
        std::net::TcpStream::connect(&relay).is_err(),
        "relay still up"
    );
    assert!(
        std::net::TcpStream::connect(backend).is_err(),
        "server still up"
    );
}

/// A file, pushed the default way (monolithic first, which this server refuses), of one
/// byte, 2 MiB, and two chunks; pushed again (skipped, same digest); pulled to stdout and
/// to `--output`.
#[test]
fn push_file_and_pull_back() {
    let cr = CrRegistry::start();
    let files = Files::new();
    for (i, len) in [1, 2 << 20, TWO_CHUNKS].into_iter().enumerate() {
        let data = random_bytes(len, 10 + i as u64);
        let path = files.write(&format!("f{i}"), &data);
        let pushed = ok(&cr, cr_dxf(&cr, &["push-blob", "dxf/files", &path]));
        let digest = sha256(&data);
        assert_eq!(pushed.out(), format!("{digest}\n"), "{len} bytes");
        pulls_back(&cr, "dxf/files", &digest, &data);
        let again = ok(&cr, cr_dxf(&cr, &["push-blob", "dxf/files", &path]));
        assert_eq!(again.out(), format!("{digest}\n"));
        let out = files.path(&format!("out{i}"));
        let out_arg = out.display().to_string();
        let pulled = ok(
            &cr,
            cr_dxf(
                &cr,
                &["pull-blob", "dxf/files", &digest, "--output", &out_arg],
            ),
        );
        assert!(pulled.stdout.is_empty(), "{pulled:#?}");
        assert!(std::fs::read(&out).unwrap() == data, "{len} bytes");
    }
}

/// Standard input: one chunk with an alias, then two chunks.
#[test]
fn push_stdin() {
    let cr = CrRegistry::start();
    let small = random_bytes(300_000, 20);
    let pushed = ok(
        &cr,
        dxf_cr(
            &cr,
            &["push-blob", "dxf/stdin", "-", "@piped"],
            &[],
            Some(&small),
        ),
    );
    let d = sha256(&small);
    assert_eq!(pushed.out(), format!("{d}\n"));
    pulls_back(&cr, "dxf/stdin", &d, &small);
    let alias = ok(&cr, cr_dxf(&cr, &["get-alias", "dxf/stdin", "piped"]));
    assert_eq!(alias.out(), format!("{d}\n"));

    let big = random_bytes(TWO_CHUNKS, 21);
    let pushed = ok(
        &cr,
        dxf_cr(&cr, &["push-blob", "dxf/stdin", "-"], &[], Some(&big)),
    );
    let d = sha256(&big);
    assert_eq!(pushed.out(), format!("{d}\n"));
    pulls_back(&cr, "dxf/stdin", &d, &big);
    assert_eq!(cr.open_uploads(), 0, "no upload session left behind");
}

/// `--single-pass`: hashed while sent, one relayed `PATCH`.
#[test]
fn push_single_pass() {
    let cr = CrRegistry::start();
    let files = Files::new();
    for (i, len) in [(1 << 20) * 3 / 2 + 7, TWO_CHUNKS].into_iter().enumerate() {
        let data = random_bytes(len, 30 + i as u64);
        let path = files.write(&format!("s{i}"), &data);
        let pushed = ok(
            &cr,
            cr_dxf(&cr, &["push-blob", "--single-pass", "dxf/single", &path]),
        );
        let d = sha256(&data);
        assert_eq!(pushed.out(), format!("{d}\n"));
        pulls_back(&cr, "dxf/single", &d, &data);
    }
}

/// `--resumable` (two chunks, checkpointed): succeeds, leaves no state file.
#[test]
fn push_resumable() {
    let cr = CrRegistry::start();
    let files = Files::new();
    let state = files.path("state");
    let state_arg = state.display().to_string();
    let data = random_bytes(TWO_CHUNKS, 40);
    let path = files.write("r.bin", &data);
    let env = [("DXF_STATE_DIR", Some(state_arg.as_str()))];
    let pushed = ok(
        &cr,
        dxf_cr(
            &cr,
            &["push-blob", "--resumable", "dxf/resume", &path, "@r"],
            &env,
            None,
        ),
    );
    let d = sha256(&data);
    assert_eq!(pushed.out(), format!("{d}\n"));
    pulls_back(&cr, "dxf/resume", &d, &data);
    assert_eq!(state_files(&state), Vec::<PathBuf>::new());
    // DXF_RESUMABLE=1 is the same; the blob is there, so nothing is sent.
    let env = [
        ("DXF_STATE_DIR", Some(state_arg.as_str())),
        ("DXF_RESUMABLE", Some("1")),
    ];
    let again = ok(
        &cr,
        dxf_cr(&cr, &["push-blob", "dxf/resume", &path], &env, None),
    );
    assert_eq!(again.out(), format!("{d}\n"));
}

fn state_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    }
}

/// A `--resumable` push whose connection is cut at its second `PATCH` fails with its
/// checkpoint kept; the same command again completes it (the server has no upload status
/// endpoint — `GET` is `405` — so that run starts over) and removes the checkpoint. The
/// fault proxy only cuts the connection; the server's answers pass unchanged.
#[test]
fn resumable_push_completes_after_a_failed_run() {
    let cr = CrRegistry::start();
    let proxy = FaultProxy::start(cr.backend_addr());
    let front = cr.tls_front(proxy.addr());
    let files = Files::new();
    let state = files.path("state");
    let state_arg = state.display().to_string();
    let data = random_bytes(TWO_CHUNKS, 41);
    let digest = sha256(&data);
    let path = files.write("cut.bin", &data);
    let host = front.host();
    let env = [
        ("DXF_HOST", Some(host.as_str())),
        ("DXF_STATE_DIR", Some(state_arg.as_str())),
        ("DXF_RETRIES", Some("0")),
    ];
    let args = ["push-blob", "--resumable", "dxf/cut", &path, "@cut"];

    proxy.add(Rule::on("PATCH", "/uploads/", Fault::CloseRequestAfter(0)).skip(1));
    let first = dxf_cr(&cr, &args, &env, None);
    let line = fails_cleanly("push-blob --resumable, connection cut", &first, 1);
    assert!(
        line.contains("run the same command again to continue"),
        "{first:#?}"
    );
    assert_eq!(proxy.faults_applied(), 1, "{:#?}", proxy.log());
    assert_eq!(state_files(&state).len(), 1, "the checkpoint is kept");
    assert!(!cr.holds_blob(&digest));

    proxy.clear_log();
    let second = ok(&cr, dxf_cr(&cr, &args, &env, None));
    assert_eq!(second.out(), format!("{digest}\n"));
    // It asked the session's status (405: no such endpoint), then started a new one.
    let log = proxy.log();
    let status = log
        .iter()
        .find(|e| e.method == "GET" && e.target.contains("/uploads/"));
    assert_eq!(status.and_then(|e| e.status), Some(405), "{log:#?}");
    assert!(
        log.iter()
            .any(|e| e.method == "POST" && e.target.contains("/blobs/uploads/")),
        "{log:#?}"
    );
    assert_eq!(state_files(&state), Vec::<PathBuf>::new());
    pulls_back(&cr, "dxf/cut", &digest, &data);
    let alias = ok(&cr, cr_dxf(&cr, &["get-alias", "dxf/cut", "cut"]));
    assert_eq!(alias.out(), format!("{digest}\n"));
}

/// `--jobs N` with an alias: digests in argument order, the alias names them all.
#[test]
fn push_jobs_with_an_alias() {
    let cr = CrRegistry::start();
    let files = Files::new();
    let blobs: Vec<Vec<u8>> = (0..4)
        .map(|i| random_bytes(200_000 + i * 1000, 50 + i as u64))
        .collect();
    let paths: Vec<String> = blobs
        .iter()
        .enumerate()
        .map(|(i, b)| files.write(&format!("j{i}"), b))
        .collect();
    let mut args = vec!["push-blob", "--jobs", "2", "dxf/jobs"];
    args.extend(paths.iter().map(String::as_str));
    args.push("@all");
    let out = ok(&cr, cr_dxf(&cr, &args));
    let digests: Vec<String> = blobs.iter().map(|b| sha256(b)).collect();
    assert_eq!(lines(&out), digests);
    let alias = ok(&cr, cr_dxf(&cr, &["get-alias", "dxf/jobs", "all"]));
    assert_eq!(lines(&alias), digests);
    let pulled = ok(&cr, cr_dxf(&cr, &["pull-blob", "dxf/jobs", "@all"]));
    assert!(pulled.stdout == blobs.concat());
    let total: usize = blobs.iter().map(Vec::len).sum();
    let size = ok(&cr, cr_dxf(&cr, &["blob-size", "dxf/jobs", "@all"]));
    assert_eq!(size.out(), format!("{total}\n"));
    // Several blobs into a directory, one file each.
    let dir = files.path("outdir");
    std::fs::create_dir(&dir).unwrap();
    let dir_arg = dir.display().to_string();
    let mut args = vec!["pull-blob", "dxf/jobs"];
    args.extend(digests.iter().map(String::as_str));
    args.extend(["-o", dir_arg.as_str()]);
    ok(&cr, cr_dxf(&cr, &args));
    for (d, b) in digests.iter().zip(&blobs) {
        let file = dir.join(d.trim_start_matches("sha256:"));
        assert!(std::fs::read(file).unwrap() == *b);
    }
}

/// set-alias (digests and a file), get-alias, get-digest, get-manifest, blob-size and
/// pull-blob of the alias, a missing alias.
#[test]
fn aliases_round_trip() {
    let cr = CrRegistry::start();
    let files = Files::new();
    let one = random_bytes(3000, 60);
    let two = random_bytes(70_000, 61);
    let p1 = files.write("one.bin", &one);
    let p2 = files.write("two.bin", &two);
    let d1 = ok(&cr, cr_dxf(&cr, &["push-blob", "dxf/alias", &p1]))
        .out()
        .trim()
        .to_owned();
    assert_eq!(d1, sha256(&one));
    // A file argument: its digest is computed locally (it must be in the registry).
    ok(&cr, cr_dxf(&cr, &["push-blob", "dxf/alias", &p2]));
    let set = ok(
        &cr,
        cr_dxf(&cr, &["set-alias", "dxf/alias", "v1", &d1, &p2]),
    );
    let manifest = set.out();
    let m: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(m["mediaType"], DOCKER_MANIFEST);
    assert_eq!(m["config"]["digest"], d1.as_str());
    assert_eq!(m["layers"][1]["digest"], sha256(&two).as_str());
    assert_eq!(m["layers"][1]["size"], two.len());

    let got = ok(&cr, cr_dxf(&cr, &["get-alias", "dxf/alias", "v1"]));
    assert_eq!(lines(&got), [d1.clone(), sha256(&two)]);
    let digest = ok(&cr, cr_dxf(&cr, &["get-digest", "dxf/alias", "v1"]));
    assert_eq!(digest.out(), format!("{d1}\n"));
    let stored = ok(&cr, cr_dxf(&cr, &["get-manifest", "dxf/alias", "v1"]));
    assert_eq!(stored.out(), manifest, "stored as printed");
    let size = ok(&cr, cr_dxf(&cr, &["blob-size", "dxf/alias", "@v1"]));
    assert_eq!(size.out(), format!("{}\n", one.len() + two.len()));
    let pulled = ok(&cr, cr_dxf(&cr, &["pull-blob", "dxf/alias", "@v1"]));
    assert!(pulled.stdout == [one.as_slice(), two.as_slice()].concat());
    // The manifest on stdin: get-alias and pull-blob without names.
    let from_stdin = ok(
        &cr,
        dxf_cr(
            &cr,
            &["get-alias", "dxf/alias"],
            &[],
            Some(manifest.as_bytes()),
        ),
    );
    assert_eq!(lines(&from_stdin), lines(&got));
    // Moved to another blob.
    ok(
        &cr,
        cr_dxf(&cr, &["set-alias", "dxf/alias", "v1", &sha256(&two)]),
    );
    let moved = ok(&cr, cr_dxf(&cr, &["get-alias", "dxf/alias", "v1"]));
    assert_eq!(lines(&moved), [sha256(&two)]);
    // Missing: not found (2).
    fails_cleanly(
        "get-alias of a missing alias",
        &cr_dxf(&cr, &["get-alias", "dxf/alias", "nope"]),
        2,
    );
    fails_cleanly(
        "pull-blob of a missing blob",
        &cr_dxf(&cr, &["pull-blob", "dxf/alias", &sha256(b"nope")]),
        2,
    );
}

/// `set-alias --oci` (the empty config uploaded as a blob), every reader on it;
/// `referrers` (no API, no tag-schema index: none).
#[test]
fn oci_artifacts() {
    let cr = CrRegistry::start();
    let files = Files::new();
    let one = random_bytes(3000, 70);
    let path = files.write("one.bin", &one);
    ok(&cr, cr_dxf(&cr, &["push-blob", "dxf/oci", &path]));
    let d1 = sha256(&one);
    let set = ok(
        &cr,
        cr_dxf(
            &cr,
            &[
                "set-alias",
                "--oci",
                "--annotation",
                "org.opencontainers.image.version=1.2",
                "dxf/oci",
                "v1",
                &path,
            ],
        ),
    );
    let manifest = set.out();
    let m: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        m,
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.dxf.blobs.v1",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_CONFIG, "size": 2, "data": "e30="},
            "layers": [
                {"mediaType": "application/octet-stream", "digest": d1, "size": 3000,
                 "annotations": {"org.opencontainers.image.title": "one.bin"}},
            ],
            "annotations": {"org.opencontainers.image.version": "1.2"},
        })
    );
    let stored = ok(&cr, cr_dxf(&cr, &["get-manifest", "dxf/oci", "v1"]));
    assert_eq!(stored.out(), manifest);
    pulls_back(&cr, "dxf/oci", EMPTY_CONFIG, b"{}");
    let got = ok(&cr, cr_dxf(&cr, &["get-alias", "dxf/oci", "v1"]));
    assert_eq!(got.out(), format!("{d1}\n"));
    let pulled = ok(&cr, cr_dxf(&cr, &["pull-blob", "dxf/oci", "@v1"]));
    assert!(pulled.stdout == one);
    // DXF_MANIFEST=oci is the same form.
    let env = [("DXF_MANIFEST", Some("oci"))];
    let same = ok(
        &cr,
        dxf_cr(&cr, &["set-alias", "dxf/oci", "v2", &path], &env, None),
    );
    let m2: Value = serde_json::from_str(&same.out()).unwrap();
    assert_eq!(m2["artifactType"], "application/vnd.dxf.blobs.v1");
    assert_eq!(m2["layers"][0]["digest"], d1.as_str());
    // No referrers API and no `sha256-<hex>` tag: no referrers.
    let none = ok(&cr, cr_dxf(&cr, &["referrers", "dxf/oci", "v1"]));
    assert_eq!(none.out(), "");
}

/// `copy --to`: from distribution to container-registry and back, and `copy` within
/// container-registry (its mount `POST` opens an upload: the blobs are sent instead).
#[test]
fn copy_to_and_from_distribution() {
    let cr = CrRegistry::start();
    let dist = TestRegistry::start(Mode::Plain);
    let files = Files::new();
    let small = random_bytes(500_000, 80);
    let big = random_bytes((3 << 20) + 5, 81);
    let ps = files.write("small", &small);
    let pb = files.write("big", &big);
    let ds = dxf(&dist, &["push-blob", "src/data", &ps]).ok().out();
    let db = dxf(&dist, &["push-blob", "src/data", &pb]).ok().out();
    let (ds, db) = (ds.trim(), db.trim());
    dxf(&dist, &["set-alias", "src/data", "v1", ds, db]).ok();
    let manifest = dxf(&dist, &["get-manifest", "src/data", "v1"]).ok().stdout;
    let manifest_digest = sha256(&manifest);

    let ca = cr.ca_pem_path().display().to_string();
    let (user, password) = cr.credentials();
    // The source is plain http (DXF_INSECURE=1), which the destination would inherit.
    let to_cr = [
        ("DXF_TO_INSECURE", Some("0")),
        ("DXF_TO_TLSVERIFY", Some(ca.as_str())),
        ("DXF_TO_USERNAME", Some(user.as_str())),
        ("DXF_TO_PASSWORD", Some(password.as_str())),
    ];
    let copied = dxf_with(
        &dist,
        &["copy", "--to", &cr.host(), "src/data:v1", "dxf/copy"],
        &to_cr,
        None,
    );
    let copied = ok(&cr, copied);
    assert_eq!(copied.out(), format!("{manifest_digest}\n"));
    let stored = ok(&cr, cr_dxf(&cr, &["get-manifest", "dxf/copy", "v1"]));
    assert!(stored.stdout == manifest, "manifest byte for byte");
    pulls_back(&cr, "dxf/copy", ds, &small);
    pulls_back(&cr, "dxf/copy", db, &big);

    // Within container-registry: mount refused (an upload opens), so the blobs are sent.
    let within = ok(&cr, cr_dxf(&cr, &["copy", "dxf/copy:v1", "dxf/again:v2"]));
    assert_eq!(within.out(), format!("{manifest_digest}\n"));
    let pulled = ok(&cr, cr_dxf(&cr, &["pull-blob", "dxf/again", "@v2"]));
    assert!(pulled.stdout == [small.as_slice(), big.as_slice()].concat());

    // And back to distribution.
    let to_dist = [("DXF_TO_INSECURE", Some("1"))];
    let back = dxf_cr(
        &cr,
        &["copy", "--to", &dist.host(), "dxf/copy:v1", "back/data:v3"],
        &to_dist,
        None,
    );
    let back = ok(&cr, back);
    assert_eq!(back.out(), format!("{manifest_digest}\n"));
    let there = dxf(&dist, &["get-manifest", "back/data", "v3"]).ok();
    assert!(there.stdout == manifest);
    let pulled = dxf(&dist, &["pull-blob", "back/data", "@v3"]).ok();
    assert!(pulled.stdout == [small.as_slice(), big.as_slice()].concat());
}

/// A wrong password and no credentials at all: unauthorized (13), one line, for a read
/// and for a push.
#[test]
fn credentials_are_required_and_checked() {
    let cr = CrRegistry::start();
    let files = Files::new();
    let data = random_bytes(1000, 90);
    let path = files.write("c.bin", &data);
    let digest = cr.seed_blob("dxf/creds", &data);
    let docker_config = files.path("docker");
    std::fs::create_dir(&docker_config).unwrap();
    let docker_config = docker_config.display().to_string();

    let wrong = [
        ("DXF_PASSWORD", Some("wrong")),
        ("DOCKER_CONFIG", Some(docker_config.as_str())),
    ];
    let none = [
        ("DXF_USERNAME", None),
        ("DXF_PASSWORD", None),
        ("DOCKER_CONFIG", Some(docker_config.as_str())),
    ];
    for (what, env) in [
        ("wrong password", &wrong[..]),
        ("no credentials", &none[..]),
    ] {
        let read = dxf_cr(&cr, &["blob-size", "dxf/creds", &digest], env, None);
        fails_cleanly(&format!("blob-size, {what}"), &read, 13);
        let push = dxf_cr(&cr, &["push-blob", "dxf/creds", &path], env, None);
        fails_cleanly(&format!("push-blob, {what}"), &push, 13);
    }
    // The right ones work (the blob was seeded without dxf).
    let size = ok(&cr, cr_dxf(&cr, &["blob-size", "dxf/creds", &digest]));
    assert_eq!(size.out(), "1000\n");
}

/// Issue 13's first finding: credentials that `dxf login` has just verified (on `GET /v2/`,
/// the only place this server challenges), and `DXF_AUTHORIZATION`, were never sent to the
/// repository endpoints, which answer a bare 401. Now the challenge is looked up there.
#[test]
fn login_and_dxf_authorization_work_without_a_challenge_on_the_endpoints() {
    use base64::Engine as _;
    let cr = CrRegistry::start();
    let files = Files::new();
    let data = random_bytes(3000, 91);
    let path = files.write("l.bin", &data);
    let docker_config = files.path("docker");
    std::fs::create_dir(&docker_config).unwrap();
    let docker_config = docker_config.display().to_string();
    let (user, password) = cr.credentials();
    let host = cr.host();
    // Only docker's stored credentials: no DXF_USERNAME / DXF_PASSWORD.
    let stored = [
        ("DXF_USERNAME", None),
        ("DXF_PASSWORD", None),
        ("DOCKER_CONFIG", Some(docker_config.as_str())),
    ];
    let login = dxf_cr(
        &cr,
        &["login", &host, "-u", &user, "--password-stdin"],
        &stored,
        Some(format!("{password}\n").as_bytes()),
    );
    let login = ok(&cr, login);
    assert!(login.out().contains("Login Succeeded"), "{login:#?}");
    let pushed = ok(
        &cr,
        dxf_cr(&cr, &["push-blob", "dxf/login", &path, "@l"], &stored, None),
    );
    assert_eq!(pushed.out(), format!("{}\n", sha256(&data)));
    let got = ok(
        &cr,
        dxf_cr(&cr, &["get-alias", "dxf/login", "l"], &stored, None),
    );
    assert_eq!(got.out(), format!("{}\n", sha256(&data)));
    // `dxf auth` prints nothing for a Basic registry, as python-dxf.
    let auth = ok(&cr, dxf_cr(&cr, &["auth", "dxf/login"], &stored, None));
    assert_eq!((auth.out(), auth.stderr.as_str()), (String::new(), ""));

    // DXF_AUTHORIZATION alone.
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let empty = files.path("empty-docker");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.display().to_string();
    let given = [
        ("DXF_USERNAME", None),
        ("DXF_PASSWORD", None),
        ("DXF_AUTHORIZATION", Some(header.as_str())),
        ("DOCKER_CONFIG", Some(empty.as_str())),
    ];
    let size = ok(
        &cr,
        dxf_cr(
            &cr,
            &["blob-size", "dxf/login", &sha256(&data)],
            &given,
            None,
        ),
    );
    assert_eq!(size.out(), "3000\n");
}

/// What the server lacks — `DELETE`, tag list, catalog, mount, manifests by digest — is one
/// clean line and a documented exit code, and changes nothing. The data is seeded without
/// dxf, so this does not depend on dxf's pushes.
#[test]
fn what_the_server_lacks_is_one_clean_line() {
    let cr = CrRegistry::start();
    let files = Files::new();
    let data = random_bytes(5000, 100);
    let digest = cr.seed_blob("dxf/lack", &data);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/octet-stream", "digest": digest, "size": data.len()},
        "layers": [{"mediaType": "application/octet-stream", "digest": digest, "size": data.len()}],
    })
    .to_string();
    cr.seed_manifest("dxf/lack", "v1", DOCKER_MANIFEST, manifest.as_bytes());
    let path = files.write("att.bin", b"attached");

    let m405 = "DELETE: unexpected status 405 Method Not Allowed";
    let tags = "dxf: tag list: 404 Not Found (no such repository, or this registry does not \
                list its tags)\n";
    let cases: [(&str, Vec<&str>, i32, String); 9] = [
        (
            "del-blob HASH",
            vec!["del-blob", "dxf/lack", &digest],
            1,
            format!("dxf: {digest}: blob {m405}\n"),
        ),
        (
            "del-blob @ALIAS",
            vec!["del-blob", "dxf/lack", "@v1"],
            1,
            format!("dxf: @v1: manifest {m405}\n"),
        ),
        (
            "del-alias",
            vec!["del-alias", "dxf/lack", "v1"],
            1,
            format!("dxf: v1: manifest {m405}\n"),
        ),
        (
            "del-alias --only",
            vec!["del-alias", "--only", "dxf/lack", "v1"],
            1,
            format!("dxf: v1: manifest {m405}\n"),
        ),
        (
            "list-aliases",
            vec!["list-aliases", "dxf/lack"],
            2,
            tags.to_owned(),
        ),
        (
            "list-aliases --json",
            vec!["list-aliases", "--json", "dxf/lack"],
            2,
            tags.to_owned(),
        ),
        (
            "list-repos",
            vec!["list-repos"],
            2,
            "dxf: catalog: 404 Not Found (this registry does not list its repositories)\n"
                .to_owned(),
        ),
        (
            "mount-blob",
            vec!["mount-blob", "dxf/other", "dxf/lack", &digest],
            1,
            format!("dxf: {digest}: mount failed: the registry did not mount the blob (202)\n"),
        ),
        (
            "attach",
            vec!["attach", "dxf/lack", "v1", &path],
            1,
            "dxf: v1: manifest PUT: unexpected status 400 Bad Request\n".to_owned(),
        ),
    ];
    for (what, args, code, line) in &cases {
        let run = cr_dxf(&cr, args);
        fails_cleanly(what, &run, *code);
        assert_eq!(&run.stderr, line, "{what}");
    }
    // Nothing changed: the blob and the alias are there as seeded.
    let pulled = ok(&cr, cr_dxf(&cr, &["pull-blob", "dxf/lack", "@v1"]));
    assert!(pulled.stdout == data);
    let stored = ok(&cr, cr_dxf(&cr, &["get-manifest", "dxf/lack", "v1"]));
    assert_eq!(stored.out(), manifest);
    // A repository name of another shape: the server has no route for it (404, exit 2).
    fails_cleanly(
        "blob-size in a one-component repository",
        &cr_dxf(&cr, &["blob-size", "onepart", &digest]),
        2,
    );
}
