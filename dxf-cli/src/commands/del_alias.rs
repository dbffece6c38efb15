//! `del-alias REPO ALIAS... [--only]`: deletes aliases and prints the blobs they named.

use std::io::{Read, Write};

use super::{about, connect, digest_lines, digest_list, print_per_platform, Run};
use crate::cli::usage_error;
use crate::env::Env;
use crate::error::CliError;
use crate::output::{self, Json};

/// Delete aliases (their manifests, by digest) and print the blob digests they named
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Aliases
    #[arg(value_name = "ALIAS")]
    pub aliases: Vec<String>,
    /// Delete only these aliases: the manifests and their other aliases stay (without
    /// it, as python-dxf, every alias on the same manifest goes too)
    #[arg(long)]
    pub only: bool,
}

impl Run for Args {
    /// `--only` deletes aliases, not digests.
    fn validate(&self) -> Result<(), CliError> {
        match self.aliases.iter().find(|a| a.contains(':')) {
            Some(d) if self.only => Err(usage_error(
                "del-alias",
                &format!("--only deletes aliases, and {d:?} is a digest"),
            )),
            _ => Ok(()),
        }
    }

    /// Deletes each alias's manifest by digest and prints the blob digests it listed (for
    /// a multi-arch alias, `{platform: manifest digest}` as JSON). With `--only`, each
    /// alias alone is deleted: the manifest and its other aliases stay
    /// ([`dxf_ureq::Repository::del_alias_only`]); the output is the same.
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let repo = connect(env, &self.repo)?;
        let deleted = self
            .aliases
            .iter()
            .map(|a| match self.only {
                false => repo.del_alias(a).map_err(about(a)),
                true => repo.del_alias_only(a).map_err(about(a)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        for m in deleted {
            match m.platform_digests() {
                Some(platforms) => output::line(
                    out,
                    &output::py_json_object(
                        platforms
                            .into_iter()
                            .map(|(p, d)| (p, Json::Str(d.to_string()))),
                    ),
                )?,
                None => print_per_platform(out, m.layers(), digest_lines, digest_list)?,
            }
        }
        Ok(())
    }
}
