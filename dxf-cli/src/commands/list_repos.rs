//! `list-repos [--json]`: the registry's repositories.

use std::io::{Read, Write};

use super::{connect_registry, listing, Run};
use crate::env::Env;
use crate::error::CliError;

/// List the registry's repositories
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Print one JSON document (an array of names)
    #[arg(long)]
    pub json: bool,
}

impl Run for Args {
    /// The registry's repositories, page by page: one a line, or with `--json` one array
    /// ([`listing`]).
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let registry = connect_registry(env, true)?;
        listing::print(out, registry.list_repos(None)?, self.json)
    }
}
