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
    /// The connection failed (DNS, TCP, TLS, timeout, truncated body…).
    #[error("{0}")]
    Transport(#[from] ureq::Error),
    /// Reading a local file or stream failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A TLS setting could not be applied (unreadable or empty CA bundle).
    #[error("TLS configuration: {0}")]
    Tls(String),
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
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
