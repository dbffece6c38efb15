//! `copy SRC_REPO:ALIAS DST_REPO[:ALIAS] [--to HOST] [--jobs N]`: copies an alias — its
//! manifests byte for byte (a multi-arch alias with every platform) and its blobs — to
//! another repository of the registry, or of the registry `--to` names
//! ([`super::destination`]). Prints the manifest's digest.
//!
//! Names follow oras's `cp`: the source must name an alias (`REPO:ALIAS`) or a manifest
//! (`REPO@sha256:...`); the destination's alias defaults to the source's (a digest source
//! is then stored by digest only, untagged).

use std::io::{Read, Write};

use dxf_ureq::{CopyOptions, Registry};

use super::destination::{destination_config, ToEnv};
use super::{about, connect, parse_jobs, Jobs, Run};
use crate::cli::usage_error;
use crate::layout;
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// Copy an alias (manifests byte for byte, every platform of a multi-arch alias, and
/// the blobs) to another repository, or with --to to another registry; prints the
/// manifest digest
#[derive(Debug, PartialEq, Eq, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Source: REPO:ALIAS, or REPO@DIGEST
    #[arg(value_name = "SRC_REPO:ALIAS")]
    pub src: String,
    /// Destination: REPO (same alias as the source) or REPO:ALIAS; either end may be an
    /// OCI image layout: oci:DIR:TAG, oci:DIR or oci:DIR@DIGEST
    #[arg(value_name = "DST_REPO[:ALIAS]")]
    pub dst: String,
    /// Copy to the registry at HOST (host or host:port) instead of DXF_HOST (settings: DXF_TO_*)
    #[arg(long, value_name = "HOST")]
    pub to: Option<String>,
    /// Blobs copied at a time, 1 to 64 (default: DXF_CONCURRENCY, else 4)
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<Jobs>,
    /// Also copy every artifact that refers to it (signatures, SBOMs, attestations),
    /// recursively, keeping their digests (as oras cp -r)
    #[arg(long, short = 'r')]
    pub referrers: bool,
}

/// `copy --help`'s notes.
const AFTER_HELP: &str = "\
Blobs the destination has are skipped. Within one registry the others are mounted from
the source repository (uploaded when the registry refuses the mount); with --to they are
streamed from one registry to the other, never written to disk, verified on both ends.
A digest source (REPO@sha256:...) without a destination alias is stored by digest only.
Either end may be a local OCI image layout (as skopeo's oci: transport and oras
--oci-layout write them): oci:DIR[:TAG] or oci:DIR@DIGEST. Into a layout (created if
missing), the image is tagged TAG (default: the source alias); blobs the layout has are
not fetched again; writes are atomic and several dxf processes may write one layout. From
a layout, the destination alias defaults to TAG.
--referrers (-r) also copies every artifact referring to it, recursively, by digest,
through the referrers API or the tag schema on either side (where the destination keeps no
list, dxf adds each to the subject's sha256-<hex> index there).

With --to HOST, the destination is reached with the source's settings (DXF_INSECURE,
DXF_TLSVERIFY, DXF_SKIPTLSVERIFY, DXF_RETRIES) unless DXF_TO_INSECURE, DXF_TO_TLSVERIFY or
DXF_TO_SKIPTLSVERIFY say otherwise. Credentials are never sent to another registry: the
destination's come from DXF_TO_USERNAME and DXF_TO_PASSWORD, DXF_TO_AUTHORIZATION or
DXF_TO_TOKEN (DXF_TO_AUTH_HOST replaces its token realm's host); without them, docker's
stored credentials for HOST (DOCKER_CONFIG, as dxf login writes them), else anonymous.";

impl Run for Args {
    /// Both arguments split, and the source names an alias or a digest.
    fn validate(&self) -> Result<(), CliError> {
        check_arguments(&self.src, &self.dst).map_err(|problem| usage_error("copy", &problem))
    }

    fn transfers_blobs(&self) -> bool {
        true
    }

    /// Copies the alias, `--jobs` (else `DXF_CONCURRENCY`) blobs at a time, and prints the
    /// manifest's digest.
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let jobs = match self.jobs {
            Some(Jobs::N(n)) => usize::from(n),
            None | Some(Jobs::FromEnv) => env.concurrency()?,
        };
        let options = CopyOptions {
            jobs,
            referrers: self.referrers,
        };
        copy(env, out, &self.src, &self.dst, self.to.as_deref(), &options)
    }
}

/// A `copy` argument: the repository, and the alias or `sha256:...` digest after it.
#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    /// The repository.
    repo: String,
    /// `ALIAS` of `REPO:ALIAS`, or `DIGEST` of `REPO@DIGEST`.
    alias: Option<String>,
}

/// Splits `REPO:ALIAS`, `REPO@DIGEST` or `REPO` (repository names have no `:` or `@`).
fn parse_endpoint(arg: &str) -> Result<Endpoint, String> {
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
fn check_arguments(src: &str, dst: &str) -> Result<(), String> {
    match (layout::parse(src), layout::parse(dst)) {
        (Some(_), Some(_)) => {
            return Err("one end of a copy must be a registry (copy layouts with skopeo or cp)".into())
        }
        (Some(_), None) => return parse_endpoint(dst).map(drop),
        (None, Some(_)) => {}
        (None, None) => {}
    }
    let source = parse_endpoint(src)?;
    parse_endpoint(dst)?;
    match source.alias {
        None => Err(format!(
            "the source {src:?} must name an alias (REPO:ALIAS) or a digest (REPO@sha256:...)"
        )),
        Some(_) => Ok(()),
    }
}

/// Copies `src` to `dst` (see [`Args::run`]).
fn copy(
    env: &Env,
    out: &mut dyn Write,
    src: &str,
    dst: &str,
    to: Option<&str>,
    options: &CopyOptions,
) -> Result<(), CliError> {
    if let Some(layout) = layout::parse(src) {
        if to.is_some() {
            return Err(CliError::Usage("--to does not go with an oci: layout".into()));
        }
        let target = parse_endpoint(dst).map_err(CliError::Usage)?;
        let into = connect(env, &target.repo)?;
        let digest = layout::copy_from(&layout, &into, target.alias.as_deref(), options.jobs)?;
        return output::line(out, digest.as_str());
    }
    let source = parse_endpoint(src).map_err(CliError::Usage)?;
    if let Some(layout) = layout::parse(dst) {
        if to.is_some() {
            return Err(CliError::Usage("--to does not go with an oci: layout".into()));
        }
        let alias = source.alias.ok_or_else(|| {
            CliError::Usage(format!("the source {src:?} must name an alias or a digest"))
        })?;
        let from = connect(env, &source.repo)?;
        let digest = layout::copy_to(&from, &alias, &layout, options.jobs)?;
        return output::line(out, digest.as_str());
    }
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
            options,
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

    #[test]
    fn arguments() {
        use crate::cli::{parse, Parsed};
        use crate::commands::Command;
        assert_eq!(
            parse(["dxf", "copy", "r:v1", "s", "--to", "h", "--jobs", "3"]).unwrap(),
            Parsed::Run(Command::Copy(Args {
                src: "r:v1".into(),
                dst: "s".into(),
                to: Some("h".into()),
                jobs: Some(Jobs::N(3)),
                referrers: false,
            }))
        );
        for bad in [
            &["r", "s"][..],
            &["r:v1", "s", "--jobs", "0"],
            &["r:v1", ":x"],
        ] {
            let args = ["dxf", "copy"].iter().chain(bad).copied();
            assert!(matches!(parse(args), Err(CliError::Usage(_))), "{bad:?}");
        }
    }
}
