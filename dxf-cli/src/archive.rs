//! Directories as gzip'd tar layers (`dxf push`, `dxf pull`), written and read with the
//! `tar` and `flate2` crates the way oras does it: entries named under the directory's
//! name, modes and times kept, symbolic links stored as links, empty directories kept.
//!
//! Unpacking treats the archive as untrusted (it comes from a registry): every entry is
//! checked first (dxf-proto's `EntryCheck` — relative,
//! inside the output directory, links too, nothing under a link) and only then is anything
//! written: into a hidden staging directory inside the output directory, whose top-level
//! entries are then renamed into place. A refused archive writes nothing.

use std::fs::{self, File};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use dxf_ureq::dxf_proto::client::{EntryCheck, EntryKind};
use dxf_ureq::dxf_proto::{Digest, Sha256};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// A file in `$TMPDIR` that is removed when dropped: a directory's archive being pushed.
#[derive(Debug)]
pub(crate) struct TempArchive {
    path: PathBuf,
}

impl TempArchive {
    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempArchive {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Names temporary archives and staging directories apart within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{n}", std::process::id())
}

/// Hashes what passes through to `inner`: the uncompressed tar on its way to gzip.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Packs directory `dir` into a gzip'd tar in `$TMPDIR`, its entries named under `title`
/// (`title/`, `title/a.txt`…); returns the archive and the digest of the uncompressed tar
/// (oras's `io.deis.oras.content.digest`).
pub(crate) fn pack(dir: &Path, title: &str) -> io::Result<(TempArchive, Digest)> {
    let archive = TempArchive {
        path: std::env::temp_dir().join(unique(".dxf-push-")),
    };
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(archive.path())?;
    let gz = GzEncoder::new(io::BufWriter::new(file), Compression::default());
    let mut tar = tar::Builder::new(Hashing {
        inner: gz,
        hash: Sha256::new(),
    });
    tar.follow_symlinks(false);
    tar.append_dir_all(title, dir)?;
    let hashing = tar.into_inner()?;
    let tar_digest = hashing.hash.finish();
    let mut out = hashing.inner.finish()?;
    out.flush()?;
    out.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()?;
    Ok((archive, tar_digest))
}

/// Why an archive was not unpacked.
#[derive(Debug)]
pub(crate) enum UnpackError {
    /// An entry (or the archive) was refused: nothing was written.
    Refused(String),
    /// Reading the archive or writing the files failed.
    Io(io::Error),
}

impl From<io::Error> for UnpackError {
    fn from(e: io::Error) -> Self {
        UnpackError::Io(e)
    }
}

/// Unpacks the gzip'd tar in file `archive` — a directory layer titled `title`, whose
/// entries must all be under `title/` (as oras and oras-py write them; anything else could
/// overwrite another layer) — into `dir` after checking every entry; what it makes appears
/// whole, by one rename. A directory `title` that already exists in `dir` is refused (its
/// contents are not merged).
pub(crate) fn unpack(archive: &mut File, dir: &Path, title: &str) -> Result<(), UnpackError> {
    archive.seek(SeekFrom::Start(0))?;
    let tops = check(archive)?;
    if let Some(other) = tops.iter().find(|t| t.as_str() != title) {
        return Err(UnpackError::Refused(format!(
            "refusing {other:?}: outside the layer's directory {title:?}"
        )));
    }
    for top in &tops {
        let target = dir.join(top);
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(UnpackError::Refused(format!(
                "{} exists: remove it first (a directory is not merged)",
                target.display()
            )));
        }
    }
    let staging = Staging::create(dir)?;
    archive.seek(SeekFrom::Start(0))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(archive)));
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(true);
    tar.set_overwrite(true);
    for entry in tar.entries()? {
        let mut entry = entry?;
        if !entry.unpack_in(&staging.path)? {
            return Err(UnpackError::Refused(format!(
                "refusing {:?}: outside the output directory",
                entry.path()?.display()
            )));
        }
    }
    for top in &tops {
        fs::rename(staging.path.join(top), dir.join(top))?;
    }
    Ok(())
}

/// Reads the whole archive once, checking every entry (nothing is written); returns the
/// top-level names it makes.
fn check(archive: &mut File) -> Result<Vec<String>, UnpackError> {
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(archive)));
    let mut checks = EntryCheck::new();
    let mut tops: Vec<String> = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| {
            UnpackError::Refused("refusing an entry whose name is not UTF-8".into())
        })?;
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let kind = match (entry.header().entry_type(), link.as_deref()) {
            (tar::EntryType::Regular | tar::EntryType::Directory, _) => EntryKind::Plain,
            (tar::EntryType::Symlink, Some(target)) => EntryKind::Symlink(target),
            (tar::EntryType::Link, Some(target)) => EntryKind::Hardlink(target),
            (t, _) if t.is_pax_global_extensions() || t.is_pax_local_extensions() => continue,
            (t, _) => {
                return Err(UnpackError::Refused(format!(
                    "refusing {name:?}: a {t:?} entry (only files, directories and links \
                     are unpacked)"
                )))
            }
        };
        let path = checks
            .check(&name, kind)
            .map_err(|e| UnpackError::Refused(e.to_string()))?;
        let top = path.split('/').next().unwrap_or_default().to_owned();
        if !tops.contains(&top) {
            tops.push(top);
        }
        // Read to the end: a truncated archive fails here, before anything is written.
        io::copy(&mut entry, &mut io::sink())?;
    }
    Ok(tops)
}

/// A hidden directory inside the output directory that entries are unpacked into; removed
/// with what is left in it when dropped.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn create(dir: &Path) -> io::Result<Staging> {
        let path = dir.join(unique(".dxf-unpack-"));
        fs::create_dir(&path)?;
        Ok(Staging { path })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
