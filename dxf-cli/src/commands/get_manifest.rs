//! `get-manifest REPO [ALIAS...]`: aliases' manifests as received.

use std::io::{Read, Write};

use dxf_ureq::dxf_proto::PerPlatform;

use super::{about, connect, Run};
use crate::env::Env;
use crate::error::CliError;
use crate::output::{self, Json};

/// Print aliases' manifests as received
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Aliases
    #[arg(value_name = "ALIAS")]
    pub aliases: Vec<String>,
}

impl Run for Args {
    /// Each alias's manifest as received, no newline added (for a multi-arch alias,
    /// `{platform: manifest text}` as JSON), printed alias by alias. An index without
    /// platforms (a referrers index) is printed as received, as a single manifest is
    /// ([`dxf_ureq::dxf_proto::AliasManifest::bodies`]). No alias: nothing.
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        if self.aliases.is_empty() {
            return Ok(());
        }
        let repo = connect(env, &self.repo)?;
        let platform = env.platform.as_deref();
        for a in &self.aliases {
            match repo.get_manifest(a, platform).map_err(about(a))? {
                PerPlatform::Single(body) => output::raw(out, &body)?,
                PerPlatform::Platforms(platforms) => output::raw(
                    out,
                    output::py_json_object(platforms.into_iter().map(|(p, body)| {
                        (p, Json::Str(String::from_utf8_lossy(&body).into_owned()))
                    }))
                    .as_bytes(),
                )?,
            }
        }
        Ok(())
    }
}
