//! The request/response plumbing every operation shares: [`Machine`] runs a [`Flow`] — the
//! operation-specific decisions — through the [`Operation`] call order, collects fed bodies
//! under their cap, turns statuses a flow does not expect into typed errors (keeping the
//! registry's OCI error entries), and makes errors sticky.
//!
//! Public operations are newtypes over `Machine<TheirFlow>`; [`delegate_operation!`] writes
//! their `Operation` and `Scoped` impls.

use http::{Method, StatusCode};

use crate::auth::Scope;
use crate::error::{Error, Misuse, OpKind};
use crate::operation::{BodyPlan, Recovery, Request, Step, UnixTime};
use crate::session::{SessionEvent, DEFAULT_ERROR_BODY};

/// What a flow wants after it has seen a response (or at the start).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // as `Step`: moved once, not worth a box
pub(crate) enum Next<T> {
    /// Send this request.
    Send(Request),
    /// Ask the driver for up to `max` source bytes.
    NeedSource { max: usize },
    /// Finished.
    Done(T),
}

/// What a flow wants done with the body of an expected response.
#[derive(Debug)]
pub(crate) enum HeadAction<T> {
    /// No body needed: `on_response` is called at once with an empty body.
    Discard,
    /// Read up to this many bytes, then `on_response`.
    Feed(u64),
    /// Leave the body to the driver; the operation ends with this output.
    Deliver(T),
}

/// The operation-specific part of an operation.
pub(crate) trait Flow {
    type Output;
    /// For error messages.
    fn kind(&self) -> OpKind;
    /// For the token server.
    fn scope(&self) -> Scope;
    /// The first step.
    fn start(&mut self) -> Result<Next<Self::Output>, Error>;
    /// Whether a response with this status is handled by the flow (others become errors).
    fn expects(&self, status: StatusCode) -> bool;
    /// The head of an expected response.
    fn on_head(
        &mut self,
        _head: &http::response::Parts,
    ) -> Result<HeadAction<Self::Output>, Error> {
        Ok(HeadAction::Discard)
    }
    /// A whole expected response.
    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<Self::Output>, Error>;
    /// Bytes from the stream source (empty at end).
    fn on_source(&mut self, _data: &[u8]) -> Result<Next<Self::Output>, Error> {
        Err(Misuse::UnexpectedCall("handle_source").into())
    }
    /// The last request got no response (see
    /// [`Operation::handle_send_failure`](crate::Operation::handle_send_failure)): the step
    /// that recovers, or `None` to give up.
    fn on_send_failure(&mut self) -> Option<Result<Next<Self::Output>, Error>> {
        None
    }
    /// Bytes of a [`Body::Stream`](crate::Body::Stream) request body, as they are sent.
    fn on_relay(&mut self, _data: &[u8]) -> Result<(), Error> {
        Err(Misuse::UnexpectedCall("handle_source").into())
    }
    /// Events for the session.
    fn poll_event(&mut self) -> Option<SessionEvent> {
        None
    }
    /// A request to send, best effort, before an error is reported (an upload cancels its
    /// session). Asked once per failure; its answer, whatever it is, is ignored.
    fn cleanup(&mut self) -> Option<Request> {
        None
    }
}

/// Marks a cleanup request (in its extensions): its answer is ignored, and authentication
/// does not challenge-and-retry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cleanup;

/// Marks a request whose refusal the flow answers itself (a mount tried from a cached
/// location: Harbor refuses one from a project the user cannot read with 401): a 401 that
/// authentication cannot fix goes to the flow instead of failing the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refusable;

#[derive(Debug)]
enum State<T> {
    Start,
    Ready(Next<T>),
    AwaitingHead {
        head_request: bool,
    },
    AwaitingSource {
        max: usize,
    },
    Reading {
        head: http::response::Parts,
        buf: Vec<u8>,
        limit: u64,
        expected: bool,
    },
    /// Send the cleanup request, then report the error.
    Cleanup {
        req: Request,
        error: Error,
    },
    /// The cleanup request is out; the error follows its answer.
    CleaningUp {
        error: Error,
    },
    Finished,
    Failed(Error),
}

/// Runs a [`Flow`] as an [`Operation`](crate::Operation).
#[derive(Debug)]
pub(crate) struct Machine<F: Flow> {
    pub(crate) flow: F,
    state: State<F::Output>,
}

impl<F: Flow> Machine<F> {
    pub(crate) fn new(flow: F) -> Machine<F> {
        Machine {
            flow,
            state: State::Start,
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.state = State::Failed(e.clone());
        e
    }

    fn guard<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        r.map_err(|e| self.fail(e))
    }

    /// Fails with `e`, unless the flow has a cleanup request: then that goes out first (the
    /// next `poll` yields it) and `e` is reported after its answer. `Err` when failed now.
    fn abort(&mut self, e: Error) -> Result<(), Error> {
        match self.flow.cleanup() {
            Some(mut req) => {
                req.extensions_mut().insert(Cleanup);
                self.state = State::Cleanup { req, error: e };
                Ok(())
            }
            None => Err(self.fail(e)),
        }
    }

    fn status_error(&self, head: &http::response::Parts, body: &[u8]) -> Error {
        Error::from_response(self.flow.kind(), head, body)
    }

    pub(crate) fn poll(&mut self, _now: UnixTime) -> Result<Step<F::Output>, Error> {
        loop {
            match std::mem::replace(&mut self.state, State::Finished) {
                State::Failed(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
                State::Start => {
                    let next = self.flow.start();
                    let next = self.guard(next)?;
                    self.state = State::Ready(next);
                }
                State::Ready(Next::Send(req)) => {
                    self.state = State::AwaitingHead {
                        head_request: req.method() == Method::HEAD,
                    };
                    return Ok(Step::Send(req));
                }
                State::Ready(Next::NeedSource { max }) => {
                    self.state = State::AwaitingSource { max };
                    return Ok(Step::NeedSource { max });
                }
                State::Ready(Next::Done(out)) => return Ok(Step::Done(out)),
                State::Cleanup { req, error } => {
                    self.state = State::CleaningUp { error };
                    return Ok(Step::Send(req));
                }
                State::Finished => {
                    return Err(self.fail(Misuse::PolledAfterDone.into()));
                }
                other => {
                    self.state = other;
                    return Err(self.fail(Misuse::UnexpectedCall("poll").into()));
                }
            }
        }
    }

    pub(crate) fn handle_response(
        &mut self,
        head: http::Response<()>,
        _now: UnixTime,
    ) -> Result<BodyPlan, Error> {
        let head_request = match std::mem::replace(&mut self.state, State::Finished) {
            State::AwaitingHead { head_request } => head_request,
            State::CleaningUp { error } => {
                self.state = State::Failed(error);
                return Ok(BodyPlan::Discard);
            }
            State::Failed(e) => {
                self.state = State::Failed(e.clone());
                return Err(e);
            }
            _ => return Err(self.fail(Misuse::UnexpectedCall("handle_response").into())),
        };
        let (parts, ()) = head.into_parts();
        if !self.flow.expects(parts.status) {
            if head_request {
                let e = self.status_error(&parts, &[]);
                return Err(self.fail(e));
            }
            self.state = State::Reading {
                head: parts,
                buf: Vec::new(),
                limit: DEFAULT_ERROR_BODY,
                expected: false,
            };
            return Ok(BodyPlan::Feed {
                limit: DEFAULT_ERROR_BODY,
            });
        }
        let action = match self.flow.on_head(&parts) {
            Ok(a) => a,
            Err(e) => return self.abort(e).map(|()| BodyPlan::Discard),
        };
        match action {
            HeadAction::Discard => {
                match self.flow.on_response(parts, Vec::new()) {
                    Ok(next) => self.state = State::Ready(next),
                    Err(e) => self.abort(e)?,
                }
                Ok(BodyPlan::Discard)
            }
            HeadAction::Feed(limit) => {
                self.state = State::Reading {
                    head: parts,
                    buf: Vec::new(),
                    limit,
                    expected: true,
                };
                Ok(BodyPlan::Feed { limit })
            }
            HeadAction::Deliver(out) => {
                self.state = State::Ready(Next::Done(out));
                Ok(BodyPlan::Deliver)
            }
        }
    }

    pub(crate) fn handle_body(&mut self, chunk: &[u8]) -> Result<(), Error> {
        match &mut self.state {
            State::Reading { buf, limit, .. } => {
                if buf.len() as u64 + chunk.len() as u64 > *limit {
                    let limit = *limit;
                    return Err(self.fail(Error::BodyTooLarge { limit }));
                }
                buf.extend_from_slice(chunk);
                Ok(())
            }
            State::Failed(e) => Err(e.clone()),
            _ => Err(self.fail(Misuse::UnexpectedCall("handle_body").into())),
        }
    }

    pub(crate) fn handle_body_end(&mut self) -> Result<(), Error> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Reading {
                head,
                buf,
                expected: true,
                ..
            } => {
                match self.flow.on_response(head, buf) {
                    Ok(next) => self.state = State::Ready(next),
                    Err(e) => self.abort(e)?,
                }
                Ok(())
            }
            State::Reading {
                head,
                buf,
                expected: false,
                ..
            } => {
                let e = self.status_error(&head, &buf);
                self.abort(e)
            }
            State::Failed(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
            _ => Err(self.fail(Misuse::UnexpectedCall("handle_body_end").into())),
        }
    }

    pub(crate) fn handle_source(&mut self, data: &[u8]) -> Result<(), Error> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::AwaitingSource { max } => {
                if data.len() > max {
                    return Err(self.fail(
                        Misuse::SourceOverrun {
                            max,
                            got: data.len(),
                        }
                        .into(),
                    ));
                }
                match self.flow.on_source(data) {
                    Ok(next) => self.state = State::Ready(next),
                    Err(e) => self.abort(e)?,
                }
                Ok(())
            }
            State::AwaitingHead { head_request } => {
                self.state = State::AwaitingHead { head_request };
                match self.flow.on_relay(data) {
                    Ok(()) => Ok(()),
                    // The request is abandoned: its cleanup (if any) is the next step,
                    // then this error.
                    Err(e) => {
                        self.abort(e.clone())?;
                        Err(e)
                    }
                }
            }
            State::Failed(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
            _ => Err(self.fail(Misuse::UnexpectedCall("handle_source").into())),
        }
    }

    pub(crate) fn handle_send_failure(&mut self, _now: UnixTime) -> Recovery {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::AwaitingHead { .. } => match self.flow.on_send_failure() {
                Some(Ok(next)) => {
                    self.state = State::Ready(next);
                    Recovery::Retry
                }
                Some(Err(e)) => {
                    self.fail(e);
                    Recovery::GiveUp
                }
                None => {
                    self.fail(Misuse::UnexpectedCall("poll after giving up").into());
                    Recovery::GiveUp
                }
            },
            // The cleanup request got no answer: report the error it was sent for.
            State::CleaningUp { error } => {
                self.state = State::Failed(error);
                Recovery::Retry
            }
            other => {
                self.state = other;
                self.fail(Misuse::UnexpectedCall("handle_send_failure").into());
                Recovery::GiveUp
            }
        }
    }

    pub(crate) fn poll_session_event(&mut self) -> Option<SessionEvent> {
        self.flow.poll_event()
    }

    pub(crate) fn cancel(&mut self) {
        match std::mem::replace(&mut self.state, State::Finished) {
            // Ended, or failed and its cleanup not sent yet: nothing changes.
            s @ (State::Failed(_)
            | State::Finished
            | State::Ready(Next::Done(_))
            | State::Cleanup { .. }) => self.state = s,
            // Its cleanup request abandoned in flight: the error it was failing with.
            State::CleaningUp { error } => self.state = State::Failed(error),
            _ => {
                let _ = self.abort(Error::Cancelled);
            }
        }
    }
}

/// Implements [`Operation`](crate::Operation) and [`Scoped`](crate::Scoped) for a newtype
/// `struct Name(Machine<SomeFlow>)`.
macro_rules! delegate_operation {
    ($name:ident, $output:ty) => {
        impl $crate::operation::Operation for $name {
            type Output = $output;
            fn poll(
                &mut self,
                now: $crate::operation::UnixTime,
            ) -> Result<$crate::operation::Step<$output>, $crate::error::Error> {
                self.0.poll(now)
            }
            fn handle_response(
                &mut self,
                head: http::Response<()>,
                now: $crate::operation::UnixTime,
            ) -> Result<$crate::operation::BodyPlan, $crate::error::Error> {
                self.0.handle_response(head, now)
            }
            fn handle_body(&mut self, chunk: &[u8]) -> Result<(), $crate::error::Error> {
                self.0.handle_body(chunk)
            }
            fn handle_body_end(&mut self) -> Result<(), $crate::error::Error> {
                self.0.handle_body_end()
            }
            fn handle_source(&mut self, data: &[u8]) -> Result<(), $crate::error::Error> {
                self.0.handle_source(data)
            }
            fn handle_send_failure(
                &mut self,
                now: $crate::operation::UnixTime,
            ) -> $crate::operation::Recovery {
                self.0.handle_send_failure(now)
            }
            fn poll_session_event(&mut self) -> Option<$crate::session::SessionEvent> {
                self.0.poll_session_event()
            }
            fn cancel(&mut self) {
                self.0.cancel()
            }
        }
        impl $crate::auth::Scoped for $name {
            fn scope(&self) -> $crate::auth::Scope {
                $crate::exchange::Flow::scope(&self.0.flow)
            }
        }
    };
}
pub(crate) use delegate_operation;
