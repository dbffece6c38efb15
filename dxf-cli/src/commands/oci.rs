//! What `set-alias --oci` and `attach` share: `--annotation KEY=VALUE` (parsed, and
//! checked for repeated keys), the OCI options they make, and the titles of blobs given
//! as files.

use std::collections::BTreeSet;
use std::path::Path;

use dxf_ureq::dxf_proto::manifest::alias::OciArtifactOptions;

use crate::cli::usage_error;
use crate::error::CliError;

/// `--annotation`'s value: `KEY=VALUE` with a non-empty key (the value may be empty or
/// contain `=`).
pub(super) fn parse_annotation(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{raw:?} is not KEY=VALUE")),
    }
}

/// `command`'s annotations name each key once: a usage error otherwise.
pub(super) fn check_annotations(
    command: &str,
    annotations: &[(String, String)],
) -> Result<(), CliError> {
    let mut seen = BTreeSet::new();
    match annotations
        .iter()
        .map(|(k, _)| k.as_str())
        .find(|k| !seen.insert(*k))
    {
        Some(k) => Err(usage_error(
            command,
            &format!("--annotation {k:?} given twice"),
        )),
        None => Ok(()),
    }
}

/// The OCI options of `--artifact-type` and `--annotation`.
pub(super) fn options(
    artifact_type: Option<&str>,
    annotations: &[(String, String)],
) -> OciArtifactOptions {
    OciArtifactOptions {
        artifact_type: artifact_type.unwrap_or_default().to_owned(),
        annotations: annotations.iter().cloned().collect(),
        subject: None,
    }
}

/// The title of a blob given as a file: its file name.
pub(super) fn title_of(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_file_names() {
        assert_eq!(
            title_of(Path::new("dir/sub/f.bin")).as_deref(),
            Some("f.bin")
        );
        assert_eq!(title_of(Path::new("/")), None);
    }

    #[test]
    fn annotations() {
        assert_eq!(
            parse_annotation("k=v=w").unwrap(),
            ("k".into(), "v=w".into())
        );
        assert_eq!(parse_annotation("e=").unwrap(), ("e".into(), String::new()));
        for bad in ["novalue", "=v", ""] {
            assert_eq!(
                parse_annotation(bad).unwrap_err(),
                format!("{bad:?} is not KEY=VALUE")
            );
        }
        let kv = |k: &str| (k.to_owned(), String::new());
        assert!(check_annotations("attach", &[kv("a"), kv("b")]).is_ok());
        let e = check_annotations("attach", &[kv("a"), kv("b"), kv("a")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--annotation \"a\" given twice (usage: dxf attach"),
            "{e}"
        );
    }
}
