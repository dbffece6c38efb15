//! The `dxf` CLI's transfer additions against a real registry:
//!
//! - `push-blob REPO - [@ALIAS]` streams standard input (digest = sha256 of the data, the
//!   blob pulls back equal, the alias is set; a file named `-` is given by path);
//! - `pull-blob --output FILE` writes through a temporary name renamed into place once
//!   verified (no temporary file left; on any failure no file, an existing one untouched);
//! - `pull-blob --output DIR` writes one file per blob named by its hex digest, several at
//!   a time (`DXF_CONCURRENCY`); a failure stops the others and leaves no temporary files;
//! - `pull-blob --verify-first` / `DXF_VERIFY_FIRST=1` keeps a corrupted blob off stdout
//!   entirely, while the default keeps python-dxf's streaming behaviour;
//! - `DXF_CONCURRENCY` is validated where it is used, and only there.
//!
//! Corruption and delays come from the [`FaultProxy`] between `dxf` and a plain registry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::Path;
use std::time::Duration;

use dxf_tests::cli::{dxf, dxf_with, random_bytes, sha256, Run};
use dxf_tests::fault_proxy::{Fault, FaultProxy, Rule};
use dxf_tests::{Mode, TestRegistry};

/// A digest nobody pushed.
const ABSENT: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

type Env<'a> = &'a [(&'a str, Option<&'a str>)];

fn write_file(dir: &Path, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    fs::write(&path, data).unwrap();
    path.display().to_string()
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// No temporary `--output` file anywhere in `dir`.
#[track_caller]
fn no_partials(dir: &Path) {
    let left: Vec<String> = names(dir)
        .into_iter()
        .filter(|n| n.contains(".dxf-partial-"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

/// Exit `code`, nothing on stdout, one line `dxf: …` on stderr containing `needle`.
#[track_caller]
fn failed(r: &Run, code: i32, needle: &str) {
    assert_eq!(r.code, code, "{r:#?}");
    assert!(r.stdout.is_empty(), "nothing on stdout: {r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {r:#?}");
    assert!(r.stderr.starts_with("dxf: "), "{r:#?}");
    assert!(!r.stderr.contains("panicked"), "{r:#?}");
    assert!(
        r.stderr.to_lowercase().contains(&needle.to_lowercase()),
        "{needle:?} not in {:?}",
        r.stderr
    );
}

/// `dxf args` through `proxy`, with `env`, and no retries (a truncated body would be
/// resumed otherwise: these faults must reach the user).
fn via(reg: &TestRegistry, proxy: &FaultProxy, args: &[&str], env: Env<'_>) -> Run {
    let host = proxy.host();
    let mut all = vec![
        ("DXF_HOST", Some(host.as_str())),
        ("DXF_RETRIES", Some("0")),
    ];
    all.extend_from_slice(env);
    dxf_with(reg, args, &all, None)
}

/// Pushes `data` as a file and returns its digest.
fn push(reg: &TestRegistry, repo: &str, dir: &Path, data: &[u8]) -> String {
    let d = sha256(data);
    let file = write_file(dir, hex(&d), data);
    let r = dxf(reg, &["push-blob", repo, &file]).ok();
    assert_eq!(r.out(), format!("{d}\n"));
    fs::remove_file(file).unwrap();
    d
}

fn stdin_push(mode: Mode) {
    let reg = TestRegistry::start(mode);
    // More than one chunk (8 MiB): several PATCHes, hashed while sending.
    let data = random_bytes(9 << 20 | 12345, 71);
    let d = sha256(&data);
    let r = dxf_with(
        &reg,
        &["push-blob", "stream/in", "-", "@piped"],
        &[],
        Some(&data),
    )
    .ok();
    assert_eq!(r.out(), format!("{d}\n"), "{r:#?}");
    assert!(dxf(&reg, &["pull-blob", "stream/in", &d]).ok().stdout == data);
    assert_eq!(
        dxf(&reg, &["get-alias", "stream/in", "piped"]).ok().out(),
        format!("{d}\n")
    );
    assert!(dxf(&reg, &["pull-blob", "stream/in", "@piped"]).ok().stdout == data);
    // Pushed again: uploaded again (no digest to look for), same digest.
    let again = dxf_with(&reg, &["push-blob", "stream/in", "-"], &[], Some(&data)).ok();
    assert_eq!(again.out(), format!("{d}\n"));
    // Empty input: the empty blob.
    let empty = dxf_with(&reg, &["push-blob", "stream/in", "-"], &[], Some(b"")).ok();
    assert_eq!(empty.out(), format!("{}\n", sha256(b"")));
    assert!(dxf(&reg, &["pull-blob", "stream/in", &sha256(b"")])
        .ok()
        .stdout
        .is_empty());
    // Progress on stderr, labelled (the digest is not known until the end).
    let small = random_bytes(100_000, 72);
    let r = dxf_with(
        &reg,
        &["push-blob", "stream/in", "-"],
        &[("DXF_PROGRESS", Some("1"))],
        Some(&small),
    )
    .ok();
    assert_eq!(r.out(), format!("{}\n", sha256(&small)));
    assert!(r.stderr.contains("standard input"), "{r:#?}");
    // A file named `-` is given by a path: it is the file, not stdin.
    let dir = tempfile::tempdir().unwrap();
    let file_data = random_bytes(5000, 73);
    let dash = write_file(dir.path(), "-", &file_data);
    let r = dxf_with(
        &reg,
        &["push-blob", "stream/in", &dash],
        &[],
        Some(b"not this"),
    )
    .ok();
    assert_eq!(r.out(), format!("{}\n", sha256(&file_data)));
}

#[test]
fn stdin_push_plain() {
    stdin_push(Mode::Plain);
}

#[test]
fn stdin_push_token_auth() {
    stdin_push(Mode::Token);
}

#[test]
fn stdin_push_argument_rules() {
    let reg = TestRegistry::start(Mode::Plain);
    // python-dxf's alias check still applies.
    let r = dxf_with(&reg, &["push-blob", "s/r", "-", "noat"], &[], Some(b"x"));
    failed(&r, 2, "invalid alias");
    // Standard input only on its own.
    let dir = tempfile::tempdir().unwrap();
    let f = write_file(dir.path(), "f", b"f");
    for args in [
        &["push-blob", "--jobs", "2", "s/r", "-", &f][..],
        &["push-blob", "--jobs", "s/r", &f, "-", "@a"],
    ] {
        let r = dxf_with(&reg, args, &[], Some(b"x"));
        failed(&r, 2, "standard input");
    }
    // `--jobs` alone with `-` and an alias: one stream.
    let r = dxf_with(
        &reg,
        &["push-blob", "--jobs", "s/r", "-", "@one"],
        &[],
        Some(b"one"),
    )
    .ok();
    assert_eq!(r.out(), format!("{}\n", sha256(b"one")));
    assert_eq!(
        dxf(&reg, &["get-alias", "s/r", "one"]).ok().out(),
        format!("{}\n", sha256(b"one"))
    );
}

#[test]
fn output_file_is_complete_and_alone() {
    let reg = TestRegistry::start(Mode::Plain);
    let work = tempfile::tempdir().unwrap();
    let a = random_bytes(3 << 20, 81);
    let b = random_bytes(70_000, 82);
    let da = push(&reg, "o/f", work.path(), &a);
    let db = push(&reg, "o/f", work.path(), &b);
    dxf(&reg, &["set-alias", "o/f", "both", &da, &db]).ok();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("a.bin");
    let p = path.to_str().unwrap();

    // One blob.
    let r = dxf(&reg, &["pull-blob", "o/f", &da, "-o", p]).ok();
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(fs::read(&path).unwrap() == a);
    assert_eq!(names(out.path()), vec!["a.bin"]);

    // An existing file is replaced; several blobs are concatenated, like stdout.
    let r = dxf(&reg, &["pull-blob", "o/f", "@both", "--output", p]).ok();
    assert!(r.stdout.is_empty());
    let mut ab = a.clone();
    ab.extend_from_slice(&b);
    assert!(fs::read(&path).unwrap() == ab);
    assert!(dxf(&reg, &["pull-blob", "o/f", "@both"]).ok().stdout == ab);
    assert_eq!(names(out.path()), vec!["a.bin"]);

    // DXF_BLOB_INFO: the lines go to stdout (the bytes do not).
    let r = dxf_with(
        &reg,
        &["pull-blob", "o/f", &db, &da, "-o", p],
        &[("DXF_BLOB_INFO", Some("1"))],
        None,
    )
    .ok();
    assert_eq!(
        r.out(),
        format!("{db} {}\n{da} {}\n", b.len(), a.len()),
        "{r:#?}"
    );
    let mut ba = b.clone();
    ba.extend_from_slice(&a);
    assert!(fs::read(&path).unwrap() == ba);

    // A manifest on stdin.
    let manifest = dxf(&reg, &["get-manifest", "o/f", "both"]).ok().stdout;
    let r = dxf_with(&reg, &["pull-blob", "o/f", "-o", p], &[], Some(&manifest)).ok();
    assert!(r.stdout.is_empty());
    assert!(fs::read(&path).unwrap() == ab);
    assert_eq!(names(out.path()), vec!["a.bin"]);
}

#[test]
fn output_directory_gets_one_file_per_blob() {
    let reg = TestRegistry::start(Mode::Plain);
    let work = tempfile::tempdir().unwrap();
    let blobs: Vec<Vec<u8>> = (0..7u64)
        .map(|i| random_bytes(((i as usize) * 700_001) % (3 << 20) + 1, 90 + i))
        .collect();
    let digests: Vec<String> = blobs
        .iter()
        .map(|b| push(&reg, "o/dir", work.path(), b))
        .collect();
    let mut alias_args = vec!["set-alias", "o/dir", "many"];
    alias_args.extend(digests.iter().map(String::as_str));
    dxf(&reg, &alias_args).ok();

    // An alias, 3 at a time.
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let r = dxf_with(
        &reg,
        &["pull-blob", "o/dir", "@many", "-o", o],
        &[("DXF_CONCURRENCY", Some("3"))],
        None,
    )
    .ok();
    assert!(r.stdout.is_empty(), "{r:#?}");
    let mut expected: Vec<String> = digests.iter().map(|d| hex(d).to_owned()).collect();
    expected.sort();
    assert_eq!(names(out.path()), expected);
    for (d, data) in digests.iter().zip(&blobs) {
        assert!(fs::read(out.path().join(hex(d))).unwrap() == *data, "{d}");
    }

    // Digests given one by one (one twice), the default concurrency, DXF_BLOB_INFO
    // lines in argument order; files already there are replaced.
    let some = [&digests[4], &digests[0], &digests[4], &digests[6]];
    fs::write(out.path().join(hex(some[0])), b"stale").unwrap();
    let mut args = vec!["pull-blob", "o/dir"];
    args.extend(some.iter().map(|d| d.as_str()));
    args.extend(["--output", o]);
    let r = dxf_with(&reg, &args, &[("DXF_BLOB_INFO", Some("1"))], None).ok();
    let info: String = some
        .iter()
        .map(|d| {
            let i = digests.iter().position(|x| x == *d).unwrap();
            format!("{d} {}\n", blobs[i].len())
        })
        .collect();
    assert_eq!(r.out(), info);
    assert!(fs::read(out.path().join(hex(some[0]))).unwrap() == blobs[4]);
    assert_eq!(names(out.path()), expected);

    // One blob into a directory: the same rule.
    let one = tempfile::tempdir().unwrap();
    let r = dxf(
        &reg,
        &[
            "pull-blob",
            "o/dir",
            &digests[2],
            "-o",
            one.path().to_str().unwrap(),
        ],
    )
    .ok();
    assert!(r.stdout.is_empty());
    assert_eq!(names(one.path()), vec![hex(&digests[2]).to_owned()]);
    assert!(fs::read(one.path().join(hex(&digests[2]))).unwrap() == blobs[2]);
}

#[test]
fn failed_output_pull_leaves_no_file() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(1 << 20, 101);
    let d = push(&reg, "o/bad", work.path(), &data);
    let other = random_bytes(50_000, 102);
    let d2 = push(&reg, "o/bad", work.path(), &other);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("out.bin");
    let p = path.to_str().unwrap();

    // Not there: exit 2, no file.
    let r = dxf(&reg, &["pull-blob", "o/bad", ABSENT, "-o", p]);
    failed(&r, 2, "404 Not Found");
    assert!(names(out.path()).is_empty());
    // The second of two not there: the first's bytes are not left either.
    let r = dxf(&reg, &["pull-blob", "o/bad", &d, ABSENT, "-o", p]);
    failed(&r, 2, ABSENT);
    assert!(names(out.path()).is_empty());
    // An unknown alias.
    let r = dxf(&reg, &["pull-blob", "o/bad", "@nope", "-o", p]);
    failed(&r, 2, "@nope");
    assert!(names(out.path()).is_empty());

    // Corrupted or truncated in transit: exit 1, no file; an existing one untouched.
    let len = data.len() as u64;
    for fault in [Fault::CorruptByte(0), Fault::CorruptByte(len - 1)] {
        proxy.add(Rule::on("GET", "/blobs/", fault));
        let r = via(&reg, &proxy, &["pull-blob", "o/bad", &d, "-o", p], &[]);
        failed(&r, 1, "digest mismatch");
        assert!(names(out.path()).is_empty(), "{:?}", names(out.path()));
    }
    fs::write(&path, b"precious").unwrap();
    for fault in [Fault::CorruptByte(len / 2), Fault::truncate(len / 2)] {
        // The second blob, after the first went into the temporary file.
        proxy.add(Rule::on("GET", &format!("/blobs/{d}"), fault));
        let r = via(&reg, &proxy, &["pull-blob", "o/bad", &d2, &d, "-o", p], &[]);
        failed(&r, 1, "");
        assert_eq!(fs::read(&path).unwrap(), b"precious");
        assert_eq!(names(out.path()), vec!["out.bin"]);
    }

    // A directory that does not exist: an error naming the path, nothing sent.
    let missing = out.path().join("no/such/file");
    let r = dxf(
        &reg,
        &["pull-blob", "o/bad", &d, "-o", missing.to_str().unwrap()],
    );
    failed(&r, 1, missing.to_str().unwrap());

    // Into a directory: the corrupted blob's file is absent, no temporary files.
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().to_str().unwrap();
    proxy.add(Rule::on(
        "GET",
        &format!("/blobs/{d}"),
        Fault::CorruptByte(len / 3),
    ));
    let r = via(&reg, &proxy, &["pull-blob", "o/bad", &d2, &d, "-o", o], &[]);
    failed(&r, 1, &format!("{d}: digest mismatch"));
    no_partials(dir.path());
    assert!(!dir.path().join(hex(&d)).exists());
    let r = dxf(&reg, &["pull-blob", "o/bad", &d, ABSENT, &d2, "-o", o]);
    failed(&r, 2, ABSENT);
    no_partials(dir.path());
}

#[test]
fn a_failed_transfer_stops_the_others() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let work = tempfile::tempdir().unwrap();
    let slow = random_bytes(2 << 20, 111);
    let ds = push(&reg, "o/stop", work.path(), &slow);
    // The slow blob's response is held back; meanwhile the absent one fails (404), and
    // the slow one is stopped before its first byte is written: no file, no temporary
    // file, and the error is the real failure, not the stop.
    proxy.add(Rule::on(
        "GET",
        &format!("/blobs/{ds}"),
        Fault::Delay(Duration::from_secs(2)),
    ));
    let dir = tempfile::tempdir().unwrap();
    let r = via(
        &reg,
        &proxy,
        &[
            "pull-blob",
            "o/stop",
            &ds,
            ABSENT,
            "-o",
            dir.path().to_str().unwrap(),
        ],
        &[("DXF_CONCURRENCY", Some("2"))],
    );
    failed(&r, 2, ABSENT);
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn verify_first_keeps_bad_blobs_off_stdout() {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(600_000, 121);
    let d = sha256(&data);
    let first = random_bytes(40_000, 122);
    let df = sha256(&first);
    push(&reg, "v/f", work.path(), &data);
    push(&reg, "v/f", work.path(), &first);
    dxf(&reg, &["set-alias", "v/f", "pair", &df, &d]).ok();
    let len = data.len() as u64;

    // Good blobs: the same bytes as streaming, with DXF_BLOB_INFO and DXF_CHUNK_SIZE.
    let r = dxf(&reg, &["pull-blob", "--verify-first", "v/f", &d]).ok();
    assert!(r.stdout == data);
    let r = dxf_with(
        &reg,
        &["pull-blob", "v/f", "@pair"],
        &[
            ("DXF_VERIFY_FIRST", Some("1")),
            ("DXF_BLOB_INFO", Some("1")),
            ("DXF_CHUNK_SIZE", Some("1000")),
        ],
        None,
    )
    .ok();
    let streamed = dxf_with(
        &reg,
        &["pull-blob", "v/f", "@pair"],
        &[("DXF_BLOB_INFO", Some("1"))],
        None,
    )
    .ok();
    assert!(r.stdout == streamed.stdout);
    let mut expected = format!("{df} {}\n", first.len()).into_bytes();
    expected.extend_from_slice(&first);
    expected.extend_from_slice(format!("{d} {}\n", data.len()).as_bytes());
    expected.extend_from_slice(&data);
    assert!(r.stdout == expected);

    // Corrupted: nothing on stdout, one line, exit 1 — by flag or by environment.
    for (args, env) in [
        (&["pull-blob", "--verify-first", "v/f", &d][..], &[][..]),
        (
            &["pull-blob", "v/f", &d],
            &[("DXF_VERIFY_FIRST", Some("1"))],
        ),
    ] {
        for at in [0, len / 2, len - 1] {
            proxy.add(Rule::on("GET", "/blobs/", Fault::CorruptByte(at)));
            let r = via(&reg, &proxy, args, env);
            failed(&r, 1, "digest mismatch");
        }
        proxy.add(Rule::on("GET", "/blobs/", Fault::truncate(len / 2)));
        let r = via(&reg, &proxy, args, env);
        failed(&r, 1, "");
    }
    // Two blobs, the second corrupted: the first (verified) is out, nothing of the second.
    proxy.add(Rule::on(
        "GET",
        &format!("/blobs/{d}"),
        Fault::CorruptByte(len / 2),
    ));
    let r = via(
        &reg,
        &proxy,
        &["pull-blob", "--verify-first", "v/f", "@pair"],
        &[],
    );
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stdout == first, "{} bytes out", r.stdout.len());
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");

    // Without it, python-dxf's behaviour: the (corrupted) bytes stream out, then the
    // error and exit 1.
    proxy.add(Rule::on("GET", "/blobs/", Fault::CorruptByte(len / 2)));
    let r = via(&reg, &proxy, &["pull-blob", "v/f", &d], &[]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert_eq!(r.stdout.len(), data.len());
    assert!(r.stdout != data);
    assert!(r.stderr.contains("digest mismatch"), "{r:#?}");
    // DXF_VERIFY_FIRST is a flag: only `1` turns it on.
    proxy.add(Rule::on("GET", "/blobs/", Fault::CorruptByte(len / 2)));
    let r = via(
        &reg,
        &proxy,
        &["pull-blob", "v/f", &d],
        &[("DXF_VERIFY_FIRST", Some("yes"))],
    );
    assert_eq!((r.code, r.stdout.len()), (1, data.len()));
}

#[test]
fn concurrency_setting() {
    let reg = TestRegistry::start(Mode::Plain);
    let work = tempfile::tempdir().unwrap();
    let datas: Vec<Vec<u8>> = (0..5u64).map(|i| random_bytes(30_000, 130 + i)).collect();
    let files: Vec<String> = datas
        .iter()
        .enumerate()
        .map(|(i, b)| write_file(work.path(), &format!("f{i}"), b))
        .collect();
    let digests: String = datas.iter().map(|b| format!("{}\n", sha256(b))).collect();
    let mut push_args = vec!["push-blob", "--jobs", "c/r"];
    push_args.extend(files.iter().map(String::as_str));
    push_args.push("@all");
    let dir = tempfile::tempdir().unwrap();
    let d0 = sha256(&datas[0]);
    let pull_dir = ["pull-blob", "c/r", &d0, "-o", dir.path().to_str().unwrap()];

    for bad in ["0", "abc", "-1", "65", "1.5"] {
        let env = [("DXF_CONCURRENCY", Some(bad))];
        let r = dxf_with(&reg, &push_args, &env, None);
        failed(&r, 1, "DXF_CONCURRENCY must be a positive integer");
        let r = dxf_with(&reg, &pull_dir, &env, None);
        failed(&r, 1, "DXF_CONCURRENCY must be a positive integer");
        assert!(names(dir.path()).is_empty());
    }
    // `--jobs` without N: DXF_CONCURRENCY (or 4) at a time, digests in order.
    for env in [&[][..], &[("DXF_CONCURRENCY", Some("2"))]] {
        let r = dxf_with(&reg, &push_args, env, None).ok();
        assert_eq!(r.out(), digests);
    }
    assert_eq!(dxf(&reg, &["get-alias", "c/r", "all"]).ok().out(), digests);
    // Where it is not used, a stray value changes nothing (python-dxf's invocations).
    let stray = [("DXF_CONCURRENCY", Some("abc"))];
    let r = dxf_with(&reg, &["push-blob", "c/r", &files[0]], &stray, None).ok();
    assert_eq!(r.out(), format!("{d0}\n"));
    let r = dxf_with(
        &reg,
        &["push-blob", "--jobs", "3", "c/r", &files[0], &files[1]],
        &stray,
        None,
    )
    .ok();
    assert_eq!(r.out(), format!("{d0}\n{}\n", sha256(&datas[1])));
    let r = dxf_with(&reg, &["pull-blob", "c/r", &d0], &stray, None).ok();
    assert!(r.stdout == datas[0]);
    let file = dir.path().join("one");
    dxf_with(
        &reg,
        &["pull-blob", "c/r", &d0, "-o", file.to_str().unwrap()],
        &stray,
        None,
    )
    .ok();
    assert!(fs::read(&file).unwrap() == datas[0]);
}
