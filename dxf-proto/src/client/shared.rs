//! [`SharedSession`]: the [`Session`] every clone of a client shares, kept up to date with
//! what operations learn, and one lock per token scope so that operations running at the
//! same time fetch each token once. No IO: the lock type is the driver's (a blocking
//! mutex, an async one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::operation::Operation;
use crate::session::Session;

use super::trace::{Trace, TraceEvent};

/// Token-lock entries kept before unused ones are dropped.
const MAX_TOKEN_LOCKS: usize = 256;

/// The session of a client and its clones, and its token locks; `L` is
/// the driver's lock type for single-flight token fetches.
#[derive(Debug)]
pub struct SharedSession<L> {
    session: Mutex<Session>,
    token_locks: Mutex<HashMap<String, Arc<L>>>,
    trace: Option<Trace>,
}

impl<L: Default> SharedSession<L> {
    /// Shares `session`.
    pub fn new(session: Session) -> SharedSession<L> {
        SharedSession {
            session: Mutex::new(session),
            token_locks: Mutex::new(HashMap::new()),
            trace: None,
        }
    }

    /// Reports what every operation run on this session does to `trace`
    /// ([`Config::trace`](super::Config::trace)).
    pub fn with_trace(mut self, trace: Option<Trace>) -> SharedSession<L> {
        self.trace = trace;
        self
    }

    /// The trace hook, if any.
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }

    /// A snapshot to build an operation from.
    pub fn snapshot(&self) -> Session {
        self.with(|s| s.clone())
    }

    /// Runs `f` on the session itself (to set a token, adopt upload hints…).
    pub fn with<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        f(&mut self.session.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Drains what `op` learned into the session (after every `poll` and `handle_*`),
    /// telling the trace.
    pub fn learn<O: Operation>(&self, op: &mut O) {
        while let Some(event) = op.poll_session_event() {
            if let Some(what) = self.trace.as_ref().and_then(|_| event.describe()) {
                self.emit(|| TraceEvent::Learned(what));
            }
            self.with(|session| session.handle_event(event));
        }
    }

    /// Tells the trace, if any, what `event` makes.
    pub(crate) fn emit(&self, event: impl FnOnce() -> TraceEvent) {
        if let Some(trace) = &self.trace {
            trace.emit(&event());
        }
    }

    /// The lock of token scope `key` (a [`Next::Send`](super::Next::Send)'s `token_scope`):
    /// hold it while fetching, then [`Run::adopt_token`](super::Run::adopt_token) lets
    /// whoever waited use the token instead of fetching another.
    pub fn token_lock(&self, key: String) -> Arc<L> {
        let mut locks = self
            .token_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if locks.len() >= MAX_TOKEN_LOCKS {
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        locks.entry(key).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Scheme;

    #[test]
    fn one_lock_per_scope_and_unused_ones_are_forgotten() {
        let shared: SharedSession<Mutex<()>> =
            SharedSession::new(Session::new("r.test", Scheme::Https).unwrap());
        let a = shared.token_lock("a".into());
        assert!(Arc::ptr_eq(&a, &shared.token_lock("a".into())));
        for i in 0..MAX_TOKEN_LOCKS + 1 {
            drop(shared.token_lock(format!("k{i}")));
        }
        assert!(
            Arc::ptr_eq(&a, &shared.token_lock("a".into())),
            "held: kept"
        );
        let locks = shared.token_locks.lock().unwrap().len();
        assert!(locks <= MAX_TOKEN_LOCKS, "{locks}");
        shared.with(|s| s.set_token(Some("t".into())));
        assert_eq!(
            shared.snapshot().limits(),
            Session::new("r.test", Scheme::Https).unwrap().limits()
        );
    }
}
