//! Local files `dxf` writes blobs into, so that nothing unverified ever looks complete:
//!
//! - [`Partial`]: `pull-blob --output PATH`. The bytes go to a hidden temporary name in
//!   PATH's directory (`.NAME.dxf-partial-<pid>`), which is fsynced and renamed over PATH
//!   only by [`Partial::commit`] (after the digest was verified); dropped uncommitted — on
//!   any failure — it is removed and PATH is untouched. Only a killed process can leave a
//!   `.NAME.dxf-partial-<pid>` behind, never a wrong PATH.
//! - [`Spool`]: `pull-blob --verify-first`, and the `--json` listings. A temporary file in
//!   `$TMPDIR` holding one blob until it is verified (or a listing's JSON until every page
//!   has arrived); on Unix it is unlinked as soon as it is created (nothing is left behind
//!   whatever happens), elsewhere removed when dropped. [`Spool::copy_to`] writes it out;
//!   [`spool_error`] names it in a failure.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::CliError;
use crate::output;

/// What a temporary name adds after the file's name (then the process id).
pub(crate) const PARTIAL_SUFFIX: &str = ".dxf-partial-";

/// A file being written under a temporary name next to its final one.
#[derive(Debug)]
pub(crate) struct Partial {
    /// The open temporary file (`None` once committed).
    file: Option<File>,
    /// Its name.
    temp: PathBuf,
    /// The name it gets when committed.
    target: PathBuf,
}

/// The temporary name for `target`: `.NAME.dxf-partial-<pid>` in the same directory (so
/// the rename is atomic: one file system).
pub(crate) fn partial_name(target: &Path) -> io::Result<PathBuf> {
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name (ends in .. or is a root)",
        )
    })?;
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!("{PARTIAL_SUFFIX}{}", std::process::id()));
    Ok(target.with_file_name(temp))
}

/// A new file at `path` (it must not exist), readable and writable.
fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
}

impl Partial {
    /// Starts writing `target`: creates its temporary file. A leftover with the same
    /// temporary name (from a killed process that had our process id) is replaced.
    pub(crate) fn create(target: &Path) -> io::Result<Partial> {
        let temp = partial_name(target)?;
        let file = match create_new(&temp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(&temp)?;
                create_new(&temp)?
            }
            r => r?,
        };
        crate::signals::remove_if_killed(&temp);
        Ok(Partial {
            file: Some(file),
            temp,
            target: target.to_owned(),
        })
    }

    /// The file to write to.
    pub(crate) fn file(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the file was already committed"))
    }

    /// Flushes the data to disk and renames the file over the target (then flushes the
    /// directory entry, where the platform allows it). On failure the temporary file is
    /// removed (when `self` is dropped) and the target is untouched.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("the file was already committed"))?;
        let synced = file.sync_all();
        drop(file);
        synced?;
        fs::rename(&self.temp, &self.target)?;
        crate::signals::keep(&self.temp);
        // Committed: nothing for `drop` to remove.
        self.temp = PathBuf::new();
        sync_dir(&self.target);
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = fs::remove_file(&self.temp);
            crate::signals::keep(&self.temp);
        }
    }
}

/// Makes the rename of `target` durable (Unix: fsync its directory). Best effort: some
/// file systems refuse to sync a directory, and the data itself is already on disk.
fn sync_dir(target: &Path) {
    if cfg!(unix) {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Bytes read from a spool file at a time when copying it out.
const SPOOL_READ: usize = 128 * 1024;

/// Spool files created by this process so far (for unique names).
static SPOOLS: AtomicU64 = AtomicU64::new(0);

/// A failure creating, writing or reading a spool file: `temporary file in DIR: …`.
pub(crate) fn spool_error(e: io::Error) -> CliError {
    CliError::file(format!("temporary file in {}", Spool::dir().display()), e)
}

/// A temporary file in `$TMPDIR` for one blob (or one listing).
#[derive(Debug)]
pub(crate) struct Spool {
    file: File,
    /// Removed when dropped, if it could not be unlinked right away.
    path: Option<PathBuf>,
}

impl Spool {
    /// Where spool files go (`$TMPDIR`, else the platform's temporary directory), for
    /// messages.
    pub(crate) fn dir() -> PathBuf {
        std::env::temp_dir()
    }

    /// A new, empty spool file.
    pub(crate) fn new() -> io::Result<Spool> {
        let dir = Spool::dir();
        loop {
            let n = SPOOLS.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".dxf-spool-{}-{n}", std::process::id()));
            let file = match create_new(&path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                r => r?,
            };
            // Unix lets an open file live on without a name: then nothing is ever left
            // behind. Elsewhere it is removed when dropped.
            let path = if cfg!(unix) && fs::remove_file(&path).is_ok() {
                None
            } else {
                Some(path)
            };
            return Ok(Spool { file, path });
        }
    }

    /// The file, for writing the blob into.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Back to the start, for reading the blob out.
    pub(crate) fn rewind(&mut self) -> io::Result<&mut File> {
        self.file.flush()?;
        self.file.seek(SeekFrom::Start(0))?;
        Ok(&mut self.file)
    }

    /// Writes everything the file holds (from its start) to `out`, in writes of at most
    /// `max_write` bytes (and at most 128 KiB); returns the number of bytes. A failure of the
    /// file is a [`spool_error`], of `out` a [`CliError::Output`].
    pub(crate) fn copy_to(
        &mut self,
        out: &mut dyn Write,
        max_write: usize,
    ) -> Result<u64, CliError> {
        let file = self.rewind().map_err(spool_error)?;
        let mut buf = vec![0; max_write.clamp(1, SPOOL_READ)];
        let mut copied = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => return Ok(copied),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(spool_error(e)),
            };
            output::raw(out, buf.get(..n).unwrap_or_default())?;
            copied += n as u64;
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dxf-files-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn partial_names_are_hidden_siblings() {
        let t = partial_name(Path::new("dir/out.bin")).unwrap();
        assert_eq!(
            t,
            PathBuf::from(format!("dir/.out.bin.dxf-partial-{}", std::process::id()))
        );
        let t = partial_name(Path::new("out")).unwrap();
        assert_eq!(
            t,
            PathBuf::from(format!(".out.dxf-partial-{}", std::process::id()))
        );
        assert!(partial_name(Path::new("/")).is_err());
        assert!(partial_name(Path::new("a/..")).is_err());
    }

    #[test]
    fn committed_partial_replaces_the_target() {
        let dir = scratch("commit");
        let target = dir.join("out");
        fs::write(&target, b"old").unwrap();
        let mut p = Partial::create(&target).unwrap();
        p.file().unwrap().write_all(b"new bytes").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"old", "untouched until commit");
        assert_eq!(names(&dir).len(), 2);
        p.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new bytes");
        assert_eq!(names(&dir), vec!["out".to_owned()]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dropped_partial_leaves_nothing() {
        let dir = scratch("drop");
        let target = dir.join("out");
        let mut p = Partial::create(&target).unwrap();
        p.file().unwrap().write_all(b"half").unwrap();
        drop(p);
        assert!(names(&dir).is_empty());
        // A leftover temporary name is replaced.
        fs::write(partial_name(&target).unwrap(), b"stale").unwrap();
        let p = Partial::create(&target).unwrap();
        p.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"");
        assert_eq!(names(&dir), vec!["out".to_owned()]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn partial_in_a_missing_directory_fails() {
        let dir = scratch("missing");
        let err = Partial::create(&dir.join("no/such/out")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn spool_round_trip() {
        let mut s = Spool::new().unwrap();
        s.file().write_all(b"spooled").unwrap();
        let mut back = Vec::new();
        s.rewind().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, b"spooled");
        if cfg!(unix) {
            assert!(s.path.is_none(), "unlinked at once");
        }
    }

    #[test]
    fn spool_copies_out_in_bounded_writes() {
        /// Records the size of every write.
        struct Writes(Vec<usize>, Vec<u8>);
        impl Write for Writes {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.push(b.len());
                self.1.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = Spool::new().unwrap();
        s.file().write_all(&data).unwrap();
        let mut out = Writes(Vec::new(), Vec::new());
        assert_eq!(s.copy_to(&mut out, usize::MAX).unwrap(), data.len() as u64);
        assert_eq!(out.1, data);
        assert!(out.0.iter().all(|&n| n <= SPOOL_READ), "{:?}", out.0);
        // Again, from the start, in small writes.
        let mut out = Writes(Vec::new(), Vec::new());
        assert_eq!(s.copy_to(&mut out, 1000).unwrap(), data.len() as u64);
        assert_eq!(out.1, data);
        assert!(out.0.iter().all(|&n| n <= 1000));
    }

    #[test]
    fn spool_failures_name_the_directory() {
        let e = spool_error(io::ErrorKind::StorageFull.into());
        assert!(
            e.to_string()
                .starts_with(&format!("temporary file in {}: ", Spool::dir().display())),
            "{e}"
        );
    }
}
