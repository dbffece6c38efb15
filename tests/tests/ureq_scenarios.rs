//! The dxf-ureq library against the real registry in all three modes: every operation of
//! the API, streamed and chunked pushes, verification, multi-arch reads, pagination,
//! errors, and a client shared across threads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Read;

use dxf_tests::cli::{random_bytes, sha256};
use dxf_tests::{Mode, Options, TestRegistry};
use dxf_ureq::dxf_proto::Error as ProtoError;
use dxf_ureq::{Config, Credentials, PerPlatform, PushOptions, Registry, TlsVerify, UploadMode};

fn client(reg: &TestRegistry) -> Registry {
    let mut config = Config::new(&reg.host());
    config.insecure = reg.mode() == Mode::Plain;
    if let Some(ca) = reg.ca_pem_path() {
        config.transport.tls = TlsVerify::CaBundle(ca.to_path_buf());
    }
    if let Some((username, password)) = reg.credentials() {
        config.credentials = Credentials::Basic { username, password };
    }
    config.chunk_size = Some(1 << 20);
    Registry::new(&config).unwrap()
}

fn read_all(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

fn every_operation(mode: Mode) {
    let reg = TestRegistry::start_with(
        mode,
        Options {
            catalog_max_entries: Some(2),
        },
    );
    let registry = client(&reg);
    let repo = registry.repository("lib/ops").unwrap();
    let dir = tempfile::tempdir().unwrap();

    // File push: monolithic and chunked; skip-if-exists.
    let a = random_bytes(3 << 20, 1);
    let pa = dir.path().join("a");
    std::fs::write(&pa, &a).unwrap();
    let mut seen = Vec::new();
    let mut progress = |done: u64, total: Option<u64>| seen.push((done, total));
    let pushed = repo
        .push_blob_path(
            &pa,
            PushOptions {
                progress: Some(&mut progress),
                ..PushOptions::new()
            },
        )
        .unwrap();
    assert_eq!(pushed.digest.as_str(), sha256(&a));
    assert!(!pushed.skipped);
    assert_eq!(seen.last(), Some(&(a.len() as u64, Some(a.len() as u64))));
    assert!(
        repo.push_blob_path(&pa, PushOptions::new())
            .unwrap()
            .skipped
    );

    let b = random_bytes((2 << 20) + 12345, 2);
    let pb = dir.path().join("b");
    std::fs::write(&pb, &b).unwrap();
    let chunked = PushOptions {
        mode: UploadMode::Chunked,
        ..PushOptions::new()
    };
    let pushed_b = repo.push_blob_path(&pb, chunked).unwrap();
    assert_eq!(pushed_b.digest.as_str(), sha256(&b));

    // Stream push of unknown length, single pass.
    let c = random_bytes((1 << 20) * 3 / 2, 3);
    let pushed_c = repo
        .push_blob_reader(&mut &c[..], PushOptions::new())
        .unwrap();
    assert_eq!(pushed_c.digest.as_str(), sha256(&c));
    assert_eq!(pushed_c.size, c.len() as u64);

    // Pulls verify; sizes; existence.
    for (d, data) in [
        (&pushed.digest, &a),
        (&pushed_b.digest, &b),
        (&pushed_c.digest, &c),
    ] {
        let reader = repo.pull_blob(d, None).unwrap();
        assert_eq!(reader.size(), Some(data.len() as u64));
        assert!(read_all(reader).unwrap() == *data);
        assert_eq!(repo.blob_size(d).unwrap(), data.len() as u64);
        assert!(repo.blob_exists(d).unwrap());
    }
    // A wrong expected size is caught before streaming.
    assert!(repo.pull_blob(&pushed.digest, Some(1)).is_err());

    // Aliases.
    let digests = vec![
        pushed.digest.clone(),
        pushed_b.digest.clone(),
        pushed_c.digest.clone(),
    ];
    let manifest = repo.set_alias("v1", &digests).unwrap();
    assert_eq!(repo.make_manifest(&digests).unwrap(), manifest);
    let PerPlatform::Single(layers) = repo.get_alias("v1", None).unwrap() else {
        panic!()
    };
    assert_eq!(
        layers.iter().map(|l| l.0.clone()).collect::<Vec<_>>(),
        digests
    );
    assert_eq!(
        repo.get_digest("v1", None).unwrap(),
        PerPlatform::Single(digests[0].clone())
    );
    assert_eq!(
        repo.get_manifest("v1", None).unwrap(),
        PerPlatform::Single(manifest.clone().into_bytes())
    );
    let info = repo.head_manifest("v1").unwrap();
    assert_eq!(info.size, Some(manifest.len() as u64));
    for i in 0..5 {
        repo.set_manifest(&format!("t{i}"), manifest.as_bytes())
            .unwrap();
    }
    let mut tags: Vec<String> = repo
        .list_aliases(None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tags.sort();
    assert_eq!(tags, ["t0", "t1", "t2", "t3", "t4", "v1"]);

    // Mount, repositories (paged by the registry at 2), deletes.
    let other = registry.repository("lib/other").unwrap();
    other.mount_blob("lib/ops", &pushed.digest).unwrap();
    let missing = dxf_ureq::Digest::parse(&sha256(b"missing")).unwrap();
    let e = other.mount_blob("lib/ops", &missing).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::MountFailed { .. })),
        "{e}"
    );
    for i in 0..3 {
        registry
            .repository(&format!("lib/r{i}"))
            .unwrap()
            .push_blob_reader(&mut &b"x"[..], PushOptions::new())
            .unwrap();
    }
    let repos: Vec<String> = registry
        .list_repos(None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        repos,
        ["lib/ops", "lib/other", "lib/r0", "lib/r1", "lib/r2"]
    );
    let deleted = repo.del_alias("v1").unwrap();
    assert_eq!(deleted.digest, info.digest.unwrap());
    let e = repo.get_alias("t0", None).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::NotFound { .. })),
        "every tag on the manifest went: {e}"
    );
    repo.del_blob(&pushed.digest).unwrap();
    assert!(!repo.blob_exists(&pushed.digest).unwrap());
}

fn shared_across_threads(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let registry = client(&reg);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let registry = registry.clone();
            std::thread::spawn(move || {
                let repo = registry.repository("lib/threads").unwrap();
                let data = random_bytes(200_000 + i * 1000, 40 + i as u64);
                let pushed = repo
                    .push_blob_reader(&mut &data[..], PushOptions::new())
                    .unwrap();
                let back = read_all(repo.pull_blob(&pushed.digest, None).unwrap()).unwrap();
                assert!(back == data);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    if mode == Mode::Token {
        // Threads race for the first token, but the session keeps it per scope afterwards.
        assert!(
            reg.token_requests() <= 16,
            "{} token requests",
            reg.token_requests()
        );
    }
}

fn credentials_are_checked(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let mut config = Config::new(&reg.host());
    if let Some(ca) = reg.ca_pem_path() {
        config.transport.tls = TlsVerify::CaBundle(ca.to_path_buf());
    }
    config.credentials = Credentials::Basic {
        username: "dxf-user".into(),
        password: "wrong".into(),
    };
    let registry = Registry::new(&config).unwrap();
    let e = registry
        .repository("lib/x")
        .unwrap()
        .list_aliases(None)
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::Unauthorized { .. })),
        "{e}"
    );
}

#[test]
fn plain_every_operation() {
    every_operation(Mode::Plain);
}

#[test]
fn basic_every_operation() {
    every_operation(Mode::Basic);
}

#[test]
fn token_every_operation() {
    every_operation(Mode::Token);
}

#[test]
fn plain_shared_across_threads() {
    shared_across_threads(Mode::Plain);
}

#[test]
fn token_shared_across_threads() {
    shared_across_threads(Mode::Token);
}

#[test]
fn basic_wrong_password_is_unauthorized() {
    credentials_are_checked(Mode::Basic);
}

#[test]
fn token_wrong_password_is_unauthorized() {
    credentials_are_checked(Mode::Token);
}

#[test]
fn a_corrupted_blob_is_never_read_as_good() {
    // Corrupt the blob's bytes inside the registry's storage: the pull must fail at the end.
    let reg = TestRegistry::start(Mode::Plain);
    let repo = client(&reg).repository("lib/corrupt").unwrap();
    let data = random_bytes(100_000, 7);
    let pushed = repo
        .push_blob_reader(&mut &data[..], PushOptions::new())
        .unwrap();
    let hex = pushed.digest.encoded();
    let path = reg
        .storage_root()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut stored = std::fs::read(&path).unwrap();
    stored[50_000] ^= 1;
    std::fs::write(&path, &stored).unwrap();
    let e = read_all(repo.pull_blob(&pushed.digest, None).unwrap()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    let inner = e.get_ref().unwrap().downcast_ref::<ProtoError>().unwrap();
    assert!(
        matches!(inner, ProtoError::DigestMismatch { .. }),
        "{inner}"
    );
    // Truncated on disk: a length mismatch (or a transport error), never success.
    std::fs::write(&path, &stored[..1000]).unwrap();
    assert!(repo
        .pull_blob(&pushed.digest, None)
        .and_then(|r| Ok(read_all(r)?))
        .is_err());
}
