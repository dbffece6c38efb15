//! OCI 1.1 artifacts: `set-alias` in the OCI form (`--oci`, `DXF_MANIFEST=oci`), `attach`
//! (an artifact whose subject is an alias's manifest) and `referrers` (the artifacts that
//! refer to one). Not in python-dxf.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use dxf_ureq::dxf_proto::manifest::alias::{BlobDescriptor, OciArtifactOptions};
use dxf_ureq::dxf_proto::{Error as Proto, Reference};
use dxf_ureq::PushOptions;

use super::{about, aliases, connect};
use crate::env::{Env, DXF_MANIFEST};
use crate::error::CliError;
use crate::output;

/// The manifest form `set-alias` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestForm {
    /// python-dxf's Docker schema 2 alias manifest (byte for byte).
    Docker,
    /// An OCI 1.1 artifact manifest.
    Oci,
}

/// The form `--oci` and `DXF_MANIFEST` ask for: `--oci` wins; else `DXF_MANIFEST`
/// (`docker` or `oci`; anything else is an error); else python-dxf's.
pub fn manifest_form(env: &Env, oci_flag: bool) -> Result<ManifestForm, CliError> {
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

/// The OCI options of `--artifact-type` and `--annotation`.
fn oci_options(
    artifact_type: Option<String>,
    annotations: Vec<(String, String)>,
) -> OciArtifactOptions {
    OciArtifactOptions {
        artifact_type: artifact_type.unwrap_or_default(),
        annotations: annotations.into_iter().collect(),
        subject: None,
    }
}

/// The title of a blob given as a file: its file name.
fn title_of(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// What `set-alias` was asked for, beyond python-dxf's arguments.
#[derive(Debug, Default)]
pub struct SetHow {
    /// `--oci`.
    pub oci: bool,
    /// `--artifact-type`.
    pub artifact_type: Option<String>,
    /// `--annotation`s.
    pub annotations: Vec<(String, String)>,
}

/// `set-alias REPO ALIAS HASH|FILE... [--oci] [--artifact-type T] [--annotation K=V]...`:
/// python-dxf's manifest unless the OCI form is asked for; then an OCI 1.1 artifact manifest
/// (files titled with their names, the empty config pushed when missing), printed with no
/// newline. `--artifact-type`/`--annotation` without the OCI form are a usage error.
pub fn set_alias(
    env: &Env,
    out: &mut dyn Write,
    repo: &str,
    alias: &str,
    blobs: &[OsString],
    how: SetHow,
) -> Result<(), CliError> {
    if manifest_form(env, how.oci)? == ManifestForm::Docker {
        if how.artifact_type.is_some() || !how.annotations.is_empty() {
            return Err(CliError::Usage(
                "--artifact-type and --annotation need the OCI form (--oci or DXF_MANIFEST=oci)"
                    .to_owned(),
            ));
        }
        return aliases::set(env, out, repo, alias, blobs);
    }
    let repo = connect(env, repo)?;
    let items = blobs
        .iter()
        .map(|arg| {
            let title = aliases::is_file_argument(arg)
                .then(|| title_of(Path::new(arg)))
                .flatten();
            Ok((aliases::blob_digest(arg)?, title))
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    let options = oci_options(how.artifact_type, how.annotations);
    let manifest = repo
        .set_alias_oci(alias, &items, &options)
        .map_err(about(alias))?;
    output::raw(out, manifest.as_bytes())
}

/// `attach REPO ALIAS FILE... [--artifact-type T] [--annotation K=V]...`: pushes the files
/// (unless the registry has them), then an artifact manifest of them (titled with their file
/// names) whose subject is ALIAS's manifest; prints its digest. A bad or missing alias is an
/// error before anything is pushed.
pub fn attach(
    env: &Env,
    out: &mut dyn Write,
    repo: &str,
    alias: &str,
    files: &[PathBuf],
    artifact_type: Option<String>,
    annotations: Vec<(String, String)>,
) -> Result<(), CliError> {
    // A bad alias is refused before anything is pushed.
    Reference::parse(alias).map_err(|e| CliError::dxf(alias, Proto::from(e)))?;
    let repo = connect(env, repo)?;
    // Nor is anything pushed for an alias that is not there.
    repo.head_manifest(alias).map_err(about(alias))?;
    let mut blobs = Vec::with_capacity(files.len());
    for file in files {
        let what = file.display().to_string();
        let pushed = repo
            .push_blob_path(file, PushOptions::new())
            .map_err(about(&what))?;
        let mut blob = BlobDescriptor::new(pushed.digest, pushed.size);
        blob.title = title_of(file);
        blobs.push(blob);
    }
    let options = oci_options(artifact_type, annotations);
    let attached = repo.attach(alias, &blobs, &options).map_err(about(alias))?;
    output::line(out, attached.digest.as_str())
}

/// An artifact type as a text column: `-` when absent; whitespace and control characters
/// (which no media type has) shown as `?`, so that a line always has two fields.
fn type_column(artifact_type: Option<&str>) -> String {
    match artifact_type {
        None | Some("") => "-".to_owned(),
        Some(t) => t
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '?'
                } else {
                    c
                }
            })
            .collect(),
    }
}

/// `referrers REPO ALIAS [--artifact-type T] [--json]`: the artifacts whose subject is
/// ALIAS's manifest, one `DIGEST ARTIFACT_TYPE` line each (registry order), or with
/// `--json` the OCI image index listing them.
pub fn referrers(
    env: &Env,
    out: &mut dyn Write,
    repo: &str,
    alias: &str,
    artifact_type: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let list = repo.referrers(alias, artifact_type).map_err(about(alias))?;
    if json {
        return output::line(out, &list.to_index_json());
    }
    for d in &list.manifests {
        output::line(
            out,
            &format!("{} {}", d.digest, type_column(d.artifact_type.as_deref())),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(manifest: Option<&str>) -> Env {
        let manifest = manifest.map(OsString::from);
        Env::from_lookup(move |name| (name == DXF_MANIFEST).then(|| manifest.clone()).flatten())
            .unwrap()
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
    fn type_columns() {
        assert_eq!(type_column(None), "-");
        assert_eq!(type_column(Some("")), "-");
        assert_eq!(type_column(Some("application/x")), "application/x");
        assert_eq!(type_column(Some("a b\nc")), "a?b?c");
    }

    #[test]
    fn titles_are_file_names() {
        assert_eq!(
            title_of(Path::new("dir/sub/f.bin")).as_deref(),
            Some("f.bin")
        );
        assert_eq!(title_of(Path::new("/")), None);
    }
}
