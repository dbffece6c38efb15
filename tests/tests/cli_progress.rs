//! The `dxf` CLI's progress bars for concurrent transfers against a real registry:
//! `push-blob --jobs` and `pull-blob --output DIR` draw one bar per blob (labelled with
//! its digest prefix) above a `total` bar, on stderr only, when `DXF_PROGRESS=1`; with
//! `DXF_PROGRESS=0` nothing is drawn.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;

use dxf_tests::cli::{dxf_with, random_bytes, sha256, Run};
use dxf_tests::{Mode, TestRegistry};

/// The bar label of `digest`: `sha256:` and 12 hex digits.
fn label(digest: &str) -> &str {
    &digest[..19]
}

#[track_caller]
fn bars_for(r: &Run, digests: &[&str]) {
    for d in digests {
        assert!(r.stderr.contains(label(d)), "{d} not in {:?}", r.stderr);
    }
    assert!(r.stderr.contains("total"), "no total in {:?}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{r:#?}");
}

#[test]
fn concurrent_transfers_draw_a_bar_each_and_a_total() {
    let reg = TestRegistry::start(Mode::Plain);
    let work = tempfile::tempdir().unwrap();
    let a = random_bytes(2 << 20, 91);
    let b = random_bytes(300_000, 92);
    let (da, db) = (sha256(&a), sha256(&b));
    let pa = work.path().join("a");
    let pb = work.path().join("b");
    fs::write(&pa, &a).unwrap();
    fs::write(&pb, &b).unwrap();
    let (pa, pb) = (pa.to_str().unwrap(), pb.to_str().unwrap());
    let on = [("DXF_PROGRESS", Some("1")), ("DXF_CONCURRENCY", Some("2"))];
    let off = [("DXF_PROGRESS", Some("0")), ("DXF_CONCURRENCY", Some("2"))];

    // Push: stdout is exactly the digests, in argument order.
    let r = dxf_with(
        &reg,
        &["push-blob", "--jobs", "2", "prog/m", pa, pb],
        &on,
        None,
    )
    .ok();
    assert_eq!(r.out(), format!("{da}\n{db}\n"), "{r:#?}");
    bars_for(&r, &[&da, &db]);

    // Pull into a directory, two at a time: nothing on stdout.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let r = dxf_with(
        &reg,
        &["pull-blob", "prog/m", &da, &db, "-o", dir],
        &on,
        None,
    )
    .ok();
    assert!(r.stdout.is_empty(), "{r:#?}");
    bars_for(&r, &[&da, &db]);
    assert!(fs::read(out.path().join(&da[7..])).unwrap() == a);
    assert!(fs::read(out.path().join(&db[7..])).unwrap() == b);

    // DXF_PROGRESS=0: nothing on stderr (a fresh repository, so the push uploads).
    let r = dxf_with(
        &reg,
        &["push-blob", "--jobs", "2", "prog/q", pa, pb],
        &off,
        None,
    )
    .ok();
    assert_eq!(r.out(), format!("{da}\n{db}\n"), "{r:#?}");
    assert_eq!(r.stderr, "");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let r = dxf_with(
        &reg,
        &["pull-blob", "prog/q", &da, &db, "-o", dir],
        &off,
        None,
    )
    .ok();
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert_eq!(r.stderr, "");

    // Not a terminal and DXF_PROGRESS unset: nothing either.
    let unset = [("DXF_PROGRESS", None), ("DXF_CONCURRENCY", Some("2"))];
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let r = dxf_with(
        &reg,
        &["pull-blob", "prog/m", &da, &db, "-o", dir],
        &unset,
        None,
    )
    .ok();
    assert_eq!(r.stderr, "");
}
