//! TLS and agent settings: root certificates (Mozilla's webpki roots by default, a CA bundle
//! file, or no verification: [`TlsVerify`]), proxies from the environment ([`EnvProxies`],
//! as [`TransportConfig`] says), the interruptible
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
use ureq::config::Config as Settings;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs};
use ureq::unversioned::transport::time::{Duration as UreqDuration, Instant as UreqInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    Transport, TransportAdapter,
};

use crate::error::{Error, Result};
use crate::transport::SlicedTcpConnector;
use dxf_proto::client::{Proxies, Proxy, TransportConfig};

/// Builds the ureq agent. Redirects are never followed by ureq (dxf-proto decides, and
/// drops credentials across hosts) and non-2xx statuses come back as responses.
pub(crate) fn agent(config: &TransportConfig) -> Result<ureq::Agent> {
    let tls = dxf_tls::client_config(&config.tls).map_err(|e| Error::Tls(e.to_string()))?;
    let tls = TlsConnector {
        config: Arc::new(tls),
    };
    let settings = |proxy| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(proxy)
            .max_idle_connections_per_host(16)
            .build()
    };
    let proxies = EnvProxies::from_env(settings);
    // With a proxy set, ureq leaves host names to it (the proxy may be the only way to
    // resolve them); which proxy, if any, is `EnvProxies`'s choice per connection.
    let any = proxies.any();
    let connector = ().chain(proxies).chain(SlicedTcpConnector).chain(tls);
    Ok(ureq::Agent::with_parts(
        settings(any),
        connector,
        DefaultResolver::default(),
    ))
}

/// The environment's proxies, chosen per connection by dxf-proto's [`Proxies`] (ureq's own
/// `Proxy::try_from_env` takes one proxy for every scheme and matches `NO_PROXY` by other
/// rules): the first stage of the connector chain, making the tunnel with ureq's
/// [`ConnectProxyConnector`] or connecting directly.
#[derive(Debug)]
pub(crate) struct EnvProxies {
    rules: Proxies,
    /// The agent's settings with the proxy of http and https URLs.
    http: Option<Box<Settings>>,
    https: Option<Box<Settings>>,
    /// The agent's settings without a proxy: direct connections.
    direct: Settings,
}

impl EnvProxies {
    fn from_env(settings: impl Fn(Option<ureq::Proxy>) -> Settings) -> EnvProxies {
        let rules = Proxies::from_vars(|name| std::env::var(name).ok());
        let through = |scheme| match rules.for_scheme(scheme)? {
            Proxy::Connect { url, .. } | Proxy::Unsupported(url) => {
                Some(Box::new(settings(Some(ureq::Proxy::new(url).ok()?))))
            }
        };
        EnvProxies {
            http: through("http"),
            https: through("https"),
            direct: settings(None),
            rules,
        }
    }

    /// Some proxy of the environment, for the agent's own settings.
    fn any(&self) -> Option<ureq::Proxy> {
        [&self.https, &self.http]
            .into_iter()
            .find_map(|s| s.as_ref()?.proxy().cloned())
    }
}

/// `details` with other settings (and addresses).
fn rerouted<'a>(
    details: &ConnectionDetails<'a>,
    config: &'a Settings,
    addrs: ResolvedSocketAddrs,
) -> ConnectionDetails<'a> {
    ConnectionDetails {
        uri: details.uri,
        addrs,
        config,
        request_level: details.request_level,
        resolver: details.resolver,
        now: details.now,
        timeout: details.timeout,
        current_time: details.current_time.clone(),
        run_connector: details.run_connector.clone(),
        register_shutdown: details.register_shutdown.clone(),
    }
}

impl<In: Transport> Connector<In> for EnvProxies {
    type Out = Either<In, Box<dyn Transport>>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        // Made already, or a connection without a proxy (direct, or to the proxy itself):
        // the stages below make it.
        if chained.is_some() || details.config.proxy().is_none() {
            return Ok(chained.map(Either::A));
        }
        let scheme = details.uri.scheme_str().unwrap_or("http");
        let host = details.uri.host().unwrap_or_default();
        let through = match scheme {
            "https" => &self.https,
            _ => &self.http,
        };
        match (self.rules.for_target(scheme, host), through) {
            (Some(Proxy::Connect { .. }), Some(through)) => {
                let tunnel = rerouted(details, through, details.addrs.clone());
                return ConnectProxyConnector::default().connect(&tunnel, None);
            }
            (Some(Proxy::Unsupported(_)), _) => {
                return Err(ureq::Error::ConnectProxyFailed(
                    Proxy::UNSUPPORTED.to_owned(),
                ));
            }
            _ => {}
        }
        // Direct, though ureq left the name to a proxy.
        let addrs = if details.addrs.is_empty() {
            let resolver = details.resolver;
            resolver.resolve(details.uri, &self.direct, details.timeout)?
        } else {
            details.addrs.clone()
        };
        let direct = rerouted(details, &self.direct, addrs);
        Ok(Some(Either::B((details.run_connector)(&direct)?)))
    }
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
