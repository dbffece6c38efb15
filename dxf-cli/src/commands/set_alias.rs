//! `set-alias REPO ALIAS HASH|FILE...`: points an alias at blobs, in python-dxf's manifest
//! form or (`--oci`, `DXF_MANIFEST=oci`) as an OCI 1.1 artifact manifest.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use dxf_ureq::dxf_proto::Digest;
use dxf_ureq::{hash_reader, Repository};

use super::{about, connect, oci, parse_digest, Run};
use crate::env::{Env, DXF_MANIFEST};
use crate::error::CliError;
use crate::output;

/// Point an alias at blobs and print the manifest (an argument with a path separator
/// is a file whose digest is computed locally)
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Alias (tag) to set
    #[arg(value_name = "ALIAS")]
    pub alias: String,
    /// Blob digests, or files (paths containing a separator)
    #[arg(value_name = "HASH|FILE", required = true)]
    pub blobs: Vec<OsString>,
    /// Write an OCI 1.1 artifact manifest instead of python-dxf's (also DXF_MANIFEST=oci)
    #[arg(long)]
    pub oci: bool,
    /// OCI form: the manifest's artifactType (default application/vnd.dxf.blobs.v1)
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// OCI form: a manifest annotation (repeatable)
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = oci::parse_annotation)]
    pub annotations: Vec<(String, String)>,
}

impl Run for Args {
    fn uses_blob_cache(&self) -> bool {
        true
    }

    /// Each annotation key once.
    fn validate(&self) -> Result<(), CliError> {
        oci::check_annotations("set-alias", &self.annotations)
    }

    /// python-dxf's manifest (sizes from a HEAD of each blob) unless the OCI form is asked
    /// for; then an OCI 1.1 artifact manifest (files titled with their names, the empty
    /// config pushed when missing). Prints the manifest stored, with no newline.
    /// `--artifact-type`/`--annotation` without the OCI form are a usage error.
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let manifest = match manifest_form(env, self.oci)? {
            ManifestForm::Docker => {
                if self.artifact_type.is_some() || !self.annotations.is_empty() {
                    return Err(CliError::Usage(
                        "--artifact-type and --annotation need the OCI form (--oci or \
                         DXF_MANIFEST=oci)"
                            .to_owned(),
                    ));
                }
                self.docker(&connect(env, &self.repo)?)?
            }
            ManifestForm::Oci => self.oci(&connect(env, &self.repo)?)?,
        };
        output::raw(out, manifest.as_bytes())
    }
}

impl Args {
    /// python-dxf's manifest.
    fn docker(&self, repo: &Repository) -> Result<String, CliError> {
        let digests = self
            .blobs
            .iter()
            .map(blob_digest)
            .collect::<Result<Vec<_>, _>>()?;
        repo.set_alias(&self.alias, &digests)
            .map_err(about(&self.alias))
    }

    /// The OCI form.
    fn oci(&self, repo: &Repository) -> Result<String, CliError> {
        let items = self
            .blobs
            .iter()
            .map(|arg| {
                let title = is_file_argument(arg)
                    .then(|| oci::title_of(Path::new(arg)))
                    .flatten();
                Ok((blob_digest(arg)?, title))
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        let options = oci::options(self.artifact_type.as_deref(), &self.annotations);
        repo.set_alias_oci(&self.alias, &items, &options)
            .map_err(about(&self.alias))
    }
}

/// The manifest form `set-alias` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ManifestForm {
    /// python-dxf's Docker schema 2 alias manifest (byte for byte).
    Docker,
    /// An OCI 1.1 artifact manifest.
    Oci,
}

/// The form `--oci` and `DXF_MANIFEST` ask for: `--oci` wins; else `DXF_MANIFEST`
/// (`docker` or `oci`; anything else is an error); else python-dxf's.
fn manifest_form(env: &Env, oci_flag: bool) -> Result<ManifestForm, CliError> {
    if oci_flag {
        return Ok(ManifestForm::Oci);
    }
    match env.manifest.as_deref() {
        None | Some("docker") => Ok(ManifestForm::Docker),
        Some("oci") => Ok(ManifestForm::Oci),
        Some(other) => Err(CliError::Env(format!(
            "{DXF_MANIFEST} must be docker or oci, not {other:?}"
        ))),
    }
}

/// Whether a `set-alias` argument names a file: it contains a path separator (python-dxf
/// tests `os.sep in arg`; on Windows both `\` and `/` count).
fn is_file_argument(arg: &OsString) -> bool {
    arg.to_string_lossy().chars().any(std::path::is_separator)
}

/// A `set-alias` argument as a digest: a file's is computed locally.
fn blob_digest(arg: &OsString) -> Result<Digest, CliError> {
    if is_file_argument(arg) {
        let what = Path::new(arg).display().to_string();
        let mut f = File::open(arg).map_err(|e| CliError::input(&what, e))?;
        return Ok(hash_reader(&mut f)
            .map_err(|e| CliError::input(&what, e))?
            .0);
    }
    match arg.to_str() {
        Some(s) => parse_digest(s),
        None => parse_digest(&arg.to_string_lossy()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Parsed};
    use crate::commands::Command;

    fn env(manifest: Option<&str>) -> Env {
        let manifest = manifest.map(OsString::from);
        Env::from_lookup(move |name| (name == DXF_MANIFEST).then(|| manifest.clone()).flatten())
            .unwrap()
    }

    fn args(line: &[&str]) -> Result<Args, CliError> {
        match parse(["dxf", "set-alias"].iter().chain(line).copied())? {
            Parsed::Run(Command::SetAlias(a)) => Ok(a),
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn parsed_values() {
        assert_eq!(
            args(&["r", "a", "x", "./y"]).unwrap(),
            Args {
                repo: "r".into(),
                alias: "a".into(),
                blobs: vec!["x".into(), "./y".into()],
                oci: false,
                artifact_type: None,
                annotations: vec![],
            }
        );
        let a = args(&[
            "--oci",
            "r",
            "a",
            "sha256:x",
            "--annotation",
            "k=v=w",
            "--annotation=e=",
            "--artifact-type",
            "application/x",
        ])
        .unwrap();
        assert!(a.oci);
        assert_eq!(a.artifact_type.as_deref(), Some("application/x"));
        assert_eq!(
            a.annotations,
            vec![("k".into(), "v=w".into()), ("e".into(), String::new())]
        );
    }

    #[test]
    fn bad_annotations_are_usage_errors() {
        for bad in ["novalue", "=v", ""] {
            let e = args(&["--annotation", bad, "r", "a", "sha256:x"]).unwrap_err();
            let m = e.to_string();
            assert!(matches!(e, CliError::Usage(_)), "{m}");
            assert!(m.contains("is not KEY=VALUE"), "{bad:?}: {m}");
            assert!(!m.contains('\n'), "{m}");
        }
        let e = args(&["r", "a", "x", "--annotation", "k=1", "--annotation", "k=2"]);
        let m = e.unwrap_err().to_string();
        assert!(m.contains("--annotation \"k\" given twice"), "{m}");
        assert!(m.contains("usage: dxf set-alias"), "{m}");
    }

    #[test]
    fn manifest_form_from_flag_and_environment() {
        assert_eq!(
            manifest_form(&env(None), false).unwrap(),
            ManifestForm::Docker
        );
        assert_eq!(
            manifest_form(&env(Some("docker")), false).unwrap(),
            ManifestForm::Docker
        );
        assert_eq!(
            manifest_form(&env(Some("oci")), false).unwrap(),
            ManifestForm::Oci
        );
        assert_eq!(manifest_form(&env(None), true).unwrap(), ManifestForm::Oci);
        assert_eq!(
            manifest_form(&env(Some("docker")), true).unwrap(),
            ManifestForm::Oci
        );
        let e = manifest_form(&env(Some("OCI")), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "DXF_MANIFEST must be docker or oci, not \"OCI\""
        );
    }

    #[test]
    fn file_arguments_contain_a_separator() {
        assert!(is_file_argument(&"./data".into()));
        assert!(is_file_argument(&"dir/data".into()));
        assert!(is_file_argument(&"/abs".into()));
        assert!(!is_file_argument(
            &"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
        ));
        assert!(!is_file_argument(&"data.bin".into()));
    }

    #[test]
    fn digest_arguments_are_validated() {
        assert!(blob_digest(&"sha256:abc".into()).is_err());
        let err = blob_digest(&"./no/such/file".into()).unwrap_err();
        assert!(err.to_string().starts_with("./no/such/file: "), "{err}");
    }
}
