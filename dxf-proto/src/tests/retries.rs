//! Safe retries ([`Retrying`]): idempotent requests sent again after transient statuses and
//! transport failures, with bounded backoff and `Retry-After`; bodies never blindly
//! replayed; a chunked upload that loses a chunk in transport asks the registry and goes
//! on; ECR's 403 for an expired token.

use std::time::Duration;

use super::*;
use crate::testing::{MemoryAuth, MemoryRegistry, Reply, Sent};
use crate::{Error, HeadBlob, Limits, RetryPolicy, Retrying, Upload, UploadMode, UploadOptions};

fn with_policy(policy: RetryPolicy) -> Session {
    session().with_limits(Limits {
        retry: policy,
        ..Limits::default()
    })
}

/// Runs `op` as the adapters do: `Authed<Retrying<O>>`.
fn run_retrying<O: Operation + Scoped>(
    op: O,
    session: &mut Session,
    peer: &mut ScriptedRegistry,
    source: &[u8],
) -> Result<Driven<O::Output>, DriveError> {
    let retrying = Retrying::new(session, op);
    let mut authed = Authed::new(session, retrying);
    drive(&mut authed, peer, session, NOW, source)
}

/// Answers from `reg`, except that the requests `bad` picks (by method and index among
/// requests with that method) get `reply` instead.
fn faulty(
    reg: &MemoryRegistry,
    bad: impl Fn(&Sent, usize) -> Option<Reply> + 'static,
) -> ScriptedRegistry {
    let reg = reg.clone();
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    ScriptedRegistry::new(move |sent| {
        let n = seen.entry(sent.method.clone()).or_default();
        let i = *n;
        *n += 1;
        bad(sent, i).unwrap_or_else(|| reg.answer(sent))
    })
}

fn stored(reg: &MemoryRegistry, data: &[u8]) -> Digest {
    let d = sha(data);
    reg.state
        .borrow_mut()
        .blobs
        .insert(("a".into(), d.to_string()), data.to_vec());
    d
}

#[test]
fn transient_statuses_are_retried_with_growing_jittered_waits() {
    let reg = MemoryRegistry::new();
    let d = stored(&reg, b"hello");
    let mut s = session();
    let mut peer = faulty(&reg, |_, i| match i {
        0 => Some(Reply::status(503)),
        1 => Some(Reply::status(500)),
        2 => Some(Reply::status(502)),
        _ => None,
    });
    let out = run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(out.output.size, 5);
    assert_eq!(peer.sent.len(), 4);
    let policy = RetryPolicy::default();
    assert_eq!(peer.waits.len(), 3);
    for (i, w) in peer.waits.iter().enumerate() {
        let full = policy.base_delay * (1 << i);
        assert!(*w >= full / 2 && *w <= full, "wait {i}: {w:?} for {full:?}");
    }
}

#[test]
fn retry_after_is_honoured_and_a_too_long_one_is_not_waited_for() {
    let reg = MemoryRegistry::new();
    let d = stored(&reg, b"x");
    let mut s = session();
    let mut peer = faulty(&reg, |_, i| {
        (i == 0).then(|| Reply::status(429).header("retry-after", "7"))
    });
    run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(peer.waits, [Duration::from_secs(7)]);

    let mut peer = faulty(&reg, |_, _| {
        Some(Reply::status(429).header("retry-after", "3600"))
    });
    let e = err(run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(
        matches!(&e, Error::UnexpectedStatus { status, .. } if status.as_u16() == 429),
        "{e:?}"
    );
    assert_eq!(peer.sent.len(), 1);
    assert!(peer.waits.is_empty());
}

#[test]
fn retries_are_bounded_in_count_and_in_total_wait() {
    let reg = MemoryRegistry::new();
    let d = stored(&reg, b"x");
    let mut s = with_policy(RetryPolicy {
        max_retries: 3,
        ..RetryPolicy::default()
    });
    let mut peer = faulty(&reg, |_, _| Some(Reply::status(503)));
    let e = err(run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(matches!(&e, Error::UnexpectedStatus { status, .. } if status.as_u16() == 503));
    assert_eq!(peer.sent.len(), 4, "one try and three retries");

    let mut s = with_policy(RetryPolicy {
        max_retries: 100,
        max_total: Duration::from_secs(10),
        ..RetryPolicy::default()
    });
    let mut peer = faulty(&reg, |_, _| {
        Some(Reply::status(503).header("retry-after", "4"))
    });
    let _ = err(run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(peer.waits, [Duration::from_secs(4), Duration::from_secs(4)]);
}

#[test]
fn retries_can_be_disabled() {
    let reg = MemoryRegistry::new();
    let d = stored(&reg, b"x");
    let mut s = with_policy(RetryPolicy::never());
    let mut peer = faulty(&reg, |_, i| (i == 0).then(|| Reply::status(503)));
    let _ = err(run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(peer.sent.len(), 1);
    let mut peer = faulty(&reg, |_, i| (i == 0).then(Reply::transport_failure));
    let r = run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    );
    assert!(matches!(r, Err(DriveError::GaveUp)), "{r:?}");
}

#[test]
fn a_lost_get_is_sent_again_at_once_then_with_backoff() {
    let reg = MemoryRegistry::new();
    let d = stored(&reg, b"abc");
    let mut s = session();
    let mut peer = faulty(&reg, |_, i| (i < 2).then(Reply::transport_failure));
    let out = run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(out.output.size, 3);
    assert_eq!(peer.sent.len(), 3);
    assert_eq!(peer.waits.len(), 1, "the first resend is immediate");
}

#[test]
fn the_same_seed_gives_the_same_waits_and_another_seed_others() {
    let reg = MemoryRegistry::new();
    let d = stored(&reg, b"x");
    let waits = |seed: u64| {
        let mut s = session().with_jitter_seed(seed);
        let mut peer = faulty(&reg, |_, i| (i < 4).then(|| Reply::status(503)));
        run_retrying(
            HeadBlob::new(&s, &repo("a"), &d).unwrap(),
            &mut s,
            &mut peer,
            b"",
        )
        .unwrap();
        peer.waits
    };
    assert_eq!(waits(1), waits(1));
    assert_ne!(waits(1), waits(2));
}

#[test]
fn a_request_with_a_body_is_never_sent_again_blindly() {
    let reg = MemoryRegistry::new();
    let data = b"monolithic".to_vec();
    let mut s = session();
    let opts = UploadOptions {
        skip_if_exists: false,
        ..UploadOptions::default()
    };
    // The PUT with the whole blob is lost: never replayed. (A broken connection during a
    // monolithic PUT is also how a registry refusing it looks — container-registry answers
    // 500 at once and closes — so the blob goes once more, in chunks of a new session.) The
    // closing PUT of that one lost too: the operation gives up.
    let mut peer = faulty(&reg, |sent, _| {
        (sent.method == "PUT").then(Reply::transport_failure)
    });
    let r = run_retrying(
        Upload::known(&s, &repo("a"), &sha(&data), data.len() as u64, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    );
    assert!(matches!(r, Err(DriveError::GaveUp)), "{r:?}");
    let shape: Vec<(&str, usize)> = peer
        .sent
        .iter()
        .map(|r| (r.method.as_str(), r.body.len()))
        .collect();
    assert_eq!(
        shape,
        [
            ("POST", 0),
            ("PUT", data.len()),
            ("POST", 0),
            ("PATCH", data.len()),
            ("PUT", 0)
        ]
    );
    // A 503 on a PUT goes to the operation as it is.
    let mut peer = faulty(&reg, |sent, _| {
        (sent.method == "PUT").then(|| Reply::status(503))
    });
    let e = err(run_retrying(
        Upload::known(&s, &repo("a"), &sha(&data), data.len() as u64, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert!(matches!(&e, Error::UnexpectedStatus { status, .. } if status.as_u16() == 503));
    assert!(peer.waits.is_empty());
}

#[test]
fn a_chunk_lost_in_transport_is_resumed_from_what_the_registry_holds() {
    let reg = MemoryRegistry::new();
    let data: Vec<u8> = (0..40u8).collect();
    let mut s = session();
    let opts = UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Chunked,
        chunk_size: Some(10),
    };
    // The third PATCH never arrives.
    let mut peer = faulty(&reg, |sent, i| {
        (sent.method == "PATCH" && i == 2).then(Reply::transport_failure)
    });
    let out = run_retrying(
        Upload::known(&s, &repo("a"), &sha(&data), 40, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(out.output.digest, sha(&data));
    let shape: Vec<String> = peer
        .sent
        .iter()
        .map(|r| match r.header("content-range") {
            Some(range) => format!("{} {range}", r.method),
            None => r.method.clone(),
        })
        .collect();
    assert_eq!(
        shape,
        [
            "POST",
            "PATCH 0-9",
            "PATCH 10-19",
            "PATCH 20-29",
            "GET",
            "PATCH 20-29",
            "PATCH 30-39",
            "PUT"
        ]
    );
    let resent: usize = peer
        .sent
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.body.len())
        .sum::<usize>()
        - data.len();
    assert_eq!(resent, 10, "only the lost chunk is sent again");
    assert_eq!(
        reg.state.borrow().blobs[&("a".into(), sha(&data).to_string())],
        data
    );
}

#[test]
fn a_relayed_body_lost_in_transport_gives_up() {
    let reg = MemoryRegistry::new();
    let data = vec![7u8; 30];
    let mut s = session();
    let opts = UploadOptions {
        skip_if_exists: false,
        ..UploadOptions::default()
    };
    let mut peer = faulty(&reg, |sent, _| {
        (sent.method == "PATCH").then(Reply::transport_failure)
    });
    let r = run_retrying(
        Upload::sized_stream(&s, &repo("a"), 30, None, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    );
    assert!(matches!(r, Err(DriveError::GaveUp)), "{r:?}");
}

#[test]
fn an_ecr_style_403_for_an_expired_token_fetches_a_new_one_once() {
    let reg = MemoryRegistry::with_auth(MemoryAuth::Bearer);
    let d = stored(&reg, b"abc");
    let mut s = session();
    // A first call learns the realm and caches a token.
    run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    )
    .unwrap();
    let tokens_before = reg.state.borrow().token_requests.len();
    // The registry now says 403 to the cached token, once.
    let mut peer = faulty(&reg, |sent, i| {
        (sent.method == "HEAD" && i == 0).then(|| Reply::status(403))
    });
    let out = run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(out.output.size, 3);
    assert_eq!(reg.state.borrow().token_requests.len(), tokens_before + 1);
    // A 403 that stays: one new token, then the 403 is the answer.
    let mut peer = faulty(&reg, |sent, _| {
        (sent.method == "HEAD").then(|| Reply::status(403))
    });
    let r = run_retrying(
        HeadBlob::new(&s, &repo("a"), &d).unwrap(),
        &mut s,
        &mut peer,
        b"",
    );
    assert!(r.is_err());
    assert_eq!(peer.sent.iter().filter(|r| r.method == "HEAD").count(), 2);
}

#[test]
fn an_upload_whose_session_the_registry_dropped_starts_over_a_bounded_number_of_times() {
    let reg = MemoryRegistry::new();
    let data: Vec<u8> = (0..30u8).collect();
    let mut s = session();
    let opts = UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Chunked,
        chunk_size: Some(10),
    };
    // The second PATCH is cut; the registry then no longer knows the session (distribution
    // answers BLOB_UPLOAD_INVALID): a new session, from the start.
    let mut peer = faulty(&reg, |sent, i| match sent.method.as_str() {
        "PATCH" if i == 1 => Some(Reply::transport_failure()),
        "GET" if i == 0 => Some(Reply::status(404)),
        _ => None,
    });
    let out = run_retrying(
        Upload::known(&s, &repo("a"), &sha(&data), 30, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(out.output.digest, sha(&data));
    let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        ["POST", "PATCH", "PATCH", "GET", "POST", "PATCH", "PATCH", "PATCH", "PUT"]
    );
    assert_eq!(
        reg.state.borrow().blobs[&("a".into(), sha(&data).to_string())],
        data
    );

    // A registry that drops every session: bounded, then the 404 is the error.
    let mut peer = faulty(&reg, |sent, _| match sent.method.as_str() {
        "PATCH" => Some(Reply::transport_failure()),
        "GET" => Some(Reply::status(404)),
        _ => None,
    });
    let e = err(run_retrying(
        Upload::known(&s, &repo("a"), &sha(&data), 30, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let posts = peer.sent.iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 3, "the first session and two restarts");
}

#[test]
fn a_chunk_refused_with_404_after_a_resync_starts_the_upload_over() {
    let reg = MemoryRegistry::new();
    let data: Vec<u8> = (0..30u8).collect();
    let mut s = session();
    let opts = UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Chunked,
        chunk_size: Some(10),
    };
    // The registry still reports the session after the cut, then refuses the next chunk.
    let mut peer = faulty(&reg, |sent, i| match sent.method.as_str() {
        "PATCH" if i == 1 => Some(Reply::transport_failure()),
        "PATCH" if i == 2 => Some(Reply::status(404)),
        _ => None,
    });
    let out = run_retrying(
        Upload::known(&s, &repo("a"), &sha(&data), 30, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(out.output.digest, sha(&data));
    let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        ["POST", "PATCH", "PATCH", "GET", "PATCH", "POST", "PATCH", "PATCH", "PATCH", "PUT"]
    );
}

#[test]
fn an_upload_given_up_cancels_its_session_and_reports_the_original_error() {
    let reg = MemoryRegistry::new();
    let data: Vec<u8> = (0..30u8).collect();
    let opts = UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Chunked,
        chunk_size: Some(10),
    };
    // The DELETE's own answer (404, 401, 500, no answer at all) never hides the error.
    for cancel_reply in [
        Reply::status(202),
        Reply::status(404),
        Reply::status(401).header("www-authenticate", r#"Bearer realm="https://auth.test/t""#),
        Reply::status(500),
        Reply::transport_failure(),
    ] {
        let mut s = session();
        let cancel = cancel_reply.clone();
        let mut peer = faulty(&reg, move |sent, i| match sent.method.as_str() {
            "PATCH" if i == 1 => Some(Reply::status(400)),
            "DELETE" => Some(cancel.clone()),
            _ => None,
        });
        let e = err(run_retrying(
            Upload::known(&s, &repo("a"), &sha(&data), 30, &opts).unwrap(),
            &mut s,
            &mut peer,
            &data,
        ));
        assert!(
            matches!(&e, Error::UnexpectedStatus { status, .. } if status.as_u16() == 400),
            "{cancel_reply:?}: {e:?}"
        );
        let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(
            methods,
            ["POST", "PATCH", "PATCH", "DELETE"],
            "{cancel_reply:?}"
        );
        // The session the registry last named, without credentials games.
        assert_eq!(peer.sent[3].uri, peer.sent[2].uri, "{cancel_reply:?}");
    }

    // A stream that does not hash to what was expected: cancelled, never committed.
    let mut s = session();
    let mut peer = reg.peer();
    let e = err(run_retrying(
        Upload::stream(&s, &repo("a"), Some(&sha(b"other")), &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e:?}");
    assert_eq!(peer.sent.last().unwrap().method, "DELETE");
    assert!(peer.sent.iter().all(|r| r.method != "PUT"));

    // No session yet (the POST failed): nothing to cancel.
    let mut s = session();
    let mut peer = faulty(&reg, |sent, _| {
        (sent.method == "POST").then(|| Reply::status(403))
    });
    let _ = err(run_retrying(
        Upload::known(&s, &repo("a"), &sha(&data), 30, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    ));
    assert!(peer.sent.iter().all(|r| r.method != "DELETE"));
}

mod resumed_downloads {
    use super::*;
    use crate::{GetBlob, ProtocolViolation};

    fn resume(
        offset: u64,
        total: Option<u64>,
        reply: Reply,
    ) -> (Result<Driven<crate::Download>, DriveError>, Vec<Sent>) {
        let data = b"0123456789";
        let d = sha(data);
        let mut s = session();
        let mut peer = ScriptedRegistry::new(move |_| reply.clone());
        let op = GetBlob::resume(&s, &repo("a"), &d, offset, total).unwrap();
        let r = run_retrying(op, &mut s, &mut peer, b"");
        (r, peer.sent)
    }

    #[test]
    fn a_resume_asks_for_the_rest_and_takes_a_matching_206() {
        let (r, sent) = resume(
            4,
            Some(10),
            Reply::status(206)
                .header("content-range", "bytes 4-9/10")
                .header("content-length", "6")
                .body("456789"),
        );
        assert_eq!(sent[0].header("range"), Some("bytes=4-"));
        let out = r.unwrap();
        assert_eq!(out.output.offset, 4);
        assert_eq!(out.output.len, Some(6));
        assert_eq!(out.delivered.as_deref(), Some(&b"456789"[..]));
    }

    #[test]
    fn a_200_to_a_resume_is_the_whole_blob_from_offset_0() {
        let (r, _) = resume(4, None, Reply::status(200).body("0123456789"));
        let out = r.unwrap();
        assert_eq!(out.output.offset, 0);
    }

    #[test]
    fn a_206_that_is_not_the_rest_of_the_blob_is_refused() {
        for (range, len, what) in [
            (None, None, "no Content-Range"),
            (Some("bytes 3-9/10"), None, "starts elsewhere"),
            (Some("bytes 4-8/10"), None, "stops short"),
            (
                Some("bytes 4-9/10"),
                Some("5"),
                "disagrees with Content-Length",
            ),
            (
                Some("bytes 4-9/*"),
                Some("7"),
                "disagrees with Content-Length",
            ),
            (Some("items 4-9/10"), None, "not bytes"),
        ] {
            let mut reply = Reply::status(206);
            if let Some(r) = range {
                reply = reply.header("content-range", r);
            }
            if let Some(l) = len {
                reply = reply.header("content-length", l);
            }
            let (r, _) = resume(4, Some(10), reply);
            let e = err(r);
            assert!(
                matches!(e, Error::Protocol(ProtocolViolation::BadContentRange(_))),
                "{what}: {e:?}"
            );
        }
        // The blob's length as the 206 gives it must be the one known.
        let (r, _) = resume(
            4,
            Some(10),
            Reply::status(206).header("content-range", "bytes 4-11/12"),
        );
        assert_eq!(
            err(r),
            Error::LengthMismatch {
                expected: 10,
                actual: 12
            }
        );
    }

    #[test]
    fn a_206_to_a_plain_get_is_an_unexpected_status() {
        let d = sha(b"0123456789");
        let mut s = session();
        let mut peer =
            ScriptedRegistry::new(|_| Reply::status(206).header("content-range", "bytes 0-9/10"));
        let op = GetBlob::new(&s, &repo("a"), &d, None).unwrap();
        let e = err(run_retrying(op, &mut s, &mut peer, b""));
        assert!(matches!(e, Error::UnexpectedStatus { .. }), "{e:?}");
        assert!(peer.sent[0].header("range").is_none());
    }
}

mod learned_limits {
    use super::*;

    fn chunked(size: u64) -> UploadOptions {
        UploadOptions {
            skip_if_exists: false,
            mode: UploadMode::Chunked,
            chunk_size: Some(size),
        }
    }

    /// A registry (the memory model) that refuses `PATCH` bodies over `limit` with `status`
    /// (GHCR: 416 over 4 MiB; proxies: 413), keeping nothing of them.
    fn capped(reg: &MemoryRegistry, limit: usize, status: u16) -> ScriptedRegistry {
        faulty(reg, move |sent, _| {
            (sent.method == "PATCH" && sent.body.len() > limit).then(|| Reply::status(status))
        })
    }

    fn patch_sizes(peer: &ScriptedRegistry) -> Vec<usize> {
        peer.sent
            .iter()
            .filter(|r| r.method == "PATCH")
            .map(|r| r.body.len())
            .collect()
    }

    #[test]
    fn a_chunk_refused_as_too_large_is_halved_and_the_session_remembers() {
        for status in [416, 413] {
            let reg = MemoryRegistry::new();
            let data: Vec<u8> = (0..40u8).collect();
            let mut s = session();
            let mut peer = capped(&reg, 4, status);
            let out = run_retrying(
                Upload::known(&s, &repo("a"), &sha(&data), 40, &chunked(10)).unwrap(),
                &mut s,
                &mut peer,
                &data,
            )
            .unwrap();
            assert_eq!(out.output.digest, sha(&data), "{status}");
            let sizes = patch_sizes(&peer);
            assert_eq!(sizes[..3], [10, 5, 2], "{status}: halved until accepted");
            assert!(sizes[3..].iter().all(|&n| n <= 2), "{status}: {sizes:?}");
            assert_eq!(s.upload_hints().max_chunk, Some(2), "{status}");
            assert_eq!(
                reg.state.borrow().blobs[&("a".into(), sha(&data).to_string())],
                data
            );
            // The next upload in this session starts at the learned size.
            let more: Vec<u8> = (100..110u8).collect();
            let mut peer = capped(&reg, 4, status);
            run_retrying(
                Upload::known(&s, &repo("a"), &sha(&more), 10, &chunked(10)).unwrap(),
                &mut s,
                &mut peer,
                &more,
            )
            .unwrap();
            assert_eq!(patch_sizes(&peer), [2, 2, 2, 2, 2], "{status}");
        }
    }

    #[test]
    fn an_out_of_order_416_resynchronises_without_shrinking() {
        let reg = MemoryRegistry::new();
        let data: Vec<u8> = (0..30u8).collect();
        let mut s = session();
        // The second PATCH is answered 416 although the registry kept it (it lost count).
        let inner = reg.clone();
        let mut peer = ScriptedRegistry::new(move |sent| {
            let reply = inner.answer(sent);
            if sent.method == "PATCH" && sent.header("content-range") == Some("10-19") {
                return Reply::status(416);
            }
            reply
        });
        run_retrying(
            Upload::known(&s, &repo("a"), &sha(&data), 30, &chunked(10)).unwrap(),
            &mut s,
            &mut peer,
            &data,
        )
        .unwrap();
        assert_eq!(patch_sizes(&peer), [10, 10, 10]);
        assert_eq!(s.upload_hints().max_chunk, None);
    }

    #[test]
    fn a_registry_without_chunked_uploads_gets_monolithic_ones() {
        let reg = MemoryRegistry::new();
        let data: Vec<u8> = (0..30u8).collect();
        let mut s = session();
        let mut peer = faulty(&reg, |sent, _| {
            (sent.method == "PATCH").then(|| Reply::status(405))
        });
        let out = run_retrying(
            Upload::known(&s, &repo("a"), &sha(&data), 30, &chunked(10)).unwrap(),
            &mut s,
            &mut peer,
            &data,
        )
        .unwrap();
        assert_eq!(out.output.digest, sha(&data));
        let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, ["POST", "PATCH", "PUT"]);
        assert_eq!(peer.sent[2].body, data, "the whole blob in the closing PUT");
        assert!(s.upload_hints().monolithic_only);
        // From now on, no PATCH is tried for known sources.
        let more: Vec<u8> = (50..60u8).collect();
        let mut peer = faulty(&reg, |_, _| None);
        run_retrying(
            Upload::known(&s, &repo("a"), &sha(&more), 10, &chunked(4)).unwrap(),
            &mut s,
            &mut peer,
            &more,
        )
        .unwrap();
        let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, ["POST", "PUT"]);
    }
}

mod checkpoints {
    use super::*;
    use crate::{Recovery, Step, UploadCheckpoint};

    fn chunked(size: u64, skip: bool) -> UploadOptions {
        UploadOptions {
            skip_if_exists: skip,
            mode: UploadMode::Chunked,
            chunk_size: Some(size),
        }
    }

    /// Runs an upload until its `n`-th PATCH, which never gets an answer (the process
    /// "dies" there), and returns the checkpoint it had reached.
    fn crash_at_patch(reg: &MemoryRegistry, data: &[u8], n: usize) -> UploadCheckpoint {
        let mut s = with_policy(RetryPolicy::never());
        let op = Upload::known(
            &s,
            &repo("a"),
            &sha(data),
            data.len() as u64,
            &chunked(10, false),
        )
        .unwrap();
        let mut op = Authed::new(&s, Retrying::new(&s, op));
        let mut patches = 0;
        loop {
            let Ok(Step::Send(req)) = op.poll(NOW) else {
                panic!("the upload should still be sending")
            };
            if req.method() == http::Method::PATCH {
                patches += 1;
                if patches == n {
                    assert_eq!(op.handle_send_failure(NOW), Recovery::GiveUp);
                    return op.inner().inner().checkpoint().unwrap();
                }
            }
            let mut peer = reg.peer();
            let r = drive(
                &mut StepOnce::new(&mut op, req),
                &mut peer,
                &mut s,
                NOW,
                data,
            );
            assert!(r.is_ok(), "{r:?}");
        }
    }

    /// Feeds one already-polled request through `drive`'s machinery: answers it and stops.
    struct StepOnce<'a, O> {
        op: &'a mut O,
        req: Option<crate::Request>,
    }

    impl<'a, O> StepOnce<'a, O> {
        fn new(op: &'a mut O, req: crate::Request) -> Self {
            StepOnce { op, req: Some(req) }
        }
    }

    impl<O: Operation> Operation for StepOnce<'_, O> {
        type Output = ();
        fn poll(&mut self, _now: UnixTime) -> Result<Step<()>, crate::Error> {
            Ok(match self.req.take() {
                Some(r) => Step::Send(r),
                None => Step::Done(()),
            })
        }
        fn handle_response(
            &mut self,
            head: http::Response<()>,
            now: UnixTime,
        ) -> Result<crate::BodyPlan, crate::Error> {
            self.op.handle_response(head, now)
        }
        fn handle_body(&mut self, chunk: &[u8]) -> Result<(), crate::Error> {
            self.op.handle_body(chunk)
        }
        fn handle_body_end(&mut self) -> Result<(), crate::Error> {
            self.op.handle_body_end()
        }
        fn handle_source(&mut self, data: &[u8]) -> Result<(), crate::Error> {
            self.op.handle_source(data)
        }
        fn handle_send_failure(&mut self, now: UnixTime) -> Recovery {
            self.op.handle_send_failure(now)
        }
        fn poll_session_event(&mut self) -> Option<crate::SessionEvent> {
            self.op.poll_session_event()
        }
        fn cancel(&mut self) {
            self.op.cancel()
        }
    }

    #[test]
    fn a_crashed_upload_is_continued_from_its_checkpoint_without_resending() {
        let reg = MemoryRegistry::new();
        let data: Vec<u8> = (0..50u8).collect();
        let cp = crash_at_patch(&reg, &data, 3);
        assert_eq!(cp.offset, 20, "two chunks acknowledged");
        assert!(cp.location.contains("/blobs/uploads/"), "{cp:?}");

        let mut s = session();
        let mut peer = reg.peer();
        let op = Upload::resume(&s, &repo("a"), &sha(&data), 50, &cp, &chunked(10, true)).unwrap();
        let out = run_retrying(op, &mut s, &mut peer, &data).unwrap();
        assert_eq!(out.output.digest, sha(&data));
        let shape: Vec<String> = peer
            .sent
            .iter()
            .map(|r| format!("{} {}", r.method, r.header("content-range").unwrap_or("")))
            .collect();
        assert_eq!(
            shape,
            [
                "HEAD ",
                "GET ",
                "PATCH 20-29",
                "PATCH 30-39",
                "PATCH 40-49",
                "PUT "
            ],
            "asks, then sends only what the registry lacks"
        );
        assert_eq!(
            reg.state.borrow().blobs[&("a".into(), sha(&data).to_string())],
            data
        );
    }

    #[test]
    fn a_checkpoint_the_registry_forgot_starts_over_and_a_finished_one_is_skipped() {
        let reg = MemoryRegistry::new();
        let data: Vec<u8> = (0..30u8).collect();
        let gone = UploadCheckpoint {
            location: "https://reg.test/v2/a/blobs/uploads/no-such-session".into(),
            offset: 20,
        };
        let mut s = session();
        let mut peer = reg.peer();
        let op =
            Upload::resume(&s, &repo("a"), &sha(&data), 30, &gone, &chunked(10, false)).unwrap();
        run_retrying(op, &mut s, &mut peer, &data).unwrap();
        let methods: Vec<&str> = peer.sent.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, ["GET", "POST", "PATCH", "PATCH", "PATCH", "PUT"]);
        // Now the blob is there: a resume with skip-if-exists only asks.
        let mut peer = reg.peer();
        let op =
            Upload::resume(&s, &repo("a"), &sha(&data), 30, &gone, &chunked(10, true)).unwrap();
        let out = run_retrying(op, &mut s, &mut peer, &data).unwrap();
        assert!(out.output.skipped);
        assert_eq!(peer.sent.len(), 1);
    }

    #[test]
    fn checkpoints_follow_the_newest_location_and_the_acknowledged_offset() {
        let reg = MemoryRegistry::new();
        let data: Vec<u8> = (0..30u8).collect();
        let s = session();
        let op = Upload::known(&s, &repo("a"), &sha(&data), 30, &chunked(10, false)).unwrap();
        assert_eq!(op.checkpoint(), None, "no session yet");
        let mono =
            Upload::known(&s, &repo("a"), &sha(&data), 30, &UploadOptions::default()).unwrap();
        assert_eq!(mono.checkpoint(), None, "a monolithic upload has none");
        let cp = crash_at_patch(&reg, &data, 2);
        assert_eq!(cp.offset, 10);
        assert!(
            cp.location.ends_with("_state=p10") || cp.location.contains("p10"),
            "{cp:?}"
        );
    }
}
