//! Uploads: skip-if-exists, monolithic, chunked (Location per PATCH, short/stale Range, 201
//! PATCH, 416 resync, chunk minimum), streamed (single pass), and the closing checks.

use super::*;
use crate::testing::{MemoryRegistry, Reply, Sent};
use crate::{Error, ProtocolViolation, Upload, UploadMode, UploadOptions};

fn blob(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 256) as u8).collect()
}

fn chunked(size: u64) -> UploadOptions {
    UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Chunked,
        chunk_size: Some(size),
    }
}

#[test]
fn existing_blob_is_skipped_after_a_head() {
    let reg = MemoryRegistry::new();
    let data = blob(10);
    let d = sha(&data);
    reg.state
        .borrow_mut()
        .blobs
        .insert(("a".into(), d.to_string()), data.clone());
    let mut s = session();
    let mut peer = reg.peer();
    let out = run(
        Upload::known(&s, &repo("a"), &d, 10, &UploadOptions::default()).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert!(out.output.skipped);
    assert_eq!(peer.sent.len(), 1);
    assert_eq!(peer.sent[0].method, "HEAD");
}

#[test]
fn monolithic_upload_puts_the_whole_source_with_the_digest_in_the_existing_query() {
    let reg = MemoryRegistry::new();
    let data = blob(1000);
    let d = sha(&data);
    let mut s = session();
    let mut peer = reg.peer();
    let out = run(
        Upload::known(&s, &repo("a"), &d, 1000, &UploadOptions::default()).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert!(!out.output.skipped);
    let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["HEAD", "POST", "PUT"]);
    assert_eq!(peer.sent[1].header("content-length"), Some("0"));
    let put = &peer.sent[2];
    assert_eq!(
        put.uri,
        format!(
            "https://reg.test/v2/a/blobs/uploads/0?_state=s0&digest=sha256%3A{}",
            d.encoded()
        )
    );
    assert_eq!(put.header("content-length"), Some("1000"));
    assert_eq!(put.header("content-type"), Some("application/octet-stream"));
    assert_eq!(put.body, data);
    assert_eq!(reg.state.borrow().blobs[&("a".into(), d.to_string())], data);
}

#[test]
fn chunked_upload_follows_the_newest_location_and_sends_ranges() {
    let reg = MemoryRegistry::new();
    let data = blob(10);
    let d = sha(&data);
    let mut s = session();
    let mut peer = reg.peer();
    run(
        Upload::known(&s, &repo("a"), &d, 10, &chunked(4)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    let patches: Vec<&Sent> = peer.sent.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 3);
    let ranges: Vec<&str> = patches
        .iter()
        .map(|p| p.header("content-range").unwrap())
        .collect();
    assert_eq!(ranges, ["0-3", "4-7", "8-9"]);
    assert!(patches
        .iter()
        .all(|p| p.header("content-type") == Some("application/octet-stream")));
    // Each PATCH went to the Location of the previous response (the model changes _state).
    assert!(patches[0].uri.ends_with("?_state=s0"));
    assert!(patches[1].uri.ends_with("?_state=p4"));
    assert!(patches[2].uri.ends_with("?_state=p8"));
    let put = peer.sent.last().unwrap();
    assert_eq!(put.method, "PUT");
    assert!(put.uri.contains("_state=p10&digest=sha256%3A"));
    assert!(put.body.is_empty());
    assert_eq!(reg.state.borrow().blobs[&("a".into(), d.to_string())], data);
}

/// A scripted uploader whose PATCH replies come from `range_for(start, end_exclusive, n)`.
fn scripted(
    data: Vec<u8>,
    patch_reply: impl Fn(usize, &Sent, usize) -> Reply + 'static,
) -> ScriptedRegistry {
    let d = sha(&data).to_string();
    let mut patches = 0;
    ScriptedRegistry::new(move |sent: &Sent| match sent.method.as_str() {
        "POST" => Reply::status(202).header("location", "/up/1"),
        "PATCH" => {
            patches += 1;
            let start: usize = sent
                .header("content-range")
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.parse().ok())
                .unwrap();
            patch_reply(start, sent, patches)
        }
        "GET" => Reply::status(204).header("range", "0-5"),
        "PUT" if sent.uri.contains(&d.replace(':', "%3A")) => {
            Reply::status(201).header("docker-content-digest", &d)
        }
        _ => Reply::status(400),
    })
}

#[test]
fn short_range_acknowledgement_resends_from_the_acknowledged_offset() {
    let data = blob(10);
    let d = sha(&data);
    // The first PATCH (0-3) is acknowledged only up to byte 1 (Range 0-1).
    let mut peer = scripted(data.clone(), |start, sent, n| {
        let end = if n == 1 {
            1
        } else {
            start + sent.body.len() - 1
        };
        Reply::status(202).header("range", &format!("0-{end}"))
    });
    let mut s = session();
    run(
        Upload::known(&s, &repo("a"), &d, 10, &chunked(4)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    let ranges: Vec<&str> = peer
        .sent
        .iter()
        .filter_map(|r| r.header("content-range"))
        .collect();
    assert_eq!(ranges, ["0-3", "2-5", "6-9"]);
    assert_eq!(peer.sent[2].body, &data[2..6]);
}

#[test]
fn stale_range_and_patch_201_are_tolerated_and_the_digest_decides() {
    let data = blob(10);
    let d = sha(&data);
    // ECR: Range stuck at the first chunk, and a 201 on a PATCH.
    let mut peer = scripted(data.clone(), |_, _, n| {
        Reply::status(if n == 2 { 201 } else { 202 }).header("range", "0-3")
    });
    let mut s = session();
    let out = run(
        Upload::known(&s, &repo("a"), &d, 10, &chunked(4)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(out.output.size, 10);
    let ranges: Vec<&str> = peer
        .sent
        .iter()
        .filter_map(|r| r.header("content-range"))
        .collect();
    assert_eq!(ranges, ["0-3", "4-7", "8-9"]);
}

#[test]
fn range_beyond_what_was_sent_is_a_protocol_violation() {
    let data = blob(10);
    let d = sha(&data);
    let mut peer = scripted(data.clone(), |_, _, _| {
        Reply::status(202).header("range", "0-8")
    });
    let mut s = session();
    let e = err(run(
        Upload::known(&s, &repo("a"), &d, 10, &chunked(4)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(
        e,
        Error::Protocol(ProtocolViolation::RangeBeyondSent {
            sent: 4,
            acknowledged: 9
        })
    );
}

#[test]
fn a_registry_that_never_progresses_stalls_the_upload() {
    let data = blob(10);
    let d = sha(&data);
    let mut peer = scripted(data.clone(), |start, _, _| {
        // Always acknowledge one byte more than before: short acks forever.
        Reply::status(202).header("range", &format!("0-{start}"))
    });
    peer.max_steps = 1000;
    let mut s = session();
    let e = err(run(
        Upload::known(&s, &repo("a"), &d, 10, &chunked(8)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(e, Error::Protocol(ProtocolViolation::UploadStalled));
}

/// Fuzz finding (push_chunked): a registry that acknowledges a chunk in full, then answers
/// the next PATCH 416 and reports nothing held, made the upload loop forever — every full
/// acknowledgement reset the stall count although the upload never got further.
#[test]
fn a_registry_that_acknowledges_then_forgets_stalls_the_upload() {
    let data = blob(10);
    let d = sha(&data);
    let mut peer = ScriptedRegistry::new(|sent: &Sent| match sent.method.as_str() {
        "POST" => Reply::status(202).header("location", "/up/1"),
        "PATCH" if sent.header("content-range") == Some("0-3") => {
            Reply::status(202).header("range", "0-3")
        }
        "PATCH" => Reply::status(416),
        // Nothing held after all.
        "GET" => Reply::status(204),
        _ => Reply::status(400),
    });
    peer.max_steps = 1000;
    let mut s = session();
    let e = err(run(
        Upload::known(&s, &repo("a"), &d, 10, &chunked(4)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(e, Error::Protocol(ProtocolViolation::UploadStalled));
}

#[test]
fn patch_416_asks_the_upload_status_and_continues_from_there() {
    let data = blob(10);
    let d = sha(&data);
    let mut peer = scripted(data.clone(), |start, sent, n| {
        if n == 2 {
            return Reply::status(416);
        }
        Reply::status(202).header("range", &format!("0-{}", start + sent.body.len() - 1))
    });
    let mut s = session();
    run(
        Upload::known(&s, &repo("a"), &d, 10, &chunked(4)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    let trail: Vec<String> = peer
        .sent
        .iter()
        .map(|r| format!("{} {}", r.method, r.header("content-range").unwrap_or("")))
        .collect();
    assert_eq!(
        trail,
        [
            "POST ",
            "PATCH 0-3",
            "PATCH 4-7",
            "GET ",
            "PATCH 6-9",
            "PUT "
        ]
    );
}

#[test]
fn oci_chunk_min_length_raises_the_chunk_size() {
    let data = blob(10);
    let d = sha(&data);
    let d2 = d.to_string();
    let mut peer = ScriptedRegistry::new(move |sent: &Sent| match sent.method.as_str() {
        "POST" => started_with_chunk_minimum("6"),
        "PATCH" => Reply::status(202),
        "PUT" => Reply::status(201).header("docker-content-digest", &d2),
        _ => Reply::status(400),
    });
    let mut s = session();
    run(
        Upload::known(&s, &repo("a"), &d, 10, &chunked(4)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    let ranges: Vec<&str> = peer
        .sent
        .iter()
        .filter_map(|r| r.header("content-range"))
        .collect();
    assert_eq!(ranges, ["0-5", "6-9"]);
}

#[test]
fn relative_and_absolute_upload_locations_both_work() {
    for loc in [
        "/v2/a/blobs/uploads/x?_state=1",
        "x?_state=1",
        "https://reg.test/v2/a/blobs/uploads/x?_state=1",
    ] {
        let data = blob(3);
        let d = sha(&data);
        let d2 = d.to_string();
        let mut peer = ScriptedRegistry::new(move |sent: &Sent| match sent.method.as_str() {
            "POST" => Reply::status(202).header("location", loc),
            "PUT" => Reply::status(201).header("docker-content-digest", &d2),
            _ => Reply::status(400),
        });
        let mut s = session();
        let opts = UploadOptions {
            skip_if_exists: false,
            ..Default::default()
        };
        run(
            Upload::known(&s, &repo("a"), &d, 3, &opts).unwrap(),
            &mut s,
            &mut peer,
            &data,
        )
        .unwrap();
        assert!(
            peer.sent[1]
                .uri
                .starts_with("https://reg.test/v2/a/blobs/uploads/x?_state=1&digest="),
            "{loc}: {}",
            peer.sent[1].uri
        );
    }
}

#[test]
fn missing_location_is_a_protocol_violation() {
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(202)]);
    let mut s = session();
    let d = sha(b"x");
    let opts = UploadOptions {
        skip_if_exists: false,
        ..Default::default()
    };
    let e = err(run(
        Upload::known(&s, &repo("a"), &d, 1, &opts).unwrap(),
        &mut s,
        &mut peer,
        b"x",
    ));
    assert_eq!(e, Error::Protocol(ProtocolViolation::MissingLocation));
}

#[test]
fn upload_is_never_done_without_a_201_with_the_right_digest() {
    let d = sha(b"x");
    let opts = UploadOptions {
        skip_if_exists: false,
        ..Default::default()
    };
    for final_reply in [
        Reply::status(202),
        Reply::status(200),
        Reply::status(201).header("docker-content-digest", sha(b"y").as_str()),
        Reply::status(400).body(r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#),
    ] {
        let mut peer = ScriptedRegistry::sequence(vec![
            Reply::status(202).header("location", "/up/1"),
            final_reply.clone(),
        ]);
        let mut s = session();
        let r = run(Upload::known(&s, &repo("a"), &d, 1, &opts).unwrap(), &mut s, &mut peer, b"x");
        assert!(r.is_err(), "{final_reply:?}");
    }
}

#[test]
fn stream_upload_hashes_while_sending_and_gives_the_digest_at_the_end() {
    let reg = MemoryRegistry::new();
    let data = blob(25);
    let d = sha(&data);
    let mut s = session();
    let mut peer = reg.peer();
    peer.source_read = 3; // short reads are gathered into whole chunks
    let out = run(
        Upload::stream(&s, &repo("a"), None, &chunked(10)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(out.output.digest, d);
    assert_eq!(out.output.size, 25);
    let ranges: Vec<&str> = peer
        .sent
        .iter()
        .filter_map(|r| r.header("content-range"))
        .collect();
    assert_eq!(ranges, ["0-9", "10-19", "20-24"]);
    assert!(peer
        .sent
        .last()
        .unwrap()
        .uri
        .ends_with(&format!("digest=sha256%3A{}", d.encoded())));
    assert_eq!(reg.state.borrow().blobs[&("a".into(), d.to_string())], data);
}

#[test]
fn empty_stream_uploads_the_empty_blob() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let out = run(
        Upload::stream(&s, &repo("a"), None, &chunked(10)).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    )
    .unwrap();
    assert_eq!(out.output.digest, sha(b""));
    assert_eq!(out.output.size, 0);
}

#[test]
fn stream_with_a_wrong_expected_digest_is_never_committed() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let wrong = sha(b"something else");
    let opts = UploadOptions {
        skip_if_exists: false,
        ..chunked(10)
    };
    let mut peer = reg.peer();
    let e = err(run(
        Upload::stream(&s, &repo("a"), Some(&wrong), &opts).unwrap(),
        &mut s,
        &mut peer,
        b"data",
    ));
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e:?}");
    assert!(peer.sent.iter().all(|r| r.method != "PUT"));
    assert!(reg.state.borrow().blobs.is_empty());
}

#[test]
fn a_stream_source_that_overruns_its_request_is_misuse() {
    let s = session();
    let mut op = Upload::stream(&s, &repo("a"), None, &chunked(4)).unwrap();
    let Ok(crate::Step::Send(_)) = op.poll(NOW) else {
        panic!()
    };
    let head = http::Response::builder()
        .status(202)
        .header("location", "/u")
        .body(())
        .unwrap();
    assert_eq!(
        op.handle_response(head, NOW).unwrap(),
        crate::BodyPlan::Discard
    );
    let Ok(crate::Step::NeedSource { max: 4 }) = op.poll(NOW) else {
        panic!()
    };
    let e = op.handle_source(b"12345").unwrap_err();
    assert!(matches!(
        e,
        Error::Misuse(crate::Misuse::SourceOverrun { max: 4, got: 5 })
    ));
    // Errors are sticky.
    assert_eq!(op.poll(NOW).unwrap_err(), e);
}

fn single_pass() -> UploadOptions {
    UploadOptions {
        skip_if_exists: false,
        ..UploadOptions::default()
    }
}

#[test]
fn sized_stream_relays_one_patch_hashed_as_it_goes_and_commits_the_computed_digest() {
    let reg = MemoryRegistry::new();
    let data = blob(25);
    let d = sha(&data);
    let mut s = session();
    let mut peer = reg.peer();
    peer.source_read = 3; // the driver relays in small pieces: all are hashed
    let out = run(
        Upload::sized_stream(&s, &repo("a"), 25, None, &single_pass()).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(out.output.digest, d);
    assert_eq!(out.output.size, 25);
    assert!(!out.output.skipped);
    let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PATCH", "PUT"]);
    let patch = &peer.sent[1];
    assert_eq!(patch.header("content-range"), Some("0-24"));
    assert_eq!(patch.header("content-length"), Some("25"));
    assert_eq!(patch.body, data);
    let put = &peer.sent[2];
    assert!(put.body.is_empty());
    assert!(put
        .uri
        .ends_with(&format!("digest=sha256%3A{}", d.encoded())));
    assert_eq!(reg.state.borrow().blobs[&("a".into(), d.to_string())], data);
}

#[test]
fn empty_sized_stream_commits_the_empty_blob_without_a_patch() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let mut peer = reg.peer();
    let out = run(
        Upload::sized_stream(&s, &repo("a"), 0, None, &single_pass()).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(out.output.digest, sha(b""));
    let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PUT"]);
}

#[test]
fn sized_stream_with_a_known_digest_skips_an_existing_blob() {
    let reg = MemoryRegistry::new();
    let data = blob(9);
    let d = sha(&data);
    reg.state
        .borrow_mut()
        .blobs
        .insert(("a".into(), d.to_string()), data.clone());
    let mut s = session();
    let mut peer = reg.peer();
    let out = run(
        Upload::sized_stream(&s, &repo("a"), 9, Some(&d), &UploadOptions::default()).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert!(out.output.skipped);
    assert_eq!(peer.sent.len(), 1);
    assert_eq!(peer.sent[0].method, "HEAD");
}

#[test]
fn sized_stream_with_a_wrong_expected_digest_is_never_committed() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let wrong = sha(b"something else");
    let mut peer = reg.peer();
    let e = err(run(
        Upload::sized_stream(&s, &repo("a"), 4, Some(&wrong), &single_pass()).unwrap(),
        &mut s,
        &mut peer,
        b"data",
    ));
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e:?}");
    assert!(peer.sent.iter().all(|r| r.method != "PUT"));
}

#[test]
fn a_sized_stream_source_that_ends_early_is_never_committed_and_its_session_is_deleted() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let mut peer = reg.peer();
    let e = err(run(
        Upload::sized_stream(&s, &repo("a"), 10, None, &single_pass()).unwrap(),
        &mut s,
        &mut peer,
        b"only six",
    ));
    assert_eq!(
        e,
        Error::LengthMismatch {
            expected: 10,
            actual: 8
        }
    );
    // The relayed PATCH is abandoned (never answered); the session is cancelled.
    let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "DELETE"]);
    assert_eq!(
        peer.sent[1].uri,
        "https://reg.test/v2/a/blobs/uploads/0?_state=s0"
    );
    assert!(reg.state.borrow().uploads.is_empty());
    assert!(reg.state.borrow().blobs.is_empty());
}

/// Drives a sized stream of 4 bytes, as every driver runs it, to its relayed `PATCH`.
fn relaying_four_bytes(s: &crate::Session) -> Authed<crate::Retrying<Upload>> {
    let op = Upload::sized_stream(s, &repo("a"), 4, None, &single_pass()).unwrap();
    let mut op = Authed::new(s, crate::Retrying::new(s, op));
    let Ok(crate::Step::Send(post)) = op.poll(NOW) else {
        panic!()
    };
    assert_eq!(post.method(), "POST");
    let head = http::Response::builder()
        .status(202)
        .header("location", "/u/1")
        .body(())
        .unwrap();
    assert_eq!(
        op.handle_response(head, NOW).unwrap(),
        crate::BodyPlan::Discard
    );
    let Ok(crate::Step::Send(patch)) = op.poll(NOW) else {
        panic!()
    };
    assert_eq!(patch.body(), &crate::Body::Stream { len: 4 });
    op
}

#[test]
fn a_refused_relay_is_followed_by_the_cleanup_delete_then_its_error() {
    let s = session();
    let short = Error::LengthMismatch {
        expected: 4,
        actual: 2,
    };
    let mut op = relaying_four_bytes(&s);
    op.handle_source(b"12").unwrap();
    assert_eq!(op.handle_source(b"").unwrap_err(), short);
    // The driver abandons the PATCH and polls again: the session's DELETE, bounded as a
    // cleanup (as after a cancel), then the error.
    let Ok(crate::Step::Send(delete)) = op.poll(NOW) else {
        panic!("no cleanup")
    };
    assert_eq!(delete.method(), "DELETE");
    assert_eq!(delete.uri(), "https://reg.test/u/1");
    let bounds = s.limits().timeouts.for_request(&delete);
    assert_eq!(bounds.whole, Some(crate::DEFAULT_CLEANUP_TIMEOUT));
    assert_eq!(bounds.interrupt_grace, None);
    let head = http::Response::builder().status(204).body(()).unwrap();
    assert_eq!(
        op.handle_response(head, NOW).unwrap(),
        crate::BodyPlan::Discard
    );
    assert_eq!(op.poll(NOW).unwrap_err(), short);
    assert_eq!(op.poll(NOW).unwrap_err(), short, "sticky from here");
}

#[test]
fn a_relayed_patch_cannot_be_resent_so_a_short_acknowledgement_or_416_fails() {
    let data = blob(20);
    for (reply, what) in [
        (Reply::status(202).header("range", "0-9"), "short"),
        (Reply::status(416), "416"),
    ] {
        let mut s = session();
        let mut peer = scripted(data.clone(), move |_, _, _| reply.clone());
        let r = run(
            Upload::sized_stream(&s, &repo("a"), 20, None, &single_pass()).unwrap(),
            &mut s,
            &mut peer,
            &data,
        );
        assert!(r.is_err(), "{what}: {r:?}");
        let patches = peer.sent.iter().filter(|r| r.method == "PATCH").count();
        assert_eq!(patches, 1, "{what}: the relayed body was sent once");
        assert!(peer.sent.iter().all(|r| r.method != "PUT"), "{what}");
    }
}

#[test]
fn relaying_more_than_the_announced_length_is_misuse() {
    let s = session();
    let mut op = relaying_four_bytes(&s);
    op.handle_source(b"12").unwrap();
    let e = op.handle_source(b"345").unwrap_err();
    assert!(matches!(
        e,
        Error::Misuse(crate::Misuse::SourceOverrun { max: 2, got: 3 })
    ));
    // The PATCH is abandoned: the session's cleanup (here without an answer), then the
    // error.
    let Ok(crate::Step::Send(delete)) = op.poll(NOW) else {
        panic!()
    };
    assert_eq!(delete.method(), "DELETE");
    let _ = op.handle_send_failure(NOW);
    assert_eq!(op.poll(NOW).unwrap_err(), e);
}

#[test]
fn source_bytes_outside_a_relayed_patch_are_misuse() {
    let s = session();
    let mut op = Upload::sized_stream(&s, &repo("a"), 4, None, &single_pass()).unwrap();
    let Ok(crate::Step::Send(_)) = op.poll(NOW) else {
        panic!()
    };
    // The POST is in flight, not the PATCH.
    let e = op.handle_source(b"12").unwrap_err();
    assert!(matches!(e, Error::Misuse(_)), "{e:?}");
}

/// The answer to the upload POST: session `/up/1`, chunks of at least `min` bytes.
fn started_with_chunk_minimum(min: &str) -> Reply {
    Reply::status(202)
        .header("location", "/up/1")
        .header("oci-chunk-min-length", min)
}

/// A stream upload of `data` (chunks of 10 bytes buffered) to `peer`, in a new session.
fn stream_in_tens(
    peer: &mut ScriptedRegistry,
    data: &[u8],
) -> Result<Driven<crate::Pushed>, DriveError> {
    let mut s = session();
    let op = Upload::stream(&s, &repo("a"), None, &chunked(10)).unwrap();
    run(op, &mut s, peer, data)
}

/// The PATCHes `peer` was sent, in order.
fn patches(peer: &ScriptedRegistry) -> Vec<&Sent> {
    peer.sent.iter().filter(|r| r.method == "PATCH").collect()
}

#[test]
fn a_chunk_minimum_above_the_buffer_streams_the_rest_in_one_patch_of_unknown_length() {
    // 300 bytes from a stream whose chunks would be buffered 10 at a time; the registry
    // asks for chunks of at least 1 MiB: nothing larger than 10 bytes is ever buffered.
    let data = blob(300);
    let d = sha(&data);
    let d2 = d.to_string();
    let mut peer = ScriptedRegistry::new(move |sent: &Sent| match sent.method.as_str() {
        "POST" => started_with_chunk_minimum("1048576"),
        "PATCH" => Reply::status(202)
            .header("location", "/up/2")
            .header("range", &format!("0-{}", sent.body.len() - 1)),
        "PUT" => Reply::status(201).header("docker-content-digest", &d2),
        _ => Reply::status(400),
    });
    peer.source_read = 7;
    let out = stream_in_tens(&mut peer, &data).unwrap();
    assert_eq!(out.output.digest, d);
    assert_eq!(out.output.size, 300);
    let patches = patches(&peer);
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].body, data);
    assert_eq!(patches[0].header("content-length"), None);
    assert_eq!(patches[0].header("content-range"), None);
    let put = peer.sent.last().unwrap();
    assert_eq!(put.method, "PUT");
    assert!(
        put.uri
            .starts_with("https://reg.test/up/2?digest=sha256%3A"),
        "{}",
        put.uri
    );
}

#[test]
fn a_streamed_patch_is_asked_for_before_any_source_byte_is_buffered() {
    use crate::{BodyPlan, Operation, Step};
    let s = session();
    let mut op = Upload::stream(&s, &repo("a"), None, &chunked(8)).unwrap();
    let Step::Send(post) = op.poll(NOW).unwrap() else {
        panic!("expected the POST")
    };
    assert_eq!(post.method(), "POST");
    let head = http::Response::builder()
        .status(202)
        .header("location", "/up/1")
        .header("oci-chunk-min-length", "268435456")
        .body(())
        .unwrap();
    assert_eq!(op.handle_response(head, NOW).unwrap(), BodyPlan::Discard);
    let Step::Send(patch) = op.poll(NOW).unwrap() else {
        panic!("expected a PATCH, not a request for source bytes")
    };
    assert_eq!(patch.body(), &crate::Body::StreamToEnd);
    assert!(patch.body().is_relayed());
    // The relayed bytes are hashed; the end is where the source ended.
    op.handle_source(b"abc").unwrap();
    op.handle_source(b"").unwrap();
    assert!(op.handle_source(b"more").is_err());
}

#[test]
fn a_streamed_patch_that_is_refused_is_never_replayed() {
    let data = blob(50);
    let mut peer = ScriptedRegistry::new(|sent: &Sent| match sent.method.as_str() {
        "POST" => started_with_chunk_minimum("1000"),
        "PATCH" => Reply::status(416),
        "DELETE" => Reply::status(204),
        _ => Reply::status(400),
    });
    let e = err(stream_in_tens(&mut peer, &data));
    assert!(matches!(e, Error::UnexpectedStatus { .. }), "{e}");
    assert_eq!(patches(&peer).len(), 1);
    assert_eq!(peer.sent.last().unwrap().method, "DELETE");
}

#[test]
fn a_streamed_patch_met_with_a_challenge_is_not_replayed() {
    let data = blob(50);
    let mut peer = ScriptedRegistry::new(|sent: &Sent| match sent.method.as_str() {
        "POST" => started_with_chunk_minimum("1000"),
        "PATCH" => Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token""#,
        ),
        "GET" => Reply::status(200).body(br#"{"token":"t"}"#.to_vec()),
        "DELETE" => Reply::status(204),
        _ => Reply::status(400),
    });
    let r = stream_in_tens(&mut peer, &data);
    assert!(r.is_err(), "{r:?}");
    assert_eq!(patches(&peer).len(), 1);
    assert!(peer.sent.iter().all(|r| r.method != "PUT"));
}

/// A GHCR-like registry: a PATCH over `cap` bytes is refused 416 and nothing of it kept; the
/// status says what is held. Stores what it is sent, for the final check.
fn capped(cap: usize) -> (ScriptedRegistry, std::rc::Rc<std::cell::RefCell<Vec<u8>>>) {
    let held = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let store = held.clone();
    let peer = ScriptedRegistry::new(move |sent: &Sent| {
        let mut held = store.borrow_mut();
        match sent.method.as_str() {
            "POST" => Reply::status(202).header("location", "/up/1"),
            "PATCH" if sent.body.len() > cap => Reply::status(416),
            "PATCH" => {
                held.extend_from_slice(&sent.body);
                Reply::status(202).header("range", &format!("0-{}", held.len() - 1))
            }
            "GET" if held.is_empty() => Reply::status(204).header("range", "0-0"),
            "GET" => Reply::status(204).header("range", &format!("0-{}", held.len() - 1)),
            "PUT" => {
                let d = sha(&held).to_string();
                if sent.uri.contains(&d.replace(':', "%3A")) && sent.body.is_empty() {
                    Reply::status(201).header("docker-content-digest", &d)
                } else {
                    Reply::status(400)
                }
            }
            _ => Reply::status(400),
        }
    });
    (peer, held)
}

/// Found by the GHCR personality: a stream's first chunk over the registry's PATCH cap
/// (416) failed the upload, though its bytes were still in memory; `push-blob -` of more
/// than 4 MiB to ghcr.io failed.
#[test]
fn a_stream_chunk_over_the_registrys_cap_is_sent_again_smaller() {
    let data = blob(23);
    let (mut peer, held) = capped(5);
    let mut s = session();
    let out = run(
        Upload::stream(&s, &repo("a"), None, &chunked(16)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(out.output.digest, sha(&data));
    assert_eq!(*held.borrow(), data);
    let patches: Vec<usize> = peer
        .sent
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.body.len())
        .collect();
    // 16 refused; 8 refused; 4 taken (the chunk size learned), and so on.
    assert_eq!(patches, [16, 8, 4, 4, 4, 4, 4, 3]);
    assert_eq!(s.upload_hints().max_chunk, Some(4));
}

/// Found by the GAR personality: a registry without chunked uploads (PATCH → 405) took no
/// stream and no small in-memory blob (the `{}` config of `set-alias --oci`), though a
/// stream that fits its first chunk is whole in memory and its digest known.
#[test]
fn a_stream_within_one_chunk_goes_monolithic_when_patch_is_refused() {
    let reg = MemoryRegistry::new();
    let gar = |reg: &MemoryRegistry| {
        let reg = reg.clone();
        ScriptedRegistry::new(move |sent: &Sent| {
            if sent.method == "PATCH" {
                Reply::status(405)
            } else {
                reg.answer(sent)
            }
        })
    };
    let data = blob(10);
    let mut s = session();
    let mut peer = gar(&reg);
    let out = run(
        Upload::stream(&s, &repo("a"), None, &chunked(16)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(out.output.digest, sha(&data));
    assert_eq!(
        reg.state.borrow().blobs[&("a".into(), sha(&data).to_string())],
        data
    );
    let put = peer.sent.last().unwrap();
    assert_eq!((put.method.as_str(), put.body.len()), ("PUT", 10));
    assert!(s.upload_hints().monolithic_only);

    // The OCI empty config the same way.
    let mut peer = gar(&reg);
    let mut s = session();
    let out = run(
        Upload::empty_config(&s, &repo("a")).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(out.output.size, 2);

    // A stream longer than a chunk cannot: its first bytes are gone.
    let long = blob(40);
    let mut peer = gar(&reg);
    let mut s = session();
    let e = err(run(
        Upload::stream(&s, &repo("a"), None, &chunked(16)).unwrap(),
        &mut s,
        &mut peer,
        &long,
    ));
    assert!(
        matches!(&e, Error::UnexpectedStatus { status, .. } if status.as_u16() == 405),
        "{e:?}"
    );
}

#[test]
fn a_short_acknowledgement_of_a_streams_first_chunk_resends_the_rest() {
    let data = blob(10);
    let store = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let held = store.clone();
    let mut first = true;
    let mut peer = ScriptedRegistry::new(move |sent: &Sent| {
        let mut held = held.borrow_mut();
        match sent.method.as_str() {
            "POST" => Reply::status(202).header("location", "/up/1"),
            "PATCH" => {
                // The first PATCH: only 3 of its bytes kept.
                let keep = if first { 3 } else { sent.body.len() };
                first = false;
                held.extend_from_slice(&sent.body[..keep]);
                Reply::status(202).header("range", &format!("0-{}", held.len() - 1))
            }
            "PUT" => Reply::status(201).header("docker-content-digest", sha(&held).as_ref()),
            _ => Reply::status(400),
        }
    });
    let mut s = session();
    run(
        Upload::stream(&s, &repo("a"), None, &chunked(8)).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(*store.borrow(), data);
}

/// Found by the GHCR personality: a single-pass push relays the file as one PATCH, which a
/// registry capping PATCH size refuses (416); its bytes were relayed, not kept. A driver
/// that can read the file again says so, and the blob goes again in chunks — its digest
/// known by then, so it is committed as any known upload.
#[test]
fn a_refused_single_pass_patch_goes_again_in_chunks_from_a_seekable_source() {
    let data = blob(23);
    let (mut peer, held) = capped(8);
    let mut s = session();
    let op = Upload::sized_stream(&s, &repo("a"), 23, None, &chunked(64))
        .unwrap()
        .with_seekable_source();
    let out = run(op, &mut s, &mut peer, &data).unwrap();
    assert_eq!(out.output.digest, sha(&data));
    assert_eq!(out.output.size, 23);
    assert_eq!(*held.borrow(), data);
    let patches: Vec<usize> = peer
        .sent
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.body.len())
        .collect();
    // The whole file refused; half of it too; then quarters (the size learned).
    assert_eq!(patches, [23, 11, 5, 5, 5, 5, 3]);
    assert_eq!(s.upload_hints().max_chunk, Some(5));

    // Without the declaration, the refusal is the answer.
    let (mut peer, _) = capped(8);
    let mut s = session();
    let op = Upload::sized_stream(&s, &repo("a"), 23, None, &chunked(64)).unwrap();
    let e = err(run(op, &mut s, &mut peer, &data));
    assert!(
        matches!(&e, Error::UnexpectedStatus { status, .. } if status.as_u16() == 416),
        "{e:?}"
    );
}
