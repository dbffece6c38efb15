//! `pull-blob REPO [HASH|@ALIAS...]`: blobs to stdout — streamed as they arrive
//! (python-dxf's way) or, with `--verify-first`, each held back in a spool file until
//! verified — or to files with `--output` (a temporary name renamed into place once
//! verified; for a directory, one file per blob, several at a time).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use dxf_ureq::dxf_proto::Digest;
use dxf_ureq::{BlobReader, Repository};

use super::{about, alias_of, blobs_of, connect, layer_items, parse_digest, stdin, Item, Run};
use crate::env::Env;
use crate::error::CliError;
use crate::files::{spool_error, Partial, Spool};
use crate::output;
use crate::progress::{Bar, Bars, Progress};
use dxf_ureq::parallel;

/// Write blobs to stdout (with no names: those of a manifest read from stdin)
#[derive(Debug, PartialEq, Eq, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Blob digests, or @alias for an alias's blobs
    #[arg(value_name = "HASH|@ALIAS")]
    pub names: Vec<String>,
    /// Write the blobs to PATH instead of stdout (complete and verified, or not at
    /// all); an existing directory gets one file per blob, named by its hex digest
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// To stdout: hold each blob back (in a temporary file) until its digest is
    /// verified, so that nothing of a bad blob is written (also DXF_VERIFY_FIRST=1)
    #[arg(long)]
    pub verify_first: bool,
}

/// `pull-blob --help`'s notes.
const AFTER_HELP: &str = "\
--output PATH: the blobs (concatenated, in order) go to a temporary file beside PATH,
which is renamed over PATH only once every digest was verified; on any failure it is
removed and PATH is left as it was. If PATH is an existing directory, each blob goes to
PATH/<hex digest> the same way, DXF_CONCURRENCY (default 4) at a time. DXF_BLOB_INFO lines
(and a multi-arch alias's per-platform JSON) then go to stdout once the files are in place.

Without --output, each blob is streamed to stdout as it arrives and a wrong digest is an
error at its end (python-dxf's behaviour); --verify-first (or DXF_VERIFY_FIRST=1) spools
each blob to $TMPDIR first and writes it only once verified.";

impl Run for Args {
    fn transfers_blobs(&self) -> bool {
        true
    }

    /// `pull-blob REPO [HASH|@ALIAS...]`: writes each blob to stdout, verified while
    /// streaming (hashed on a second thread), in writes of at most `DXF_CHUNK_SIZE` bytes when
    /// it is set, else of whatever the verified reader holds (up to 128 KiB). A blob that
    /// fails verification has already been written when the failure is known (at its end):
    /// the command then stops with an error, as python-dxf does — unless `--verify-first` /
    /// `DXF_VERIFY_FIRST=1`, where each blob is spooled to `$TMPDIR` and written only once
    /// verified. With no names, pulls the blobs of the manifest on stdin; unlike python-dxf
    /// (which passes no platform there, an oversight: `blob-size`, `get-alias` and
    /// `get-digest` do), `DXF_PLATFORM` picks the platform of an index.
    ///
    /// With `--output PATH`, stdout gets no blob bytes: the blobs go to PATH (see
    /// [`to_file`], [`to_dir`]) and stdout gets the `DXF_BLOB_INFO` lines and per-platform
    /// JSON once the files are in place.
    fn run(&self, env: &Env, out: &mut dyn Write, input: &mut dyn Read) -> Result<(), CliError> {
        let output = self.output.as_deref();
        pull(
            env,
            out,
            input,
            &self.repo,
            &self.names,
            output,
            self.verify_first,
        )
    }
}

/// What every blob of one `pull-blob` shares.
struct Pulling<'a> {
    repo: &'a Repository,
    progress: Progress,
    /// The largest write to stdout (`DXF_CHUNK_SIZE`, else unlimited).
    max_write: usize,
    /// `DXF_BLOB_INFO=1`.
    blob_info: bool,
}

/// The items `names` stand for (all resolved before anything is printed), or those of
/// the manifest on stdin when there are no names.
fn resolve(
    env: &Env,
    repo: &Repository,
    input: &mut dyn Read,
    names: &[String],
) -> Result<Vec<Item>, CliError> {
    let platform = env.platform.as_deref();
    if names.is_empty() {
        let m = stdin::read_manifest(repo, input, platform)?;
        return Ok(layer_items(blobs_of(&m, stdin::STDIN)?));
    }
    let mut items = Vec::new();
    for name in names {
        match alias_of(name) {
            Some(alias) => items.extend(layer_items(
                repo.get_alias(alias, platform).map_err(about(name))?,
            )),
            None => items.push(Item::Blob(parse_digest(name)?)),
        }
    }
    Ok(items)
}

/// Pulls `names` (see [`Args::run`]).
fn pull(
    env: &Env,
    out: &mut dyn Write,
    input: &mut dyn Read,
    repo: &str,
    names: &[String],
    output: Option<&Path>,
    verify_first: bool,
) -> Result<(), CliError> {
    let chunk_size = env
        .chunk_size
        .is_some()
        .then(|| env.chunk_size())
        .transpose()?;
    let repo = connect(env, repo)?;
    let ctx = Pulling {
        repo: &repo,
        progress: Progress::new(env.progress),
        max_write: chunk_size.unwrap_or(usize::MAX),
        blob_info: env.blob_info,
    };
    match output {
        None => {
            let items = resolve(env, &repo, input, names)?;
            to_stdout(&ctx, out, &items, verify_first || env.verify_first)
        }
        Some(dir) if dir.is_dir() => {
            let jobs = env.concurrency()?;
            let items = resolve(env, &repo, input, names)?;
            to_dir(&ctx, out, &items, dir, jobs)
        }
        Some(path) => {
            // Started first: a path that cannot be written fails before any transfer.
            let partial = Partial::create(path).map_err(file_error(path))?;
            let items = resolve(env, &repo, input, names)?;
            to_file(&ctx, out, &items, partial, path)
        }
    }
}

/// Turns a failure about local file `path` into a [`CliError::File`] naming it.
fn file_error(path: &Path) -> impl Fn(io::Error) -> CliError + '_ {
    move |e| CliError::file(path.display().to_string(), e)
}

/// Why a copy ended early.
#[derive(Debug)]
enum Halt {
    /// Reading the blob failed: transport, or a wrong digest or length at its end.
    Blob(io::Error),
    /// Writing failed.
    Sink(io::Error),
    /// Another transfer failed, and this one was stopped.
    Stopped,
}

impl Halt {
    /// The error for blob `what`, with `sink` making the error for a failed write.
    fn error(self, what: &str, sink: impl FnOnce(io::Error) -> CliError) -> CliError {
        match self {
            Halt::Blob(e) => CliError::dxf(what, e),
            Halt::Sink(e) => sink(e),
            Halt::Stopped => CliError::dxf(what, io::Error::other("stopped")),
        }
    }
}

/// Copies the rest of `blob` (verified as it is read: the final read fails on a wrong
/// digest) into `sink` in writes of at most `max_write` bytes, straight from the reader's
/// buffer; stops early when `stop` is raised (checked before every read).
fn copy(
    blob: &mut BlobReader,
    sink: &mut dyn Write,
    max_write: usize,
    bar: Option<&Bar>,
    stop: Option<&AtomicBool>,
) -> Result<u64, Halt> {
    let mut copied = 0u64;
    loop {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(Halt::Stopped);
        }
        let chunk = match blob.fill_buf() {
            Ok([]) => return Ok(copied),
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Halt::Blob(e)),
        };
        let chunk = chunk.get(..max_write).unwrap_or(chunk);
        sink.write_all(chunk).map_err(Halt::Sink)?;
        let n = chunk.len();
        blob.consume(n);
        copied += n as u64;
        if let Some(b) = bar {
            b.add(n as u64);
        }
    }
}

/// Every item to stdout, in order.
fn to_stdout(
    ctx: &Pulling<'_>,
    out: &mut dyn Write,
    items: &[Item],
    verify_first: bool,
) -> Result<(), CliError> {
    for item in items {
        match item {
            Item::Json(line) => output::line(out, line)?,
            Item::Blob(digest) if verify_first => spooled(ctx, out, digest)?,
            Item::Blob(digest) => streamed(ctx, out, digest)?,
        }
    }
    Ok(())
}

/// One blob to stdout as it arrives (python-dxf): a wrong digest is known, and reported,
/// only once its bytes are out.
fn streamed(ctx: &Pulling<'_>, out: &mut dyn Write, digest: &Digest) -> Result<(), CliError> {
    let what = digest.as_str();
    let mut blob = ctx.repo.pull_blob(digest, None).map_err(about(what))?;
    let size = blob.size();
    if ctx.blob_info {
        let size = match size {
            Some(s) => s,
            // Served without Content-Length: ask for the size.
            None => ctx.repo.blob_size(digest).map_err(about(what))?,
        };
        output::line(out, &format!("{digest} {size}"))?;
    }
    let bar = ctx.progress.bar(digest, size);
    copy(&mut blob, out, ctx.max_write, bar.as_ref(), None)
        .map_err(|h| h.error(what, CliError::Output))?;
    Ok(())
}

/// One blob to stdout only once verified: spooled to a temporary file first, so that
/// nothing of a bad blob reaches stdout. Its `DXF_BLOB_INFO` line too waits until then.
fn spooled(ctx: &Pulling<'_>, out: &mut dyn Write, digest: &Digest) -> Result<(), CliError> {
    let what = digest.as_str();
    let mut spool = Spool::new().map_err(spool_error)?;
    let mut blob = ctx.repo.pull_blob(digest, None).map_err(about(what))?;
    let bar = ctx.progress.bar(digest, blob.size());
    let size = copy(&mut blob, spool.file(), usize::MAX, bar.as_ref(), None)
        .map_err(|h| h.error(what, spool_error))?;
    drop(bar);
    if ctx.blob_info {
        output::line(out, &format!("{digest} {size}"))?;
    }
    spool.copy_to(out, ctx.max_write)?;
    Ok(())
}

/// `--output FILE`: every blob, concatenated in order, into `partial`, which replaces
/// FILE only once every blob was verified (on failure it is removed and FILE is left as it
/// was). Then the `DXF_BLOB_INFO` lines and per-platform JSON to stdout.
fn to_file(
    ctx: &Pulling<'_>,
    out: &mut dyn Write,
    items: &[Item],
    mut partial: Partial,
    path: &Path,
) -> Result<(), CliError> {
    let mut lines = Vec::new();
    for item in items {
        match item {
            Item::Json(line) => lines.push(line.clone()),
            Item::Blob(digest) => {
                let what = digest.as_str();
                let mut blob = ctx.repo.pull_blob(digest, None).map_err(about(what))?;
                let bar = ctx.progress.bar(digest, blob.size());
                let file = partial.file().map_err(file_error(path))?;
                let size = copy(&mut blob, file, usize::MAX, bar.as_ref(), None)
                    .map_err(|h| h.error(what, file_error(path)))?;
                if ctx.blob_info {
                    lines.push(format!("{digest} {size}"));
                }
            }
        }
    }
    partial.commit().map_err(file_error(path))?;
    for line in lines {
        output::line(out, &line)?;
    }
    Ok(())
}

/// `--output DIR`: each distinct blob into `DIR/<hex digest>` (through a temporary name,
/// like a file), `jobs` at a time. Then, in order, the `DXF_BLOB_INFO` lines and
/// per-platform JSON to stdout.
fn to_dir(
    ctx: &Pulling<'_>,
    out: &mut dyn Write,
    items: &[Item],
    dir: &Path,
    jobs: usize,
) -> Result<(), CliError> {
    let mut seen = BTreeSet::new();
    let blobs: Vec<&Digest> = items
        .iter()
        .filter_map(|item| match item {
            Item::Blob(d) if seen.insert(d) => Some(d),
            _ => None,
        })
        .collect();
    let sizes = fetch_all(ctx, &blobs, dir, jobs)?;
    let size_of: BTreeMap<&Digest, u64> = blobs.into_iter().zip(sizes).collect();
    for item in items {
        match item {
            Item::Json(line) => output::line(out, line)?,
            Item::Blob(digest) if ctx.blob_info => {
                if let Some(size) = size_of.get(digest) {
                    output::line(out, &format!("{digest} {size}"))?;
                }
            }
            Item::Blob(_) => {}
        }
    }
    Ok(())
}

/// How one of several transfers ended, when not successfully.
enum Failure {
    /// It failed.
    Failed(CliError),
    /// Another one failed first, and this one was stopped.
    Stopped,
}

/// The file a blob gets in an `--output` directory: its hex digest (for algorithms other
/// than sha256, the encoded part).
fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join(digest.encoded())
}

/// Pulls `blobs` into `dir` on `jobs` threads ([`parallel::bounded`], sharing the
/// repository's connection pool and session) and returns their sizes, in order. A failure raises a shared flag that
/// the other transfers check before each read: they stop, their temporary files are
/// removed, and the first failure in argument order is the error. Blobs completed before
/// that stay in place (each verified, named by its digest).
fn fetch_all(
    ctx: &Pulling<'_>,
    blobs: &[&Digest],
    dir: &Path,
    jobs: usize,
) -> Result<Vec<u64>, CliError> {
    let workers = jobs.clamp(1, blobs.len().max(1));
    // Several at a time: a bar for each above a total (one at a time: the usual bars).
    let group = if workers == 1 {
        None
    } else {
        ctx.progress.group()
    };
    let bars = match &group {
        Some(g) => Bars::In(g),
        None if workers == 1 => Bars::One(ctx.progress),
        None => Bars::One(Progress::Off),
    };
    // Raised by the first failure: the transfers in flight stop at their next read.
    let stop = AtomicBool::new(false);
    let done = parallel::bounded(blobs, workers, |digest| {
        let r = fetch_to(ctx, digest, dir, bars, &stop);
        if matches!(r, Err(Failure::Failed(_))) {
            stop.store(true, Ordering::Relaxed);
        }
        r
    });
    let mut sizes = Vec::with_capacity(blobs.len());
    for r in done {
        match r {
            Ok(size) => sizes.push(size),
            // The first failure in argument order.
            Err(Failure::Failed(e)) => return Err(e),
            // Stopped by a failure (another item's, which is among the results).
            Err(Failure::Stopped) => {}
        }
    }
    // No failure: every blob was pulled.
    Ok(sizes)
}

/// One blob into `dir`, through a temporary name; stops early when `stop` is raised.
fn fetch_to(
    ctx: &Pulling<'_>,
    digest: &Digest,
    dir: &Path,
    bars: Bars<'_>,
    stop: &AtomicBool,
) -> Result<u64, Failure> {
    let what = digest.as_str();
    let target = blob_path(dir, digest);
    let failed_file = |e| Failure::Failed(file_error(&target)(e));
    let mut partial = Partial::create(&target).map_err(failed_file)?;
    let mut blob = ctx
        .repo
        .pull_blob(digest, None)
        .map_err(|e| Failure::Failed(CliError::dxf(what, e)))?;
    let bar = bars.bar(digest, blob.size());
    let file = partial.file().map_err(failed_file)?;
    let size = match copy(&mut blob, file, usize::MAX, bar.as_ref(), Some(stop)) {
        Ok(size) => size,
        Err(Halt::Stopped) => return Err(Failure::Stopped),
        Err(h) => return Err(Failure::Failed(h.error(what, file_error(&target)))),
    };
    drop(bar);
    partial.commit().map_err(failed_file)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Parsed};
    use crate::commands::Command;

    #[test]
    fn options() {
        assert_eq!(
            parse(["dxf", "pull-blob", "r", "-o", "out", "sha256:x", "@a"]).unwrap(),
            Parsed::Run(Command::PullBlob(Args {
                repo: "r".into(),
                names: vec!["sha256:x".into(), "@a".into()],
                output: Some(PathBuf::from("out")),
                verify_first: false,
            }))
        );
        assert_eq!(
            parse(["dxf", "pull-blob", "--verify-first", "r", "--output=d/"]).unwrap(),
            Parsed::Run(Command::PullBlob(Args {
                repo: "r".into(),
                names: vec![],
                output: Some(PathBuf::from("d/")),
                verify_first: true,
            }))
        );
        match parse(["dxf", "pull-blob", "r", "-o"]) {
            Err(CliError::Usage(m)) => assert!(m.contains("PATH"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn blobs_in_a_directory_are_named_by_hex_digest() {
        let d = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
        assert_eq!(
            blob_path(Path::new("out"), &d),
            Path::new("out").join("ab".repeat(32))
        );
    }

    #[test]
    fn halts_become_errors_about_the_blob_or_the_sink() {
        let e = Halt::Blob(io::Error::other("cut")).error("sha256:x", CliError::Output);
        assert_eq!(e.to_string(), "sha256:x: cut");
        let e = Halt::Sink(io::ErrorKind::StorageFull.into())
            .error("sha256:x", |e| CliError::file("out.bin", e));
        assert!(e.to_string().starts_with("out.bin: "), "{e}");
    }
}
