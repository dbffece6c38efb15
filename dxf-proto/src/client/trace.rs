//! [`Trace`]: what a client does on the wire, as events, for `dxf --debug` and for an
//! embedder's own logging. [`Run`](super::Run) emits them — every request and response,
//! body sizes and times, lost requests, retries and waits, token fetches, what the session
//! learned (strategy changes) and interrupts — so both adapters report the same things
//! and only forward the hook. Secrets never reach an event: `Authorization` and cookies
//! are not among the headers shown, bodies are never shown (token responses included), and
//! every query parameter of a URL that is not one of the registry API's own (`n`, `last`,
//! `digest`, `mount`, `from`, `service`, `scope`, `artifactType`) has its value redacted —
//! the signatures of pre-signed redirect URLs (`X-Amz-Signature`, `sig`, `se`,
//! `X-Goog-Signature`…) and upload session state alike.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

/// The value shown for what is redacted.
pub const REDACTED: &str = "REDACTED";

/// Query parameters of the registry API, shown as they are.
const SAFE_PARAMS: [&str; 8] = [
    "n",
    "last",
    "digest",
    "mount",
    "from",
    "service",
    "scope",
    "artifactType",
];

/// Headers shown in request and response events; no other.
const SHOWN_HEADERS: [&str; 11] = [
    "location",
    "range",
    "content-range",
    "content-length",
    "content-type",
    "docker-content-digest",
    "docker-upload-uuid",
    "www-authenticate",
    "retry-after",
    "link",
    "accept",
];

/// One thing the client did or saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A request is sent (`token`: to the token realm).
    Request {
        /// `GET`, `PUT`…
        method: String,
        /// The URL, redacted.
        url: String,
        /// The headers that matter, redacted.
        headers: Vec<(String, String)>,
        /// Body bytes, when known before sending.
        body: Option<u64>,
        /// A token request.
        token: bool,
    },
    /// Its response's head arrived.
    Response {
        /// Status code.
        status: u16,
        /// The headers that matter, redacted.
        headers: Vec<(String, String)>,
        /// Since the request was sent.
        elapsed: Duration,
    },
    /// A response body the operation read was read to its end.
    Body {
        /// Its size.
        bytes: u64,
        /// Since the request was sent.
        elapsed: Duration,
    },
    /// The request got no response.
    NoResponse {
        /// Why (the transport's error, or the caller's source).
        error: String,
    },
    /// Waiting before trying again.
    Wait(Duration),
    /// A token fetched by another operation meanwhile is used instead of fetching one.
    TokenShared,
    /// The session learned something that changes later requests.
    Learned(String),
    /// The caller interrupted the run.
    Interrupted,
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers = |f: &mut fmt::Formatter<'_>, headers: &[(String, String)]| {
            headers
                .iter()
                .try_for_each(|(name, value)| write!(f, " [{name}: {value}]"))
        };
        match self {
            TraceEvent::Request {
                method,
                url,
                headers: h,
                body,
                token,
            } => {
                write!(f, "> {method} {url}")?;
                if *token {
                    f.write_str(" (token request)")?;
                }
                if let Some(n) = body {
                    write!(f, " ({n} bytes)")?;
                }
                headers(f, h)
            }
            TraceEvent::Response {
                status,
                headers: h,
                elapsed,
            } => {
                write!(f, "< {status} ({} ms)", elapsed.as_millis())?;
                headers(f, h)
            }
            TraceEvent::Body { bytes, elapsed } => {
                write!(f, "< body: {bytes} bytes ({} ms)", elapsed.as_millis())
            }
            TraceEvent::NoResponse { error } => write!(f, "! no response: {error}"),
            TraceEvent::Wait(d) => write!(f, "… waiting {} ms before trying again", d.as_millis()),
            TraceEvent::TokenShared => f.write_str("… using the token another transfer fetched"),
            TraceEvent::Learned(what) => write!(f, "… learned: {what}"),
            TraceEvent::Interrupted => f.write_str("! interrupted: cancelling"),
        }
    }
}

/// The hook a client calls with every [`TraceEvent`] (`Config::trace`).
#[derive(Clone)]
pub struct Trace(Arc<dyn Fn(&TraceEvent) + Send + Sync>);

impl Trace {
    /// A hook calling `f`.
    pub fn new(f: impl Fn(&TraceEvent) + Send + Sync + 'static) -> Trace {
        Trace(Arc::new(f))
    }

    /// Calls the hook.
    pub fn emit(&self, event: &TraceEvent) {
        (self.0)(event);
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Trace(..)")
    }
}

/// `url` with the value of every query parameter but the registry API's own redacted, and
/// any `user:password@` too.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query.split('#').next().unwrap_or_default())),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{REDACTED}@{host}{path}"),
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    let Some(query) = query else {
        return base;
    };
    let params: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if !SAFE_PARAMS.contains(&name) => format!("{name}={REDACTED}"),
            None if !pair.is_empty() => REDACTED.to_owned(),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", params.join("&"))
}

/// The headers of `map` worth showing, redacted (URLs in `Location` and `Link`).
pub(crate) fn shown_headers(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .filter(|(name, _)| {
            SHOWN_HEADERS.contains(&name.as_str()) || name.as_str().starts_with("oci-")
        })
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes());
            let value = match name.as_str() {
                "location" | "link" => redact_url(&value),
                _ => value.into_owned(),
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signed_query_parameters_are_redacted_and_the_registrys_own_kept() {
        let url = "https://s3.example/b/data?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123&sig=s3cr3t&se=2026&X-Goog-Signature=g00g";
        let shown = redact_url(url);
        for secret in ["AKIA", "abc123", "s3cr3t", "2026", "g00g"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.starts_with("https://s3.example/b/data?X-Amz-Credential=REDACTED&"));
        let api = "https://r.example/v2/a/tags/list?n=10&last=v1";
        assert_eq!(redact_url(api), api);
        let state = "/v2/a/blobs/uploads/u?_state=opaque&digest=sha256%3Aab";
        assert_eq!(
            redact_url(state),
            "/v2/a/blobs/uploads/u?_state=REDACTED&digest=sha256%3Aab"
        );
        assert_eq!(redact_url("https://r.example/v2/"), "https://r.example/v2/");
        assert_eq!(
            redact_url("https://u:pw@cdn.example/x?t0ken"),
            "https://REDACTED@cdn.example/x?REDACTED"
        );
    }

    #[test]
    fn only_the_headers_that_matter_are_shown() {
        let mut map = HeaderMap::new();
        map.insert("authorization", "Bearer t0ken".parse().unwrap());
        map.insert("cookie", "session=c00kie".parse().unwrap());
        map.insert(
            "location",
            "https://cdn.example/x?sig=s3cr3t".parse().unwrap(),
        );
        map.insert("oci-subject", "sha256:ab".parse().unwrap());
        map.insert("range", "0-9".parse().unwrap());
        let shown = shown_headers(&map);
        let text = format!("{shown:?}");
        for secret in ["t0ken", "c00kie", "s3cr3t"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(shown.len(), 3, "{text}");
    }

    #[test]
    fn events_read_as_one_line_each() {
        let request = TraceEvent::Request {
            method: "GET".into(),
            url: "https://r.example/v2/".into(),
            headers: vec![("range".into(), "bytes=0-".into())],
            body: None,
            token: false,
        };
        assert_eq!(
            request.to_string(),
            "> GET https://r.example/v2/ [range: bytes=0-]"
        );
        let response = TraceEvent::Response {
            status: 401,
            headers: Vec::new(),
            elapsed: Duration::from_millis(12),
        };
        assert_eq!(response.to_string(), "< 401 (12 ms)");
        for event in [request, response, TraceEvent::Wait(Duration::from_secs(1))] {
            assert!(!event.to_string().contains('\n'));
        }
    }
}
