//! RFC 7235 `WWW-Authenticate` parsing: turns the raw header values of a `401`
//! response into a list of [`Challenge`]s (scheme, auth-params or token68).
//!
//! This module owns only the grammar; choosing a challenge (Bearer vs Basic) and
//! acting on its parameters belongs to the caller. It depends on `std` only,
//! works on raw header bytes, never panics and bounds every input (see
//! [`MAX_HEADER_VALUE_LEN`], [`MAX_CHALLENGES`] and [`MAX_PARAMS`]).
//!
//! Grammar (RFC 7235 §2.1 and §4.1, RFC 7230 §3.2.6 and §7):
//!
//! ```text
//! WWW-Authenticate = 1#challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! Because both challenges and auth-params are comma-separated, an item after a
//! comma is taken as another auth-param of the current challenge when it is a
//! token followed by optional whitespace and `=`, and as a new challenge
//! otherwise.

use std::fmt;

/// Longest accepted single `WWW-Authenticate` header value, in bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 16 * 1024;

/// Most challenges accepted across all `WWW-Authenticate` header values of one response.
pub const MAX_CHALLENGES: usize = 16;

/// Most auth-params accepted in one challenge.
pub const MAX_PARAMS: usize = 32;

/// One authentication challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Auth scheme, lowercased.
    scheme: String,
    /// Auth-params in header order: (lowercased name, unescaped value).
    params: Vec<(String, String)>,
    /// The token68 form, when the challenge used it instead of auth-params.
    token68: Option<String>,
}

impl Challenge {
    /// The auth scheme, lowercased (e.g. `"bearer"`, `"basic"`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The value of the first auth-param called `name` (compared ASCII
    /// case-insensitively), with quoted-string escapes already removed.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All auth-params in header order, as (lowercased name, unescaped value).
    /// Duplicated names are kept.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The token68 of the challenge (e.g. `abc123==` in `Negotiate abc123==`),
    /// if it used that form instead of auth-params.
    pub fn token68(&self) -> Option<&str> {
        self.token68.as_deref()
    }
}

/// What was wrong with a `WWW-Authenticate` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    ValueTooLong,
    TooManyChallenges,
    TooManyParams,
    ExpectedScheme,
    ExpectedSpaceAfterScheme,
    ExpectedParamName,
    ExpectedEquals,
    ExpectedParamValue,
    ExpectedComma,
    UnterminatedQuotedString,
    InvalidQuotedStringByte,
}

impl Reason {
    fn message(self) -> &'static str {
        match self {
            Reason::ValueTooLong => "header value is too long",
            Reason::TooManyChallenges => "too many challenges",
            Reason::TooManyParams => "too many auth-params in one challenge",
            Reason::ExpectedScheme => "expected an auth-scheme token",
            Reason::ExpectedSpaceAfterScheme => "expected whitespace after the auth-scheme",
            Reason::ExpectedParamName => "expected an auth-param name",
            Reason::ExpectedEquals => "expected '=' after the auth-param name",
            Reason::ExpectedParamValue => "expected a token or quoted-string auth-param value",
            Reason::ExpectedComma => "expected ',' or the end of the value",
            Reason::UnterminatedQuotedString => "unterminated quoted-string",
            Reason::InvalidQuotedStringByte => "control character in quoted-string",
        }
    }
}

/// A `WWW-Authenticate` header value that does not follow RFC 7235 or exceeds
/// this module's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeError {
    reason: Reason,
    /// Zero-based index of the offending header value.
    value_index: usize,
    /// Byte offset within that value, when meaningful.
    offset: Option<usize>,
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid WWW-Authenticate header (value {}",
            self.value_index
        )?;
        if let Some(offset) = self.offset {
            write!(f, ", byte {offset}")?;
        }
        write!(f, "): {}", self.reason.message())?;
        match self.reason {
            Reason::ValueTooLong => write!(f, " (limit {MAX_HEADER_VALUE_LEN} bytes)"),
            Reason::TooManyChallenges => write!(f, " (limit {MAX_CHALLENGES})"),
            Reason::TooManyParams => write!(f, " (limit {MAX_PARAMS})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ChallengeError {}

/// All challenges from every `WWW-Authenticate` header value (a response may
/// carry several headers, and one header may carry several comma-separated
/// challenges), in order.
///
/// Scheme and param names are lowercased; quoted-string values are unescaped
/// and converted to `String` lossily (obs-text bytes that are not UTF-8 become
/// U+FFFD). Empty list elements and optional whitespace are tolerated; empty or
/// whitespace-only input yields an empty list.
///
/// # Errors
///
/// A value that breaks the grammar (e.g. an unterminated quoted-string, `=`
/// without a name, a control or non-ASCII byte outside a quoted-string), a
/// value longer than [`MAX_HEADER_VALUE_LEN`], more than [`MAX_CHALLENGES`]
/// challenges in total, or more than [`MAX_PARAMS`] params in one challenge.
pub fn parse_challenges<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Challenge>, ChallengeError> {
    let mut out = Vec::new();
    for (value_index, value) in values.into_iter().enumerate() {
        parse_value(value, value_index, &mut out)?;
    }
    Ok(out)
}

/// Byte cursor over one header value.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) {
        if self.pos < self.bytes.len() {
            self.pos += 1;
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Skips SP / HTAB; true when at least one was skipped.
    fn skip_ows(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
        self.pos != start
    }

    /// Skips whitespace and empty list elements (commas).
    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.bump();
        }
    }

    /// Consumes `1*tchar`.
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.bump();
        }
        self.bytes.get(start..self.pos).filter(|t| !t.is_empty())
    }
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Non-`=` characters of RFC 7235 `token68`.
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

fn ascii_lower(bytes: &[u8]) -> String {
    // Tokens are ASCII, so this is lossless.
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

fn parse_value(
    bytes: &[u8],
    value_index: usize,
    out: &mut Vec<Challenge>,
) -> Result<(), ChallengeError> {
    let err = |reason, offset| ChallengeError {
        reason,
        value_index,
        offset,
    };
    if bytes.len() > MAX_HEADER_VALUE_LEN {
        return Err(err(Reason::ValueTooLong, None));
    }
    let mut c = Cursor { bytes, pos: 0 };
    loop {
        c.skip_list_separators();
        if c.at_end() {
            return Ok(());
        }
        let scheme_at = c.pos;
        let scheme = c
            .token()
            .ok_or_else(|| err(Reason::ExpectedScheme, Some(c.pos)))?;
        if out.len() >= MAX_CHALLENGES {
            return Err(err(Reason::TooManyChallenges, Some(scheme_at)));
        }
        let mut challenge = Challenge {
            scheme: ascii_lower(scheme),
            params: Vec::new(),
            token68: None,
        };
        let had_space = c.skip_ows();
        match c.peek() {
            None | Some(b',') => {
                out.push(challenge);
                continue;
            }
            Some(_) if !had_space => {
                return Err(err(Reason::ExpectedSpaceAfterScheme, Some(c.pos)));
            }
            Some(_) => {}
        }
        if let Some(token68) = try_token68(&mut c) {
            challenge.token68 = Some(token68);
            out.push(challenge);
            continue;
        }
        loop {
            let name_at = c.pos;
            let name = c
                .token()
                .ok_or_else(|| err(Reason::ExpectedParamName, Some(c.pos)))?;
            if challenge.params.len() >= MAX_PARAMS {
                return Err(err(Reason::TooManyParams, Some(name_at)));
            }
            c.skip_ows();
            if c.peek() != Some(b'=') {
                return Err(err(Reason::ExpectedEquals, Some(c.pos)));
            }
            c.bump();
            c.skip_ows();
            let value = if c.peek() == Some(b'"') {
                quoted_string(&mut c).map_err(|(reason, at)| err(reason, Some(at)))?
            } else {
                let token = c
                    .token()
                    .ok_or_else(|| err(Reason::ExpectedParamValue, Some(c.pos)))?;
                String::from_utf8_lossy(token).into_owned()
            };
            challenge.params.push((ascii_lower(name), value));
            c.skip_ows();
            match c.peek() {
                None => break,
                Some(b',') => {}
                Some(_) => return Err(err(Reason::ExpectedComma, Some(c.pos))),
            }
            c.skip_list_separators();
            if c.at_end() || !starts_auth_param(c) {
                break;
            }
        }
        out.push(challenge);
    }
}

/// Whether the cursor is at `token BWS "="`, i.e. another auth-param rather
/// than a new challenge.
fn starts_auth_param(mut c: Cursor<'_>) -> bool {
    if c.token().is_none() {
        return false;
    }
    c.skip_ows();
    c.peek() == Some(b'=')
}

/// Consumes a `token68` if one stands here and is followed by OWS and then the
/// end of the value or a comma; otherwise leaves the cursor unchanged.
fn try_token68(c: &mut Cursor<'_>) -> Option<String> {
    let start = c.pos;
    while c.peek().is_some_and(is_token68_char) {
        c.bump();
    }
    if c.pos == start {
        return None;
    }
    while c.peek() == Some(b'=') {
        c.bump();
    }
    let end = c.pos;
    c.skip_ows();
    match (c.peek(), c.bytes.get(start..end)) {
        (None | Some(b','), Some(t)) => Some(String::from_utf8_lossy(t).into_owned()),
        _ => {
            c.pos = start;
            None
        }
    }
}

/// Consumes a quoted-string (the cursor is at its opening `"`) and returns its
/// unescaped content, or the error and the offset it was found at.
fn quoted_string(c: &mut Cursor<'_>) -> Result<String, (Reason, usize)> {
    let open = c.pos;
    c.bump();
    let mut buf = Vec::new();
    loop {
        match c.peek() {
            None => return Err((Reason::UnterminatedQuotedString, open)),
            Some(b'"') => {
                c.bump();
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
            Some(b'\\') => {
                c.bump();
                match c.peek() {
                    None => return Err((Reason::UnterminatedQuotedString, open)),
                    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                    Some(b) if b == b'\t' || (b >= 0x20 && b != 0x7f) => {
                        buf.push(b);
                        c.bump();
                    }
                    Some(_) => return Err((Reason::InvalidQuotedStringByte, c.pos)),
                }
            }
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
            Some(b) if b == b'\t' || (b >= 0x20 && b != 0x7f) => {
                buf.push(b);
                c.bump();
            }
            Some(_) => return Err((Reason::InvalidQuotedStringByte, c.pos)),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_one(s: &str) -> Result<Vec<Challenge>, ChallengeError> {
        parse_challenges([s.as_bytes()])
    }

    fn params_of(c: &Challenge) -> Vec<(&str, &str)> {
        c.params().collect()
    }

    #[test]
    fn docker_hub() {
        let v = parse_one(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(v.len(), 1);
        let c = &v[0];
        assert_eq!(c.scheme(), "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/alpine:pull"));
        assert_eq!(c.token68(), None);
        assert_eq!(c.param("missing"), None);
    }

    #[test]
    fn ghcr() {
        let v = parse_one(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull""#,
        )
        .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(
            params_of(&v[0]),
            vec![
                ("realm", "https://ghcr.io/token"),
                ("service", "ghcr.io"),
                ("scope", "repository:user/image:pull"),
            ]
        );
    }

    #[test]
    fn basic() {
        let v = parse_one(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].scheme(), "basic");
        assert_eq!(v[0].param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn basic_charset() {
        let v = parse_one(r#"Basic realm="simple", charset="UTF-8""#).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].param("realm"), Some("simple"));
        assert_eq!(v[0].param("charset"), Some("UTF-8"));
    }

    #[test]
    fn two_challenges_one_header() {
        let v = parse_one(r#"Basic realm="x", Bearer realm="y",service="z""#).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].scheme(), "basic");
        assert_eq!(params_of(&v[0]), vec![("realm", "x")]);
        assert_eq!(v[1].scheme(), "bearer");
        assert_eq!(params_of(&v[1]), vec![("realm", "y"), ("service", "z")]);
    }

    #[test]
    fn two_headers() {
        let v = parse_challenges([
            br#"Basic realm="x""#.as_slice(),
            br#"Bearer realm="y",service="z""#.as_slice(),
        ])
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].scheme(), "basic");
        assert_eq!(v[1].param("service"), Some("z"));
    }

    #[test]
    fn escaped_quote_and_backslash() {
        let v = parse_one(r#"Bearer realm="a\"b", other="c\\d\e""#).unwrap();
        assert_eq!(v[0].param("realm"), Some("a\"b"));
        assert_eq!(v[0].param("other"), Some("c\\de"));
    }

    #[test]
    fn quoted_comma() {
        let v = parse_one(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(v[0].params().count(), 3);
    }

    #[test]
    fn mixed_case() {
        let v = parse_one(r#"BEARER Realm="https://r", SERVICE=svc"#).unwrap();
        assert_eq!(v[0].scheme(), "bearer");
        assert_eq!(v[0].param("realm"), Some("https://r"));
        assert_eq!(v[0].param("REALM"), Some("https://r"));
        assert_eq!(
            params_of(&v[0]),
            vec![("realm", "https://r"), ("service", "svc")]
        );
    }

    #[test]
    fn unquoted_token_values() {
        let v =
            parse_one("Bearer realm=https, service=registry.example, error=invalid_token").unwrap();
        assert_eq!(
            params_of(&v[0]),
            vec![
                ("realm", "https"),
                ("service", "registry.example"),
                ("error", "invalid_token")
            ]
        );
    }

    #[test]
    fn token68() {
        let v = parse_one("Negotiate abc123==").unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].scheme(), "negotiate");
        assert_eq!(v[0].token68(), Some("abc123=="));
        assert_eq!(v[0].params().count(), 0);

        let v = parse_one(r#"Negotiate a/b+c~d, Basic realm="r""#).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].token68(), Some("a/b+c~d"));
        assert_eq!(v[1].param("realm"), Some("r"));
    }

    #[test]
    fn mount_scope_with_space() {
        let v = parse_one(
            r#"Bearer realm="https://auth",service="reg",scope="repository:dst:pull,push repository:src:pull""#,
        )
        .unwrap();
        assert_eq!(
            v[0].param("scope"),
            Some("repository:dst:pull,push repository:src:pull")
        );
    }

    #[test]
    fn whitespace_and_empty_elements() {
        let v = parse_one(" ,, Bearer  realm = \"x\" ,, ,service\t=\ty , ,Basic ,Negotiate,  ")
            .unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(params_of(&v[0]), vec![("realm", "x"), ("service", "y")]);
        assert_eq!(v[1].scheme(), "basic");
        assert_eq!(v[1].params().count(), 0);
        assert_eq!(v[2].scheme(), "negotiate");
    }

    #[test]
    fn bare_word_after_scheme_is_token68() {
        // RFC 7235: `realm` and `realm=` are valid token68 forms.
        let v = parse_one("Bearer realm").unwrap();
        assert_eq!(v[0].token68(), Some("realm"));
        let v = parse_one("Bearer realm=").unwrap();
        assert_eq!(v[0].token68(), Some("realm="));
        assert_eq!(v[0].param("realm"), None);
    }

    #[test]
    fn scheme_only_and_param_then_scheme() {
        let v = parse_one(r#"Bearer realm="x", Basic"#).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].scheme(), "basic");
        let v = parse_one("Basic").unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].token68(), None);
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(parse_challenges(std::iter::empty()).unwrap(), vec![]);
        assert_eq!(parse_one("").unwrap(), vec![]);
        assert_eq!(parse_one(" \t ").unwrap(), vec![]);
        assert_eq!(
            parse_challenges([b"".as_slice(), b" ".as_slice()]).unwrap(),
            vec![]
        );
    }

    #[test]
    fn duplicate_param_first_wins() {
        let v = parse_one("Bearer realm=a, realm=b").unwrap();
        assert_eq!(v[0].param("realm"), Some("a"));
        assert_eq!(v[0].params().count(), 2);
    }

    #[test]
    fn obs_text_in_quoted_string_is_lossy() {
        let v = parse_challenges([b"Basic realm=\"caf\xc3\xa9 \xff\"".as_slice()]).unwrap();
        assert_eq!(v[0].param("realm"), Some("caf\u{e9} \u{fffd}"));
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            r#"Bearer realm="unterminated"#,
            r#"Bearer realm="unterminated\"#,
            "Bearer =x",
            "=x",
            "Bearer realm=\"x\" junk",
            "Bearer realm=\"x\"service=\"y\"",
            "Bearer realm=\"x\", =y",
            "\"Bearer\"",
            "Bearer\"x\"",
            "Bearer realm=\"a\u{1}b\"",
            "Bearer realm=\"a\u{7f}b\"",
            "Bearer\u{1} realm=x",
            "Bearer realm=x\u{0}",
            "Bearer realm=\u{e9}",
            "Negotiate abc==, foo=bar",
            "Bearer realm=\"x\";service=y",
        ] {
            assert!(parse_one(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse_challenges([b"Bearer \xff".as_slice()]).is_err());
        assert!(parse_challenges([b"Bearer realm=x\r\n".as_slice()]).is_err());
    }

    #[test]
    fn error_display() {
        let e =
            parse_challenges([b"Basic".as_slice(), b"Bearer realm=\"x".as_slice()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid WWW-Authenticate header (value 1, byte 13): unterminated quoted-string"
        );
        let long = vec![b'a'; MAX_HEADER_VALUE_LEN + 1];
        let e = parse_challenges([long.as_slice()]).unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
        let _: &dyn std::error::Error = &e;
    }

    #[test]
    fn bounds() {
        let long = format!("Basic realm=\"{}\"", "a".repeat(MAX_HEADER_VALUE_LEN));
        assert!(parse_one(&long).is_err());
        let ok = format!(
            "Basic realm=\"{}\"",
            "a".repeat(MAX_HEADER_VALUE_LEN - "Basic realm=\"\"".len())
        );
        assert_eq!(parse_one(&ok).unwrap().len(), 1);

        let many = vec!["Basic"; MAX_CHALLENGES].join(", ");
        assert_eq!(parse_one(&many).unwrap().len(), MAX_CHALLENGES);
        let too_many = vec!["Basic"; MAX_CHALLENGES + 1].join(", ");
        assert!(parse_one(&too_many).is_err());
        // The limit is across header values too.
        let headers = vec![b"Basic".as_slice(); MAX_CHALLENGES + 1];
        assert!(parse_challenges(headers).is_err());

        let params: Vec<String> = (0..MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        let c = parse_one(&format!("Bearer {}", params.join(","))).unwrap();
        assert_eq!(c[0].params().count(), MAX_PARAMS);
        let params: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        let e = parse_one(&format!("Bearer {}", params.join(","))).unwrap_err();
        assert!(e.to_string().contains("too many auth-params"), "{e}");
    }

    /// A challenge to render: scheme, and either token68 or params.
    #[derive(Debug, Clone)]
    struct Gen {
        scheme: String,
        token68: Option<String>,
        params: Vec<(String, String, bool)>,
    }

    fn is_token(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(is_tchar)
    }

    fn render(g: &Gen) -> String {
        let mut s = g.scheme.clone();
        if let Some(t) = &g.token68 {
            s.push(' ');
            s.push_str(t);
            return s;
        }
        for (i, (name, value, prefer_token)) in g.params.iter().enumerate() {
            s.push_str(if i == 0 { " " } else { ", " });
            s.push_str(name);
            s.push('=');
            if *prefer_token && is_token(value) {
                s.push_str(value);
            } else {
                s.push('"');
                for ch in value.chars() {
                    if ch == '"' || ch == '\\' {
                        s.push('\\');
                    }
                    s.push(ch);
                }
                s.push('"');
            }
        }
        s
    }

    const TOKEN_RE: &str = "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}";

    fn gen_challenge() -> impl Strategy<Value = Gen> {
        let params = prop::collection::vec((TOKEN_RE, "\\PC{0,16}", any::<bool>()), 0..6);
        let token68 = prop::option::of("[A-Za-z0-9._~+/-]{1,12}={0,2}");
        (TOKEN_RE, token68, params).prop_map(|(scheme, token68, params)| {
            // token68 and params are exclusive.
            let token68 = if params.is_empty() { token68 } else { None };
            Gen {
                scheme,
                token68,
                params,
            }
        })
    }

    fn grammar_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop::sample::select(b"aZ=,\"\\ \t;/:\x01\xff".to_vec()),
            0..64,
        )
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..256), 0..4),
        ) {
            let _ = parse_challenges(values.iter().map(Vec::as_slice));
        }

        #[test]
        fn grammar_like_bytes_never_panic(
            values in prop::collection::vec(grammar_bytes(), 0..4),
        ) {
            let _ = parse_challenges(values.iter().map(Vec::as_slice));
        }

        #[test]
        fn round_trip(
            gens in prop::collection::vec(gen_challenge(), 0..5),
            split in any::<prop::sample::Index>(),
        ) {
            let rendered: Vec<String> = gens.iter().map(render).collect();
            // Render as one header or split into two headers.
            let at = if gens.is_empty() { 0 } else { split.index(gens.len() + 1) };
            let first = rendered[..at].join(", ");
            let second = rendered[at..].join(" ,, ");
            let parsed = parse_challenges([first.as_bytes(), second.as_bytes()]).unwrap();
            prop_assert_eq!(parsed.len(), gens.len());
            for (p, g) in parsed.iter().zip(&gens) {
                prop_assert_eq!(p.scheme(), g.scheme.to_ascii_lowercase());
                prop_assert_eq!(p.token68(), g.token68.as_deref());
                let want: Vec<(String, String)> = g
                    .params
                    .iter()
                    .map(|(n, v, _)| (n.to_ascii_lowercase(), v.clone()))
                    .collect();
                let got: Vec<(String, String)> = p
                    .params()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                prop_assert_eq!(got, want);
            }
        }
    }
}
