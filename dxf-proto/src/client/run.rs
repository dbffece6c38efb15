//! [`Run`]: one operation run by a driver, with the bookkeeping every driver needs and no
//! IO — the wrappers made for it ([`Session::start`](crate::Session::start)), the shared session kept up to date
//! after every step, the interrupt obeyed (cancel once, stop at a checkpoint), a failed
//! upload source reported after the operation's cleanup (never as the registry's network
//! failing), the time bounds of each request and body, the progress callback and the
//! checkpoint observer. A driver asks [`Run::next`] what to do, does it with its HTTP
//! stack, and reports back; the decisions are all here, written once for dxf-ureq and
//! dxf-hyper.

use std::time::Duration;

use http::Response;

use crate::interrupt::RunInterrupt;
use crate::{
    Authed, BodyBounds, BodyPlan, BodyWatch, Bounds, Interrupt, Operation, Recovery, Request,
    Retrying, RunWatch, Scoped, Stall, Step, Timeouts, UnixTime,
};

use super::trace::{redact_url, shown_headers, TraceEvent};
use super::{Error, SharedSession};

/// Called with the number of body bytes just taken from the caller's source.
pub type SentFn<'a> = &'a mut (dyn FnMut(u64) + Send);

/// Called after every response the operation handled (to read its state); returns whether
/// the operation is at a new checkpoint, where an [`Interrupt::stop`] may end the run.
pub type ObserveFn<'a, O> = &'a mut (dyn FnMut(&O) -> bool + Send);

/// What the driver does next.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // as `Step`: moved once, not worth a box
pub enum Next<T> {
    /// The operation is over.
    Done(T),
    /// Wait this long (a retry's back-off), or until [`Run::abandon_now`].
    Wait(Duration),
    /// Read at most `max` bytes from the stream source and give them to
    /// [`Run::source_read`] (an empty piece is its end), or its error to
    /// [`Run::source_failed`].
    ReadSource {
        /// The most bytes wanted.
        max: usize,
    },
    /// Send `request` within `bounds`. Its body pieces taken from the caller's source go
    /// to [`Run::sent`] ([`Body::Source`](crate::Body::Source)) or [`Run::relay`]
    /// ([`Body::Stream`](crate::Body::Stream), [`Body::StreamToEnd`](crate::Body::StreamToEnd):
    /// the end too, as an empty piece).
    Send {
        /// The request.
        request: Request,
        /// Its time bounds.
        bounds: Bounds,
        /// A token request: the scope's key. A driver running operations concurrently
        /// holds a lock for it while this request and its response go, and first asks
        /// [`Run::adopt_token`] whether another operation fetched the token meanwhile
        /// (then the request is not sent).
        token_scope: Option<String>,
    },
}

/// Why a request got no response.
#[derive(Debug)]
pub enum SendFailure {
    /// The operation refused a piece of the relayed body ([`Run::relay`]): it cleans up
    /// and reports why.
    Refused,
    /// Ours, final: the caller's source could not be read (or the driver could not send
    /// what was asked). Nothing is retried; the operation cleans up, then this is the
    /// run's error.
    Local(Error),
    /// The transport's (connection, TLS, timeout, an interrupt): the operation decides
    /// whether to try again; this is the run's error if it does not.
    Transport(Error),
}

/// One operation being run by a driver, which loops:
///
/// ```text
/// loop match run.next(now)? {
///     Next::Done(out)             => return out
///     Next::Wait(d)               => sleep d (or until run.abandon_now())
///     Next::ReadSource { max }    => run.source_read(bytes) / run.source_failed(e)
///     Next::Send { request, .. }  => send it; body pieces: run.relay / run.sent
///         no response             => run.send_failed(failure, now)?
///         response                => plan = run.response(head, elapsed, now)?
///             Feed                => run.body_data(chunk, elapsed) …, run.body_end(read)?
///         then                       run.responded()?
/// }
/// ```
pub struct Run<'a, O: Operation + Scoped, L> {
    op: Authed<Retrying<O>>,
    shared: &'a SharedSession<L>,
    timeouts: Timeouts,
    interrupt: RunInterrupt,
    /// The source could not be read: reported once the operation has cleaned up.
    failed_locally: Option<Error>,
    sent: Option<SentFn<'a>>,
    observe: Option<ObserveFn<'a, O>>,
    /// The request in flight: its host (for errors), and once answered its body's plan,
    /// bounds and watch.
    host: String,
    bounds: Bounds,
    plan: BodyPlan,
    body_bounds: BodyBounds,
    body_watch: Option<BodyWatch>,
    /// The response just handled ended in a cancel: nothing to observe.
    cancelled_now: bool,
    /// Body bytes of the response being read, and when the last arrived (for the trace).
    body_bytes: u64,
    body_elapsed: Duration,
}

impl<'a, O: Operation + Scoped, L: Default> Run<'a, O, L> {
    /// Starts `op` on a snapshot of `shared`, obeying `interrupt`.
    pub fn new(shared: &'a SharedSession<L>, interrupt: &Interrupt, op: O) -> Run<'a, O, L> {
        let session = shared.snapshot();
        Run {
            timeouts: session.limits().timeouts,
            op: session.start(op),
            shared,
            interrupt: RunInterrupt::new(interrupt, false),
            failed_locally: None,
            sent: None,
            observe: None,
            host: String::new(),
            bounds: session
                .limits()
                .timeouts
                .for_request(&Request::new(crate::Body::Empty)),
            plan: BodyPlan::Discard,
            body_bounds: session.limits().timeouts.for_body(BodyPlan::Discard),
            body_watch: None,
            cancelled_now: false,
            body_bytes: 0,
            body_elapsed: Duration::ZERO,
        }
    }

    /// Reports every body byte taken from the caller's source to `sent`.
    pub fn with_progress(mut self, sent: Option<SentFn<'a>>) -> Self {
        self.sent = sent;
        self
    }

    /// Calls `observe` after every response; a run with an observer keeps checkpoints, so
    /// an [`Interrupt::stop`] ends it at the next one with [`Error::Stopped`] instead of
    /// cancelling it.
    pub fn with_observer(mut self, observe: Option<ObserveFn<'a, O>>) -> Self {
        self.interrupt = self.interrupt.keeping_checkpoints(observe.is_some());
        self.observe = observe;
        self
    }

    /// What the run's blocked waits obey (for the transport under the driver).
    pub fn watch(&self) -> &RunWatch {
        self.interrupt.watch()
    }

    /// Whether what the driver is doing (a wait, a body) must be abandoned now.
    pub fn abandon_now(&self) -> bool {
        self.interrupt.watch().abandon_now()
    }

    /// What to do next.
    pub fn next(&mut self, now: UnixTime) -> Result<Next<O::Output>, Error> {
        self.cancel_if_asked();
        let step = self.op.poll(now);
        self.shared.learn(&mut self.op);
        let step = match step {
            Ok(step) => step,
            Err(e) => return Err(self.failed_locally.take().unwrap_or_else(|| e.into())),
        };
        Ok(match step {
            Step::Done(out) => Next::Done(out),
            Step::Wait(d) => {
                self.shared.emit(|| TraceEvent::Wait(d));
                Next::Wait(d)
            }
            Step::NeedSource { max } => Next::ReadSource { max },
            Step::Send(request) => {
                self.host = request
                    .uri()
                    .authority()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                self.bounds = self.timeouts.for_request(&request);
                let token_scope = self.op.token_request_scope();
                self.shared.emit(|| TraceEvent::Request {
                    method: request.method().to_string(),
                    url: redact_url(&request.uri().to_string()),
                    headers: shown_headers(request.headers()),
                    body: match request.body() {
                        crate::Body::Empty | crate::Body::StreamToEnd => None,
                        crate::Body::Bytes(b) => Some(b.len() as u64),
                        crate::Body::Source(range) => Some(range.len),
                        crate::Body::Stream { len } => Some(*len),
                    },
                    token: token_scope.is_some(),
                });
                Next::Send {
                    bounds: self.bounds,
                    token_scope,
                    request,
                }
            }
        })
    }

    /// Before a token request goes out (holding the scope's lock): whether the session
    /// meanwhile holds the token, fetched by another operation — then the request is not
    /// sent, and the run goes on with [`next`](Self::next).
    pub fn adopt_token(&mut self, now: UnixTime) -> bool {
        let adopted = self.op.adopt_session_token(&self.shared.snapshot(), now);
        if adopted {
            self.shared.emit(|| TraceEvent::TokenShared);
        }
        adopted
    }

    /// The time bounds of the request in flight.
    pub fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// `host[:port]` of the request in flight, for the driver's errors.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The caller's stream source gave `data` ([`Next::ReadSource`]; empty at its end).
    pub fn source_read(&mut self, data: &[u8]) -> Result<(), Error> {
        self.report_sent(data.len());
        let r = self.op.handle_source(data);
        self.shared.learn(&mut self.op);
        Ok(r?)
    }

    /// The caller's source failed (its error as the run should report it): the operation
    /// cleans up (an upload's session is deleted), then this is the run's error.
    pub fn source_failed(&mut self, e: Error) {
        self.op.cancel();
        self.failed_locally = Some(e);
    }

    /// `data` of a relayed body is about to go out (empty: the source ended). An error
    /// means the operation refused it: abandon the request and report
    /// [`SendFailure::Refused`].
    pub fn relay(&mut self, data: &[u8]) -> Result<(), crate::Error> {
        self.op.handle_source(data)?;
        self.report_sent(data.len());
        Ok(())
    }

    /// `n` bytes of a [`Body::Source`](crate::Body::Source) range went out.
    pub fn sent(&mut self, n: usize) {
        self.report_sent(n);
    }

    fn report_sent(&mut self, n: usize) {
        if let Some(sent) = self.sent.as_mut() {
            sent(n as u64);
        }
    }

    /// The request got no response: whether the run goes on (a retry, a cleanup) or
    /// ends, with which error.
    pub fn send_failed(&mut self, failure: SendFailure, now: UnixTime) -> Result<(), Error> {
        if let SendFailure::Local(e) | SendFailure::Transport(e) = &failure {
            self.shared.emit(|| TraceEvent::NoResponse {
                error: e.to_string(),
            });
        }
        // Abandoned for an interrupt: the operation cleans up and ends.
        if self.cancel_if_asked() {
            return Ok(());
        }
        match failure {
            // Abandoned: the operation's cleanup, then its error, come next.
            SendFailure::Refused => Ok(()),
            SendFailure::Local(e) => {
                self.source_failed(e);
                Ok(())
            }
            // A resumable upload blocked past the grace of a stop: it ends at its last
            // checkpoint (the registry is asked what it holds next time).
            SendFailure::Transport(_) if self.stops_here() => Err(Error::Stopped),
            SendFailure::Transport(e) => match self.op.handle_send_failure(now) {
                Recovery::Retry => Ok(()),
                Recovery::GiveUp => Err(e),
            },
        }
    }

    /// The response's head arrived `elapsed` after the request was sent: what to do with
    /// its body (see [`body_bounds`](Self::body_bounds) for its time bounds).
    pub fn response(
        &mut self,
        head: Response<()>,
        elapsed: Duration,
        now: UnixTime,
    ) -> Result<BodyPlan, Error> {
        self.cancelled_now = false;
        self.shared.emit(|| TraceEvent::Response {
            status: head.status().as_u16(),
            headers: shown_headers(head.headers()),
            elapsed,
        });
        (self.body_bytes, self.body_elapsed) = (0, elapsed);
        let plan = self.op.handle_response(head, now);
        self.shared.learn(&mut self.op);
        let plan = plan?;
        self.plan = plan;
        self.body_bounds = self.timeouts.for_body(plan);
        self.body_watch = Some(BodyWatch::new(&self.body_bounds, Duration::ZERO, elapsed));
        Ok(plan)
    }

    /// The time bounds of the body of the response just handled.
    pub fn body_bounds(&self) -> &BodyBounds {
        &self.body_bounds
    }

    /// While waiting for the body at `elapsed` since the request was sent: how long the
    /// next wait may last, and the stall to report if it runs out.
    pub fn body_wait(&self, elapsed: Duration) -> (Option<Duration>, Stall) {
        let idle = self.body_bounds.idle;
        let left = self.body_watch.as_ref().and_then(|w| w.time_left(elapsed));
        let limit = match (idle, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let at = elapsed + limit.unwrap_or_default();
        let stall = match &self.body_watch {
            Some(w) => w.stall_at(at, idle),
            None => Stall::Idle(idle.unwrap_or_default()),
        };
        (limit, stall)
    }

    /// `data` of the body arrived `elapsed` after the request was sent: checked against
    /// the body's bounds, and given to the operation when it [feeds](BodyPlan::Feed) on it.
    pub fn body_data(&mut self, data: &[u8], elapsed: Duration) -> Result<(), Error> {
        self.body_bytes += data.len() as u64;
        self.body_elapsed = elapsed;
        if let Some(watch) = self.body_watch.as_mut() {
            watch
                .on_bytes(data.len(), elapsed)
                .map_err(|stall| self.timed_out(stall))?;
        }
        if let BodyPlan::Feed { .. } = self.plan {
            let r = self.op.handle_body(data);
            self.shared.learn(&mut self.op);
            r?;
        }
        Ok(())
    }

    /// The run's error for a wait that ran out.
    pub fn timed_out(&self, stall: Stall) -> Error {
        Error::TimedOut {
            host: self.host.clone(),
            stall,
        }
    }

    /// A fed body ended (`Ok`), or could not be read to its end (the error).
    pub fn body_end(&mut self, read: Result<(), Error>) -> Result<(), Error> {
        if self.cancel_if_asked() {
            self.cancelled_now = true;
            return Ok(());
        }
        if read.is_err() && self.stops_here() {
            return Err(Error::Stopped);
        }
        read?;
        let (bytes, elapsed) = (self.body_bytes, self.body_elapsed);
        self.shared.emit(|| TraceEvent::Body { bytes, elapsed });
        let r = self.op.handle_body_end();
        self.shared.learn(&mut self.op);
        Ok(r?)
    }

    /// The response was handled (its body read, dropped or delivered): the observer's
    /// turn; at a new checkpoint, a stopped run ends here with [`Error::Stopped`].
    pub fn responded(&mut self) -> Result<(), Error> {
        if std::mem::take(&mut self.cancelled_now) {
            return Ok(());
        }
        if let Some(observe) = self.observe.as_mut() {
            if observe(self.op.inner().inner()) && self.interrupt.stop_at_checkpoint() {
                return Err(Error::Stopped);
            }
        }
        Ok(())
    }

    /// Cancels the operation when the interrupt asks for it (once; the trace is told):
    /// whether it did.
    fn cancel_if_asked(&mut self) -> bool {
        let cancelled = self.interrupt.cancel_if_asked(&mut self.op);
        if cancelled {
            self.shared.emit(|| TraceEvent::Interrupted);
        }
        cancelled
    }

    /// A run with an observer that must stop now.
    fn stops_here(&self) -> bool {
        self.observe.is_some() && self.interrupt.stop_at_checkpoint()
    }
}

impl<O: Operation + Scoped, L> std::fmt::Debug for Run<'_, O, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("host", &self.host)
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::io;

    use super::*;
    use crate::{Digest, GetBlob, Repository, Scheme, Session, Upload, UploadOptions};

    const NOW: UnixTime = UnixTime(1_700_000_000);

    fn shared() -> SharedSession<()> {
        SharedSession::new(Session::new("reg.test", Scheme::Https).unwrap())
    }

    fn repo() -> Repository {
        Repository::parse("a").unwrap()
    }

    fn reply(status: u16, headers: &[(&str, &str)]) -> Response<()> {
        let mut b = Response::builder().status(status);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap()
    }

    /// The request `next` yields, or a panic.
    fn request<O: Operation + Scoped>(run: &mut Run<'_, O, ()>) -> Request {
        match run.next(NOW).unwrap() {
            Next::Send { request, .. } => request,
            Next::Done(_) => panic!("expected a request, got the end"),
            Next::Wait(d) => panic!("expected a request, got a wait of {d:?}"),
            Next::ReadSource { .. } => panic!("expected a request, got a source read"),
        }
    }

    fn stream_upload(s: &SharedSession<()>) -> Upload {
        let opts = UploadOptions {
            skip_if_exists: false,
            ..UploadOptions::default()
        };
        Upload::stream(&s.snapshot(), &repo(), None, &opts).unwrap()
    }

    fn get_blob(s: &SharedSession<()>) -> GetBlob {
        let digest = Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
        GetBlob::new(&s.snapshot(), &repo(), &digest, Some(1 << 20)).unwrap()
    }

    #[test]
    fn a_source_that_fails_is_the_runs_error_after_the_upload_session_is_deleted() {
        let s = shared();
        let mut run = Run::new(&s, &Interrupt::new(), stream_upload(&s));
        assert_eq!(request(&mut run).method(), "POST");
        let head = reply(202, &[("Location", "/v2/a/blobs/uploads/1")]);
        assert_eq!(
            run.response(head, Duration::ZERO, NOW).unwrap(),
            BodyPlan::Discard
        );
        run.responded().unwrap();
        let Next::ReadSource { .. } = run.next(NOW).unwrap() else {
            panic!("expected a source read");
        };
        run.source_failed(io::Error::other("disk on fire").into());
        let cleanup = request(&mut run);
        assert_eq!(cleanup.method(), "DELETE");
        assert_eq!(run.host(), "reg.test");
        assert_eq!(
            run.response(reply(204, &[]), Duration::ZERO, NOW).unwrap(),
            BodyPlan::Discard
        );
        run.responded().unwrap();
        match run.next(NOW) {
            Err(Error::Io(e)) => assert_eq!(e.to_string(), "disk on fire"),
            other => panic!("expected the source's error, got {other:?}"),
        }
    }

    #[test]
    fn a_lost_request_is_the_operations_to_retry_or_give_up() {
        let s = shared();
        let mut run = Run::new(&s, &Interrupt::new(), get_blob(&s));
        request(&mut run);
        let lost = || SendFailure::Transport(Error::Io(io::Error::other("reset")));
        run.send_failed(lost(), NOW).unwrap();
        let again = loop {
            match run.next(NOW).unwrap() {
                Next::Wait(_) => {}
                Next::Send { request, .. } => break request,
                _ => panic!("expected the request again"),
            }
        };
        assert_eq!(again.method(), "GET");
        // The upload's opening is not retried: the transport's error is the run's.
        let mut upload = Run::new(&s, &Interrupt::new(), stream_upload(&s));
        request(&mut upload);
        match upload.send_failed(lost(), NOW) {
            Err(Error::Io(e)) => assert_eq!(e.to_string(), "reset"),
            other => panic!("expected the transport's error, got {other:?}"),
        }
    }

    #[test]
    fn a_stop_ends_an_observed_run_blocked_on_the_network_and_cancels_any_other() {
        let s = shared();
        let interrupt = Interrupt::new();
        let mut observe = |_: &Upload| true;
        let mut run = Run::new(&s, &interrupt, stream_upload(&s))
            .with_observer(Some(&mut observe as ObserveFn<'_, Upload>));
        request(&mut run);
        interrupt.stop();
        assert!(!run.abandon_now());
        let lost = SendFailure::Transport(Error::Io(io::Error::other("stalled")));
        assert!(matches!(run.send_failed(lost, NOW), Err(Error::Stopped)));

        let mut plain = Run::new(&s, &interrupt, stream_upload(&s));
        assert!(plain.abandon_now());
        // Cancelled before anything went out: nothing to clean up.
        assert!(matches!(
            plain.next(NOW),
            Err(Error::Proto(crate::Error::Cancelled))
        ));
    }

    #[test]
    fn a_body_below_the_speed_floor_times_out_naming_its_host() {
        let s = shared();
        let mut run = Run::new(&s, &Interrupt::new(), get_blob(&s));
        request(&mut run);
        let head = reply(200, &[("Content-Length", "1048576")]);
        let plan = run.response(head, Duration::ZERO, NOW).unwrap();
        assert_eq!(plan, BodyPlan::Deliver);
        let (limit, _) = run.body_wait(Duration::ZERO);
        assert_eq!(limit, Timeouts::default().idle);
        run.body_data(&[0; 10], Duration::from_secs(1)).unwrap();
        match run.body_data(&[0; 10], Duration::from_secs(120)) {
            Err(Error::TimedOut { host, stall }) => {
                assert_eq!(host, "reg.test");
                assert!(matches!(stall, Stall::TooSlow(_)), "{stall:?}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[test]
    fn progress_counts_what_is_taken_from_the_source() {
        let s = shared();
        let mut total = 0u64;
        let mut count = |n: u64| total += n;
        let mut run = Run::new(&s, &Interrupt::new(), stream_upload(&s))
            .with_progress(Some(&mut count as SentFn<'_>));
        run.sent(3);
        run.sent(4);
        drop(run);
        assert_eq!(total, 7);
    }
}
