//! The command line: python-dxf's thirteen commands and their arguments (clap), the checks
//! python-dxf makes after parsing (`invalid alias`), and clap's failures turned into
//! one-line usage errors that use python-dxf's words (`too few arguments`,
//! `too many arguments`).
//!
//! dxf's own additions: `push-blob REPO - [@ALIAS]` (standard input), `push-blob --jobs
//! [N]`, `--single-pass` and `--resumable`, `pull-blob --output PATH` and `--verify-first`,
//! `del-alias --only`, and `copy SRC_REPO:ALIAS DST_REPO[:ALIAS] [--to HOST] [--jobs N]`.
//! OCI 1.1 artifacts: `set-alias --oci`, `attach`, `referrers`, and `--json` on the read
//! commands (`get-alias`, `blob-size`, `list-aliases`, `list-repos`, `referrers`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, Subcommand};

use crate::error::CliError;

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
    version,
    about = "Store and fetch blobs in a Docker (OCI distribution) registry",
    after_help = AFTER_HELP,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// python-dxf's commands. Aliases are tags; `@ALIAS` in a blob argument list stands for
/// the blobs the alias names.
#[derive(Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Authenticate and print the bearer token, if the registry uses tokens
    Auth {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Actions to ask for: pull, push, *
        #[arg(value_name = "ACTION")]
        actions: Vec<String>,
    },
    /// Upload a file (unless the registry has it) and print its digest
    #[command(override_usage = PUSH_BLOB_USAGE, after_help = PUSH_BLOB_AFTER_HELP)]
    PushBlob {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// File to upload; - reads standard input (a file named - is ./-)
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Also point this alias at the blob
        #[arg(value_name = "@ALIAS")]
        alias: Option<String>,
        /// With --jobs: more files to upload (then a last @ALIAS names them all)
        #[arg(value_name = "FILE", hide = true)]
        more: Vec<String>,
        /// Hash while sending (chunked upload, digest at the final PUT) instead of hashing
        /// the file first; always uploads (there is no digest to check for beforehand)
        #[arg(long)]
        single_pass: bool,
        /// Chunked upload that keeps checkpoints on disk (DXF_STATE_DIR): if it dies,
        /// running the same command again continues it (also DXF_RESUMABLE=1)
        #[arg(long, conflicts_with = "single_pass")]
        resumable: bool,
        /// Upload several files, N at a time (N omitted: DXF_CONCURRENCY, default 4);
        /// prints one digest per file, in order
        #[arg(long, value_name = "N", value_parser = parse_jobs)]
        jobs: Option<Jobs>,
    },
    /// Write blobs to stdout (with no names: those of a manifest read from stdin)
    #[command(after_help = PULL_BLOB_AFTER_HELP)]
    PullBlob {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Blob digests, or @alias for an alias's blobs
        #[arg(value_name = "HASH|@ALIAS")]
        names: Vec<String>,
        /// Write the blobs to PATH instead of stdout (complete and verified, or not at
        /// all); an existing directory gets one file per blob, named by its hex digest
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// To stdout: hold each blob back (in a temporary file) until its digest is
        /// verified, so that nothing of a bad blob is written (also DXF_VERIFY_FIRST=1)
        #[arg(long)]
        verify_first: bool,
    },
    /// Print blob sizes; an alias prints the sum of its blobs' sizes
    BlobSize {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Blob digests, or @alias (with no names: a manifest read from stdin)
        #[arg(value_name = "HASH|@ALIAS")]
        names: Vec<String>,
        /// Print one JSON document
        #[arg(long)]
        json: bool,
    },
    /// Mount a blob from another repository and print its digest
    MountBlob {
        /// Repository to mount into
        #[arg(value_name = "REPO")]
        repo: String,
        /// Repository holding the blob
        #[arg(value_name = "FROM_REPO")]
        from_repo: String,
        /// Blob digest
        #[arg(value_name = "HASH")]
        digest: String,
        /// Also point this alias at the blob
        #[arg(value_name = "@ALIAS")]
        alias: Option<String>,
    },
    /// Delete blobs; @alias deletes the alias's manifest and then its blobs
    DelBlob {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Blob digests, or @alias (with no names: a manifest read from stdin)
        #[arg(value_name = "HASH|@ALIAS")]
        names: Vec<String>,
    },
    /// Point an alias at blobs and print the manifest (an argument with a path separator
    /// is a file whose digest is computed locally)
    SetAlias {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Alias (tag) to set
        #[arg(value_name = "ALIAS")]
        alias: String,
        /// Blob digests, or files (paths containing a separator)
        #[arg(value_name = "HASH|FILE", required = true)]
        blobs: Vec<OsString>,
        /// Write an OCI 1.1 artifact manifest instead of python-dxf's (also DXF_MANIFEST=oci)
        #[arg(long)]
        oci: bool,
        /// OCI form: the manifest's artifactType (default application/vnd.dxf.blobs.v1)
        #[arg(long, value_name = "TYPE")]
        artifact_type: Option<String>,
        /// OCI form: a manifest annotation (repeatable)
        #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = parse_annotation)]
        annotations: Vec<(String, String)>,
    },
    /// Print the blob digests aliases point at (with none: a manifest read from stdin)
    GetAlias {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Aliases
        #[arg(value_name = "ALIAS")]
        aliases: Vec<String>,
        /// Print one JSON document (manifest digests, blobs with sizes, per platform)
        #[arg(long)]
        json: bool,
    },
    /// Delete aliases (their manifests, by digest) and print the blob digests they named
    DelAlias {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Aliases
        #[arg(value_name = "ALIAS")]
        aliases: Vec<String>,
        /// Delete only these aliases: the manifests and their other aliases stay (without
        /// it, as python-dxf, every alias on the same manifest goes too)
        #[arg(long)]
        only: bool,
    },
    /// Print aliases' config digests (for dxf aliases, the first blob)
    GetDigest {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Aliases (with none: a manifest read from stdin)
        #[arg(value_name = "ALIAS")]
        aliases: Vec<String>,
    },
    /// Print aliases' manifests as received
    GetManifest {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Aliases
        #[arg(value_name = "ALIAS")]
        aliases: Vec<String>,
    },
    /// List a repository's aliases
    ListAliases {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Print one JSON document (an array of names)
        #[arg(long)]
        json: bool,
    },
    /// List the registry's repositories
    ListRepos {
        /// Print one JSON document (an array of names)
        #[arg(long)]
        json: bool,
    },
    /// Push files as an OCI 1.1 artifact whose subject is an alias's manifest and print the
    /// artifact manifest's digest
    #[command(after_help = ATTACH_AFTER_HELP)]
    Attach {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Alias (tag or digest) whose manifest the artifact refers to
        #[arg(value_name = "ALIAS")]
        alias: String,
        /// Files to push as the artifact's blobs (titled with their file names)
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        /// The artifact's artifactType (default application/vnd.dxf.blobs.v1)
        #[arg(long, value_name = "TYPE")]
        artifact_type: Option<String>,
        /// A manifest annotation (repeatable)
        #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = parse_annotation)]
        annotations: Vec<(String, String)>,
    },
    /// List the artifacts whose subject is an alias's manifest: one "DIGEST ARTIFACT_TYPE"
    /// line each
    #[command(after_help = REFERRERS_AFTER_HELP)]
    Referrers {
        /// Repository
        #[arg(value_name = "REPO")]
        repo: String,
        /// Alias (tag or digest)
        #[arg(value_name = "ALIAS")]
        alias: String,
        /// Only artifacts of this artifactType
        #[arg(long, value_name = "TYPE")]
        artifact_type: Option<String>,
        /// Print the list as an OCI image index (one JSON document)
        #[arg(long)]
        json: bool,
    },
    /// Copy an alias (manifests byte for byte, every platform of a multi-arch alias, and
    /// the blobs) to another repository, or with --to to another registry; prints the
    /// manifest digest
    #[command(after_help = COPY_AFTER_HELP)]
    Copy {
        /// Source: REPO:ALIAS, or REPO@DIGEST
        #[arg(value_name = "SRC_REPO:ALIAS")]
        src: String,
        /// Destination: REPO (same alias as the source) or REPO:ALIAS
        #[arg(value_name = "DST_REPO[:ALIAS]")]
        dst: String,
        /// Copy to the registry at HOST (host or host:port) instead of DXF_HOST (settings: DXF_TO_*)
        #[arg(long, value_name = "HOST")]
        to: Option<String>,
        /// Blobs copied at a time, 1 to 64 (default: DXF_CONCURRENCY, else 4)
        #[arg(long, value_name = "N", value_parser = parse_jobs)]
        jobs: Option<Jobs>,
    },
    /// Log in to a registry: check the credentials with it, then store them as docker does
    #[command(after_help = LOGIN_AFTER_HELP)]
    Login {
        /// Registry HOST or HOST:PORT (default: DXF_HOST)
        #[arg(value_name = "HOST")]
        host: Option<String>,
        /// Username (asked for on the terminal when omitted)
        #[arg(short, long)]
        username: Option<String>,
        /// Password (visible to other users of the machine: prefer --password-stdin)
        #[arg(short, long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Log out of a registry: remove the credentials login stored
    Logout {
        /// Registry HOST or HOST:PORT (default: DXF_HOST)
        #[arg(value_name = "HOST")]
        host: Option<String>,
    },
}

/// `attach --help`'s notes.
const ATTACH_AFTER_HELP: &str = "\
The files are pushed (unless the registry has them), the empty config blob ({}) is pushed
when missing, and the artifact manifest is stored by digest with the alias's manifest as its
subject. A registry without the referrers API (such as distribution 2.8) does not answer with
OCI-Subject: dxf then adds the artifact to the index under the tag sha256-<hex of the
subject digest> (the OCI referrers tag schema), which `referrers` reads.";

/// `referrers --help`'s notes.
const REFERRERS_AFTER_HELP: &str = "\
Asks the registry's referrers API (GET /v2/REPO/referrers/DIGEST); when the registry has
none (404), reads the index under the tag sha256-<hex> instead (none there: no referrers).
Text output: one line per artifact, its manifest digest and its artifactType separated by a
space (- when it has none). --json: the OCI image index
{\"manifests\":[...],\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"schemaVersion\":2}.";

/// `--annotation`'s value: `KEY=VALUE` with a non-empty key (the value may be empty or
/// contain `=`).
fn parse_annotation(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{raw:?} is not KEY=VALUE")),
    }
}

/// A repeated `--annotation` key, if any.
fn repeated_annotation(annotations: &[(String, String)]) -> Option<&str> {
    let mut seen = std::collections::BTreeSet::new();
    annotations
        .iter()
        .map(|(k, _)| k.as_str())
        .find(|k| !seen.insert(*k))
}

/// `copy --help`'s notes.
const COPY_AFTER_HELP: &str = "\
Blobs the destination has are skipped. Within one registry the others are mounted from
the source repository (uploaded when the registry refuses the mount); with --to they are
streamed from one registry to the other, never written to disk, verified on both ends.
A digest source (REPO@sha256:...) without a destination alias is stored by digest only.

With --to HOST, the destination is reached with the source's settings (DXF_INSECURE,
DXF_TLSVERIFY, DXF_SKIPTLSVERIFY, DXF_RETRIES) unless DXF_TO_INSECURE, DXF_TO_TLSVERIFY or
DXF_TO_SKIPTLSVERIFY say otherwise. Credentials are never sent to another registry: the
destination's come from DXF_TO_USERNAME and DXF_TO_PASSWORD, DXF_TO_AUTHORIZATION or
DXF_TO_TOKEN (DXF_TO_AUTH_HOST replaces its token realm's host); without them, docker's
stored credentials for HOST (DOCKER_CONFIG, as dxf login writes them), else anonymous.";

/// `login --help`'s notes.
const LOGIN_AFTER_HELP: &str = "\
Credentials are stored as `docker login` stores them, in $DOCKER_CONFIG/config.json
(default ~/.docker/config.json): through the credential helper configured for the host
(credHelpers, else credsStore: docker-credential-NAME store), else base64 in auths. They
are checked with the registry first (for a token registry, a token is fetched); wrong ones
are refused (exit 13) and nothing is stored. Without -p or --password-stdin the password is
asked for on the terminal, without echo.

Every command uses these stored credentials when none of DXF_USERNAME, DXF_PASSWORD,
DXF_AUTHORIZATION and DXF_TOKEN is set.";

/// `push-blob`'s usage: python-dxf's form first (the one error messages quote).
const PUSH_BLOB_USAGE: &str = "dxf push-blob <REPO> <FILE> [@ALIAS]
       dxf push-blob <REPO> - [@ALIAS]
       dxf push-blob [--single-pass | --resumable] <REPO> <FILE> [@ALIAS]
       dxf push-blob [--single-pass | --resumable] --jobs [<N>] <REPO> <FILE>... [@ALIAS]";

/// `push-blob --help`'s notes.
const PUSH_BLOB_AFTER_HELP: &str = "\
FILE - streams standard input in one pass (chunked upload, hashed while sending, memory
bounded by the chunk size) and prints the digest at the end; it is always uploaded (the
digest is not known beforehand). --jobs without N uploads DXF_CONCURRENCY files at a time
(default 4).

--resumable (or DXF_RESUMABLE=1): the file is hashed, then uploaded in 8 MiB chunks; after
each chunk the registry acknowledged, a checkpoint is written to a file in DXF_STATE_DIR
(default $XDG_STATE_HOME/dxf/uploads, else ~/.local/state/dxf/uploads), one per host,
repository and digest. Running the same command again after a failure continues from it
(the registry is asked what it holds; a session it forgot starts over); the file is
removed once the push succeeded. A state directory that cannot be created or written is an
error before anything is sent.";

/// `pull-blob --help`'s notes.
const PULL_BLOB_AFTER_HELP: &str = "\
--output PATH: the blobs (concatenated, in order) go to a temporary file beside PATH,
which is renamed over PATH only once every digest was verified; on any failure it is
removed and PATH is left as it was. If PATH is an existing directory, each blob goes to
PATH/<hex digest> the same way, DXF_CONCURRENCY (default 4) at a time. DXF_BLOB_INFO lines
(and a multi-arch alias's per-platform JSON) then go to stdout once the files are in place.

Without --output, each blob is streamed to stdout as it arrives and a wrong digest is an
error at its end (python-dxf's behaviour); --verify-first (or DXF_VERIFY_FIRST=1) spools
each blob to $TMPDIR first and writes it only once verified.";

/// How many uploads `push-blob --jobs` runs at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jobs {
    /// `--jobs` without a number: `DXF_CONCURRENCY`, or its default.
    FromEnv,
    /// `--jobs N`.
    N(u16),
}

/// The largest `--jobs N`.
pub const MAX_JOBS: u16 = 64;

/// `--jobs`'s value: `1..=64`, or empty (`--jobs` given without a number, see
/// [`bare_jobs_flags`]).
fn parse_jobs(raw: &str) -> Result<Jobs, String> {
    if raw.is_empty() {
        return Ok(Jobs::FromEnv);
    }
    match raw.parse::<u16>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(Jobs::N(n)),
        _ => Err(format!("{raw:?} is not a number from 1 to {MAX_JOBS}")),
    }
}

/// `push-blob`'s `--jobs` takes an optional number, the way `make -j` does: a bare
/// `--jobs` not followed by a number becomes `--jobs=` (clap would take the next argument,
/// the repository, as its value). `args` starts with the program name; the command comes
/// next (dxf has no global options but `--help` and `--version`).
fn bare_jobs_flags(args: Vec<OsString>) -> Vec<OsString> {
    if args.get(1).is_none_or(|c| c != "push-blob") {
        return args;
    }
    let is_number = |a: Option<&OsString>| {
        a.and_then(|a| a.to_str())
            .is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut options = true;
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        if arg == "--" {
            options = false;
        } else if options && arg == "--jobs" && !is_number(args.peek()) {
            out.push(OsString::from("--jobs="));
            continue;
        }
        out.push(arg);
    }
    out
}

/// Whether a `push-blob` FILE argument means standard input (exactly `-`).
pub fn is_stdin(file: &std::path::Path) -> bool {
    file.as_os_str() == "-"
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
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
fn usage_error(name: &str, problem: &str) -> CliError {
    CliError::Usage(format!("{problem} (usage: {})", usage_of(name)))
}

/// python-dxf's `invalid alias` check: an optional trailing alias must start with `@`.
fn check_alias(name: &str, alias: Option<&String>) -> Result<(), CliError> {
    match alias {
        Some(a) if !a.starts_with('@') => Err(usage_error(
            name,
            &format!("invalid alias {a:?}: it must start with @"),
        )),
        _ => Ok(()),
    }
}

impl Command {
    /// Whether the command moves blob contents, and so handles Ctrl-C and `kill` itself
    /// ([`crate::signals`]).
    pub fn transfers_blobs(&self) -> bool {
        matches!(
            self,
            Command::PushBlob { .. } | Command::PullBlob { .. } | Command::Copy { .. }
        )
    }

    /// The checks python-dxf makes after argparse.
    pub fn validate(&self) -> Result<(), CliError> {
        match self {
            Command::PushBlob {
                file,
                alias,
                more,
                jobs,
                resumable,
                ..
            } => {
                let stdin_among = || {
                    let (files, _) = push_targets(file.clone(), alias.clone(), more.clone());
                    files.iter().any(|f| is_stdin(f))
                };
                if *resumable && (is_stdin(file) || (jobs.is_some() && stdin_among())) {
                    return Err(usage_error(
                        "push-blob",
                        "--resumable needs files: - (standard input) cannot be resumed",
                    ));
                }
                match (jobs, more.first()) {
                    // python-dxf's rules without --jobs: REPO FILE [@ALIAS].
                    (None, Some(extra)) => Err(usage_error(
                        "push-blob",
                        &format!("too many arguments: unexpected {extra:?}"),
                    )),
                    (None, None) => check_alias("push-blob", alias.as_ref()),
                    (Some(_), _) => {
                        let (files, _) = push_targets(file.clone(), alias.clone(), more.clone());
                        if files.len() > 1 && files.iter().any(|f| is_stdin(f)) {
                            return Err(usage_error(
                                "push-blob",
                                "- (standard input) cannot be pushed together with other files",
                            ));
                        }
                        Ok(())
                    }
                }
            }
            Command::MountBlob { alias, .. } => check_alias("mount-blob", alias.as_ref()),
            Command::SetAlias { annotations, .. } | Command::Attach { annotations, .. } => {
                match repeated_annotation(annotations) {
                    Some(k) => Err(usage_error(
                        if matches!(self, Command::Attach { .. }) {
                            "attach"
                        } else {
                            "set-alias"
                        },
                        &format!("--annotation {k:?} given twice"),
                    )),
                    None => Ok(()),
                }
            }
            Command::DelAlias {
                aliases,
                only: true,
                ..
            } => match aliases.iter().find(|a| a.contains(':')) {
                Some(d) => Err(usage_error(
                    "del-alias",
                    &format!("--only deletes aliases, and {d:?} is a digest"),
                )),
                None => Ok(()),
            },
            Command::Copy { src, dst, .. } => crate::commands::copy::check_arguments(src, dst)
                .map_err(|problem| usage_error("copy", &problem)),
            _ => Ok(()),
        }
    }
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

/// Parses the command line (`args` includes the program name).
pub fn parse<I, T>(args: I) -> Result<Parsed, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = bare_jobs_flags(args.into_iter().map(Into::into).collect());
    match Cli::try_parse_from(args) {
        Ok(cli) => {
            cli.command.validate()?;
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

/// `push-blob`'s files and alias: `FILE [@ALIAS]`, or with `--jobs` `FILE...` where a last
/// argument starting with `@` is the alias.
pub fn push_targets(
    file: PathBuf,
    alias: Option<String>,
    more: Vec<String>,
) -> (Vec<PathBuf>, Option<String>) {
    let mut rest: Vec<String> = alias.into_iter().chain(more).collect();
    let alias = match rest.last() {
        Some(a) if a.starts_with('@') => rest.pop(),
        _ => None,
    };
    let files = std::iter::once(file)
        .chain(rest.into_iter().map(PathBuf::from))
        .collect();
    (files, alias)
}

/// The alias an `@ALIAS` argument names, if it is one.
pub fn alias_of(name: &str) -> Option<&str> {
    name.strip_prefix('@')
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
    fn parsed_values() {
        assert_eq!(
            run(&["push-blob", "r", "dir/f", "@a"]).unwrap(),
            Parsed::Run(Command::PushBlob {
                repo: "r".into(),
                file: PathBuf::from("dir/f"),
                alias: Some("@a".into()),
                more: vec![],
                single_pass: false,
                resumable: false,
                jobs: None,
            })
        );
        assert_eq!(
            run(&[
                "push-blob",
                "--single-pass",
                "--jobs",
                "4",
                "r",
                "f",
                "g",
                "h",
                "@a"
            ])
            .unwrap(),
            Parsed::Run(Command::PushBlob {
                repo: "r".into(),
                file: PathBuf::from("f"),
                alias: Some("g".into()),
                more: vec!["h".into(), "@a".into()],
                single_pass: true,
                resumable: false,
                jobs: Some(Jobs::N(4)),
            })
        );
        assert_eq!(
            push_targets("f".into(), Some("g".into()), vec!["h".into(), "@a".into()]),
            (
                vec![PathBuf::from("f"), "g".into(), "h".into()],
                Some("@a".into())
            )
        );
        assert_eq!(
            push_targets("f".into(), Some("@a".into()), vec![]),
            (vec![PathBuf::from("f")], Some("@a".into()))
        );
        assert_eq!(
            push_targets("f".into(), Some("g".into()), vec![]),
            (vec![PathBuf::from("f"), "g".into()], None)
        );
        for bad in [
            &["push-blob", "--jobs", "0", "r", "f"][..],
            &["push-blob", "--jobs=x", "r", "f"],
        ] {
            assert!(matches!(run(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
        assert_eq!(
            run(&["set-alias", "r", "a", "x", "./y"]).unwrap(),
            Parsed::Run(Command::SetAlias {
                repo: "r".into(),
                alias: "a".into(),
                blobs: vec!["x".into(), "./y".into()],
                oci: false,
                artifact_type: None,
                annotations: vec![],
            })
        );
    }

    #[test]
    fn jobs_number_is_optional() {
        let jobs = |args: &[&str]| match run(args) {
            Ok(Parsed::Run(Command::PushBlob { jobs, repo, .. })) => (jobs, repo),
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(
            jobs(&["push-blob", "--jobs", "r", "f", "g"]),
            (Some(Jobs::FromEnv), "r".into())
        );
        assert_eq!(
            jobs(&["push-blob", "r", "f", "g", "--jobs"]),
            (Some(Jobs::FromEnv), "r".into())
        );
        assert_eq!(
            jobs(&["push-blob", "--jobs", "--single-pass", "r", "f"]),
            (Some(Jobs::FromEnv), "r".into())
        );
        assert_eq!(
            jobs(&["push-blob", "--jobs=", "r", "f"]),
            (Some(Jobs::FromEnv), "r".into())
        );
        assert_eq!(
            jobs(&["push-blob", "--jobs", "8", "r", "f"]),
            (Some(Jobs::N(8)), "r".into())
        );
        assert_eq!(
            jobs(&["push-blob", "--jobs=2", "r", "f"]),
            (Some(Jobs::N(2)), "r".into())
        );
        for bad in [
            &["push-blob", "--jobs", "0", "r", "f"][..],
            &["push-blob", "--jobs", "65", "r", "f"],
            &["push-blob", "--jobs=x", "r", "f"],
        ] {
            let m = usage(bad);
            assert!(!m.contains('\n'), "{m}");
        }
        // After `--`, and for other commands, `--jobs` is left alone.
        assert_eq!(
            bare_jobs_flags(
                ["dxf", "push-blob", "--", "r", "--jobs"]
                    .map(OsString::from)
                    .to_vec()
            ),
            ["dxf", "push-blob", "--", "r", "--jobs"].map(OsString::from)
        );
        assert!(usage(&["pull-blob", "--jobs", "r"]).contains("\"--jobs\""));
    }

    #[test]
    fn resumable_push() {
        match run(&["push-blob", "--resumable", "r", "f", "@a"]).unwrap() {
            Parsed::Run(Command::PushBlob {
                resumable, alias, ..
            }) => {
                assert!(resumable);
                assert_eq!(alias.as_deref(), Some("@a"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run(&["push-blob", "--resumable", "--jobs", "r", "f", "g"]),
            Ok(Parsed::Run(Command::PushBlob {
                resumable: true,
                jobs: Some(Jobs::FromEnv),
                ..
            }))
        ));
        let m = usage(&["push-blob", "--resumable", "--single-pass", "r", "f"]);
        assert!(m.contains("--single-pass"), "{m}");
        assert!(!m.contains('\n'), "{m}");
        for bad in [
            &["push-blob", "--resumable", "r", "-"][..],
            &["push-blob", "--resumable", "r", "-", "@a"],
            &["push-blob", "--resumable", "--jobs", "r", "-"],
            &["push-blob", "--resumable", "--jobs", "r", "f", "-"],
        ] {
            let m = usage(bad);
            assert!(m.contains("cannot be resumed"), "{bad:?}: {m}");
        }
        assert!(matches!(
            run(&["push-blob", "--resumable", "r", "./-"]),
            Ok(Parsed::Run(_))
        ));
    }

    #[test]
    fn stdin_push() {
        match run(&["push-blob", "r", "-", "@a"]).unwrap() {
            Parsed::Run(Command::PushBlob { file, alias, .. }) => {
                assert!(is_stdin(&file));
                assert_eq!(alias.as_deref(), Some("@a"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!is_stdin(std::path::Path::new("./-")));
        assert!(!is_stdin(std::path::Path::new("--")));
        let m = usage(&["push-blob", "--jobs", "2", "r", "f", "-"]);
        assert!(m.contains("standard input"), "{m}");
        let m = usage(&["push-blob", "--jobs", "r", "-", "-", "@a"]);
        assert!(m.contains("standard input"), "{m}");
        assert!(matches!(
            run(&["push-blob", "--jobs", "r", "-", "@a"]),
            Ok(Parsed::Run(_))
        ));
        // python-dxf's check still comes first without --jobs.
        assert!(usage(&["push-blob", "r", "-", "x"]).contains("invalid alias"));
    }

    #[test]
    fn pull_blob_options() {
        assert_eq!(
            run(&["pull-blob", "r", "-o", "out", "sha256:x", "@a"]).unwrap(),
            Parsed::Run(Command::PullBlob {
                repo: "r".into(),
                names: vec!["sha256:x".into(), "@a".into()],
                output: Some(PathBuf::from("out")),
                verify_first: false,
            })
        );
        assert_eq!(
            run(&["pull-blob", "--verify-first", "r", "--output=d/"]).unwrap(),
            Parsed::Run(Command::PullBlob {
                repo: "r".into(),
                names: vec![],
                output: Some(PathBuf::from("d/")),
                verify_first: true,
            })
        );
        assert!(usage(&["pull-blob", "r", "-o"]).contains("PATH"));
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
            Parsed::Print(s) => assert!(s.starts_with("dxf "), "{s}"),
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

    #[test]
    fn alias_arguments() {
        assert_eq!(alias_of("@x"), Some("x"));
        assert_eq!(alias_of("@"), Some(""));
        assert_eq!(alias_of("sha256:x"), None);
    }

    #[test]
    fn oci_options_and_new_commands() {
        match run(&[
            "set-alias",
            "--oci",
            "r",
            "a",
            "sha256:x",
            "--annotation",
            "k=v=w",
            "--annotation=e=",
            "--artifact-type",
            "application/x",
        ])
        .unwrap()
        {
            Parsed::Run(Command::SetAlias {
                oci,
                artifact_type,
                annotations,
                ..
            }) => {
                assert!(oci);
                assert_eq!(artifact_type.as_deref(), Some("application/x"));
                assert_eq!(
                    annotations,
                    vec![("k".into(), "v=w".into()), ("e".into(), String::new())]
                );
            }
            other => panic!("{other:?}"),
        }
        for bad in ["novalue", "=v", ""] {
            let m = usage(&["set-alias", "--annotation", bad, "r", "a", "sha256:x"]);
            assert!(m.contains("is not KEY=VALUE"), "{bad:?}: {m}");
            assert!(!m.contains('\n'), "{m}");
            let m = usage(&["attach", "--annotation", bad, "r", "a", "./f"]);
            assert!(m.contains("is not KEY=VALUE"), "{bad:?}: {m}");
        }
        let m = usage(&[
            "attach",
            "r",
            "a",
            "f",
            "--annotation",
            "k=1",
            "--annotation",
            "k=2",
        ]);
        assert!(m.contains("--annotation \"k\" given twice"), "{m}");
        assert!(m.contains("usage: dxf attach"), "{m}");
        assert!(usage(&["attach", "r", "a"]).contains("too few arguments"));
        assert_eq!(
            run(&["referrers", "--json", "r", "a", "--artifact-type", "t"]).unwrap(),
            Parsed::Run(Command::Referrers {
                repo: "r".into(),
                alias: "a".into(),
                artifact_type: Some("t".into()),
                json: true,
            })
        );
        assert!(usage(&["referrers", "r"]).contains("too few arguments"));
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
            Parsed::Run(Command::ListRepos { json: true })
        );
    }
}
