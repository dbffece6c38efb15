//! [`Interrupt`]: how a caller gives transfers up from elsewhere — a signal handler, a
//! sibling transfer that failed. A shared flag the drivers read between steps and while
//! streaming bodies; acting on it is the operation's business ([`Operation::cancel`]).
//!
//! [`Operation::cancel`]: crate::Operation::cancel

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use crate::Operation;

/// How long a run that keeps checkpoints (a resumable upload) may stay blocked on the
/// network after [`Interrupt::stop`] before the driver abandons what it is waiting for —
/// the chunk in flight usually finishes well within it; one to a stalled registry is given
/// up and the run ends at its last checkpoint ([`RunWatch::abandon_blocked`]).
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const CANCELLED: u8 = 2;

/// A cheap, cloneable flag shared by the code that interrupts and the drivers that obey.
/// Two levels: [`stop`](Interrupt::stop) lets a resumable upload end at its next
/// checkpoint (keeping its registry session for a later run) and cancels everything else;
/// [`cancel`](Interrupt::cancel) cancels everything at once. Levels only go up.
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<AtomicU8>);

/// What an interrupted driver must do with its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// Nothing asked: go on.
    None,
    /// Stop at the next checkpoint (only a run that keeps checkpoints sees this).
    AtCheckpoint,
    /// Cancel now ([`Operation::cancel`](crate::Operation::cancel)).
    Now,
}

impl Interrupt {
    /// A flag nobody has raised.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Ask transfers to stop (see the type docs).
    pub fn stop(&self) {
        let _ = self
            .0
            .compare_exchange(RUNNING, STOPPING, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Cancel every transfer at once; uploads cancel their registry sessions.
    pub fn cancel(&self) {
        self.0.store(CANCELLED, Ordering::SeqCst);
    }

    /// Whether [`stop`](Interrupt::stop) or [`cancel`](Interrupt::cancel) was called.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst) != RUNNING
    }

    /// What a run must do now; `keeps_checkpoints` for a resumable upload, which a
    /// [`stop`](Interrupt::stop) ends at its next checkpoint rather than at once.
    pub fn check(&self, keeps_checkpoints: bool) -> Interruption {
        match self.0.load(Ordering::SeqCst) {
            RUNNING => Interruption::None,
            STOPPING if keeps_checkpoints => Interruption::AtCheckpoint,
            _ => Interruption::Now,
        }
    }
}

/// What a run's blocked network waits obey: one run's view of an [`Interrupt`], cheap to
/// clone and to share with the transport under the driver (every clone shares when the
/// interrupt was first seen, so a grace period counts once for the run).
#[derive(Clone, Debug)]
pub struct RunWatch {
    interrupt: Interrupt,
    keeps_checkpoints: bool,
    /// When this run, blocked, first saw the interrupt up (driver time, ms; [`NOT_SEEN`]).
    raised_seen_ms: Arc<AtomicU64>,
}

const NOT_SEEN: u64 = u64::MAX;

impl RunWatch {
    /// The view of a run that keeps checkpoints (a resumable upload) or not.
    pub fn new(interrupt: &Interrupt, keeps_checkpoints: bool) -> RunWatch {
        RunWatch {
            interrupt: interrupt.clone(),
            keeps_checkpoints,
            raised_seen_ms: Arc::new(AtomicU64::new(NOT_SEEN)),
        }
    }

    /// Whether whatever the run is doing (sending a body, reading one, waiting) must be
    /// abandoned now.
    pub fn abandon_now(&self) -> bool {
        self.interrupt.check(self.keeps_checkpoints) == Interruption::Now
    }

    /// Whether a network wait (connect, response head, body) blocked at `now` (any
    /// monotonic time of the driver's, e.g. since it started) must be abandoned, `grace`
    /// being what the request is given to finish
    /// ([`Bounds::interrupt_grace`](crate::Bounds::interrupt_grace)): once this run has
    /// seen the interrupt for `grace` when [`abandon_now`](Self::abandon_now) says so, and
    /// for a run that keeps checkpoints once it has seen a [`stop`](Interrupt::stop) for
    /// [`STOP_GRACE`] at least (the run then ends at its last checkpoint).
    pub fn abandon_blocked(&self, now: std::time::Duration, grace: std::time::Duration) -> bool {
        let grace = match self.interrupt.check(self.keeps_checkpoints) {
            Interruption::None => return false,
            Interruption::Now => grace,
            Interruption::AtCheckpoint => grace.max(STOP_GRACE),
        };
        let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX - 1);
        let seen = match self.raised_seen_ms.compare_exchange(
            NOT_SEEN,
            now_ms,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => now_ms,
            Err(earlier) => earlier,
        };
        now_ms.saturating_sub(seen) >= u64::try_from(grace.as_millis()).unwrap_or(u64::MAX)
    }
}

/// The interrupt as one run's driver obeys it: its [`RunWatch`], plus whether the run's
/// operation was cancelled (once) and whether a checkpointed run must stop.
#[derive(Debug)]
pub(crate) struct RunInterrupt {
    watch: RunWatch,
    cancelled: bool,
}

impl RunInterrupt {
    /// The view of a run that keeps checkpoints (a resumable upload) or not.
    pub(crate) fn new(interrupt: &Interrupt, keeps_checkpoints: bool) -> RunInterrupt {
        RunInterrupt {
            watch: RunWatch::new(interrupt, keeps_checkpoints),
            cancelled: false,
        }
    }

    /// The same view, for a run that keeps checkpoints or not.
    pub(crate) fn keeping_checkpoints(&self, keeps_checkpoints: bool) -> RunInterrupt {
        RunInterrupt::new(&self.watch.interrupt, keeps_checkpoints)
    }

    /// What the run's blocked waits obey.
    pub(crate) fn watch(&self) -> &RunWatch {
        &self.watch
    }

    /// Cancels `op` when the interrupt asks for it now and it was not cancelled yet (its
    /// cleanup request then goes out uninterrupted); whether it did.
    pub(crate) fn cancel_if_asked<O: Operation>(&mut self, op: &mut O) -> bool {
        if self.cancelled || !self.watch.abandon_now() {
            return false;
        }
        self.cancelled = true;
        op.cancel();
        true
    }

    /// At a checkpoint: whether the run must end here (keeping the session).
    pub(crate) fn stop_at_checkpoint(&self) -> bool {
        !self.cancelled
            && self.watch.interrupt.check(self.watch.keeps_checkpoints)
                == Interruption::AtCheckpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_spares_checkpointed_runs_until_a_cancel_and_levels_only_go_up() {
        let i = Interrupt::new();
        assert!(!i.is_raised());
        assert_eq!(i.check(true), Interruption::None);
        let other = i.clone();
        other.stop();
        assert!(i.is_raised());
        assert_eq!(i.check(true), Interruption::AtCheckpoint);
        assert_eq!(i.check(false), Interruption::Now);
        i.cancel();
        i.stop();
        assert_eq!(other.check(true), Interruption::Now);
    }

    #[test]
    fn blocked_waits_end_after_their_grace_and_a_checkpointed_run_gets_that_of_a_stop() {
        use std::time::Duration;
        let ms = Duration::from_millis;
        let i = Interrupt::new();
        let plain = RunWatch::new(&i, false);
        let resumable = RunInterrupt::new(&i, true);
        let resumable_watch = resumable.watch().clone();
        let changing = RunWatch::new(&i, false);
        assert!(!plain.abandon_blocked(ms(0), ms(0)));
        assert!(!resumable_watch.abandon_blocked(ms(0), ms(0)));
        i.stop();
        assert!(plain.abandon_blocked(ms(10), ms(0)));
        assert!(!resumable_watch.abandon_blocked(ms(10), ms(0)));
        assert!(!resumable_watch.abandon_blocked(ms(900), ms(0)));
        assert!(resumable_watch.abandon_blocked(ms(10) + STOP_GRACE, ms(0)));
        assert!(resumable.stop_at_checkpoint());
        // A request that changes the registry finishes first, within its grace.
        assert!(!changing.abandon_blocked(ms(100), ms(500)));
        assert!(!changing.abandon_blocked(ms(599), ms(500)));
        assert!(changing.abandon_blocked(ms(600), ms(500)));
        let late = RunWatch::new(&i, true);
        assert!(!late.abandon_blocked(ms(5000), ms(0)));
        i.cancel();
        assert!(late.abandon_blocked(ms(5001), ms(0)));
    }
}
