//! URL handling: resolving `Location` and `Link` targets against the request they answer,
//! adding query parameters without disturbing the ones a registry put there, comparing
//! origins (for credential hygiene) and building [`Request`]s with correct framing.

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method};
use url::Url;

use crate::error::{Error, ProtocolViolation};
use crate::operation::{Body, Request};

/// The longest `Location`/`Link` target accepted.
pub const MAX_URL_LEN: usize = 8 * 1024;

/// Resolves a URI reference sent by the peer (absolute, scheme-relative `//host/…`,
/// absolute-path or relative) against the URL of the request it answered. Only http and
/// https results are accepted.
pub(crate) fn resolve(base: &Url, reference: &str) -> Result<Url, ProtocolViolation> {
    if reference.len() > MAX_URL_LEN {
        return Err(ProtocolViolation::BadLocation(format!(
            "longer than {MAX_URL_LEN} bytes"
        )));
    }
    let url = base
        .join(reference.trim())
        .map_err(|e| ProtocolViolation::BadLocation(format!("{}: {e}", shorten(reference))))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(ProtocolViolation::BadLocation(shorten(reference))),
    }
}

/// Resolves the `Location` header of `head` against `base`.
pub(crate) fn location(base: &Url, head: &http::response::Parts) -> Result<Url, Error> {
    let value = head
        .headers
        .get(http::header::LOCATION)
        .ok_or(ProtocolViolation::MissingLocation)?;
    let text = value
        .to_str()
        .map_err(|_| ProtocolViolation::BadLocation("not visible ASCII".into()))?;
    Ok(resolve(base, text)?)
}

/// `url` with `key=value` appended to its query (existing parameters are kept, in order).
pub(crate) fn with_query_param(url: &Url, key: &str, value: &str) -> Url {
    let mut out = url.clone();
    out.query_pairs_mut().append_pair(key, value);
    out
}

/// Whether two URLs have the same scheme, host and (effective) port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Cuts a peer-supplied string for use in an error message.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", s.get(..cut).unwrap_or_default())
}

/// Builds a request. Methods that carry a body (POST, PUT, PATCH) always get an explicit
/// `Content-Length` (but for a [`Body::StreamToEnd`], sent chunked); `content_type` is set
/// when given.
pub(crate) fn request(
    method: Method,
    url: &Url,
    body: Body,
    content_type: Option<&str>,
) -> Result<Request, Error> {
    let uri: http::Uri = url
        .as_str()
        .parse()
        .map_err(|e| Error::InvalidUrl(format!("{}: {e}", shorten(url.as_str()))))?;
    let with_length =
        matches!(method, Method::POST | Method::PUT | Method::PATCH) && body != Body::StreamToEnd;
    let len = body.len();
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    if with_length {
        req.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Some(ct) = content_type {
        let value = HeaderValue::from_str(ct)
            .map_err(|_| Error::Misuse(crate::error::Misuse::InvalidArgument(shorten(ct))))?;
        req.headers_mut().insert(CONTENT_TYPE, value);
    }
    Ok(req)
}

/// The URL of a request, as a [`Url`].
pub(crate) fn url_of<B>(req: &http::Request<B>) -> Result<Url, Error> {
    Url::parse(&req.uri().to_string()).map_err(|e| Error::InvalidUrl(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://reg.example:5000/v2/foo/blobs/uploads/").unwrap()
    }

    #[test]
    fn relative_and_absolute_locations_resolve_against_the_request() {
        let cases = [
            (
                "/v2/foo/blobs/uploads/abc?_state=x",
                "https://reg.example:5000/v2/foo/blobs/uploads/abc?_state=x",
            ),
            ("abc", "https://reg.example:5000/v2/foo/blobs/uploads/abc"),
            (
                "https://storage.example/up/1?sig=a%2Fb",
                "https://storage.example/up/1?sig=a%2Fb",
            ),
            ("//other.example/x", "https://other.example/x"),
        ];
        for (loc, want) in cases {
            assert_eq!(resolve(&base(), loc).unwrap().as_str(), want, "{loc}");
        }
    }

    #[test]
    fn non_http_locations_are_refused() {
        for loc in [
            "ftp://x/y",
            "data:text/plain,hi",
            "file:///etc/passwd",
            "http://",
        ] {
            assert!(resolve(&base(), loc).is_err(), "{loc}");
        }
        assert!(resolve(&base(), &"a".repeat(MAX_URL_LEN + 1)).is_err());
    }

    #[test]
    fn digest_is_appended_to_the_existing_query() {
        let u = Url::parse("https://r/v2/f/blobs/uploads/u?_state=abc%3D%3D").unwrap();
        let out = with_query_param(&u, "digest", "sha256:00");
        assert_eq!(
            out.as_str(),
            "https://r/v2/f/blobs/uploads/u?_state=abc%3D%3D&digest=sha256%3A00"
        );
        let u = Url::parse("https://r/v2/f/blobs/uploads/u").unwrap();
        assert_eq!(
            with_query_param(&u, "digest", "sha256:00").as_str(),
            "https://r/v2/f/blobs/uploads/u?digest=sha256%3A00"
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_effective_port() {
        let a = Url::parse("https://Reg.example/v2/").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("https://reg.example:443/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://reg.example/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://reg.example:444/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://s3.example/x").unwrap()
        ));
    }

    #[test]
    fn bodies_get_explicit_lengths() {
        let u = Url::parse("https://r/v2/f/blobs/uploads/").unwrap();
        let r = request(Method::POST, &u, Body::Empty, None).unwrap();
        assert_eq!(r.headers()[CONTENT_LENGTH], "0");
        let r = request(Method::GET, &u, Body::Empty, None).unwrap();
        assert!(r.headers().get(CONTENT_LENGTH).is_none());
        let r = request(Method::PUT, &u, Body::Bytes(b"{}".to_vec()), Some("a/b")).unwrap();
        assert_eq!(r.headers()[CONTENT_LENGTH], "2");
        assert_eq!(r.headers()[CONTENT_TYPE], "a/b");
    }
}
