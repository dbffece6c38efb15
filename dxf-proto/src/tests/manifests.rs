//! Manifest PUT/GET/HEAD/DELETE and alias reads (single manifests, indexes, platforms).

use super::*;
use crate::manifest::alias::{docker_alias_manifest, BlobDescriptor};
use crate::manifest::parse::IndexWithoutPlatforms;
use crate::testing::{MemoryRegistry, Reply};
use crate::{
    AliasContent, DeleteManifest, Error, GetManifest, HeadManifest, PerPlatform, PutManifest,
    ReadAlias, ReadOptions, Reference,
};

const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

fn tag(t: &str) -> Reference {
    Reference::parse(t).unwrap()
}

fn alias_manifest(blobs: &[&[u8]]) -> String {
    let descs: Vec<BlobDescriptor> = blobs
        .iter()
        .map(|b| BlobDescriptor {
            digest: sha(b),
            size: b.len() as u64,
            title: None,
        })
        .collect();
    docker_alias_manifest(&descs).unwrap()
}

#[test]
fn put_sends_the_media_type_and_returns_the_digest() {
    let reg = MemoryRegistry::new();
    let m = alias_manifest(&[b"one", b"two"]);
    let mut s = session();
    let mut peer = reg.peer();
    let out = run(
        PutManifest::new(&s, &repo("a"), &tag("v1"), m.clone().into_bytes()).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(out.output, sha(m.as_bytes()));
    assert_eq!(peer.sent[0].method, "PUT");
    assert_eq!(peer.sent[0].uri, "https://reg.test/v2/a/manifests/v1");
    assert_eq!(
        peer.sent[0].header("content-type"),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );
    assert_eq!(peer.sent[0].body, m.as_bytes());
}

#[test]
fn put_of_a_manifest_without_media_type_is_refused_before_sending() {
    let s = session();
    let e = PutManifest::new(
        &s,
        &repo("a"),
        &tag("v1"),
        br#"{"schemaVersion":2}"#.to_vec(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Misuse(_)), "{e:?}");
}

#[test]
fn get_sends_the_python_dxf_accept_list_and_verifies_the_digest() {
    let reg = MemoryRegistry::new();
    let m = alias_manifest(&[b"one"]);
    let mut s = session();
    let mut peer = reg.peer();
    run(
        PutManifest::new(&s, &repo("a"), &tag("v1"), m.clone().into_bytes()).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    let out = run(
        GetManifest::new(&s, &repo("a"), &tag("v1")).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(peer.sent[1].header("accept"), Some(ACCEPT));
    assert_eq!(out.output.body, m.as_bytes());
    assert_eq!(out.output.digest, sha(m.as_bytes()));
    assert_eq!(
        out.output.content_type.as_deref(),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );
}

#[test]
fn manifest_digest_mismatch_is_an_error() {
    let m = alias_manifest(&[b"one"]);
    let mut s = session();
    // Announced digest differs from the body.
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200)
        .header("docker-content-digest", sha(b"other").as_str())
        .body(m.clone())]);
    let e = err(run(
        GetManifest::new(&s, &repo("a"), &tag("v1")).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    // Expected: what the body is; got: what the registry claimed.
    assert_eq!(
        e,
        Error::DigestMismatch {
            expected: sha(m.as_bytes()),
            actual: sha(b"other")
        }
    );
    // Fetched by digest, but the body is something else (no header).
    let by_digest = Reference::Digest(sha(b"other"));
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200).body(m)]);
    let e = err(run(
        GetManifest::new(&s, &repo("a"), &by_digest).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e:?}");
}

#[test]
fn manifest_digest_is_computed_when_not_announced_and_body_splits_do_not_matter() {
    let m = alias_manifest(&[b"one", b"two", b"three"]);
    for split in [1, 3, 64, usize::MAX] {
        let mut s = session();
        let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200).body(m.clone())]);
        peer.feed_split = split;
        let out = run(
            ReadAlias::new(&s, &repo("a"), &tag("v1"), ReadOptions::default()).unwrap(),
            &mut s,
            &mut peer,
            b"",
        )
        .unwrap();
        assert_eq!(out.output.digest, sha(m.as_bytes()));
        let AliasContent::Image { layers, config } = out.output.content else {
            panic!()
        };
        assert_eq!(config.digest, sha(b"one"));
        let got: Vec<(Digest, u64)> = layers.into_iter().map(|l| (l.digest, l.size)).collect();
        assert_eq!(
            got,
            [(sha(b"one"), 3), (sha(b"two"), 3), (sha(b"three"), 5)]
        );
    }
}

#[test]
fn oversized_manifests_are_rejected() {
    let mut s = session();
    let big = vec![b' '; 4 * 1024 * 1024 + 1];
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200).body(big)]);
    peer.feed_split = 1 << 20;
    let e = err(run(
        GetManifest::new(&s, &repo("a"), &tag("v1")).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(
        e,
        Error::BodyTooLarge {
            limit: 4 * 1024 * 1024
        }
    );
}

#[test]
fn head_reports_digest_size_and_type_and_delete_goes_by_digest() {
    let reg = MemoryRegistry::new();
    let m = alias_manifest(&[b"one"]);
    let mut s = session();
    let mut peer = reg.peer();
    run(
        PutManifest::new(&s, &repo("a"), &tag("v1"), m.clone().into_bytes()).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    let info = run(
        HeadManifest::new(&s, &repo("a"), &tag("v1")).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap()
    .output;
    assert_eq!(info.digest, Some(sha(m.as_bytes())));
    assert_eq!(info.size, Some(m.len() as u64));
    assert_eq!(peer.sent[1].header("accept"), Some(ACCEPT));
    let d = Reference::Digest(info.digest.unwrap());
    run(
        DeleteManifest::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert!(reg.state.borrow().tags.is_empty());
    let e = err(run(
        HeadManifest::new(&s, &repo("a"), &tag("v1")).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

fn index_json(entries: &[(&str, &str, Option<&str>, &Digest)]) -> String {
    let list: Vec<String> = entries
        .iter()
        .map(|(os, arch, variant, d)| {
            let v = variant.map(|v| format!(r#","variant":"{v}""#)).unwrap_or_default();
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":1,"platform":{{"os":"{os}","architecture":"{arch}"{v}}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        list.join(",")
    )
}

/// A registry holding an index at tag `multi` over amd64 and arm/v7 alias manifests.
fn multi_arch() -> (MemoryRegistry, String, String) {
    let reg = MemoryRegistry::new();
    let amd = alias_manifest(&[b"amd-1", b"amd-2"]);
    let arm = alias_manifest(&[b"arm-1"]);
    let (da, dr) = (sha(amd.as_bytes()), sha(arm.as_bytes()));
    let index = index_json(&[
        ("linux", "amd64", None, &da),
        ("linux", "arm", Some("v7"), &dr),
    ]);
    {
        let mut st = reg.state.borrow_mut();
        let ct = "application/vnd.docker.distribution.manifest.v2+json".to_owned();
        st.manifests.insert(
            ("a".into(), da.to_string()),
            (ct.clone(), amd.clone().into_bytes()),
        );
        st.manifests
            .insert(("a".into(), dr.to_string()), (ct, arm.clone().into_bytes()));
        let di = sha(index.as_bytes()).to_string();
        st.manifests.insert(
            ("a".into(), di.clone()),
            (
                "application/vnd.oci.image.index.v1+json".into(),
                index.into_bytes(),
            ),
        );
        st.tags.insert(("a".into(), "multi".into()), di);
    }
    (reg, amd, arm)
}

#[test]
fn an_index_resolves_every_platform_by_digest() {
    let (reg, amd, arm) = multi_arch();
    let mut s = session();
    let mut peer = reg.peer();
    let opts = ReadOptions {
        platform: None,
        resolve_platforms: true,
    };
    let out = run(
        ReadAlias::new(&s, &repo("a"), &tag("multi"), opts).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap()
    .output;
    let AliasContent::Index { platforms } = out.content else {
        panic!()
    };
    let keys: Vec<&str> = platforms.iter().map(|p| p.platform.as_str()).collect();
    assert_eq!(keys, ["linux/amd64", "linux/arm/v7"]);
    assert_eq!(platforms[0].manifest.as_ref().unwrap().body, amd.as_bytes());
    assert_eq!(platforms[1].manifest.as_ref().unwrap().body, arm.as_bytes());
    assert_eq!(peer.sent.len(), 3);
    assert_eq!(
        peer.sent[1].uri,
        format!("https://reg.test/v2/a/manifests/{}", sha(amd.as_bytes()))
    );
}

#[test]
fn an_index_without_resolution_lists_platform_digests_only() {
    let (reg, amd, _) = multi_arch();
    let mut s = session();
    let mut peer = reg.peer();
    let out = run(
        ReadAlias::new(&s, &repo("a"), &tag("multi"), ReadOptions::default()).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap()
    .output;
    let AliasContent::Index { platforms } = out.content else {
        panic!()
    };
    assert_eq!(platforms[0].digest, sha(amd.as_bytes()));
    assert!(platforms[0].manifest.is_none());
    assert_eq!(peer.sent.len(), 1);
}

#[test]
fn a_platform_filter_returns_that_platform_and_an_unknown_one_is_an_error() {
    let (reg, _, arm) = multi_arch();
    let mut s = session();
    let opts = ReadOptions {
        platform: Some("linux/arm/v7".into()),
        resolve_platforms: true,
    };
    let out = run(
        ReadAlias::new(&s, &repo("a"), &tag("multi"), opts).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    )
    .unwrap()
    .output;
    assert_eq!(out.body, arm.as_bytes());
    assert!(matches!(out.content, AliasContent::Image { .. }));
    let opts = ReadOptions {
        platform: Some("windows/amd64".into()),
        resolve_platforms: true,
    };
    let e = err(run(
        ReadAlias::new(&s, &repo("a"), &tag("multi"), opts).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    ));
    assert_eq!(e, Error::PlatformNotFound("windows/amd64".into()));
}

#[test]
fn a_platform_filter_is_ignored_for_a_single_manifest() {
    let m = alias_manifest(&[b"one"]);
    let mut s = session();
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200).body(m.clone())]);
    let opts = ReadOptions {
        platform: Some("linux/arm64".into()),
        resolve_platforms: true,
    };
    let out = run(
        ReadAlias::new(&s, &repo("a"), &tag("v1"), opts).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap()
    .output;
    assert_eq!(out.body, m.as_bytes());
}

#[test]
fn a_platform_manifest_that_does_not_match_its_digest_is_an_error() {
    let (reg, _, _) = multi_arch();
    {
        // Corrupt the stored amd64 manifest (its digest key stays the same).
        let mut st = reg.state.borrow_mut();
        let key = st
            .manifests
            .keys()
            .find(|(_, d)| st.tags.values().all(|t| t != d))
            .cloned()
            .unwrap();
        st.manifests.get_mut(&key).unwrap().1.push(b' ');
    }
    let mut s = session();
    let opts = ReadOptions {
        platform: None,
        resolve_platforms: true,
    };
    let e = err(run(
        ReadAlias::new(&s, &repo("a"), &tag("multi"), opts).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    ));
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e:?}");
}

#[test]
fn schema1_manifests_are_unsupported() {
    let body = r#"{"schemaVersion":1,"name":"a","tag":"v1","fsLayers":[]}"#;
    let mut s = session();
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200)
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        )
        .body(body)]);
    let e = err(run(
        ReadAlias::new(&s, &repo("a"), &tag("v1"), ReadOptions::default()).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(matches!(e, Error::UnsupportedMediaType(_)), "{e:?}");
}

#[test]
fn missing_manifest_keeps_manifest_unknown() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let e = err(run(
        ReadAlias::new(&s, &repo("a"), &tag("nope"), ReadOptions::default()).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    ));
    match e {
        Error::NotFound { oci, .. } => assert_eq!(oci[0].code, "MANIFEST_UNKNOWN"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_manifest_given_by_the_caller_is_read_without_fetching_it() {
    let m = alias_manifest(&[b"one", b"two"]);
    let s = session();
    let mut s2 = s.clone();
    let mut peer = ScriptedRegistry::sequence(vec![]);
    let op = ReadAlias::from_manifest(
        &s,
        &repo("a"),
        m.clone().into_bytes(),
        ReadOptions::default(),
    )
    .unwrap();
    let out = run(op, &mut s2, &mut peer, b"").unwrap().output;
    assert!(peer.sent.is_empty());
    assert_eq!(out.digest, sha(m.as_bytes()));
    assert_eq!(out.body, m.as_bytes());
}

#[test]
fn a_given_index_has_its_platforms_fetched() {
    let (reg, amd, arm) = multi_arch();
    let index = {
        let st = reg.state.borrow();
        let d = st.tags[&("a".to_owned(), "multi".to_owned())].clone();
        st.manifests[&("a".to_owned(), d)].1.clone()
    };
    let mut s = session();
    let mut peer = reg.peer();
    let opts = ReadOptions {
        platform: None,
        resolve_platforms: true,
    };
    let op = ReadAlias::from_manifest(&s, &repo("a"), index.clone(), opts).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(
        peer.sent.len(),
        2,
        "only the platform manifests are fetched"
    );
    let AliasContent::Index { platforms } = out.content else {
        panic!()
    };
    assert_eq!(platforms[0].manifest.as_ref().unwrap().body, amd.as_bytes());
    assert_eq!(platforms[1].manifest.as_ref().unwrap().body, arm.as_bytes());
    let opts = ReadOptions {
        platform: Some("linux/arm/v7".into()),
        resolve_platforms: true,
    };
    let op = ReadAlias::from_manifest(&s, &repo("a"), index, opts).unwrap();
    assert_eq!(
        run(op, &mut s, &mut reg.peer(), b"").unwrap().output.body,
        arm.as_bytes()
    );
    let too_big = vec![b' '; 4 * 1024 * 1024 + 1];
    assert!(matches!(
        ReadAlias::from_manifest(&s, &repo("a"), too_big, ReadOptions::default()),
        Err(Error::BodyTooLarge { .. })
    ));
    let e = ReadAlias::from_manifest(&s, &repo("a"), b"not json".to_vec(), ReadOptions::default())
        .map(|op| err(run(op, &mut s.clone(), &mut reg.peer(), b"")));
    assert!(matches!(e, Ok(Error::Protocol(_))), "{e:?}");
}

/// A registry holding, at tag `refs`, an index none of whose entries has a platform (the
/// referrers tag schema's kind, as oras writes it) over two artifact manifests.
fn referrers_index() -> (MemoryRegistry, String) {
    let reg = MemoryRegistry::new();
    let (one, two) = (alias_manifest(&[b"sig"]), alias_manifest(&[b"sbom"]));
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"artifactType":"application/vnd.example.sig"}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"artifactType":"application/spdx+json"}}]}}"#,
        sha(one.as_bytes()),
        one.len(),
        sha(two.as_bytes()),
        two.len()
    );
    {
        let mut st = reg.state.borrow_mut();
        let ct = "application/vnd.docker.distribution.manifest.v2+json".to_owned();
        for m in [&one, &two] {
            st.manifests.insert(
                ("a".into(), sha(m.as_bytes()).to_string()),
                (ct.clone(), m.clone().into_bytes()),
            );
        }
        let di = sha(index.as_bytes()).to_string();
        st.manifests.insert(
            ("a".into(), di.clone()),
            (
                "application/vnd.oci.image.index.v1+json".into(),
                index.clone().into_bytes(),
            ),
        );
        st.tags.insert(("a".into(), "refs".into()), di);
    }
    (reg, index)
}

#[test]
fn an_index_without_platforms_is_its_own_body_and_not_a_list_of_blobs() {
    let (reg, index) = referrers_index();
    // With and without a platform filter: nothing to resolve, nothing to pick.
    for platform in [None, Some("linux/amd64".to_owned())] {
        let mut s = session();
        let mut peer = reg.peer();
        let opts = ReadOptions {
            platform: platform.clone(),
            resolve_platforms: true,
        };
        let out = run(
            ReadAlias::new(&s, &repo("a"), &tag("refs"), opts).unwrap(),
            &mut s,
            &mut peer,
            b"",
        )
        .unwrap()
        .output;
        assert_eq!(
            peer.sent.len(),
            1,
            "{platform:?}: only the index is fetched"
        );
        assert_eq!(out.body, index.as_bytes());
        // get-manifest: the bytes the registry sent, as for any manifest.
        assert_eq!(
            out.bodies(),
            PerPlatform::Single(index.clone().into_bytes())
        );
        // get-alias, get-digest, blob-size, pull-blob: an error saying what it is.
        let what = IndexWithoutPlatforms { manifests: 2 };
        assert_eq!(out.without_platforms(), Some(what));
        assert_eq!(out.try_layers(), Err(what));
        assert_eq!(out.try_config_digest(), Err(what));
        assert_eq!(
            what.to_string(),
            "is an index of 2 manifests without platforms (an artifact or referrers index), \
             not a list of blobs; get-manifest shows it"
        );
        // Python-dxf's per-platform reading stays what it was: empty.
        assert_eq!(out.layers(), PerPlatform::Platforms(vec![]));
        assert_eq!(out.platform_digests(), Some(vec![]));
    }
    // The same index given by the caller (stdin): nothing fetched.
    let mut s = session();
    let mut peer = ScriptedRegistry::sequence(vec![]);
    let opts = ReadOptions {
        platform: None,
        resolve_platforms: true,
    };
    let op = ReadAlias::from_manifest(&s, &repo("a"), index.clone().into_bytes(), opts).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert!(peer.sent.is_empty());
    assert_eq!(
        out.try_layers(),
        Err(IndexWithoutPlatforms { manifests: 2 })
    );
}

#[test]
fn empty_and_one_entry_indexes_without_platforms_say_so() {
    for (entries, text) in [
        (
            String::new(),
            "is an empty index (no manifests, no platforms), not a list of blobs; \
             get-manifest shows it",
        ),
        (
            format!(
                r#"{{"digest":"{}","size":3,"urls":["https://x"]}}"#,
                sha(b"x")
            ),
            "is an index of 1 manifest without a platform (an artifact or referrers index), \
             not a list of blobs; get-manifest shows it",
        ),
    ] {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{entries}]}}"#
        );
        let mut s = session();
        let opts = ReadOptions {
            platform: Some("linux/arm64".into()),
            resolve_platforms: true,
        };
        let op = ReadAlias::from_manifest(&s, &repo("a"), body.clone().into_bytes(), opts).unwrap();
        let out = run(op, &mut s, &mut ScriptedRegistry::sequence(vec![]), b"")
            .unwrap()
            .output;
        assert_eq!(out.try_layers().unwrap_err().to_string(), text);
        assert_eq!(out.bodies(), PerPlatform::Single(body.into_bytes()));
    }
}

#[test]
fn an_index_with_some_platforms_keeps_working_as_before() {
    // docker buildx: images plus attestation manifests at `unknown/unknown`; an entry
    // without any platform besides. Entries with a platform (unknown/unknown too) are
    // resolved; the one without is skipped, as before.
    let reg = MemoryRegistry::new();
    let amd = alias_manifest(&[b"amd-1"]);
    let att = alias_manifest(&[b"attestation"]);
    let (da, dt) = (sha(amd.as_bytes()), sha(att.as_bytes()));
    let mut index = index_json(&[
        ("linux", "amd64", None, &da),
        ("unknown", "unknown", None, &dt),
    ]);
    index = index.replacen(
        "]}",
        &format!(
            r#",{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"artifactType":"application/x"}}]}}"#,
            sha(b"nowhere")
        ),
        1,
    );
    {
        let mut st = reg.state.borrow_mut();
        let ct = "application/vnd.docker.distribution.manifest.v2+json".to_owned();
        st.manifests.insert(
            ("a".into(), da.to_string()),
            (ct.clone(), amd.clone().into_bytes()),
        );
        st.manifests
            .insert(("a".into(), dt.to_string()), (ct, att.clone().into_bytes()));
        let di = sha(index.as_bytes()).to_string();
        st.manifests.insert(
            ("a".into(), di.clone()),
            (
                "application/vnd.oci.image.index.v1+json".into(),
                index.clone().into_bytes(),
            ),
        );
        st.tags.insert(("a".into(), "mixed".into()), di);
    }
    let mut s = session();
    let mut peer = reg.peer();
    let opts = ReadOptions {
        platform: None,
        resolve_platforms: true,
    };
    let out = run(
        ReadAlias::new(&s, &repo("a"), &tag("mixed"), opts).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap()
    .output;
    assert_eq!(peer.sent.len(), 3);
    assert_eq!(out.without_platforms(), None);
    assert_eq!(
        out.try_layers().unwrap(),
        PerPlatform::Platforms(vec![
            ("linux/amd64".into(), vec![(sha(b"amd-1"), 5)]),
            ("unknown/unknown".into(), vec![(sha(b"attestation"), 11)]),
        ])
    );
    assert_eq!(
        out.bodies(),
        PerPlatform::Platforms(vec![
            ("linux/amd64".into(), amd.into_bytes()),
            ("unknown/unknown".into(), att.into_bytes()),
        ])
    );
    // An unknown platform is still an unknown platform.
    let opts = ReadOptions {
        platform: Some("linux/s390x".into()),
        resolve_platforms: true,
    };
    let e = err(run(
        ReadAlias::new(&s, &repo("a"), &tag("mixed"), opts).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    ));
    assert_eq!(e, Error::PlatformNotFound("linux/s390x".into()));
}
