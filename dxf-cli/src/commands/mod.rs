//! Running a parsed [`Command`]: one function per python-dxf command, grouped by what they
//! act on — blobs ([`blobs`], and [`pull`] for `pull-blob`), aliases ([`aliases`]), the
//! registry ([`registry`]) — plus reading a manifest from standard input ([`stdin`]), OCI
//! artifacts and referrers ([`artifacts`]) and the `--json` outputs ([`json`]).
//!
//! Like python-dxf, commands that take several names resolve all of them before printing
//! anything (so a bad name late in the list leaves stdout empty), except `get-manifest`
//! and the listings, which print as they go.

mod aliases;
mod artifacts;
mod blobs;
mod json;
mod login;
mod pull;
mod registry;
mod stdin;

pub(crate) mod copy;
mod destination;

use std::io::{Read, Write};

use dxf_ureq::dxf_proto::manifest::parse::IndexWithoutPlatforms;
use dxf_ureq::dxf_proto::{AliasManifest, Digest, PerPlatform};
use dxf_ureq::{Registry, Repository};

use crate::cli::{Command, Jobs};
use crate::env::Env;
use crate::error::CliError;
use crate::output::{self, Json};

/// Runs `command` with settings `env`, writing results to `out` and reading manifests
/// from `input` where python-dxf reads them from stdin.
pub fn run(
    command: Command,
    env: &Env,
    out: &mut dyn Write,
    input: &mut dyn Read,
) -> Result<(), CliError> {
    match command {
        Command::Auth { repo, actions } => registry::auth(env, out, &repo, &actions),
        Command::PushBlob {
            repo,
            file,
            alias,
            more,
            single_pass,
            resumable,
            jobs,
        } => {
            let (files, alias) = crate::cli::push_targets(file, alias, more);
            let jobs = match jobs {
                None => 1,
                Some(Jobs::N(n)) => usize::from(n),
                Some(Jobs::FromEnv) => env.concurrency()?,
            };
            // The flag, or DXF_RESUMABLE=1 where it applies (not with --single-pass).
            let resumable = resumable || (env.resumable && !single_pass);
            let how = blobs::PushHow {
                single_pass,
                jobs,
                resumable,
            };
            blobs::push(env, out, input, &repo, &files, alias.as_deref(), how)
        }
        Command::PullBlob {
            repo,
            names,
            output,
            verify_first,
        } => {
            let how = pull::PullHow {
                output,
                verify_first,
            };
            pull::pull(env, out, input, &repo, &names, how)
        }
        Command::BlobSize { repo, names, json } => match json {
            false => blobs::size(env, out, input, &repo, &names),
            true => json::blob_size(env, out, input, &repo, &names),
        },
        Command::MountBlob {
            repo,
            from_repo,
            digest,
            alias,
        } => blobs::mount(env, out, &repo, &from_repo, &digest, alias.as_deref()),
        Command::DelBlob { repo, names } => blobs::delete(env, input, &repo, &names),
        Command::SetAlias {
            repo,
            alias,
            blobs,
            oci,
            artifact_type,
            annotations,
        } => {
            let how = artifacts::SetHow {
                oci,
                artifact_type,
                annotations,
            };
            artifacts::set_alias(env, out, &repo, &alias, &blobs, how)
        }
        Command::GetAlias {
            repo,
            aliases,
            json,
        } => match json {
            false => aliases::get(env, out, input, &repo, &aliases),
            true => json::get_alias(env, out, input, &repo, &aliases),
        },
        Command::DelAlias {
            repo,
            aliases,
            only,
        } => aliases::delete(env, out, &repo, &aliases, only),
        Command::GetDigest { repo, aliases } => aliases::digest(env, out, input, &repo, &aliases),
        Command::GetManifest { repo, aliases } => aliases::manifest(env, out, &repo, &aliases),
        Command::ListAliases { repo, json } => match json {
            false => aliases::list(env, out, &repo),
            true => json::list_aliases(env, out, &repo),
        },
        Command::ListRepos { json } => match json {
            false => registry::list_repos(env, out),
            true => json::list_repos(env, out),
        },
        Command::Attach {
            repo,
            alias,
            files,
            artifact_type,
            annotations,
        } => artifacts::attach(env, out, &repo, &alias, &files, artifact_type, annotations),
        Command::Referrers {
            repo,
            alias,
            artifact_type,
            json,
        } => artifacts::referrers(env, out, &repo, &alias, artifact_type.as_deref(), json),
        Command::Copy { src, dst, to, jobs } => {
            let jobs = match jobs {
                Some(Jobs::N(n)) => usize::from(n),
                None | Some(Jobs::FromEnv) => env.concurrency()?,
            };
            copy::copy(env, out, &src, &dst, to.as_deref(), jobs)
        }
        Command::Login {
            host,
            username,
            password,
            password_stdin,
        } => {
            let how = login::LoginHow {
                username,
                password,
                password_stdin,
            };
            login::login(env, out, input, host, how)
        }
        Command::Logout { host } => login::logout(env, out, host),
    }
}

/// A client for the registry in `env` (`use_token`: apply `DXF_TOKEN`).
fn connect_registry(env: &Env, use_token: bool) -> Result<Registry, CliError> {
    Ok(Registry::new(&env.config(use_token)?)?)
}

/// A client for repository `name`.
fn connect(env: &Env, name: &str) -> Result<Repository, CliError> {
    Ok(connect_registry(env, true)?.repository(name)?)
}

/// Parses a blob digest given on the command line.
fn parse_digest(name: &str) -> Result<Digest, CliError> {
    Digest::parse(name).map_err(|e| CliError::from(dxf_ureq::dxf_proto::Error::from(e)))
}

/// Attaches `context` to a registry error.
fn about<E: Into<dxf_ureq::Error>>(context: &str) -> impl FnOnce(E) -> CliError + '_ {
    move |e| CliError::dxf(context, e)
}

/// `context` (an alias, `@alias`, `standard input`) is an index without platforms (a
/// referrers or artifact index), asked for its blobs or config: one line saying what it
/// is, exit 1 (see [`crate::exit`]: "anything else").
fn not_blobs(context: &str) -> impl FnOnce(IndexWithoutPlatforms) -> CliError + '_ {
    move |e| CliError::dxf(context, dxf_ureq::dxf_proto::Error::from(e))
}

/// The blobs (digest, size) of `manifest`, per platform for a multi-arch index; an index
/// without platforms is an error about `context` ([`not_blobs`]).
fn blobs_of(
    manifest: &AliasManifest,
    context: &str,
) -> Result<PerPlatform<Vec<(Digest, u64)>>, CliError> {
    manifest.try_layers().map_err(not_blobs(context))
}

/// What one alias (or a plain digest) stands for in a blob list: blobs, or — for a
/// multi-arch alias without `DXF_PLATFORM` — the per-platform object printed instead.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    /// A blob.
    Blob(Digest),
    /// A line of JSON to print.
    Json(String),
}

/// The items an alias's layers give (python-dxf's `_flatten` of `get_alias`).
fn layer_items(layers: PerPlatform<Vec<(Digest, u64)>>) -> Vec<Item> {
    match layers {
        PerPlatform::Single(blobs) => blobs.into_iter().map(|(d, _)| Item::Blob(d)).collect(),
        PerPlatform::Platforms(platforms) => vec![Item::Json(output::py_json_object(
            platforms.into_iter().map(|(p, blobs)| {
                (
                    p,
                    Json::StrList(blobs.into_iter().map(|(d, _)| d.to_string()).collect()),
                )
            }),
        ))],
    }
}

/// Prints a single value's lines, or a per-platform object on one line.
fn print_per_platform<T>(
    out: &mut dyn Write,
    value: PerPlatform<T>,
    lines: impl Fn(T) -> Vec<String>,
    json: impl Fn(T) -> Json,
) -> Result<(), CliError> {
    match value {
        PerPlatform::Single(v) => {
            for l in lines(v) {
                output::line(out, &l)?;
            }
            Ok(())
        }
        PerPlatform::Platforms(platforms) => output::line(
            out,
            &output::py_json_object(platforms.into_iter().map(|(p, v)| (p, json(v)))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn single_layers_are_blobs() {
        let items = layer_items(PerPlatform::Single(vec![(d('a'), 1), (d('b'), 2)]));
        assert_eq!(items, vec![Item::Blob(d('a')), Item::Blob(d('b'))]);
    }

    #[test]
    fn platform_layers_are_one_json_line() {
        let items = layer_items(PerPlatform::Platforms(vec![
            ("linux/arm64".into(), vec![(d('b'), 2)]),
            ("linux/amd64".into(), vec![(d('a'), 1), (d('b'), 2)]),
        ]));
        assert_eq!(
            items,
            vec![Item::Json(format!(
                "{{\"linux/amd64\": [\"{}\", \"{}\"], \"linux/arm64\": [\"{}\"]}}",
                d('a'),
                d('b'),
                d('b')
            ))]
        );
    }

    #[test]
    fn per_platform_printing() {
        let mut out = Vec::new();
        print_per_platform(
            &mut out,
            PerPlatform::Single(vec!["x".to_owned(), "y".to_owned()]),
            |v| v,
            Json::StrList,
        )
        .unwrap();
        print_per_platform(
            &mut out,
            PerPlatform::Platforms(vec![("p".to_owned(), 3u64)]),
            |v| vec![v.to_string()],
            Json::Int,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "x\ny\n{\"p\": 3}\n");
    }

    #[test]
    fn digests_are_validated() {
        assert!(parse_digest("sha256:nothex").is_err());
        assert_eq!(parse_digest(d('a').as_str()).unwrap(), d('a'));
    }
}
