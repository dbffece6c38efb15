//! The CLI's blob-location cache on the real registry: a file pushed again to another
//! repository is mounted (no blob byte sent, in all three modes), `push`, `copy --to` and
//! `set-alias --oci` mount too; a stale or refused location costs one request and is
//! forgotten; `DXF_CACHE=0` turns it off; a corrupt cache file is ignored and replaced;
//! processes sharing the cache keep a whole file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use dxf_tests::cli::{dxf_spawn, dxf_with, finish, random_bytes, sha256, Files, Run};
use dxf_tests::{Mode, TestRegistry};

/// `dxf --debug ARGS` with the cache in `cache`, and `env`.
fn traced(reg: &TestRegistry, cache: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
    let dir = cache.display().to_string();
    let mut all = vec![
        ("DXF_CACHE_DIR", Some(dir.as_str())),
        ("DXF_DEBUG", Some("1")),
    ];
    all.extend_from_slice(env);
    dxf_with(reg, args, &all, None).ok()
}

/// Blob bytes the trace shows going out: the sizes of request bodies (a token request's
/// form aside).
fn bytes_sent(trace: &str) -> u64 {
    trace
        .lines()
        .filter_map(|l| l.strip_prefix("dxf debug: > "))
        .filter(|l| !l.contains("(token request)"))
        .filter_map(|l| {
            let (_, rest) = l.split_once(" (")?;
            rest.split_once(" bytes)")?.0.parse::<u64>().ok()
        })
        .sum()
}

/// The trace's mount requests and the status each got.
fn mounts(trace: &str) -> Vec<String> {
    let lines: Vec<&str> = trace.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("dxf debug: > POST ") && l.contains("mount="))
        .map(|(i, l)| {
            let from = l
                .split("from=")
                .nth(1)
                .unwrap_or("")
                .split([' ', '&'])
                .next();
            let status = lines[i + 1..]
                .iter()
                .find_map(|l| l.strip_prefix("dxf debug: < "))
                .and_then(|s| s.split(' ').next())
                .unwrap_or("?");
            format!("{} {status}", from.unwrap_or(""))
        })
        .collect()
}

/// The cache file's (repository, digest) pairs.
fn cached(cache: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(cache.join("blob-locations.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], 1);
    v["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["repository"].as_str().unwrap().to_owned(),
                e["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pushed_again_is_mounted(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let cache = tempfile::tempdir().unwrap();
    let files = Files::new();
    let data = random_bytes((3 << 20) + 7, 41);
    let file = files.write("data", &data);
    let first = traced(&reg, cache.path(), &["push-blob", "sets/one", &file], &[]);
    assert!(bytes_sent(&first.stderr) >= data.len() as u64);
    let digest = first.out().trim().to_owned();
    assert_eq!(digest, sha256(&data));

    let second = traced(&reg, cache.path(), &["push-blob", "sets/two", &file], &[]);
    assert_eq!(second.out().trim(), digest);
    assert_eq!(
        mounts(&second.stderr),
        ["sets%2Fone 201"],
        "{}",
        second.stderr
    );
    assert_eq!(bytes_sent(&second.stderr), 0, "{}", second.stderr);
    let pulled = dxf_with(&reg, &["pull-blob", "sets/two", &digest], &[], None).ok();
    assert!(pulled.stdout == data);
    let pairs = cached(cache.path());
    assert!(
        pairs.contains(&("sets/one".into(), digest.clone())),
        "{pairs:?}"
    );
    assert!(pairs.contains(&("sets/two".into(), digest)), "{pairs:?}");
}

#[test]
fn pushed_again_is_mounted_plain() {
    pushed_again_is_mounted(Mode::Plain);
}

#[test]
fn pushed_again_is_mounted_basic() {
    pushed_again_is_mounted(Mode::Basic);
}

#[test]
fn pushed_again_is_mounted_token() {
    pushed_again_is_mounted(Mode::Token);
}

#[test]
fn a_stale_location_costs_one_request_and_is_forgotten() {
    let reg = TestRegistry::start(Mode::Plain);
    let cache = tempfile::tempdir().unwrap();
    let files = Files::new();
    let data = random_bytes(100_000, 42);
    let file = files.write("data", &data);
    let digest = traced(&reg, cache.path(), &["push-blob", "kept", &file], &[])
        .out()
        .trim()
        .to_owned();
    // Deleted where the cache saw it, by another client (the cache does not know).
    dxf_with(
        &reg,
        &["del-blob", "kept", &digest],
        &[("DXF_CACHE", Some("0"))],
        None,
    )
    .ok();
    let again = traced(&reg, cache.path(), &["push-blob", "other", &file], &[]);
    // distribution opens an upload session instead (202): the blob goes into it.
    assert_eq!(mounts(&again.stderr), ["kept 202"], "{}", again.stderr);
    let posts = again.stderr.matches("dxf debug: > POST ").count();
    assert_eq!(
        posts, 1,
        "the mount's session is the upload's: {}",
        again.stderr
    );
    assert_eq!(bytes_sent(&again.stderr), data.len() as u64);
    assert_eq!(cached(cache.path()), [("other".to_owned(), digest.clone())]);
    let pulled = dxf_with(&reg, &["pull-blob", "other", &digest], &[], None).ok();
    assert!(pulled.stdout == data);
}

#[test]
fn dxf_cache_0_turns_it_off_and_a_corrupt_file_is_replaced() {
    let reg = TestRegistry::start(Mode::Plain);
    let cache = tempfile::tempdir().unwrap();
    let files = Files::new();
    let data = random_bytes(50_000, 43);
    let file = files.write("data", &data);
    let off = [("DXF_CACHE", Some("0"))];
    traced(&reg, cache.path(), &["push-blob", "a", &file], &off);
    let second = traced(&reg, cache.path(), &["push-blob", "b", &file], &off);
    assert!(mounts(&second.stderr).is_empty());
    assert_eq!(bytes_sent(&second.stderr), data.len() as u64);
    assert!(!cache.path().join("blob-locations.json").exists());

    std::fs::write(
        cache.path().join("blob-locations.json"),
        b"{\"version\":1,[[[",
    )
    .unwrap();
    let third = traced(&reg, cache.path(), &["push-blob", "c", &file], &[]);
    assert!(
        mounts(&third.stderr).is_empty(),
        "a corrupt file is no cache"
    );
    assert_eq!(cached(cache.path()), [("c".to_owned(), sha256(&data))]);
    // A cache directory that cannot be made fails nothing.
    let blocker = cache.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let unusable = blocker.join("dxf").display().to_string();
    let run = dxf_with(
        &reg,
        &["push-blob", "d", &file],
        &[("DXF_CACHE_DIR", Some(unusable.as_str()))],
        None,
    )
    .ok();
    assert_eq!(run.out().trim(), sha256(&data));
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn processes_sharing_the_cache_keep_a_whole_file() {
    let reg = TestRegistry::start(Mode::Plain);
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().display().to_string();
    let files = Files::new();
    let mut digests = Vec::new();
    let children: Vec<_> = (0..6)
        .map(|i| {
            let data = random_bytes(20_000 + i, 50 + i as u64);
            digests.push(sha256(&data));
            let file = files.write(&format!("f{i}"), &data);
            dxf_spawn(
                &reg,
                &["push-blob", &format!("many/r{i}"), &file],
                &[("DXF_CACHE_DIR", Some(dir.as_str()))],
            )
        })
        .collect();
    for child in children {
        finish(child).ok();
    }
    let pairs = cached(cache.path());
    for (i, d) in digests.iter().enumerate() {
        assert!(
            pairs.contains(&(format!("many/r{i}"), d.clone())),
            "{i}: {pairs:?}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_second_copy_to_another_repository_of_the_destination_mounts() {
    let src = TestRegistry::start(Mode::Basic);
    let dst = TestRegistry::start(Mode::Token);
    let cache = tempfile::tempdir().unwrap();
    let files = Files::new();
    let layers: Vec<String> = (0..3)
        .map(|i| files.write(&format!("l{i}"), &random_bytes(300_000 + i, 60 + i as u64)))
        .collect();
    let mut push = vec!["push", "img/src:v1"];
    push.extend(layers.iter().map(String::as_str));
    let off = [("DXF_CACHE", Some("0"))];
    let digest = dxf_with(&src, &push, &off, None).ok().out();
    let (user, password) = dst.credentials().unwrap();
    let ca = dst.ca_pem_path().unwrap().display().to_string();
    let to = dst.host();
    let env = [
        ("DXF_TO_USERNAME", Some(user.as_str())),
        ("DXF_TO_PASSWORD", Some(password.as_str())),
        ("DXF_TO_TLSVERIFY", Some(ca.as_str())),
    ];
    let first = traced(
        &src,
        cache.path(),
        &["copy", "--to", &to, "img/src:v1", "mirror/one"],
        &env,
    );
    assert_eq!(first.out(), digest);
    assert!(mounts(&first.stderr).is_empty());
    let sent_first = bytes_sent(&first.stderr);
    assert!(sent_first > 900_000, "{sent_first}");

    let second = traced(
        &src,
        cache.path(),
        &[
            "copy",
            "--jobs",
            "1",
            "--to",
            &to,
            "img/src:v1",
            "mirror/two",
        ],
        &env,
    );
    assert_eq!(second.out(), digest);
    // One blob at a time: the trace pairs each mount with its answer.
    let m = mounts(&second.stderr);
    // Three layers and the config, each mounted from where the first copy put it.
    assert_eq!(m.len(), 4, "{m:?}");
    assert!(m.iter().all(|m| m == "mirror%2Fone 201"), "{m:?}");
    assert!(
        bytes_sent(&second.stderr) < 10_000,
        "only manifests go: {}",
        second.stderr
    );
    // The copy reads back whole from the second repository.
    let pull = dxf_with(
        &dst,
        &[
            "pull",
            "mirror/two:v1",
            "-o",
            &files.path("out").display().to_string(),
        ],
        &[],
        None,
    );
    pull.ok();
    for (i, layer) in layers.iter().enumerate() {
        let back = std::fs::read(files.path("out").join(format!("l{i}"))).unwrap();
        assert_eq!(back, std::fs::read(layer).unwrap());
    }
}
