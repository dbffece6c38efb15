//! A tiny JSON writer that prints exactly what Python's `json.dumps(..., sort_keys=True)`
//! prints — for python-dxf's byte-exact alias manifests and the CLI's per-platform objects —
//! or a compact, deterministic form (the OCI artifact manifests).

use std::collections::BTreeMap;

/// The JSON this module writes: no floats, no booleans, no null. Objects are
/// `BTreeMap`s, so keys come out sorted by code point, as Python's `sort_keys` sorts them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    /// A string.
    Str(String),
    /// A non-negative integer.
    Int(u64),
    /// An array.
    Arr(Vec<Json>),
    /// An object; keys come out sorted.
    Obj(BTreeMap<String, Json>),
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::Str(s.to_owned())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// Python's `json.dumps` defaults: `", "`, `": "`, `ensure_ascii=True`.
    Python,
    /// `","`, `":"`, UTF-8 kept.
    Compact,
}

impl Json {
    /// As Python's `json.dumps(value, sort_keys=True)` prints it: `", "` and `": "`
    /// separators, `ensure_ascii` (python-dxf's alias manifests and CLI objects).
    pub fn python(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Style::Python);
        out
    }

    /// Compact (`","`, `":"`, sorted keys, UTF-8 kept), as Python's
    /// `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Style::Compact);
        out
    }

    /// Adds a field to an object (does nothing to other values).
    pub(crate) fn insert(&mut self, key: &str, value: Json) {
        if let Json::Obj(m) = self {
            m.insert(key.to_owned(), value);
        }
    }

    fn write(&self, out: &mut String, style: Style) {
        let (comma, colon) = match style {
            Style::Python => (", ", ": "),
            Style::Compact => (",", ":"),
        };
        match self {
            Json::Str(s) => write_str(out, s, style),
            Json::Int(n) => out.push_str(&n.to_string()),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(comma);
                    }
                    item.write(out, style);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(comma);
                    }
                    write_str(out, k, style);
                    out.push_str(colon);
                    v.write(out, style);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string. [`Style::Python`] escapes as Python's `json.dumps` with `ensure_ascii`:
/// `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, and everything else outside `' '..='~'` as
/// lowercase `\uXXXX` (UTF-16, so surrogate pairs above U+FFFF). [`Style::Compact`] escapes
/// as Python does with `ensure_ascii=False`: the same short forms and the other characters
/// below U+0020; the rest stays UTF-8.
fn write_str(out: &mut String, s: &str, style: Style) {
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
            c if style == Style::Compact && u32::from(c) >= 0x20 => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The escaping of Python's `json.dumps(..., sort_keys=True)` (ensure_ascii), from
    /// `json.dumps({"t": "a\"b\\c\n\r\t\b\f\x01\x1f\x7f é 😀 \u2028"}, sort_keys=True)`.
    #[test]
    fn python_string_escaping() {
        let doc = Json::Obj(BTreeMap::from([(
            "t".to_owned(),
            Json::from("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f} é 😀 \u{2028}"),
        )]));
        let mut out = String::new();
        doc.write(&mut out, Style::Python);
        assert_eq!(
            out,
            r#"{"t": "a\"b\\c\n\r\t\b\f\u0001\u001f\u007f \u00e9 \ud83d\ude00 \u2028"}"#
        );
        let mut out = String::new();
        doc.write(&mut out, Style::Compact);
        assert_eq!(
            out,
            "{\"t\":\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f} é 😀 \u{2028}\"}"
        );
        let mut out = String::new();
        Json::Obj(BTreeMap::new()).write(&mut out, Style::Python);
        Json::Arr(vec![]).write(&mut out, Style::Python);
        assert_eq!(out, "{}[]");
    }

    proptest! {
        #[test]
        fn python_escaping_round_trips(s in any::<String>()) {
            let mut out = String::new();
            write_str(&mut out, &s, Style::Python);
            prop_assert!(out.bytes().all(|b| (b' '..=b'~').contains(&b)));
            prop_assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s.clone());
            let mut out = String::new();
            write_str(&mut out, &s, Style::Compact);
            prop_assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
        }

    }
}
