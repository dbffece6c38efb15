//! python-dxf's output formats: lines printed with `print` and the per-platform objects
//! printed with `json.dumps(..., sort_keys=True)` — keys sorted by code point, `", "` and
//! `": "` separators, strings escaped with `ensure_ascii` (every non-ASCII character as
//! `\uXXXX`, astral ones as a surrogate pair) — plus the helpers that write them to stdout.

use std::collections::BTreeMap;
use std::io::Write;

use dxf_ureq::dxf_proto::pyjson::Json as PyJson;

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

impl From<Json> for PyJson {
    fn from(v: Json) -> PyJson {
        match v {
            Json::Str(s) => PyJson::Str(s),
            Json::Int(n) => PyJson::Int(n),
            Json::StrList(items) => PyJson::Arr(items.into_iter().map(PyJson::Str).collect()),
        }
    }
}

/// `{key: value, ...}` as `json.dumps(d, sort_keys=True)` prints it (dxf-proto's Python
/// JSON writer). When a key repeats, its first value is kept.
pub(crate) fn py_json_object(entries: impl IntoIterator<Item = (String, Json)>) -> String {
    let mut sorted = BTreeMap::new();
    for (k, v) in entries {
        sorted.entry(k).or_insert_with(|| PyJson::from(v));
    }
    PyJson::Obj(sorted).python()
}

/// Writes raw bytes to stdout.
pub(crate) fn raw(out: &mut dyn Write, bytes: &[u8]) -> Result<(), CliError> {
    out.write_all(bytes).map_err(CliError::Output)
}

/// Writes `text` and a newline (Python's `print`).
pub(crate) fn line(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
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
            py_json_object([(
                "k".to_owned(),
                Json::Str("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{7f}/é€😀".into())
            )]),
            "{\"k\": \"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f/\\u00e9\\u20ac\\ud83d\\ude00\"}"
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
