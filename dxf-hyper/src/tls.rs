//! TLS and connection-pool settings: root certificates (Mozilla's webpki roots by default, a
//! CA bundle file, or no verification: [`TlsVerify`]), the connect timeout, and the
//! hyper-util pooled client the driver sends through (which never follows redirects:
//! dxf-proto decides).
//!
//! What is verified and how a TLS failure is worded is [`dxf_tls`]'s, shared with dxf-ureq:
//! this module gives its rustls configuration to hyper-rustls's connector and turns that
//! connector's failed handshakes into [`TlsFailure`]s.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use dxf_tls::TlsFailure;
use hyper::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_service::Service;

use crate::body::ReqBody;
use crate::error::{Error, Result};
use dxf_proto::client::TransportConfig;

/// The pooled client every request goes through.
pub(crate) type HttpClient = Client<TlsConnector, ReqBody>;

/// Most idle connections kept per host.
const MAX_IDLE_PER_HOST: usize = 32;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// hyper-rustls's connector, whose TLS failures it turns into [`TlsFailure`]s naming the
/// host and port connected to.
#[derive(Clone)]
pub(crate) struct TlsConnector(HttpsConnector<HttpConnector>);

/// A failed connection to `host`: a failed TLS handshake (hyper-rustls wraps the TLS
/// stream's IO error in another) becomes a [`TlsFailure`]; anything else (a refused or timed
/// out TCP connection) stays what it is.
fn name_failure(e: BoxError, host: &str) -> BoxError {
    let handshake = e
        .downcast_ref::<io::Error>()
        .and_then(|outer| outer.get_ref())
        .and_then(|inner| inner.downcast_ref::<io::Error>());
    match handshake.and_then(|io| TlsFailure::of_io(host, io, true)) {
        Some(failure) => Box::new(failure),
        None => e,
    }
}

impl Service<Uri> for TlsConnector {
    type Response = <HttpsConnector<HttpConnector> as Service<Uri>>::Response;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let host = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let connecting = self.0.call(uri);
        Box::pin(async move { connecting.await.map_err(|e| name_failure(e, &host)) })
    }
}

/// Builds the pooled HTTP/1.1 client (http and https URLs: the token realm may differ in
/// scheme from the registry; dxf-proto decides which are allowed).
pub(crate) fn client(config: &TransportConfig, connect: Option<Duration>) -> Result<HttpClient> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(connect);
    let tls = dxf_tls::client_config(&config.tls).map_err(|e| Error::Tls(e.to_string()))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .build(TlsConnector(https)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// hyper-rustls's failed handshake: an IO error carrying the TLS stream's.
    fn handshake_error(inner: io::Error) -> BoxError {
        Box::new(io::Error::other(inner))
    }

    #[test]
    fn failed_handshakes_are_named_failures() {
        let untrusted = handshake_error(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        let named = name_failure(untrusted, "localhost:5000");
        assert!(named
            .to_string()
            .starts_with("TLS: the certificate of localhost:5000 is not trusted (unknown issuer)"));
        let closed = handshake_error(io::ErrorKind::UnexpectedEof.into());
        let named = name_failure(closed, "h:1");
        assert!(TlsFailure::find(named.as_ref()).is_some());
        assert_eq!(
            named.to_string(),
            "TLS: h:1 closed the connection during the TLS handshake; if it serves plain http, \
             set DXF_INSECURE=1"
        );
        // A refused or timed out TCP connection stays what it is.
        let refused: BoxError = Box::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(TlsFailure::find(name_failure(refused, "h:1").as_ref()).is_none());
        let timed_out = handshake_error(io::ErrorKind::TimedOut.into());
        assert!(TlsFailure::find(name_failure(timed_out, "h:1").as_ref()).is_none());
    }

    #[test]
    fn an_unusable_bundle_is_a_tls_error() {
        let config = TransportConfig {
            tls: dxf_proto::client::TlsVerify::CaBundle("/nonexistent/ca.pem".into()),
        };
        let e = client(&config, None).map(drop).unwrap_err();
        assert!(matches!(e, Error::Tls(_)) && e.is_tls());
        assert!(
            e.to_string()
                .starts_with("TLS: cannot read CA bundle /nonexistent/ca.pem (No such file"),
            "{e}"
        );
    }
}
