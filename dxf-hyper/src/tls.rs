//! TLS and connection-pool settings: root certificates (Mozilla's webpki roots by default, a
//! CA bundle file, or no verification: [`TlsVerify`]), proxies from the environment (CONNECT
//! tunnels: [`TransportConfig`]), the connect timeout, and the hyper-util pooled client the
//! driver sends through (which never follows redirects: dxf-proto decides).
//!
//! What is verified and how a TLS failure is worded is [`dxf_tls`]'s, shared with dxf-ureq:
//! this module gives its rustls configuration to hyper-rustls's connector and turns that
//! connector's failed handshakes into [`TlsFailure`]s.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use dxf_tls::TlsFailure;
use hyper::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_service::Service;

use crate::body::ReqBody;
use crate::error::{Error, Result};
use dxf_proto::client::{Proxies, Proxy, TransportConfig};
use hyper::header::HeaderValue;

/// The pooled client every request goes through.
pub(crate) type HttpClient = Client<TlsConnector, ReqBody>;

/// Most idle connections kept per host.
const MAX_IDLE_PER_HOST: usize = 32;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection the destination's TLS (if any) goes over: TCP to the destination, or a
/// tunnel through a proxy (over TLS to an `https://` proxy).
type Route = MaybeHttpsStream<<HttpConnector as Service<Uri>>::Response>;

/// hyper-rustls's connector over [`Router`], whose TLS failures it turns into
/// [`TlsFailure`]s naming the host and port connected to.
#[derive(Clone)]
pub(crate) struct TlsConnector(HttpsConnector<Router>);

/// Connects to a destination directly or, when the environment names a proxy for it,
/// through a `CONNECT` tunnel (see [`TransportConfig`]).
#[derive(Clone)]
pub(crate) struct Router {
    tcp: HttpConnector,
    /// TCP, or TLS for an `https://` proxy, to the proxy.
    to_proxy: HttpsConnector<HttpConnector>,
    /// dxf-proto's choice of proxy per connection.
    proxies: Arc<Proxies>,
    /// Bounds the tunnel's set-up (TCP to the proxy and its answer to `CONNECT`).
    connect: Option<Duration>,
}

/// A tunnel through `proxy` that could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("proxy {proxy}")]
struct ProxyFailure {
    proxy: String,
    #[source]
    source: BoxError,
}

impl Service<Uri> for Router {
    type Response = Route;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Route, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        // Both connectors are always ready (so are the tunnels made over `to_proxy`).
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let scheme = dst.scheme_str().unwrap_or("http");
        let Some(via) = self
            .proxies
            .for_target(scheme, dst.host().unwrap_or_default())
        else {
            let direct = self.tcp.call(dst);
            return Box::pin(async move { Ok(MaybeHttpsStream::Http(direct.await?)) });
        };
        let (Proxy::Connect { url, .. } | Proxy::Unsupported(url)) = via;
        let proxy_uri = url.parse::<Uri>();
        let proxy = proxy_uri
            .as_ref()
            .ok()
            .and_then(|u| u.authority())
            .map_or_else(String::new, |a| a.to_string());
        let failed = move |source: BoxError| -> BoxError {
            // A failed handshake with an https:// proxy: a TLS failure like any other.
            let handshake = source.source().and_then(|e| handshake_failure(e, &proxy));
            match handshake {
                Some(failure) => Box::new(failure),
                None => Box::new(ProxyFailure {
                    proxy: proxy.clone(),
                    source,
                }),
            }
        };
        let (Proxy::Connect { authorization, .. }, Ok(proxy_uri)) = (via, proxy_uri) else {
            // SOCKS, or a URL hyper cannot take.
            return Box::pin(async move { Err(failed(Proxy::UNSUPPORTED.into())) });
        };
        let mut tunnel = Tunnel::new(proxy_uri, self.to_proxy.clone());
        if let Some(auth) = authorization
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            tunnel = tunnel.with_auth(auth);
        }
        // The tunnel's target with its port (hyper-util's would default to 443).
        let port = dst.port_u16().unwrap_or(match dst.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        let target = format!("http://{}:{port}/", dst.host().unwrap_or_default()).parse::<Uri>();
        let connect = self.connect;
        Box::pin(async move {
            let tunnelling = tunnel.call(target.map_err(|e| failed(e.into()))?);
            let tunnelled = match connect {
                Some(limit) => tokio::time::timeout(limit, tunnelling)
                    .await
                    .map_err(|_| failed(io::Error::from(io::ErrorKind::TimedOut).into()))?,
                None => tunnelling.await,
            };
            tunnelled.map_err(|e| failed(e.into()))
        })
    }
}

/// A failed connection to `host`: a failed TLS handshake (hyper-rustls wraps the TLS
/// stream's IO error in another) becomes a [`TlsFailure`]; anything else (a refused or timed
/// out TCP connection) stays what it is.
fn name_failure(e: BoxError, host: &str) -> BoxError {
    match handshake_failure(e.as_ref(), host) {
        Some(failure) => Box::new(failure),
        None => e,
    }
}

/// The [`TlsFailure`] in hyper-rustls's error `e` for `host`, if it is a failed handshake.
fn handshake_failure(e: &(dyn std::error::Error + 'static), host: &str) -> Option<TlsFailure> {
    let io = e.downcast_ref::<io::Error>()?.get_ref()?;
    TlsFailure::of_io(host, io.downcast_ref::<io::Error>()?, true)
}

impl Service<Uri> for TlsConnector {
    type Response = <HttpsConnector<Router> as Service<Uri>>::Response;
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

/// hyper-rustls's connector over `inner`: TLS to https URLs, plain http as it is.
fn with_tls<C>(tls: rustls::ClientConfig, inner: C) -> HttpsConnector<C> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(inner)
}

/// Builds the pooled HTTP/1.1 client (http and https URLs: the token realm may differ in
/// scheme from the registry; dxf-proto decides which are allowed), with the environment's
/// proxies.
pub(crate) fn client(config: &TransportConfig, connect: Option<Duration>) -> Result<HttpClient> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(connect);
    let tls = dxf_tls::client_config(&config.tls).map_err(|e| Error::Tls(e.to_string()))?;
    let router = Router {
        tcp: http.clone(),
        to_proxy: with_tls(tls.clone(), http),
        proxies: Arc::new(Proxies::from_vars(|name| std::env::var(name).ok())),
        connect,
    };
    let https = with_tls(tls, router);
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
