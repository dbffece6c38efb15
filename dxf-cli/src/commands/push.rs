//! `push REPO[:ALIAS] PATH...`: files and directories in one step, the oras way (files.rs
//! in dxf-proto says what the layers are): each file a layer titled with its name, each
//! directory one gzip'd tar layer titled with its name and marked for unpacking
//! ([`crate::archive`]); the blobs the registry lacks are uploaded several at a time, then
//! ALIAS (default `latest`) is set to an OCI artifact manifest over them. Prints the
//! manifest's digest.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use dxf_ureq::dxf_proto::client::{check_titles, directory_layer, file_layer};
use dxf_ureq::dxf_proto::manifest::parse::Descriptor;
use dxf_ureq::dxf_proto::{Digest, Sha256};
use dxf_ureq::{parallel, PushOptions, Repository};

use super::{about, connect, oci, Run};
use crate::archive::{self, TempArchive};
use crate::cli::usage_error;
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// Push files and directories as one artifact (as oras push does) and print its manifest
/// digest
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository and alias (default alias: latest)
    #[arg(value_name = "REPO[:ALIAS]")]
    pub target: String,
    /// Files and directories (a directory becomes one gzip'd tar layer)
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// The manifest's artifactType (default application/vnd.dxf.blobs.v1)
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// A manifest annotation (repeatable)
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = oci::parse_annotation)]
    pub annotations: Vec<(String, String)>,
}

/// `REPO[:ALIAS]` split at the colon after the last `/` (a `host:port/` prefix is not an
/// alias); the alias defaults to `latest`.
pub(super) fn split_target(target: &str) -> (&str, &str) {
    let after_slash = target.rfind('/').map_or(0, |i| i + 1);
    match target
        .get(after_slash..)
        .and_then(|last| last.rfind(':'))
    {
        Some(i) => {
            let at = after_slash + i;
            (
                target.get(..at).unwrap_or_default(),
                target.get(at + 1..).unwrap_or_default(),
            )
        }
        None => (target, "latest"),
    }
}

/// What one path becomes before it is uploaded.
enum Prepared {
    File(PathBuf),
    Directory { archive: TempArchive, tar: Digest },
}

impl Prepared {
    fn upload_path(&self) -> &Path {
        match self {
            Prepared::File(p) => p,
            Prepared::Directory { archive, .. } => archive.path(),
        }
    }
}

impl Run for Args {
    fn validate(&self) -> Result<(), CliError> {
        oci::check_annotations("push", &self.annotations)?;
        let (repo, alias) = split_target(&self.target);
        if repo.is_empty() || alias.is_empty() {
            return Err(usage_error(
                "push",
                &format!("{:?} is not REPO[:ALIAS]", self.target),
            ));
        }
        let titles = self.titles()?;
        check_titles(titles.iter().map(String::as_str))
            .map_err(|e| usage_error("push", &e.to_string()))
    }

    fn transfers_blobs(&self) -> bool {
        true
    }

    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let (name, alias) = split_target(&self.target);
        let titles = self.titles()?;
        let repo = connect(env, name)?;
        let prepared = self
            .paths
            .iter()
            .zip(&titles)
            .map(|(path, title)| prepare(path, title))
            .collect::<Result<Vec<_>, _>>()?;
        let jobs: Vec<(&Prepared, &PathBuf)> = prepared.iter().zip(&self.paths).collect();
        let pushed = parallel::bounded(&jobs, env.concurrency()?, |(item, path)| {
            upload(&repo, item.upload_path(), path)
        });
        let mut layers: Vec<Descriptor> = Vec::with_capacity(prepared.len());
        for ((item, title), pushed) in prepared.iter().zip(&titles).zip(pushed) {
            let (digest, size) = pushed?;
            layers.push(match item {
                Prepared::File(_) => file_layer(digest, size, title),
                Prepared::Directory { tar, .. } => directory_layer(digest, size, title, tar),
            });
        }
        let options = oci::options(self.artifact_type.as_deref(), &self.annotations);
        let manifest = repo
            .set_alias_layers(alias, layers, &options)
            .map_err(about(alias))?;
        let mut hash = Sha256::new();
        hash.update(manifest.as_bytes());
        output::line(out, hash.finish().as_str())
    }
}

impl Args {
    /// Each path's title: its file name.
    fn titles(&self) -> Result<Vec<String>, CliError> {
        self.paths
            .iter()
            .map(|p| {
                oci::title_of(p).ok_or_else(|| {
                    usage_error("push", &format!("{} has no file name", p.display()))
                })
            })
            .collect()
    }
}

/// A file as it is; a directory packed into a temporary archive.
fn prepare(path: &Path, title: &str) -> Result<Prepared, CliError> {
    let what = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| CliError::input(&what, e))?;
    if !meta.is_dir() {
        return Ok(Prepared::File(path.to_owned()));
    }
    let (archive, tar) = archive::pack(path, title).map_err(|e| CliError::input(&what, e))?;
    Ok(Prepared::Directory { archive, tar })
}

/// Uploads one file (unless the registry has it; a directory's archive for `given`); its
/// digest and size.
fn upload(repo: &Repository, path: &Path, given: &Path) -> Result<(Digest, u64), CliError> {
    let what = given.display().to_string();
    let pushed = repo
        .push_blob_path(path, PushOptions::new())
        .map_err(about(&what))?;
    Ok((pushed.digest, pushed.size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alias_follows_the_last_colon_after_the_last_slash() {
        assert_eq!(split_target("team/data:v1"), ("team/data", "v1"));
        assert_eq!(split_target("team/data"), ("team/data", "latest"));
        assert_eq!(split_target("host:5000/team/data"), ("host:5000/team/data", "latest"));
        assert_eq!(split_target("data:"), ("data", ""));
    }
}
