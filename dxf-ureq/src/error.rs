//! What a dxf-ureq call fails with: the client [`Error`] both adapters share
//! ([`dxf_proto::client::Error`]); this file turns ureq's failures into its opaque
//! transport errors (a TLS failure as dxf-tls's one sentence).

use dxf_proto::client::TransportError;
pub(crate) use dxf_proto::client::{Error, Result};

/// [`Error::Transport`] for ureq's failure `e` of a request to `host`.
pub(crate) fn transport(host: String, e: ureq::Error) -> Error {
    let (message, tls) = match crate::tls::ureq_tls_failure(&e) {
        Some(failure) => (failure.to_string(), true),
        // ureq's message without its `io: ` prefix.
        None => match &e {
            ureq::Error::Io(io) => (format!("connection error: {io}"), false),
            other => (other.to_string(), false),
        },
    };
    Error::Transport {
        host,
        source: TransportError::new(message, tls, e),
    }
}
