//! Blob HEAD, GET (verification while streaming), DELETE and mount.

use super::*;
use crate::testing::{verify_delivered, MemoryRegistry, Reply};
use crate::{DeleteBlob, Error, GetBlob, HeadBlob, MountBlob, MountOptions, OpKind};

fn stocked(data: &[u8]) -> (MemoryRegistry, Digest) {
    let reg = MemoryRegistry::new();
    let d = sha(data);
    reg.state
        .borrow_mut()
        .blobs
        .insert(("a/b".into(), d.to_string()), data.to_vec());
    (reg, d)
}

#[test]
fn head_gives_the_size_and_404_is_not_found_with_no_body_read() {
    let (reg, d) = stocked(b"hello");
    let mut s = session();
    let out = run(
        HeadBlob::new(&s, &repo("a/b"), &d).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    )
    .unwrap();
    assert_eq!(out.output.size, 5);
    let e = err(run(
        HeadBlob::new(&s, &repo("a/b"), &sha(b"x")).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    ));
    assert!(
        matches!(
            e,
            Error::NotFound {
                op: OpKind::BlobHead,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn head_without_content_length_is_a_protocol_violation() {
    let mut s = session();
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200)]);
    let e = err(run(
        HeadBlob::new(&s, &repo("a"), &sha(b"x")).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(
        matches!(
            e,
            Error::Protocol(crate::ProtocolViolation::BadContentLength(_))
        ),
        "{e:?}"
    );
}

#[test]
fn get_delivers_a_verifier_and_good_bytes_pass_in_any_split() {
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let (reg, d) = stocked(&data);
    let mut s = session();
    for split in [1, 7, 999, 1000, 4096] {
        let out = run(
            GetBlob::new(&s, &repo("a/b"), &d, None).unwrap(),
            &mut s,
            &mut reg.peer(),
            b"",
        )
        .unwrap();
        assert_eq!(out.output.len, Some(1000));
        assert_eq!(
            verify_delivered(out.output.verifier, &out.delivered.unwrap(), split).unwrap(),
            d
        );
    }
}

#[test]
fn get_of_corrupted_or_truncated_bytes_fails_verification() {
    let d = sha(b"hello");
    let mut s = session();
    for body in [&b"hellO"[..], b"hell", b"hello!"] {
        let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200).body(body.to_vec())]);
        let out = run(
            GetBlob::new(&s, &repo("a"), &d, Some(5)).unwrap(),
            &mut s,
            &mut peer,
            b"",
        )
        .unwrap();
        let r = verify_delivered(out.output.verifier, &out.delivered.unwrap(), 2);
        assert!(
            matches!(
                r,
                Err(Error::DigestMismatch { .. } | Error::LengthMismatch { .. })
            ),
            "{body:?}: {r:?}"
        );
    }
}

#[test]
fn get_with_a_wrong_docker_content_digest_or_length_fails_before_streaming() {
    let d = sha(b"hello");
    let mut s = session();
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200)
        .header("docker-content-digest", sha(b"other").as_str())
        .body("hello")]);
    let e = err(run(
        GetBlob::new(&s, &repo("a"), &d, None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e:?}");
    let mut peer =
        ScriptedRegistry::sequence(vec![Reply::status(200).header("content-length", "6")]);
    let e = err(run(
        GetBlob::new(&s, &repo("a"), &d, Some(5)).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(
        e,
        Error::LengthMismatch {
            expected: 5,
            actual: 6
        }
    );
}

#[test]
fn get_of_a_missing_blob_keeps_the_oci_error() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let e = err(run(
        GetBlob::new(&s, &repo("a"), &sha(b"x"), None).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    ));
    match e {
        Error::NotFound {
            op: OpKind::BlobGet,
            oci,
        } => assert_eq!(oci[0].code, "BLOB_UNKNOWN"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn delete_accepts_202_and_reports_other_statuses() {
    let (reg, d) = stocked(b"x");
    let mut s = session();
    run(
        DeleteBlob::new(&s, &repo("a/b"), &d).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    )
    .unwrap();
    assert!(reg.state.borrow().blobs.is_empty());
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(405)
        .body(r#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#)]);
    let e = err(run(
        DeleteBlob::new(&s, &repo("a/b"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(e.to_string(), "blob DELETE: unexpected status 405 Method Not Allowed: UNSUPPORTED: The operation is unsupported.");
}

#[test]
fn mount_201_is_success() {
    let (reg, d) = stocked(b"x");
    let mut s = session();
    let op = MountBlob::new(&s, &repo("c"), &repo("a/b"), &d, MountOptions::default()).unwrap();
    let out = run(op, &mut s, &mut reg.peer(), b"").unwrap();
    assert_eq!(out.output, d);
    assert!(reg
        .state
        .borrow()
        .blobs
        .contains_key(&("c".into(), d.to_string())));
}

#[test]
fn mount_202_fails_and_cancels_the_session_or_leaves_it_as_asked() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let d = sha(b"nope");
    let op = MountBlob::new(&s, &repo("c"), &repo("a"), &d, MountOptions::default()).unwrap();
    let mut peer = reg.peer();
    let e = err(run(op, &mut s, &mut peer, b""));
    assert_eq!(
        e,
        Error::MountFailed {
            upload_location: None
        }
    );
    assert_eq!(
        peer.sent[0].uri,
        format!(
            "https://reg.test/v2/c/blobs/uploads/?mount=sha256%3A{}&from=a",
            d.encoded()
        )
    );
    assert_eq!(peer.sent[1].method, "DELETE");
    assert!(reg.state.borrow().uploads.is_empty(), "session cancelled");

    let op = MountBlob::new(
        &s,
        &repo("c"),
        &repo("a"),
        &d,
        MountOptions {
            cancel_on_failure: false,
        },
    )
    .unwrap();
    let e = err(run(op, &mut s, &mut reg.peer(), b""));
    assert!(
        matches!(e, Error::MountFailed { upload_location: Some(ref l) } if l.starts_with("https://reg.test/v2/c/blobs/uploads/")),
        "{e:?}"
    );
    assert_eq!(reg.state.borrow().uploads.len(), 1, "session left open");
}

#[test]
fn unverifiable_digest_algorithms_are_refused_before_sending() {
    let s = session();
    let d: Digest = "md5:0123456789abcdef".parse().unwrap_or_else(|_| {
        Digest::parse("blake3:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
            .unwrap()
    });
    assert!(matches!(
        GetBlob::new(&s, &repo("a"), &d, None),
        Err(Error::UnsupportedDigestAlgorithm(_))
    ));
}
