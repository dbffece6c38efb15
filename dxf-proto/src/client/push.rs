//! Pushing a blob from a file or a stream: the caller's choices ([`PushOptions`]), the
//! decision of which [`Upload`] runs for them ([`PushOptions::plan_file`]), and the
//! progress and checkpoint reports the driver feeds with what it sent ([`Progress`],
//! [`Checkpoints`]). The adapters open, hash and read; every choice is here.

use crate::blob::{Upload, UploadCheckpoint, UploadMode, UploadOptions};
use crate::error::Error;
use crate::reference::{Digest, Repository};
use crate::session::Session;

/// Called during a push with (the blob's digest when known, bytes sent so far, total bytes
/// when known) — python-dxf's `progress(digest, chunk, total)`. A stream pushed without
/// an expected digest has no digest until it ends.
pub type ProgressFn<'a> = &'a mut (dyn FnMut(Option<&Digest>, u64, Option<u64>) + Send);

/// Called with every new checkpoint of a chunked file upload, to persist it.
pub type CheckpointFn<'a> = &'a mut (dyn FnMut(&UploadCheckpoint) + Send);

/// Choices for a push.
#[derive(Default)]
pub struct PushOptions<'a> {
    /// Skip the upload when a HEAD finds the blob (python-dxf default). For a reader,
    /// applies only when `digest` is given.
    pub skip_if_exists: bool,
    /// The blob's digest when already known (saves hashing a file first).
    pub digest: Option<Digest>,
    /// Monolithic (python-dxf) or chunked, for files.
    pub mode: UploadMode,
    /// For files without `digest`: hash while sending — one `PATCH` of the whole file,
    /// the digest in the closing `PUT` — instead of reading the file twice. There is then
    /// no existence check (it needs the digest), and progress reports carry no digest.
    pub single_pass: bool,
    /// Progress reports.
    pub progress: Option<ProgressFn<'a>>,
    /// For a file with `digest`: continue the chunked upload an earlier run left at this
    /// checkpoint (the registry is asked what it holds; a forgotten session starts over).
    pub resume_from: Option<UploadCheckpoint>,
    /// Called with every new checkpoint of a chunked file upload, to persist it (see
    /// [`UploadCheckpoint`]); a later run passes the last one as `resume_from`.
    pub on_checkpoint: Option<CheckpointFn<'a>>,
}

impl std::fmt::Debug for PushOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushOptions")
            .field("skip_if_exists", &self.skip_if_exists)
            .field("digest", &self.digest)
            .field("mode", &self.mode)
            .field("single_pass", &self.single_pass)
            .finish_non_exhaustive()
    }
}

/// How a file is pushed, from the options and what the file is.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per push
pub enum FilePush {
    /// Not a regular file (a pipe, a device) pushed in one pass: it has no length to
    /// announce, so it goes as a stream ([`PushOptions::stream_upload`]).
    AsStream,
    /// Hashed while sent: run this upload with the file as a seekable source.
    SinglePass(Upload),
    /// The digest is needed first: hash the file unless `digest` is given, then run
    /// [`PushOptions::known_upload`].
    KnownDigest,
}

impl<'a> PushOptions<'a> {
    /// python-dxf's defaults: skip when the blob exists, monolithic.
    pub fn new() -> PushOptions<'a> {
        PushOptions {
            skip_if_exists: true,
            ..Default::default()
        }
    }

    /// How to push a file of `len` bytes; `regular` says whether it is a regular file.
    pub fn plan_file(
        &self,
        session: &Session,
        repo: &Repository,
        len: u64,
        regular: bool,
    ) -> Result<FilePush, Error> {
        if !self.single_pass || self.digest.is_some() {
            return Ok(FilePush::KnownDigest);
        }
        if !regular {
            return Ok(FilePush::AsStream);
        }
        let upload = UploadOptions {
            skip_if_exists: false,
            mode: UploadMode::Chunked,
            chunk_size: None,
        };
        // A file: a registry refusing the one relayed PATCH for its size gets it again.
        let op = Upload::sized_stream(session, repo, len, None, &upload)?.with_seekable_source();
        Ok(FilePush::SinglePass(op))
    }

    /// The upload of `len` bytes whose digest is known: continuing `resume_from` when set.
    pub fn known_upload(
        &self,
        session: &Session,
        repo: &Repository,
        digest: &Digest,
        len: u64,
    ) -> Result<Upload, Error> {
        let upload = UploadOptions {
            skip_if_exists: self.skip_if_exists,
            mode: self.mode,
            chunk_size: None,
        };
        match &self.resume_from {
            Some(cp) => Upload::resume(session, repo, digest, len, cp, &upload),
            None => Upload::known(session, repo, digest, len, &upload),
        }
    }

    /// The upload of a stream (chunked, hashed while sent; checked against `digest`).
    pub fn stream_upload(&self, session: &Session, repo: &Repository) -> Result<Upload, Error> {
        let upload = UploadOptions {
            skip_if_exists: self.skip_if_exists,
            mode: UploadMode::Chunked,
            chunk_size: None,
        };
        Upload::stream(session, repo, self.digest.as_ref(), &upload)
    }

    /// The reports of a push of `total` bytes (when known) of `digest` (when known):
    /// progress, and checkpoints when the caller keeps them.
    pub fn into_reports(
        self,
        digest: Option<Digest>,
        total: Option<u64>,
    ) -> (Progress<'a>, Checkpoints<'a>) {
        let progress = Progress {
            callback: self.progress,
            // Hashed while sent, read again after a refusal: the bar stays full.
            clamp: self.single_pass && digest.is_none(),
            digest,
            total,
            done: 0,
        };
        let checkpoints = Checkpoints {
            callback: self.on_checkpoint,
            last: None,
        };
        (progress, checkpoints)
    }
}

/// A push's progress reports, fed with the bytes the driver sent from the source.
pub struct Progress<'a> {
    callback: Option<ProgressFn<'a>>,
    digest: Option<Digest>,
    total: Option<u64>,
    done: u64,
    clamp: bool,
}

impl Progress<'_> {
    /// `n` more bytes were read from the source and sent.
    pub fn sent(&mut self, n: u64) {
        self.done += n;
        if self.clamp {
            self.done = self.done.min(self.total.unwrap_or(u64::MAX));
        }
        if let Some(report) = self.callback.as_mut() {
            report(self.digest.as_ref(), self.done, self.total);
        }
    }
}

/// A push's checkpoint reports (for `--resumable` uploads).
pub struct Checkpoints<'a> {
    callback: Option<CheckpointFn<'a>>,
    last: Option<UploadCheckpoint>,
}

impl Checkpoints<'_> {
    /// Whether the caller keeps checkpoints: an interrupt then stops the upload at its next
    /// checkpoint instead of cancelling it.
    pub fn kept(&self) -> bool {
        self.callback.is_some()
    }

    /// After each response: reports a new checkpoint of `op`; returns whether there was one.
    pub fn observe(&mut self, op: &Upload) -> bool {
        match (op.next_checkpoint(&mut self.last), &mut self.callback) {
            (Some(cp), Some(save)) => {
                save(&cp);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Scheme;

    fn setup() -> (Session, Repository) {
        let s = Session::new("r.example", Scheme::Https).unwrap();
        let r = s.repository("a/b").unwrap();
        (s, r)
    }

    #[test]
    fn files_are_hashed_first_unless_single_pass_without_a_digest() {
        let (s, r) = setup();
        let mut o = PushOptions::new();
        assert!(matches!(
            o.plan_file(&s, &r, 10, true).unwrap(),
            FilePush::KnownDigest
        ));
        o.single_pass = true;
        assert!(matches!(
            o.plan_file(&s, &r, 10, true).unwrap(),
            FilePush::SinglePass(_)
        ));
        assert!(matches!(
            o.plan_file(&s, &r, 0, false).unwrap(),
            FilePush::AsStream
        ));
        o.digest = Some(
            "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
                .parse()
                .unwrap(),
        );
        assert!(matches!(
            o.plan_file(&s, &r, 1, true).unwrap(),
            FilePush::KnownDigest
        ));
    }

    #[test]
    fn single_pass_progress_stays_within_the_file() {
        let mut seen = Vec::new();
        let mut record = |d: Option<&Digest>, done: u64, total: Option<u64>| {
            seen.push((d.is_some(), done, total))
        };
        let o = PushOptions {
            single_pass: true,
            progress: Some(&mut record),
            ..PushOptions::new()
        };
        let (mut p, c) = o.into_reports(None, Some(10));
        p.sent(6);
        p.sent(6); // read again after a refusal
        drop(p);
        assert!(!c.kept());
        assert_eq!(seen, [(false, 6, Some(10)), (false, 10, Some(10))]);
    }
}
