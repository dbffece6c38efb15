//! Copying aliases (`copy_to`) and deleting one alias (`del_alias_only`) over both
//! adapters, on the real registry: within a registry (blobs mounted), to a second registry
//! (blobs streamed), a multi-arch index copied whole (same index digest, every platform's
//! blobs), a refused mount (the fault proxy turns the mount into a plain upload start: 202)
//! falling back to an upload, and sibling aliases surviving `del_alias_only`.

use std::path::Path;

use super::adapter::{connect_copy, CopyAdapter, Push, Settings};
use super::{Kind, Mode};
use dxf_tests::cli::{random_bytes, sha256};
use dxf_tests::fault_proxy::{Fault, FaultProxy, Rule};
use dxf_tests::oci_layout::{write_multi_arch, MultiArch};
use dxf_tests::TestRegistry;
use dxf_ureq::dxf_proto::{Digest, Error as ProtoError, PerPlatform};

fn copier(kind: Kind, reg: &TestRegistry) -> std::sync::Arc<dyn CopyAdapter> {
    connect_copy(kind, &Settings::for_registry(reg))
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

/// Pushes the multi-arch image in `dir` to `repo` (blobs, platform manifests by digest,
/// the index as `tag`).
fn push_multi_arch(c: &dyn CopyAdapter, repo: &str, dir: &Path, image: &MultiArch, tag: &str) {
    for p in &image.platforms {
        for d in std::iter::once(&p.config_digest).chain(p.layers.iter().map(|l| &l.0)) {
            let path = dir
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:"));
            c.push_path(repo, &path, Push::new()).unwrap();
        }
        c.set_manifest(repo, &p.manifest_digest, &p.manifest)
            .unwrap();
    }
    c.set_manifest(repo, tag, &image.index).unwrap();
}

/// The distinct blobs of `image`: (digest, size).
fn distinct_blobs(image: &MultiArch) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for p in &image.platforms {
        let config = (p.config_digest.clone(), 0);
        for (d, s) in std::iter::once(config).chain(p.layers.iter().cloned()) {
            if !out.iter().any(|(o, _)| *o == d) {
                out.push((d, s));
            }
        }
    }
    out
}

/// Every platform manifest and blob of `image` reads back from `repo` through `c`.
fn assert_copied(c: &dyn CopyAdapter, repo: &str, tag: &str, image: &MultiArch) {
    assert_eq!(
        c.head_manifest(repo, tag).unwrap().digest.unwrap().as_str(),
        image.index_digest
    );
    let manifests = c.get_manifest(repo, tag, None).unwrap();
    let want: Vec<_> = image
        .platforms
        .iter()
        .map(|p| (p.key.clone(), p.manifest.clone()))
        .collect();
    assert_eq!(manifests, PerPlatform::Platforms(want));
    for (d, _) in distinct_blobs(image) {
        let (_, read) = c.pull(repo, &digest(&d), None).unwrap();
        assert_eq!(sha256(&read.unwrap()), d, "blob {d} in {repo}");
    }
}

fn copy_within_registry(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let c = copier(kind, &reg);
    let dir = tempfile::tempdir().unwrap();
    let image = write_multi_arch(dir.path(), "multi");
    push_multi_arch(&*c, "cp/src", dir.path(), &image, "multi");

    // Same alias by default; blobs mounted; every manifest stored.
    let report = c.copy("cp/src", "multi", None, "cp/dst", None, 4).unwrap();
    let blobs = distinct_blobs(&image);
    assert_eq!(report.digest.as_str(), image.index_digest);
    assert_eq!(report.manifests, 1 + image.platforms.len());
    assert_eq!(report.blobs_mounted, blobs.len(), "{report}");
    assert_eq!((report.blobs_uploaded, report.bytes_uploaded), (0, 0));
    assert_copied(&*c, "cp/dst", "multi", &image);

    // Again, under another alias: every blob is already there.
    let again = c
        .copy("cp/src", "multi", None, "cp/dst", Some("v2"), 1)
        .unwrap();
    assert_eq!(again.blobs_present, blobs.len(), "{again}");
    assert_eq!(again.blobs_mounted + again.blobs_uploaded, 0);
    assert_copied(&*c, "cp/dst", "v2", &image);

    // A python-dxf alias, from a digest source to a tag.
    let data = random_bytes(300_000, 7);
    let pushed = c.push_reader("cp/src", &data, Push::new()).unwrap();
    c.set_alias("cp/src", "plain", std::slice::from_ref(&pushed.digest))
        .unwrap();
    let manifest_digest = c.head_manifest("cp/src", "plain").unwrap().digest.unwrap();
    let r = c
        .copy(
            "cp/src",
            manifest_digest.as_str(),
            None,
            "cp/other",
            Some("plain2"),
            2,
        )
        .unwrap();
    assert_eq!(r.digest, manifest_digest);
    assert_eq!((r.manifests, r.blobs_mounted), (1, 1));
    assert_eq!(
        c.get_alias("cp/other", "plain2", None).unwrap(),
        PerPlatform::Single(vec![(pushed.digest.clone(), data.len() as u64)])
    );

    // Failures: an unknown alias is NotFound, and nothing is stored.
    let e = c
        .copy("cp/src", "nope", None, "cp/third", None, 4)
        .unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::NotFound { .. })),
        "{e}"
    );
    assert!(c.list_aliases("cp/third", None).is_err());
}

fn copy_between_registries(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let other = TestRegistry::start(mode);
    let c = copier(kind, &reg);
    let dir = tempfile::tempdir().unwrap();
    let image = write_multi_arch(dir.path(), "multi");
    push_multi_arch(&*c, "x/src", dir.path(), &image, "multi");
    // A big blob too, streamed in one relayed PATCH (larger than a chunk).
    let big = random_bytes((3 << 20) + 17, 9);
    let big_pushed = c.push_reader("x/src", &big, Push::new()).unwrap();
    c.set_alias("x/src", "big", std::slice::from_ref(&big_pushed.digest))
        .unwrap();

    let to = Settings::for_registry(&other);
    let report = c
        .copy("x/src", "multi", Some(&to), "y/dst", Some("copied"), 3)
        .unwrap();
    let blobs = distinct_blobs(&image);
    assert_eq!(report.digest.as_str(), image.index_digest);
    assert_eq!(report.blobs_uploaded, blobs.len(), "{report}");
    assert_eq!(
        report.bytes_uploaded,
        blobs.iter().map(|(_, s)| *s).sum::<u64>()
            + image
                .platforms
                .iter()
                .map(|p| {
                    // Config sizes are not in `layers`: count them from the blob files.
                    std::fs::metadata(
                        dir.path()
                            .join("blobs/sha256")
                            .join(p.config_digest.trim_start_matches("sha256:")),
                    )
                    .unwrap()
                    .len()
                })
                .sum::<u64>()
    );
    assert_eq!(report.blobs_mounted, 0, "no mount between registries");
    let d = copier(kind, &other);
    assert_copied(&*d, "y/dst", "copied", &image);

    let r = c.copy("x/src", "big", Some(&to), "y/dst", None, 1).unwrap();
    assert_eq!((r.blobs_uploaded, r.bytes_uploaded), (1, big.len() as u64));
    let (_, read) = d.pull("y/dst", &big_pushed.digest, None).unwrap();
    assert!(read.unwrap() == big);
    // Nothing was left in the source's place: the copy is a copy.
    assert_eq!(
        c.get_alias("x/src", "big", None).unwrap(),
        d.get_alias("y/dst", "big", None).unwrap()
    );
}

fn del_alias_only_keeps_siblings(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let c = copier(kind, &reg);
    let pushed = c.push_reader("del/r", b"shared blob", Push::new()).unwrap();
    let blobs = vec![pushed.digest.clone()];
    for a in ["one", "two", "three", "four"] {
        c.set_alias("del/r", a, &blobs).unwrap();
    }
    let deleted = c.del_alias_only("del/r", "one").unwrap();
    assert_eq!(
        deleted.layers(),
        PerPlatform::Single(vec![(pushed.digest.clone(), 11)])
    );
    let e = c.get_alias("del/r", "one", None).unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::NotFound { .. })),
        "{e}"
    );
    for a in ["two", "three", "four"] {
        assert_eq!(
            c.get_alias("del/r", a, None).unwrap(),
            PerPlatform::Single(vec![(pushed.digest.clone(), 11)]),
            "{a}"
        );
    }
    let mut tags = c.list_aliases("del/r", None).unwrap();
    tags.sort();
    assert_eq!(tags, ["four", "three", "two"]);
    // An alias that does not exist.
    let e = c.del_alias_only("del/r", "one").unwrap_err();
    assert!(
        matches!(e.proto(), Some(ProtoError::NotFound { .. })),
        "{e}"
    );
    // python-dxf's del_alias is unchanged: the manifest goes, with its siblings.
    c.del_alias("del/r", "two").unwrap();
    for a in ["three", "four"] {
        assert!(c.get_alias("del/r", a, None).is_err(), "{a}");
    }
}

fn mount_refused_falls_back_to_upload(kind: Kind) {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let mut settings = Settings::for_registry(&reg);
    settings.host = proxy.host();
    let c = connect_copy(kind, &settings);
    let data = random_bytes(200_000, 3);
    let pushed = c.push_reader("m/src", &data, Push::new()).unwrap();
    c.set_alias("m/src", "a", std::slice::from_ref(&pushed.digest))
        .unwrap();
    proxy.add(Rule::on("POST", "mount=", Fault::StripQuery).always());
    proxy.clear_log();
    let r = c.copy("m/src", "a", None, "m/dst", None, 2).unwrap();
    assert_eq!((r.blobs_mounted, r.blobs_uploaded), (0, 1), "{r}");
    let log = proxy.log();
    let mount = log
        .iter()
        .find(|e| e.method == "POST" && e.target.contains("mount="))
        .expect("a mount was tried");
    assert_eq!(mount.status, Some(202));
    assert!(
        log.iter()
            .any(|e| e.method == "DELETE" && e.target.contains("/blobs/uploads/")),
        "the session the refused mount opened is cancelled: {log:#?}"
    );
    assert!(log.iter().any(|e| e.method == "PATCH"), "{log:#?}");
    let (_, read) = c.pull("m/dst", &pushed.digest, None).unwrap();
    assert!(read.unwrap() == data);
    // Harbor's refusal: 401 to the mount (no challenge to answer); placed again without
    // a mount, uploaded.
    proxy.clear();
    proxy.add(Rule::on("POST", "mount=", Fault::status(401)).always());
    let r = c.copy("m/src", "a", None, "m/third", None, 2).unwrap();
    assert_eq!((r.blobs_mounted, r.blobs_uploaded), (0, 1), "{r}");
    let (_, read) = c.pull("m/third", &pushed.digest, None).unwrap();
    assert!(read.unwrap() == data);
}

/// `copy --referrers`: an image with a signature, and an SBOM attached to the signature
/// (distribution 2.8.2 has no referrers API: the tag schema on both sides), copied within
/// the registry and to a second one — every referrer copied by digest, listed at the
/// destination as at the source, recursively; copying again changes nothing.
fn copy_with_referrers(kind: Kind, mode: Mode) {
    use dxf_ureq::dxf_proto::manifest::alias::{BlobDescriptor, OciArtifactOptions};
    use dxf_ureq::dxf_proto::ReferrersVia;
    let reg = TestRegistry::start(mode);
    let other = TestRegistry::start(mode);
    let c = copier(kind, &reg);
    let image = c
        .push_reader("r/src", &random_bytes(5000, 41), Push::new())
        .unwrap();
    c.set_alias("r/src", "v1", std::slice::from_ref(&image.digest))
        .unwrap();
    let typed = |t: &str| OciArtifactOptions {
        artifact_type: t.into(),
        ..OciArtifactOptions::default()
    };
    let sig_blob = c.push_reader("r/src", b"signature", Push::new()).unwrap();
    let sig = c
        .attach(
            "r/src",
            "v1",
            &[BlobDescriptor::new(sig_blob.digest.clone(), 9)],
            &typed("application/vnd.example.sig"),
        )
        .unwrap();
    let sbom = c
        .attach(
            "r/src",
            sig.digest.as_str(),
            &[],
            &typed("application/vnd.example.sbom"),
        )
        .unwrap();
    let subject = sig.subject.digest.clone();

    let check = |c: &dyn CopyAdapter, repo: &str| {
        let first = c.referrers(repo, subject.as_str(), None).unwrap();
        assert_eq!(first.via, ReferrersVia::TagSchema);
        let digests: Vec<&Digest> = first.manifests.iter().map(|d| &d.digest).collect();
        assert_eq!(digests, [&sig.digest], "{repo}");
        assert_eq!(
            first.manifests[0].artifact_type.as_deref(),
            Some("application/vnd.example.sig")
        );
        let second = c.referrers(repo, sig.digest.as_str(), None).unwrap();
        let digests: Vec<&Digest> = second.manifests.iter().map(|d| &d.digest).collect();
        assert_eq!(digests, [&sbom.digest], "{repo}");
        // The signature's blob came along.
        assert_eq!(c.blob_size(repo, &sig_blob.digest).unwrap(), 9);
    };
    let report = c.copy_with_referrers("r/src", "v1", None, "r/dst").unwrap();
    assert_eq!(report.digest, subject);
    check(&*c, "r/dst");
    // Again: nothing new, nothing listed twice.
    c.copy_with_referrers("r/src", "v1", None, "r/dst").unwrap();
    check(&*c, "r/dst");

    let to = Settings::for_registry(&other);
    c.copy_with_referrers("r/src", "v1", Some(&to), "s/dst")
        .unwrap();
    let there = copier(kind, &other);
    check(&*there, "s/dst");
    // A plain copy takes none.
    c.copy("r/src", "v1", None, "r/plain", None, 2).unwrap();
    let none = c.referrers("r/plain", subject.as_str(), None).unwrap();
    assert!(none.manifests.is_empty());
}

scenarios!(
    copy_within_registry,
    copy_between_registries,
    del_alias_only_keeps_siblings,
    copy_with_referrers,
);

/// A source blob that fails verification while it is streamed to another registry is the
/// source's failure — a digest mismatch, reported as it is — not a lost request to the
/// destination: sent once, never retried; nothing is stored there and its upload session
/// is deleted.
fn a_corrupted_source_is_not_the_destinations_failure(kind: Kind) {
    let reg = TestRegistry::start(Mode::Plain);
    let proxy = FaultProxy::for_registry(&reg);
    let other = TestRegistry::start(Mode::Plain);
    let dst_proxy = FaultProxy::for_registry(&other);
    let mut settings = Settings::for_registry(&reg);
    settings.host = proxy.host();
    let c = connect_copy(kind, &settings);
    let data = random_bytes((3 << 20) + 5, 21);
    let pushed = c.push_reader("k/src", &data, Push::new()).unwrap();
    c.set_alias("k/src", "a", std::slice::from_ref(&pushed.digest))
        .unwrap();
    proxy.add(Rule::on("GET", "/blobs/sha256:", Fault::CorruptByte(1000)).always());
    let mut to = Settings::for_registry(&other);
    to.host = dst_proxy.host();
    let e = c
        .copy("k/src", "a", Some(&to), "k/dst", None, 2)
        .expect_err("a corrupted source blob is never copied");
    let text = e.to_string();
    assert!(text.contains("digest mismatch"), "{text}");
    assert!(!text.contains("connection"), "{text}");
    let log = dst_proxy.log();
    let patches = log.iter().filter(|x| x.method == "PATCH").count();
    assert_eq!(patches, 1, "sent once, never retried: {log:#?}");
    assert!(
        log.iter()
            .any(|x| x.method == "DELETE" && x.target.contains("/blobs/uploads/")),
        "the destination's session is cancelled: {log:#?}"
    );
    assert!(!log
        .iter()
        .any(|x| x.method == "PUT" && x.target.contains("/manifests/")));
}

#[test]
fn a_corrupted_source_is_not_the_destinations_failure_ureq() {
    a_corrupted_source_is_not_the_destinations_failure(Kind::Ureq);
}

#[test]
fn a_corrupted_source_is_not_the_destinations_failure_hyper() {
    a_corrupted_source_is_not_the_destinations_failure(Kind::Hyper);
}

#[test]
fn mount_refused_falls_back_to_upload_ureq() {
    mount_refused_falls_back_to_upload(Kind::Ureq);
}

#[test]
fn mount_refused_falls_back_to_upload_hyper() {
    mount_refused_falls_back_to_upload(Kind::Hyper);
}
