//! Both adapters against a second, independently written real registry: the Rust crate
//! `container-registry` 0.3.1 ([`CrRegistry`]: https through the harness's TLS relay,
//! Basic auth with a bare `401` on repository endpoints, `Range` one past the bytes of each
//! `PATCH` and not cumulative, monolithic `PUT` refused, no upload status, manifests by tag
//! only). A compact scenario list, `second_registry::<adapter>::<scenario>`: pushes (file
//! monolithic and chunked, stream, single pass, empty), pulls, sizes, aliases, OCI
//! artifacts, a resume whose session status cannot be asked; and what the server lacks
//! (`DELETE`, tag list, catalog, mount, `attach`'s manifest by digest) as typed errors.

use std::path::Path;
use std::time::Duration;

use super::adapter::{connect, Adapter, Kind, Push, Settings, Tls};
use dxf_tests::cli::{random_bytes, sha256};
use dxf_tests::container_registry::CrRegistry;
use dxf_ureq::dxf_proto::manifest::alias::{BlobDescriptor, OciArtifactOptions};
use dxf_ureq::dxf_proto::manifest::media_types::EMPTY_CONFIG_DIGEST;
use dxf_ureq::dxf_proto::{
    Credentials, Digest, Error as ProtoError, Interrupt, PerPlatform, ReferrersVia, RetryPolicy,
    UploadCheckpoint,
};

/// The adapters' chunk here: 1 MiB, so a few MiB make several `PATCH`es.
const CHUNK: u64 = 1 << 20;

/// What a user of `cr` would configure, with `credentials`.
fn settings_with(cr: &CrRegistry, credentials: Credentials) -> Settings {
    Settings {
        host: cr.host(),
        insecure: false,
        tls: Tls::CaBundle(cr.ca_pem_path().to_path_buf()),
        credentials,
        token: None,
        chunk_size: Some(CHUNK),
        timeout: Some(Duration::from_secs(30)),
        retries: RetryPolicy::default(),
        interrupt: Interrupt::new(),
        blob_cache: None,
    }
}

fn client(kind: Kind, cr: &CrRegistry) -> std::sync::Arc<dyn Adapter> {
    let (username, password) = cr.credentials();
    connect(
        kind,
        &settings_with(cr, Credentials::Basic { username, password }),
    )
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// `digest` pulls back as `data` (with and without the expected size) and has its size.
#[track_caller]
fn pulls_back(c: &dyn Adapter, repo: &str, d: &Digest, data: &[u8]) {
    assert_eq!(d.as_str(), sha256(data));
    let (_, read) = c.pull(repo, d, None).unwrap();
    assert!(read.unwrap() == data, "{d}");
    let (_, read) = c.pull(repo, d, Some(data.len() as u64)).unwrap();
    assert!(read.unwrap() == data, "{d} with its size");
    assert_eq!(c.blob_size(repo, d).unwrap(), data.len() as u64);
    assert!(c.blob_exists(repo, d).unwrap());
}

/// Every way to push, each read back: a file monolithic (refused by the server: the
/// adapter must get it there anyway) and chunked, single pass, a stream, empty blobs.
fn pushes_and_pulls(kind: Kind) {
    let cr = CrRegistry::start();
    let c = client(kind, &cr);
    let dir = tempfile::tempdir().unwrap();
    let repo = "lib/push";

    let a = random_bytes((7 << 20) / 2, 1);
    let pa = write(dir.path(), "a", &a);
    let pushed = c.push_path(repo, &pa, Push::new()).unwrap();
    assert!(!pushed.skipped);
    assert_eq!(pushed.size, a.len() as u64);
    pulls_back(&*c, repo, &pushed.digest, &a);
    assert!(c.push_path(repo, &pa, Push::new()).unwrap().skipped);

    let b = random_bytes((7 << 20) / 2 + 12345, 2);
    let pb = write(dir.path(), "b", &b);
    let chunked = Push {
        chunked: true,
        ..Push::new()
    };
    let pushed = c.push_path(repo, &pb, chunked).unwrap();
    pulls_back(&*c, repo, &pushed.digest, &b);

    let e = random_bytes((5 << 20) / 2 + 7, 3);
    let pe = write(dir.path(), "e", &e);
    let single = Push {
        single_pass: true,
        ..Push::new()
    };
    let pushed = c.push_path(repo, &pe, single).unwrap();
    assert_eq!(pushed.size, e.len() as u64);
    pulls_back(&*c, repo, &pushed.digest, &e);

    let s = random_bytes((5 << 20) / 2, 4);
    let mut streamed = 0;
    let mut progress = |_: Option<&Digest>, done: u64, _: Option<u64>| streamed = done;
    let push = Push {
        progress: Some(&mut progress),
        ..Push::new()
    };
    let pushed = c.push_reader(repo, &s, push).unwrap();
    assert_eq!(streamed, s.len() as u64);
    pulls_back(&*c, repo, &pushed.digest, &s);

    // Empty blobs, as a stream and as a file.
    let pushed = c.push_reader(repo, b"", Push::new()).unwrap();
    pulls_back(&*c, repo, &pushed.digest, b"");
    let empty = write(dir.path(), "empty", b"");
    let pushed = c.push_path("lib/empty", &empty, Push::new()).unwrap();
    assert_eq!(pushed.digest.as_str(), sha256(b""));

    let missing = digest(&sha256(b"missing"));
    assert!(!c.blob_exists(repo, &missing).unwrap());
    let e = c.pull(repo, &missing, None).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::NotFound { .. })),
        "{e}"
    );
    // A wrong expected size is never read as good (the server sends no Content-Length:
    // it shows at the end).
    if let Ok((_, read)) = c.pull(repo, &digest(&sha256(&a)), Some(1)) {
        assert!(read.is_err());
    }
}

/// set_alias / make_manifest / get_alias / get_digest / get_manifest / head_manifest /
/// set_manifest, and a missing alias.
fn aliases(kind: Kind) {
    let cr = CrRegistry::start();
    let c = client(kind, &cr);
    let repo = "lib/alias";
    let one = random_bytes(3000, 11);
    let two = random_bytes(70_000, 12);
    let d1 = c.push_reader(repo, &one, Push::new()).unwrap().digest;
    let d2 = c.push_reader(repo, &two, Push::new()).unwrap().digest;
    let digests = vec![d1.clone(), d2.clone()];
    let manifest = c.set_alias(repo, "v1", &digests).unwrap();
    assert_eq!(c.make_manifest(repo, &digests).unwrap(), manifest);
    assert_eq!(
        c.get_alias(repo, "v1", None).unwrap(),
        PerPlatform::Single(vec![
            (d1.clone(), one.len() as u64),
            (d2.clone(), two.len() as u64)
        ])
    );
    assert_eq!(
        c.get_digest(repo, "v1", None).unwrap(),
        PerPlatform::Single(d1.clone())
    );
    assert_eq!(
        c.get_manifest(repo, "v1", None).unwrap(),
        PerPlatform::Single(manifest.clone().into_bytes())
    );
    let info = c.head_manifest(repo, "v1").unwrap();
    assert_eq!(info.size, Some(manifest.len() as u64));
    if let Some(d) = &info.digest {
        assert_eq!(d.as_str(), sha256(manifest.as_bytes()));
    }
    let stored = c.set_manifest(repo, "v2", manifest.as_bytes()).unwrap();
    assert_eq!(stored.as_str(), sha256(manifest.as_bytes()));
    assert_eq!(
        c.get_alias(repo, "v2", None).unwrap(),
        c.get_alias(repo, "v1", None).unwrap()
    );
    let e = c.get_alias(repo, "nope", None).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::NotFound { .. })),
        "{e}"
    );
}

/// OCI alias manifests (the empty config uploaded as a blob) and their readers; referrers
/// through the tag schema (none); `attach`, whose manifest is stored by digest — which this
/// server refuses (400) — is a typed error.
fn oci_artifacts(kind: Kind) {
    let cr = CrRegistry::start();
    let c = client(kind, &cr);
    let repo = "lib/art";
    let (a, b) = (random_bytes(1000, 21), random_bytes(10, 22));
    let da = c.push_reader(repo, &a, Push::new()).unwrap().digest;
    let db = c.push_reader(repo, &b, Push::new()).unwrap().digest;
    let empty = digest(EMPTY_CONFIG_DIGEST);
    assert!(!c.blob_exists(repo, &empty).unwrap());

    let mut options = OciArtifactOptions::default();
    options
        .annotations
        .insert("org.opencontainers.image.version".into(), "1".into());
    let blobs = [(da.clone(), Some("a.bin".to_owned())), (db.clone(), None)];
    let manifest = c.set_alias_oci(repo, "oci", &blobs, &options).unwrap();
    assert!(manifest.contains(r#""artifactType":"application/vnd.dxf.blobs.v1""#));
    assert!(manifest.contains(r#""org.opencontainers.image.title":"a.bin""#));
    pulls_back(&*c, repo, &empty, b"{}");
    assert!(c.push_empty_config(repo).unwrap().skipped);
    assert_eq!(
        c.get_alias(repo, "oci", None).unwrap(),
        PerPlatform::Single(vec![(da.clone(), 1000), (db.clone(), 10)])
    );
    assert_eq!(
        c.get_manifest(repo, "oci", None).unwrap(),
        PerPlatform::Single(manifest.clone().into_bytes())
    );

    let none = c.referrers(repo, "oci", None).unwrap();
    assert_eq!(none.via, ReferrersVia::TagSchema);
    assert!(none.manifests.is_empty());

    let mut sig = BlobDescriptor::new(db.clone(), 10);
    sig.title = Some("sig".into());
    let e = c
        .attach(repo, "oci", &[sig], &OciArtifactOptions::default())
        .unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::UnexpectedStatus { status, .. }) if status.as_u16() == 400),
        "{e}"
    );
    // The alias is untouched.
    assert_eq!(
        c.get_manifest(repo, "oci", None).unwrap(),
        PerPlatform::Single(manifest.into_bytes())
    );
}

/// Checkpoints of a chunked push count every acknowledged byte once (the server's `Range`
/// counts only the last `PATCH`); resuming from one whose session is gone — the server
/// cannot tell its status (`GET` → 405) — starts over and succeeds.
fn resume_without_a_status_endpoint(kind: Kind) {
    let cr = CrRegistry::start();
    let c = client(kind, &cr);
    let dir = tempfile::tempdir().unwrap();
    let repo = "lib/resume";
    let data = random_bytes((7 << 20) / 2 + 3, 31);
    let path = write(dir.path(), "r", &data);

    let mut checkpoints: Vec<UploadCheckpoint> = Vec::new();
    let mut record = |cp: &UploadCheckpoint| checkpoints.push(cp.clone());
    let push = Push {
        chunked: true,
        on_checkpoint: Some(&mut record),
        ..Push::new()
    };
    let pushed = c.push_path(repo, &path, push).unwrap();
    pulls_back(&*c, repo, &pushed.digest, &data);
    let offsets: Vec<u64> = checkpoints.iter().map(|cp| cp.offset).collect();
    let len = data.len() as u64;
    assert_eq!(offsets, [0, CHUNK, 2 * CHUNK, 3 * CHUNK, len]);

    let resume = Push {
        chunked: true,
        skip_if_exists: false,
        resume_from: Some(checkpoints[2].clone()),
        ..Push::default()
    };
    let again = c.push_path(repo, &path, resume).unwrap();
    assert_eq!(again.digest, pushed.digest);
    pulls_back(&*c, repo, &again.digest, &data);
}

/// What the server lacks: `DELETE` (405), tag list and catalog (404), mount (202: an upload
/// opened instead) — typed errors, and nothing changed. Seeded without dxf.
fn missing_features_are_typed_errors(kind: Kind) {
    let cr = CrRegistry::start();
    let c = client(kind, &cr);
    let repo = "lib/lack";
    let data = random_bytes(5000, 41);
    let d = digest(&cr.seed_blob(repo, &data));
    let manifest = c.make_manifest(repo, std::slice::from_ref(&d)).unwrap();
    let media_type = "application/vnd.docker.distribution.manifest.v2+json";
    let md = digest(&cr.seed_manifest(repo, "v1", media_type, manifest.as_bytes()));

    let is_405 = |e: &super::adapter::Failure| matches!(e.proto(), Some(ProtoError::UnexpectedStatus { status, .. }) if status.as_u16() == 405);
    let not_found =
        |e: &super::adapter::Failure| matches!(e.proto(), Some(ProtoError::NotFound { .. }));
    let e = c.del_blob(repo, &d).unwrap_err();
    assert!(is_405(&e), "del_blob: {e}");
    let e = c.del_manifest(repo, &md).unwrap_err();
    assert!(is_405(&e), "del_manifest: {e}");
    let e = c.del_alias(repo, "v1").unwrap_err();
    assert!(is_405(&e), "del_alias: {e}");
    let e = c.list_aliases(repo, None).unwrap_err();
    assert!(not_found(&e), "list_aliases: {e}");
    let e = c.list_repos(None).unwrap_err();
    assert!(not_found(&e), "list_repos: {e}");
    let e = c.mount_blob("lib/other", repo, &d).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::MountFailed { .. })),
        "mount_blob: {e}"
    );

    pulls_back(&*c, repo, &d, &data);
    assert_eq!(
        c.get_manifest(repo, "v1", None).unwrap(),
        PerPlatform::Single(manifest.into_bytes())
    );
}

/// The version check and Basic authentication with the right password; a wrong one and
/// none at all are `Unauthorized`, for a read and for a push.
fn credentials(kind: Kind) {
    let cr = CrRegistry::start();
    let d = digest(&cr.seed_blob("lib/creds", b"seeded"));
    // First contact on a repository endpoint (a bare 401: the challenge is only on /v2/).
    let c = client(kind, &cr);
    assert!(c.blob_exists("lib/creds", &d).unwrap());
    let c = client(kind, &cr);
    let pushed = c.push_reader("lib/creds", b"pushed", Push::new()).unwrap();
    pulls_back(&*c, "lib/creds", &pushed.digest, b"pushed");
    c.version_check().unwrap();
    assert_eq!(c.authenticate(Some("lib/creds"), &["pull"]).unwrap(), None);

    let wrong = Credentials::Basic {
        username: "dxf-user".into(),
        password: "wrong".into(),
    };
    for creds in [wrong, Credentials::None] {
        let what = format!("{creds:?}");
        let c = connect(kind, &settings_with(&cr, creds));
        let e = c.blob_exists("lib/creds", &d).unwrap_err();
        assert!(
            matches!(e.proto(), Some(ProtoError::Unauthorized { .. })),
            "{what}: {e}"
        );
        let e = c
            .push_reader("lib/creds", b"data", Push::new())
            .unwrap_err();
        assert!(
            matches!(e.proto(), Some(ProtoError::Unauthorized { .. })),
            "{what}: {e}"
        );
    }
}

dxf_tests::both_adapters!(
    pushes_and_pulls,
    aliases,
    oci_artifacts,
    resume_without_a_status_endpoint,
    missing_features_are_typed_errors,
    credentials,
);
