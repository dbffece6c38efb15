//! Time bounds on every network wait: [`Timeouts`] (the policy, part of the session's
//! [`Limits`](crate::Limits)), the [`Bounds`] it gives each request and the [`BodyBounds`]
//! it gives each response body, [`BodyWatch`] (the pure checker a driver feeds with the
//! bytes it receives and the time they arrived) and [`Stall`] (what ran out).
//!
//! dxf-proto reads no clock: the driver passes times in as [`Duration`]s since any fixed
//! moment of its own (a monotonic clock's start), and enforces the plain waits itself —
//! connecting, the response head, each read and write — with its HTTP stack's timers.
//! The decisions are made here:
//!
//! - every request: a connect bound, a time-to-first-byte bound for the response head
//!   (counted from when the request went out), and an idle bound on each read and write;
//! - small bodies the operation reads whole (manifests, tokens, tag lists, errors:
//!   [`BodyPlan::Feed`], and drained ones): a whole-response deadline, so a server that
//!   drips one byte at a time cannot hold a command forever;
//! - blob bodies ([`BodyPlan::Deliver`]): a speed floor over a window, like curl's
//!   `--speed-limit`/`--speed-time`; falling below it is treated like a stall (the pull
//!   continues with a `Range` request, within the retry policy);
//! - a best-effort cleanup request (an upload's session `DELETE` after a failure or an
//!   interrupt) gets one short deadline for the whole exchange and is not abandoned by
//!   the interrupt it is sent for.
//!
//! A request whose head does not arrive in time is a transport failure
//! ([`Operation::handle_send_failure`](crate::Operation::handle_send_failure)): a `GET` or
//! `HEAD` goes through the retry policy, an upload through its status check.

use std::fmt;
use std::time::Duration;

use crate::exchange::Cleanup;
use crate::interrupt::STOP_GRACE;
use crate::operation::{BodyPlan, Request};

/// The slowest a blob may arrive, averaged over a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinSpeed {
    /// Bytes per second (averaged over `window`).
    pub bytes_per_sec: u64,
    /// How long the transfer may stay below the floor.
    pub window: Duration,
}

/// Time bounds (`DXF_TIMEOUT`). `None` waits forever for that step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection (TCP and TLS).
    pub connect: Option<Duration>,
    /// From the request sent to its response head.
    pub response: Option<Duration>,
    /// Between two reads (or writes) that move bytes, while a body flows.
    pub idle: Option<Duration>,
    /// From the request sent to the end of a body read whole (manifests, tokens, lists,
    /// errors).
    pub small_body: Option<Duration>,
    /// The speed floor of blob downloads.
    pub min_speed: Option<MinSpeed>,
    /// The whole exchange of a best-effort cleanup request (also after an interrupt).
    pub cleanup: Duration,
}

/// Default [`Timeouts::connect`]: 30 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Timeouts::response`] and [`Timeouts::idle`]: 60 s (`DXF_TIMEOUT`'s default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default speed floor: 1 KiB/s. The slowest real links (a poor mobile connection,
/// ~12 KiB/s) stay far above it; a registry that sends less for a whole window is broken.
pub const DEFAULT_MIN_SPEED: u64 = 1024;
/// Default [`Timeouts::cleanup`]: 2 s — long enough for a `DELETE` to any live registry,
/// short enough that Ctrl-C still ends a command promptly when the registry has stalled.
pub const DEFAULT_CLEANUP_TIMEOUT: Duration = Duration::from_secs(2);

impl Default for Timeouts {
    /// 30 s to connect, 60 s for a response head and between bytes, 120 s for a whole
    /// small body, blobs at least 1 KiB/s over 60 s, 2 s for a cleanup request.
    fn default() -> Self {
        Timeouts {
            connect: Some(DEFAULT_CONNECT_TIMEOUT),
            ..Timeouts::uniform(DEFAULT_TIMEOUT)
        }
    }
}

impl Timeouts {
    /// One knob (`DXF_TIMEOUT=SECONDS`): `t` to connect, for a response head and between
    /// bytes; `2 t` for a whole small body; blobs at least 1 KiB/s over `t`. A zero `t`
    /// is [`Timeouts::none`].
    pub fn uniform(t: Duration) -> Timeouts {
        if t.is_zero() {
            return Timeouts::none();
        }
        Timeouts {
            connect: Some(t),
            response: Some(t),
            idle: Some(t),
            small_body: Some(t.saturating_mul(2)),
            min_speed: Some(MinSpeed {
                bytes_per_sec: DEFAULT_MIN_SPEED,
                window: t,
            }),
            cleanup: DEFAULT_CLEANUP_TIMEOUT.min(t),
        }
    }

    /// No time bound at all (`DXF_TIMEOUT=0`), but for cleanup requests, which are always
    /// bounded.
    pub fn none() -> Timeouts {
        Timeouts {
            connect: None,
            response: None,
            idle: None,
            small_body: None,
            min_speed: None,
            cleanup: DEFAULT_CLEANUP_TIMEOUT,
        }
    }

    /// The bounds of sending `req` and receiving its response head.
    pub fn for_request(&self, req: &Request) -> Bounds {
        if req.extensions().get::<Cleanup>().is_some() {
            let whole = Some(self.cleanup);
            return Bounds {
                connect: whole,
                response: whole,
                idle: whole,
                whole,
                interrupt_grace: None,
            };
        }
        // A request that changes the registry (an upload's POST, PATCH, PUT; a manifest
        // PUT; a DELETE) is given a moment to finish: cut midway, it leaves the registry in
        // a state nobody knows (distribution drops an upload session whose PATCH was cut,
        // and the cleanup that follows would name a stale session state).
        let changes_registry = !matches!(*req.method(), http::Method::GET | http::Method::HEAD);
        Bounds {
            connect: self.connect,
            response: self.response,
            idle: self.idle,
            whole: None,
            interrupt_grace: Some(if changes_registry {
                STOP_GRACE
            } else {
                Duration::ZERO
            }),
        }
    }

    /// The bounds of reading a response body the operation asked for with `plan`
    /// ([`BodyPlan::Discard`]: the few bytes a driver drains to reuse the connection).
    pub fn for_body(&self, plan: BodyPlan) -> BodyBounds {
        match plan {
            BodyPlan::Feed { .. } | BodyPlan::Discard => BodyBounds {
                idle: self.idle,
                deadline: self.small_body,
                min_speed: None,
            },
            BodyPlan::Deliver => BodyBounds {
                idle: self.idle,
                deadline: None,
                min_speed: self.min_speed,
            },
        }
    }
}

/// How long each step of one request may take (from [`Timeouts::for_request`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Establishing the connection.
    pub connect: Option<Duration>,
    /// From the request sent to its response head.
    pub response: Option<Duration>,
    /// Each read or write.
    pub idle: Option<Duration>,
    /// The whole exchange, body included (cleanup requests).
    pub whole: Option<Duration>,
    /// How long an [`Interrupt`](crate::Interrupt) lets it finish before it is abandoned
    /// ([`RunWatch::abandon_blocked`](crate::RunWatch::abandon_blocked)): none for
    /// a bodiless request, [`STOP_GRACE`] for one that changes the registry; `None`: never
    /// (a cleanup request, sent because of the interrupt, bounded by its deadline).
    pub interrupt_grace: Option<Duration>,
}

/// How a response body may arrive (from [`Timeouts::for_body`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyBounds {
    /// Each read.
    pub idle: Option<Duration>,
    /// The whole body, counted from when the request went out.
    pub deadline: Option<Duration>,
    /// The speed floor.
    pub min_speed: Option<MinSpeed>,
}

/// What ran out of time. Each names its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    /// No connection within this long.
    Connect(Duration),
    /// No response head within this long of the request.
    Response(Duration),
    /// No byte moved (in or out) for this long.
    Idle(Duration),
    /// A small body not complete within this long of the request.
    Body(Duration),
    /// A blob arriving slower than the floor for a whole window.
    TooSlow(MinSpeed),
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stall::Connect(d) => write!(f, "timed out: no connection within {}", secs(*d)),
            Stall::Response(d) => write!(f, "timed out: no response within {}", secs(*d)),
            Stall::Idle(d) => write!(f, "timed out: no data moved for {}", secs(*d)),
            Stall::Body(d) => {
                write!(f, "timed out: the response took longer than {}", secs(*d))
            }
            Stall::TooSlow(m) => write!(
                f,
                "timed out: the blob arrived at less than {} bytes/s for {}",
                m.bytes_per_sec,
                secs(m.window)
            ),
        }
    }
}

impl std::error::Error for Stall {}

/// `12 s`, `0.5 s`.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Watches one response body against its [`BodyBounds`]: the driver calls
/// [`on_bytes`](BodyWatch::on_bytes) with every piece it receives (and the time), and stops
/// with the [`Stall`] it returns. Stalls between pieces are the driver's idle timer's.
#[derive(Clone, Debug)]
pub struct BodyWatch {
    deadline: Option<(Duration, Duration)>,
    floor: Option<MinSpeed>,
    window_start: Duration,
    window_bytes: u64,
}

impl BodyWatch {
    /// A watch for a body whose request went out at `sent` and whose head arrived at `now`.
    pub fn new(bounds: &BodyBounds, sent: Duration, now: Duration) -> BodyWatch {
        BodyWatch {
            deadline: bounds.deadline.map(|d| (sent.saturating_add(d), d)),
            floor: bounds.min_speed,
            window_start: now,
            window_bytes: 0,
        }
    }

    /// `n` more bytes arrived at `now`.
    pub fn on_bytes(&mut self, n: usize, now: Duration) -> Result<(), Stall> {
        if let Some((at, limit)) = self.deadline {
            if now > at {
                return Err(Stall::Body(limit));
            }
        }
        let Some(floor) = self.floor else {
            return Ok(());
        };
        self.window_bytes = self.window_bytes.saturating_add(n as u64);
        let elapsed = now.saturating_sub(self.window_start);
        if elapsed < floor.window {
            return Ok(());
        }
        let needed = u128::from(floor.bytes_per_sec) * elapsed.as_millis() / 1000;
        if u128::from(self.window_bytes) < needed {
            return Err(Stall::TooSlow(floor));
        }
        self.window_start = now;
        self.window_bytes = 0;
        Ok(())
    }

    /// The longest the driver may wait for the next piece at `now` before the body's
    /// deadline passes (`None`: no deadline).
    pub fn time_left(&self, now: Duration) -> Option<Duration> {
        self.deadline.map(|(at, _)| at.saturating_sub(now))
    }

    /// The stall to report when the wait for the next piece ended at `now` by
    /// [`time_left`](Self::time_left) or by the idle bound `idle`.
    pub fn stall_at(&self, now: Duration, idle: Option<Duration>) -> Stall {
        match (self.deadline, idle) {
            (Some((at, limit)), _) if now >= at => Stall::Body(limit),
            (_, Some(idle)) => Stall::Idle(idle),
            (Some((_, limit)), None) => Stall::Body(limit),
            (None, None) => Stall::Idle(Duration::ZERO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::Body;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_knob_sets_every_bound_and_zero_turns_them_off_but_cleanup() {
        let t = Timeouts::uniform(S(5));
        assert_eq!(t.connect, Some(S(5)));
        assert_eq!(t.idle, Some(S(5)));
        assert_eq!(t.small_body, Some(S(10)));
        assert_eq!(t.min_speed.map(|m| m.window), Some(S(5)));
        assert_eq!(t.cleanup, S(2));
        assert_eq!(
            Timeouts::uniform(Duration::from_millis(500)).cleanup,
            Duration::from_millis(500)
        );
        let none = Timeouts::uniform(S(0));
        assert_eq!(none, Timeouts::none());
        assert_eq!(none.response, None);
        assert_eq!(none.cleanup, DEFAULT_CLEANUP_TIMEOUT);
        let d = Timeouts::default();
        assert_eq!(
            (d.connect, d.response, d.idle),
            (Some(S(30)), Some(S(60)), Some(S(60)))
        );
    }

    #[test]
    fn cleanup_requests_get_one_short_uninterruptible_deadline() {
        let t = Timeouts::default();
        let mut req = http::Request::new(Body::Empty);
        assert_eq!(t.for_request(&req).interrupt_grace, Some(Duration::ZERO));
        assert_eq!(t.for_request(&req).whole, None);
        for method in [http::Method::PATCH, http::Method::PUT, http::Method::POST] {
            let mut patch = http::Request::new(Body::Bytes(vec![1]));
            *patch.method_mut() = method;
            assert_eq!(t.for_request(&patch).interrupt_grace, Some(STOP_GRACE));
        }
        req.extensions_mut().insert(Cleanup);
        let b = t.for_request(&req);
        assert_eq!(b.interrupt_grace, None);
        assert_eq!(b.whole, Some(DEFAULT_CLEANUP_TIMEOUT));
    }

    #[test]
    fn small_bodies_have_a_deadline_and_blobs_a_floor() {
        let t = Timeouts::uniform(S(10));
        let small = t.for_body(BodyPlan::Feed { limit: 10 });
        assert_eq!(small.deadline, Some(S(20)));
        assert_eq!(small.min_speed, None);
        let blob = t.for_body(BodyPlan::Deliver);
        assert_eq!(blob.deadline, None);
        assert!(blob.min_speed.is_some());
    }

    #[test]
    fn a_dripping_small_body_hits_its_deadline() {
        let bounds = Timeouts::uniform(S(1)).for_body(BodyPlan::Feed { limit: 100 });
        let mut w = BodyWatch::new(&bounds, S(0), Duration::from_millis(10));
        let mut now = Duration::from_millis(10);
        let mut err = None;
        for _ in 0..100 {
            now += Duration::from_millis(100);
            if let Err(e) = w.on_bytes(1, now) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(Stall::Body(S(2))));
        assert!(now <= Duration::from_millis(2200), "{now:?}");
        assert_eq!(w.time_left(S(1)), Some(S(1)));
        assert_eq!(w.stall_at(S(3), Some(S(1))), Stall::Body(S(2)));
        assert_eq!(w.stall_at(S(1), Some(S(1))), Stall::Idle(S(1)));
    }

    #[test]
    fn a_dripping_blob_falls_below_the_floor_and_a_fast_one_never_does() {
        let bounds = Timeouts::uniform(S(2)).for_body(BodyPlan::Deliver);
        let mut w = BodyWatch::new(&bounds, S(0), S(0));
        let mut now = S(0);
        let mut stalled_at = None;
        for _ in 0..1000 {
            now += Duration::from_millis(100);
            if w.on_bytes(1, now).is_err() {
                stalled_at = Some(now);
                break;
            }
        }
        assert_eq!(stalled_at, Some(S(2)));
        let mut w = BodyWatch::new(&bounds, S(0), S(0));
        let mut now = S(0);
        for _ in 0..10_000 {
            now += Duration::from_millis(10);
            assert!(w.on_bytes(64 * 1024, now).is_ok());
        }
        // Exactly at the floor passes.
        let mut w = BodyWatch::new(&bounds, S(0), S(0));
        assert!(w.on_bytes(2048, S(2)).is_ok());
        assert!(w.on_bytes(2047, S(4)).is_err());
    }

    #[test]
    fn no_bounds_never_stall() {
        let bounds = Timeouts::none().for_body(BodyPlan::Deliver);
        let mut w = BodyWatch::new(&bounds, S(0), S(0));
        assert!(w.on_bytes(0, S(1_000_000)).is_ok());
        assert_eq!(w.time_left(S(5)), None);
    }

    #[test]
    fn stalls_read_well() {
        assert_eq!(
            Stall::Response(S(60)).to_string(),
            "timed out: no response within 60 s"
        );
        assert_eq!(
            Stall::TooSlow(MinSpeed {
                bytes_per_sec: 1024,
                window: Duration::from_millis(1500)
            })
            .to_string(),
            "timed out: the blob arrived at less than 1024 bytes/s for 1.5 s"
        );
    }
}
