//! `auth REPO [ACTION...]`: authenticates and prints the bearer token.

use std::io::{Read, Write};

use super::{connect_registry, Run};
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// Authenticate and print the bearer token, if the registry uses tokens
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Actions to ask for: pull, push, *
    #[arg(value_name = "ACTION")]
    pub actions: Vec<String>,
}

impl Run for Args {
    /// Authenticates (for `repository:REPO:ACTIONS` when actions are given, else for what
    /// the registry's challenge asks) and prints the bearer token; prints nothing for a
    /// registry that uses Basic auth or none. `DXF_TOKEN` is not used.
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let registry = connect_registry(env, false)?;
        let actions: Vec<&str> = self.actions.iter().map(String::as_str).collect();
        match registry.authenticate(Some(&self.repo), &actions)? {
            Some(token) if !token.is_empty() => output::line(out, &token),
            _ => Ok(()),
        }
    }
}
