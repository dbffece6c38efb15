//! [`Error`]: what a dxf-ureq call can fail with — the protocol core's typed errors, the
//! transport's, and local IO.

use std::io;

/// A dxf-ureq failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry conversation failed (status, auth, digest, protocol violation…).
    #[error(transparent)]
    Proto(#[from] dxf_proto::Error),
    /// The connection to `host` failed (DNS, TCP, TLS, timeout…); a TLS failure is one
    /// sentence naming the host and the setting that fixes it.
    #[error("{}", transport_message(.host, .source))]
    Transport {
        /// `host[:port]` of the request that failed.
        host: String,
        /// What ureq reported.
        source: ureq::Error,
    },
    /// `host` did not answer in time (see [`Timeouts`](dxf_proto::Timeouts)).
    #[error("{host}: {stall}")]
    TimedOut {
        /// `host[:port]` of the request that ran out of time.
        host: String,
        /// Which bound ran out.
        stall: dxf_proto::Stall,
    },
    /// Reading a local file or stream failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A TLS setting could not be applied (unreadable or empty CA bundle): a sentence that
    /// says what fixes it ([`dxf_tls::ConfigError`]'s message).
    #[error("TLS: {0}")]
    Tls(String),
    /// An [`Interrupt`](dxf_proto::Interrupt) stopped a resumable upload at a checkpoint:
    /// its registry session is kept for a later run (the last checkpoint reported).
    #[error("interrupted; the upload stopped at a checkpoint and can be resumed")]
    Stopped,
}

impl Error {
    /// The protocol error inside, if this is one — also when it travelled through an
    /// `io::Error` from a [`BlobReader`](crate::BlobReader).
    pub fn proto(&self) -> Option<&dxf_proto::Error> {
        match self {
            Error::Proto(e) => Some(e),
            Error::Io(e) => e.get_ref()?.downcast_ref::<dxf_proto::Error>(),
            _ => None,
        }
    }

    /// Whether this is a TLS failure: a CA bundle that cannot be used, or a TLS connection
    /// that failed (an untrusted certificate, a wrong name, a server that does not speak
    /// TLS…). Its message is a whole sentence naming the host and what fixes it.
    pub fn is_tls(&self) -> bool {
        match self {
            Error::Tls(_) => true,
            Error::Transport { source, .. } => crate::tls::ureq_tls_failure(source).is_some(),
            Error::Io(e) => dxf_tls::TlsFailure::find(e).is_some(),
            _ => false,
        }
    }
}

/// `host: ` and ureq's message without its `io: ` prefix; a TLS failure's own sentence,
/// which names the host.
fn transport_message(host: &str, e: &ureq::Error) -> String {
    if let Some(failure) = crate::tls::ureq_tls_failure(e) {
        return failure.to_string();
    }
    match e {
        ureq::Error::Io(io) => format!("{host}: connection error: {io}"),
        other => format!("{host}: {other}"),
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
