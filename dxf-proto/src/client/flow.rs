//! Compound operations ([`Flow`]): several operations run one after another, each chosen
//! from the results of the ones before — setting an alias (a `HEAD` per blob, then the
//! manifest), deleting one, attaching an artifact. A flow is a state machine like an
//! [`Operation`], one level up: it yields whole operations ([`SubOperation`]) instead of
//! requests, and the driver runs each like any other (wrapped by
//! [`Session::start`](crate::Session::start)), then hands back what it produced
//! ([`Outcome`]). Drivers write one loop for every flow:
//!
//! ```text
//! let mut last = None;
//! loop {
//!     match flow.step(last.take())? {
//!         FlowStep::Run(op) => last = Some(run(op)?),
//!         FlowStep::Done(output) => return Ok(output),
//!     }
//! }
//! ```

use crate::auth::{Scope, Scoped};
use crate::blob::BlobInfo;
use crate::error::Error;
use crate::manifest::{AliasManifest, Attached};
use crate::operation::{BodyPlan, Operation, Recovery, Step, UnixTime};
use crate::session::SessionEvent;

/// A compound operation: operations run one after another, each chosen from the
/// results of the ones before; a driver runs it with one loop (`step`, run the
/// [`SubOperation`], `step` again with its [`Outcome`]).
pub trait Flow {
    /// What the flow produces.
    type Output;

    /// The next operation to run, or the flow's result. `last` is what the operation the
    /// previous call returned produced (`None` on the first call). A failed operation ends
    /// the flow: the driver reports its error.
    fn step(&mut self, last: Option<Outcome>) -> Result<FlowStep<Self::Output>, Error>;
}

/// What a [`Flow`] asks of its driver next.
#[must_use]
#[derive(Debug)]
pub enum FlowStep<T> {
    /// Run this operation to its end, then call [`Flow::step`] with its [`Outcome`].
    Run(SubOperation),
    /// The flow is finished; this is its result.
    Done(T),
}

/// What an operation of a flow produced, handed back to [`Flow::step`] (opaque: only the
/// flow that asked for the operation reads it).
#[derive(Debug)]
pub struct Outcome(pub(crate) Produced);

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved out once per operation
pub(crate) enum Produced {
    Blob(BlobInfo),
    Alias(Box<AliasManifest>),
    Attached(Attached),
    /// An operation whose output the flow does not need (a pushed config, a `PUT`).
    Finished,
}

/// An operation of a flow, its output wrapped as an [`Outcome`]. It is an [`Operation`]
/// and [`Scoped`] like any other: run it as one.
pub struct SubOperation(Box<dyn Erased + Send>);

impl std::fmt::Debug for SubOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubOperation").finish_non_exhaustive()
    }
}

trait Erased: Operation<Output = Outcome> + Scoped {}
impl<T: Operation<Output = Outcome> + Scoped> Erased for T {}

/// `O` with its output wrapped.
struct Wrapped<O: Operation> {
    op: O,
    wrap: fn(O::Output) -> Produced,
}

impl SubOperation {
    pub(crate) fn new<O>(op: O, wrap: fn(O::Output) -> Produced) -> SubOperation
    where
        O: Operation + Scoped + Send + 'static,
    {
        SubOperation(Box::new(Wrapped { op, wrap }))
    }
}

impl<O: Operation + Scoped> Operation for Wrapped<O> {
    type Output = Outcome;

    fn poll(&mut self, now: UnixTime) -> Result<Step<Outcome>, Error> {
        Ok(match self.op.poll(now)? {
            Step::Done(out) => Step::Done(Outcome((self.wrap)(out))),
            Step::Send(req) => Step::Send(req),
            Step::NeedSource { max } => Step::NeedSource { max },
            Step::Wait(d) => Step::Wait(d),
        })
    }

    fn handle_response(
        &mut self,
        head: http::Response<()>,
        now: UnixTime,
    ) -> Result<BodyPlan, Error> {
        self.op.handle_response(head, now)
    }

    fn handle_body(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.op.handle_body(chunk)
    }

    fn handle_body_end(&mut self) -> Result<(), Error> {
        self.op.handle_body_end()
    }

    fn handle_send_failure(&mut self, now: UnixTime) -> Recovery {
        self.op.handle_send_failure(now)
    }

    fn handle_source(&mut self, data: &[u8]) -> Result<(), Error> {
        self.op.handle_source(data)
    }

    fn poll_session_event(&mut self) -> Option<SessionEvent> {
        self.op.poll_session_event()
    }

    fn cancel(&mut self) {
        self.op.cancel()
    }
}

impl<O: Operation + Scoped> Scoped for Wrapped<O> {
    fn scope(&self) -> Scope {
        self.op.scope()
    }
}

impl Operation for SubOperation {
    type Output = Outcome;

    fn poll(&mut self, now: UnixTime) -> Result<Step<Outcome>, Error> {
        self.0.poll(now)
    }

    fn handle_response(
        &mut self,
        head: http::Response<()>,
        now: UnixTime,
    ) -> Result<BodyPlan, Error> {
        self.0.handle_response(head, now)
    }

    fn handle_body(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.0.handle_body(chunk)
    }

    fn handle_body_end(&mut self) -> Result<(), Error> {
        self.0.handle_body_end()
    }

    fn handle_send_failure(&mut self, now: UnixTime) -> Recovery {
        self.0.handle_send_failure(now)
    }

    fn handle_source(&mut self, data: &[u8]) -> Result<(), Error> {
        self.0.handle_source(data)
    }

    fn poll_session_event(&mut self) -> Option<SessionEvent> {
        self.0.poll_session_event()
    }

    fn cancel(&mut self) {
        self.0.cancel()
    }
}

impl Scoped for SubOperation {
    fn scope(&self) -> Scope {
        self.0.scope()
    }
}

/// The error of a flow handed an outcome it did not ask for (a driver bug).
pub(crate) fn unexpected() -> Error {
    crate::error::Misuse::UnexpectedCall("a flow was handed an outcome it did not ask for").into()
}
