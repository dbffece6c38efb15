//! `copy SRC_REPO:ALIAS DST_REPO[:ALIAS] [--to HOST] [--jobs N]`: copies an alias — its
//! manifests byte for byte (a multi-arch alias with every platform) and its blobs — to
//! another repository of the registry, or of the registry `--to` names
//! ([`super::destination`]). Prints the manifest's digest.
//!
//! Names follow oras's `cp`: the source must name an alias (`REPO:ALIAS`) or a manifest
//! (`REPO@sha256:...`); the destination's alias defaults to the source's (a digest source
//! is then stored by digest only, untagged).

use std::io::Write;

use dxf_ureq::{CopyOptions, Registry};

use super::destination::{destination_config, ToEnv};
use super::{about, connect};
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// A `copy` argument: the repository, and the alias or `sha256:...` digest after it.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The repository.
    pub repo: String,
    /// `ALIAS` of `REPO:ALIAS`, or `DIGEST` of `REPO@DIGEST`.
    pub alias: Option<String>,
}

/// Splits `REPO:ALIAS`, `REPO@DIGEST` or `REPO` (repository names have no `:` or `@`).
pub fn parse_endpoint(arg: &str) -> Result<Endpoint, String> {
    let (repo, alias) = match (arg.split_once('@'), arg.split_once(':')) {
        (Some((repo, digest)), _) => (repo, Some(digest)),
        (None, Some((repo, alias))) => (repo, Some(alias)),
        (None, None) => (arg, None),
    };
    if repo.is_empty() {
        return Err(format!("{arg:?} names no repository"));
    }
    if alias.is_some_and(str::is_empty) {
        return Err(format!("{arg:?} names no alias after the repository"));
    }
    Ok(Endpoint {
        repo: repo.to_owned(),
        alias: alias.map(str::to_owned),
    })
}

/// The checks made after parsing: both arguments split, and the source names an alias or
/// a digest. The problem, for a usage error.
pub fn check_arguments(src: &str, dst: &str) -> Result<(), String> {
    let source = parse_endpoint(src)?;
    parse_endpoint(dst)?;
    match source.alias {
        None => Err(format!(
            "the source {src:?} must name an alias (REPO:ALIAS) or a digest (REPO@sha256:...)"
        )),
        Some(_) => Ok(()),
    }
}

/// Runs `copy`.
pub fn copy(
    env: &Env,
    out: &mut dyn Write,
    src: &str,
    dst: &str,
    to: Option<&str>,
    jobs: usize,
) -> Result<(), CliError> {
    let source = parse_endpoint(src).map_err(CliError::Usage)?;
    let target = parse_endpoint(dst).map_err(CliError::Usage)?;
    let alias = source.alias.ok_or_else(|| {
        CliError::Usage(format!("the source {src:?} must name an alias or a digest"))
    })?;
    let from = connect(env, &source.repo)?;
    let into = match to {
        None => from.registry().repository(&target.repo)?,
        Some(host) => {
            let config = destination_config(env, &ToEnv::from_process()?, host)?;
            Registry::new(&config)?.repository(&target.repo)?
        }
    };
    let report = from
        .copy_to(
            &alias,
            &into,
            target.alias.as_deref(),
            &CopyOptions { jobs },
        )
        .map_err(about(src))?;
    output::line(out, report.digest.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(repo: &str, alias: Option<&str>) -> Endpoint {
        Endpoint {
            repo: repo.into(),
            alias: alias.map(Into::into),
        }
    }

    #[test]
    fn endpoints() {
        assert_eq!(parse_endpoint("a/b:v1").unwrap(), ep("a/b", Some("v1")));
        assert_eq!(parse_endpoint("a/b").unwrap(), ep("a/b", None));
        let d = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(parse_endpoint(&format!("r@{d}")).unwrap(), ep("r", Some(d)));
        for bad in [":v1", "@sha256:x", "r:", "r@"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_source_needs_an_alias() {
        assert!(check_arguments("r:v1", "s").is_ok());
        assert!(check_arguments("r:v1", "s:v2").is_ok());
        let m = check_arguments("r", "s:v2").unwrap_err();
        assert!(m.contains("must name an alias"), "{m}");
        assert!(check_arguments("r:v1", ":x").is_err());
    }
}
