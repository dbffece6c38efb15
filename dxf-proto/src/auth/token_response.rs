//! Bearer token responses: parses the JSON body an auth realm returns for a
//! Docker token request into a [`TokenResponse`], plus the hand-written
//! RFC 3339 parser ([`parse_rfc3339`]) its `issued_at` field needs.
//!
//! This module owns only the body format; deciding when a token expires and
//! caching it belongs to the caller. It depends on `std` and `serde_json`
//! only, never panics, and bounds its input ([`MAX_BODY_LEN`],
//! [`MAX_TOKEN_LEN`], [`MAX_RFC3339_LEN`]).
//!
//! Error values never contain the token itself.

use std::fmt;

use serde_json::Value;

/// Largest accepted token response body, in bytes.
pub const MAX_BODY_LEN: usize = 1024 * 1024;

/// Longest accepted token, in bytes (it is sent back in an `Authorization` header).
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Largest `expires_in` kept, in seconds (one year); larger values are clamped to it.
pub const MAX_EXPIRES_IN: u64 = 365 * 24 * 60 * 60;

/// Longest string [`parse_rfc3339`] looks at, in bytes.
pub const MAX_RFC3339_LEN: usize = 64;

/// A parsed Docker / OCI bearer token response.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The bearer token: non-empty visible ASCII, at most [`MAX_TOKEN_LEN`] bytes.
    pub token: String,
    /// Lifetime in whole seconds: `None` when absent, not a number, or not
    /// positive after dropping any fraction; clamped to [`MAX_EXPIRES_IN`].
    pub expires_in: Option<u64>,
    /// When the token was issued, in unix seconds: `None` when absent,
    /// unparseable, or before 1970.
    pub issued_at: Option<u64>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a credential: keep it out of logs.
        f.debug_struct("TokenResponse")
            .field(
                "token",
                &format_args!("<{} bytes redacted>", self.token.len()),
            )
            .field("expires_in", &self.expires_in)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// Why a token response body was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenResponseError {
    /// The body is larger than [`MAX_BODY_LEN`]; carries its length.
    BodyTooLarge(usize),
    /// The body is not valid JSON; carries the parser's message.
    InvalidJson(String),
    /// The body is JSON but not an object.
    NotAnObject,
    /// Neither `access_token` nor `token` is a non-empty string.
    NoToken,
    /// The chosen token field (`access_token` or `token`, named here) is
    /// neither a string nor `null`.
    TokenNotString(&'static str),
    /// The token is longer than [`MAX_TOKEN_LEN`]; carries its length.
    TokenTooLong(usize),
    /// The token contains a byte that is not visible ASCII (0x21..=0x7E).
    TokenNotVisibleAscii,
}

impl fmt::Display for TokenResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenResponseError::BodyTooLarge(len) => write!(
                f,
                "token response body is {len} bytes, more than the {MAX_BODY_LEN}-byte limit"
            ),
            TokenResponseError::InvalidJson(msg) => {
                write!(f, "token response is not valid JSON: {msg}")
            }
            TokenResponseError::NotAnObject => f.write_str("token response is not a JSON object"),
            TokenResponseError::NoToken => {
                f.write_str("token response has no non-empty `access_token` or `token`")
            }
            TokenResponseError::TokenNotString(field) => {
                write!(f, "token response field `{field}` is not a string")
            }
            TokenResponseError::TokenTooLong(len) => write!(
                f,
                "token is {len} bytes, more than the {MAX_TOKEN_LEN}-byte limit"
            ),
            TokenResponseError::TokenNotVisibleAscii => {
                f.write_str("token contains characters other than visible ASCII")
            }
        }
    }
}

impl std::error::Error for TokenResponseError {}

/// Parses a Docker token response body.
///
/// The token is `access_token` if present and a non-empty string, else `token`
/// (python-dxf's rule); a `null` field counts as absent. `expires_in` may be an
/// integer or a float: a fraction is dropped, a value that is then not positive
/// (or is not a number at all) gives `None`, and a value above
/// [`MAX_EXPIRES_IN`] is clamped to it. `issued_at` is RFC 3339; anything
/// unparseable gives `None`, never an error. Unknown fields are ignored.
///
/// # Errors
///
/// A body over [`MAX_BODY_LEN`], invalid JSON, a non-object, no usable token,
/// or a token that is not a string, is over [`MAX_TOKEN_LEN`] or is not
/// visible ASCII (it goes into a header).
pub fn parse_token_response(body: &[u8]) -> Result<TokenResponse, TokenResponseError> {
    if body.len() > MAX_BODY_LEN {
        return Err(TokenResponseError::BodyTooLarge(body.len()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| TokenResponseError::InvalidJson(e.to_string()))?;
    let obj = value.as_object().ok_or(TokenResponseError::NotAnObject)?;

    let token = match non_empty_string(obj.get("access_token"), "access_token")? {
        Some(t) => t,
        None => non_empty_string(obj.get("token"), "token")?.ok_or(TokenResponseError::NoToken)?,
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenResponseError::TokenTooLong(token.len()));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenResponseError::TokenNotVisibleAscii);
    }

    let expires_in = obj.get("expires_in").and_then(expires_in_secs);
    let issued_at = obj
        .get("issued_at")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);

    Ok(TokenResponse {
        token: token.to_owned(),
        expires_in,
        issued_at,
    })
}

/// `Ok(Some(s))` for a non-empty string, `Ok(None)` for absent / `null` /
/// empty, `Err` for any other JSON type.
fn non_empty_string<'a>(
    v: Option<&'a Value>,
    field: &'static str,
) -> Result<Option<&'a str>, TokenResponseError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenResponseError::TokenNotString(field)),
    }
}

/// Whole positive seconds from a JSON number, clamped to [`MAX_EXPIRES_IN`].
fn expires_in_secs(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    let secs = if let Some(u) = n.as_u64() {
        u
    } else if n.is_i64() {
        // Negative integer.
        return None;
    } else {
        let f = n.as_f64()?;
        if !f.is_finite() || f < 1.0 {
            return None;
        }
        if f >= MAX_EXPIRES_IN as f64 {
            MAX_EXPIRES_IN
        } else {
            // 1.0 <= f < MAX_EXPIRES_IN: the truncating cast is exact and in range.
            f as u64
        }
    };
    if secs == 0 {
        None
    } else {
        Some(secs.min(MAX_EXPIRES_IN))
    }
}

/// Parses an RFC 3339 `date-time` (e.g. `2024-01-02T03:04:05Z`,
/// `2024-01-02T03:04:05.123456789+02:00`) into unix seconds: the fraction is
/// dropped and the offset applied. Hand-written, no date crates.
///
/// `T` and `Z` may be lowercase, and a single space may replace `T` (RFC 3339
/// §5.6 note). A leap second (`:60`) is accepted and counts as the next
/// second. Returns `None` for anything else, for impossible dates (Feb 30,
/// month 13, Feb 29 of a non-leap year), for instants before 1970, and for
/// strings longer than [`MAX_RFC3339_LEN`].
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    if s.len() > MAX_RFC3339_LEN {
        return None;
    }
    let mut c = DigitCursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let year = c.digits(4)?;
    c.expect(|b| b == b'-')?;
    let month = c.digits(2)?;
    c.expect(|b| b == b'-')?;
    let day = c.digits(2)?;
    c.expect(|b| matches!(b, b'T' | b't' | b' '))?;
    let hour = c.digits(2)?;
    c.expect(|b| b == b':')?;
    let minute = c.digits(2)?;
    c.expect(|b| b == b':')?;
    let second = c.digits(2)?;
    if c.peek() == Some(b'.') {
        c.bump();
        if !c.peek().is_some_and(|b| b.is_ascii_digit()) {
            return None;
        }
        while c.peek().is_some_and(|b| b.is_ascii_digit()) {
            c.bump();
        }
    }
    let offset_secs: i64 = match c.peek()? {
        b'Z' | b'z' => {
            c.bump();
            0
        }
        sign @ (b'+' | b'-') => {
            c.bump();
            let oh = c.digits(2)?;
            c.expect(|b| b == b':')?;
            let om = c.digits(2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 3600 + om * 60);
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    if c.peek().is_some() {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let local = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    u64::try_from(local - offset_secs).ok()
}

/// Byte cursor for fixed-width date fields.
struct DigitCursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl DigitCursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) {
        if self.pos < self.bytes.len() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, ok: impl Fn(u8) -> bool) -> Option<()> {
        let b = self.peek()?;
        if ok(b) {
            self.bump();
            Some(())
        } else {
            None
        }
    }

    /// Exactly `n` (at most 9) ASCII digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v: u32 = 0;
        for _ in 0..n {
            let b = self.peek().filter(u8::is_ascii_digit)?;
            v = v.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
            self.bump();
        }
        Some(v)
    }
}

fn is_leap_year(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`); valid for the years 0..=9999 used here.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    fn parse(s: &str) -> Result<TokenResponse, TokenResponseError> {
        parse_token_response(s.as_bytes())
    }

    #[test]
    fn access_token_wins() {
        let r = parse(r#"{"access_token":"aaa","token":"ttt"}"#).unwrap();
        assert_eq!(r.token, "aaa");
    }

    #[test]
    fn token_only() {
        let r = parse(r#"{"token":"ttt","expires_in":300,"issued_at":"2024-01-02T03:04:05Z"}"#)
            .unwrap();
        assert_eq!(
            r,
            TokenResponse {
                token: "ttt".into(),
                expires_in: Some(300),
                issued_at: Some(1_704_164_645),
            }
        );
    }

    #[test]
    fn empty_or_null_access_token_falls_back() {
        assert_eq!(
            parse(r#"{"access_token":"","token":"ttt"}"#).unwrap().token,
            "ttt"
        );
        assert_eq!(
            parse(r#"{"access_token":null,"token":"ttt"}"#)
                .unwrap()
                .token,
            "ttt"
        );
    }

    #[test]
    fn missing_token() {
        assert_eq!(parse("{}"), Err(TokenResponseError::NoToken));
        assert_eq!(
            parse(r#"{"access_token":"","token":""}"#),
            Err(TokenResponseError::NoToken)
        );
        assert_eq!(
            parse(r#"{"expires_in":60}"#),
            Err(TokenResponseError::NoToken)
        );
    }

    #[test]
    fn not_json_or_not_object() {
        assert!(matches!(
            parse("not json"),
            Err(TokenResponseError::InvalidJson(_))
        ));
        assert!(matches!(parse(""), Err(TokenResponseError::InvalidJson(_))));
        assert!(matches!(
            parse(r#"{"token":"a"} trailing"#),
            Err(TokenResponseError::InvalidJson(_))
        ));
        assert_eq!(
            parse(r#"[{"token":"a"}]"#),
            Err(TokenResponseError::NotAnObject)
        );
        assert_eq!(parse(r#""a""#), Err(TokenResponseError::NotAnObject));
        assert!(matches!(
            parse_token_response(b"\xff\xfe"),
            Err(TokenResponseError::InvalidJson(_))
        ));
    }

    #[test]
    fn bad_token_values() {
        assert_eq!(
            parse(r#"{"token":42}"#),
            Err(TokenResponseError::TokenNotString("token"))
        );
        assert_eq!(
            parse(r#"{"access_token":["x"],"token":"ok"}"#),
            Err(TokenResponseError::TokenNotString("access_token"))
        );
        assert_eq!(
            parse(r#"{"token":"a b"}"#),
            Err(TokenResponseError::TokenNotVisibleAscii)
        );
        assert_eq!(
            parse(r#"{"token":"a\r\nX-Evil: 1"}"#),
            Err(TokenResponseError::TokenNotVisibleAscii)
        );
        assert_eq!(
            parse(r#"{"token":"caf\u00e9"}"#),
            Err(TokenResponseError::TokenNotVisibleAscii)
        );
        let long = format!(r#"{{"token":"{}"}}"#, "a".repeat(MAX_TOKEN_LEN + 1));
        assert_eq!(
            parse(&long),
            Err(TokenResponseError::TokenTooLong(MAX_TOKEN_LEN + 1))
        );
        let ok = format!(r#"{{"token":"{}"}}"#, "a".repeat(MAX_TOKEN_LEN));
        assert_eq!(parse(&ok).unwrap().token.len(), MAX_TOKEN_LEN);
    }

    #[test]
    fn body_too_large() {
        let body = vec![b' '; MAX_BODY_LEN + 1];
        assert_eq!(
            parse_token_response(&body),
            Err(TokenResponseError::BodyTooLarge(MAX_BODY_LEN + 1))
        );
    }

    #[test]
    fn unknown_fields_ignored() {
        let r = parse(r#"{"token":"t","refresh_token":"r","scope":{"a":[1,2]},"x":null}"#).unwrap();
        assert_eq!(r.token, "t");
        assert_eq!(r.expires_in, None);
        assert_eq!(r.issued_at, None);
    }

    #[test]
    fn expires_in_forms() {
        let e = |v: &str| {
            parse(&format!(r#"{{"token":"t","expires_in":{v}}}"#))
                .unwrap()
                .expires_in
        };
        assert_eq!(e("60"), Some(60));
        assert_eq!(e("60.9"), Some(60));
        assert_eq!(e("1e2"), Some(100));
        assert_eq!(e("0.5"), None);
        assert_eq!(e("0"), None);
        assert_eq!(e("-5"), None);
        assert_eq!(e("-5.5"), None);
        assert_eq!(e("18446744073709551615"), Some(MAX_EXPIRES_IN));
        assert_eq!(e("1e300"), Some(MAX_EXPIRES_IN));
        assert_eq!(e("99999999999999999999999"), Some(MAX_EXPIRES_IN));
        assert_eq!(e(&MAX_EXPIRES_IN.to_string()), Some(MAX_EXPIRES_IN));
        assert_eq!(e("\"300\""), None);
        assert_eq!(e("null"), None);
        assert_eq!(e("true"), None);
    }

    #[test]
    fn issued_at_unparseable_is_ignored() {
        let r = parse(r#"{"token":"t","issued_at":"yesterday"}"#).unwrap();
        assert_eq!(r.issued_at, None);
        let r = parse(r#"{"token":"t","issued_at":12345}"#).unwrap();
        assert_eq!(r.issued_at, None);
    }

    #[test]
    fn debug_redacts_token() {
        let r = parse(r#"{"token":"supersecret"}"#).unwrap();
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("supersecret"), "{dbg}");
        assert!(dbg.contains("11 bytes redacted"), "{dbg}");
    }

    #[test]
    fn error_display() {
        assert_eq!(
            TokenResponseError::NoToken.to_string(),
            "token response has no non-empty `access_token` or `token`"
        );
        let e = parse(r#"{"token":"secret value"}"#).unwrap_err();
        assert!(!e.to_string().contains("secret"));
        let _: &dyn std::error::Error = &e;
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-01-02T03:04:05Z"), Some(1_704_164_645));
        assert_eq!(parse_rfc3339("2024-01-02t03:04:05z"), Some(1_704_164_645));
        assert_eq!(parse_rfc3339("2024-01-02 03:04:05Z"), Some(1_704_164_645));
        assert_eq!(
            parse_rfc3339("2024-01-02T03:04:05.123456789Z"),
            Some(1_704_164_645)
        );
        assert_eq!(
            parse_rfc3339("2024-01-02T05:04:05.123456789+02:00"),
            Some(1_704_164_645)
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T22:34:05-04:30"),
            Some(1_704_164_645)
        );
        assert_eq!(
            parse_rfc3339("2024-01-02T03:04:05+00:00"),
            Some(1_704_164_645)
        );
        assert_eq!(
            parse_rfc3339("2024-01-02T03:04:05-00:00"),
            Some(1_704_164_645)
        );
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_rfc3339("2038-01-19T03:14:08Z"), Some(1 << 31));
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), Some(253_402_300_799));
        // Leap second counts as the next second.
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_800));
    }

    #[test]
    fn rfc3339_leap_years() {
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("1900-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2100-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2024-12-31T00:00:00Z"), Some(1_735_603_200));
    }

    #[test]
    fn rfc3339_invalid() {
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-32T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:61Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0200",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+02:60",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01T00:00:00Z ",
            " 2024-01-01T00:00:00Z",
            "2024-1-01T00:00:00Z",
            "24-01-01T00:00:00Z",
            "2024-01-01X00:00:00Z",
            "2024-01-01",
            "+2024-01-01T00:00:00Z",
            "２０２４-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_length_bound() {
        let prefix = "2024-01-01T00:00:00.";
        let at_limit = format!(
            "{prefix}{}Z",
            "1".repeat(MAX_RFC3339_LEN - prefix.len() - 1)
        );
        assert_eq!(at_limit.len(), MAX_RFC3339_LEN);
        assert_eq!(parse_rfc3339(&at_limit), Some(1_704_067_200));
        let over = format!("{prefix}{}Z", "1".repeat(MAX_RFC3339_LEN - prefix.len()));
        assert_eq!(parse_rfc3339(&over), None);
    }

    #[test]
    fn rfc3339_before_1970() {
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00+00:01"), None);
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59-00:01"), Some(59));
    }

    proptest! {
        #[test]
        fn token_response_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_token_response(&body);
        }

        #[test]
        fn token_response_jsonish_never_panics(
            body in r#"\{("(access_token|token|expires_in|issued_at)":("[ -~]{0,8}"|-?[0-9.e+-]{1,12}|null|true|\[\]),?){0,5}\}"#,
        ) {
            let _ = parse_token_response(body.as_bytes());
        }

        #[test]
        fn rfc3339_never_panics(s in "\\PC{0,40}") {
            let _ = parse_rfc3339(&s);
        }

        #[test]
        fn rfc3339_shaped_never_panics(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})") {
            let _ = parse_rfc3339(&s);
        }

        #[test]
        fn rfc3339_matches_day_arithmetic(days in 0i64..2_932_896, secs in 0i64..86_400) {
            // Render a known instant by hand and check it parses back.
            let (y, m, d) = civil_from_days(days);
            let s = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            );
            prop_assert_eq!(parse_rfc3339(&s), Some((days * 86_400 + secs) as u64));
        }
    }

    /// Inverse of `days_from_civil` (Howard Hinnant's `civil_from_days`).
    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (if m <= 2 { y + 1 } else { y }, m, d)
    }
}
