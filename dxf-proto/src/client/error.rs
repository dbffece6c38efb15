//! [`Error`]: what a client call (`dxf_ureq`, `dxf_hyper`) can fail with — the protocol's
//! typed errors, a transport failure (opaque: no HTTP client's type in the API), a time
//! bound that ran out, local IO, a TLS setting, or a resumable upload stopped.

use std::fmt;
use std::io;

use crate::timeouts::Stall;

/// A client failure, the same for every adapter.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The registry conversation failed (status, auth, digest, protocol violation…).
    Proto(crate::Error),
    /// The connection to `host` failed (DNS, TCP, TLS, a broken response…); a TLS failure
    /// is one sentence naming the host and the setting that fixes it.
    Transport {
        /// `host[:port]` of the request that failed.
        host: String,
        /// What the HTTP client reported.
        source: TransportError,
    },
    /// `host` did not answer in time (see [`Timeouts`](crate::Timeouts)).
    TimedOut {
        /// `host[:port]` of the request that ran out of time.
        host: String,
        /// Which bound ran out.
        stall: Stall,
    },
    /// Reading a local file or stream failed (or a pulled blob failed: the
    /// [`crate::Error`] inside, `io::ErrorKind::InvalidData`).
    Io(io::Error),
    /// A TLS setting could not be applied (unreadable or empty CA bundle): a sentence that
    /// says what fixes it.
    Tls(String),
    /// An [`Interrupt`](crate::Interrupt) stopped a resumable upload at a checkpoint: its
    /// registry session is kept for a later run (the last checkpoint reported).
    Stopped,
}

/// A failure of the HTTP client below an adapter, kept opaque: its message (for a TLS
/// failure, dxf-tls's one sentence), whether it is a TLS failure, and the original error
/// as the [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct TransportError {
    message: String,
    tls: bool,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl TransportError {
    /// Wraps the HTTP client's error: `message` is what to print (without the host, unless
    /// `tls`: a TLS failure's sentence names it), `tls` whether it is a TLS failure.
    pub fn new(
        message: String,
        tls: bool,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> TransportError {
        TransportError {
            message,
            tls,
            source: source.into(),
        }
    }

    /// Whether the connection failed in TLS (an untrusted certificate, a wrong name…).
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Proto(e) => e.fmt(f),
            Error::Transport { source, .. } if source.tls => source.fmt(f),
            Error::Transport { host, source } => write!(f, "{host}: {source}"),
            Error::TimedOut { host, stall } => write!(f, "{host}: {stall}"),
            Error::Io(e) => e.fmt(f),
            Error::Tls(e) => write!(f, "TLS: {e}"),
            Error::Stopped => {
                f.write_str("interrupted; the upload stopped at a checkpoint and can be resumed")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Proto(e) => e.source(),
            Error::Transport { source, .. } => Some(source),
            Error::Io(e) => e.source(),
            _ => None,
        }
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Error {
        Error::Proto(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<crate::ReferenceError> for Error {
    fn from(e: crate::ReferenceError) -> Error {
        Error::Proto(e.into())
    }
}

impl Error {
    /// The protocol error inside, if this is one — also when it travelled through an
    /// `io::Error` from a blob reader.
    pub fn proto(&self) -> Option<&crate::Error> {
        match self {
            Error::Proto(e) => Some(e),
            Error::Io(e) => e.get_ref()?.downcast_ref::<crate::Error>(),
            _ => None,
        }
    }

    /// Whether this is a TLS failure: a CA bundle that cannot be used, or a TLS connection
    /// that failed (an untrusted certificate, a wrong name, a server that does not speak
    /// TLS…). Its message is a whole sentence naming the host and what fixes it.
    pub fn is_tls(&self) -> bool {
        match self {
            Error::Tls(_) => true,
            Error::Transport { source, .. } => source.tls,
            Error::Io(e) => tls_in_chain(e),
            _ => false,
        }
    }
}

/// Whether a TLS failure is in `e`'s chain (looking inside `io::Error`s, whose `source`
/// skips the error they carry).
fn tls_in_chain(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<TransportError>() {
            return t.tls;
        }
        if let Some(client) = e.downcast_ref::<Error>() {
            return client.is_tls();
        }
        next = match e.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}

/// A local upload source (a file, a stream) that could not be read while its bytes were
/// being sent: the read error inside, named as the source's so that it is never taken for
/// the registry's connection failing.
#[derive(Debug)]
pub struct SourceReadError(io::Error);

impl fmt::Display for SourceReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reading the upload source: {}", self.0)
    }
}

impl std::error::Error for SourceReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// `e`, from reading the caller's upload source, as a [`SourceReadError`] of the same kind
/// (an error that already says what it is — a pulled blob that failed verification, a
/// cancellation — stays as it is). Drivers report it after the operation's cleanup.
pub fn source_read_error(e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<crate::Error>()) {
        return e;
    }
    io::Error::new(e.kind(), SourceReadError(e))
}

/// Result with the client [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_name_their_host_unless_tls_already_does() {
        let e = Error::Transport {
            host: "r.example:443".into(),
            source: TransportError::new("connection error: refused".into(), false, "refused"),
        };
        assert_eq!(e.to_string(), "r.example:443: connection error: refused");
        assert!(!e.is_tls());
        let e = Error::Transport {
            host: "r.example:443".into(),
            source: TransportError::new("r.example:443: untrusted".into(), true, "x"),
        };
        assert_eq!(e.to_string(), "r.example:443: untrusted");
        assert!(e.is_tls());
    }

    #[test]
    fn proto_errors_are_found_through_io_errors() {
        let e = Error::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            crate::Error::Cancelled,
        ));
        assert!(matches!(e.proto(), Some(crate::Error::Cancelled)));
    }
}
