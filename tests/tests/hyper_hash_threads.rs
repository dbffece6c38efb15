//! dxf-hyper hashes pulled blobs without an OS thread of its own per blob: many blobs read
//! at once (each past the size hashed inline) run on the runtime's threads — its workers
//! and its bounded blocking pool — and nothing else, so the process's thread count stays
//! within what the runtime was allowed, whatever the number of blobs in flight.
//!
//! Its own test binary with one test: the thread count (`/proc/self/task`) is the whole
//! process's, and no other test may start threads meanwhile.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use dxf_tests::{Mode, TestRegistry};
use tokio::io::AsyncReadExt;

/// Blobs read at once: many more than the runtime's threads.
const BLOBS: usize = 16;
/// Bytes per blob: several of the reader's buffers, well past what it hashes inline.
const BLOB_LEN: usize = 2 << 20;
/// What is read of every blob before the threads are counted (past the inline part).
const FIRST_READ: usize = 512 << 10;
/// The runtime's worker and blocking threads.
const WORKERS: usize = 2;
const BLOCKING: usize = 2;

/// The process's threads now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn blob(i: usize) -> Vec<u8> {
    (0..BLOB_LEN)
        .map(|j| (j * 31 + i * 7 + j / 4093) as u8)
        .collect()
}

#[test]
fn concurrent_pulls_hash_on_the_runtimes_threads() {
    let registry = TestRegistry::start(Mode::Plain);
    let before = threads();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .max_blocking_threads(BLOCKING)
        .enable_all()
        .build()
        .unwrap();
    let mut config = dxf_hyper::Config::new(&registry.host());
    config.insecure = true;
    let registry_client = dxf_hyper::Registry::new(&config).unwrap();
    let repo = registry_client.repository("threads/blobs").unwrap();
    rt.block_on(async {
        let mut digests = Vec::new();
        for i in 0..BLOBS {
            let data = blob(i);
            let pushed = repo
                .push_blob_reader(&mut &data[..], dxf_hyper::PushOptions::new())
                .await
                .unwrap();
            digests.push(pushed.digest);
        }
        // Every blob open and partly read: each has begun hashing past the inline part.
        let mut readers = Vec::new();
        for d in &digests {
            let mut r = repo.pull_blob(d, None).await.unwrap();
            let mut first = vec![0u8; FIRST_READ];
            r.read_exact(&mut first).await.unwrap();
            readers.push((r, first));
        }
        let during = threads();
        assert!(
            during <= before + WORKERS + BLOCKING,
            "{during} threads with {BLOBS} blobs being read: {before} before the runtime, \
             which may add {WORKERS} workers and {BLOCKING} blocking threads"
        );
        // And every blob still reads whole and verified.
        for (i, (mut r, mut got)) in readers.into_iter().enumerate() {
            r.read_to_end(&mut got).await.unwrap();
            assert!(got == blob(i), "blob {i}");
        }
    });
}
