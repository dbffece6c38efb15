//! `push-blob REPO FILE [@ALIAS]`: uploads a file (python-dxf's), standard input
//! (`FILE` `-`), or with `--jobs` several files at a time; `--single-pass` and
//! `--resumable` (checkpoints on disk, [`crate::checkpoints`]) choose how.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use dxf_ureq::dxf_proto::{Digest, UploadCheckpoint};
use dxf_ureq::{hash_reader, PushOptions, Repository, UploadMode};

use super::{about, alias_of, check_alias, connect, parse_jobs, Jobs, Run};
use crate::checkpoints::{Entry, State, Store, MAX_FAILED_RESUMES};
use crate::cli::usage_error;
use crate::env::Env;
use crate::error::CliError;
use crate::output;
use crate::progress::{Bar, Bars, Progress};
use crate::signals::Interruptible;
use dxf_ureq::parallel;

/// Upload a file (unless the registry has it) and print its digest
#[derive(Debug, PartialEq, Eq, clap::Args)]
#[command(override_usage = USAGE, after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// File to upload; - reads standard input (a file named - is ./-)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Also point this alias at the blob
    #[arg(value_name = "@ALIAS")]
    pub alias: Option<String>,
    /// With --jobs: more files to upload (then a last @ALIAS names them all)
    #[arg(value_name = "FILE", hide = true)]
    pub more: Vec<String>,
    /// Hash while sending (chunked upload, digest at the final PUT) instead of hashing
    /// the file first; always uploads (there is no digest to check for beforehand)
    #[arg(long)]
    pub single_pass: bool,
    /// Chunked upload that keeps checkpoints on disk (DXF_STATE_DIR): if it dies,
    /// running the same command again continues it (also DXF_RESUMABLE=1)
    #[arg(long, conflicts_with = "single_pass")]
    pub resumable: bool,
    /// Upload several files, N at a time (N omitted: DXF_CONCURRENCY, default 4);
    /// prints one digest per file, in order
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<Jobs>,
}

/// `push-blob`'s usage: python-dxf's form first (the one error messages quote).
const USAGE: &str = "dxf push-blob <REPO> <FILE> [@ALIAS]
       dxf push-blob <REPO> - [@ALIAS]
       dxf push-blob [--single-pass | --resumable] <REPO> <FILE> [@ALIAS]
       dxf push-blob [--single-pass | --resumable] --jobs [<N>] <REPO> <FILE>... [@ALIAS]";

/// `push-blob --help`'s notes.
const AFTER_HELP: &str = "\
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

impl Run for Args {
    /// python-dxf's rules without `--jobs` (`REPO FILE [@ALIAS]`, `invalid alias`), and
    /// standard input neither resumable nor pushed with other files.
    fn validate(&self) -> Result<(), CliError> {
        let (files, _) = push_targets(self.file.clone(), self.alias.clone(), self.more.clone());
        let stdin_among = files.iter().any(|f| is_stdin(f));
        if self.resumable && (is_stdin(&self.file) || (self.jobs.is_some() && stdin_among)) {
            return Err(usage_error(
                "push-blob",
                "--resumable needs files: - (standard input) cannot be resumed",
            ));
        }
        match (self.jobs, self.more.first()) {
            // python-dxf's rules without --jobs: REPO FILE [@ALIAS].
            (None, Some(extra)) => Err(usage_error(
                "push-blob",
                &format!("too many arguments: unexpected {extra:?}"),
            )),
            (None, None) => check_alias("push-blob", self.alias.as_ref()),
            (Some(_), _) if files.len() > 1 && stdin_among => Err(usage_error(
                "push-blob",
                "- (standard input) cannot be pushed together with other files",
            )),
            (Some(_), _) => Ok(()),
        }
    }

    fn transfers_blobs(&self) -> bool {
        true
    }

    /// `push-blob REPO FILE [@ALIAS]`: hashes the file, uploads it unless a HEAD finds it,
    /// sets the alias if asked, prints the digest. With `--jobs`, several files (up to that
    /// many at a time, sharing one connection pool); the alias then names all of them, and the
    /// digests are printed in argument order once every upload succeeded.
    ///
    /// `push-blob REPO - [@ALIAS]` streams `input` (standard input) in one pass instead: a
    /// chunked upload hashed while sending (memory bounded by the chunk size), always sent
    /// (there is no digest to look for beforehand), the digest printed at the end.
    ///
    /// With `--resumable`, files are uploaded chunked and their checkpoints kept in the
    /// state directory (which must be usable: checked before anything is sent); standard
    /// input is then pushed as always (it cannot be resumed).
    fn run(&self, env: &Env, out: &mut dyn Write, input: &mut dyn Read) -> Result<(), CliError> {
        let (files, alias) = push_targets(self.file.clone(), self.alias.clone(), self.more.clone());
        let jobs = match self.jobs {
            None => 1,
            Some(Jobs::N(n)) => usize::from(n),
            Some(Jobs::FromEnv) => env.concurrency()?,
        };
        // The flag, or DXF_RESUMABLE=1 where it applies (not with --single-pass).
        let how = PushHow {
            single_pass: self.single_pass,
            jobs,
            resumable: self.resumable || (env.resumable && !self.single_pass),
        };
        push(env, out, input, &self.repo, &files, alias.as_deref(), how)
    }
}

/// `push-blob`'s files and alias: `FILE [@ALIAS]`, or with `--jobs` `FILE...` where a last
/// argument starting with `@` is the alias.
fn push_targets(
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

/// Whether a `push-blob` FILE argument means standard input (exactly `-`).
fn is_stdin(file: &Path) -> bool {
    file.as_os_str() == "-"
}

/// `push-blob`'s `--jobs` takes an optional number, the way `make -j` does: a bare
/// `--jobs` not followed by a number becomes `--jobs=` (clap would take the next argument,
/// the repository, as its value). `args` starts with the program name; the command comes
/// next (dxf has no global options but `--help` and `--version`).
pub(crate) fn bare_jobs_flags(args: Vec<OsString>) -> Vec<OsString> {
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

/// `push-blob`'s own choices (none of them: python-dxf's way).
#[derive(Clone, Copy, Debug)]
struct PushHow {
    /// Hash while sending (a stream upload) instead of hashing the file first.
    single_pass: bool,
    /// Files uploaded at a time.
    jobs: usize,
    /// Files: chunked, with checkpoints kept on disk and continued from
    /// ([`crate::checkpoints`]).
    resumable: bool,
}

/// What a push from standard input is called in messages and on its progress bar.
const STDIN: &str = "standard input";

/// Pushes `files` (see [`Args::run`]).
fn push(
    env: &Env,
    out: &mut dyn Write,
    input: &mut dyn Read,
    repo: &str,
    files: &[PathBuf],
    alias: Option<&str>,
    how: PushHow,
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let store = match files {
        [file] if is_stdin(file) => None,
        _ if how.resumable => Some(open_store(env)?),
        _ => None,
    };
    let store = store.as_ref();
    // A bar for a single upload; several at a time: a bar each above a total (as before,
    // none for several one at a time). A single-pass upload has none.
    let progress = match how.single_pass {
        false => Progress::new(env.progress),
        true => Progress::Off,
    };
    let digests = match files {
        [file] if is_stdin(file) => vec![push_stdin(&repo, input, Progress::new(env.progress))?],
        [file] => vec![push_one(&repo, file, how, store, Bars::One(progress))?],
        _ if how.jobs <= 1 => files
            .iter()
            .map(|f| push_one(&repo, f, how, store, Bars::One(Progress::Off)))
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            let group = progress.group();
            let bars = group.as_ref().map_or(Bars::One(Progress::Off), Bars::In);
            push_parallel(&repo, files, how, store, bars)?
        }
    };
    if let Some(alias) = alias.and_then(alias_of) {
        repo.set_alias(alias, &digests)
            .map_err(about(&format!("@{alias}")))?;
    }
    for d in &digests {
        output::line(out, d.as_str())?;
    }
    Ok(())
}

/// Uploads `files` on `how.jobs` threads ([`parallel::bounded`]), drawing `bars`. A
/// failure stops further uploads from starting and interrupts those in flight
/// ([`dxf_ureq::Interrupt::stop`]: they cancel their sessions, or with `--resumable` stop
/// at their next checkpoint); the first failure in argument order that is not such an
/// interruption is the error.
fn push_parallel(
    repo: &Repository,
    files: &[PathBuf],
    how: PushHow,
    store: Option<&Store>,
    bars: Bars<'_>,
) -> Result<Vec<Digest>, CliError> {
    let done = parallel::bounded(files, how.jobs, |file| {
        let r = push_one(repo, file, how, store, bars);
        if r.is_err() {
            repo.registry().interrupt().stop();
        }
        r
    });
    let mut digests = Vec::with_capacity(done.len());
    let mut interrupted = None;
    for r in done {
        match r {
            Ok(d) => digests.push(d),
            Err(e) if e.is_interruption() => {
                interrupted.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match interrupted {
        Some(e) => Err(e),
        None => Ok(digests),
    }
}

/// Uploads everything `input` yields (a stream: chunked, hashed while sending) and returns
/// its digest. The progress bar (labelled `standard input`, no total) appears with the
/// first chunk sent.
fn push_stdin(
    repo: &Repository,
    input: &mut dyn Read,
    progress: Progress,
) -> Result<Digest, CliError> {
    let mut bar: Option<Bar> = None;
    let pushed = {
        let mut report = |_: Option<&Digest>, done: u64, _: Option<u64>| {
            if bar.is_none() {
                bar = progress.labelled(STDIN, None);
            }
            if let Some(b) = &bar {
                b.set(done);
            }
        };
        let mut options = PushOptions::new();
        if progress != Progress::Off {
            options.progress = Some(&mut report);
        }
        repo.push_blob_reader(input, options)
            .map_err(about(STDIN))?
    };
    drop(bar);
    Ok(pushed.digest)
}

/// The `--resumable` state directory, created if needed and found writable; a clear error
/// otherwise (the user asked for checkpoints: pushing without them would not be what
/// they asked for).
fn open_store(env: &Env) -> Result<Store, CliError> {
    use crate::env::{DXF_STATE_DIR, HOME, XDG_STATE_HOME};
    let dir = env.state_dir.as_deref().ok_or_else(|| {
        CliError::Env(format!(
            "push-blob --resumable needs a directory for its upload state: \
             set {DXF_STATE_DIR}, {XDG_STATE_HOME} or {HOME}"
        ))
    })?;
    // `connect` succeeded: the host is set.
    let host = env.host.as_deref().unwrap_or_default();
    Store::open(dir, host).map_err(|e| {
        CliError::file(
            format!("--resumable: upload state directory {}", dir.display()),
            e,
        )
    })
}

/// What became of a `--resumable` push's checkpoints.
#[derive(Debug, Default)]
struct Saved {
    /// The offset of the checkpoint on disk (loaded, or the last one written).
    offset: Option<u64>,
    /// The first failure to write one.
    error: Option<io::Error>,
    /// Whether this run wrote a checkpoint of its own.
    wrote: bool,
}

/// `error` of a `--resumable` push, with what running it again does. A run that started
/// from a checkpoint and wrote none (and was not interrupted) counts as a failed resume;
/// the checkpoint is dropped after [`MAX_FAILED_RESUMES`] of them in a row.
fn resumable_failure(
    error: CliError,
    entry: &Entry<'_>,
    resumed: Option<State>,
    saved: Saved,
    size: u64,
) -> CliError {
    // An interrupted run is not a failed resume: the user stopped it.
    let failed_resume = !saved.wrote && !error.is_interruption();
    if let Some(mut state) = resumed.filter(|_| failed_resume) {
        state.failed_resumes += 1;
        let note = if state.failed_resumes >= MAX_FAILED_RESUMES {
            entry.remove();
            format!(
                "its checkpoint could not be resumed in {MAX_FAILED_RESUMES} runs and is \
                 dropped; the next run starts afresh"
            )
        } else {
            match entry.save(&state) {
                Ok(()) => format!(
                    "{} of {size} bytes acknowledged; run the same command again to continue",
                    state.checkpoint.offset
                ),
                Err(e) => format!(
                    "its checkpoint could not be saved in {}: {e}",
                    entry.path().display()
                ),
            }
        };
        return CliError::Resumable {
            error: Box::new(error),
            note,
        };
    }
    let note = match (saved.offset, saved.error) {
        (Some(offset), _) => {
            format!("{offset} of {size} bytes acknowledged; run the same command again to continue")
        }
        (None, Some(e)) => format!(
            "its checkpoint could not be saved in {}: {e}",
            entry.path().display()
        ),
        // No session was opened: nothing to continue.
        (None, None) => return error,
    };
    CliError::Resumable {
        error: Box::new(error),
        note,
    }
}

/// Uploads one file and returns its digest. With `how.resumable` (and a `store`), chunked:
/// from the checkpoint an earlier run left, if any, saving each new one, removing it once
/// done.
fn push_one(
    repo: &Repository,
    file: &Path,
    how: PushHow,
    store: Option<&Store>,
    bars: Bars<'_>,
) -> Result<Digest, CliError> {
    let what = file.display().to_string();
    if how.single_pass {
        let mut options = PushOptions::new();
        options.single_pass = true;
        let pushed = repo.push_blob_path(file, options).map_err(about(&what))?;
        return Ok(pushed.digest);
    }
    let (digest, size) = {
        let mut f = File::open(file).map_err(|e| CliError::input(&what, e))?;
        hash_reader(&mut Interruptible(&mut f)).map_err(|e| CliError::input(&what, e))?
    };
    let entry = store.map(|s| s.entry(repo.name().as_str(), &digest, size));
    let resume_from = entry.as_ref().and_then(Entry::load);
    if let Some(state) = &resume_from {
        // What an earlier run learned (a smaller chunk the registry takes) applies at once.
        repo.registry().learn_upload_hints(state.hints());
    }
    let mut saved = Saved {
        offset: resume_from.as_ref().map(|s| s.checkpoint.offset),
        error: None,
        wrote: false,
    };
    let mut bar: Option<Bar> = None;
    let pushed = {
        // The bar appears with the first byte sent: none when the upload is skipped.
        let mut report = |_: Option<&Digest>, done: u64, total: Option<u64>| {
            if bar.is_none() {
                bar = bars.bar(&digest, total);
            }
            if let Some(b) = &bar {
                b.set(done);
            }
        };
        let mut save = |cp: &UploadCheckpoint| {
            let Some(entry) = &entry else { return };
            let state = State::new(cp.clone(), repo.registry().upload_hints());
            match entry.save(&state) {
                Ok(()) => {
                    saved.offset = Some(cp.offset);
                    saved.wrote = true;
                }
                Err(e) => {
                    saved.error.get_or_insert(e);
                }
            }
        };
        let mut options = PushOptions::new();
        options.digest = Some(digest.clone());
        if bars.on() {
            options.progress = Some(&mut report);
        }
        if entry.is_some() {
            options.mode = UploadMode::Chunked;
            options.resume_from = resume_from.as_ref().map(|s| s.checkpoint.clone());
            options.on_checkpoint = Some(&mut save);
        }
        repo.push_blob_path(file, options)
    };
    drop(bar);
    match (pushed, &entry) {
        (Ok(_), entry) => {
            if let Some(entry) = entry {
                entry.remove();
            }
            Ok(digest)
        }
        (Err(e), None) => Err(CliError::dxf(&what, e)),
        // Kept whatever went wrong: the next run asks the registry what it still holds.
        (Err(e), Some(entry)) => Err(resumable_failure(
            CliError::dxf(&what, e),
            entry,
            resume_from,
            saved,
            size,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Parsed};
    use crate::commands::Command;

    fn run(args: &[&str]) -> Result<Args, CliError> {
        match parse(["dxf", "push-blob"].iter().chain(args).copied())? {
            Parsed::Run(Command::PushBlob(a)) => Ok(a),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn usage(args: &[&str]) -> String {
        match run(args) {
            Err(CliError::Usage(m)) => m,
            other => panic!("{args:?}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn parsed_values() {
        assert_eq!(
            run(&["r", "dir/f", "@a"]).unwrap(),
            Args {
                repo: "r".into(),
                file: PathBuf::from("dir/f"),
                alias: Some("@a".into()),
                more: vec![],
                single_pass: false,
                resumable: false,
                jobs: None,
            }
        );
        assert_eq!(
            run(&["--single-pass", "--jobs", "4", "r", "f", "g", "h", "@a"]).unwrap(),
            Args {
                repo: "r".into(),
                file: PathBuf::from("f"),
                alias: Some("g".into()),
                more: vec!["h".into(), "@a".into()],
                single_pass: true,
                resumable: false,
                jobs: Some(Jobs::N(4)),
            }
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
    }

    #[test]
    fn jobs_number_is_optional() {
        let jobs = |args: &[&str]| {
            let a = run(args).unwrap();
            (a.jobs, a.repo)
        };
        assert_eq!(
            jobs(&["--jobs", "r", "f", "g"]),
            (Some(Jobs::FromEnv), "r".into())
        );
        assert_eq!(
            jobs(&["r", "f", "g", "--jobs"]),
            (Some(Jobs::FromEnv), "r".into())
        );
        assert_eq!(
            jobs(&["--jobs", "--single-pass", "r", "f"]),
            (Some(Jobs::FromEnv), "r".into())
        );
        assert_eq!(
            jobs(&["--jobs=", "r", "f"]),
            (Some(Jobs::FromEnv), "r".into())
        );
        assert_eq!(
            jobs(&["--jobs", "8", "r", "f"]),
            (Some(Jobs::N(8)), "r".into())
        );
        assert_eq!(
            jobs(&["--jobs=2", "r", "f"]),
            (Some(Jobs::N(2)), "r".into())
        );
        for bad in [
            &["--jobs", "0", "r", "f"][..],
            &["--jobs", "65", "r", "f"],
            &["--jobs=x", "r", "f"],
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
        match parse(["dxf", "pull-blob", "--jobs", "r"]) {
            Err(CliError::Usage(m)) => assert!(m.contains("\"--jobs\""), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn resumable_push() {
        let a = run(&["--resumable", "r", "f", "@a"]).unwrap();
        assert!(a.resumable);
        assert_eq!(a.alias.as_deref(), Some("@a"));
        let a = run(&["--resumable", "--jobs", "r", "f", "g"]).unwrap();
        assert!(a.resumable);
        assert_eq!(a.jobs, Some(Jobs::FromEnv));
        let m = usage(&["--resumable", "--single-pass", "r", "f"]);
        assert!(m.contains("--single-pass"), "{m}");
        assert!(!m.contains('\n'), "{m}");
        for bad in [
            &["--resumable", "r", "-"][..],
            &["--resumable", "r", "-", "@a"],
            &["--resumable", "--jobs", "r", "-"],
            &["--resumable", "--jobs", "r", "f", "-"],
        ] {
            let m = usage(bad);
            assert!(m.contains("cannot be resumed"), "{bad:?}: {m}");
        }
        assert!(run(&["--resumable", "r", "./-"]).is_ok());
    }

    #[test]
    fn stdin_push() {
        let a = run(&["r", "-", "@a"]).unwrap();
        assert!(is_stdin(&a.file));
        assert_eq!(a.alias.as_deref(), Some("@a"));
        assert!(!is_stdin(Path::new("./-")));
        assert!(!is_stdin(Path::new("--")));
        let m = usage(&["--jobs", "2", "r", "f", "-"]);
        assert!(m.contains("standard input"), "{m}");
        let m = usage(&["--jobs", "r", "-", "-", "@a"]);
        assert!(m.contains("standard input"), "{m}");
        assert!(run(&["--jobs", "r", "-", "@a"]).is_ok());
        // python-dxf's check still comes first without --jobs.
        assert!(usage(&["r", "-", "x"]).contains("invalid alias"));
        assert!(usage(&["r", "f", "@a", "x"]).contains("too many arguments"));
    }
}
