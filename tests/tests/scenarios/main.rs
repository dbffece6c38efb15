//! One scenario list for both adapters, run against the real registry: every scenario below
//! runs for each (adapter × mode) — dxf-ureq directly, dxf-hyper through `block_on` — as
//! `<scenario>::<adapter>_<mode>`. Every operation of the library API, streamed and chunked
//! pushes, verification, multi-arch reads, pagination, errors, auth in all three modes, and
//! a client shared across threads. dxf-hyper's own concurrency and cancellation tests are
//! in `hyper_only`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod adapter;
mod docker_credentials;
mod hyper_only;
mod personalities;
mod transport;

use adapter::{connect, Adapter, Kind, Push, Settings};
use dxf_tests::cli::{random_bytes, sha256};
use dxf_tests::oci_layout::{write_multi_arch, MultiArch, PlatformImage};
use dxf_tests::{Mode, Options, TestRegistry};
use dxf_ureq::dxf_proto::{Credentials, Digest, Error as ProtoError, PerPlatform, ReadOptions};

fn client(kind: Kind, reg: &TestRegistry) -> std::sync::Arc<dyn Adapter> {
    connect(kind, &Settings::for_registry(reg))
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn every_operation(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start_with(
        mode,
        Options {
            catalog_max_entries: Some(2),
        },
    );
    let c = client(kind, &reg);
    let dir = tempfile::tempdir().unwrap();

    // File push: monolithic and chunked; skip-if-exists.
    let a = random_bytes(3 << 20, 1);
    let pa = dir.path().join("a");
    std::fs::write(&pa, &a).unwrap();
    let mut seen = Vec::new();
    let mut progress = |d: Option<&Digest>, done: u64, total: Option<u64>| {
        assert_eq!(d.map(Digest::as_str), Some(sha256(&a).as_str()));
        seen.push((done, total));
    };
    let push = Push {
        progress: Some(&mut progress),
        ..Push::new()
    };
    let pushed = c.push_path("lib/ops", &pa, push).unwrap();
    assert_eq!(pushed.digest.as_str(), sha256(&a));
    assert!(!pushed.skipped);
    assert_eq!(seen.last(), Some(&(a.len() as u64, Some(a.len() as u64))));
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress only grows"
    );
    assert!(c.push_path("lib/ops", &pa, Push::new()).unwrap().skipped);

    let b = random_bytes((2 << 20) + 12345, 2);
    let pb = dir.path().join("b");
    std::fs::write(&pb, &b).unwrap();
    let chunked = Push {
        chunked: true,
        ..Push::new()
    };
    let pushed_b = c.push_path("lib/ops", &pb, chunked).unwrap();
    assert_eq!(pushed_b.digest.as_str(), sha256(&b));

    // Single-pass file push: hashed while sent (one relayed PATCH), no existence check.
    let e = random_bytes((1 << 20) * 5 / 2 + 7, 4);
    let pe = dir.path().join("e");
    std::fs::write(&pe, &e).unwrap();
    let mut relayed = Vec::new();
    let mut progress = |d: Option<&Digest>, done: u64, total: Option<u64>| {
        assert_eq!(d, None, "a single-pass push knows its digest at the end");
        relayed.push((done, total));
    };
    let push = Push {
        single_pass: true,
        progress: Some(&mut progress),
        ..Push::new()
    };
    let pushed_e = c.push_path("lib/ops", &pe, push).unwrap();
    assert_eq!(pushed_e.digest.as_str(), sha256(&e));
    assert_eq!(pushed_e.size, e.len() as u64);
    assert!(!pushed_e.skipped);
    let total = Some(e.len() as u64);
    assert_eq!(relayed.last(), Some(&(e.len() as u64, total)));
    assert_eq!(
        c.blob_size("lib/ops", &pushed_e.digest).unwrap(),
        e.len() as u64
    );
    let (_, back) = c.pull("lib/ops", &pushed_e.digest, None).unwrap();
    assert!(back.unwrap() == e, "single-pass blob reads back");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let single = || Push {
        single_pass: true,
        ..Push::new()
    };
    let pushed_empty = c.push_path("lib/ops", &empty, single()).unwrap();
    assert_eq!(pushed_empty.digest.as_str(), sha256(b""));

    // Stream push of unknown length, single pass, with progress.
    let cdata = random_bytes((1 << 20) * 3 / 2, 3);
    let mut streamed = 0;
    let mut progress = |d: Option<&Digest>, done: u64, total: Option<u64>| {
        assert_eq!(
            (d, total),
            (None, None),
            "a stream's digest is known at its end"
        );
        streamed = done;
    };
    let push = Push {
        progress: Some(&mut progress),
        ..Push::new()
    };
    let pushed_c = c.push_reader("lib/ops", &cdata, push).unwrap();
    assert_eq!(pushed_c.digest.as_str(), sha256(&cdata));
    assert_eq!(pushed_c.size, cdata.len() as u64);
    assert_eq!(streamed, cdata.len() as u64);

    // Pulls verify; sizes; existence.
    for (d, data) in [
        (&pushed.digest, &a),
        (&pushed_b.digest, &b),
        (&pushed_c.digest, &cdata),
    ] {
        let (size, read) = c.pull("lib/ops", d, None).unwrap();
        assert_eq!(size, Some(data.len() as u64));
        assert!(read.unwrap() == *data);
        assert_eq!(c.blob_size("lib/ops", d).unwrap(), data.len() as u64);
        assert!(c.blob_exists("lib/ops", d).unwrap());
    }
    // A wrong expected size is caught before streaming.
    assert!(c.pull("lib/ops", &pushed.digest, Some(1)).is_err());

    // Aliases.
    let digests = vec![
        pushed.digest.clone(),
        pushed_b.digest.clone(),
        pushed_c.digest.clone(),
    ];
    let manifest = c.set_alias("lib/ops", "v1", &digests).unwrap();
    assert_eq!(c.make_manifest("lib/ops", &digests).unwrap(), manifest);
    let PerPlatform::Single(layers) = c.get_alias("lib/ops", "v1", None).unwrap() else {
        panic!()
    };
    assert_eq!(
        layers.iter().map(|l| l.0.clone()).collect::<Vec<_>>(),
        digests
    );
    assert_eq!(layers[0].1, a.len() as u64);
    assert_eq!(
        c.get_digest("lib/ops", "v1", None).unwrap(),
        PerPlatform::Single(digests[0].clone())
    );
    assert_eq!(
        c.get_manifest("lib/ops", "v1", None).unwrap(),
        PerPlatform::Single(manifest.clone().into_bytes())
    );
    let info = c.head_manifest("lib/ops", "v1").unwrap();
    assert_eq!(info.size, Some(manifest.len() as u64));
    for i in 0..5 {
        c.set_manifest("lib/ops", &format!("t{i}"), manifest.as_bytes())
            .unwrap();
    }
    let mut tags = c.list_aliases("lib/ops", None).unwrap();
    tags.sort();
    assert_eq!(tags, ["t0", "t1", "t2", "t3", "t4", "v1"]);

    // Mount, repositories (paged by the registry at 2), deletes.
    c.mount_blob("lib/other", "lib/ops", &pushed.digest)
        .unwrap();
    assert!(c.blob_exists("lib/other", &pushed.digest).unwrap());
    let missing = digest(&sha256(b"missing"));
    let e = c.mount_blob("lib/other", "lib/ops", &missing).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::MountFailed { .. })),
        "{e}"
    );
    for i in 0..3 {
        c.push_reader(&format!("lib/r{i}"), b"x", Push::new())
            .unwrap();
    }
    assert_eq!(
        c.list_repos(None).unwrap(),
        ["lib/ops", "lib/other", "lib/r0", "lib/r1", "lib/r2"]
    );
    let deleted = c.del_alias("lib/ops", "v1").unwrap();
    assert_eq!(deleted.digest, info.digest.unwrap());
    let e = c.get_alias("lib/ops", "t0", None).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::NotFound { .. })),
        "every tag on the manifest went: {e}"
    );
    c.del_blob("lib/ops", &pushed.digest).unwrap();
    assert!(!c.blob_exists("lib/ops", &pushed.digest).unwrap());
}

fn pagination(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let c = client(kind, &reg);
    let pushed = c.push_reader("page/a", b"paged", Push::new()).unwrap();
    let manifest = c.set_alias("page/a", "t0", &[pushed.digest]).unwrap();
    for i in 1..7 {
        c.set_manifest("page/a", &format!("t{i}"), manifest.as_bytes())
            .unwrap();
    }
    for page_size in [None, Some(1), Some(2), Some(7), Some(100)] {
        let mut tags = c.list_aliases("page/a", page_size).unwrap();
        tags.sort();
        assert_eq!(
            tags,
            ["t0", "t1", "t2", "t3", "t4", "t5", "t6"],
            "{page_size:?}"
        );
    }
    for r in ["page/b", "page/c"] {
        c.mount_blob(r, "page/a", &digest(&sha256(b"paged")))
            .unwrap();
    }
    for page_size in [None, Some(1), Some(2)] {
        assert_eq!(
            c.list_repos(page_size).unwrap(),
            ["page/a", "page/b", "page/c"],
            "{page_size:?}"
        );
    }
}

fn per_platform<T>(image: &MultiArch, f: impl Fn(&PlatformImage) -> T) -> PerPlatform<T> {
    PerPlatform::Platforms(
        image
            .platforms
            .iter()
            .map(|p| (p.key.clone(), f(p)))
            .collect(),
    )
}

fn multi_arch_reads(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let c = client(kind, &reg);
    let dir = tempfile::tempdir().unwrap();
    let image = write_multi_arch(dir.path(), "multi");
    let blob_path = |d: &str| {
        dir.path()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    // Upload it with the library itself: blobs, platform manifests by digest, index by tag.
    for p in &image.platforms {
        for d in std::iter::once(&p.config_digest).chain(p.layers.iter().map(|l| &l.0)) {
            let pushed = c.push_path("ma/img", &blob_path(d), Push::new()).unwrap();
            assert_eq!(pushed.digest.as_str(), d);
        }
        let stored = c
            .set_manifest("ma/img", &p.manifest_digest, &p.manifest)
            .unwrap();
        assert_eq!(stored.as_str(), p.manifest_digest);
    }
    let stored = c.set_manifest("ma/img", "multi", &image.index).unwrap();
    assert_eq!(stored.as_str(), image.index_digest);

    let layers = |p: &PlatformImage| {
        p.layers
            .iter()
            .map(|(d, s)| (digest(d), *s))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        c.get_alias("ma/img", "multi", None).unwrap(),
        per_platform(&image, layers)
    );
    assert_eq!(
        c.get_digest("ma/img", "multi", None).unwrap(),
        per_platform(&image, |p| digest(&p.config_digest))
    );
    assert_eq!(
        c.get_manifest("ma/img", "multi", None).unwrap(),
        per_platform(&image, |p| p.manifest.clone())
    );
    // The same, from a manifest the caller already has (nothing fetched for the index).
    let options = ReadOptions {
        platform: None,
        resolve_platforms: true,
    };
    let read = c.read_manifest("ma/img", &image.index, options).unwrap();
    assert_eq!(read.digest.as_str(), image.index_digest);
    assert_eq!(read.layers(), per_platform(&image, layers));
    let arm = &image.platforms[1];
    assert_eq!(
        c.get_alias("ma/img", "multi", Some(&arm.key)).unwrap(),
        PerPlatform::Single(layers(arm))
    );
    assert_eq!(
        c.get_digest("ma/img", "multi", Some(&arm.key)).unwrap(),
        PerPlatform::Single(digest(&arm.config_digest))
    );
    let e = c
        .get_alias("ma/img", "multi", Some("windows/amd64"))
        .unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::PlatformNotFound(_))),
        "{e}"
    );
    let (own, size) = &arm.layers[1];
    let (_, read) = c.pull("ma/img", &digest(own), Some(*size)).unwrap();
    assert_eq!(read.unwrap(), std::fs::read(blob_path(own)).unwrap());
    let info = c.head_manifest("ma/img", "multi").unwrap();
    assert_eq!(info.digest.unwrap().as_str(), image.index_digest);

    let deleted = c.del_alias("ma/img", "multi").unwrap();
    assert_eq!(deleted.digest.as_str(), image.index_digest);
    let platforms: Vec<_> = deleted
        .platform_digests()
        .unwrap()
        .into_iter()
        .map(|(k, d)| (k, d.as_str().to_owned()))
        .collect();
    assert_eq!(
        platforms,
        image
            .platforms
            .iter()
            .map(|p| (p.key.clone(), p.manifest_digest.clone()))
            .collect::<Vec<_>>()
    );
    // The platform manifests stay, addressable by digest.
    assert!(c.head_manifest("ma/img", &arm.manifest_digest).is_ok());
    c.del_manifest("ma/img", &digest(&arm.manifest_digest))
        .unwrap();
    assert!(c.head_manifest("ma/img", &arm.manifest_digest).is_err());
}

fn errors(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let c = client(kind, &reg);
    let is_not_found =
        |e: &adapter::Failure| matches!(e.proto(), Some(ProtoError::NotFound { .. }));
    let missing = digest(&sha256(b"not there"));
    c.push_reader("err/r", b"present", Push::new()).unwrap();

    let e = c.pull("err/r", &missing, None).unwrap_err();
    assert!(is_not_found(&e), "{e}");
    let e = c.blob_size("err/r", &missing).unwrap_err();
    assert!(is_not_found(&e), "{e}");
    assert!(!c.blob_exists("err/r", &missing).unwrap());
    let e = c.del_blob("err/r", &missing).unwrap_err();
    assert!(is_not_found(&e), "{e}");
    let e = c.get_alias("err/r", "nope", None).unwrap_err();
    assert!(is_not_found(&e), "{e}");
    let e = c.head_manifest("err/r", "nope").unwrap_err();
    assert!(is_not_found(&e), "{e}");
    let e = c
        .set_alias("err/r", "a", std::slice::from_ref(&missing))
        .unwrap_err();
    assert!(is_not_found(&e), "make_manifest HEADs every blob: {e}");

    // Caller mistakes fail before anything is sent.
    let e = c.get_alias("err/r", "bad tag!", None).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::InvalidReference(_))),
        "{e}"
    );
    let e = c.blob_exists("Err/Upper", &missing).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::InvalidReference(_))),
        "{e}"
    );
    let e = c.set_manifest("err/r", "m", b"not json").unwrap_err();
    assert!(matches!(e.proto(), Some(ProtoError::Misuse(_))), "{e}");

    // A stream whose bytes do not hash to the promised digest is never committed.
    let data = random_bytes(300_000, 11);
    let wrong = Push {
        digest: Some(missing.clone()),
        skip_if_exists: false,
        ..Push::default()
    };
    let e = c.push_reader("err/r", &data, wrong).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::DigestMismatch { .. })),
        "{e}"
    );
    assert!(!c.blob_exists("err/r", &missing).unwrap());
    assert!(!c.blob_exists("err/r", &digest(&sha256(&data))).unwrap());
    // A wrong size (from a manifest, say) is refused from the head.
    let present = digest(&sha256(b"present"));
    let e = c.pull("err/r", &present, Some(8)).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::LengthMismatch { .. })),
        "{e}"
    );
}

fn shared_across_threads(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let c = client(kind, &reg);
    std::thread::scope(|s| {
        for i in 0..8 {
            let c = &c;
            s.spawn(move || {
                let data = random_bytes(200_000 + i * 1000, 40 + i as u64);
                let pushed = c.push_reader("lib/threads", &data, Push::new()).unwrap();
                let (_, read) = c.pull("lib/threads", &pushed.digest, None).unwrap();
                assert!(read.unwrap() == data);
            });
        }
    });
    if mode == Mode::Token {
        // Both adapters: one token request per scope (push, pull), even across threads.
        assert!(
            reg.token_requests() <= 2,
            "{} token requests",
            reg.token_requests()
        );
    }
}

fn credentials_are_checked(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let mut settings = Settings::for_registry(&reg);
    settings.credentials = Credentials::Basic {
        username: "dxf-user".into(),
        password: "wrong".into(),
    };
    let c = connect(kind, &settings);
    if mode == Mode::Plain {
        // Never sent over plain http, and not needed there: everything works.
        let pushed = c.push_reader("lib/x", b"anon", Push::new()).unwrap();
        assert_eq!(
            c.list_aliases("lib/x", None)
                .unwrap_err()
                .proto()
                .map(|e| matches!(e, ProtoError::NotFound { .. })),
            Some(true)
        );
        assert!(c.blob_exists("lib/x", &pushed.digest).unwrap());
        return;
    }
    let e = c.list_aliases("lib/x", None).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::Unauthorized { .. })),
        "{e}"
    );
    let e = c.push_reader("lib/x", b"data", Push::new()).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::Unauthorized { .. })),
        "{e}"
    );
}

fn corrupted_blob_is_never_read_as_good(kind: Kind, mode: Mode) {
    // Corrupt the blob's bytes inside the registry's storage: the pull must fail at the end.
    let reg = TestRegistry::start(mode);
    let c = client(kind, &reg);
    let data = random_bytes(100_000, 7);
    let pushed = c.push_reader("lib/corrupt", &data, Push::new()).unwrap();
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
    let (_, read) = c.pull("lib/corrupt", &pushed.digest, None).unwrap();
    let e = read.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    let inner = e.get_ref().unwrap().downcast_ref::<ProtoError>().unwrap();
    assert!(
        matches!(inner, ProtoError::DigestMismatch { .. }),
        "{inner}"
    );
    // Truncated on disk: a length mismatch (or a transport error), never success.
    std::fs::write(&path, &stored[..1000]).unwrap();
    if let Ok((_, read)) = c.pull("lib/corrupt", &pushed.digest, None) {
        assert!(read.is_err());
    }
}

fn version_and_authenticate(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let c = client(kind, &reg);
    let info = c.version_check().unwrap();
    assert_eq!(info.api_version.as_deref(), Some("registry/2.0"));
    let token = c.authenticate(None, &[]).unwrap();
    let scoped = c.authenticate(Some("auth/r"), &["pull", "push"]).unwrap();
    if mode != Mode::Token {
        assert_eq!((token, scoped), (None, None));
        return;
    }
    assert!(token.is_some());
    let scoped = scoped.unwrap();
    let before = reg.token_requests();
    // A preset token (DXF_TOKEN) is used as-is: no credentials, no token round trip.
    let mut settings = Settings::for_registry(&reg);
    settings.credentials = Credentials::None;
    settings.token = Some(scoped);
    let t = connect(kind, &settings);
    let pushed = t
        .push_reader("auth/r", b"with a preset token", Push::new())
        .unwrap();
    let (_, read) = t.pull("auth/r", &pushed.digest, None).unwrap();
    assert_eq!(read.unwrap(), b"with a preset token");
    assert_eq!(reg.token_requests(), before);
}

/// `mod <scenario> { fn <adapter>_<mode>() }` for every scenario, adapter and mode.
macro_rules! scenarios {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::{Kind, Mode};
            #[test]
            fn ureq_plain() {
                super::$scenario(Kind::Ureq, Mode::Plain);
            }
            #[test]
            fn ureq_basic() {
                super::$scenario(Kind::Ureq, Mode::Basic);
            }
            #[test]
            fn ureq_token() {
                super::$scenario(Kind::Ureq, Mode::Token);
            }
            #[test]
            fn hyper_plain() {
                super::$scenario(Kind::Hyper, Mode::Plain);
            }
            #[test]
            fn hyper_basic() {
                super::$scenario(Kind::Hyper, Mode::Basic);
            }
            #[test]
            fn hyper_token() {
                super::$scenario(Kind::Hyper, Mode::Token);
            }
        }
    )*};
}

scenarios!(
    every_operation,
    pagination,
    multi_arch_reads,
    errors,
    shared_across_threads,
    credentials_are_checked,
    corrupted_blob_is_never_read_as_good,
    version_and_authenticate,
);

// OCI 1.1 artifacts and referrers (after `scenarios!`, which it uses).
mod artifacts;
mod blob_cache;
mod copy;
mod second_registry;
mod source_failures;
