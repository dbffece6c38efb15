//! `referrers REPO ALIAS [--artifact-type T] [--json]`: the artifacts whose subject is an
//! alias's manifest. Not in python-dxf.

use std::io::{Read, Write};

use super::{about, connect, Run};
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// List the artifacts whose subject is an alias's manifest: one "DIGEST ARTIFACT_TYPE"
/// line each
#[derive(Debug, PartialEq, Eq, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Alias (tag or digest)
    #[arg(value_name = "ALIAS")]
    pub alias: String,
    /// Only artifacts of this artifactType
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// Print the list as an OCI image index (one JSON document)
    #[arg(long)]
    pub json: bool,
}

/// `referrers --help`'s notes.
const AFTER_HELP: &str = "\
Asks the registry's referrers API (GET /v2/REPO/referrers/DIGEST); when the registry has
none (404), reads the index under the tag sha256-<hex> instead (none there: no referrers).
Text output: one line per artifact, its manifest digest and its artifactType separated by a
space (- when it has none). --json: the OCI image index
{\"manifests\":[...],\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"schemaVersion\":2}.";

impl Run for Args {
    /// The artifacts whose subject is ALIAS's manifest, one `DIGEST ARTIFACT_TYPE` line
    /// each (registry order), or with `--json` the OCI image index listing them.
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let repo = connect(env, &self.repo)?;
        let list = repo
            .referrers(&self.alias, self.artifact_type.as_deref())
            .map_err(about(&self.alias))?;
        if self.json {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Parsed};
    use crate::commands::Command;

    #[test]
    fn arguments() {
        assert_eq!(
            parse([
                "dxf",
                "referrers",
                "--json",
                "r",
                "a",
                "--artifact-type",
                "t"
            ])
            .unwrap(),
            Parsed::Run(Command::Referrers(Args {
                repo: "r".into(),
                alias: "a".into(),
                artifact_type: Some("t".into()),
                json: true,
            }))
        );
        match parse(["dxf", "referrers", "r"]) {
            Err(CliError::Usage(m)) => assert!(m.contains("too few arguments"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn type_columns() {
        assert_eq!(type_column(None), "-");
        assert_eq!(type_column(Some("")), "-");
        assert_eq!(type_column(Some("application/x")), "application/x");
        assert_eq!(type_column(Some("a b\nc")), "a?b?c");
    }
}
