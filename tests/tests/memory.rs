//! Peak memory of `dxf` on inputs and outputs of any size: the process's peak resident set
//! size (RSS), as `/usr/bin/time -f %M` reports it (GNU time, Debian package `time`,
//! installed by `scripts/install-deps`), must stay under a fixed bound while the data is
//! many times larger.
//!
//! - `list-aliases --json` / `list-repos --json` over 40 MiB of names in 200 `Link`-chained
//!   pages. CNCF distribution 2.8 sends every tag in one page (and the CLI has no page size
//!   knob), so the pages come from [`Lister`], a small loopback HTTP server in this file that
//!   generates them on the fly. The output is checked byte for byte; a failure on a late
//!   page (a 500 with `DXF_RETRIES=0`, or a body cut short) must print nothing on stdout
//!   (the `--json` contract), one line on stderr, exit 1, and so must a `$TMPDIR` where the
//!   spool file cannot be made. Plain `list-aliases` (line by line) is held to the same
//!   bound.
//! - `push-blob REPO -` of 256 MiB from stdin (a pipe) and `pull-blob` of it, against the
//!   real registry (plain http); 64 MiB in a debug build.
//!
//! The bounds ([`LIST_RSS_BOUND`], [`BLOB_RSS_BOUND`]) are generous: they catch memory that
//! grows with the data, not small regressions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;

use dxf_tests::cli::dxf_bin;
use dxf_tests::fault_proxy::{Fault, FaultProxy, Rule};
use dxf_tests::{Mode, TestRegistry};

/// GNU time, which reports the peak RSS of the command it runs (`%M`, KiB).
const TIME: &str = "/usr/bin/time";

/// Most peak RSS allowed for a listing, whatever its size (KiB).
const LIST_RSS_BOUND: u64 = 24 * 1024;

/// Most peak RSS allowed for a push from stdin or a pull of [`BLOB_LEN`] bytes (KiB): the
/// default 8 MiB chunk buffer, a copy of the first chunk until the registry acknowledged it
/// (what a registry refusing its size gets again, smaller), and the client's own, with
/// room to spare.
const BLOB_RSS_BOUND: u64 = 40 * 1024;

/// Pages of a big listing.
const PAGES: usize = 200;

/// Bytes of names on each page (at least).
const PAGE_BYTES: usize = 205 * 1024;

/// What a command run under `/usr/bin/time` did.
struct Measured {
    /// Exit code (-1 when killed by a signal).
    code: i32,
    /// Standard output (empty unless it was piped).
    stdout: Vec<u8>,
    /// Standard error.
    stderr: String,
    /// Peak resident set size (KiB).
    peak_kib: u64,
    /// Wall-clock time (seconds).
    seconds: f64,
}

impl Measured {
    /// Exit code, stdout length and stderr, for failure messages.
    fn summary(&self) -> String {
        format!(
            "exit {}, {} bytes on stdout, stderr {:?}",
            self.code,
            self.stdout.len(),
            self.stderr
        )
    }
}

/// Runs `dxf args` under `/usr/bin/time -f "%M %e"` with a clean environment plus `env`,
/// its stdin and stdout as given (a piped stdout is collected).
fn measure(env: &[(String, String)], args: &[&str], stdin: Stdio, stdout: Stdio) -> Measured {
    assert!(
        Path::new(TIME).exists(),
        "{TIME} is missing: install GNU time (Debian package `time`; scripts/install-deps)"
    );
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(TIME)
        .arg("-f")
        .arg("%M %e")
        .arg("-o")
        .arg(report.path())
        .arg(dxf_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut out = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        o.read_to_end(&mut out).unwrap();
    }
    let status = child.wait().unwrap();
    // GNU time writes "Command exited with non-zero status N" first when it is not 0.
    let text = std::fs::read_to_string(report.path()).unwrap();
    let (peak_kib, seconds) = text
        .lines()
        .last()
        .and_then(|l| l.split_once(' '))
        .and_then(|(m, e)| Some((m.parse().ok()?, e.trim().parse().ok()?)))
        .unwrap_or_else(|| panic!("no peak RSS in {TIME}'s report: {text:?}"));
    Measured {
        code: status.code().unwrap_or(-1),
        stdout: out,
        stderr: stderr.join().unwrap(),
        peak_kib,
        seconds,
    }
}

/// How [`Lister`] fails one page.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// `500 Internal Server Error` with an OCI error body.
    Status500,
    /// The head and part of the body, then the connection is closed.
    Truncated,
}

/// The names of a big listing, page by page: on the first page names that need escaping
/// (quotes, backslashes, control characters, non-ASCII, astral, empty), then generated
/// names of 20 to 128 characters until each page holds [`PAGE_BYTES`] of JSON.
struct Listing {
    /// Each page's names, JSON-encoded and joined with `,` (an array without its brackets).
    pages: Vec<String>,
    /// How many names in all.
    count: usize,
}

/// Appends one JSON-encoded name to a page.
fn add(page: &mut String, count: &mut usize, encoded: &str) {
    if !page.is_empty() {
        page.push(',');
    }
    page.push_str(encoded);
    *count += 1;
}

impl Listing {
    fn new(pages: usize) -> Listing {
        let tricky = [
            "quote\"d",
            "back\\slash",
            "tab\there",
            "new\nline",
            "\u{1}\u{1f}ctl",
            "del\u{7f}",
            "/slash",
            "caf\u{e9}-\u{fc}",
            "\u{20ac}\u{2028}\u{2029}",
            "astral-\u{1f600}",
            "",
        ];
        let alphabet = "abcdefghijklmnopqrstuvwxyz0123456789._-".repeat(5);
        let mut count = 0;
        let pages = (0..pages)
            .map(|p| {
                let mut page = String::with_capacity(PAGE_BYTES + 256);
                if p == 0 {
                    for t in tricky {
                        add(&mut page, &mut count, &serde_json::to_string(t).unwrap());
                    }
                }
                let mut i = 0usize;
                while page.len() < PAGE_BYTES {
                    // Plain ASCII: its JSON is the name in quotes.
                    let head = format!("p{p:04}-n{i:05}-");
                    let len = 20 + (i * 37 + p * 11) % 109;
                    let from = i % 39;
                    let fill = &alphabet[from..from + len - head.len()];
                    add(&mut page, &mut count, &format!("\"{head}{fill}\""));
                    i += 1;
                }
                page
            })
            .collect();
        Listing { pages, count }
    }

    /// The expected `--json` output: every name in order, one compact JSON array (as
    /// `serde_json` writes it, which for strings is Python's `ensure_ascii=False` form),
    /// and a newline.
    fn expected_json(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.pages.iter().map(String::len).sum::<usize>() + 512);
        v.push(b'[');
        for (i, page) in self.pages.iter().enumerate() {
            if i > 0 {
                v.push(b',');
            }
            v.extend_from_slice(page.as_bytes());
        }
        v.extend_from_slice(b"]\n");
        v
    }
}

/// A loopback registry that serves only listings: `/v2/`, `/v2/<repo>/tags/list` and
/// `/v2/_catalog`, each as `Link`-chained pages (`?page=K`) of the same names, optionally
/// failing one page. HTTP/1.1 with keep-alive, a thread per connection; lives as long as
/// the test process.
struct Lister {
    host: String,
}

impl Lister {
    fn start(listing: Arc<Listing>, fail: Option<(usize, Failure)>) -> Lister {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let listing = listing.clone();
                thread::spawn(move || serve(conn, &listing.pages, fail));
            }
        });
        Lister { host }
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DXF_HOST".to_owned(), self.host.clone()),
            ("DXF_INSECURE".to_owned(), "1".to_owned()),
            ("DXF_RETRIES".to_owned(), "0".to_owned()),
        ]
    }
}

/// Answers the requests of one connection until it closes.
fn serve(conn: TcpStream, pages: &[String], fail: Option<(usize, Failure)>) {
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
        }
        let target = request.split(' ').nth(1).unwrap_or("").to_owned();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let page: usize = query
            .strip_prefix("page=")
            .and_then(|k| k.parse().ok())
            .unwrap_or(0);
        let key = match path {
            "/v2/" => {
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\nDocker-Distribution-Api-Version: registry/2.0\r\n\r\n{}";
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            "/v2/_catalog" => "repositories",
            p if p.starts_with("/v2/") && p.ends_with("/tags/list") => "tags",
            _ => {
                let head = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
        };
        match fail {
            Some((n, Failure::Status500)) if n == page => {
                let body = r#"{"errors":[{"code":"UNKNOWN","message":"page failed"}]}"#;
                let head = format!(
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            Some((n, Failure::Truncated)) if n == page => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"tags\":[\"a\",";
                let _ = writer.write_all(head.as_bytes());
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            _ => {}
        }
        let Some(names) = pages.get(page) else {
            let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            continue;
        };
        let body = format!("{{\"name\":\"big\",\"{key}\":[{names}]}}");
        let link = if page + 1 < pages.len() {
            format!("Link: <{path}?page={}>; rel=\"next\"\r\n", page + 1)
        } else {
            String::new()
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{link}\r\n",
            body.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// One big listing command: byte-correct output, peak RSS under the bound.
fn big_listing_stays_flat(args: &[&str]) {
    let listing = Arc::new(Listing::new(PAGES));
    let expected = listing.expected_json();
    assert!(expected.len() >= 40 << 20, "{} bytes", expected.len());
    let lister = Lister::start(listing.clone(), None);
    let run = measure(&lister.env(), args, Stdio::null(), Stdio::piped());
    assert_eq!(run.code, 0, "{args:?}: {}", run.summary());
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(run.stdout.len(), expected.len(), "{args:?}: output length");
    // Every name in order, each encoded as JSON: the same bytes.
    assert!(run.stdout == expected, "{args:?}: output differs");
    listing_was_flat(&format!("{args:?}: {} names", listing.count), &run);
}

/// Prints what a listing `run` took and checks its peak RSS against [`LIST_RSS_BOUND`].
#[track_caller]
fn listing_was_flat(what: &str, run: &Measured) {
    eprintln!(
        "{what}: {} MiB of output, peak RSS {} KiB, {} s",
        run.stdout.len() >> 20,
        run.peak_kib,
        run.seconds
    );
    assert!(
        run.peak_kib < LIST_RSS_BOUND,
        "{what}: peak RSS {} KiB for {} MiB of output (bound {LIST_RSS_BOUND} KiB)",
        run.peak_kib,
        run.stdout.len() >> 20
    );
}

#[test]
fn list_aliases_json_over_many_pages_stays_flat() {
    big_listing_stays_flat(&["list-aliases", "--json", "big"]);
}

#[test]
fn list_repos_json_over_many_pages_stays_flat() {
    big_listing_stays_flat(&["list-repos", "--json"]);
}

#[test]
fn list_aliases_over_many_pages_stays_flat() {
    let listing = Arc::new(Listing::new(PAGES));
    let lister = Lister::start(listing.clone(), None);
    let run = measure(
        &lister.env(),
        &["list-aliases", "big"],
        Stdio::null(),
        Stdio::piped(),
    );
    assert_eq!(run.code, 0, "{}", run.summary());
    // One line a name; the one with a newline in it prints as two (python-dxf's `print`).
    let lines = run.stdout.iter().filter(|b| **b == b'\n').count();
    assert_eq!(lines, listing.count + 1);
    listing_was_flat("list-aliases", &run);
}

/// A listing that fails on a late page prints nothing on stdout, one line on stderr, and
/// exits 1.
fn late_failure_prints_nothing(args: &[&str], failure: Failure) {
    let listing = Arc::new(Listing::new(40));
    let lister = Lister::start(listing, Some((37, failure)));
    let run = measure(&lister.env(), args, Stdio::null(), Stdio::piped());
    assert_eq!(run.code, 1, "{args:?} {failure:?}: {}", run.summary());
    assert!(
        run.stdout.is_empty(),
        "{args:?} {failure:?}: {}",
        run.summary()
    );
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "{args:?} {failure:?}: {}",
        run.stderr
    );
    assert!(run.stderr.starts_with("dxf: "), "{}", run.stderr);
    eprintln!("{args:?} {failure:?}: {}", run.stderr.trim_end());
}

#[test]
fn list_aliases_json_failing_late_prints_nothing() {
    late_failure_prints_nothing(&["list-aliases", "--json", "big"], Failure::Status500);
    late_failure_prints_nothing(&["list-aliases", "--json", "big"], Failure::Truncated);
}

#[test]
fn list_repos_json_failing_late_prints_nothing() {
    late_failure_prints_nothing(&["list-repos", "--json"], Failure::Status500);
    late_failure_prints_nothing(&["list-repos", "--json"], Failure::Truncated);
}

#[test]
fn json_listing_with_no_usable_tmpdir_fails_before_asking() {
    let listing = Arc::new(Listing::new(2));
    let lister = Lister::start(listing, None);
    for args in [
        &["list-aliases", "--json", "big"][..],
        &["list-repos", "--json"],
    ] {
        let mut env = lister.env();
        env.push(("TMPDIR".to_owned(), "/nonexistent/dxf-tmp".to_owned()));
        let run = measure(&env, args, Stdio::null(), Stdio::piped());
        assert_eq!(run.code, 1, "{args:?}: {}", run.summary());
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.summary());
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr
                .starts_with("dxf: temporary file in /nonexistent/dxf-tmp: "),
            "{}",
            run.stderr
        );
    }
}

/// Size of the big blob: 256 MiB; 64 MiB in a debug build, where hashing is slow (256 MiB
/// takes ~15 s per command there) — still twice [`BLOB_RSS_BOUND`].
const BLOB_LEN: u64 = if cfg!(debug_assertions) {
    64 << 20
} else {
    256 << 20
};

/// `sha256:<hex>` of a file, by coreutils' `sha256sum` (fast whatever the build profile).
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "sha256sum {}", path.display());
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split(' ').next().unwrap())
}

/// `dxf push-blob REPO -` with `blob` piped in (not the file itself, which dxf could
/// seek), measured; it must succeed and print `digest`.
fn push_from_stdin(env: &[(String, String)], repo: &str, blob: &Path, digest: &str) -> Measured {
    let mut cat = Command::new("cat")
        .arg(blob)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = Stdio::from(cat.stdout.take().unwrap());
    let push = measure(env, &["push-blob", repo, "-"], stdin, Stdio::piped());
    assert!(cat.wait().unwrap().success());
    assert_eq!(push.code, 0, "{}", push.summary());
    assert_eq!(String::from_utf8_lossy(&push.stdout), format!("{digest}\n"));
    eprintln!(
        "push-blob {repo} - ({} MiB): peak RSS {} KiB, {} s",
        BLOB_LEN >> 20,
        push.peak_kib,
        push.seconds
    );
    push
}

/// A blob of [`BLOB_LEN`] random bytes in `dir`, and its digest.
fn random_blob(dir: &Path) -> (std::path::PathBuf, String) {
    let blob = dir.join("blob");
    let mut random = File::open("/dev/urandom").unwrap().take(BLOB_LEN);
    std::io::copy(&mut random, &mut File::create(&blob).unwrap()).unwrap();
    let digest = sha256sum(&blob);
    (blob, digest)
}

/// A registry that asks for chunks of at least 1 GiB (`OCI-Chunk-Min-Length`, added by
/// the fault proxy): a stream push must not buffer that; it sends one streamed PATCH.
#[test]
fn a_stream_push_to_a_registry_with_a_huge_chunk_minimum_stays_flat() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    proxy.add(Rule::on(
        "POST",
        "/blobs/uploads/",
        Fault::SetHeader("OCI-Chunk-Min-Length".into(), "1073741824".into()),
    ));
    let env = vec![
        ("DXF_HOST".to_owned(), proxy.host()),
        ("DXF_INSECURE".to_owned(), "1".to_owned()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (blob, digest) = random_blob(dir.path());
    let push = push_from_stdin(&env, "mem/min", &blob, &digest);
    assert!(
        push.peak_kib < BLOB_RSS_BOUND,
        "push-blob - under OCI-Chunk-Min-Length: peak RSS {} KiB (bound {BLOB_RSS_BOUND} KiB)",
        push.peak_kib
    );
}

#[test]
fn big_blob_push_from_stdin_and_pull_stay_flat() {
    let reg = TestRegistry::start(Mode::Plain);
    let env = reg.dxf_env();
    let dir = tempfile::tempdir().unwrap();
    let (blob, digest) = random_blob(dir.path());
    let push = push_from_stdin(&env, "mem/blob", &blob, &digest);

    let pulled = dir.path().join("pulled");
    let stdout = Stdio::from(File::create(&pulled).unwrap());
    let pull = measure(
        &env,
        &["pull-blob", "mem/blob", &digest],
        Stdio::null(),
        stdout,
    );
    assert_eq!(pull.code, 0, "{}", pull.summary());
    assert_eq!(std::fs::metadata(&pulled).unwrap().len(), BLOB_LEN);
    assert_eq!(sha256sum(&pulled), digest);
    eprintln!(
        "pull-blob ({} MiB): peak RSS {} KiB, {} s",
        BLOB_LEN >> 20,
        pull.peak_kib,
        pull.seconds
    );

    assert!(
        push.peak_kib < BLOB_RSS_BOUND,
        "push-blob -: peak RSS {} KiB (bound {BLOB_RSS_BOUND} KiB)",
        push.peak_kib
    );
    assert!(
        pull.peak_kib < BLOB_RSS_BOUND,
        "pull-blob: peak RSS {} KiB (bound {BLOB_RSS_BOUND} KiB)",
        pull.peak_kib
    );
}
