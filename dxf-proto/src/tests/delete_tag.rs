//! `DeleteTag` (`del-alias --only`): a registry that deletes tags, one that refuses (the
//! throw-away manifest path), and the failures on the way.

use super::*;
use crate::manifest::{throwaway_manifest, THROWAWAY_ANNOTATION};
use crate::testing::{MemoryRegistry, Reply};
use crate::{DeleteTag, Error, GetManifest, PutManifest, Reference, Tag, TagDeletion};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn tag(t: &str) -> Tag {
    Tag::parse(t).unwrap()
}

fn manifest() -> Vec<u8> {
    br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec()
}

fn op(nonce: &str, original: Option<(Vec<u8>, String)>) -> DeleteTag {
    DeleteTag::new(&session(), &repo("a"), &tag("one"), nonce, original).unwrap()
}

#[test]
fn throwaway_manifests_are_unique_per_nonce_and_reference_nothing() {
    let one = throwaway_manifest("n1");
    assert_eq!(
        String::from_utf8(one.clone()).unwrap(),
        format!(
            r#"{{"annotations":{{"{THROWAWAY_ANNOTATION}":"n1"}},"manifests":[],"mediaType":"{INDEX}","schemaVersion":2}}"#
        )
    );
    assert_ne!(sha(&one), sha(&throwaway_manifest("n2")));
    let parsed = crate::manifest::parse::parse_manifest(&one, Some(INDEX)).unwrap();
    assert!(parsed.platforms().is_empty());
}

#[test]
fn a_registry_that_deletes_tags_gets_one_delete() {
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(202)]);
    let out = run(op("n", None), &mut session(), &mut peer, b"").unwrap();
    assert_eq!(out.output, TagDeletion::Deleted);
    assert_eq!(peer.sent.len(), 1);
    assert_eq!(peer.sent[0].method, "DELETE");
    assert_eq!(peer.sent[0].uri, "https://reg.test/v2/a/manifests/one");
}

#[test]
fn a_refused_tag_delete_moves_the_tag_to_a_throwaway_and_deletes_that() {
    let throwaway = throwaway_manifest("nonce-1");
    let d = sha(&throwaway);
    for refusal in [
        Reply::status(400).body(r#"{"errors":[{"code":"DIGEST_INVALID","message":"x"}]}"#),
        Reply::status(405).body(r#"{"errors":[{"code":"UNSUPPORTED","message":"x"}]}"#),
    ] {
        let mut peer = ScriptedRegistry::sequence(vec![
            refusal,
            Reply::status(201).header("docker-content-digest", d.as_str()),
            Reply::status(202),
        ]);
        let out = run(op("nonce-1", None), &mut session(), &mut peer, b"").unwrap();
        assert_eq!(
            out.output,
            TagDeletion::ViaThrowaway {
                throwaway: d.clone()
            }
        );
        let sent: Vec<_> = peer
            .sent
            .iter()
            .map(|s| (s.method.as_str(), s.uri.as_str()))
            .collect();
        let by_digest = format!("https://reg.test/v2/a/manifests/{d}");
        assert_eq!(
            sent,
            [
                ("DELETE", "https://reg.test/v2/a/manifests/one"),
                ("PUT", "https://reg.test/v2/a/manifests/one"),
                ("DELETE", by_digest.as_str()),
            ]
        );
        assert_eq!(peer.sent[1].body, throwaway);
        assert_eq!(peer.sent[1].header("content-type"), Some(INDEX));
    }
}

#[test]
fn siblings_survive_on_the_memory_model() {
    // The model refuses tag deletes with 400 UNSUPPORTED, as distribution 2.8 does.
    let reg = MemoryRegistry::new();
    let mut s = session();
    let mut peer = reg.peer();
    for t in ["one", "two"] {
        let put = PutManifest::new(&s, &repo("a"), &Reference::parse(t).unwrap(), manifest());
        run(put.unwrap(), &mut s, &mut peer, b"").unwrap();
    }
    let out = run(op("n-42", None), &mut s, &mut peer, b"").unwrap();
    assert!(matches!(out.output, TagDeletion::ViaThrowaway { .. }));
    let get = |t: &str, s: &mut Session, peer: &mut ScriptedRegistry| {
        run(
            GetManifest::new(s, &repo("a"), &Reference::parse(t).unwrap()).unwrap(),
            s,
            peer,
            b"",
        )
    };
    assert_eq!(
        get("two", &mut s, &mut peer).unwrap().output.body,
        manifest()
    );
    assert!(matches!(
        err(get("one", &mut s, &mut peer)),
        Error::NotFound { .. }
    ));
    let st = reg.state.borrow();
    assert_eq!(st.manifests.len(), 1, "only the throw-away manifest went");
}

#[test]
fn a_refused_throwaway_delete_puts_the_tag_back_and_reports_the_refusal() {
    let throwaway = throwaway_manifest("n");
    let d = sha(&throwaway);
    let mut peer = ScriptedRegistry::sequence(vec![
        Reply::status(400),
        Reply::status(201).header("docker-content-digest", d.as_str()),
        Reply::status(405)
            .body(r#"{"errors":[{"code":"UNSUPPORTED","message":"deletes are disabled"}]}"#),
        Reply::status(201),
    ]);
    let original = (
        manifest(),
        "application/vnd.oci.image.manifest.v1+json".to_owned(),
    );
    let e = err(run(op("n", Some(original)), &mut session(), &mut peer, b""));
    match &e {
        Error::UnexpectedStatus { status, oci, .. } => {
            assert_eq!(status.as_u16(), 405);
            assert_eq!(oci[0].code, "UNSUPPORTED");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(peer.sent.len(), 4);
    assert_eq!(peer.sent[3].method, "PUT");
    assert_eq!(peer.sent[3].uri, "https://reg.test/v2/a/manifests/one");
    assert_eq!(peer.sent[3].body, manifest());
    assert_eq!(
        peer.sent[3].header("content-type"),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    // Without the original, nothing is put back.
    let mut peer = ScriptedRegistry::sequence(vec![
        Reply::status(400),
        Reply::status(201),
        Reply::status(405),
    ]);
    let e = err(run(op("n", None), &mut session(), &mut peer, b""));
    assert!(matches!(e, Error::UnexpectedStatus { .. }), "{e:?}");
    assert_eq!(peer.sent.len(), 3);
}

#[test]
fn other_answers_are_errors_with_nothing_changed() {
    for (status, not_found) in [(404, true), (500, false)] {
        let mut peer = ScriptedRegistry::new(move |_| Reply::status(status));
        let e = err(run(op("n", None), &mut session(), &mut peer, b""));
        assert_eq!(matches!(e, Error::NotFound { .. }), not_found, "{e:?}");
        assert!(
            peer.sent.iter().all(|s| s.method == "DELETE"),
            "{:?}",
            peer.sent
        );
    }
    // A throw-away PUT the registry refuses, or answers with another digest: an error.
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(400), Reply::status(400)]);
    assert!(err(run(op("n", None), &mut session(), &mut peer, b""))
        .to_string()
        .contains("400"));
    let mut peer = ScriptedRegistry::sequence(vec![
        Reply::status(400),
        Reply::status(201).header("docker-content-digest", sha(b"other").as_str()),
    ]);
    assert!(matches!(
        err(run(op("n", None), &mut session(), &mut peer, b"")),
        Error::DigestMismatch { .. }
    ));
    assert_eq!(
        peer.sent.len(),
        2,
        "nothing is deleted after a wrong digest"
    );
}

#[test]
fn nonces_are_checked() {
    for bad in ["", &"x".repeat(257)] {
        let e = DeleteTag::new(&session(), &repo("a"), &tag("t"), bad, None).unwrap_err();
        assert!(matches!(e, Error::Misuse(_)), "{e:?}");
    }
}
