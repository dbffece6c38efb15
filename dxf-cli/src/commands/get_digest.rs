//! `get-digest REPO [ALIAS...]`: aliases' config digests.

use std::io::{Read, Write};

use super::{about, connect, not_blobs, print_per_platform, stdin, Run};
use crate::env::Env;
use crate::error::CliError;
use crate::output::Json;

/// Print aliases' config digests (for dxf aliases, the first blob)
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Aliases (with none: a manifest read from stdin)
    #[arg(value_name = "ALIAS")]
    pub aliases: Vec<String>,
}

impl Run for Args {
    /// Each alias's config digest (per platform, as JSON, for a multi-arch alias); with no
    /// alias, that of the manifest on stdin. An index without platforms (a referrers
    /// index) is an error saying so. Every alias is resolved before anything is printed.
    fn run(&self, env: &Env, out: &mut dyn Write, input: &mut dyn Read) -> Result<(), CliError> {
        let repo = connect(env, &self.repo)?;
        let platform = env.platform.as_deref();
        let results = if self.aliases.is_empty() {
            let m = stdin::read_manifest(&repo, input, platform)?;
            vec![m.try_config_digest().map_err(not_blobs(stdin::STDIN))?]
        } else {
            self.aliases
                .iter()
                .map(|a| repo.get_digest(a, platform).map_err(about(a)))
                .collect::<Result<Vec<_>, _>>()?
        };
        for r in results {
            print_per_platform(
                out,
                r,
                |d| vec![d.to_string()],
                |d| Json::Str(d.to_string()),
            )?;
        }
        Ok(())
    }
}
