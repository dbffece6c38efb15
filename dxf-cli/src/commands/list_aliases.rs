//! `list-aliases REPO [--json]`: a repository's aliases (tags).

use std::io::{Read, Write};

use super::{connect, listing, Run};
use crate::env::Env;
use crate::error::CliError;

/// List a repository's aliases
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Print one JSON document (an array of names)
    #[arg(long)]
    pub json: bool,
}

impl Run for Args {
    /// The repository's tags, page by page: one a line, or with `--json` one array
    /// ([`listing`]).
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let repo = connect(env, &self.repo)?;
        listing::print(out, repo.list_aliases(None)?, self.json)
    }
}
