//! `pull REPO[:ALIAS] [-o DIR]`: the files and directories of an artifact, the oras way —
//! each titled layer written under its title in DIR (default `.`), each directory layer
//! unpacked ([`crate::archive`]), an untitled layer named by its digest. Titles and tar
//! entries are untrusted: dxf-proto's [`pull_plan`] checks every title before anything is
//! fetched, and the archive's entries are all checked before any is written. Every file
//! appears only complete and verified (a temporary name, renamed once the digest matched).
//! Prints each path written, one per line, in manifest order.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use dxf_ureq::dxf_proto::client::{pull_plan, PullItem};
use dxf_ureq::dxf_proto::ReadOptions;
use dxf_ureq::{parallel, Repository};

use super::push::split_target;
use super::{about, connect, Run};
use crate::archive::{self, UnpackError};
use crate::cli::usage_error;
use crate::env::Env;
use crate::error::CliError;
use crate::files::{Partial, Spool};
use crate::output;

/// Pull an artifact's files and directories (as oras pull does) into a directory
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository and alias (default alias: latest)
    #[arg(value_name = "REPO[:ALIAS]")]
    pub target: String,
    /// Where to write them (created if missing; default: the current directory)
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub output: PathBuf,
}

impl Run for Args {
    fn validate(&self) -> Result<(), CliError> {
        let (repo, alias) = split_target(&self.target);
        if repo.is_empty() || alias.is_empty() {
            return Err(usage_error(
                "pull",
                &format!("{:?} is not REPO[:ALIAS]", self.target),
            ));
        }
        Ok(())
    }

    fn transfers_blobs(&self) -> bool {
        true
    }

    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let (name, alias) = split_target(&self.target);
        let repo = connect(env, name)?;
        let manifest = repo
            .read_alias(alias, ReadOptions::default())
            .map_err(about(alias))?;
        let refused = |e: &dyn std::fmt::Display| {
            CliError::file(alias, io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
        };
        let items = pull_plan(&manifest.content).map_err(|e| refused(&e))?;
        let dir = &self.output;
        fs::create_dir_all(dir).map_err(|e| CliError::file(dir.display().to_string(), e))?;
        let written = parallel::bounded(&items, env.concurrency()?, |item| {
            fetch(&repo, item, dir)
        });
        let mut paths = Vec::with_capacity(items.len());
        for w in written {
            paths.extend(w?);
        }
        for path in paths {
            output::line(out, &path)?;
        }
        Ok(())
    }
}

/// One layer into `dir`: a file through a temporary name, or a directory unpacked once
/// its archive is verified. The paths written (relative to `dir`).
fn fetch(repo: &Repository, item: &PullItem, dir: &Path) -> Result<Vec<String>, CliError> {
    let what = item.digest.as_str();
    let mut blob = repo
        .pull_blob(&item.digest, Some(item.size))
        .map_err(about(what))?;
    if item.unpack {
        let mut spool = Spool::new().map_err(crate::files::spool_error)?;
        blob.copy_to(spool.file())
            .map_err(|e| CliError::dxf(what, e))?;
        archive::unpack(spool.file(), dir, &item.path).map_err(|e| match e {
            UnpackError::Refused(why) => CliError::file(
                item.path.clone(),
                io::Error::new(io::ErrorKind::InvalidData, why),
            ),
            UnpackError::Io(e) => CliError::file(dir.display().to_string(), e),
        })?;
        return Ok(vec![item.path.clone()]);
    }
    let target = target_in(dir, &item.path)?;
    let file_error = |e| CliError::file(target.display().to_string(), e);
    let mut partial = Partial::create(&target).map_err(file_error)?;
    blob.copy_to(partial.file().map_err(file_error)?)
        .map_err(|e| CliError::dxf(what, e))?;
    partial.commit().map_err(file_error)?;
    Ok(vec![item.path.clone()])
}

/// Where `path` (checked: relative, no `..`) goes in `dir`, its parent directories made;
/// a parent that is a symbolic link is refused (it could point anywhere).
fn target_in(dir: &Path, path: &str) -> Result<PathBuf, CliError> {
    let mut at = dir.to_owned();
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        at.push(part);
        if parts.peek().is_none() {
            break;
        }
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(CliError::file(
                    at.display().to_string(),
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a symbolic link: refusing to write through it",
                    ),
                ))
            }
            Ok(_) => {}
            Err(_) => fs::create_dir(&at).map_err(|e| CliError::file(at.display().to_string(), e))?,
        }
    }
    Ok(at)
}
