//! Copy planning (`PlanCopy`, `CopyPlan::manifest_puts`) and per-blob placement
//! (`PlaceBlob`): present, mounted, mount refused (202 → cancelled → upload), another
//! registry (no mount), and the upload of what is left.

use super::*;
use crate::copy::{
    same_registry, upload_blob, BlobPlacement, CopyBlob, CopyPlan, CopyReport, PlaceBlob, PlanCopy,
};
use crate::testing::{MemoryRegistry, Reply};
use crate::{Error, Operation, PutManifest, Reference, Scheme};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn image(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let layer_json: Vec<String> = layers
        .iter()
        .map(|l| {
            format!(
                r#"{{"mediaType":"application/octet-stream","digest":"{}","size":{}}}"#,
                sha(l),
                l.len()
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/json","digest":"{}","size":{}}},"layers":[{}]}}"#,
        sha(config),
        config.len(),
        layer_json.join(",")
    )
    .into_bytes()
}

fn index(children: &[(&[u8], Option<&str>)]) -> Vec<u8> {
    let entries: Vec<String> = children
        .iter()
        .map(|(m, arch)| {
            let platform = arch
                .map(|a| format!(r#","platform":{{"os":"linux","architecture":"{a}"}}"#))
                .unwrap_or_default();
            format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{}{platform}}}"#,
                sha(m),
                m.len()
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    )
    .into_bytes()
}

fn put(reg: &MemoryRegistry, s: &mut Session, r: &str, body: &[u8]) {
    let op = PutManifest::new(
        s,
        &repo("src"),
        &Reference::parse(r).unwrap(),
        body.to_vec(),
    );
    run(op.unwrap(), s, &mut reg.peer(), b"").unwrap();
}

fn plan(reg: &MemoryRegistry, s: &mut Session, r: &str) -> Result<CopyPlan, Error> {
    let op = PlanCopy::new(s, &repo("src"), &Reference::parse(r).unwrap()).unwrap();
    run(op, s, &mut reg.peer(), b"")
        .map(|d| d.output)
        .map_err(|e| match e {
            crate::testing::DriveError::Op(e) => e,
            other => panic!("{other:?}"),
        })
}

fn blob(data: &[u8]) -> CopyBlob {
    CopyBlob {
        digest: sha(data),
        size: data.len() as u64,
    }
}

#[test]
fn an_image_plans_one_manifest_and_its_distinct_blobs() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let m = image(b"cfg", &[b"l1", b"cfg", b"l1", b"l2"]);
    put(&reg, &mut s, "v1", &m);
    let p = plan(&reg, &mut s, "v1").unwrap();
    assert_eq!(p.manifests.len(), 1);
    assert_eq!(p.manifests[0].body, m);
    assert_eq!(p.manifests[0].digest, sha(&m));
    assert_eq!(p.manifests[0].media_type, OCI_MANIFEST);
    assert_eq!(p.blobs, [blob(b"cfg"), blob(b"l1"), blob(b"l2")]);
    assert_eq!(p.top().unwrap().digest, sha(&m));
}

#[test]
fn an_index_plans_children_first_with_every_entry_even_without_platform() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let amd = image(b"c-amd", &[b"shared", b"amd"]);
    let arm = image(b"c-arm", &[b"shared", b"arm"]);
    let attestation = image(b"c-att", &[b"att"]);
    let idx = index(&[
        (&amd, Some("amd64")),
        (&arm, Some("arm64")),
        (&attestation, None),
        (&amd, Some("amd64")),
    ]);
    for m in [&amd, &arm, &attestation] {
        put(&reg, &mut s, sha(m).as_str(), m);
    }
    put(&reg, &mut s, "multi", &idx);
    let p = plan(&reg, &mut s, "multi").unwrap();
    let order: Vec<_> = p.manifests.iter().map(|m| m.digest.clone()).collect();
    assert_eq!(order, [sha(&amd), sha(&arm), sha(&attestation), sha(&idx)]);
    assert_eq!(p.top().unwrap().body, idx);
    assert_eq!(
        p.blobs,
        [
            blob(b"c-amd"),
            blob(b"shared"),
            blob(b"amd"),
            blob(b"c-arm"),
            blob(b"arm"),
            blob(b"c-att"),
            blob(b"att")
        ]
    );
    // Stored elsewhere: children by digest, the index under the new tag, bytes unchanged.
    let puts = p
        .manifest_puts(&s, &repo("dst"), &Reference::parse("copied").unwrap())
        .unwrap();
    let dst = MemoryRegistry::new();
    let mut peer = dst.peer();
    for op in puts {
        run(op, &mut s, &mut peer, b"").unwrap();
    }
    let uris: Vec<_> = peer.sent.iter().map(|s| s.uri.clone()).collect();
    assert_eq!(
        uris,
        [
            format!("https://reg.test/v2/dst/manifests/{}", sha(&amd)),
            format!("https://reg.test/v2/dst/manifests/{}", sha(&arm)),
            format!("https://reg.test/v2/dst/manifests/{}", sha(&attestation)),
            "https://reg.test/v2/dst/manifests/copied".to_owned(),
        ]
    );
    assert_eq!(peer.sent[3].body, idx);
    assert_eq!(peer.sent[3].header("content-type"), Some(OCI_INDEX));
}

#[test]
fn a_nested_index_is_stored_below_its_parent() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let leaf = image(b"c", &[b"l"]);
    let inner = index(&[(&leaf, Some("amd64"))]);
    // The outer index lists the leaf directly too, before the inner index.
    let outer = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{}}},{{"mediaType":"{OCI_INDEX}","digest":"{}","size":{}}}]}}"#,
        sha(&leaf),
        leaf.len(),
        sha(&inner),
        inner.len()
    )
    .into_bytes();
    put(&reg, &mut s, sha(&leaf).as_str(), &leaf);
    put(&reg, &mut s, sha(&inner).as_str(), &inner);
    put(&reg, &mut s, "outer", &outer);
    let p = plan(&reg, &mut s, "outer").unwrap();
    let order: Vec<_> = p.manifests.iter().map(|m| m.digest.clone()).collect();
    assert_eq!(order, [sha(&leaf), sha(&inner), sha(&outer)]);
    // By digest too.
    let p2 = plan(&reg, &mut s, sha(&outer).as_str()).unwrap();
    assert_eq!(p2, p);
}

#[test]
fn planning_failures() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    // Unknown alias.
    assert!(matches!(
        plan(&reg, &mut s, "nope"),
        Err(Error::NotFound { .. })
    ));
    // A child the registry does not have.
    let child = image(b"c", &[]);
    put(&reg, &mut s, "broken", &index(&[(&child, Some("amd64"))]));
    assert!(matches!(
        plan(&reg, &mut s, "broken"),
        Err(Error::NotFound { .. })
    ));
    // A child served with the wrong bytes.
    let other = image(b"other", &[]);
    let idx = index(&[(&child, Some("amd64"))]);
    let mut peer = ScriptedRegistry::sequence(vec![
        Reply::status(200)
            .header("content-type", OCI_INDEX)
            .body(idx.clone()),
        Reply::status(200)
            .header("content-type", OCI_MANIFEST)
            .body(other),
    ]);
    let op = PlanCopy::new(&s, &repo("src"), &Reference::parse("x").unwrap()).unwrap();
    assert!(matches!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::DigestMismatch { .. }
    ));
    // More manifests than the limit.
    let mut small = session();
    let mut limits = *small.limits();
    limits.max_platforms = 1;
    small = small.with_limits(limits);
    let a = image(b"a", &[]);
    let b = image(b"b", &[]);
    for m in [&a, &b] {
        put(&reg, &mut s, sha(m).as_str(), m);
    }
    put(&reg, &mut s, "two", &index(&[(&a, None), (&b, None)]));
    let e = plan(&reg, &mut small, "two").unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
}

#[test]
fn a_present_blob_is_left_alone() {
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200)]);
    let op = PlaceBlob::new(&session(), &repo("dst"), &blob(b"x"), Some(&repo("src"))).unwrap();
    let out = run(op, &mut session(), &mut peer, b"").unwrap();
    assert_eq!(out.output, BlobPlacement::Present);
    assert_eq!(peer.sent.len(), 1);
    assert_eq!(peer.sent[0].method, "HEAD");
    assert_eq!(
        peer.sent[0].uri,
        format!("https://reg.test/v2/dst/blobs/{}", sha(b"x"))
    );
}

#[test]
fn within_a_registry_a_missing_blob_is_mounted() {
    let reg = MemoryRegistry::new();
    reg.state
        .borrow_mut()
        .blobs
        .insert(("src".into(), sha(b"x").to_string()), b"x".to_vec());
    let op = PlaceBlob::new(&session(), &repo("dst"), &blob(b"x"), Some(&repo("src"))).unwrap();
    let mut peer = reg.peer();
    let out = run(op, &mut session(), &mut peer, b"").unwrap();
    assert_eq!(out.output, BlobPlacement::Mounted);
    assert_eq!(peer.sent[1].method, "POST");
    assert_eq!(
        peer.sent[1].uri,
        format!(
            "https://reg.test/v2/dst/blobs/uploads/?mount={}&from=src",
            sha(b"x").as_str().replace(':', "%3A")
        )
    );
    assert!(reg
        .state
        .borrow()
        .blobs
        .contains_key(&("dst".into(), sha(b"x").to_string())));
}

#[test]
fn a_refused_mount_cancels_its_session_and_asks_for_an_upload() {
    // 202 with a Location (Harbor, or a source the registry cannot read).
    let reg = MemoryRegistry::new();
    let op = PlaceBlob::new(&session(), &repo("dst"), &blob(b"x"), Some(&repo("src"))).unwrap();
    let mut peer = reg.peer();
    let out = run(op, &mut session(), &mut peer, b"").unwrap();
    assert_eq!(out.output, BlobPlacement::NeedsUpload);
    let methods: Vec<_> = peer.sent.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["HEAD", "POST", "DELETE"]);
    assert!(peer.sent[2]
        .uri
        .starts_with("https://reg.test/v2/dst/blobs/uploads/0"));
    assert!(reg.state.borrow().uploads.is_empty(), "session cancelled");
    // Any other refusal (401 from Harbor for an unknown project, 404, 500): upload too.
    for status in [404, 500, 403] {
        let mut peer = ScriptedRegistry::sequence(vec![Reply::status(404), Reply::status(status)]);
        let op = PlaceBlob::new(&session(), &repo("dst"), &blob(b"x"), Some(&repo("src"))).unwrap();
        let out = run(op, &mut session(), &mut peer, b"").unwrap();
        assert_eq!(out.output, BlobPlacement::NeedsUpload, "{status}");
        assert_eq!(peer.sent.len(), 2);
    }
    // A 202 without a Location: nothing to cancel.
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(404), Reply::status(202)]);
    let op = PlaceBlob::new(&session(), &repo("dst"), &blob(b"x"), Some(&repo("src"))).unwrap();
    assert_eq!(
        run(op, &mut session(), &mut peer, b"").unwrap().output,
        BlobPlacement::NeedsUpload
    );
    assert_eq!(peer.sent.len(), 2);
}

#[test]
fn a_mount_announcing_another_digest_is_an_error() {
    let mut peer = ScriptedRegistry::sequence(vec![
        Reply::status(404),
        Reply::status(201).header("docker-content-digest", sha(b"y").as_str()),
    ]);
    let op = PlaceBlob::new(&session(), &repo("dst"), &blob(b"x"), Some(&repo("src"))).unwrap();
    assert!(matches!(
        err(run(op, &mut session(), &mut peer, b"")),
        Error::DigestMismatch { .. }
    ));
}

#[test]
fn across_registries_a_missing_blob_is_uploaded_from_the_stream() {
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(404)]);
    let op = PlaceBlob::new(&session(), &repo("dst"), &blob(b"x"), None).unwrap();
    assert_eq!(
        run(op, &mut session(), &mut peer, b"").unwrap().output,
        BlobPlacement::NeedsUpload
    );
    assert_eq!(peer.sent.len(), 1, "no mount between registries");
    // The upload: the blob's bytes relayed, committed under its digest.
    let reg = MemoryRegistry::new();
    let data = b"the blob's bytes".to_vec();
    let op = upload_blob(&session(), &repo("dst"), &blob(&data)).unwrap();
    let out = run(op, &mut session(), &mut reg.peer(), &data).unwrap();
    assert_eq!(out.output.digest, sha(&data));
    assert_eq!(
        reg.state
            .borrow()
            .blobs
            .get(&("dst".into(), sha(&data).to_string())),
        Some(&data)
    );
    // Bytes that do not hash to the digest are not committed.
    let reg = MemoryRegistry::new();
    let op = upload_blob(&session(), &repo("dst"), &blob(&data)).unwrap();
    let mut wrong = data.clone();
    wrong[0] ^= 1;
    assert!(run(op, &mut session(), &mut reg.peer(), &wrong).is_err());
    assert!(reg.state.borrow().blobs.is_empty());
}

#[test]
fn same_registry_compares_scheme_host_and_port() {
    let a = Session::new("reg.test", Scheme::Https).unwrap();
    assert!(same_registry(
        &a,
        &Session::new("reg.test:443", Scheme::Https).unwrap()
    ));
    assert!(!same_registry(
        &a,
        &Session::new("reg.test", Scheme::Http).unwrap()
    ));
    assert!(!same_registry(
        &a,
        &Session::new("reg.test:5000", Scheme::Https).unwrap()
    ));
    assert!(!same_registry(
        &a,
        &Session::new("other.test", Scheme::Https).unwrap()
    ));
}

#[test]
fn reports_count_blobs_and_bytes() {
    let mut r = CopyReport::new(sha(b"m"));
    r.manifests = 3;
    r.record(&blob(b"abc"), BlobPlacement::NeedsUpload);
    r.record(&blob(b"de"), BlobPlacement::NeedsUpload);
    r.record(&blob(b"f"), BlobPlacement::Mounted);
    r.record(&blob(b"g"), BlobPlacement::Present);
    assert_eq!(
        (
            r.blobs_uploaded,
            r.bytes_uploaded,
            r.blobs_mounted,
            r.blobs_present
        ),
        (2, 5, 1, 1)
    );
    assert_eq!(
        r.to_string(),
        format!(
            "{} (3 manifests; blobs: 2 uploaded (5 bytes), 1 mounted, 1 already present)",
            sha(b"m")
        )
    );
}

#[test]
fn operations_are_done_once() {
    let mut op = PlaceBlob::new(&session(), &repo("dst"), &blob(b"x"), None).unwrap();
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200)]);
    let mut s = session();
    drive(&mut op, &mut peer, &mut s, NOW, b"").unwrap();
    assert!(op.poll(NOW).is_err());
}

#[test]
fn a_mount_refused_with_401_means_an_upload() {
    // Harbor: 401 for a mount from a project it does not know; authentication cannot fix it.
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(404), Reply::status(401)]);
    let op = PlaceBlob::new(&session(), &repo("dst"), &blob(b"x"), Some(&repo("src"))).unwrap();
    let out = run(op, &mut session(), &mut peer, b"").unwrap().output;
    assert_eq!(out, BlobPlacement::NeedsUpload);
    assert_eq!(peer.sent.len(), 2, "no challenge round, no ping");
}
