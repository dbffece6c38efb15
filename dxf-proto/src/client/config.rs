//! What a client is configured with ([`Config`], [`TransportConfig`], [`TlsVerify`]) and the
//! [`Session`] it starts from: plain data, the same for every adapter, so `dxf_ureq::Config`
//! and `dxf_hyper::Config` are one type and mean one thing.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::retry::RetryPolicy;
use crate::session::{Credentials, Limits, Scheme, Session, DEFAULT_USER_AGENT};
use crate::timeouts::Timeouts;

/// How to verify the registry's TLS certificate (the adapters apply it with `dxf-tls`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsVerify {
    /// Against Mozilla's root certificates (bundled).
    #[default]
    WebPki,
    /// Against the certificates in this PEM bundle (`DXF_TLSVERIFY`, `REQUESTS_CA_BUNDLE`):
    /// as roots, and each as a server certificate accepted as it is (a pin).
    CaBundle(PathBuf),
    /// Not at all (`DXF_SKIPTLSVERIFY=1`).
    Skip,
}

/// Connection settings (time bounds are [`Config::timeouts`]).
///
/// Proxies come from the environment, read when a client is made, the same way in
/// dxf-ureq and dxf-hyper and as curl and python-dxf's requests choose them: an `https://`
/// URL goes through `HTTPS_PROXY`, a plain `http://` one through `HTTP_PROXY`, either
/// falling back to `ALL_PROXY` (each also lowercase; the uppercase name wins when both are
/// set), unless `NO_PROXY` covers the host — a comma-separated list of names
/// (`example.com`, `.example.com` and `*.example.com` each cover it and its subdomains), IP
/// addresses, CIDR blocks (`10.0.0.0/8`), or `*` for every host. The proxy URL is
/// `http://` (or `https://`, then TLS to the proxy too, verified like the registry) with
/// optional `user:password@` sent as `Proxy-Authorization: Basic`; every connection through
/// it is a `CONNECT` tunnel, plain-http registries included (requests would send those
/// requests to the proxy in absolute form instead); a SOCKS proxy is an error, not a direct
/// connection. With `REQUEST_METHOD` set (a CGI script), no proxy is used.
#[derive(Clone, Debug, Default)]
pub struct TransportConfig {
    /// Certificate verification.
    pub tls: TlsVerify,
}

/// How to reach and authenticate to a registry (python-dxf's `DXF_*` settings).
#[derive(Clone, Debug)]
pub struct Config {
    /// `host[:port]` (`DXF_HOST`).
    pub host: String,
    /// Plain http instead of https (`DXF_INSECURE=1`).
    pub insecure: bool,
    /// Credentials (`DXF_USERNAME`/`DXF_PASSWORD` or `DXF_AUTHORIZATION`).
    pub credentials: Credentials,
    /// Replaces the token realm's host (`DXF_AUTH_HOST`).
    pub auth_host: Option<String>,
    /// A bearer token used as-is (`DXF_TOKEN`).
    pub token: Option<String>,
    /// Send credentials and tokens even over plain http (refused by default).
    pub allow_credentials_over_http: bool,
    /// TLS verification.
    pub transport: TransportConfig,
    /// Time bounds on every network wait (`DXF_TIMEOUT`; default: 30 s to connect, 60 s
    /// for a response and between bytes, see [`Timeouts`]).
    pub timeouts: Timeouts,
    /// Chunk size for chunked and streamed uploads (`None`: dxf-proto's default).
    pub chunk_size: Option<u64>,
    /// Retries of idempotent requests after transient failures (`DXF_RETRIES`).
    pub retries: RetryPolicy,
    /// Raised to give this registry's transfers up (Ctrl-C, a sibling transfer failed): see
    /// [`Interrupt`]. Uploads cancel their sessions; a resumable one (with an
    /// `on_checkpoint` callback) stops at its next checkpoint on [`Interrupt::stop`].
    pub interrupt: Interrupt,
    /// Called with everything the client does on the wire (`DXF_DEBUG=1`, `dxf --debug`):
    /// requests, responses, retries, waits, token fetches, strategy changes — secrets
    /// redacted (see [`TraceEvent`](super::TraceEvent)). Route it to `log` or `tracing`.
    pub trace: Option<super::Trace>,
    /// Where blobs were seen (`DXF_CACHE`; the `dxf-cache` crate keeps it in a file):
    /// every blob the client sees exist is recorded, and an upload of a blob the target
    /// repository lacks is first tried as a cross-repository mount from the newest other
    /// repository of this registry known to hold it (one request at most when the entry is
    /// stale: a refused mount drops it and the upload goes on). `None`: no cache.
    pub blob_cache: Option<crate::BlobCache>,
}

impl Config {
    /// Defaults for `host`: https, anonymous, webpki roots.
    pub fn new(host: &str) -> Config {
        Config {
            host: host.to_owned(),
            insecure: false,
            credentials: Credentials::None,
            auth_host: None,
            token: None,
            allow_credentials_over_http: false,
            transport: TransportConfig::default(),
            timeouts: Timeouts::default(),
            chunk_size: None,
            retries: RetryPolicy::default(),
            interrupt: Interrupt::new(),
            trace: None,
            blob_cache: None,
        }
    }

    /// The [`SharedSession`](super::SharedSession) a client and its clones start with: the
    /// [`session`](Self::session), reporting to the [`trace`](Self::trace).
    pub fn shared_session<L: Default>(&self) -> Result<super::SharedSession<L>, Error> {
        Ok(super::SharedSession::new(self.session()?).with_trace(self.trace.clone()))
    }

    /// The session a client of this registry starts with: scheme, credentials, auth host,
    /// preset token, limits (retries, timeouts, chunk size), dxf's `User-Agent`, and a
    /// retry-jitter seed that differs between clients and processes.
    pub fn session(&self) -> Result<Session, Error> {
        let scheme = if self.insecure {
            Scheme::Http
        } else {
            Scheme::Https
        };
        let mut limits = Limits {
            retry: self.retries,
            timeouts: self.timeouts,
            ..Limits::default()
        };
        if let Some(c) = self.chunk_size {
            limits.chunk_size = c.max(1);
        }
        let mut session = Session::new(&self.host, scheme)?
            .with_jitter_seed(unique_u64())
            .with_credentials(self.credentials.clone())
            .with_auth_host(self.auth_host.clone())
            .with_credentials_over_http(self.allow_credentials_over_http)
            .with_user_agent(DEFAULT_USER_AGENT)
            .with_limits(limits)
            .with_blob_cache(self.blob_cache.clone());
        session.set_token(self.token.clone());
        Ok(session)
    }
}

/// A number that differs between calls and between processes (the standard library's
/// per-process random hash keys over a counter): retry jitter seeds, throw-away tag names.
pub(crate) fn unique_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_carries_every_setting() {
        let mut config = Config::new("registry.example:5000");
        config.insecure = true;
        config.chunk_size = Some(0);
        config.credentials = Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        config.allow_credentials_over_http = true;
        let s = config.session().unwrap();
        assert_eq!(s.base_url().as_str(), "http://registry.example:5000/");
        assert_eq!(s.limits().chunk_size, 1, "a zero chunk size is one byte");
        assert_eq!(s.credentials(), &config.credentials);
        assert!(s.allows_plain_http_credentials());
        assert_eq!(s.user_agent(), DEFAULT_USER_AGENT);
    }

    #[test]
    fn jitter_seeds_differ_between_clients() {
        let config = Config::new("r.example");
        let a = config.session().unwrap().jitter_seed();
        let b = config.session().unwrap().jitter_seed();
        assert_ne!(a, b);
    }
}
