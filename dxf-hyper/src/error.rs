//! What a dxf-hyper call fails with: the client [`Error`] both adapters share
//! ([`dxf_proto::client::Error`]); this file turns hyper's failures into its opaque
//! transport errors (a TLS failure as dxf-tls's one sentence).

use dxf_proto::client::TransportError;
pub(crate) use dxf_proto::client::{Error, Result};

/// [`Error::Transport`] for a request to `host` that hyper-util could not send or whose
/// response head did not arrive (DNS, TCP, TLS…).
pub(crate) fn transport(host: &str, e: hyper_util::client::legacy::Error) -> Error {
    let (message, tls) = match dxf_tls::TlsFailure::find(&e) {
        Some(failure) => (failure.to_string(), true),
        None => (chain(&e), false),
    };
    Error::Transport {
        host: host.to_owned(),
        source: TransportError::new(message, tls, e),
    }
}

/// [`Error::Transport`] for a response body from `host` that could not be read
/// (connection closed, malformed framing…).
pub(crate) fn body(host: &str, e: hyper::Error) -> Error {
    Error::Transport {
        host: host.to_owned(),
        source: TransportError::new(chain(&e), false, e),
    }
}

/// `e` and its sources, `: `-separated (hyper's own messages name only the stage).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
