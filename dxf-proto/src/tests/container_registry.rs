//! A scripted peer that answers as the `container-registry` crate 0.3.1 does (read from its
//! source), and the behaviours dxf needs against it: a bare 401 on repository endpoints
//! (the Basic challenge only on `GET /v2/`), `PATCH` answered `Range: 0-N` with N the bytes
//! of *that* request (one past its end, not cumulative), a `PUT` with a body refused with
//! `500 text/plain`, no upload-status endpoint (405), no `DELETE` (405), a closing `PUT`
//! that checks the digest. Plus the same decisions in isolation: the challenge ping happens
//! once per session, the `Range` tolerance is exactly one byte, a refused monolithic `PUT`
//! about the digest is not retried in chunks, `del-alias --only` reports the refused
//! `DELETE`.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::testing::{Reply, Sent};
use crate::{
    Credentials, DeleteTag, Error, OpKind, ProtocolViolation, Tag, Upload, UploadCheckpoint,
    UploadMode, UploadOptions,
};

const AUTH: &str = "Basic dTpw"; // u:p

fn blob(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 % 251) as u8).collect()
}

fn basic_session() -> Session {
    session().with_credentials(Credentials::Basic {
        username: "u".into(),
        password: "p".into(),
    })
}

fn options(mode: UploadMode, chunk: u64) -> UploadOptions {
    UploadOptions {
        skip_if_exists: false,
        mode,
        chunk_size: Some(chunk),
    }
}

/// What the model holds: the upload files (appended to), and finished blobs.
#[derive(Default)]
struct Store {
    uploads: Vec<Vec<u8>>,
    blobs: Vec<(String, Vec<u8>)>,
}

fn upload_index(uri: &str) -> Option<usize> {
    let rest = uri.split("/uploads/").nth(1)?;
    rest.split(['?', '/']).next()?.parse().ok()
}

/// container-registry 0.3.1, as its handlers answer.
fn container_registry(store: Rc<RefCell<Store>>) -> ScriptedRegistry {
    ScriptedRegistry::new(move |sent: &Sent| {
        let path = sent.uri.trim_start_matches("https://reg.test");
        if path == "/v2/" {
            let status = if sent.header("authorization") == Some(AUTH) {
                200
            } else {
                401
            };
            return Reply::status(status)
                .header("www-authenticate", "Basic realm=\"ContainerRegistry\"");
        }
        if sent.header("authorization") != Some(AUTH) {
            return Reply::status(401);
        }
        let mut st = store.borrow_mut();
        match sent.method.as_str() {
            "POST" if path.ends_with("/blobs/uploads/") => {
                st.uploads.push(Vec::new());
                let n = st.uploads.len() - 1;
                Reply::status(202).header("location", &format!("/v2/a/b/uploads/{n}"))
            }
            "PATCH" => {
                let Some(file) = upload_index(path).and_then(|i| st.uploads.get_mut(i)) else {
                    return Reply::status(404);
                };
                file.extend_from_slice(&sent.body);
                let n = upload_index(path).unwrap_or(0);
                Reply::status(202)
                    .header("location", &format!("/v2/a/b/uploads/{n}"))
                    .header("range", &format!("0-{}", sent.body.len()))
            }
            "PUT" if path.contains("/uploads/") => {
                if !sent.body.is_empty() {
                    return Reply::status(500)
                        .header("content-type", "text/plain; charset=utf-8")
                        .body("feature not supported: missing content length not implemented");
                }
                let Some(file) = upload_index(path).and_then(|i| st.uploads.get(i)).cloned() else {
                    return Reply::status(404);
                };
                let digest = sha(&file).to_string();
                if !sent.uri.contains(&digest.replace(':', "%3A")) {
                    return Reply::status(500)
                        .header("content-type", "text/plain; charset=utf-8")
                        .body("digest mismatch");
                }
                st.blobs.push((digest.clone(), file));
                Reply::status(201).header("docker-content-digest", &digest)
            }
            // No status endpoint, no DELETE: axum's "method not allowed".
            "GET" if path.contains("/uploads/") => Reply::status(405),
            "DELETE" => Reply::status(405),
            "PUT" if path.contains("/manifests/") => Reply::status(400)
                .header("content-type", "text/plain; charset=utf-8")
                .body("could not parse manifest: missing field `config`"),
            _ => Reply::status(404),
        }
    })
}

fn holds(store: &Rc<RefCell<Store>>, data: &[u8]) -> bool {
    let d = sha(data).to_string();
    store
        .borrow()
        .blobs
        .iter()
        .any(|(digest, bytes)| *digest == d && bytes == data)
}

#[test]
fn a_bare_401_is_answered_by_pinging_v2_for_the_challenge_once_per_session() {
    let store = Rc::new(RefCell::new(Store::default()));
    let mut peer = container_registry(store.clone());
    let mut s = basic_session();
    let data = blob(10);
    let d = sha(&data);
    let opts = options(UploadMode::Chunked, 4);
    run(
        Upload::known(&s, &repo("a/b"), &d, 10, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert!(holds(&store, &data));
    let first: Vec<(&str, &str, Option<&str>)> = peer
        .sent
        .iter()
        .take(3)
        .map(|r| (r.method.as_str(), r.uri.as_str(), r.header("authorization")))
        .collect();
    assert_eq!(
        first,
        [
            ("POST", "https://reg.test/v2/a/b/blobs/uploads/", None),
            ("GET", "https://reg.test/v2/", None),
            ("POST", "https://reg.test/v2/a/b/blobs/uploads/", Some(AUTH)),
        ],
        "the ping goes without credentials; the replay with Basic"
    );
    // The session learned Basic: the next operation sends it up front, no ping.
    let sent_before = peer.sent.len();
    let more = blob(3);
    run(
        Upload::known(&s, &repo("a/b"), &sha(&more), 3, &opts).unwrap(),
        &mut s,
        &mut peer,
        &more,
    )
    .unwrap();
    assert!(peer.sent[sent_before..]
        .iter()
        .all(|r| r.uri != "https://reg.test/v2/" && r.header("authorization") == Some(AUTH)));
}

#[test]
fn without_credentials_a_bare_401_is_unauthorized_after_one_ping_and_names_no_scope() {
    let store = Rc::new(RefCell::new(Store::default()));
    let mut peer = container_registry(store);
    let mut s = session();
    let data = blob(10);
    let e = err(run(
        Upload::known(&s, &repo("a/b"), &sha(&data), 10, &UploadOptions::default()).unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(
        e,
        Error::Unauthorized {
            scope: String::new(),
            oci: Vec::new()
        }
    );
    assert_eq!(e.to_string(), "401 Unauthorized");
    let pings = peer.sent.iter().filter(|r| r.uri.ends_with("/v2/")).count();
    assert_eq!(pings, 1);
    // A second operation of the same session does not ping again: no loop, ever.
    let before = peer.sent.len();
    let _ = run(
        Upload::known(&s, &repo("a/b"), &sha(&data), 10, &UploadOptions::default()).unwrap(),
        &mut s,
        &mut peer,
        &data,
    );
    assert_eq!(peer.sent.len() - before, 1, "{:?}", &peer.sent[before..]);
}

#[test]
fn a_ping_without_any_challenge_is_unauthorized_too() {
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        if sent.uri.ends_with("/v2/") {
            Reply::status(200)
        } else {
            Reply::status(401)
        }
    });
    let mut s = basic_session();
    let data = blob(4);
    let e = err(run(
        Upload::known(&s, &repo("a/b"), &sha(&data), 4, &UploadOptions::default()).unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert_eq!(peer.sent.len(), 2);
}

#[test]
fn a_range_one_past_and_not_cumulative_still_uploads_every_byte_once() {
    // 10 bytes in chunks of 4: acknowledged 0-4, 0-4, 0-2 (one past each PATCH's own
    // length), which a strict reading takes for 5 of 4 bytes sent.
    for (len, chunk) in [(10usize, 4u64), (13, 13), (12, 4), (1, 1), (9, 3)] {
        let store = Rc::new(RefCell::new(Store::default()));
        let mut peer = container_registry(store.clone());
        let mut s = basic_session();
        let data = blob(len);
        let out = run(
            Upload::known(
                &s,
                &repo("a/b"),
                &sha(&data),
                len as u64,
                &options(UploadMode::Chunked, chunk),
            )
            .unwrap(),
            &mut s,
            &mut peer,
            &data,
        )
        .unwrap();
        assert_eq!(out.output.size, len as u64);
        assert!(holds(&store, &data), "{len} bytes in chunks of {chunk}");
    }
}

#[test]
fn a_stream_to_a_registry_whose_range_is_one_past_uploads_in_one_pass() {
    let store = Rc::new(RefCell::new(Store::default()));
    let mut peer = container_registry(store.clone());
    let mut s = basic_session();
    let data = blob(11);
    let out = run(
        Upload::stream(&s, &repo("a/b"), None, &options(UploadMode::Chunked, 4)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(out.output.digest, sha(&data));
    assert!(holds(&store, &data));
}

#[test]
fn only_exactly_one_past_is_tolerated() {
    let mut peer = ScriptedRegistry::new(|sent: &Sent| match sent.method.as_str() {
        "POST" => Reply::status(202).header("location", "/up/1"),
        "PATCH" => Reply::status(202).header("range", "0-5"),
        _ => Reply::status(400),
    });
    let mut s = session();
    let data = blob(8);
    let e = err(run(
        Upload::known(
            &s,
            &repo("a"),
            &sha(&data),
            8,
            &options(UploadMode::Chunked, 4),
        )
        .unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(
        e,
        Error::Protocol(ProtocolViolation::RangeBeyondSent {
            sent: 4,
            acknowledged: 6
        })
    );
}

#[test]
fn a_refused_monolithic_put_goes_on_in_chunks_in_the_same_session_and_is_remembered() {
    let store = Rc::new(RefCell::new(Store::default()));
    let mut peer = container_registry(store.clone());
    let mut s = basic_session();
    let data = blob(10);
    run(
        Upload::known(
            &s,
            &repo("a/b"),
            &sha(&data),
            10,
            &options(UploadMode::Monolithic, 4),
        )
        .unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert!(holds(&store, &data));
    let methods: Vec<&str> = peer
        .sent
        .iter()
        .filter(|r| r.header("authorization").is_some())
        .map(|r| r.method.as_str())
        .collect();
    assert_eq!(methods, ["POST", "PUT", "PATCH", "PATCH", "PATCH", "PUT"]);
    assert_eq!(store.borrow().uploads.len(), 1, "one session");
    assert!(s.upload_hints().chunked_only);
    // The next monolithic upload of this session goes chunked at once.
    let before = peer.sent.len();
    let more = blob(3);
    run(
        Upload::known(
            &s,
            &repo("a/b"),
            &sha(&more),
            3,
            &options(UploadMode::Monolithic, 4),
        )
        .unwrap(),
        &mut s,
        &mut peer,
        &more,
    )
    .unwrap();
    let methods: Vec<&str> = peer.sent[before..]
        .iter()
        .map(|r| r.method.as_str())
        .collect();
    assert_eq!(methods, ["POST", "PATCH", "PUT"]);
}

#[test]
fn a_monolithic_put_refused_for_its_digest_is_reported_not_retried() {
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        match sent.method.as_str() {
        "POST" => Reply::status(202).header("location", "/up/1"),
        "PUT" => Reply::status(400).header("content-type", "application/json").body(
            r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#,
        ),
        _ => Reply::status(500),
    }
    });
    let mut s = session();
    let data = blob(10);
    let e = err(run(
        Upload::known(
            &s,
            &repo("a"),
            &sha(&data),
            10,
            &options(UploadMode::Monolithic, 4),
        )
        .unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(
        e.to_string(),
        "blob upload: unexpected status 400 Bad Request: DIGEST_INVALID: provided digest did \
         not match uploaded content"
    );
    assert!(peer.sent.iter().all(|r| r.method != "PATCH"));
}

#[test]
fn refused_both_ways_is_an_error_with_the_registrys_text_and_no_loop() {
    let mut peer = ScriptedRegistry::new(|sent: &Sent| match sent.method.as_str() {
        "POST" => Reply::status(202).header("location", "/up/1"),
        "PUT" => Reply::status(500)
            .header("content-type", "text/plain")
            .body("no monolithic\nsecond line"),
        "PATCH" => Reply::status(405),
        _ => Reply::status(400),
    });
    let mut s = session();
    let data = blob(10);
    let e = err(run(
        Upload::known(
            &s,
            &repo("a"),
            &sha(&data),
            10,
            &options(UploadMode::Monolithic, 4),
        )
        .unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(
        e.to_string(),
        "blob upload: unexpected status 405 Method Not Allowed"
    );
    let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PUT", "PATCH", "DELETE"]);
}

#[test]
fn a_text_plain_error_body_is_shown_first_line_and_bounded() {
    let long = "x".repeat(500);
    for (body, shown) in [
        (
            "feature not supported: missing content length not implemented".to_owned(),
            "feature not supported: missing content length not implemented".to_owned(),
        ),
        ("\n\n  first\r\nsecond".to_owned(), "first".to_owned()),
        (long, format!("{}…", "x".repeat(200))),
    ] {
        let mut peer = ScriptedRegistry::new(move |_: &Sent| {
            Reply::status(503)
                .header("content-type", "text/plain; charset=utf-8")
                .body(body.clone())
        });
        let mut s = session();
        let e = err(run(
            crate::GetManifest::new(&s, &repo("a"), &crate::Reference::parse("t").unwrap())
                .unwrap(),
            &mut s,
            &mut peer,
            b"",
        ));
        assert_eq!(
            e.to_string(),
            format!("manifest GET: unexpected status 503 Service Unavailable: {shown}")
        );
    }
    // HTML is not shown.
    let mut peer = ScriptedRegistry::new(|_: &Sent| {
        Reply::status(502)
            .header("content-type", "text/html")
            .body("<html>bad gateway</html>")
    });
    let mut s = session();
    let e = err(run(
        crate::GetManifest::new(&s, &repo("a"), &crate::Reference::parse("t").unwrap()).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(
        e.to_string(),
        "manifest GET: unexpected status 502 Bad Gateway"
    );
}

#[test]
fn a_checkpoint_on_a_registry_without_a_status_endpoint_starts_over() {
    let store = Rc::new(RefCell::new(Store::default()));
    let mut peer = container_registry(store.clone());
    let mut s = basic_session();
    let data = blob(10);
    let checkpoint = UploadCheckpoint {
        location: "https://reg.test/v2/a/b/uploads/7".into(),
        offset: 4,
    };
    run(
        Upload::resume(
            &s,
            &repo("a/b"),
            &sha(&data),
            10,
            &checkpoint,
            &options(UploadMode::Chunked, 4),
        )
        .unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert!(holds(&store, &data));
    let asked: Vec<(&str, &str)> = peer
        .sent
        .iter()
        .filter(|r| r.header("authorization").is_some())
        .take(2)
        .map(|r| (r.method.as_str(), r.uri.as_str()))
        .collect();
    assert_eq!(
        asked,
        [
            ("GET", "https://reg.test/v2/a/b/uploads/7"),
            ("POST", "https://reg.test/v2/a/b/blobs/uploads/"),
        ]
    );
}

#[test]
fn del_alias_only_reports_the_refused_delete_not_the_fallbacks_error() {
    let store = Rc::new(RefCell::new(Store::default()));
    let mut peer = container_registry(store);
    let mut s = basic_session();
    let e = err(run(
        DeleteTag::new(&s, &repo("a/b"), &Tag::parse("t").unwrap(), "n1", None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(
        matches!(
            &e,
            Error::UnexpectedStatus { op: OpKind::ManifestDelete, status, .. } if status.as_u16() == 405
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "manifest DELETE: unexpected status 405 Method Not Allowed"
    );
}

/// Found by the CLI's failed-resume count: a resumed upload reported the checkpoint it was
/// given as its own (with offset 0) before the registry said anything about the session,
/// so a run that failed at once overwrote the saved offset and seemed to make progress.
#[test]
fn a_resumed_checkpoint_is_not_reported_until_the_registry_confirms_the_session() {
    let s = basic_session();
    let data = blob(10);
    let checkpoint = UploadCheckpoint {
        location: "https://reg.test/v2/a/b/uploads/0".into(),
        offset: 4,
    };
    let mut op = Upload::resume(
        &s,
        &repo("a/b"),
        &sha(&data),
        10,
        &checkpoint,
        &options(UploadMode::Chunked, 4),
    )
    .unwrap();
    assert_eq!(op.checkpoint(), None);
    let mut last = None;
    assert_eq!(op.next_checkpoint(&mut last), None);
    // The status request goes out; still nothing of this run's own.
    assert!(matches!(op.poll(NOW), Ok(crate::Step::Send(_))));
    assert_eq!(op.checkpoint(), None);
    // The registry holds 8 bytes: that is a checkpoint.
    let head = http::Response::builder()
        .status(204)
        .header("range", "0-7")
        .header("location", "/v2/a/b/uploads/0")
        .body(())
        .unwrap();
    let _ = op.handle_response(head, NOW).unwrap();
    assert_eq!(
        op.checkpoint(),
        Some(UploadCheckpoint {
            location: "https://reg.test/v2/a/b/uploads/0".into(),
            offset: 8
        })
    );
}
