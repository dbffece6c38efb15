//! The blob cache at work: uploads and copy placements that become cross-repository mounts
//! from a cached location, what a stale or refused location costs (one request, and it is
//! forgotten), and what operations record.

use super::*;
use crate::copy::{BlobPlacement, CopyBlob, PlaceBlob};
use crate::testing::{MemoryAuth, MemoryRegistry, Reply};
use crate::{BlobCache, BlobLocations, DeleteBlob, HeadBlob, Upload, UploadOptions};

fn cached_session(cache: &BlobCache) -> Session {
    session().with_blob_cache(Some(cache.clone()))
}

/// A registry holding `data` in repository `a`, and a cache that saw it there.
fn stored(data: &[u8]) -> (MemoryRegistry, BlobCache) {
    let reg = MemoryRegistry::new();
    reg.state
        .borrow_mut()
        .blobs
        .insert(("a".into(), sha(data).to_string()), data.to_vec());
    let cache = BlobCache::new(BlobLocations::new());
    cache.saw("reg.test", &repo("a"), &sha(data), data.len() as u64);
    (reg, cache)
}

fn methods(peer: &crate::testing::ScriptedRegistry) -> Vec<String> {
    peer.sent
        .iter()
        .map(|r| match r.uri.contains("mount=") {
            true => format!("{} mount", r.method),
            false => r.method.clone(),
        })
        .collect()
}

fn located(cache: &BlobCache, data: &[u8]) -> Vec<String> {
    let d = sha(data);
    cache
        .locations()
        .entries()
        .iter()
        .filter(|e| e.digest == d)
        .map(|e| format!("{}/{}:{}", e.registry, e.repository, e.size))
        .collect()
}

#[test]
fn a_blob_seen_elsewhere_on_the_registry_is_mounted_not_sent() {
    let data = b"the same dataset".to_vec();
    let (reg, cache) = stored(&data);
    let mut s = cached_session(&cache);
    let mut peer = reg.peer();
    let op = Upload::known(&s, &repo("b"), &sha(&data), 16, &UploadOptions::default()).unwrap();
    let out = run(op, &mut s, &mut peer, &data).unwrap().output;
    assert_eq!(methods(&peer), ["HEAD", "POST mount"]);
    assert!(peer.sent[1].uri.ends_with(&format!(
        "/v2/b/blobs/uploads/?mount=sha256%3A{}&from=a",
        sha(&data).encoded()
    )));
    assert_eq!(out.mounted_from, Some(repo("a")));
    assert!(!out.skipped);
    assert_eq!(out.size, 16);
    assert_eq!(located(&cache, &data), ["reg.test/a:16", "reg.test/b:16"]);
    assert_eq!(
        reg.state.borrow().blobs[&("b".into(), sha(&data).to_string())],
        data
    );
}

#[test]
fn a_stale_location_costs_nothing_when_the_registry_opens_a_session_instead() {
    let data = b"gone from a".to_vec();
    let (reg, cache) = stored(&data);
    reg.state.borrow_mut().blobs.clear();
    let mut s = cached_session(&cache);
    let mut peer = reg.peer();
    let op = Upload::known(&s, &repo("b"), &sha(&data), 11, &UploadOptions::default()).unwrap();
    let out = run(op, &mut s, &mut peer, &data).unwrap().output;
    // The 202 is the upload session: the blob goes in its closing PUT.
    assert_eq!(methods(&peer), ["HEAD", "POST mount", "PUT"]);
    assert_eq!(out.mounted_from, None);
    assert_eq!(located(&cache, &data), ["reg.test/b:11"], "a forgotten");
}

#[test]
fn a_refused_mount_is_one_request_then_a_plain_upload_and_the_location_is_dropped() {
    for status in [401, 403, 404, 405, 500] {
        let data = b"refused".to_vec();
        let (reg, cache) = stored(&data);
        let mut s = cached_session(&cache);
        let inner = reg.clone();
        let mut peer = crate::testing::ScriptedRegistry::new(move |sent| {
            if sent.uri.contains("mount=") {
                Reply::status(status)
            } else {
                inner.answer(sent)
            }
        });
        let op = Upload::known(&s, &repo("b"), &sha(&data), 7, &UploadOptions::default()).unwrap();
        let out = run(op, &mut s, &mut peer, &data).unwrap().output;
        assert_eq!(
            methods(&peer),
            ["HEAD", "POST mount", "POST", "PUT"],
            "{status}"
        );
        assert_eq!(out.mounted_from, None);
        assert_eq!(located(&cache, &data), ["reg.test/b:7"], "{status}");
    }
}

#[test]
fn harbor_refusing_a_mount_with_401_after_a_fresh_token_gets_the_upload() {
    let data = b"harbor".to_vec();
    let reg = MemoryRegistry::with_auth(MemoryAuth::Bearer);
    let cache = BlobCache::new(BlobLocations::new());
    cache.saw("reg.test", &repo("other/project"), &sha(&data), 6);
    let mut s = cached_session(&cache);
    let inner = reg.clone();
    let challenge = "Bearer realm=\"https://auth.test/token\",service=\"test-registry\"";
    let mut peer = crate::testing::ScriptedRegistry::new(move |sent| {
        if sent.uri.contains("mount=") {
            Reply::status(401).header("www-authenticate", challenge)
        } else {
            inner.answer(sent)
        }
    });
    let op = Upload::known(&s, &repo("b"), &sha(&data), 6, &UploadOptions::default()).unwrap();
    let out = run(op, &mut s, &mut peer, &data).unwrap().output;
    assert_eq!(out.mounted_from, None);
    // Every token asked for covers both scopes; the mount refused even with a fresh one
    // goes to the upload (one more token round for it, bounded).
    let tokens = reg.state.borrow().token_requests.clone();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    for t in &tokens {
        assert!(
            t.contains("repository%3Ab%3Apull%2Cpush")
                && t.contains("repository%3Aother%2Fproject%3Apull"),
            "{tokens:?}"
        );
    }
    assert_eq!(
        methods(&peer),
        [
            "HEAD",
            "GET",
            "HEAD",
            "POST mount",
            "GET",
            "POST mount",
            "POST",
            "PUT"
        ],
    );
    assert_eq!(located(&cache, &data), ["reg.test/b:6"]);
}

#[test]
fn a_mount_announcing_another_digest_fails_like_an_upload() {
    let data = b"lied about".to_vec();
    let (_, cache) = stored(&data);
    let mut s = cached_session(&cache);
    let mut peer = crate::testing::ScriptedRegistry::sequence(vec![
        Reply::status(404),
        Reply::status(201).header("docker-content-digest", sha(b"other").as_str()),
    ]);
    let op = Upload::known(&s, &repo("b"), &sha(&data), 10, &UploadOptions::default()).unwrap();
    let e = err(run(op, &mut s, &mut peer, &data));
    assert!(matches!(e, crate::Error::DigestMismatch { .. }), "{e:?}");
}

#[test]
fn no_mount_without_a_matching_location() {
    let data = b"sizes differ".to_vec();
    let (reg, cache) = stored(&data);
    // A cached size that is not the file's: never trusted.
    cache.saw("reg.test", &repo("a"), &sha(&data), 999);
    let mut s = cached_session(&cache);
    let mut peer = reg.peer();
    let op = Upload::known(&s, &repo("b"), &sha(&data), 12, &UploadOptions::default()).unwrap();
    run(op, &mut s, &mut peer, &data).unwrap();
    assert_eq!(methods(&peer), ["HEAD", "POST", "PUT"]);
    // Another registry's location is no candidate either.
    let cache = BlobCache::new(BlobLocations::new());
    cache.saw("elsewhere.test", &repo("a"), &sha(&data), 12);
    let mut s = cached_session(&cache);
    let mut peer = reg.peer();
    let op = Upload::known(&s, &repo("c"), &sha(&data), 12, &UploadOptions::default()).unwrap();
    run(op, &mut s, &mut peer, &data).unwrap();
    assert_eq!(methods(&peer), ["HEAD", "POST", "PUT"]);
    // Nor without a cache, or with `without_mount`.
    let (reg, cache) = stored(&data);
    let mut s = cached_session(&cache);
    let mut peer = reg.peer();
    let op = Upload::known(&s, &repo("b"), &sha(&data), 12, &UploadOptions::default())
        .unwrap()
        .without_mount();
    run(op, &mut s, &mut peer, &data).unwrap();
    assert_eq!(methods(&peer), ["HEAD", "POST", "PUT"]);
}

#[test]
fn small_documents_uploaded_from_memory_mount_too() {
    let data = br#"{"architecture":"amd64"}"#.to_vec();
    let (reg, cache) = stored(&data);
    let mut s = cached_session(&cache);
    let mut peer = reg.peer();
    let op = Upload::bytes(&s, &repo("b"), data.clone(), &UploadOptions::default()).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(methods(&peer), ["HEAD", "POST mount"]);
    assert_eq!(out.mounted_from, Some(repo("a")));
}

#[test]
fn a_copy_placement_mounts_from_a_cached_location_and_forgets_a_refused_one() {
    let data = b"layer".to_vec();
    let (reg, cache) = stored(&data);
    let blob = CopyBlob {
        digest: sha(&data),
        size: 5,
    };
    let mut s = cached_session(&cache);
    let mut peer = reg.peer();
    let op = PlaceBlob::new(&s, &repo("b"), &blob, None).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(out, BlobPlacement::Mounted);
    assert_eq!(methods(&peer), ["HEAD", "POST mount"]);
    assert_eq!(located(&cache, &data), ["reg.test/a:5", "reg.test/b:5"]);
    // Deleted from both: the next placement finds them gone and forgets them.
    reg.state.borrow_mut().blobs.clear();
    let mut peer = reg.peer();
    let op = PlaceBlob::new(&s, &repo("c"), &blob, None).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(out, BlobPlacement::NeedsUpload);
    assert_eq!(methods(&peer), ["HEAD", "POST mount", "DELETE"]);
    assert_eq!(located(&cache, &data), ["reg.test/a:5"]);
    let mut peer = reg.peer();
    let op = PlaceBlob::new(&s, &repo("c"), &blob, None).unwrap();
    run(op, &mut s, &mut peer, b"").unwrap();
    assert_eq!(methods(&peer), ["HEAD", "POST mount", "DELETE"]);
    assert!(located(&cache, &data).is_empty());
}

#[test]
fn a_head_records_and_a_delete_forgets() {
    let data = b"seen".to_vec();
    let (reg, _) = stored(&data);
    let cache = BlobCache::new(BlobLocations::new());
    let mut s = cached_session(&cache);
    let mut peer = reg.peer();
    run(
        HeadBlob::new(&s, &repo("a"), &sha(&data)).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(located(&cache, &data), ["reg.test/a:4"]);
    run(
        DeleteBlob::new(&s, &repo("a"), &sha(&data)).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert!(located(&cache, &data).is_empty());
    assert!(cache.is_changed());
}
