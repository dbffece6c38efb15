//! `dxf`: a drop-in replacement for python-dxf 12.1.1's command-line tool, storing and
//! fetching blobs in a Docker (OCI distribution) registry, built on `dxf-ureq`.
//!
//! `main` parses the command line, runs the one command, prints one line `dxf: <message>`
//! on stderr when it fails, and exits with the code [`exit::code`] gives.
//!
//! Commands, arguments, environment variables, stdout bytes and exit codes are python-dxf's.
//! Where python-dxf crashes or misbehaves, `dxf` does this instead:
//! - errors are one line, never a traceback; usage errors name the command's usage;
//! - a missing `DXF_HOST` is a clear error (exit 1) rather than a `KeyError`;
//! - `DXF_CHUNK_SIZE` works (a positive integer; anything else is refused, exit 1);
//! - invalid digests, tags and repository names are refused before sending (exit 2, the
//!   code python-dxf gets from the registry's 404);
//! - `del-blob @alias` of a multi-arch alias deletes each distinct blob and manifest once
//!   (python-dxf aborts on a layer shared by two platforms); `del-blob` of an index on stdin
//!   deletes every platform's blobs (python-dxf raises a `TypeError`);
//! - `pull-blob` of an index on stdin honours `DXF_PLATFORM`;
//! - `auth` against a Basic registry checks the credentials (python-dxf prints nothing and
//!   exits 0 even when they are wrong; `dxf` exits 13);
//! - a closed stdout pipe ends the command without a message (exit 1);
//! - `--version` and per-command `--help`.
//!
//! And adds, without changing any python-dxf invocation's behaviour:
//! - `push-blob REPO - [@ALIAS]`: standard input streamed in one pass (a file named `-`
//!   is `./-`); `push-blob --jobs [N]` for several files (`DXF_CONCURRENCY`),
//!   `--single-pass`, and `--resumable` / `DXF_RESUMABLE=1` (a chunked upload whose
//!   checkpoints are kept on disk, [`checkpoints`], so that the same command run again
//!   after a failure continues it);
//! - `pull-blob --output PATH` (a file that appears only complete and verified; a
//!   directory gets one file per blob, `DXF_CONCURRENCY` at a time) and `--verify-first`
//!   / `DXF_VERIFY_FIRST=1` (nothing of a bad blob reaches stdout).
//! - `del-alias --only`: deletes just the aliases named, keeping the manifest and its other
//!   aliases (a registry that refuses to delete a tag gets it moved onto a unique throw-away
//!   manifest, which is deleted instead);
//! - `copy SRC_REPO:ALIAS DST_REPO[:ALIAS] [--to HOST] [--jobs N]`: an alias with its
//!   manifests (byte for byte; every platform of a multi-arch alias) and blobs, mounted
//!   within a registry, streamed to another (`DXF_TO_*` settings for the destination);
//! - credentials like docker: without `DXF_USERNAME`/`DXF_PASSWORD`/`DXF_AUTHORIZATION`/
//!   `DXF_TOKEN`, those of `$DOCKER_CONFIG/config.json` (`auths`, `credsStore`,
//!   `credHelpers`; an `identitytoken` is an OAuth2 refresh token), and `login` / `logout`
//!   to store and remove them as docker does ([`commands`]).

#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod archive;
mod cache;
mod checkpoints;
mod cli;
mod commands;
mod debug;
mod env;
mod error;
mod exit;
mod files;
mod layout;
mod output;
mod progress;
mod signals;
mod stdout;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use crate::cli::Parsed;
use crate::env::Env;
use crate::error::CliError;

/// Bytes of stdout buffered between writes (flushed at exit, also on failure).
const STDOUT_BUFFER: usize = 64 * 1024;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(io::stderr(), "dxf: {}", internal_error(info));
        std::process::exit(i32::from(exit::FAILURE));
    }));
    let args: Vec<_> = std::env::args_os().collect();
    let debug = cli::debug_flag(&args);
    let code = match cli::parse(args) {
        Ok(Parsed::Print(text)) => {
            // Help or version; a closed stdout is not worth a complaint.
            let _ = io::stdout().write_all(text.as_bytes());
            exit::OK
        }
        Ok(Parsed::Run(command)) => match Env::from_process().and_then(|mut env| {
            env.debug |= debug;
            let command = command.args();
            if command.transfers_blobs() {
                signals::watch();
            }
            if command.uses_blob_cache() {
                cache::open();
            }
            let stdout = stdout::Stdout::open(command.transfers_blobs());
            let mut out = BufWriter::with_capacity(STDOUT_BUFFER, stdout);
            let result = command.run(&env, &mut out, &mut io::stdin().lock());
            // What was learned is kept, also when the command failed.
            cache::save(env.debug);
            // What was written before a failure still goes out, as with python-dxf.
            let flushed = out.flush().map_err(CliError::Output);
            result.and(flushed)
        }) {
            Ok(()) => exit::OK,
            Err(e) => fail(&e),
        },
        Err(e) => fail(&e),
    };
    ExitCode::from(code)
}

/// A panic (a bug in dxf, never the input's fault) as one line, without a backtrace.
fn internal_error(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let place = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let message = message.replace(['\n', '\r'], " ");
    format!("internal error{place}: {message} (a bug in dxf; please report it)")
}

/// Prints `dxf: <message>` on one line (nothing for a closed stdout pipe) and returns the
/// exit code.
fn fail(error: &CliError) -> u8 {
    if let Some((signal, code)) = signals::received() {
        let note = error.resumable_note().map(|n| format!("; {n}"));
        let note = note.unwrap_or_default();
        signals::report(&format!("dxf: interrupted by {signal}{note}"));
        return code;
    }
    if !error.is_broken_pipe() {
        let message = error.to_string().replace(['\n', '\r'], " ");
        let _ = writeln!(io::stderr(), "dxf: {message}");
    }
    exit::code(error)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_panic_is_one_line_naming_the_bug() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            record.lock().unwrap().push(super::internal_error(info));
        }));
        let _ = std::panic::catch_unwind(|| panic!("worker {}\nbroke", 3));
        std::panic::set_hook(previous);
        let seen = seen.lock().unwrap();
        let line = seen.iter().find(|l| l.contains("worker 3")).unwrap();
        assert!(line.starts_with("internal error at "), "{line}");
        assert!(
            line.ends_with("worker 3 broke (a bug in dxf; please report it)"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
