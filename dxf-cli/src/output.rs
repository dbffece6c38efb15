//! python-dxf's output formats: lines printed with `print` and the per-platform objects
//! printed with `json.dumps(..., sort_keys=True)` — keys sorted by code point, `", "` and
//! `": "` separators, strings escaped with `ensure_ascii` (every non-ASCII character as
//! `\uXXXX`, astral ones as a surrogate pair) — plus the helpers that write them to stdout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use crate::error::CliError;

/// A value in a per-platform object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    /// A string (digest, manifest text).
    Str(String),
    /// A list of strings (blob digests).
    StrList(Vec<String>),
    /// A non-negative integer (sizes).
    Int(u64),
}

/// `s` as a Python `json.dumps` string literal (`ensure_ascii=True`).
pub fn py_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

fn value(v: &Json) -> String {
    match v {
        Json::Str(s) => py_json_string(s),
        Json::Int(n) => n.to_string(),
        Json::StrList(items) => {
            let items: Vec<String> = items.iter().map(|s| py_json_string(s)).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// `{key: value, ...}` as `json.dumps(d, sort_keys=True)` prints it. When a key repeats,
/// its first value is kept.
pub fn py_json_object(entries: impl IntoIterator<Item = (String, Json)>) -> String {
    let mut sorted = BTreeMap::new();
    for (k, v) in entries {
        sorted.entry(k).or_insert(v);
    }
    let items: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}: {}", py_json_string(k), value(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Writes raw bytes to stdout.
pub fn raw(out: &mut dyn Write, bytes: &[u8]) -> Result<(), CliError> {
    out.write_all(bytes).map_err(CliError::Output)
}

/// Writes `text` and a newline (Python's `print`).
pub fn line(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    raw(out, text.as_bytes())?;
    raw(out, b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn digest_lists_like_python() {
        let s = py_json_object([
            (
                "linux/arm/v7".to_owned(),
                Json::StrList(vec![A.into(), A.into()]),
            ),
            ("linux/amd64".to_owned(), Json::StrList(vec![A.into()])),
            ("windows/amd64".to_owned(), Json::StrList(vec![])),
        ]);
        assert_eq!(
            s,
            format!(
                "{{\"linux/amd64\": [\"{A}\"], \"linux/arm/v7\": [\"{A}\", \"{A}\"], \"windows/amd64\": []}}"
            )
        );
    }

    #[test]
    fn sizes_and_strings() {
        assert_eq!(
            py_json_object([
                ("b".to_owned(), Json::Int(9)),
                ("a".to_owned(), Json::Int(0))
            ]),
            "{\"a\": 0, \"b\": 9}"
        );
        assert_eq!(
            py_json_object([("x".to_owned(), Json::Str(A.into()))]),
            format!("{{\"x\": \"{A}\"}}")
        );
        assert_eq!(py_json_object([]), "{}");
    }

    #[test]
    fn keys_sort_by_code_point_and_first_value_wins() {
        assert_eq!(
            py_json_object([
                ("a".to_owned(), Json::Int(1)),
                ("B".to_owned(), Json::Int(2)),
                ("a".to_owned(), Json::Int(3)),
                ("é".to_owned(), Json::Int(4)),
            ]),
            "{\"B\": 2, \"a\": 1, \"\\u00e9\": 4}"
        );
    }

    #[test]
    fn string_escapes_match_python_ensure_ascii() {
        // json.dumps('a"b\\c\n\r\t\b\f\x01\x7f/é€😀')
        assert_eq!(
            py_json_string("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{7f}/é€😀"),
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f/\\u00e9\\u20ac\\ud83d\\ude00\""
        );
    }

    #[test]
    fn manifest_text_as_a_json_string() {
        let m = r#"{"config": {"digest": "x"}, "layers": []}"#;
        assert_eq!(
            py_json_object([("linux/amd64".to_owned(), Json::Str(m.into()))]),
            r#"{"linux/amd64": "{\"config\": {\"digest\": \"x\"}, \"layers\": []}"}"#
        );
    }

    #[test]
    fn line_appends_newline() {
        let mut out = Vec::new();
        line(&mut out, "abc").unwrap();
        raw(&mut out, b"xyz").unwrap();
        assert_eq!(out, b"abc\nxyz");
    }
}
