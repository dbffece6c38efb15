//! The command line: the top-level parser ([`Cli`]: `--help`, `--version`, the command),
//! [`parse`], and clap's failures turned into one-line usage errors that use python-dxf's
//! words (`too few arguments`, `too many arguments`). Each command's arguments and the
//! checks made after parsing them (python-dxf's `invalid alias`, ...) are in its module
//! under [`crate::commands`].
//!
//! dxf's own additions: `push-blob REPO - [@ALIAS]` (standard input), `push-blob --jobs
//! [N]`, `--single-pass` and `--resumable`, `pull-blob --output PATH` and `--verify-first`,
//! `del-alias --only`, and `copy SRC_REPO:ALIAS DST_REPO[:ALIAS] [--to HOST] [--jobs N]`.
//! OCI 1.1 artifacts: `set-alias --oci`, `attach`, `referrers`, and `--json` on the read
//! commands (`get-alias`, `blob-size`, `list-aliases`, `list-repos`, `referrers`).

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

use crate::commands::{push_blob, Command};
use crate::error::CliError;

/// `dxf --help`'s notes: the environment variables and the exit codes.
const AFTER_HELP: &str = "\
Environment:
  DXF_HOST            registry host[:port] (required)
  DXF_INSECURE=1      use plain http instead of https (no credentials are sent)
  DXF_USERNAME        username for Basic auth (with DXF_PASSWORD)
  DXF_PASSWORD        password for Basic auth
  DXF_AUTHORIZATION   raw Authorization header value, used instead of username/password
  DXF_AUTH_HOST       replaces the host of the token realm URL
  DXF_TOKEN           bearer token to use as-is
  DXF_PROGRESS        1: always show progress on stderr, 0: never, else if stderr is a tty
  DXF_BLOB_INFO=1     pull-blob prints '<digest> <size>' before each blob
  DXF_CHUNK_SIZE      pull-blob: largest write to stdout in bytes (default: no limit)
  DXF_SKIPTLSVERIFY=1 do not verify the registry's TLS certificate
  DXF_TLSVERIFY       CA bundle (PEM) to verify the registry's certificate with
  REQUESTS_CA_BUNDLE  CA bundle used when DXF_TLSVERIFY is not set
  DXF_PLATFORM        os/arch[/variant]: pick one platform of a multi-arch alias
  DXF_RETRIES         retries of a GET/HEAD after a 429/5xx answer or a lost
                      connection, with backoff and Retry-After (default 4; 0: none)
  DXF_TIMEOUT         seconds to wait for a connection, an answer or the next byte
                      (default 60, 30 to connect; 0: forever); small bodies must be
                      whole within twice that, blobs arrive at >= 1 KiB/s over it
  DXF_VERIFY_FIRST=1  pull-blob to stdout: hold each blob back until verified (as
                      --verify-first)
  DXF_CONCURRENCY     transfers at a time for push-blob --jobs without N, for
                      pull-blob --output DIR and for copy (default 4, at most 64)
  DXF_RESUMABLE=1     push-blob of files: as --resumable (not with --single-pass;
                      standard input is never resumable)
  DXF_STATE_DIR       where push-blob --resumable keeps upload checkpoints (default
                      $XDG_STATE_HOME/dxf/uploads, else ~/.local/state/dxf/uploads)
  DXF_DEBUG=1         every request and response on stderr, secrets redacted (as
                      --debug)
  DXF_CACHE=0         no blob-location cache (by default, where blobs were seen is
                      kept, so that an upload of a blob the registry holds in another
                      repository becomes a mount: no byte sent)
  DXF_CACHE_DIR       the blob-location cache's directory (default $XDG_CACHE_HOME/dxf,
                      else ~/.cache/dxf)
  DXF_MANIFEST        set-alias's manifest form: docker (python-dxf's, the default)
                      or oci (an OCI 1.1 artifact manifest, as --oci)
  DXF_TO_*            copy --to HOST: the destination's credentials and TLS settings
                      (DXF_TO_USERNAME, DXF_TO_PASSWORD, ...; see dxf copy --help)
  DOCKER_CONFIG       docker's configuration directory (default ~/.docker): its
                      config.json gives credentials when no DXF_USERNAME, DXF_PASSWORD,
                      DXF_AUTHORIZATION or DXF_TOKEN is set (auths, credsStore,
                      credHelpers; login and logout write it)

Exit status: 0 success, 13 unauthorized, 2 not found or usage error, 1 other failures;
128 + the signal for a transfer interrupted by Ctrl-C or kill (130 SIGINT, 143 SIGTERM).";

/// `dxf`: the Docker registry as a blob store.
#[derive(Debug, Parser)]
#[command(
    name = "dxf",
    version = env!("DXF_VERSION"),
    about = "Store and fetch blobs in a Docker (OCI distribution) registry",
    after_help = AFTER_HELP,
    disable_help_subcommand = true
)]
pub(crate) struct Cli {
    /// Show every request and response on stderr, one line each, secrets redacted (also
    /// DXF_DEBUG=1).
    #[arg(long, global = true)]
    pub debug: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Run a command.
    Run(Command),
    /// Print this (help or version) to stdout and exit 0.
    Print(String),
}

/// The subcommand names, for messages.
fn command_names() -> String {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The usage line of subcommand `name`, e.g. `dxf push-blob <REPO> <FILE> [@ALIAS]`.
fn usage_of(name: &str) -> String {
    let mut cmd = Cli::command();
    cmd.build();
    cmd.find_subcommand_mut(name)
        .map(|c| c.render_usage().to_string())
        .map(|u| {
            let u = u.trim_start_matches("Usage:").trim();
            u.lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_else(|| format!("dxf {name}"))
}

/// A usage error for subcommand `name`.
pub(crate) fn usage_error(name: &str, problem: &str) -> CliError {
    CliError::Usage(format!("{problem} (usage: {})", usage_of(name)))
}

/// The value clap reported under `kind`.
fn context(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => Some(v.join(", ")),
        _ => None,
    }
}

/// clap's error as one line in python-dxf's words.
fn clap_message(e: &clap::Error) -> String {
    let usage = match e.get(ContextKind::Usage) {
        Some(ContextValue::StyledStr(s)) => {
            let s = s.to_string();
            let s = s.trim_start_matches("Usage:").trim();
            format!(" (usage: {})", s.lines().next().unwrap_or_default().trim())
        }
        _ => String::new(),
    };
    let problem = match e.kind() {
        ErrorKind::MissingRequiredArgument => "too few arguments".to_owned(),
        ErrorKind::UnknownArgument => match context(e, ContextKind::InvalidArg) {
            Some(a) if a.starts_with('-') => format!("unrecognized option {a:?}"),
            Some(a) => format!("too many arguments: unexpected {a:?}"),
            None => "too many arguments".to_owned(),
        },
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            return format!("no command given (commands: {})", command_names());
        }
        ErrorKind::InvalidSubcommand => {
            return format!(
                "unknown command {:?} (commands: {})",
                context(e, ContextKind::InvalidSubcommand).unwrap_or_default(),
                command_names()
            );
        }
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.trim_start_matches("error:").trim().to_owned()
        }
    };
    format!("{problem}{usage}")
}

/// Whether the command line asks for the wire trace (`--debug`, anywhere before `--`).
pub(crate) fn debug_flag<T: AsRef<std::ffi::OsStr>>(args: &[T]) -> bool {
    args.iter()
        .skip(1)
        .map(AsRef::as_ref)
        .take_while(|a| *a != "--")
        .any(|a| a == "--debug")
}

/// Parses the command line (`args` includes the program name).
pub(crate) fn parse<I, T>(args: I) -> Result<Parsed, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = push_blob::bare_jobs_flags(args.into_iter().map(Into::into).collect());
    match Cli::try_parse_from(args) {
        Ok(cli) => {
            cli.command.args().validate()?;
            Ok(Parsed::Run(cli.command))
        }
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let mut text = e.to_string();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                Ok(Parsed::Print(text))
            }
            _ => Err(CliError::Usage(clap_message(&e))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, CliError> {
        parse(std::iter::once("dxf").chain(args.iter().copied()))
    }

    fn usage(args: &[&str]) -> String {
        match run(args) {
            Err(CliError::Usage(m)) => m,
            other => panic!("{args:?}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_python_command_parses() {
        let ok: &[&[&str]] = &[
            &["auth", "r"],
            &["auth", "r", "pull", "push"],
            &["push-blob", "r", "f"],
            &["push-blob", "r", "f", "@a"],
            &["pull-blob", "r"],
            &["pull-blob", "r", "sha256:x", "@a"],
            &["blob-size", "r"],
            &["mount-blob", "r", "other", "sha256:x"],
            &["mount-blob", "r", "other", "sha256:x", "@a"],
            &["del-blob", "r", "@a"],
            &["set-alias", "r", "a", "sha256:x", "./f"],
            &["get-alias", "r"],
            &["get-alias", "r", "a", "b"],
            &["del-alias", "r", "a"],
            &["get-digest", "r", "a"],
            &["get-manifest", "r"],
            &["list-aliases", "r"],
            &["list-repos"],
        ];
        for args in ok {
            assert!(
                matches!(run(args), Ok(Parsed::Run(_))),
                "{args:?}: {:?}",
                run(args)
            );
        }
    }

    #[test]
    fn debug_is_a_flag_of_every_command_until_the_end_of_options() {
        assert!(debug_flag(&["dxf", "--debug", "list-repos"]));
        assert!(debug_flag(&["dxf", "pull-blob", "r", "@a", "--debug"]));
        assert!(!debug_flag(&["dxf", "push-blob", "r", "--", "--debug"]));
        // The first argument is the program.
        assert!(!debug_flag(&["--debug", "list-repos"]));
        assert!(matches!(
            run(&["pull-blob", "--debug", "r", "@a"]),
            Ok(Parsed::Run(_))
        ));
    }

    #[test]
    fn json_flags() {
        for args in [
            &["get-alias", "--json", "r", "a"][..],
            &["blob-size", "r", "--json", "@a"],
            &["list-aliases", "--json", "r"],
            &["list-repos", "--json"],
        ] {
            assert!(matches!(run(args), Ok(Parsed::Run(_))), "{args:?}");
        }
        assert_eq!(
            run(&["list-repos", "--json"]).unwrap(),
            Parsed::Run(Command::ListRepos(crate::commands::list_repos::Args {
                json: true
            }))
        );
    }

    #[test]
    fn too_few_arguments() {
        for args in [
            &["push-blob", "r"][..],
            &["push-blob"],
            &["mount-blob", "r", "other"],
            &["set-alias", "r", "a"],
            &["set-alias", "r"],
            &["get-alias"],
            &["list-aliases"],
        ] {
            let m = usage(args);
            assert!(m.contains("too few arguments"), "{args:?}: {m}");
            assert!(m.contains("usage: dxf "), "{args:?}: {m}");
            assert!(!m.contains('\n'), "{args:?}: {m}");
        }
    }

    #[test]
    fn too_many_arguments() {
        for args in [
            &["push-blob", "r", "f", "@a", "x"][..],
            &["mount-blob", "r", "o", "h", "@a", "x"],
            &["list-aliases", "r", "x"],
            &["list-repos", "x"],
        ] {
            let m = usage(args);
            assert!(m.contains("too many arguments"), "{args:?}: {m}");
            assert!(!m.contains('\n'), "{args:?}: {m}");
        }
    }

    #[test]
    fn invalid_alias() {
        let m = usage(&["push-blob", "r", "f", "alias"]);
        assert!(m.contains("invalid alias"), "{m}");
        assert!(
            m.contains("usage: dxf push-blob <REPO> <FILE> [@ALIAS]"),
            "{m}"
        );
        let m = usage(&["mount-blob", "r", "o", "h", "alias"]);
        assert!(m.contains("invalid alias"), "{m}");
    }

    #[test]
    fn missing_and_unknown_commands() {
        assert!(usage(&[]).contains("no command given"));
        let m = usage(&["frobnicate"]);
        assert!(m.contains("unknown command \"frobnicate\""), "{m}");
        assert!(m.contains("push-blob"), "{m}");
        assert!(usage(&["pull-blob", "r", "--frob"]).contains("unrecognized option"));
    }

    #[test]
    fn help_and_version_are_printed() {
        match run(&["--version"]).unwrap() {
            Parsed::Print(s) => {
                let version = concat!("dxf ", env!("CARGO_PKG_VERSION"));
                assert!(s.starts_with(version), "{s}");
            }
            other => panic!("{other:?}"),
        }
        match run(&["--help"]).unwrap() {
            Parsed::Print(s) => {
                assert!(s.contains("push-blob") && s.contains("DXF_HOST"), "{s}");
                assert!(
                    s.contains("DXF_VERIFY_FIRST") && s.contains("DXF_CONCURRENCY"),
                    "{s}"
                );
                assert!(
                    s.contains("DXF_RESUMABLE") && s.contains("DXF_STATE_DIR"),
                    "{s}"
                );
            }
            other => panic!("{other:?}"),
        }
        match run(&["pull-blob", "--help"]).unwrap() {
            Parsed::Print(s) => {
                assert!(s.contains("HASH|@ALIAS") && s.ends_with('\n'), "{s}");
                assert!(
                    s.contains("--output") && s.contains("--verify-first"),
                    "{s}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
