//! OCI 1.1 artifacts over both adapters against the real registry (distribution 2.8.2, which
//! has no referrers API: the tag schema fallback is what runs here; the API path is
//! unit-tested in dxf-proto): OCI alias manifests and every reader on them, the empty
//! config, attach (subject, fallback index, de-duplication) and referrers (filter, digest
//! subjects, missing subjects).

use super::adapter::{Adapter, Kind, Push};
use super::client;
use dxf_tests::cli::{random_bytes, sha256};
use dxf_tests::{Mode, TestRegistry};
use dxf_ureq::dxf_proto::manifest::alias::{BlobDescriptor, OciArtifactOptions};
use dxf_ureq::dxf_proto::manifest::media_types::{
    DOCKER_SCHEMA2_MANIFEST, EMPTY_CONFIG_DIGEST, OCI_IMAGE_MANIFEST,
};
use dxf_ureq::dxf_proto::{Digest, Error as ProtoError, PerPlatform, ReferrersVia};

fn push(c: &dyn Adapter, repo: &str, data: &[u8]) -> Digest {
    c.push_reader(repo, data, Push::new()).unwrap().digest
}

fn oci_artifacts(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let c = client(kind, &reg);
    let repo = "lib/art";
    let (a, b) = (random_bytes(1000, 11), random_bytes(10, 12));
    let (da, db) = (push(&*c, repo, &a), push(&*c, repo, &b));
    assert_eq!(da.as_str(), sha256(&a));
    let empty = Digest::parse(EMPTY_CONFIG_DIGEST).unwrap();
    assert!(!c.blob_exists(repo, &empty).unwrap());

    // An OCI alias: the empty config is pushed, and every reader takes the manifest.
    let mut options = OciArtifactOptions::default();
    options
        .annotations
        .insert("org.opencontainers.image.version".into(), "1".into());
    let blobs = [(da.clone(), Some("a.bin".to_owned())), (db.clone(), None)];
    let manifest = c.set_alias_oci(repo, "oci", &blobs, &options).unwrap();
    assert!(manifest.contains(r#""artifactType":"application/vnd.dxf.blobs.v1""#));
    assert!(manifest.contains(r#""org.opencontainers.image.title":"a.bin""#));
    assert_eq!(c.blob_size(repo, &empty).unwrap(), 2);
    assert!(c.push_empty_config(repo).unwrap().skipped);
    assert_eq!(
        c.get_alias(repo, "oci", None).unwrap(),
        PerPlatform::Single(vec![(da.clone(), 1000), (db.clone(), 10)])
    );
    assert_eq!(
        c.get_digest(repo, "oci", None).unwrap(),
        PerPlatform::Single(empty.clone())
    );
    assert_eq!(
        c.get_manifest(repo, "oci", None).unwrap(),
        PerPlatform::Single(manifest.clone().into_bytes())
    );
    let info = c.head_manifest(repo, "oci").unwrap();
    assert_eq!(info.media_type.as_deref(), Some(OCI_IMAGE_MANIFEST));
    assert_eq!(
        info.digest.as_ref().map(Digest::as_str),
        Some(sha256(manifest.as_bytes()).as_str())
    );

    // A python-dxf alias has no referrers yet: the tag schema says so.
    c.set_alias(repo, "docker", std::slice::from_ref(&da))
        .unwrap();
    let none = c.referrers(repo, "docker", None).unwrap();
    assert_eq!(none.via, ReferrersVia::TagSchema);
    assert!(none.manifests.is_empty());
    let subject = c.head_manifest(repo, "docker").unwrap().digest.unwrap();
    assert_eq!(none.subject, subject);

    // Attach two artifacts; the registry sends no OCI-Subject, so dxf keeps the index.
    let mut sig = BlobDescriptor::new(db.clone(), 10);
    sig.title = Some("sig".into());
    let typed = OciArtifactOptions {
        artifact_type: "application/vnd.example.sig".into(),
        ..OciArtifactOptions::default()
    };
    let first = c.attach(repo, "docker", &[sig.clone()], &typed).unwrap();
    assert_eq!(first.subject.digest, subject);
    assert_eq!(first.subject.media_type, DOCKER_SCHEMA2_MANIFEST);
    assert_eq!(first.digest.as_str(), sha256(first.manifest.as_bytes()));
    assert!(first.fallback_index.is_some());
    let second = c
        .attach(repo, "docker", &[], &OciArtifactOptions::default())
        .unwrap();
    assert_ne!(first.fallback_index, second.fallback_index);
    // The same artifact again: same digest, the index unchanged.
    let again = c.attach(repo, "docker", &[sig], &typed).unwrap();
    assert_eq!(again.digest, first.digest);
    assert_eq!(again.fallback_index, second.fallback_index);

    let all = c.referrers(repo, "docker", None).unwrap();
    assert_eq!(all.via, ReferrersVia::TagSchema);
    let got: Vec<_> = all
        .manifests
        .iter()
        .map(|d| (d.digest.clone(), d.artifact_type.clone(), d.size))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                first.digest.clone(),
                Some("application/vnd.example.sig".to_owned()),
                first.manifest.len() as u64
            ),
            (
                second.digest.clone(),
                Some("application/vnd.dxf.blobs.v1".to_owned()),
                second.manifest.len() as u64
            ),
        ]
    );
    // Filtered, and by the subject's digest.
    let sigs = c
        .referrers(repo, subject.as_str(), Some("application/vnd.example.sig"))
        .unwrap();
    assert_eq!(sigs.manifests.len(), 1);
    assert_eq!(sigs.manifests[0].digest, first.digest);
    // The fallback index is the tag sha256-<hex>.
    let tag = format!("sha256-{}", subject.encoded());
    assert!(c.list_aliases(repo, None).unwrap().contains(&tag));
    assert_eq!(
        c.head_manifest(repo, &tag).unwrap().digest,
        second.fallback_index
    );
    // An artifact is itself readable as an alias (by digest).
    assert_eq!(
        c.get_alias(repo, first.digest.as_str(), None).unwrap(),
        PerPlatform::Single(vec![(db.clone(), 10)])
    );
    // The OCI alias can be a subject too.
    let on_oci = c
        .attach(repo, "oci", &[], &OciArtifactOptions::default())
        .unwrap();
    assert_eq!(on_oci.subject.media_type, OCI_IMAGE_MANIFEST);
    let listed = c.referrers(repo, "oci", None).unwrap();
    assert_eq!(listed.manifests.len(), 1);
    assert_eq!(listed.manifests[0].digest, on_oci.digest);

    // A subject that is not there: 404, nothing stored.
    let e = c
        .attach(repo, "nope", &[], &OciArtifactOptions::default())
        .unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::NotFound { .. })),
        "{e}"
    );
    let e = c.referrers(repo, "nope", None).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::NotFound { .. })),
        "{e}"
    );
}

scenarios!(oci_artifacts);

/// The layers `dxf push` writes (files and directories, oras's way), over both libraries:
/// stored as given, the empty config pushed, and read back as a pull plan.
fn file_layers(kind: Kind, mode: Mode) {
    use dxf_ureq::dxf_proto::client::{directory_layer, file_layer, pull_plan};
    let reg = TestRegistry::start(mode);
    let c = client(kind, &reg);
    let repo = "lib/files";
    let (a, tgz) = (random_bytes(100, 21), random_bytes(50, 22));
    let (da, dt) = (push(&*c, repo, &a), push(&*c, repo, &tgz));
    let tar = Digest::parse(&sha256(b"tar")).unwrap();
    let layers = [
        file_layer(da.clone(), 100, "a.bin"),
        directory_layer(dt.clone(), 50, "dir", &tar),
    ];
    let manifest = c
        .set_alias_layers(repo, "v1", &layers, &OciArtifactOptions::default())
        .unwrap();
    assert!(manifest.contains(r#""io.deis.oras.content.unpack":"true""#));
    assert!(manifest.contains(r#""mediaType":"application/vnd.oci.image.layer.v1.tar+gzip""#));
    assert_eq!(
        c.get_manifest(repo, "v1", None).unwrap(),
        PerPlatform::Single(manifest.clone().into_bytes())
    );
    let read = c
        .read_manifest(repo, manifest.as_bytes(), Default::default())
        .unwrap();
    let plan = pull_plan(&read.content).unwrap();
    let got: Vec<(&str, bool)> = plan.iter().map(|i| (i.path.as_str(), i.unpack)).collect();
    assert_eq!(got, [("a.bin", false), ("dir", true)]);
    let empty = Digest::parse(EMPTY_CONFIG_DIGEST).unwrap();
    assert_eq!(c.blob_size(repo, &empty).unwrap(), 2);
    // An invalid alias is refused before anything is sent.
    assert!(c
        .set_alias_layers(repo, "no good", &layers, &OciArtifactOptions::default())
        .is_err());
}

scenarios!(file_layers);
