//! TLS and agent settings: root certificates (Mozilla's webpki roots by default, a CA bundle
//! file, or no verification), proxies from the environment, the interruptible TCP transport
//! ([`crate::transport`]) — and the transport rules the driver relies on (no automatic
//! redirects, statuses returned as responses). Timeouts are set per request by the driver,
//! from dxf-proto's [`Timeouts`](dxf_proto::Timeouts).

use std::path::PathBuf;
use std::sync::Arc;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, RustlsConnector};

use crate::error::{Error, Result};
use crate::transport::SlicedTcpConnector;

/// How to verify the registry's TLS certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsVerify {
    /// Against Mozilla's root certificates (bundled).
    #[default]
    WebPki,
    /// Against the certificates in this PEM bundle (`DXF_TLSVERIFY`, `REQUESTS_CA_BUNDLE`).
    CaBundle(PathBuf),
    /// Not at all (`DXF_SKIPTLSVERIFY=1`).
    Skip,
}

/// Transport settings (time bounds are [`Config::timeouts`](crate::Config::timeouts)).
#[derive(Clone, Debug, Default)]
pub struct TransportConfig {
    /// Certificate verification.
    pub tls: TlsVerify,
}

fn load_bundle(path: &PathBuf) -> Result<Vec<Certificate<'static>>> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::Tls(format!("cannot read CA bundle {}: {e}", path.display())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::Tls(format!(
                    "bad PEM in CA bundle {}: {e}",
                    path.display()
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "no certificates in CA bundle {}",
            path.display()
        )));
    }
    Ok(certs)
}

/// Builds the ureq agent. Redirects are never followed by ureq (dxf-proto decides, and
/// drops credentials across hosts) and non-2xx statuses come back as responses.
pub(crate) fn agent(config: &TransportConfig) -> Result<ureq::Agent> {
    let tls = match &config.tls {
        TlsVerify::WebPki => TlsConfig::builder().root_certs(RootCerts::WebPki).build(),
        TlsVerify::CaBundle(path) => TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(load_bundle(path)?)))
            .build(),
        TlsVerify::Skip => TlsConfig::builder().disable_verification(true).build(),
    };
    let settings = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .tls_config(tls)
        .proxy(ureq::Proxy::try_from_env())
        .max_idle_connections_per_host(16)
        .build();
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(SlicedTcpConnector)
            .chain(RustlsConnector::default());
    Ok(ureq::Agent::with_parts(
        settings,
        connector,
        DefaultResolver::default(),
    ))
}
