//! OCI 1.1 referrers: the API path (filter, `OCI-Filters-Applied`, pagination, bounds), the
//! tag schema fallback on 404, [`Attach`] (subject, `OCI-Subject`, index maintenance and
//! de-duplication) and the empty config upload.

use super::*;
use crate::manifest::alias::{
    docker_alias_manifest, BlobDescriptor, OciArtifactOptions, DEFAULT_ARTIFACT_TYPE,
};
use crate::manifest::media_types::{EMPTY_CONFIG_DIGEST, OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST};
use crate::manifest::parse::Descriptor;
use crate::manifest::referrers::{
    fallback_tag, parse_referrers_index, referrers_index_json, MAX_REFERRERS, MAX_REFERRERS_BYTES,
};
use crate::testing::{MemoryRegistry, Reply, ScriptedRegistry, Sent};
use crate::{
    Attach, Error, Limits, ProtocolViolation, PutManifest, Reference, Referrers, ReferrersVia,
    Upload,
};

const SUBJECT_BODY: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

fn subject() -> Digest {
    sha(SUBJECT_BODY)
}

fn entry(n: u8, artifact_type: Option<&str>) -> Descriptor {
    let mut d = Descriptor::new(OCI_IMAGE_MANIFEST, sha(&[n]), 100 + u64::from(n));
    d.artifact_type = artifact_type.map(str::to_owned);
    d
}

fn index_reply(entries: &[Descriptor]) -> Reply {
    Reply::status(200)
        .header("content-type", OCI_IMAGE_INDEX)
        .body(referrers_index_json(entries))
}

fn subject_reply() -> Reply {
    Reply::status(200)
        .header("content-type", OCI_IMAGE_MANIFEST)
        .header("docker-content-digest", subject().as_str())
        .body(SUBJECT_BODY.to_vec())
}

fn path_of(sent: &Sent) -> String {
    let url = url::Url::parse(&sent.uri).unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

fn referrers_path() -> String {
    format!("/v2/r/referrers/{}", subject())
}

#[test]
fn fallback_tag_is_alg_dash_hex() {
    let d = subject();
    let t = fallback_tag(&d).unwrap();
    assert_eq!(t.as_str(), format!("sha256-{}", d.encoded()));
    // Other algorithms: cut to 64 characters of the encoded part.
    let long = Digest::parse(&format!("sha512:{}", "ab".repeat(64))).unwrap();
    assert_eq!(
        fallback_tag(&long).unwrap().as_str(),
        format!("sha512-{}", "ab".repeat(32))
    );
}

#[test]
fn referrers_index_round_trips_and_other_documents_are_refused() {
    let mut e = entry(1, Some("application/x"));
    e.annotations.insert("k".into(), "v".into());
    let body = referrers_index_json(&[e.clone(), entry(2, None)]);
    assert!(body.starts_with(
        r#"{"manifests":[{"annotations":{"k":"v"},"artifactType":"application/x","digest":"#
    ));
    assert!(body
        .ends_with(r#""mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#));
    let got = parse_referrers_index(body.as_bytes(), Some(OCI_IMAGE_INDEX)).unwrap();
    assert_eq!(got, vec![e, entry(2, None)]);
    assert_eq!(
        parse_referrers_index(referrers_index_json(&[]).as_bytes(), None).unwrap(),
        vec![]
    );
    // An image manifest, a Docker manifest list, a Content-Type that disagrees: refused.
    assert!(parse_referrers_index(SUBJECT_BODY, None).is_err());
    let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#;
    assert!(parse_referrers_index(list, None).is_err());
    assert!(parse_referrers_index(body.as_bytes(), Some(OCI_IMAGE_MANIFEST)).is_err());
    assert!(parse_referrers_index(b"[]", None).is_err());
}

#[test]
fn api_path_resolves_the_tag_and_filters_client_side_without_filters_applied() {
    let mut s = session();
    let entries = [
        entry(1, Some("application/a")),
        entry(2, Some("application/b")),
        entry(3, None),
    ];
    let list = entries.to_vec();
    let mut peer = ScriptedRegistry::new(move |sent| match path_of(sent).as_str() {
        "/v2/r/manifests/v1" => subject_reply(),
        p if p.starts_with("/v2/r/referrers/") => index_reply(&list),
        _ => Reply::status(500),
    });
    let op = Referrers::new(
        &s,
        &repo("r"),
        &Reference::parse("v1").unwrap(),
        Some("application/a"),
    )
    .unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(out.subject, subject());
    assert_eq!(out.via, ReferrersVia::Api);
    assert_eq!(out.manifests, vec![entries[0].clone()]);
    assert!(!out.filtered_by_registry);
    assert_eq!(peer.sent.len(), 2);
    assert_eq!(
        path_of(&peer.sent[1]),
        format!("{}?artifactType=application%2Fa", referrers_path())
    );
    assert_eq!(peer.sent[1].header("accept"), Some(OCI_IMAGE_INDEX));
    assert_eq!(peer.sent[1].method, "GET");
}

#[test]
fn api_path_with_filters_applied_and_a_digest_subject() {
    let mut s = session();
    let entries = [
        entry(1, Some("application/a")),
        entry(2, Some("application/b")),
    ];
    let list = entries.to_vec();
    let mut peer = ScriptedRegistry::new(move |_| {
        // A registry claiming it filtered but sending an entry of another type: still dropped.
        index_reply(&list).header("oci-filters-applied", "artifactType")
    });
    let op = Referrers::new(
        &s,
        &repo("r"),
        &Reference::Digest(subject()),
        Some("application/a"),
    )
    .unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(peer.sent.len(), 1, "a digest subject is not resolved");
    assert_eq!(out.manifests, vec![entries[0].clone()]);
    assert!(out.filtered_by_registry);
    // Without a filter, everything, and no filter claim.
    let list = entries.to_vec();
    let mut peer = ScriptedRegistry::new(move |_| index_reply(&list));
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(out.manifests, entries.to_vec());
    assert!(!out.filtered_by_registry);
    assert_eq!(path_of(&peer.sent[0]), referrers_path());
}

#[test]
fn api_pages_are_followed() {
    let mut s = session();
    let first = [entry(1, None)];
    let second = [entry(2, None), entry(3, None)];
    let mut peer = ScriptedRegistry::new(move |sent| {
        if path_of(sent).ends_with("?page=2") {
            index_reply(&second)
        } else {
            index_reply(&first).header("link", "<?page=2>; rel=\"next\"")
        }
    });
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    let digests: Vec<_> = out.manifests.iter().map(|d| d.digest.clone()).collect();
    assert_eq!(digests, vec![sha(&[1]), sha(&[2]), sha(&[3])]);
    assert_eq!(peer.sent.len(), 2);
    assert_eq!(
        peer.sent[1].uri,
        format!("https://reg.test{}?page=2", referrers_path())
    );
}

#[test]
fn api_pagination_is_bounded() {
    // A link to the same page.
    let mut s = session();
    let mut peer = ScriptedRegistry::new(move |sent| {
        let target = path_of(sent);
        index_reply(&[entry(1, None)]).header("link", &format!("<{target}>; rel=\"next\""))
    });
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    let e = err(run(op, &mut s, &mut peer, b""));
    assert!(
        matches!(e, Error::Protocol(ProtocolViolation::BadLink(_))),
        "{e:?}"
    );
    // An endless chain of new pages stops at max_pages.
    let mut s = session().with_limits(Limits {
        max_pages: 3,
        ..Limits::default()
    });
    let mut n = 0;
    let mut peer = ScriptedRegistry::new(move |_| {
        n += 1;
        index_reply(&[]).header("link", &format!("</v2/r/referrers/x?p={n}>; rel=\"next\""))
    });
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    let e = err(run(op, &mut s, &mut peer, b""));
    assert_eq!(e, Error::Protocol(ProtocolViolation::TooManyPages(3)));
    assert_eq!(peer.sent.len(), 3);
    // A page body over the manifest cap.
    let mut s = session().with_limits(Limits {
        manifest_body: 64,
        ..Limits::default()
    });
    let mut peer = ScriptedRegistry::new(move |_| index_reply(&[entry(1, None)]));
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    assert_eq!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::BodyTooLarge { limit: 64 }
    );
}

#[test]
fn too_many_referrers_are_refused() {
    let mut s = session();
    let many: Vec<Descriptor> = (0..=MAX_REFERRERS)
        .map(|i| Descriptor::new(OCI_IMAGE_MANIFEST, sha(&i.to_le_bytes()), 1))
        .collect();
    let body = referrers_index_json(&many);
    let mut peer = ScriptedRegistry::new(move |_| {
        Reply::status(200)
            .header("content-type", OCI_IMAGE_INDEX)
            .body(body.clone())
    });
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    assert_eq!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::Protocol(ProtocolViolation::TooManyReferrers(MAX_REFERRERS))
    );
}

#[test]
fn referrers_adding_up_past_the_byte_budget_are_refused() {
    // Pages each within their cap (3 MiB of annotations per entry, one entry a page),
    // linked without end: the total kept is bounded, not only the page count.
    let mut s = session();
    let big = "v".repeat(3 * 1024 * 1024);
    let mut n = 0u32;
    let mut peer = ScriptedRegistry::new(move |_| {
        n += 1;
        let mut d = Descriptor::new(OCI_IMAGE_MANIFEST, sha(&n.to_le_bytes()), 1);
        d.annotations.insert("k".into(), big.clone());
        Reply::status(200)
            .header("content-type", OCI_IMAGE_INDEX)
            .header("link", &format!("</v2/r/referrers/x?p={n}>; rel=\"next\""))
            .body(referrers_index_json(&[d]))
    });
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    assert_eq!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::Protocol(ProtocolViolation::ReferrersTooLarge(MAX_REFERRERS_BYTES))
    );
    assert_eq!(peer.sent.len(), 6, "16 MiB hold five 3 MiB entries");
}

#[test]
fn a_404_falls_back_to_the_tag_schema() {
    let fallback = format!("/v2/r/manifests/sha256-{}", subject().encoded());
    let entries = [
        entry(1, Some("application/a")),
        entry(2, Some("application/b")),
    ];
    let body = referrers_index_json(&entries);
    let (fb, b) = (fallback.clone(), body.clone());
    let mut peer = ScriptedRegistry::new(move |sent| {
        if path_of(sent) == fb {
            Reply::status(200)
                .header("content-type", OCI_IMAGE_INDEX)
                .header("docker-content-digest", sha(b.as_bytes()).as_str())
                .body(b.clone())
        } else {
            Reply::status(404).body("404 page not found\n")
        }
    });
    let mut s = session();
    let op = Referrers::new(
        &s,
        &repo("r"),
        &Reference::Digest(subject()),
        Some("application/b"),
    )
    .unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(out.via, ReferrersVia::TagSchema);
    assert_eq!(out.manifests, vec![entries[1].clone()]);
    assert!(!out.filtered_by_registry);
    let paths: Vec<_> = peer.sent.iter().map(path_of).collect();
    assert_eq!(
        paths,
        vec![
            format!("{}?artifactType=application%2Fb", referrers_path()),
            fallback
        ]
    );
    // The fallback GET asks for manifests, including OCI indexes.
    assert!(peer.sent[1]
        .header("accept")
        .unwrap()
        .contains(OCI_IMAGE_INDEX));
}

#[test]
fn no_fallback_tag_means_no_referrers() {
    let mut s = session();
    let mut peer = ScriptedRegistry::new(|_| Reply::status(404));
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(out.via, ReferrersVia::TagSchema);
    assert!(out.manifests.is_empty());
    assert_eq!(peer.sent.len(), 2);
}

#[test]
fn a_404_on_a_later_page_or_a_bad_fallback_is_an_error() {
    let mut s = session();
    let mut peer = ScriptedRegistry::sequence(vec![
        index_reply(&[]).header("link", "<?page=2>; rel=\"next\""),
        Reply::status(404),
    ]);
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    assert!(matches!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::NotFound { .. }
    ));
    // The fallback tag holds an image manifest, not an index.
    let mut peer = ScriptedRegistry::sequence(vec![
        Reply::status(404),
        Reply::status(200)
            .header("content-type", OCI_IMAGE_MANIFEST)
            .body(SUBJECT_BODY.to_vec()),
    ]);
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    assert_eq!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::UnsupportedMediaType(OCI_IMAGE_MANIFEST.into())
    );
    // A fallback index that does not match its announced digest.
    let mut peer = ScriptedRegistry::sequence(vec![
        Reply::status(404),
        index_reply(&[]).header("docker-content-digest", sha(b"other").as_str()),
    ]);
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    assert!(matches!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::DigestMismatch { .. }
    ));
    // A malformed API page.
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200).body("{\"manifests\":3}")]);
    let op = Referrers::new(&s, &repo("r"), &Reference::Digest(subject()), None).unwrap();
    assert!(matches!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::Protocol(ProtocolViolation::BadJson {
            what: "referrers index",
            ..
        })
    ));
}

/// A python-dxf alias `v1` of one blob in the model registry, with the empty config.
fn registry_with_alias() -> (MemoryRegistry, Session, Digest) {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let mut peer = reg.peer();
    let blob = BlobDescriptor::new(sha(b"hello"), 5);
    let alias = docker_alias_manifest(&[blob]).unwrap();
    let d = run(
        PutManifest::new(
            &s,
            &repo("r"),
            &Reference::parse("v1").unwrap(),
            alias.into_bytes(),
        )
        .unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap()
    .output;
    (reg, s, d)
}

fn attach(
    reg: &MemoryRegistry,
    s: &mut Session,
    blobs: &[BlobDescriptor],
    opts: &OciArtifactOptions,
) -> (crate::Attached, Vec<Sent>) {
    let mut peer = reg.peer();
    let op = Attach::new(s, &repo("r"), &Reference::parse("v1").unwrap(), blobs, opts).unwrap();
    let out = run(op, s, &mut peer, b"").unwrap().output;
    (out, peer.sent)
}

#[test]
fn attach_maintains_the_fallback_index_and_referrers_reads_it() {
    let (reg, mut s, subject) = registry_with_alias();
    let mut blob = BlobDescriptor::new(sha(b"sig"), 3);
    blob.title = Some("sig.txt".into());
    let opts = OciArtifactOptions {
        artifact_type: "application/vnd.example.sig".into(),
        annotations: [("k".to_owned(), "v".to_owned())].into_iter().collect(),
        subject: None,
    };
    let (first, sent) = attach(&reg, &mut s, &[blob.clone()], &opts);
    let tag = format!("sha256-{}", subject.encoded());
    let calls: Vec<_> = sent
        .iter()
        .map(|x| (x.method.clone(), path_of(x)))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("GET".into(), "/v2/r/manifests/v1".into()),
            ("PUT".into(), format!("/v2/r/manifests/{}", first.digest)),
            ("GET".into(), format!("/v2/r/manifests/{tag}")),
            ("PUT".into(), format!("/v2/r/manifests/{tag}")),
        ]
    );
    assert_eq!(sent[1].header("content-type"), Some(OCI_IMAGE_MANIFEST));
    assert_eq!(sent[3].header("content-type"), Some(OCI_IMAGE_INDEX));
    assert_eq!(first.digest, sha(first.manifest.as_bytes()));
    assert_eq!(sent[1].body, first.manifest.as_bytes());
    assert_eq!(first.subject.digest, subject);
    assert_eq!(
        first.subject.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(first.fallback_index, Some(sha(&sent[3].body)));
    // The artifact names its subject, type, annotations and titled layer.
    let m: serde_json::Value = serde_json::from_str(&first.manifest).unwrap();
    assert_eq!(m["subject"]["digest"], subject.as_str());
    assert_eq!(m["artifactType"], "application/vnd.example.sig");
    assert_eq!(m["annotations"]["k"], "v");
    assert_eq!(m["config"]["digest"], EMPTY_CONFIG_DIGEST);
    assert_eq!(
        m["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "sig.txt"
    );
    // A second artifact (default type) is added; the same one again is not duplicated.
    let (second, _) = attach(
        &reg,
        &mut s,
        &[BlobDescriptor::new(sha(b"x"), 1)],
        &OciArtifactOptions::default(),
    );
    let (again, sent) = attach(&reg, &mut s, &[blob], &opts);
    assert_eq!(again.digest, first.digest);
    assert_eq!(sent.len(), 3, "no PUT of an unchanged index");
    assert_eq!(again.fallback_index, second.fallback_index);

    let mut peer = reg.peer();
    let op = Referrers::new(&s, &repo("r"), &Reference::parse("v1").unwrap(), None).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(out.via, ReferrersVia::TagSchema);
    let got: Vec<_> = out
        .manifests
        .iter()
        .map(|d| (d.digest.clone(), d.artifact_type.clone().unwrap(), d.size))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                first.digest.clone(),
                "application/vnd.example.sig".to_owned(),
                first.manifest.len() as u64
            ),
            (
                second.digest.clone(),
                DEFAULT_ARTIFACT_TYPE.to_owned(),
                second.manifest.len() as u64
            ),
        ]
    );
    assert_eq!(out.manifests[0].annotations["k"], "v");
    assert_eq!(out.manifests[0].media_type, OCI_IMAGE_MANIFEST);
}

#[test]
fn attach_stops_when_the_registry_reports_oci_subject() {
    let subject_digest = subject();
    let mut peer = ScriptedRegistry::new(move |sent| match sent.method.as_str() {
        "GET" => subject_reply(),
        "PUT" => Reply::status(201)
            .header("docker-content-digest", sha(&sent.body).as_str())
            .header("oci-subject", subject_digest.as_str()),
        _ => Reply::status(500),
    });
    let mut s = session();
    let op = Attach::new(
        &s,
        &repo("r"),
        &Reference::parse("v1").unwrap(),
        &[],
        &OciArtifactOptions::default(),
    )
    .unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(out.fallback_index, None);
    assert_eq!(peer.sent.len(), 2);
    assert_eq!(out.subject.media_type, OCI_IMAGE_MANIFEST);
    assert_eq!(out.subject.size, SUBJECT_BODY.len() as u64);
    // An OCI-Subject naming another manifest does not count: the index is kept.
    let mut peer = ScriptedRegistry::new(move |sent| {
        match (sent.method.as_str(), sent.uri.contains("sha256-")) {
            ("GET", false) => subject_reply(),
            ("GET", true) => Reply::status(404),
            ("PUT", _) => Reply::status(201).header("oci-subject", sha(b"other").as_str()),
            _ => Reply::status(500),
        }
    });
    let op = Attach::new(
        &s,
        &repo("r"),
        &Reference::parse("v1").unwrap(),
        &[],
        &OciArtifactOptions::default(),
    )
    .unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert!(out.fallback_index.is_some());
    assert_eq!(peer.sent.len(), 4);
}

#[test]
fn attach_failures() {
    let s = session();
    // options.subject is the operation's business.
    let opts = OciArtifactOptions {
        subject: Some(Descriptor::new(OCI_IMAGE_MANIFEST, subject(), 1)),
        ..OciArtifactOptions::default()
    };
    assert!(matches!(
        Attach::new(&s, &repo("r"), &Reference::parse("v1").unwrap(), &[], &opts),
        Err(Error::Misuse(_))
    ));
    // A missing subject is a 404 of the manifest GET; nothing is pushed.
    let mut s = session();
    let mut peer = ScriptedRegistry::new(|_| Reply::status(404));
    let op = Attach::new(
        &s,
        &repo("r"),
        &Reference::parse("v1").unwrap(),
        &[],
        &OciArtifactOptions::default(),
    )
    .unwrap();
    assert!(matches!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::NotFound { .. }
    ));
    assert_eq!(peer.sent.len(), 1);
    // A registry refusing the artifact (e.g. config blob unknown).
    let mut peer = ScriptedRegistry::sequence(vec![subject_reply(), Reply::status(400)]);
    let op = Attach::new(
        &s,
        &repo("r"),
        &Reference::parse("v1").unwrap(),
        &[],
        &OciArtifactOptions::default(),
    )
    .unwrap();
    assert!(matches!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::UnexpectedStatus { .. }
    ));
}

#[test]
fn empty_config_is_uploaded_only_when_missing() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let mut peer = reg.peer();
    let out = run(
        Upload::empty_config(&s, &repo("r")).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap()
    .output;
    assert_eq!(out.digest.as_str(), EMPTY_CONFIG_DIGEST);
    assert_eq!(out.size, 2);
    assert!(!out.skipped);
    let methods: Vec<_> = peer.sent.iter().map(|x| x.method.as_str()).collect();
    assert_eq!(methods, ["HEAD", "POST", "PATCH", "PUT"]);
    assert_eq!(
        reg.state.borrow().blobs[&("r".to_owned(), EMPTY_CONFIG_DIGEST.to_owned())],
        b"{}"
    );
    let mut peer = reg.peer();
    let out = run(
        Upload::empty_config(&s, &repo("r")).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap()
    .output;
    assert!(out.skipped);
    assert_eq!(peer.sent.len(), 1);
}
