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
use crate::operation::{BodyPlan, Request, Step, UnixTime};
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
    /// Bytes of a [`Body::Stream`](crate::Body::Stream) request body, as they are sent.
    fn on_relay(&mut self, _data: &[u8]) -> Result<(), Error> {
        Err(Misuse::UnexpectedCall("handle_source").into())
    }
    /// Events for the session.
    fn poll_event(&mut self) -> Option<SessionEvent> {
        None
    }
}

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

    fn status_error(&self, head: &http::response::Parts, body: &[u8]) -> Error {
        Error::from_status(self.flow.kind(), head.status, body)
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
        let action = self.flow.on_head(&parts);
        match self.guard(action)? {
            HeadAction::Discard => {
                let next = self.flow.on_response(parts, Vec::new());
                self.state = State::Ready(self.guard(next)?);
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
                let next = self.flow.on_response(head, buf);
                self.state = State::Ready(self.guard(next)?);
                Ok(())
            }
            State::Reading {
                head,
                buf,
                expected: false,
                ..
            } => {
                let e = self.status_error(&head, &buf);
                Err(self.fail(e))
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
                let next = self.flow.on_source(data);
                self.state = State::Ready(self.guard(next)?);
                Ok(())
            }
            State::AwaitingHead { head_request } => {
                self.state = State::AwaitingHead { head_request };
                let r = self.flow.on_relay(data);
                self.guard(r)
            }
            State::Failed(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
            _ => Err(self.fail(Misuse::UnexpectedCall("handle_source").into())),
        }
    }

    pub(crate) fn poll_session_event(&mut self) -> Option<SessionEvent> {
        self.flow.poll_event()
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
            fn poll_session_event(&mut self) -> Option<$crate::session::SessionEvent> {
                self.0.poll_session_event()
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
