//! Which proxy a connection goes through ([`Proxies`]), from the environment's values as
//! curl and python-dxf's requests read them (the adapters read the variables and make the
//! `CONNECT` tunnels; every choice is here, so both choose alike). The rules are on
//! [`TransportConfig`](super::TransportConfig).

use std::net::IpAddr;

use base64::Engine as _;

/// The proxy a connection goes through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proxy {
    /// An `http://` or `https://` proxy: a `CONNECT` tunnel through it.
    Connect {
        /// The proxy's URL as configured (a scheme-less one made `http://`).
        url: String,
        /// `Proxy-Authorization` for the tunnel (`Basic`, from the URL's `user:password@`).
        authorization: Option<String>,
    },
    /// A SOCKS proxy, which dxf does not speak: the connection fails with
    /// [`Proxy::UNSUPPORTED`] (never silently direct).
    Unsupported(String),
}

impl Proxy {
    /// What a connection through a SOCKS proxy fails with.
    pub const UNSUPPORTED: &'static str =
        "SOCKS proxies are not supported (only http:// and https:// ones)";

    fn parse(value: &str) -> Option<Proxy> {
        let with_scheme = if value.contains("://") {
            value.to_owned()
        } else {
            format!("http://{value}")
        };
        let url = url::Url::parse(&with_scheme).ok()?;
        url.host_str().filter(|h| !h.is_empty())?;
        match url.scheme() {
            "http" | "https" => {
                let authorization = (!url.username().is_empty()).then(|| {
                    let user = percent_decode(url.username());
                    let password = percent_decode(url.password().unwrap_or_default());
                    let pair = format!("{user}:{password}");
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    )
                });
                Some(Proxy::Connect {
                    url: with_scheme,
                    authorization,
                })
            }
            "socks4" | "socks4a" | "socks5" | "socks5h" => Some(Proxy::Unsupported(with_scheme)),
            _ => None,
        }
    }
}

/// `%XX` escapes decoded (a proxy URL's user name and password).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The environment's proxies: `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones,
/// either falling back to `ALL_PROXY` (uppercase names before lowercase), except for hosts
/// `NO_PROXY` covers; none at all under CGI (`REQUEST_METHOD` set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: String,
}

impl Proxies {
    /// From the environment, read through `var` (the adapter passes `std::env::var`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Proxies {
        if var("REQUEST_METHOD").is_some() {
            return Proxies::default();
        }
        let first = |names: [&str; 2]| names.iter().find_map(|n| var(n));
        let proxy = |names| first(names).as_deref().and_then(Proxy::parse);
        let all = || proxy(["ALL_PROXY", "all_proxy"]);
        Proxies {
            http: proxy(["HTTP_PROXY", "http_proxy"]).or_else(all),
            https: proxy(["HTTPS_PROXY", "https_proxy"]).or_else(all),
            no_proxy: first(["NO_PROXY", "no_proxy"]).unwrap_or_default(),
        }
    }

    /// Whether any connection may go through a proxy.
    pub fn any(&self) -> bool {
        self.http.is_some() || self.https.is_some()
    }

    /// The proxy for URLs of `scheme` (`https`, else `http`'s), before `NO_PROXY`.
    pub fn for_scheme(&self, scheme: &str) -> Option<&Proxy> {
        match scheme {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }
    }

    /// The proxy for a connection to `host` (a name or an address, `[v6]` too) for a URL
    /// of `scheme`; `None`: direct.
    pub fn for_target(&self, scheme: &str, host: &str) -> Option<&Proxy> {
        let proxy = self.for_scheme(scheme)?;
        (!no_proxy_covers(&self.no_proxy, host)).then_some(proxy)
    }
}

/// Whether `list` (`NO_PROXY`'s) covers `host`: `*`; an IP address or CIDR block holding
/// it; a name equal to it or a parent domain of it, with or without a leading `.` or `*.`.
fn no_proxy_covers(list: &str, host: &str) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip = host.parse::<IpAddr>().ok();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        match (ip, ip_block(entry)) {
            (Some(ip), Some((net, bits))) => in_block(ip, net, bits),
            (None, None) if !entry.is_empty() => {
                let name = entry.strip_prefix('*').unwrap_or(entry);
                let name = name.strip_prefix('.').unwrap_or(name);
                let parent = host
                    .len()
                    .checked_sub(name.len() + 1)
                    .and_then(|dot| host.get(dot..))
                    .and_then(|tail| tail.strip_prefix('.'));
                name.eq_ignore_ascii_case(host)
                    || parent.is_some_and(|p| p.eq_ignore_ascii_case(name))
            }
            _ => false,
        }
    })
}

/// An IP address (a block of one) or a CIDR block: its address and prefix length.
fn ip_block(entry: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match entry.split_once('/') {
        Some((addr, bits)) => (addr.parse::<IpAddr>().ok()?, Some(bits.parse().ok()?)),
        None => (entry.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

/// Whether `ip` is in the block of `net`'s first `bits` bits.
fn in_block(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) ^ u32::from(n))
            .checked_shr(32 - bits)
            .is_none_or(|d| d == 0),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a) ^ u128::from(n))
            .checked_shr(128 - bits)
            .is_none_or(|d| d == 0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Proxies {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxies::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn no_proxy_covers_names_addresses_and_blocks() {
        let covered = [
            ("*", "anything.example"),
            ("*", "10.1.2.3"),
            ("example.com", "example.com"),
            ("example.com", "a.b.Example.COM"),
            (".example.com", "example.com"),
            ("*.example.com", "a.example.com"),
            ("x, example.com ,y", "a.example.com"),
            ("127.0.0.1", "127.0.0.1"),
            ("127.0.0.0/8", "127.9.9.9"),
            ("0.0.0.0/0", "8.8.8.8"),
            ("::1", "[::1]"),
            ("fe80::/10", "[fe80::1]"),
        ];
        for (list, host) in covered {
            assert!(no_proxy_covers(list, host), "{list:?} {host:?}");
        }
        let not_covered = [
            ("", "example.com"),
            ("example.com", "notexample.com"),
            ("a.example.com", "example.com"),
            ("example.com:443", "example.com"),
            ("127.0.0.1", "127.0.0.2"),
            ("127.0.0.0/33", "127.0.0.1"),
            ("127.0.0.0/8", "localhost"),
            ("localhost", "127.0.0.1"),
            ("::/0", "127.0.0.1"),
            ("127.0.0.0/8", "[::ffff:127.0.0.1]"),
        ];
        for (list, host) in not_covered {
            assert!(!no_proxy_covers(list, host), "{list:?} {host:?}");
        }
    }

    #[test]
    fn each_scheme_has_its_proxy_then_all_proxy() {
        let p = env(&[
            ("HTTPS_PROXY", "http://s.test:3128"),
            ("all_proxy", "a.test:1"),
            ("NO_PROXY", ".internal"),
        ]);
        let url = |p: Option<&Proxy>| match p {
            Some(Proxy::Connect { url, .. }) => url.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(
            url(p.for_target("https", "r.example")),
            "http://s.test:3128"
        );
        assert_eq!(url(p.for_target("http", "r.example")), "http://a.test:1");
        assert_eq!(p.for_target("https", "r.internal"), None);
        assert_eq!(
            env(&[("http_proxy", "x:1"), ("HTTP_PROXY", "y:1")]).for_target("http", "h"),
            Some(&Proxy::Connect {
                url: "http://y:1".into(),
                authorization: None
            })
        );
    }

    #[test]
    fn cgi_socks_and_credentials() {
        let cgi = env(&[("REQUEST_METHOD", "GET"), ("HTTPS_PROXY", "http://p:1")]);
        assert!(!cgi.any());
        let socks = env(&[("HTTPS_PROXY", "socks5://p:1")]);
        assert!(matches!(
            socks.for_target("https", "h"),
            Some(Proxy::Unsupported(_))
        ));
        let authed = env(&[("HTTPS_PROXY", "http://u%40x:p%3Aw@p:1")]);
        let Some(Proxy::Connect {
            authorization: Some(a),
            ..
        }) = authed.for_target("https", "h")
        else {
            panic!("credentials")
        };
        let pair = base64::engine::general_purpose::STANDARD.encode("u@x:p:w");
        assert_eq!(a, &format!("Basic {pair}"));
        assert!(
            !env(&[("HTTPS_PROXY", "ftp://p:1")]).any(),
            "an unknown scheme is ignored"
        );
    }
}
