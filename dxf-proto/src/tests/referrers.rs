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
    append_referrer, fallback_tag, parse_referrers_index, referrers_index_json, AppendError,
    MAX_REFERRERS, MAX_REFERRERS_BYTES,
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

/// An index another client wrote (the way oras does, pretty-printed), with what dxf does
/// not model: entries' `urls`, `data`, annotations and an unknown `x-custom` object (numbers
/// and escapes a re-serialiser would respell), the index's own `annotations` and an
/// unknown field after `manifests`. `@@` marks where a new entry goes.
const ORAS_INDEX: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "annotations": {
    "org.opencontainers.image.created": "2024-05-01T10:00:00Z",
    "io.example.owner": "oras"
  },
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
      "size": 734,
      "artifactType": "application/vnd.cncf.notary.signature",
      "annotations": {
        "io.cncf.notary.x509chain.thumbprint#S256": "[\"ab\",\"cd\"]",
        "org.opencontainers.image.created": "2024-05-01T10:00:00Z"
      },
      "urls": [ "https://mirror.example/sig", "https://other.example/sig?x=]}" ],
      "data": "eyJzY2hlbWFWZXJzaW9uIjoyfQ==",
      "x-custom": { "n": 2.50, "big": 1E3, "nested": [ [ ], { }, null, true ], "s": "\u00e9t\u00e9 \/ \ud83d\ude00" }
    },
    {"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","mediaType":"application/vnd.oci.image.manifest.v1+json","size":2,"artifactType":"application/spdx+json","x-custom":{"a":[1,{"b":"]"}]}}@@
  ],
  "x-index": { "tool": "oras 1.2.0", "order": [3, 1, 2] }
}
"#;

/// The scripted registry for an attach to `v1` with `index` (and its `Content-Type`) under
/// the fallback tag; every PUT is accepted (its digest announced).
fn registry_holding_index(index: Vec<u8>, content_type: &'static str) -> ScriptedRegistry {
    ScriptedRegistry::new(move |sent| {
        match (
            sent.method.as_str(),
            sent.uri.contains("/manifests/sha256-"),
        ) {
            ("GET", false) => subject_reply(),
            ("GET", true) => Reply::status(200)
                .header("content-type", content_type)
                .header("docker-content-digest", sha(&index).as_str())
                .body(index.clone()),
            ("PUT", _) => {
                Reply::status(201).header("docker-content-digest", sha(&sent.body).as_str())
            }
            _ => Reply::status(500),
        }
    })
}

/// The entry [`Attach`] adds for `out`: compact, keys sorted.
fn added_entry(out: &crate::Attached, artifact_type: &str, annotations: &str) -> String {
    format!(
        r#"{{{annotations}"artifactType":"{artifact_type}","digest":"{}","mediaType":"application/vnd.oci.image.manifest.v1+json","size":{}}}"#,
        out.digest,
        out.manifest.len()
    )
}

#[test]
fn attach_keeps_another_clients_index_byte_for_byte_apart_from_the_entry_added() {
    let original = ORAS_INDEX.replace("@@", "");
    let mut peer = registry_holding_index(original.clone().into_bytes(), OCI_IMAGE_INDEX);
    let mut s = session();
    let opts = OciArtifactOptions {
        artifact_type: "application/vnd.example.sig".into(),
        annotations: [("k".to_owned(), "v".to_owned())].into_iter().collect(),
        subject: None,
    };
    let op = Attach::new(&s, &repo("r"), &Reference::parse("v1").unwrap(), &[], &opts).unwrap();
    let out = run(op, &mut s, &mut peer, b"").unwrap().output;
    let calls: Vec<_> = peer
        .sent
        .iter()
        .map(|x| (x.method.clone(), path_of(x)))
        .collect();
    let tag = format!("/v2/r/manifests/sha256-{}", subject().encoded());
    assert_eq!(calls[2], ("GET".to_owned(), tag.clone()));
    assert_eq!(calls[3], ("PUT".to_owned(), tag));
    assert_eq!(calls.len(), 4);
    let put = String::from_utf8(peer.sent[3].body.clone()).unwrap();

    // Exactly: the bytes received, with `,` + the new entry after the last entry.
    let entry = added_entry(
        &out,
        "application/vnd.example.sig",
        r#""annotations":{"k":"v"},"#,
    );
    let expected = ORAS_INDEX.replace("@@", &format!(",{entry}"));
    assert_eq!(put, expected);
    assert_eq!(out.fallback_index, Some(sha(put.as_bytes())));
    assert_eq!(peer.sent[3].header("content-type"), Some(OCI_IMAGE_INDEX));

    // The same, said as properties: every existing entry's text is in the new index
    // unchanged, and every top-level field survives with its value.
    for old_entry in [
        &ORAS_INDEX[ORAS_INDEX.find("    {\n").unwrap()..ORAS_INDEX.find("\n    },").unwrap()],
        &ORAS_INDEX
            [ORAS_INDEX.find(r#"{"digest":"sha256:2222"#).unwrap()..ORAS_INDEX.find("@@").unwrap()],
    ] {
        assert!(put.contains(old_entry), "{old_entry}");
    }
    let before: serde_json::Value = serde_json::from_str(&original).unwrap();
    let after: serde_json::Value = serde_json::from_str(&put).unwrap();
    let (before, after) = (before.as_object().unwrap(), after.as_object().unwrap());
    assert_eq!(
        before.keys().collect::<std::collections::BTreeSet<_>>(),
        after.keys().collect()
    );
    for (k, v) in before {
        if k != "manifests" {
            assert_eq!(&after[k], v, "{k}");
        }
    }
    let (old, new) = (
        before["manifests"].as_array().unwrap(),
        after["manifests"].as_array().unwrap(),
    );
    assert_eq!(&new[..old.len()], old.as_slice());
    assert_eq!(new.len(), old.len() + 1);
    assert_eq!(
        new[2],
        serde_json::from_str::<serde_json::Value>(&entry).unwrap()
    );

    // Attaching the same artifact again writes nothing.
    let mut peer = registry_holding_index(put.clone().into_bytes(), OCI_IMAGE_INDEX);
    let op = Attach::new(&s, &repo("r"), &Reference::parse("v1").unwrap(), &[], &opts).unwrap();
    let again = run(op, &mut s, &mut peer, b"").unwrap().output;
    assert_eq!(peer.sent.len(), 3, "no PUT of an index listing it already");
    assert_eq!(again.fallback_index, Some(sha(put.as_bytes())));
}

#[test]
fn attach_keeps_the_index_within_the_manifest_cap() {
    let original = ORAS_INDEX.replace("@@", "");
    let mut peer = registry_holding_index(original.clone().into_bytes(), OCI_IMAGE_INDEX);
    // The index read fits; with one more entry it would not.
    let mut s = session().with_limits(Limits {
        manifest_body: original.len() as u64 + 10,
        ..Limits::default()
    });
    let op = Attach::new(
        &s,
        &repo("r"),
        &Reference::parse("v1").unwrap(),
        &[],
        &OciArtifactOptions::default(),
    )
    .unwrap();
    assert_eq!(
        err(run(op, &mut s, &mut peer, b"")),
        Error::Protocol(ProtocolViolation::ReferrersTooLarge(
            original.len() as u64 + 10
        ))
    );
    assert_eq!(peer.sent.len(), 3, "no PUT");
}

#[test]
fn append_referrer_inserts_one_entry_and_changes_nothing_else() {
    let new = entry(9, Some("application/x"));
    let text = |d: &Descriptor| {
        format!(
            r#"{{{}"digest":"{}","mediaType":"{}","size":{}}}"#,
            d.artifact_type
                .as_ref()
                .map(|t| format!(r#""artifactType":"{t}","#))
                .unwrap_or_default(),
            d.digest,
            d.media_type,
            d.size
        )
    };
    let e1 = text(&entry(1, None));
    let cases: Vec<(String, String)> = vec![
        // An empty array, spaced: right after `[`, no comma.
        (
            "{\"manifests\": [ \n ], \"mediaType\":\"application/vnd.oci.image.index.v1+json\"}"
                .into(),
            format!("{{\"manifests\": [{} \n ], \"mediaType\":\"application/vnd.oci.image.index.v1+json\"}}", text(&new)),
        ),
        // `manifests` twice: the last one is the one read, and the one written.
        (
            format!(r#"{{"manifests":[{e1}],"x":"]\"[{{","manifests":[]}}"#),
            format!(r#"{{"manifests":[{e1}],"x":"]\"[{{","manifests":[{}]}}"#, text(&new)),
        ),
        // The key spelled with an escape; strings holding brackets and quotes before it.
        (
            format!("\n\t{{\"a\\\"]\":\"}}\\\\\",\"manifest\\u0073\" :\r\n[{e1} ]}}  \n"),
            format!(
                "\n\t{{\"a\\\"]\":\"}}\\\\\",\"manifest\\u0073\" :\r\n[{e1},{} ]}}  \n",
                text(&new)
            ),
        ),
    ];
    for (before, after) in cases {
        let got = append_referrer(before.as_bytes(), Some(OCI_IMAGE_INDEX), &new)
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), after, "{before}");
    }
    // Listed already: nothing to add.
    let listed = format!(r#"{{"manifests":[{e1},{}]}}"#, text(&new));
    assert_eq!(
        append_referrer(listed.as_bytes(), Some(OCI_IMAGE_INDEX), &new),
        Ok(None)
    );
    // Not a referrers index; a full one.
    assert!(matches!(
        append_referrer(SUBJECT_BODY, None, &new),
        Err(AppendError::Index(_))
    ));
    let many: Vec<Descriptor> = (0..MAX_REFERRERS)
        .map(|i| Descriptor::new(OCI_IMAGE_MANIFEST, sha(&i.to_le_bytes()), 1))
        .collect();
    assert_eq!(
        append_referrer(referrers_index_json(&many).as_bytes(), None, &new),
        Err(AppendError::TooMany)
    );
}

mod append_property {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    /// Values a client might put in fields dxf does not know.
    fn extra() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,6}".prop_map(Value::from),
            Just(Value::from("]}\",[{\\")),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn extras() -> impl Strategy<Value = Vec<(String, Value)>> {
        proptest::collection::vec(("x-.{0,4}", extra()), 0..3)
    }

    proptest! {
        #[test]
        fn the_old_bytes_survive_around_one_insertion(
            entries in proptest::collection::vec(extras(), 0..4),
            top in extras(),
            pretty in any::<bool>(),
        ) {
            let mut doc = Map::new();
            doc.insert("schemaVersion".into(), json!(2));
            doc.insert("mediaType".into(), json!(OCI_IMAGE_INDEX));
            let list: Vec<Value> = entries
                .iter()
                .enumerate()
                .map(|(i, fields)| {
                    let mut e = Map::new();
                    for (k, v) in fields {
                        e.insert(k.clone(), v.clone());
                    }
                    e.insert("digest".into(), json!(sha(&[i as u8]).as_str()));
                    e.insert("size".into(), json!(i));
                    Value::Object(e)
                })
                .collect();
            doc.insert("manifests".into(), Value::Array(list));
            for (k, v) in &top {
                doc.insert(format!("{k}!"), v.clone());
            }
            let doc = Value::Object(doc);
            let body = if pretty {
                serde_json::to_vec_pretty(&doc).unwrap()
            } else {
                serde_json::to_vec(&doc).unwrap()
            };
            let new = entry(200, Some("application/x"));
            let out = append_referrer(&body, None, &new).unwrap().unwrap();
            // One insertion of `,` (unless the array was empty) and the entry's compact
            // JSON, somewhere: around it, the body's bytes unchanged.
            let listed = referrers_index_json(std::slice::from_ref(&new));
            let entry_text = listed
                .strip_prefix(r#"{"manifests":["#)
                .and_then(|t| t.split("],\"mediaType\"").next())
                .unwrap();
            let want = if entries.is_empty() {
                entry_text.to_owned()
            } else {
                format!(",{entry_text}")
            };
            prop_assert_eq!(out.len(), body.len() + want.len());
            let spliced = (0..=body.len()).any(|k| {
                out.get(k..k + want.len()) == Some(want.as_bytes())
                    && out[..k] == body[..k]
                    && out[k + want.len()..] == body[k..]
            });
            prop_assert!(spliced, "{}", String::from_utf8_lossy(&out));
            let after: Value = serde_json::from_slice(&out).unwrap();
            for (k, v) in doc.as_object().unwrap() {
                if k != "manifests" {
                    prop_assert_eq!(&after[k], v);
                }
            }
            let old = doc["manifests"].as_array().unwrap();
            let got = after["manifests"].as_array().unwrap();
            prop_assert_eq!(&got[..old.len()], old.as_slice());
            prop_assert_eq!(got.len(), old.len() + 1);
        }
    }
}
