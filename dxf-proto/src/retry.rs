//! Safe retries: [`Retrying`] wraps an operation and sends its idempotent requests — bodiless
//! `GET` and `HEAD` — again after a transport failure or a `429` / `500` / `502` / `503` /
//! `504` answer, waiting with exponential backoff and jitter, or as long as the registry's
//! `Retry-After` says. Every retry is bounded by the session's [`RetryPolicy`]: in count per
//! request and in total waiting per operation. A `Retry-After` longer than the policy's
//! longest wait is not waited for: the answer goes to the operation, which reports it.
//!
//! A request with a body is never sent again here. Its transport failure goes to the
//! operation ([`Operation::handle_send_failure`]), which may ask the registry what it holds
//! and continue from there (chunked uploads do) — unless retries are off
//! (`max_retries == 0`): then every failure is the answer.
//!
//! Jitter comes from a small deterministic generator seeded by the session
//! ([`Session::with_jitter_seed`]): no clock or randomness is read here.

use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use crate::auth::{Scope, Scoped};
use crate::error::{Error, Misuse};
use crate::headers::parse_retry_after;
use crate::operation::{Body, BodyPlan, Operation, Recovery, Request, Step, UnixTime};
use crate::session::{Session, SessionEvent};

/// Bounds on retries (`DXF_RETRIES` sets `max_retries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most times one request is sent again; 0 disables retries.
    pub max_retries: u32,
    /// The first backoff; it doubles with every retry of the same request.
    pub base_delay: Duration,
    /// The longest single wait, and the longest `Retry-After` honoured.
    pub max_delay: Duration,
    /// The most time one operation spends waiting to retry.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    /// 4 retries, 250 ms doubling, at most 60 s per wait (Docker Hub's `Retry-After: 60`)
    /// and 120 s in all.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(60),
            max_total: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }
}

/// Whether an answer with this status is worth waiting for and asking again.
pub(crate) fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// The wait a `Retry-After` header asks for at `now`: delta-seconds or an HTTP date
/// ([`parse_retry_after`]). `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap, now: UnixTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?;
    parse_retry_after(v.as_bytes(), now.0).map(Duration::from_secs)
}

/// The parts of a bodiless request needed to send it again.
#[derive(Debug)]
struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Replay {
    /// The request, if it may be sent again: a `GET` or `HEAD` without a body.
    fn of(req: &Request) -> Option<Replay> {
        let idempotent = matches!(*req.method(), Method::GET | Method::HEAD);
        (idempotent && matches!(req.body(), Body::Empty)).then(|| Replay {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
        })
    }

    fn request(&self) -> Request {
        let mut req = http::Request::new(Body::Empty);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers.clone();
        req
    }
}

#[derive(Debug)]
enum Phase {
    /// The inner operation decides the next step.
    Idle,
    /// A request is out; its answer (or failure) is due.
    Sent,
    /// Wait this long, then send the request again.
    Waiting(Duration),
    /// Send the request again.
    Resend,
}

/// Any [`Operation`] with safe retries added; see the module docs. Drivers run
/// `Authed<Retrying<O>>`: authentication stamps every (re-)sent request afresh.
#[derive(Debug)]
pub struct Retrying<O> {
    inner: O,
    policy: RetryPolicy,
    rng: u64,
    /// Retries of the current request.
    retries: u32,
    /// Time waited over the whole operation.
    waited: Duration,
    replay: Option<Replay>,
    phase: Phase,
    /// The operation gave up after a transport failure.
    gave_up: bool,
}

impl<O: Operation> Retrying<O> {
    /// Wraps `inner` with the policy and jitter seed of `session`.
    pub fn new(session: &Session, inner: O) -> Retrying<O> {
        Retrying {
            inner,
            policy: session.limits().retry,
            rng: session.jitter_seed() | 1,
            retries: 0,
            waited: Duration::ZERO,
            replay: None,
            phase: Phase::Idle,
            gave_up: false,
        }
    }

    /// The wrapped operation.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// xorshift64: jitter only, not cryptography.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// The wait before the next retry of the current request, or `None` when no retry is
    /// left (count, the longest wait, or the total).
    fn backoff(&mut self, asked: Option<Duration>, immediate_first: bool) -> Option<Duration> {
        if self.retries >= self.policy.max_retries {
            return None;
        }
        let delay = match asked {
            Some(d) if d > self.policy.max_delay => return None,
            Some(d) => d,
            None if immediate_first && self.retries == 0 => Duration::ZERO,
            None => {
                let factor = 1u32.checked_shl(self.retries.min(20)).unwrap_or(u32::MAX);
                let exp = self
                    .policy
                    .base_delay
                    .saturating_mul(factor)
                    .min(self.policy.max_delay);
                // Equal jitter: half fixed, half random.
                let half = exp / 2;
                let span = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
                let extra = self.next_random() % span.saturating_add(1);
                half + Duration::from_millis(extra)
            }
        };
        if self.waited.saturating_add(delay) > self.policy.max_total {
            return None;
        }
        self.retries += 1;
        self.waited += delay;
        Some(delay)
    }

    fn schedule(&mut self, delay: Duration) {
        self.phase = if delay.is_zero() {
            Phase::Resend
        } else {
            Phase::Waiting(delay)
        };
    }

    fn replay(&self) -> Result<Request, Error> {
        self.replay
            .as_ref()
            .map(Replay::request)
            .ok_or_else(|| Misuse::UnexpectedCall("retry without a request").into())
    }
}

impl<O: Operation> Operation for Retrying<O> {
    type Output = O::Output;

    fn poll(&mut self, now: UnixTime) -> Result<Step<O::Output>, Error> {
        if self.gave_up {
            return Err(Misuse::UnexpectedCall("poll after giving up").into());
        }
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Idle => match self.inner.poll(now)? {
                Step::Send(req) => {
                    self.retries = 0;
                    self.replay = Replay::of(&req);
                    self.phase = Phase::Sent;
                    Ok(Step::Send(req))
                }
                other => Ok(other),
            },
            Phase::Waiting(d) => {
                self.phase = Phase::Resend;
                Ok(Step::Wait(d))
            }
            Phase::Resend => {
                let req = self.replay()?;
                self.phase = Phase::Sent;
                Ok(Step::Send(req))
            }
            Phase::Sent => {
                self.phase = Phase::Sent;
                Err(Misuse::UnexpectedCall("poll while a response is due").into())
            }
        }
    }

    fn handle_response(
        &mut self,
        head: http::Response<()>,
        now: UnixTime,
    ) -> Result<BodyPlan, Error> {
        if !matches!(self.phase, Phase::Sent) {
            return self.inner.handle_response(head, now);
        }
        if self.replay.is_some() && is_transient(head.status()) {
            let asked = retry_after(head.headers(), now);
            if let Some(delay) = self.backoff(asked, false) {
                self.schedule(delay);
                return Ok(BodyPlan::Discard);
            }
        }
        self.phase = Phase::Idle;
        self.inner.handle_response(head, now)
    }

    fn handle_body(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.inner.handle_body(chunk)
    }

    fn handle_body_end(&mut self) -> Result<(), Error> {
        self.inner.handle_body_end()
    }

    fn handle_source(&mut self, data: &[u8]) -> Result<(), Error> {
        let r = self.inner.handle_source(data);
        if r.is_err() && matches!(self.phase, Phase::Sent) {
            // A relayed body refused: the request is abandoned, never sent again; the
            // inner operation decides what follows.
            self.phase = Phase::Idle;
            self.replay = None;
        }
        r
    }

    fn handle_send_failure(&mut self, now: UnixTime) -> Recovery {
        if !matches!(self.phase, Phase::Sent) {
            self.gave_up = true;
            return Recovery::GiveUp;
        }
        if self.replay.is_some() {
            // The first resend is immediate: most often the pooled connection had just been
            // closed by the server (the keep-alive race, RFC 9112 §9.3.1).
            return match self.backoff(None, true) {
                Some(delay) => {
                    self.schedule(delay);
                    Recovery::Retry
                }
                None => {
                    self.gave_up = true;
                    Recovery::GiveUp
                }
            };
        }
        if self.policy.max_retries == 0 {
            // Retries are off: no resumption either; the failure is the answer.
            self.gave_up = true;
            return Recovery::GiveUp;
        }
        self.phase = Phase::Idle;
        let r = self.inner.handle_send_failure(now);
        if r == Recovery::GiveUp {
            self.gave_up = true;
        }
        r
    }

    fn poll_session_event(&mut self) -> Option<SessionEvent> {
        self.inner.poll_session_event()
    }

    fn cancel(&mut self) {
        // No resend and no wait left: the inner operation decides what goes out.
        self.phase = Phase::Idle;
        self.replay = None;
        self.inner.cancel();
    }
}

impl<O: Scoped> Scoped for Retrying<O> {
    fn scope(&self) -> Scope {
        self.inner.scope()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = UnixTime(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(120)));
        h.insert(
            RETRY_AFTER,
            "Sun, 06 Nov 1994 08:50:07 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        // A date in the past: no wait.
        h.insert(
            RETRY_AFTER,
            "Sat, 05 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
        ] {
            h.insert(RETRY_AFTER, bad.parse().unwrap());
            assert_eq!(retry_after(&h, now), None, "{bad:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn transient_statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 405, 416, 501] {
            assert!(!is_transient(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
