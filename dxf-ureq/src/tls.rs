//! TLS and agent settings: root certificates (Mozilla's webpki roots by default, a CA bundle
//! file, or no verification: [`TlsVerify`]), proxies from the environment, the interruptible
//! TCP transport ([`crate::transport`]) with dxf's own TLS stage over it ([`TlsConnector`]) —
//! and the transport rules the driver relies on (no automatic redirects, statuses returned
//! as responses). Timeouts are set per request by the driver, from dxf-proto's
//! [`Timeouts`](dxf_proto::Timeouts).
//!
//! What is verified and how a TLS failure is worded is [`dxf_tls`]'s, shared with
//! dxf-hyper: this module puts its rustls configuration into ureq's connector chain and its
//! [`TlsFailure`]s into ureq's errors.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use dxf_tls::TlsFailure;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::time::{Duration as UreqDuration, Instant as UreqInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    Transport, TransportAdapter,
};

use crate::error::{Error, Result};
use crate::transport::SlicedTcpConnector;
use dxf_proto::client::TransportConfig;

/// Builds the ureq agent. Redirects are never followed by ureq (dxf-proto decides, and
/// drops credentials across hosts) and non-2xx statuses come back as responses.
pub(crate) fn agent(config: &TransportConfig) -> Result<ureq::Agent> {
    let tls = dxf_tls::client_config(&config.tls).map_err(|e| Error::Tls(e.to_string()))?;
    let tls = TlsConnector {
        config: Arc::new(tls),
    };
    let settings = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .proxy(ureq::Proxy::try_from_env())
        .max_idle_connections_per_host(16)
        .build();
    let connector = ().chain(ConnectProxyConnector::default()).chain(SlicedTcpConnector).chain(tls);
    Ok(ureq::Agent::with_parts(
        settings,
        connector,
        DefaultResolver::default(),
    ))
}

/// The [`TlsFailure`] in a ureq error (which has no `source`).
pub(crate) fn ureq_tls_failure(e: &ureq::Error) -> Option<&TlsFailure> {
    match e {
        ureq::Error::Io(io) => TlsFailure::find(io),
        _ => None,
    }
}

/// The TLS stage of the connector chain: rustls over the transport below it, verified as
/// [`dxf_tls::client_config`] says; its failures are [`TlsFailure`]s (in an [`io::Error`]).
#[derive(Debug)]
pub(crate) struct TlsConnector {
    config: Arc<ClientConfig>,
}

/// What is left of the connect timeout that started at `details.now`.
fn remaining(details: &ConnectionDetails) -> NextTimeout {
    let mut timeout = details.timeout;
    if let (UreqDuration::Exact(limit), UreqInstant::Exact(start), UreqInstant::Exact(now)) =
        (timeout.after, details.now, (details.current_time)())
    {
        timeout.after =
            UreqDuration::Exact(limit.saturating_sub(now.saturating_duration_since(start)));
    }
    timeout
}

/// An IO error of the TLS stream to `host`: a rustls error becomes a [`TlsFailure`];
/// anything else (timeouts, interrupts) stays what it is.
fn stream_error(host: &str, e: io::Error, handshaking: bool) -> ureq::Error {
    match TlsFailure::of_io(host, &e, handshaking) {
        Some(failure) => ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidData, failure)),
        None => ureq::Error::from(e),
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .authority()
            .map(|a| a.as_str())
            .unwrap_or_default()
            .to_owned();
        let bare = details.uri.host().unwrap_or_default();
        let bare = bare
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(bare);
        let failed =
            |failure| ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidInput, failure));
        let name = ServerName::try_from(bare.to_owned())
            .map_err(|_| failed(TlsFailure::bad_name(&host)))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)
            .map_err(|e| failed(TlsFailure::new(&host, &e, true)))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(remaining(details));
        conn.complete_io(&mut sock)
            .map_err(|e| stream_error(&host, e, true))?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned::new(conn, sock),
            host,
        })))
    }
}

/// A TLS connection made by [`TlsConnector`].
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
    /// `host[:port]`, for errors.
    host: String,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("host", &self.host)
            .field("chained", &self.stream.sock.inner())
            .finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = self.buffers.output().get(..amount).unwrap_or_default();
        self.stream
            .write_all(output)
            .map_err(|e| stream_error(&self.host, e, false))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self
            .stream
            .read(input)
            .map_err(|e| stream_error(&self.host, e, false))?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_found_wherever_they_travelled() {
        let failure = || TlsFailure::new("h:1", &rustls::Error::DecryptError, false);
        let wrapped = ureq::Error::Io(io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            failure(),
        )));
        assert!(ureq_tls_failure(&wrapped).is_some());
        assert!(ureq_tls_failure(&ureq::Error::ConnectionFailed).is_none());
        let e = crate::error::transport(
            "h:1".into(),
            ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidData, failure())),
        );
        assert!(e.is_tls());
        assert_eq!(
            e.to_string(),
            "TLS: h:1 broke the TLS protocol (a message that cannot be decrypted)"
        );
        let plain = crate::error::transport("h:1".into(), ureq::Error::ConnectionFailed);
        assert!(!plain.is_tls());
        assert_eq!(plain.to_string(), "h:1: connection failed");
    }

    #[test]
    fn a_stream_error_is_a_failure_only_when_it_carries_one() {
        let eof = || io::Error::from(io::ErrorKind::UnexpectedEof);
        let closed = stream_error("h:1", eof(), true);
        assert_eq!(
            ureq_tls_failure(&closed).unwrap().to_string(),
            "TLS: h:1 closed the connection during the TLS handshake; if it serves plain http, \
             set DXF_INSECURE=1"
        );
        assert!(ureq_tls_failure(&stream_error("h:1", eof(), false)).is_none());
        let timed_out = stream_error("h:1", io::ErrorKind::TimedOut.into(), true);
        assert!(ureq_tls_failure(&timed_out).is_none());
    }

    #[test]
    fn an_unusable_bundle_is_a_tls_error() {
        let tls = dxf_proto::client::TlsVerify::CaBundle("/nonexistent/ca.pem".into());
        let Err(e) = agent(&TransportConfig { tls }) else {
            panic!("a missing bundle is an error")
        };
        assert!(e.is_tls());
        assert_eq!(
            e.to_string(),
            "TLS: cannot read CA bundle /nonexistent/ca.pem (No such file or directory); set \
             DXF_TLSVERIFY (or REQUESTS_CA_BUNDLE) to a PEM file of CA certificates"
        );
    }
}
