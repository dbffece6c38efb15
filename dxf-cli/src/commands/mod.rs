//! The commands, one module each: a command's arguments (a clap `Args` struct named
//! `Args`, whose doc comment is its help), the checks made after parsing, the run, its
//! text and `--json` output all live in `commands/<command>.rs`. The `commands!` table
//! below lists them: adding a command is its file plus one line there.
//!
//! Shared by several commands: the helpers in this module, reading a manifest from
//! standard input ([`stdin`]), the `--json` listings ([`listing`]), the OCI options of
//! `set-alias --oci` and `attach` ([`oci`]) and the destination of `copy --to`
//! ([`destination`]).
//!
//! Like python-dxf, commands that take several names resolve all of them before printing
//! anything (so a bad name late in the list leaves stdout empty), except `get-manifest`
//! and the listings, which print as they go.

mod destination;
mod listing;
mod oci;
mod stdin;

use std::io::{Read, Write};

use dxf_ureq::dxf_proto::manifest::parse::IndexWithoutPlatforms;
use dxf_ureq::dxf_proto::{AliasManifest, Digest, PerPlatform};
use dxf_ureq::{Registry, Repository};

use crate::env::Env;
use crate::error::CliError;
use crate::output::{self, Json};

/// What a command's parsed arguments do: every command's `Args` implements it.
pub(crate) trait Run {
    /// The checks made after parsing (python-dxf's, after argparse): a usage error.
    fn validate(&self) -> Result<(), CliError> {
        Ok(())
    }

    /// Whether the command moves blob contents, and so handles Ctrl-C and `kill` itself
    /// ([`crate::signals`]).
    fn transfers_blobs(&self) -> bool {
        false
    }

    /// Whether the command uploads, mounts, pulls or deletes blobs: then the blob-location
    /// cache ([`crate::cache`]) is opened for it, records where blobs are seen, and turns
    /// uploads of blobs the registry holds elsewhere into mounts.
    fn uses_blob_cache(&self) -> bool {
        self.transfers_blobs()
    }

    /// Runs the command with settings `env`, writing results to `out` and reading
    /// `input` where python-dxf reads stdin.
    fn run(&self, env: &Env, out: &mut dyn Write, input: &mut dyn Read) -> Result<(), CliError>;
}

/// Declares the command modules and [`Command`], whose variants are their `Args`, from
/// one table of `Variant => module` lines (clap names the command after the variant:
/// `PushBlob` is `push-blob`).
macro_rules! commands {
    ($($variant:ident => $module:ident,)*) => {
        $(pub(crate) mod $module;)*

        /// python-dxf's commands and dxf's own, in `dxf --help`'s order. Aliases are tags;
        /// `@ALIAS` in a blob argument list stands for the blobs the alias names. Each
        /// variant holds its command's arguments (their doc comment is the command's help).
        #[derive(Debug, PartialEq, Eq, clap::Subcommand)]
        pub(crate) enum Command {
            $($variant($module::Args),)*
        }

        impl Command {
            /// The command's arguments, which check and run it.
            pub(crate) fn args(&self) -> &dyn Run {
                match self {
                    $(Command::$variant(args) => args,)*
                }
            }
        }
    };
}

commands! {
    Auth => auth,
    PushBlob => push_blob,
    PullBlob => pull_blob,
    BlobSize => blob_size,
    MountBlob => mount_blob,
    DelBlob => del_blob,
    SetAlias => set_alias,
    GetAlias => get_alias,
    DelAlias => del_alias,
    GetDigest => get_digest,
    GetManifest => get_manifest,
    ListAliases => list_aliases,
    ListRepos => list_repos,
    Attach => attach,
    Referrers => referrers,
    Copy => copy,
    Login => login,
    Logout => logout,
    Push => push,
    Pull => pull,
    Completions => completions,
    Man => man,
}

/// How many transfers `--jobs` runs at a time (`push-blob`, `copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Jobs {
    /// `--jobs` without a number: `DXF_CONCURRENCY`, or its default.
    FromEnv,
    /// `--jobs N`.
    N(u16),
}

/// The largest `--jobs N`.
const MAX_JOBS: u16 = 64;

/// `--jobs`'s value: `1..=64`, or empty (`push-blob --jobs` given without a number, see
/// [`push_blob::bare_jobs_flags`]).
fn parse_jobs(raw: &str) -> Result<Jobs, String> {
    if raw.is_empty() {
        return Ok(Jobs::FromEnv);
    }
    match raw.parse::<u16>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(Jobs::N(n)),
        _ => Err(format!("{raw:?} is not a number from 1 to {MAX_JOBS}")),
    }
}

/// The alias an `@ALIAS` argument names, if it is one.
fn alias_of(name: &str) -> Option<&str> {
    name.strip_prefix('@')
}

/// python-dxf's `invalid alias` check of `command`: an optional trailing alias must start
/// with `@`.
fn check_alias(command: &str, alias: Option<&String>) -> Result<(), CliError> {
    match alias {
        Some(a) if !a.starts_with('@') => Err(crate::cli::usage_error(
            command,
            &format!("invalid alias {a:?}: it must start with @"),
        )),
        _ => Ok(()),
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

/// A blob list's digests, one a line.
fn digest_lines(blobs: Vec<(Digest, u64)>) -> Vec<String> {
    blobs.into_iter().map(|(d, _)| d.to_string()).collect()
}

/// A blob list's digests, as a per-platform value.
fn digest_list(blobs: Vec<(Digest, u64)>) -> Json {
    Json::StrList(digest_lines(blobs))
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
    fn alias_arguments() {
        assert_eq!(alias_of("@x"), Some("x"));
        assert_eq!(alias_of("@"), Some(""));
        assert_eq!(alias_of("sha256:x"), None);
    }

    #[test]
    fn digests_are_validated() {
        assert!(parse_digest("sha256:nothex").is_err());
        assert_eq!(parse_digest(d('a').as_str()).unwrap(), d('a'));
    }
}
