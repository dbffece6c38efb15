//! `del-blob REPO [HASH|@ALIAS...]`: deletes blobs, and aliases with their blobs.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use dxf_ureq::dxf_proto::{Digest, PerPlatform};
use dxf_ureq::Repository;

use super::{about, alias_of, connect, parse_digest, stdin, Run};
use crate::env::Env;
use crate::error::CliError;

/// Delete blobs; @alias deletes the alias's manifest and then its blobs
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Blob digests, or @alias (with no names: a manifest read from stdin)
    #[arg(value_name = "HASH|@ALIAS")]
    pub names: Vec<String>,
}

impl Run for Args {
    fn uses_blob_cache(&self) -> bool {
        true
    }

    /// For `@alias`, deletes the alias's manifest by digest (every alias on it goes too),
    /// then its blobs — for a multi-arch alias, each platform's manifest and then its
    /// blobs. With no names, deletes the blobs of the manifest on stdin. Each distinct
    /// blob and manifest is deleted once. Prints nothing.
    fn run(&self, env: &Env, _: &mut dyn Write, input: &mut dyn Read) -> Result<(), CliError> {
        let repo = connect(env, &self.repo)?;
        delete(&repo, input, &self.names)
    }
}

/// What `del-blob` deletes after the aliases named are gone.
enum Doomed {
    /// A blob.
    Blob(Digest),
    /// A platform manifest of a multi-arch alias: deleted (as `del-alias`), then its
    /// blobs.
    PlatformManifest(Digest),
}

/// Deletes `names` from the repository (see [`Args::run`]).
fn delete(repo: &Repository, input: &mut dyn Read, names: &[String]) -> Result<(), CliError> {
    let mut doomed = Vec::new();
    if names.is_empty() {
        // Not DXF_PLATFORM-filtered: python-dxf passes no platform here.
        let m = stdin::read_manifest(repo, input, None)?;
        flatten_layers(m.layers(), &mut doomed);
    }
    // First every alias goes (python-dxf deletes them while building its list)…
    for name in names {
        match alias_of(name) {
            Some(alias) => {
                let m = repo.del_alias(alias).map_err(about(name))?;
                match m.platform_digests() {
                    Some(platforms) => doomed.extend(
                        platforms
                            .into_iter()
                            .map(|(_, d)| Doomed::PlatformManifest(d)),
                    ),
                    None => flatten_layers(m.layers(), &mut doomed),
                }
            }
            None => doomed.push(Doomed::Blob(parse_digest(name)?)),
        }
    }
    // …then the blobs and platform manifests, each once.
    let mut done = BTreeSet::new();
    for d in doomed {
        match d {
            Doomed::Blob(digest) => {
                if done.insert(digest.clone()) {
                    repo.del_blob(&digest).map_err(about(digest.as_str()))?;
                }
            }
            Doomed::PlatformManifest(digest) => {
                if !done.insert(digest.clone()) {
                    continue;
                }
                let m = repo
                    .del_alias(digest.as_str())
                    .map_err(about(digest.as_str()))?;
                let mut blobs = Vec::new();
                flatten_layers(m.layers(), &mut blobs);
                for b in blobs {
                    if let Doomed::Blob(b) = b {
                        if done.insert(b.clone()) {
                            repo.del_blob(&b).map_err(about(b.as_str()))?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Every blob of every platform.
fn flatten_layers(layers: PerPlatform<Vec<(Digest, u64)>>, into: &mut Vec<Doomed>) {
    match layers {
        PerPlatform::Single(blobs) => into.extend(blobs.into_iter().map(|(d, _)| Doomed::Blob(d))),
        PerPlatform::Platforms(platforms) => into.extend(
            platforms
                .into_iter()
                .flat_map(|(_, blobs)| blobs)
                .map(|(d, _)| Doomed::Blob(d)),
        ),
    }
}
