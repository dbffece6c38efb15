//! The registry-level commands: `auth` and `list-repos`.

use std::io::Write;

use super::connect_registry;
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// `auth REPO [ACTION...]`: authenticates (for `repository:REPO:ACTIONS` when actions are
/// given, else for what the registry's challenge asks) and prints the bearer token; prints
/// nothing for a registry that uses Basic auth or none. `DXF_TOKEN` is not used.
pub fn auth(
    env: &Env,
    out: &mut dyn Write,
    repo: &str,
    actions: &[String],
) -> Result<(), CliError> {
    let registry = connect_registry(env, false)?;
    let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
    match registry.authenticate(Some(repo), &actions)? {
        Some(token) if !token.is_empty() => output::line(out, &token),
        _ => Ok(()),
    }
}

/// `list-repos`: the registry's repositories, one a line, page by page.
pub fn list_repos(env: &Env, out: &mut dyn Write) -> Result<(), CliError> {
    for name in connect_registry(env, true)?.list_repos(None)? {
        output::line(out, &name?)?;
    }
    Ok(())
}
