//! `mount-blob REPO FROM_REPO HASH [@ALIAS]`: a cross-repository mount.

use std::io::{Read, Write};

use super::{about, alias_of, check_alias, connect, parse_digest, Run};
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// Mount a blob from another repository and print its digest
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository to mount into
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Repository holding the blob
    #[arg(value_name = "FROM_REPO")]
    pub from_repo: String,
    /// Blob digest
    #[arg(value_name = "HASH")]
    pub digest: String,
    /// Also point this alias at the blob
    #[arg(value_name = "@ALIAS")]
    pub alias: Option<String>,
}

impl Run for Args {
    fn uses_blob_cache(&self) -> bool {
        true
    }

    /// python-dxf's `invalid alias`.
    fn validate(&self) -> Result<(), CliError> {
        check_alias("mount-blob", self.alias.as_ref())
    }

    /// Mounts the blob (success only when the registry mounts it, 201), sets the alias if
    /// asked, prints the digest.
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let repo = connect(env, &self.repo)?;
        let digest = parse_digest(&self.digest)?;
        let mounted = repo
            .mount_blob(&self.from_repo, &digest)
            .map_err(about(digest.as_str()))?;
        if let Some(alias) = self.alias.as_deref().and_then(alias_of) {
            repo.set_alias(alias, std::slice::from_ref(&mounted))
                .map_err(about(&format!("@{alias}")))?;
        }
        output::line(out, mounted.as_str())
    }
}
