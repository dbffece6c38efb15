//! The blob commands `push-blob`, `blob-size`, `mount-blob`, `del-blob` (`pull-blob` is
//! [`super::pull`]).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dxf_ureq::dxf_proto::{Digest, PerPlatform, UploadCheckpoint};
use dxf_ureq::{hash_reader, PushOptions, Repository, UploadMode};

use super::{about, connect, parse_digest, stdin};
use crate::checkpoints::{Entry, State, Store, MAX_FAILED_RESUMES};
use crate::cli::{alias_of, is_stdin};
use crate::env::Env;
use crate::error::CliError;
use crate::output::{self, Json};
use crate::progress::{Bar, Bars, Progress};
use crate::signals::Interruptible;

/// `push-blob`'s own choices (none of them: python-dxf's way).
#[derive(Clone, Copy, Debug)]
pub struct PushHow {
    /// Hash while sending (a stream upload) instead of hashing the file first.
    pub single_pass: bool,
    /// Files uploaded at a time.
    pub jobs: usize,
    /// Files: chunked, with checkpoints kept on disk and continued from
    /// ([`crate::checkpoints`]).
    pub resumable: bool,
}

/// What a push from standard input is called in messages and on its progress bar.
const STDIN: &str = "standard input";

/// `push-blob REPO FILE [@ALIAS]`: hashes the file, uploads it unless a HEAD finds it,
/// sets the alias if asked, prints the digest. With `--jobs`, several files (up to that
/// many at a time, sharing one connection pool); the alias then names all of them, and the
/// digests are printed in argument order once every upload succeeded.
///
/// `push-blob REPO - [@ALIAS]` streams `input` (standard input) in one pass instead: a
/// chunked upload hashed while sending (memory bounded by the chunk size), always sent
/// (there is no digest to look for beforehand), the digest printed at the end.
///
/// With `how.resumable`, files are uploaded chunked and their checkpoints kept in the
/// state directory (which must be usable: checked before anything is sent); standard
/// input is then pushed as always (it cannot be resumed).
pub fn push(
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

/// Uploads `files` on `how.jobs` threads, drawing `bars`. A failure stops further uploads
/// from starting and interrupts those in flight ([`dxf_ureq::Interrupt::stop`]: they
/// cancel their sessions, or with `--resumable` stop at their next checkpoint); the first
/// failure in argument order that is not such an interruption is the error.
fn push_parallel(
    repo: &Repository,
    files: &[PathBuf],
    how: PushHow,
    store: Option<&Store>,
    bars: Bars<'_>,
) -> Result<Vec<Digest>, CliError> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut done: Vec<(usize, Result<Digest, CliError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..how.jobs.min(files.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break };
                        let r = push_one(repo, file, how, store, bars);
                        if r.is_err() {
                            stop.store(true, Ordering::Relaxed);
                            repo.registry().interrupt().stop();
                        }
                        mine.push((i, r));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    if done.len() < files.len() && done.iter().all(|(_, r)| r.is_ok()) {
        return Err(CliError::input(
            "push-blob",
            io::Error::other("an upload thread failed"),
        ));
    }
    let mut digests = Vec::with_capacity(done.len());
    let mut interrupted = None;
    for (_, r) in done {
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

/// `blob-size REPO [HASH|@ALIAS...]`: a plain digest's size from a HEAD; an alias's
/// total from its manifest (per platform, as JSON, for a multi-arch alias). An index
/// without platforms (a referrers index) is an error saying so.
pub fn size(
    env: &Env,
    out: &mut dyn Write,
    input: &mut dyn Read,
    repo: &str,
    names: &[String],
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let platform = env.platform.as_deref();
    let sum = |blobs: Vec<(Digest, u64)>| blobs.iter().map(|(_, s)| *s).sum::<u64>();
    let mut sizes: Vec<PerPlatform<u64>> = Vec::new();
    if names.is_empty() {
        let m = stdin::read_manifest(&repo, input, platform)?;
        sizes.push(super::blobs_of(&m, stdin::STDIN)?.map(sum));
    }
    for name in names {
        sizes.push(match alias_of(name) {
            Some(alias) => repo
                .get_alias(alias, platform)
                .map_err(about(name))?
                .map(sum),
            None => PerPlatform::Single(repo.blob_size(&parse_digest(name)?).map_err(about(name))?),
        });
    }
    for s in sizes {
        super::print_per_platform(out, s, |n| vec![n.to_string()], Json::Int)?;
    }
    Ok(())
}

/// `mount-blob REPO FROM_REPO HASH [@ALIAS]`: cross-repository mount (success only when
/// the registry mounts it, 201), sets the alias if asked, prints the digest.
pub fn mount(
    env: &Env,
    out: &mut dyn Write,
    repo: &str,
    from_repo: &str,
    digest: &str,
    alias: Option<&str>,
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let digest = parse_digest(digest)?;
    let mounted = repo
        .mount_blob(from_repo, &digest)
        .map_err(about(digest.as_str()))?;
    if let Some(alias) = alias.and_then(alias_of) {
        repo.set_alias(alias, std::slice::from_ref(&mounted))
            .map_err(about(&format!("@{alias}")))?;
    }
    output::line(out, mounted.as_str())
}

/// What `del-blob` deletes after the aliases named are gone.
enum Doomed {
    /// A blob.
    Blob(Digest),
    /// A platform manifest of a multi-arch alias: deleted (as `del-alias`), then its
    /// blobs.
    PlatformManifest(Digest),
}

/// `del-blob REPO [HASH|@ALIAS...]`: for `@alias`, deletes the alias's manifest by digest
/// (every alias on it goes too), then its blobs — for a multi-arch alias, each platform's
/// manifest and then its blobs. With no names, deletes the blobs of the manifest on stdin.
/// Each distinct blob and manifest is deleted once.
pub fn delete(
    env: &Env,
    input: &mut dyn Read,
    repo: &str,
    names: &[String],
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let mut doomed = Vec::new();
    if names.is_empty() {
        // Not DXF_PLATFORM-filtered: python-dxf passes no platform here.
        let m = stdin::read_manifest(&repo, input, None)?;
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
