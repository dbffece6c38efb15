//! Cancellation ([`Operation::cancel`]): the caller gives an operation up between steps or
//! with a request in flight; an upload cancels its registry session (best effort), every
//! operation then ends with [`Error::Cancelled`], and an ended operation is unaffected.

use super::*;
use crate::testing::{MemoryAuth, MemoryRegistry, Reply};
use crate::{
    BodyPlan, Error, GetBlob, Recovery, RetryPolicy, Retrying, SessionEvent, Step, Upload,
    UploadMode, UploadOptions,
};

/// When a [`Canceller`] gives its operation up.
#[derive(Clone, Copy, Debug)]
enum When {
    /// Before the poll that follows the `n`th response.
    AfterResponses(usize),
    /// Instead of recovering from a lost request (the driver abandoned it).
    OnSendFailure,
}

/// Drives `inner` like an adapter that cancels it at `when`.
struct Canceller<O> {
    inner: O,
    when: When,
    responses: usize,
    cancelled: bool,
}

impl<O: Operation> Operation for Canceller<O> {
    type Output = O::Output;
    fn poll(&mut self, now: UnixTime) -> Result<Step<O::Output>, Error> {
        if let When::AfterResponses(n) = self.when {
            if self.responses >= n && !self.cancelled {
                self.cancelled = true;
                self.inner.cancel();
            }
        }
        self.inner.poll(now)
    }
    fn handle_response(
        &mut self,
        head: http::Response<()>,
        now: UnixTime,
    ) -> Result<BodyPlan, Error> {
        self.responses += 1;
        self.inner.handle_response(head, now)
    }
    fn handle_body(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.inner.handle_body(chunk)
    }
    fn handle_body_end(&mut self) -> Result<(), Error> {
        self.inner.handle_body_end()
    }
    fn handle_send_failure(&mut self, now: UnixTime) -> Recovery {
        if matches!(self.when, When::OnSendFailure) && !self.cancelled {
            self.cancelled = true;
            self.inner.cancel();
            return Recovery::Retry;
        }
        self.inner.handle_send_failure(now)
    }
    fn handle_source(&mut self, data: &[u8]) -> Result<(), Error> {
        self.inner.handle_source(data)
    }
    fn poll_session_event(&mut self) -> Option<SessionEvent> {
        self.inner.poll_session_event()
    }
    fn cancel(&mut self) {
        self.inner.cancel()
    }
}

/// Runs `op` as the adapters do (`Authed<Retrying<O>>`), cancelled at `when`.
fn run_cancelled<O: Operation + Scoped>(
    op: O,
    when: When,
    session: &mut Session,
    peer: &mut ScriptedRegistry,
    source: &[u8],
) -> Result<Driven<O::Output>, DriveError> {
    let inner = Authed::new(session, Retrying::new(session, op));
    let mut op = Canceller {
        inner,
        when,
        responses: 0,
        cancelled: false,
    };
    drive(&mut op, peer, session, NOW, source)
}

fn chunked() -> UploadOptions {
    UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Chunked,
        chunk_size: Some(10),
    }
}

fn methods(peer: &ScriptedRegistry) -> Vec<&str> {
    peer.sent.iter().map(|r| r.method.as_str()).collect()
}

#[test]
fn an_upload_cancelled_between_chunks_deletes_its_session() {
    let reg = MemoryRegistry::new();
    let data: Vec<u8> = (0..30u8).collect();
    let mut s = session();
    let mut peer = reg.peer();
    let e = err(run_cancelled(
        Upload::known(&s, &repo("a"), &sha(&data), 30, &chunked()).unwrap(),
        When::AfterResponses(2),
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(e, Error::Cancelled);
    assert_eq!(methods(&peer), ["POST", "PATCH", "DELETE"]);
    // The session the registry last named (the PATCH's answer moved it on).
    assert!(
        peer.sent[2].uri.ends_with("_state=p10"),
        "{}",
        peer.sent[2].uri
    );
    assert!(reg.state.borrow().blobs.is_empty());
    assert!(reg.state.borrow().uploads.is_empty(), "session left open");
}

#[test]
fn an_upload_whose_chunk_is_abandoned_in_flight_deletes_its_session_without_a_resync() {
    let reg = MemoryRegistry::new();
    let data: Vec<u8> = (0..30u8).collect();
    let mut s = session();
    let r = reg.clone();
    let mut patches = 0;
    let mut peer = ScriptedRegistry::new(move |sent| {
        if sent.method == "PATCH" {
            patches += 1;
            if patches == 2 {
                return Reply::transport_failure();
            }
        }
        r.answer(sent)
    });
    let e = err(run_cancelled(
        Upload::known(&s, &repo("a"), &sha(&data), 30, &chunked()).unwrap(),
        When::OnSendFailure,
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(e, Error::Cancelled);
    assert_eq!(methods(&peer), ["POST", "PATCH", "PATCH", "DELETE"]);
    assert!(reg.state.borrow().uploads.is_empty(), "session left open");
}

#[test]
fn the_cancelling_delete_is_authenticated_like_any_request() {
    let reg = MemoryRegistry::with_auth(MemoryAuth::Bearer);
    let data: Vec<u8> = (0..30u8).collect();
    let mut s = session();
    let mut peer = reg.peer();
    let e = err(run_cancelled(
        Upload::known(&s, &repo("a"), &sha(&data), 30, &chunked()).unwrap(),
        // 401, token, POST, PATCH: cancelled before the second PATCH.
        When::AfterResponses(4),
        &mut s,
        &mut peer,
        &data,
    ));
    assert_eq!(e, Error::Cancelled);
    let last = peer.sent.last().unwrap();
    assert_eq!(last.method, "DELETE");
    assert!(last
        .header("authorization")
        .is_some_and(|v| v.starts_with("Bearer ")));
    assert!(reg.state.borrow().uploads.is_empty(), "session left open");
}

#[test]
fn a_download_or_a_retry_wait_cancelled_sends_nothing_more() {
    let reg = MemoryRegistry::new();
    let d = {
        let d = sha(b"hello");
        reg.state
            .borrow_mut()
            .blobs
            .insert(("a".into(), d.to_string()), b"hello".to_vec());
        d
    };
    // Waiting to retry a 503: cancelled, no resend.
    let mut s = session().with_limits(crate::Limits {
        retry: RetryPolicy::default(),
        ..crate::Limits::default()
    });
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(503)]);
    let e = err(run_cancelled(
        GetBlob::new(&s, &repo("a"), &d, None).unwrap(),
        When::AfterResponses(1),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(e, Error::Cancelled);
    assert_eq!(peer.sent.len(), 1);
    assert!(peer.waits.is_empty());

    // Before anything was sent.
    let mut s = session();
    let mut peer = reg.peer();
    let e = err(run_cancelled(
        GetBlob::new(&s, &repo("a"), &d, None).unwrap(),
        When::AfterResponses(0),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(e, Error::Cancelled);
    assert!(peer.sent.is_empty());
}

#[test]
fn an_operation_that_ended_is_not_affected() {
    let reg = MemoryRegistry::new();
    let data = b"0123456789".to_vec();
    let mut s = session();
    let mut peer = reg.peer();
    let monolithic = UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Monolithic,
        chunk_size: None,
    };
    // POST, PUT: the upload is done once the PUT's 201 is handled.
    let done = run_cancelled(
        Upload::known(&s, &repo("a"), &sha(&data), 10, &monolithic).unwrap(),
        When::AfterResponses(2),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(done.output.digest, sha(&data));
    assert_eq!(methods(&peer), ["POST", "PUT"]);
}

/// Found by fuzzing: an upload already failing, whose cleanup `DELETE` is abandoned in
/// flight by a cancel, ends with the error it was failing with (it used to report a misuse
/// on the next poll).
#[test]
fn a_cleanup_abandoned_in_flight_ends_with_the_original_error() {
    let reg = MemoryRegistry::new();
    let data: Vec<u8> = (0..30u8).collect();
    let mut s = session();
    let r = reg.clone();
    let mut patches = 0;
    let mut peer = ScriptedRegistry::new(move |sent| match sent.method.as_str() {
        "PATCH" => {
            patches += 1;
            if patches == 2 {
                Reply::status(400)
            } else {
                r.answer(sent)
            }
        }
        "DELETE" => Reply::transport_failure(),
        _ => r.answer(sent),
    });
    let e = err(run_cancelled(
        Upload::known(&s, &repo("a"), &sha(&data), 30, &chunked()).unwrap(),
        When::OnSendFailure,
        &mut s,
        &mut peer,
        &data,
    ));
    assert!(
        matches!(&e, Error::UnexpectedStatus { status, .. } if status.as_u16() == 400),
        "{e:?}"
    );
    assert_eq!(methods(&peer), ["POST", "PATCH", "PATCH", "DELETE"]);
}
