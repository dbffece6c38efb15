//! Small registry response header parsers: `Link` pagination
//! ([`next_link`]), upload `Range` ([`parse_upload_range`]), `Content-Range`
//! ([`parse_content_range`]), strict decimals such as `Content-Length` and
//! `OCI-Chunk-Min-Length` ([`parse_decimal`]) and `Retry-After`
//! ([`parse_retry_after`]).
//!
//! Every function works on raw header bytes, depends on `std` only, never
//! panics and bounds its input ([`MAX_LINK_VALUE_LEN`],
//! [`MAX_SHORT_VALUE_LEN`]). Resolving a relative link against the request
//! URL is the caller's job.

use std::fmt;

/// Longest accepted single `Link` header value, in bytes.
pub const MAX_LINK_VALUE_LEN: usize = 16 * 1024;

/// Longest accepted value for the numeric headers (`Range`, `Content-Range`,
/// decimals, `Retry-After`), in bytes.
pub const MAX_SHORT_VALUE_LEN: usize = 256;

/// A registry response header that could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The value is longer than the limit for that header.
    TooLong {
        /// Which header (`"Link"`, `"Range"`, `"Content-Range"`, or
        /// `"decimal"` for [`parse_decimal`]).
        header: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The value does not follow the header's grammar.
    Malformed {
        /// Which header (`"Link"`, `"Range"`, `"Content-Range"`, or
        /// `"decimal"` for [`parse_decimal`]).
        header: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
}

impl HeaderError {
    /// Which header the error is about (`"decimal"` for [`parse_decimal`],
    /// which is used for several headers).
    pub fn header(&self) -> &'static str {
        match self {
            HeaderError::TooLong { header, .. } | HeaderError::Malformed { header, .. } => header,
        }
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::TooLong { header, limit } => {
                write!(f, "{header} header value is longer than {limit} bytes")
            }
            HeaderError::Malformed { header, reason } => {
                write!(f, "malformed {header} header value: {reason}")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

const LINK: &str = "Link";
const RANGE: &str = "Range";
const CONTENT_RANGE: &str = "Content-Range";
const DECIMAL: &str = "decimal";

fn malformed(header: &'static str, reason: &'static str) -> HeaderError {
    HeaderError::Malformed { header, reason }
}

fn check_len(value: &[u8], header: &'static str, limit: usize) -> Result<(), HeaderError> {
    if value.len() > limit {
        Err(HeaderError::TooLong { header, limit })
    } else {
        Ok(())
    }
}

/// Byte cursor over one header value.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

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

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    /// Consumes the longest run of bytes matching `pred`.
    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
        self.bytes.get(start..self.pos).unwrap_or_default()
    }
}

/// RFC 9110 `tchar`.
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

/// Consumes a quoted-string (the cursor is at its opening `"`) and returns its
/// unescaped content (lossy UTF-8 for obs-text).
fn quoted_string(c: &mut Cursor<'_>, header: &'static str) -> Result<String, HeaderError> {
    c.bump();
    let mut buf = Vec::new();
    loop {
        let b = match c.peek() {
            None => return Err(malformed(header, "unterminated quoted-string")),
            Some(b'"') => {
                c.bump();
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
            Some(b'\\') => {
                c.bump();
                c.peek()
                    .ok_or_else(|| malformed(header, "unterminated quoted-string"))?
            }
            Some(b) => b,
        };
        if b != b'\t' && (b < 0x20 || b == 0x7f) {
            return Err(malformed(header, "control character in quoted-string"));
        }
        buf.push(b);
        c.bump();
    }
}

/// `Link` header values → the URI-reference of the first link whose `rel`
/// contains `next` (RFC 8288: `<uri>; rel="next"`).
///
/// Several links per value (comma-separated) and several values are allowed;
/// `rel` may be quoted or unquoted, is matched case-insensitively and may be a
/// space-separated list such as `"next last"`; only the first `rel` of a link
/// counts (RFC 8288 §3.3) and other params are ignored. The URI-reference is
/// returned as written (possibly relative, possibly empty), not resolved.
/// Every value is checked, even after a next link was found.
///
/// # Errors
///
/// A value longer than [`MAX_LINK_VALUE_LEN`] or not following
/// `#( "<" URI-Reference ">" *( OWS ";" OWS link-param ) )`, e.g. an
/// unterminated `<`, whitespace or control bytes inside `<…>`, a param without
/// a name, or an unterminated quoted-string.
pub fn next_link<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<String>, HeaderError> {
    let mut next = None;
    for value in values {
        check_len(value, LINK, MAX_LINK_VALUE_LEN)?;
        let mut c = Cursor::new(value);
        loop {
            // Skip whitespace and empty list elements.
            while matches!(c.peek(), Some(b' ' | b'\t' | b',')) {
                c.bump();
            }
            if c.at_end() {
                break;
            }
            if c.peek() != Some(b'<') {
                return Err(malformed(LINK, "expected '<'"));
            }
            c.bump();
            let uri = c.take_while(|b| b.is_ascii_graphic() && b != b'>' && b != b'<');
            if c.peek() != Some(b'>') {
                return Err(malformed(
                    LINK,
                    "unterminated '<' or invalid byte in URI-reference",
                ));
            }
            c.bump();
            let mut rel: Option<String> = None;
            loop {
                c.skip_ows();
                match c.peek() {
                    None | Some(b',') => break,
                    Some(b';') => c.bump(),
                    Some(_) => return Err(malformed(LINK, "expected ';' or ','")),
                }
                c.skip_ows();
                let name = c.take_while(is_tchar);
                if name.is_empty() {
                    return Err(malformed(LINK, "expected a link-param name"));
                }
                c.skip_ows();
                let param_value = if c.peek() == Some(b'=') {
                    c.bump();
                    c.skip_ows();
                    if c.peek() == Some(b'"') {
                        quoted_string(&mut c, LINK)?
                    } else {
                        let token = c.take_while(is_tchar);
                        if token.is_empty() {
                            return Err(malformed(LINK, "expected a link-param value"));
                        }
                        String::from_utf8_lossy(token).into_owned()
                    }
                } else {
                    String::new()
                };
                if rel.is_none() && name.eq_ignore_ascii_case(b"rel") {
                    rel = Some(param_value);
                }
            }
            let is_next =
                rel.is_some_and(|r| r.split([' ', '\t']).any(|t| t.eq_ignore_ascii_case("next")));
            if is_next && next.is_none() {
                next = Some(String::from_utf8_lossy(uri).into_owned());
            }
        }
    }
    Ok(next)
}

/// Strips optional whitespace (SP / HTAB) from both ends.
fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t');
    let start = value.iter().position(|b| !is_ws(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

/// `1*DIGIT` as u64, `None` on empty input, any non-digit, or overflow.
fn digits_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Upload `Range` response header (`0-N`, inclusive end, optionally prefixed
/// by `bytes=`) → the number of bytes the registry holds, `N + 1`.
///
/// Gitea's `0--1` means nothing is held and gives 0. `0-0` gives 1 (the
/// grammar cannot express "empty" otherwise; a caller that knows it sent
/// nothing must decide for itself). Surrounding whitespace is ignored.
///
/// # Errors
///
/// A value longer than [`MAX_SHORT_VALUE_LEN`], a start other than 0, an end
/// before the start, an end of `u64::MAX` (N + 1 overflows), or anything else
/// that is not `[bytes=]0-N`.
pub fn parse_upload_range(value: &[u8]) -> Result<u64, HeaderError> {
    check_len(value, RANGE, MAX_SHORT_VALUE_LEN)?;
    let v = trim_ows(value);
    let v = match v.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case(b"bytes=") => v.get(6..).unwrap_or_default(),
        _ => v,
    };
    let (start, end) = v
        .split_first()
        .filter(|(first, _)| first.is_ascii_digit())
        .and_then(|_| {
            let dash = v.iter().position(|&b| b == b'-')?;
            Some((v.get(..dash)?, v.get(dash + 1..)?))
        })
        .ok_or_else(|| malformed(RANGE, "expected START-END"))?;
    let start = digits_u64(start).ok_or_else(|| malformed(RANGE, "invalid start"))?;
    if start != 0 {
        return Err(malformed(RANGE, "start is not 0"));
    }
    if end == b"-1" {
        return Ok(0);
    }
    let end = digits_u64(end).ok_or_else(|| malformed(RANGE, "invalid end"))?;
    end.checked_add(1)
        .ok_or_else(|| malformed(RANGE, "end is too large"))
}

/// A `Content-Range: bytes START-END/TOTAL` value of a `206` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte position.
    pub start: u64,
    /// Last byte position (inclusive); never less than `start`.
    pub end: u64,
    /// Complete length; `None` when sent as `*`. When known it is greater than `end`.
    pub total: Option<u64>,
}

/// Parses `Content-Range: bytes START-END/TOTAL` (`TOTAL` may be `*`) for a
/// `206` response. The unit is matched case-insensitively and surrounding
/// whitespace is ignored.
///
/// # Errors
///
/// A value longer than [`MAX_SHORT_VALUE_LEN`], a unit other than `bytes`,
/// the unsatisfied form `bytes */TOTAL`, `END < START`, `TOTAL <= END`,
/// numbers that overflow u64, or any other deviation.
pub fn parse_content_range(value: &[u8]) -> Result<ContentRange, HeaderError> {
    check_len(value, CONTENT_RANGE, MAX_SHORT_VALUE_LEN)?;
    let v = trim_ows(value);
    let rest = match (v.get(..5), v.get(5..)) {
        (Some(unit), Some(rest)) if unit.eq_ignore_ascii_case(b"bytes") => rest,
        _ => return Err(malformed(CONTENT_RANGE, "unit is not bytes")),
    };
    let spec = trim_ows(rest);
    if spec.len() == rest.len() {
        return Err(malformed(CONTENT_RANGE, "expected a space after the unit"));
    }
    let (range, total) = split_once_byte(spec, b'/')
        .ok_or_else(|| malformed(CONTENT_RANGE, "expected START-END/TOTAL"))?;
    let (start, end) = split_once_byte(range, b'-')
        .ok_or_else(|| malformed(CONTENT_RANGE, "expected START-END"))?;
    let start = digits_u64(start).ok_or_else(|| malformed(CONTENT_RANGE, "invalid start"))?;
    let end = digits_u64(end).ok_or_else(|| malformed(CONTENT_RANGE, "invalid end"))?;
    if end < start {
        return Err(malformed(CONTENT_RANGE, "end is before start"));
    }
    let total = if total == b"*" {
        None
    } else {
        let total = digits_u64(total).ok_or_else(|| malformed(CONTENT_RANGE, "invalid total"))?;
        if total <= end {
            return Err(malformed(CONTENT_RANGE, "end is not below total"));
        }
        Some(total)
    };
    Ok(ContentRange { start, end, total })
}

fn split_once_byte(v: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = v.iter().position(|&b| b == sep)?;
    Some((v.get(..i)?, v.get(i + 1..)?))
}

/// Strict decimal u64 (`Content-Length`, `OCI-Chunk-Min-Length`): ASCII digits
/// only (leading zeros allowed), optional surrounding SP / HTAB, no sign, no
/// overflow.
///
/// # Errors
///
/// A value longer than [`MAX_SHORT_VALUE_LEN`], empty, containing anything
/// but digits after trimming, or above `u64::MAX`. The error's header is
/// `"decimal"`; callers name the real header.
pub fn parse_decimal(value: &[u8]) -> Result<u64, HeaderError> {
    check_len(value, DECIMAL, MAX_SHORT_VALUE_LEN)?;
    let v = trim_ows(value);
    if v.is_empty() {
        return Err(malformed(DECIMAL, "empty"));
    }
    if !v.iter().all(u8::is_ascii_digit) {
        return Err(malformed(DECIMAL, "not a decimal number"));
    }
    digits_u64(v).ok_or_else(|| malformed(DECIMAL, "number is too large"))
}

/// `Retry-After`: delta-seconds, or an IMF-fixdate HTTP-date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) turned into seconds after `now_unix`
/// (0 when the date is not after it).
///
/// Returns `None` when unparseable, including a value over
/// [`MAX_SHORT_VALUE_LEN`], delta-seconds above `u64::MAX`, impossible dates,
/// and the obsolete RFC 850 / asctime date forms (not supported).
/// The day name must be a valid one but is not checked against the date.
pub fn parse_retry_after(value: &[u8], now_unix: u64) -> Option<u64> {
    if value.len() > MAX_SHORT_VALUE_LEN {
        return None;
    }
    let v = trim_ows(value);
    if v.first().is_some_and(u8::is_ascii_digit) {
        return digits_u64(v);
    }
    let at = parse_imf_fixdate(v)?;
    Some(u64::try_from(at).map_or(0, |at| at.saturating_sub(now_unix)))
}

/// IMF-fixdate → unix seconds (negative before 1970).
fn parse_imf_fixdate(v: &[u8]) -> Option<i64> {
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    if v.len() != 29 {
        return None;
    }
    let field = |a: usize, b: usize| v.get(a..b);
    let fixed = |a: usize, lit: &[u8]| field(a, a + lit.len()) == Some(lit);
    let num = |a: usize, b: usize| -> Option<u32> {
        let d = field(a, b)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        u32::try_from(digits_u64(d)?).ok()
    };
    let day_name = field(0, 3)?;
    if !DAYS.contains(&day_name) {
        return None;
    }
    if !fixed(3, b", ") || !fixed(7, b" ") || !fixed(11, b" ") || !fixed(16, b" ") {
        return None;
    }
    if !fixed(19, b":") || !fixed(22, b":") || !fixed(25, b" GMT") {
        return None;
    }
    let day = num(5, 7)?;
    let month_name = field(8, 11)?;
    let month = MONTHS.iter().position(|m| *m == month_name)?;
    let month = u32::try_from(month).ok()? + 1;
    let year = num(12, 16)?;
    let hour = num(17, 19)?;
    let minute = num(20, 22)?;
    let second = num(23, 25)?;
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    Some(days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
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

    fn link(values: &[&str]) -> Result<Option<String>, HeaderError> {
        next_link(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn link_docker_distribution() {
        assert_eq!(
            link(&[r#"</v2/_catalog?last=b&n=2>; rel="next""#]).unwrap(),
            Some("/v2/_catalog?last=b&n=2".to_owned())
        );
    }

    #[test]
    fn link_unquoted_and_absolute() {
        assert_eq!(
            link(&["<https://reg.example/v2/a/tags/list?n=10&last=x>; rel=next"]).unwrap(),
            Some("https://reg.example/v2/a/tags/list?n=10&last=x".to_owned())
        );
        assert_eq!(
            link(&["<rel/ative?x=1>;rel=NEXT"]).unwrap(),
            Some("rel/ative?x=1".to_owned())
        );
    }

    #[test]
    fn link_multiple_links_and_lists() {
        assert_eq!(
            link(&[
                r#"</first>; rel="first", </p2>; title="a, b; c"; rel="last next", </p3>; rel=next"#
            ])
            .unwrap(),
            Some("/p2".to_owned())
        );
        assert_eq!(
            link(&[r#"</prev>; rel="prev""#, r#"</n>; rel="next""#]).unwrap(),
            Some("/n".to_owned())
        );
        // Only the first rel of a link counts.
        assert_eq!(
            link(&[r#"</a>; rel="prev"; rel="next", </b>; REL = "Next""#]).unwrap(),
            Some("/b".to_owned())
        );
    }

    #[test]
    fn link_no_next() {
        assert_eq!(link(&[]).unwrap(), None);
        assert_eq!(link(&[""]).unwrap(), None);
        assert_eq!(link(&[" , ,"]).unwrap(), None);
        assert_eq!(link(&[r#"</x>; rel="prev""#]).unwrap(), None);
        assert_eq!(link(&["</x>"]).unwrap(), None);
        assert_eq!(link(&[r#"</x>; rel="nextpage""#]).unwrap(), None);
        assert_eq!(link(&["</x>; anchor=\"next\"; crossorigin"]).unwrap(), None);
    }

    #[test]
    fn link_malformed() {
        for bad in [
            r#"</v2/_catalog?last=b&n=2; rel="next""#,
            "<",
            "/x; rel=next",
            "</x> rel=next",
            "</x>; =next",
            "</x>; rel=",
            r#"</x>; rel="next"#,
            "</a b>; rel=next",
            "</a\u{1}>; rel=next",
            "<<x>>; rel=next",
            "</x>; rel=\"a\u{1}\"",
            "</x>; rel=next junk",
        ] {
            assert!(link(&[bad]).is_err(), "{bad:?} should be rejected");
        }
        // A later malformed value fails the whole lookup.
        assert!(link(&["</x>; rel=next", "garbage"]).is_err());
        let long = format!("<{}>; rel=next", "a".repeat(MAX_LINK_VALUE_LEN));
        assert_eq!(
            link(&[&long]),
            Err(HeaderError::TooLong {
                header: "Link",
                limit: MAX_LINK_VALUE_LEN
            })
        );
    }

    #[test]
    fn upload_range() {
        assert_eq!(parse_upload_range(b"0-0"), Ok(1));
        assert_eq!(parse_upload_range(b"0-99"), Ok(100));
        assert_eq!(parse_upload_range(b"bytes=0-99"), Ok(100));
        assert_eq!(parse_upload_range(b"Bytes=0-99"), Ok(100));
        assert_eq!(parse_upload_range(b" 0-1023 "), Ok(1024));
        assert_eq!(parse_upload_range(b"0--1"), Ok(0));
        assert_eq!(parse_upload_range(b"bytes=0--1"), Ok(0));
        assert_eq!(parse_upload_range(b"0-18446744073709551614"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"0",
            b"0-",
            b"-5",
            b"1-5",
            b"0--2",
            b"0-18446744073709551615",
            b"0-99999999999999999999999",
            b"0-+5",
            b"0-5x",
            b"0 - 5",
            b"bytes 0-5",
            b"bytes=",
            b"0-5-6",
            b"\xff",
        ] {
            assert!(parse_upload_range(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_upload_range(b"1-5").unwrap_err().to_string(),
            "malformed Range header value: start is not 0"
        );
        assert_eq!(parse_upload_range(b"1-5").unwrap_err().header(), "Range");
    }

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range(b"bytes 0-99/1000"),
            Ok(ContentRange {
                start: 0,
                end: 99,
                total: Some(1000)
            })
        );
        assert_eq!(
            parse_content_range(b" BYTES 100-199/*"),
            Ok(ContentRange {
                start: 100,
                end: 199,
                total: None
            })
        );
        assert_eq!(
            parse_content_range(b"bytes 5-5/6"),
            Ok(ContentRange {
                start: 5,
                end: 5,
                total: Some(6)
            })
        );
        for bad in [
            &b""[..],
            b"bytes",
            b"bytes0-1/2",
            b"bytes=0-1/2",
            b"items 0-1/2",
            b"bytes */100",
            b"bytes 5-4/10",
            b"bytes 0-9/9",
            b"bytes 0-9/5",
            b"bytes 0-9",
            b"bytes 0/9",
            b"bytes -1-9/10",
            b"bytes 0-99999999999999999999/*",
            b"bytes 0-1/2 junk",
            b"bytes 0-1/ 2",
        ] {
            assert!(parse_content_range(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decimal() {
        assert_eq!(parse_decimal(b"0"), Ok(0));
        assert_eq!(parse_decimal(b"  42\t"), Ok(42));
        assert_eq!(parse_decimal(b"007"), Ok(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"  ",
            b"+1",
            b"-1",
            b"1 2",
            b"1.0",
            b"0x10",
            b"18446744073709551616",
            b"\xef\xbc\x91",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
        assert!(parse_decimal(&[b'1'; MAX_SHORT_VALUE_LEN + 1]).is_err());
        assert_eq!(
            parse_decimal(b"x").unwrap_err().to_string(),
            "malformed decimal header value: not a decimal number"
        );
    }

    #[test]
    fn retry_after() {
        assert_eq!(parse_retry_after(b"120", 0), Some(120));
        assert_eq!(parse_retry_after(b" 0 ", 5), Some(0));
        // 1994-11-06T08:49:37Z = 784111777.
        let date = b"Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_retry_after(date, 784_111_777 - 30), Some(30));
        assert_eq!(parse_retry_after(date, 784_111_777), Some(0));
        assert_eq!(parse_retry_after(date, 784_111_777 + 30), Some(0));
        assert_eq!(
            parse_retry_after(b"Thu, 29 Feb 2024 00:00:00 GMT", 1_709_164_700),
            Some(100)
        );
        // Before 1970 is in the past.
        assert_eq!(
            parse_retry_after(b"Wed, 31 Dec 1969 23:59:59 GMT", 0),
            Some(0)
        );
        for bad in [
            &b""[..],
            b"soon",
            b"-5",
            b"1.5",
            b"99999999999999999999999",
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Xyz, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 06 nov 1994 08:49:37 GMT",
            b"Sun, 31 Nov 1994 08:49:37 GMT",
            b"Fri, 29 Feb 2023 00:00:00 GMT",
            b"Sun, 06 Nov 1994 24:49:37 GMT",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun, +6 Nov 1994 08:49:37 GMT",
            b"Sun,  06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, 0), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panic(value in prop::collection::vec(any::<u8>(), 0..300), now in any::<u64>()) {
            let _ = next_link([value.as_slice()]);
            let _ = parse_upload_range(&value);
            let _ = parse_content_range(&value);
            let _ = parse_decimal(&value);
            let _ = parse_retry_after(&value, now);
        }

        #[test]
        fn link_grammar_never_panics(
            values in prop::collection::vec(
                prop::collection::vec(prop::sample::select(b"<>;,=\" \trelnxt/\\\x01".to_vec()), 0..64),
                0..3,
            ),
        ) {
            let _ = next_link(values.iter().map(Vec::as_slice));
        }

        #[test]
        fn numeric_shapes_never_panic(s in "(bytes[ =])?[0-9-]{0,25}(/[0-9*]{0,22})?", now in any::<u64>()) {
            let _ = parse_upload_range(s.as_bytes());
            let _ = parse_content_range(s.as_bytes());
            let _ = parse_retry_after(s.as_bytes(), now);
        }

        #[test]
        fn imf_shaped_never_panics(
            s in "(Mon|Sun|Xyz), [0-9]{2} (Jan|Feb|Dec|xxx) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
            now in any::<u64>(),
        ) {
            let _ = parse_retry_after(s.as_bytes(), now);
        }

        #[test]
        fn decimal_round_trip(n in any::<u64>()) {
            prop_assert_eq!(parse_decimal(n.to_string().as_bytes()), Ok(n));
        }

        #[test]
        fn upload_range_round_trip(n in 0u64..u64::MAX) {
            prop_assert_eq!(parse_upload_range(format!("0-{n}").as_bytes()), Ok(n + 1));
        }

        #[test]
        fn link_round_trip(path in "/[A-Za-z0-9/?&=._~%-]{0,40}") {
            let v = format!("</prev>; rel=prev, <{path}>; rel=\"next\"");
            prop_assert_eq!(next_link([v.as_bytes()]), Ok(Some(path)));
        }
    }
}
